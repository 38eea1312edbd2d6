"""SSH to fleet hosts (asyncssh): commands and piped scripts, with pinned host keys.

One :class:`SshPool` per engine bounds how many SSH connections are open at once
(an ``asyncio.Semaphore``); every connect and every command has a timeout
(``Settings.timeouts.ssh_connect`` / ``ssh_command`` by default)::

    pool = SshPool.from_settings(settings)
    result = await pool.run(SshTarget("10.0.0.5", user="root", private_key=key,
                                      known_hosts=pinned), "uname -r")
    async with pool.connect(target) as session:      # several commands, one connection
        await session.run("true")
        await session.run_script(text, sudo=True)

Host keys are pinned (``known_hosts`` text per host, OpenSSH format):

- ``known_hosts`` given: the server's key must match it. When it does not, the key
  the server presents is fetched (a key exchange only, no authentication) and
  :class:`HostKeyChangedError` carries it as a ``known_hosts`` line, so an admin
  can look at it and accept it. Nothing is run on such a host.
- ``known_hosts`` empty (first contact): trust on first use. The connection is
  made without a pin and the key the server used is returned
  (:attr:`CommandResult.new_host_key`, :attr:`SshSession.new_host_key`) for the
  caller to record; from then on it is pinned. This is the only case that
  connects without a pin, and it always hands the key back.

Private keys come as :class:`SecretValue` (OpenSSH/PEM text); without one, the keys
of the local ssh-agent (``SSH_AUTH_SOCK``) are used. ``~/.ssh/config``,
``~/.ssh/known_hosts`` and ``~/.ssh/id_*`` are never read, so what runs is what
the database says.

Every command also gets the same deadline on the host (``timeout -k 5 N``, when
the host has ``timeout``): closing the channel would not stop a command that
neither reads nor writes, and sshd ignores "signal" requests in root sessions.

Errors (every message names ``user@address:port``; none contains key material):

- refused, unreachable, unresolvable, connect timeout, dropped connection, command
  timeout → :class:`TemporaryServiceError`;
- key rejected, unreadable key, no agent → :class:`PermanentServiceError`;
- changed host key → :class:`HostKeyChangedError` (permanent until accepted);
- sudo without a password not allowed, or sudo missing → :class:`SudoError`;
- malformed pinned ``known_hosts`` text → :class:`ValidationError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shlex
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final

import asyncssh

from podwarden.engine.errors import (
    PermanentServiceError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.settings import Settings

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "SERVICE",
    "CommandResult",
    "HostKeyChangedError",
    "SshPool",
    "SshSession",
    "SshTarget",
    "SudoError",
    "known_hosts_line",
    "remote_deadline",
    "validate_known_hosts",
]

log = logging.getLogger(__name__)

SERVICE: Final = "ssh"
DEFAULT_MAX_CONNECTIONS: Final = 32
_CLOSE_TIMEOUT: Final = 5.0
# The default ciphers, AES-GCM first (asyncssh prefers chacha20-poly1305): asyncssh's
# chacha20-poly1305 builds fresh cipher contexts for every packet in Python, which
# made it the largest crypto cost of probing 20 hosts, while AES-GCM runs whole in
# OpenSSL (AES-NI) on both ends. Both are AEAD ciphers; the rest stay as fallbacks.
_ENCRYPTION_ALGS: Final = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
_MAX_DETAIL: Final = 300  # characters of remote stderr quoted in an error

_SUDO_DENIED = (
    "sudo: a password is required",
    "sudo: a terminal is required",
    "is not in the sudoers file",
    "may not run sudo",
    "is not allowed to execute",
    "sudo: no tty present",
)
_SUDO_MISSING = ("sudo: not found", "sudo: command not found", "sudo: No such file or directory")


# ------------------------------------------------------------------- values ---


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where and how to log in. ``private_key`` ``None`` → the local ssh-agent's keys;
    ``known_hosts`` ``None`` or blank → first contact (trust on first use)."""

    address: str
    port: int = 22
    user: str = "root"
    private_key: SecretValue | None = None
    known_hosts: str | None = None

    @property
    def label(self) -> str:
        return f"{self.user}@{_hostport(self.address, self.port)}"

    @property
    def pinned(self) -> bool:
        return bool(self.known_hosts and self.known_hosts.strip())


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command left behind. ``new_host_key`` is the ``known_hosts`` line seen on
    first contact (record it); ``None`` when the key was already pinned."""

    exit_status: int
    stdout: str
    stderr: str
    new_host_key: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self, what: str, target: SshTarget) -> CommandResult:
        """Return self when the command succeeded, else raise a readable PermanentServiceError."""
        if self.ok:
            return self
        detail = _tail(self.stderr) or _tail(self.stdout) or "no output"
        raise PermanentServiceError(
            SERVICE, f"{what} failed on {target.label} (exit status {self.exit_status}): {detail}"
        )


class HostKeyChangedError(PermanentServiceError):
    """The host presented a key that does not match the pinned one.

    ``new_key`` is the presented key as a ``known_hosts`` line (``None`` when it
    could not be fetched a second time); an admin may accept it.
    """

    def __init__(
        self,
        target: SshTarget,
        new_key: str | None,
        *,
        unpinned_address: bool = False,
        message: str | None = None,
    ) -> None:
        where = _hostport(target.address, target.port)
        if new_key is None:
            shown = "a key that could not be read back"
        else:
            shown = f"{new_key.split()[1]} key {_fingerprint(new_key)}"
        if unpinned_address:
            reason = f"The pinned SSH host key does not cover {where} (it presents {shown})"
        else:
            reason = f"The SSH host key of {where} has changed (it now presents {shown})"
        super().__init__(
            SERVICE,
            message or f"{reason}. PodWarden will not connect until an admin checks and accepts the new key.",
        )
        self.address = target.address
        self.port = target.port
        self.new_key = new_key


class SudoError(PermanentServiceError):
    """sudo is missing, or the user may not use it without a password."""


def known_hosts_line(address: str, port: int, key: asyncssh.SSHKey) -> str:
    """``10.0.0.5 ssh-ed25519 AAAA…`` (``[addr]:port`` for other ports), as OpenSSH writes it."""
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    pattern = address if port == 22 else f"[{address}]:{port}"
    return f"{pattern} {algorithm} {blob}"


# ------------------------------------------------------------------- client ---


class SshPool:
    """Opens SSH connections, at most ``max_connections`` at a time.

    ``agent_path`` is the ssh-agent socket for targets without a stored key:
    ``None`` reads ``SSH_AUTH_SOCK``, ``""`` means no agent.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        command_timeout: float = 120.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        agent_path: str | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self.agent_path = agent_path if agent_path is not None else os.environ.get("SSH_AUTH_SOCK") or None
        self._slots = asyncio.Semaphore(max_connections)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_connections: int | None = None,
        agent_path: str | None = None,
    ) -> SshPool:
        return cls(
            connect_timeout=settings.timeouts.ssh_connect,
            command_timeout=settings.timeouts.ssh_command,
            max_connections=max_connections or settings.ssh_max_connections,
            agent_path=agent_path,
        )

    # -- one-shot helpers ----------------------------------------------------------------
    async def run(
        self, target: SshTarget, command: str, *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run one command on its own connection. A non-zero exit status is returned, not raised."""
        async with self.connect(target) as session:
            result = await session.run(command, input=input, timeout=timeout)
        return result

    async def run_script(
        self,
        target: SshTarget,
        script_text: str,
        *,
        sudo: bool,
        args: Sequence[str] = (),
        timeout: float | None = None,
    ) -> CommandResult:
        """Pipe a local script to ``sh -s`` (``sudo -n sh -s`` for a non-root user when ``sudo``)."""
        async with self.connect(target) as session:
            result = await session.run_script(script_text, sudo=sudo, args=args, timeout=timeout)
        return result

    async def presented_host_key(self, target: SshTarget) -> str:
        """The key the host presents now, as a ``known_hosts`` line (key exchange only)."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                key = await asyncssh.get_server_host_key(target.address, target.port, config=[])
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise _connect_error(target, exc, self.connect_timeout) from exc
        if key is None:
            raise PermanentServiceError(SERVICE, f"{target.label} presented no host key.")
        return known_hosts_line(target.address, target.port, key)

    # -- connections ---------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connect(self, target: SshTarget) -> AsyncIterator[SshSession]:
        """An authenticated connection, holding one of the pool's slots until closed."""
        pinned = _import_known_hosts(target) if target.pinned else None
        async with self._slots:
            conn = await self._open(target, pinned)
            try:
                new_key: str | None = None
                if pinned is None:
                    key = conn.get_server_host_key()
                    if key is not None:
                        new_key = known_hosts_line(target.address, target.port, key)
                yield SshSession(self, target, conn, new_key)
            finally:
                conn.close()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_TIMEOUT):
                        await conn.wait_closed()

    async def _open(
        self, target: SshTarget, pinned: asyncssh.SSHKnownHosts | None
    ) -> asyncssh.SSHClientConnection:
        try:
            async with asyncio.timeout(self.connect_timeout), self._client_keys(target) as keys:
                # known_hosts=None only on first contact: the key used is read back and
                # returned to the caller, who pins it (see the module docstring).
                return await asyncssh.connect(
                    target.address,
                    target.port,
                    username=target.user,
                    client_keys=keys,
                    agent_path=None,
                    known_hosts=pinned,
                    config=[],
                    encryption_algs=_ENCRYPTION_ALGS,
                    connect_timeout=self.connect_timeout,
                    preferred_auth="publickey",
                    password=None,
                    kbdint_auth=False,
                    gss_host=None,
                    x509_trusted_certs=None,
                    request_pty=False,
                )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise await self._changed_key_error(target, pinned) from exc
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise _connect_error(target, exc, self.connect_timeout) from exc

    async def _changed_key_error(
        self, target: SshTarget, pinned: asyncssh.SSHKnownHosts | None
    ) -> HostKeyChangedError:
        covered = True
        if pinned is not None:
            port = None if target.port == 22 else target.port
            matched = pinned.match(target.address, target.address, port)
            covered = bool(matched[0] or matched[1])
        try:
            presented: str | None = await self.presented_host_key(target)
        except (PermanentServiceError, TemporaryServiceError):
            presented = None
        return HostKeyChangedError(target, presented, unpinned_address=not covered)

    @contextlib.asynccontextmanager
    async def _client_keys(self, target: SshTarget) -> AsyncIterator[Sequence[asyncssh.SSHKeyPair]]:
        """The key to log in with: the stored one, else the agent's (open until login is done)."""
        if target.private_key is not None:
            try:
                key = asyncssh.import_private_key(target.private_key.reveal())
            except (asyncssh.KeyImportError, ValueError, TypeError):
                raise PermanentServiceError(
                    SERVICE,
                    f"The SSH private key stored for {target.label} cannot be read: it must be an "
                    "unencrypted private key in OpenSSH or PEM format.",
                ) from None  # the parser's message could quote part of the key
            yield asyncssh.load_keypairs([key])
            return
        if not self.agent_path:
            raise PermanentServiceError(
                SERVICE,
                f"No SSH key is stored for {target.label} and no ssh-agent is running "
                "(SSH_AUTH_SOCK is not set); store a key for this host or start an agent.",
            )
        try:
            agent = await asyncssh.connect_agent(self.agent_path)
            agent_keys = await agent.get_keys()
        except (OSError, asyncssh.Error, ValueError) as exc:
            raise PermanentServiceError(
                SERVICE, f"The ssh-agent at {self.agent_path} cannot be used for {target.label}."
            ) from exc
        try:
            if not agent_keys:
                raise PermanentServiceError(
                    SERVICE,
                    f"No SSH key is stored for {target.label} and the ssh-agent holds no keys.",
                )
            yield list(agent_keys)
        finally:
            agent.close()
            with contextlib.suppress(Exception):
                await agent.wait_closed()


