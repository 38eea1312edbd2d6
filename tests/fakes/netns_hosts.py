"""Real test hosts: network namespaces, each with its own OpenSSH server.

:func:`make_fleet` builds N hosts as described in
shared/reference/test-infra.md ("OpenSSH test hosts in network namespaces"):

- a network namespace ``pw<pid>x<seq>-h<N>`` with a veth pair: the machine side
  is ``10.77.X.1/24``, the host side ``eth0`` is ``10.77.X.2/24`` with a default
  route via ``10.77.X.1``. ``X`` is picked under a lock file among the /24s no
  other session uses (starting from one derived from the pid), so parallel test
  sessions do not clash;
- its own UTS namespace (hostname ``fleet-hN``) and mount namespace holding
  private bind mounts: ``/etc/hosts`` with ``127.0.1.1 fleet-hN.fleet.test
  fleet-hN`` (no 10 s DNS waits), ``/root`` with the stock ``/etc/skel``
  dotfiles (no pyenv start-up from the machine's ``.bashrc``), ``/etc/passwd``,
  ``/etc/group`` and ``/etc/shadow`` copies that add the non-root users
  :data:`PLAIN_USER` (no sudo rights) and :data:`SUDO_USER` (passwordless sudo
  through a per-host ``/etc/sudoers.d``, when sudo is installed), so both exist
  only inside the test hosts, and empty per-host login records
  (``/var/log/wtmp``, ``btmp``, ``lastlog``) so the machine's are never written;
- ``/usr/sbin/sshd -D`` with an ed25519 host key, ``PasswordAuthentication no``
  and one generated client key authorized for ``root`` and both users.

Only the network, UTS and mount namespaces are separate: processes and the rest of
the file system are the machine's. Breaking a host for a test (each is a context
manager that restores the host afterwards):

- :meth:`NetnsHost.wrong_authorized_key`: the client key is no longer authorized;
- :meth:`NetnsHost.stopped`: sshd is not running (connections are refused);
- :meth:`NetnsHost.blackholed`: the host drops replies (connections time out);
- :meth:`NetnsHost.changed_host_key`: sshd restarts with a new host key;
- sudo missing: log in as :data:`PLAIN_USER`, who has no sudo rights (when
  sudo is not installed at all, ``sudo`` is simply not found); log in as
  :data:`SUDO_USER` for the working non-root path.

Needs root, ``ip`` (iproute2), ``unshare``/``nsenter`` (util-linux) and
``/usr/sbin/sshd`` (openssh-server); :func:`skip_reason` says what is missing.
Nothing here depends on pytest (bench/probe.py uses it too).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

SSHD = "/usr/sbin/sshd"
PLAIN_USER = "fleet"  # a non-root user without sudo rights, present only inside the hosts
PLAIN_UID = 47077
SUDO_USER = "fleet-admin"  # a non-root user with passwordless sudo (when sudo is installed)
SUDO_UID = 47078
SUBNET_PREFIX = "10.77"
LOCK_FILE = Path("/run/lock/podwarden-netns.lock")
NAME_PREFIX = "pw"
_NETNS_NAME = re.compile(rf"^{NAME_PREFIX}(\d+)x\d+-h\d+$")
_LOGIN_RECORDS = ("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/run/utmp")
_START_TIMEOUT = 10.0
_seq = itertools.count(1)


def skip_reason() -> str | None:
    """Why namespace hosts cannot be made here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (run the tests as root; CI does)"
    missing = [tool for tool in ("ip", "unshare", "nsenter") if shutil.which(tool) is None]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        return f"missing {', '.join(missing)}: apt-get install -y openssh-server iproute2 util-linux"
    probe = f"{NAME_PREFIX}probe{os.getpid()}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"cannot create network namespaces here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _ip_batch(lines: list[str], *, netns: str | None = None) -> None:
    """Run many ``ip`` commands in one process (``ip [-n NETNS] -batch -``)."""
    command = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    result = subprocess.run(
        command, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")


def _keygen(path: Path, comment: str) -> None:
    """An unencrypted ed25519 key pair in OpenSSH format, as ``ssh-keygen -t ed25519 -N ''`` writes."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    Path(f"{path}.pub").write_text(f"{public} {comment}\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_processes(netns: str) -> None:
    result = _run("ip", "netns", "pids", netns, check=False)
    pids = [int(p) for p in result.stdout.split() if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _pid_alive(p)]
        if pids:
            time.sleep(0.02)


def _delete_netns(netns: str) -> None:
    _kill_netns_processes(netns)
    _run("ip", "netns", "del", netns, check=False)


def _clean_stale() -> None:
    """Remove namespaces left behind by test sessions that died without tearing down."""
    for line in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NETNS_NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _delete_netns(name)
    for folder in Path(tempfile.gettempdir()).glob("podwarden-netns-*-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _used_subnets() -> set[int]:
    used: set[int] = set()
    pattern = re.compile(rf"\binet {re.escape(SUBNET_PREFIX)}\.(\d+)\.")
    for match in pattern.finditer(_run("ip", "-4", "-o", "addr", "show", check=False).stdout):
        used.add(int(match.group(1)))
    routes = _run("ip", "-4", "route", "show", check=False).stdout
    for match in re.finditer(rf"^{re.escape(SUBNET_PREFIX)}\.(\d+)\.", routes, re.MULTILINE):
        used.add(int(match.group(1)))
    return used


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class NetnsHost:
    """One test host. ``address``:``port`` is where its sshd listens."""

    index: int
    hostname: str
    netns: str
    veth: str
    subnet: int
    folder: Path
    authorized_key: str
    port: int = 22
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.2"

    @property
    def gateway(self) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.1"

    @property
    def host_key_path(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def host_key(self) -> str:
        """The public host key as ``ssh-ed25519 AAAA…`` (no comment)."""
        algorithm, blob = Path(f"{self.host_key_path}.pub").read_text().split()[:2]
        return f"{algorithm} {blob}"

    def known_hosts_line(self) -> str:
        """The host's key as an OpenSSH ``known_hosts`` line."""
        pattern = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{pattern} {self.host_key}"

    # -- set-up -----------------------------------------------------------------------------
    def prepare(self) -> None:
        f = self.folder
        f.mkdir(mode=0o755, parents=True)
        _keygen(self.host_key_path, self.hostname)
        shutil.copy2(self.host_key_path, f / "original_host_key")
        shutil.copy2(f"{self.host_key_path}.pub", f / "original_host_key.pub")
        (f / "authorized_keys").mkdir(mode=0o755)
        self.set_authorized_key(self.authorized_key)
        (f / "hosts").write_text(
            "127.0.0.1\tlocalhost\n"
            f"127.0.1.1\t{self.hostname}.fleet.test {self.hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        shutil.copytree("/etc/skel", f / "root")
        os.chmod(f / "root", 0o700)
        passwd, group, shadow = (Path(f"/etc/{name}").read_text() for name in ("passwd", "group", "shadow"))
        for user, uid in ((PLAIN_USER, PLAIN_UID), (SUDO_USER, SUDO_UID)):
            home = f / "home" / user
            shutil.copytree("/etc/skel", home)
            for path in (home, *home.iterdir()):
                os.chown(path, uid, uid)
            passwd += f"{user}:x:{uid}:{uid}:PodWarden test user:{home}:/bin/sh\n"
            group += f"{user}:x:{uid}:\n"
            shadow += f"{user}:*:19000:0:99999:7:::\n"  # '*': no password, not locked
        os.chmod(f / "home", 0o755)
        (f / "passwd").write_text(passwd)
        (f / "group").write_text(group)
        (f / "shadow").write_text(shadow)
        os.chmod(f / "shadow", 0o640)
        if os.path.isdir("/etc/sudoers.d"):
            shutil.copytree("/etc/sudoers.d", f / "sudoers.d")
            rule = f / "sudoers.d" / "podwarden-test"
            rule.write_text(f"{SUDO_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
            os.chmod(rule, 0o440)
        for record in _LOGIN_RECORDS:
            (f / Path(record).name).touch()
        (f / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {self.host_key_path}\n"
            f"PidFile {f / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {f / 'authorized_keys'}/%u\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "MaxStartups 200\n"
            "MaxSessions 50\n"
            "LogLevel ERROR\n"
            "Subsystem sftp internal-sftp\n"
        )

    def machine_side_commands(self) -> list[str]:
        """``ip -batch`` lines run in the machine's namespace (see :func:`_ip_batch`)."""
        return [
            f"netns add {self.netns}",
            f"link add {self.veth} type veth peer name eth0 netns {self.netns}",
            f"addr add {self.gateway}/24 dev {self.veth}",
            f"link set {self.veth} up",
        ]

    def host_side_commands(self) -> list[str]:
        """``ip -batch`` lines run inside the host's network namespace."""
        return [
            f"addr add {self.address}/24 dev eth0",
            "link set eth0 up",
            "link set lo up",
            f"route add default via {self.gateway}",
        ]

    def set_authorized_key(self, public_key: str) -> None:
        for user in ("root", PLAIN_USER, SUDO_USER):
            path = self.folder / "authorized_keys" / user
            path.write_text(public_key.strip() + "\n")
            os.chmod(path, 0o644)

    # -- sshd ---------------------------------------------------------------------------------
    def start(self, *, wait: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        f = self.folder
        mounts = [
            f"mount --bind {f / 'hosts'} /etc/hosts",
            f"mount --bind {f / 'root'} /root",
            f"mount --bind {f / 'passwd'} /etc/passwd",
            f"mount --bind {f / 'group'} /etc/group",
            f"mount --bind {f / 'shadow'} /etc/shadow",
        ]
        if (f / "sudoers.d").is_dir():
            mounts.append(f"mount --bind {f / 'sudoers.d'} /etc/sudoers.d")
        for record in _LOGIN_RECORDS:
            if os.path.exists(record):
                mounts.append(f"mount --bind {f / Path(record).name} {record}")
        script = f"set -e\nhostname {self.hostname}\n" + "\n".join(mounts) + "\n"
        script += f"exec {SSHD} -D -e -f {f / 'sshd_config'}\n"
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = open(f / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--mount",
                 "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        if wait:
            self.wait_listening()

    def wait_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd on {self.hostname} exited: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((self.address, self.port), 0.5) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return
            time.sleep(0.01)
        raise RuntimeError(f"sshd on {self.hostname} did not listen within {_START_TIMEOUT} s")

    def stop(self) -> None:
        """Stop sshd and every process of the host (open sessions included)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            self.process = None
        _kill_netns_processes(self.netns)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """CPU time used by this host's sshd and the sessions it has reaped (they include
        everything the sessions ran): a load-independent measure for benchmarks."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        path = self.folder / "sshd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def exec(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host (its network, UTS and mount namespaces)."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.hostname} is not running")
        return subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-n", "-m", "-u", "--", *command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def destroy(self) -> None:
        self.stop()
        _delete_netns(self.netns)

    # -- breaking it on purpose ----------------------------------------------------------
    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """sshd is down: connections to the host are refused."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @contextlib.contextmanager
    def blackholed(self) -> Iterator[None]:
        """The host drops its replies to the machine: connections hang until they time out."""
        _run("ip", "-n", self.netns, "route", "add", "blackhole", f"{self.gateway}/32")
        try:
            yield
        finally:
            _run("ip", "-n", self.netns, "route", "del", "blackhole", f"{self.gateway}/32", check=False)

    @contextlib.contextmanager
    def wrong_authorized_key(self) -> Iterator[str]:
        """Another key is authorized instead of the fleet's client key (yields it)."""
        other = self.folder / "other_client_key"
        _keygen(other, "someone-else")
        public = Path(f"{other}.pub").read_text()
        self.set_authorized_key(public)
        try:
            yield public
        finally:
            self.set_authorized_key(self.authorized_key)

    @contextlib.contextmanager
    def k3s_installed(self) -> Iterator[None]:
        """An executable ``/usr/local/bin/k3s`` exists on this host only (a tmpfs in its mount
        namespace hides the machine's ``/usr/local/bin`` meanwhile)."""
        mounted = self.exec("mount", "-t", "tmpfs", "-o", "size=1m", "podwarden-k3s", "/usr/local/bin")
        if mounted.returncode != 0:
            raise RuntimeError(f"cannot mount a tmpfs on {self.hostname}: {mounted.stderr.strip()}")
        try:
            made = self.exec(
                "sh",
                "-c",
                "printf '#!/bin/sh\\necho stand-in k3s\\n' >/usr/local/bin/k3s && "
                "chmod 755 /usr/local/bin/k3s",
            )
            if made.returncode != 0:
                raise RuntimeError(f"cannot write the stand-in k3s: {made.stderr.strip()}")
            yield
        finally:
            self.exec("umount", "/usr/local/bin")

    @contextlib.contextmanager
    def without_sudo(self) -> Iterator[None]:
        """``sudo`` cannot be run on this host (``/dev/null`` is bind-mounted over it in the
        host's mount namespace); nothing to do where sudo is not installed anyway."""
        sudo = shutil.which("sudo")
        if sudo is None:
            yield
            return
        hidden = self.exec("mount", "--bind", "/dev/null", sudo)
        if hidden.returncode != 0:
            raise RuntimeError(f"cannot hide sudo on {self.hostname}: {hidden.stderr.strip()}")
        try:
            yield
        finally:
            self.exec("umount", sudo)

    def change_host_key(self) -> str:
        """Restart sshd with a new host key; returns the new public key ``ssh-ed25519 AAAA…``."""
        _keygen(self.host_key_path, self.hostname)
        self.restart()
        return self.host_key

    def restore_host_key(self) -> None:
        shutil.copy2(self.folder / "original_host_key", self.host_key_path)
        shutil.copy2(self.folder / "original_host_key.pub", f"{self.host_key_path}.pub")
        self.restart()

    @contextlib.contextmanager
    def changed_host_key(self) -> Iterator[str]:
        """sshd runs with a new host key (yields ``ssh-ed25519 AAAA…``); the old one comes back after."""
        try:
            yield self.change_host_key()
        finally:
            self.restore_host_key()


@dataclass
class NetnsFleet:
    """N hosts sharing one client key (``client_key_path``, OpenSSH format, unencrypted)."""

    folder: Path
    client_key_path: Path
    hosts: list[NetnsHost]

    @property
    def client_private_key(self) -> str:
        return self.client_key_path.read_text()

    @property
    def client_public_key(self) -> str:
        return Path(f"{self.client_key_path}.pub").read_text().strip()

    def known_hosts(self) -> str:
        """Every host's current key, as a ``known_hosts`` file's text."""
        return "".join(host.known_hosts_line() + "\n" for host in self.hosts)

    def close(self) -> None:
        atexit.unregister(self.close)
        for host in self.hosts:
            with contextlib.suppress(Exception):
                host.destroy()
        shutil.rmtree(self.folder, ignore_errors=True)


def make_fleet(count: int, *, folder: Path | None = None) -> NetnsFleet:
    """Create and start ``count`` hosts (``fleet-h1`` … ``fleet-hN``). Call ``close()`` after."""
    if not 1 <= count <= 60:
        raise ValueError("between 1 and 60 hosts")
    reason = skip_reason()
    if reason is not None:
        raise RuntimeError(reason)
    seq = next(_seq)
    pid = os.getpid()
    root = Path(tempfile.mkdtemp(prefix=f"podwarden-netns-{pid}-{seq}-", dir=folder))
    os.chmod(root, 0o755)
    client_key = root / "client_key"
    _keygen(client_key, "podwarden-tests")
    public = Path(f"{client_key}.pub").read_text()
    fleet = NetnsFleet(root, client_key, [])
    atexit.register(fleet.close)  # also when the caller forgets or is interrupted
    try:
        with _allocation_lock():
            _clean_stale()
            used = _used_subnets()
            start = pid % 250
            free = [s for s in ((start + k) % 254 + 1 for k in range(254)) if s not in used]
            if len(free) < count:
                raise RuntimeError(f"only {len(free)} free {SUBNET_PREFIX}.X.0/24 subnets left")
            for index in range(1, count + 1):
                host = NetnsHost(
                    index=index,
                    hostname=f"fleet-h{index}",
                    netns=f"{NAME_PREFIX}{pid}x{seq}-h{index}",
                    veth=f"{NAME_PREFIX}{pid}x{seq}h{index}"[:15],
                    subnet=free[index - 1],
                    folder=root / f"h{index}",
                    authorized_key=public,
                )
                fleet.hosts.append(host)
                host.prepare()
            _ip_batch([line for host in fleet.hosts for line in host.machine_side_commands()])
        for host in fleet.hosts:
            _ip_batch(host.host_side_commands(), netns=host.netns)
            host.start(wait=False)
        for host in fleet.hosts:
            host.wait_listening()
    except BaseException:
        fleet.close()
        raise
    return fleet


@contextlib.contextmanager
def fleet(count: int) -> Iterator[NetnsFleet]:
    """``with fleet(3) as f:`` — the hosts exist inside the block only."""
    made = make_fleet(count)
    try:
        yield made
    finally:
        made.close()
