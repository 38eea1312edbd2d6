"""The SSH adapter against real OpenSSH servers in network namespaces (root only)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podwarden.engine.adapters.ssh import (
    HostKeyChangedError,
    SshPool,
    SshTarget,
    SudoError,
    known_hosts_line,
    remote_deadline,
    validate_known_hosts,
)
from podwarden.engine.errors import (
    ExternalServiceError,
    PermanentServiceError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.security.crypto import SecretValue
from tests.fakes import netns_fixtures
from tests.fakes.netns_hosts import PLAIN_UID, PLAIN_USER, SUDO_UID, SUDO_USER, NetnsFleet, NetnsHost

pytestmark = pytest.mark.root

netns_fleet = netns_fixtures.netns_fleet  # the fixture


def key(fleet: NetnsFleet) -> SecretValue:
    return SecretValue(fleet.client_private_key)


def target(fleet: NetnsFleet, host: NetnsHost, **kwargs: object) -> SshTarget:
    kwargs.setdefault("private_key", key(fleet))
    return SshTarget(host.address, **kwargs)  # type: ignore[arg-type]


def pool(**kwargs: object) -> SshPool:
    kwargs.setdefault("connect_timeout", 5.0)
    kwargs.setdefault("command_timeout", 20.0)
    kwargs.setdefault("agent_path", "")
    return SshPool(**kwargs)  # type: ignore[arg-type]


def assert_clean_message(error: Exception, fleet: NetnsFleet) -> None:
    """No key material and no multi-line dumps in a message a person will read."""
    text = str(error)
    assert isinstance(error, ExternalServiceError | ValidationError)
    assert "PRIVATE KEY" not in text
    for line in fleet.client_private_key.splitlines():
        if len(line) > 20:
            assert line not in text
    assert "\n" not in text


# --- commands -------------------------------------------------------------------------------


async def test_first_contact_returns_the_host_key_and_runs_the_command(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    result = await pool().run(target(netns_fleet, host), "hostname; echo oops >&2; exit 3")
    assert result.exit_status == 3 and not result.ok
    assert result.stdout == f"{host.hostname}\n"
    assert result.stderr == "oops\n"
    assert result.new_host_key == host.known_hosts_line()


async def test_pinned_host_key_is_verified(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    pinned = target(netns_fleet, host, known_hosts=netns_fleet.known_hosts())
    result = await pool().run(pinned, "cat", input="piped text\n")
    assert result.ok and result.stdout == "piped text\n"
    assert result.new_host_key is None


async def test_changed_host_key_is_refused_with_the_new_key(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[1]
    old_line = host.known_hosts_line()
    with host.changed_host_key() as new_key:
        with pytest.raises(HostKeyChangedError) as caught:
            await pool().run(target(netns_fleet, host, known_hosts=old_line), "touch /tmp/should-not-run")
        assert caught.value.new_key == f"{host.address} {new_key}"
        assert caught.value.new_key != old_line
        assert isinstance(caught.value, PermanentServiceError)
        assert f"{host.address}:22 has changed" in str(caught.value)
        assert_clean_message(caught.value, netns_fleet)
        # The presented key, once pinned, is accepted.
        ok = await pool().run(target(netns_fleet, host, known_hosts=caught.value.new_key), "true")
        assert ok.ok


async def test_key_pinned_for_another_address_does_not_cover_this_one(netns_fleet: NetnsFleet) -> None:
    host, other = netns_fleet.hosts[0], netns_fleet.hosts[1]
    with pytest.raises(HostKeyChangedError) as caught:
        await pool().run(target(netns_fleet, host, known_hosts=other.known_hosts_line()), "true")
    assert "does not cover" in str(caught.value)
    assert caught.value.new_key == host.known_hosts_line()


async def test_malformed_pinned_key_is_a_validation_error(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    with pytest.raises(ValidationError) as caught:
        await pool().run(target(netns_fleet, host, known_hosts="not a known hosts line"), "true")
    assert "ssh_known_hosts" in caught.value.errors


async def test_rejected_key_is_a_permanent_error(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[2]
    with host.wrong_authorized_key(), pytest.raises(PermanentServiceError) as caught:
        await pool().run(target(netns_fleet, host), "true")
    assert str(caught.value) == f"SSH key rejected by root@{host.address}:22."
    assert_clean_message(caught.value, netns_fleet)


async def test_unreadable_private_key_is_a_permanent_error_without_the_key(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    broken = netns_fleet.client_private_key.replace("A", "!")
    with pytest.raises(PermanentServiceError) as caught:
        await pool().run(target(netns_fleet, host, private_key=SecretValue(broken)), "true")
    assert "cannot be read" in str(caught.value)
    assert caught.value.__cause__ is None  # the parser's message could quote the key
    assert_clean_message(caught.value, netns_fleet)


async def test_refused_connection_is_temporary(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[3]
    with host.stopped(), pytest.raises(TemporaryServiceError) as caught:
        await pool().run(target(netns_fleet, host), "true")
    assert f"root@{host.address}:22 refused" in str(caught.value)


async def test_unreachable_host_is_temporary_within_the_connect_timeout(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[3]
    started = time.monotonic()
    with host.blackholed(), pytest.raises(TemporaryServiceError) as caught:
        await pool(connect_timeout=1.0).run(target(netns_fleet, host), "true")
    assert time.monotonic() - started < 5  # the timeout (1 s) was honoured, not the kernel's minutes
    assert str(caught.value) == (
        f"No SSH answer from root@{host.address}:22 within 1 s (SSH connect timeout)."
    )


async def test_command_timeout_is_temporary_and_stops_the_command(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    marker = f"sleep 4{os.getpid() % 1000}"  # a recognisable process
    with pytest.raises(TemporaryServiceError) as caught:
        await pool().run(target(netns_fleet, host), marker, timeout=1)
    assert "did not finish within 1 s" in str(caught.value)
    for _ in range(100):  # the host's own `timeout` ends it (SIGTERM) right after
        if not any(marker in line for line in host.exec("ps", "-eo", "args").stdout.splitlines()):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the timed-out command kept running on the host")


async def test_connection_lost_mid_command_is_temporary(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[3]
    running = asyncio.ensure_future(pool().run(target(netns_fleet, host), "sleep 5; echo done"))
    await asyncio.sleep(0.5)
    # stopped() kills sshd and the session under the command
    with host.stopped(), pytest.raises(TemporaryServiceError) as caught:
        await running
    assert str(caught.value) == f"The SSH connection to root@{host.address}:22 was lost."


async def test_one_connection_runs_several_commands(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    async with pool().connect(target(netns_fleet, host)) as session:
        assert session.new_host_key == host.known_hosts_line()
        first = await session.run("echo $$")
        second = await session.run("echo $$")
    assert first.ok and second.ok and first.stdout != second.stdout


async def test_concurrent_connections_are_bounded(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    small = pool(max_connections=2)
    command = "date +%s.%N; sleep 0.3; date +%s.%N"
    results = await asyncio.gather(*(small.run(target(netns_fleet, host), command) for _ in range(6)))
    spans = [tuple(float(x) for x in r.stdout.split()) for r in results]
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    assert peak == 2


# --- scripts and sudo ---------------------------------------------------------------------


async def test_script_runs_through_sh_with_arguments(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    script = 'echo "args: $1 $2"\nid -u\n'
    result = await pool().run_script(
        target(netns_fleet, host, user=PLAIN_USER), script, sudo=False, args=["a b", "c"]
    )
    assert result.stdout == f"args: a b c\n{PLAIN_UID}\n"


async def test_sudo_as_root_needs_no_sudo(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    result = await pool().run_script(target(netns_fleet, host), "id -u\n", sudo=True)
    assert result.stdout == "0\n"


async def test_sudo_for_a_non_root_user_with_passwordless_sudo(netns_fleet: NetnsFleet) -> None:
    if not shutil.which("sudo"):
        pytest.skip("sudo is not installed (apt-get install -y sudo)")
    host = netns_fleet.hosts[0]
    result = await pool().run_script(target(netns_fleet, host, user=SUDO_USER), "id -u\n", sudo=True)
    assert result.stdout == "0\n"
    plain = await pool().run_script(target(netns_fleet, host, user=SUDO_USER), "id -u\n", sudo=False)
    assert plain.stdout == f"{SUDO_UID}\n"


async def test_sudo_without_rights_is_a_clear_error(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    with pytest.raises(SudoError) as caught:
        await pool().run_script(target(netns_fleet, host, user=PLAIN_USER), "id -u\n", sudo=True)
    text = str(caught.value)
    if shutil.which("sudo"):
        assert text == (
            f"{PLAIN_USER} on {host.address}:22 may not use sudo without a password; give "
            f"{PLAIN_USER} passwordless sudo (NOPASSWD) or connect as root."
        )
    else:
        assert text.startswith(f"sudo is not installed (or cannot be run) on {host.address}:22")
    assert isinstance(caught.value, PermanentServiceError)


async def test_missing_sudo_is_a_clear_error(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[1]
    with host.without_sudo(), pytest.raises(SudoError) as caught:
        await pool().run_script(target(netns_fleet, host, user=SUDO_USER), "id -u\n", sudo=True)
    assert str(caught.value) == (
        f"sudo is not installed (or cannot be run) on {host.address}:22; install it or connect as root."
    )


# --- ssh-agent ----------------------------------------------------------------------------


@pytest.fixture
def ssh_agent() -> Iterator[str]:
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add are missing (apt-get install -y openssh-client)")
    folder = tempfile.mkdtemp(prefix="pw-agent-")
    socket_path = str(Path(folder) / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", socket_path], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if Path(socket_path).exists():
                break
            time.sleep(0.01)
        yield socket_path
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(5)
        shutil.rmtree(folder, ignore_errors=True)


async def test_without_a_stored_key_the_agent_logs_in(netns_fleet: NetnsFleet, ssh_agent: str) -> None:
    host = netns_fleet.hosts[0]
    agentless = SshTarget(host.address, known_hosts=netns_fleet.known_hosts())
    with pytest.raises(PermanentServiceError, match="the ssh-agent holds no keys"):
        await pool(agent_path=ssh_agent).run(agentless, "true")
    added = subprocess.run(
        ["ssh-add", str(netns_fleet.client_key_path)],
        env={**os.environ, "SSH_AUTH_SOCK": ssh_agent}, capture_output=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = await pool(agent_path=ssh_agent).run(agentless, "id -un")
    assert result.stdout == "root\n"


async def test_without_key_or_agent_the_error_says_so(netns_fleet: NetnsFleet) -> None:
    with pytest.raises(PermanentServiceError, match="no ssh-agent is running"):
        await pool(agent_path="").run(SshTarget(netns_fleet.hosts[0].address), "true")


async def test_presented_host_key_and_known_hosts_format(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    line = await pool().presented_host_key(target(netns_fleet, host))
    assert line == host.known_hosts_line()
    import asyncssh

    parsed = asyncssh.import_public_key(host.host_key)
    assert known_hosts_line("10.0.0.9", 2222, parsed) == f"[10.0.0.9]:2222 {host.host_key}"


# --- pure helpers (no hosts needed) -------------------------------------------------------


def test_remote_deadline_keeps_the_command_intact() -> None:
    command = "printf '%s|' \"$0\" 'a b' \"it's\"; echo; exit 7"
    done = subprocess.run(["sh", "-c", remote_deadline(command, 2.5)], capture_output=True, text=True)
    assert done.returncode == 7
    assert done.stdout == "sh|a b|it's|\n"
    stopped = subprocess.run(["sh", "-c", remote_deadline("sleep 5", 0.2)], capture_output=True)
    assert stopped.returncode == 124  # ended by the host-side timeout (rounded up to 1 s)


def test_known_hosts_validation() -> None:
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdpSRblbHniF2G6VshF5DedSzPQXSCX9pA9jjpcmOny"
    validate_known_hosts(f"# pinned by PodWarden\n10.0.0.5 {host_key}\n@revoked * {host_key}\n")
    for bad in ("10.0.0.5 ssh-ed25519", f"10.0.0.5 ssh-ed25519 {'A' * 40}", "just words here"):
        with pytest.raises(ValidationError) as caught:
            validate_known_hosts(bad)
        assert "line 1" in caught.value.errors["ssh_known_hosts"]