# ------------------------------------------------------------------ session ---


class SshSession:
    """One open connection to a host (from :meth:`SshPool.connect`)."""

    def __init__(
        self, pool: SshPool, target: SshTarget, conn: asyncssh.SSHClientConnection, new_host_key: str | None
    ) -> None:
        self.pool = pool
        self.target = target
        self.conn = conn
        self.new_host_key = new_host_key

    async def run(
        self, command: str, *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command``; its exit status, stdout and stderr come back (non-zero is not raised)."""
        return await self._run(command, input=input, timeout=timeout, simple=False)

    async def _run(
        self, command: str, *, input: str | None, timeout: float | None, simple: bool
    ) -> CommandResult:
        limit = self.pool.command_timeout if timeout is None else timeout
        try:
            process = await self.conn.create_process(
                remote_deadline(command, limit, simple=simple), encoding="utf-8", errors="replace"
            )
        except (OSError, asyncssh.Error) as exc:
            raise _lost(self.target, exc) from exc
        try:
            async with asyncio.timeout(limit):
                stdout, stderr = await process.communicate(input)
        except TimeoutError as exc:
            _stop(process)
            raise TemporaryServiceError(
                SERVICE,
                f"A command on {self.target.label} did not finish within {limit:g} s (SSH command timeout).",
            ) from exc
        except (OSError, asyncssh.Error) as exc:
            _stop(process)
            raise _lost(self.target, exc) from exc
        code = process.returncode
        if code is None:  # no exit status and no signal: the connection went away mid-command
            raise _lost(self.target, None)
        # returncode is -N when a signal N ended the command; report it as a shell would (128 + N).
        status = code if code >= 0 else 128 - code
        return CommandResult(status, _text(stdout), _text(stderr), self.new_host_key)

    async def run_script(
        self, script_text: str, *, sudo: bool, args: Sequence[str] = (), timeout: float | None = None
    ) -> CommandResult:
        """Pipe ``script_text`` to ``sh -s`` on the host; with ``sudo`` (and a non-root user)
        through ``sudo -n``. A user who may not sudo without a password, or a host without
        sudo, raises :class:`SudoError`."""
        use_sudo = sudo and self.target.user != "root"
        command = "sudo -n sh -s" if use_sudo else "sh -s"
        if args:
            command += " -- " + " ".join(shlex.quote(a) for a in args)
        result = await self._run(command, input=script_text, timeout=timeout, simple=True)
        if use_sudo and result.exit_status != 0:
            _check_sudo(result, self.target)
        return result


# ------------------------------------------------------------------ helpers ---


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    detail = " | ".join(lines[-3:])
    return detail if len(detail) <= _MAX_DETAIL else "…" + detail[-_MAX_DETAIL:]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _fingerprint(line: str) -> str:
    try:
        key = asyncssh.import_public_key(" ".join(line.split()[1:3]))
    except (asyncssh.KeyImportError, ValueError):
        return "(unreadable)"
    return str(key.get_fingerprint("sha256"))


def remote_deadline(command: str, limit: float, *, simple: bool = False) -> str:
    """``command`` wrapped so that it also ends on the host after ``limit`` seconds.

    Closing an SSH channel does not stop a command that neither reads nor writes,
    and sshd refuses "signal" requests in root sessions; so the host's own
    ``timeout`` (coreutils/busybox, when present) enforces the same deadline.
    ``simple``: ``command`` is one plain command with already quoted arguments
    (no shell syntax), run without an extra ``sh -c``.
    """
    seconds = max(1, math.ceil(limit))
    inner = command if simple else f"sh -c {shlex.quote(command)}"
    return (
        f"if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 {seconds} {inner}; "
        f"else exec {inner}; fi"
    )


def validate_known_hosts(text: str) -> None:
    """Raise :class:`ValidationError` unless every line is a ``known_hosts`` entry with a readable key."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            fields = fields[1:]
        try:
            if len(fields) < 3:
                raise ValueError("too few fields")
            asyncssh.import_public_key(f"{fields[1]} {fields[2]}")
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise ValidationError(
                f"Line {number} of the pinned SSH host keys is not a known_hosts entry "
                "(host pattern, key type, key).",
                {"ssh_known_hosts": f"line {number} is not a known_hosts entry"},
            ) from exc


def _import_known_hosts(target: SshTarget) -> asyncssh.SSHKnownHosts:
    text = (target.known_hosts or "").strip()
    validate_known_hosts(text)
    try:
        return asyncssh.import_known_hosts(text + "\n")
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise ValidationError(
            f"The pinned SSH host keys of {_hostport(target.address, target.port)} are not valid "
            "known_hosts text.",
            {"ssh_known_hosts": "not valid known_hosts text"},
        ) from exc


def _connect_error(target: SshTarget, exc: BaseException, timeout: float) -> Exception:
    where = target.label
    if isinstance(exc, asyncssh.PermissionDenied):
        return PermanentServiceError(SERVICE, f"SSH key rejected by {where}.")
    if isinstance(exc, TimeoutError):
        return TemporaryServiceError(
            SERVICE, f"No SSH answer from {where} within {timeout:g} s (SSH connect timeout)."
        )
    if isinstance(exc, ConnectionRefusedError):
        return TemporaryServiceError(SERVICE, f"SSH connection to {where} refused (is sshd running?).")
    if isinstance(exc, socket.gaierror):
        return TemporaryServiceError(SERVICE, f"Cannot resolve the SSH address of {where}.")
    if isinstance(exc, OSError):
        reason = exc.strerror or exc.__class__.__name__
        return TemporaryServiceError(SERVICE, f"Cannot reach {where} over SSH: {reason}.")
    if isinstance(exc, asyncssh.DisconnectError):
        reason = (exc.reason or "").strip().rstrip(".") or "no reason given"
        return TemporaryServiceError(SERVICE, f"SSH connection to {where} was closed: {reason}.")
    return TemporaryServiceError(SERVICE, f"SSH connection to {where} failed: {exc.__class__.__name__}.")


def _lost(target: SshTarget, exc: BaseException | None) -> TemporaryServiceError:
    reason = ""
    if isinstance(exc, asyncssh.DisconnectError | asyncssh.ChannelOpenError):
        reason = (exc.reason or "").strip().rstrip(".")
    elif isinstance(exc, OSError):
        reason = exc.strerror or exc.__class__.__name__
    return TemporaryServiceError(
        SERVICE, f"The SSH connection to {target.label} was lost{': ' + reason if reason else ''}."
    )


def _stop(process: asyncssh.SSHClientProcess[str]) -> None:
    with contextlib.suppress(Exception):
        process.kill()
    with contextlib.suppress(Exception):
        process.close()


def _check_sudo(result: CommandResult, target: SshTarget) -> None:
    err = result.stderr
    # 127/126: the shell (or `timeout`) could not find or run sudo.
    if any(marker in err for marker in _SUDO_MISSING) or (result.exit_status in (126, 127) and "sudo" in err):
        raise SudoError(
            SERVICE,
            f"sudo is not installed (or cannot be run) on {_hostport(target.address, target.port)}; "
            "install it or connect as root.",
        )
    if any(marker in err for marker in _SUDO_DENIED):
        raise SudoError(
            SERVICE,
            f"{target.user} on {_hostport(target.address, target.port)} may not use sudo without a "
            f"password; give {target.user} passwordless sudo (NOPASSWD) or connect as root.",
        )


class PrivateKeyError(ValueError):
    """A private key that does not parse; ``encrypted`` when it needs a passphrase.

    Carries no part of the key: callers may show it.
    """

    def __init__(self, encrypted: bool) -> None:
        super().__init__("passphrase-protected key" if encrypted else "unreadable private key")
        self.encrypted = encrypted


def check_private_key(text: str) -> None:
    """Raise :class:`PrivateKeyError` unless ``text`` is an unencrypted private key asyncssh can use."""
    try:
        asyncssh.import_private_key(text)
    except Exception as exc:  # asyncssh raises KeyImportError, but also ValueError & co. on junk
        raise PrivateKeyError(encrypted="passphrase" in str(exc).lower()) from None
