"""Ansible inventory and extra vars for one host (pure: no I/O, no secrets revealed).

:func:`render_inventory` turns an :class:`InventoryHost` into ansible-runner's
inventory mapping (one host, in group ``all``), with SSH host key checking on
against a pinned ``known_hosts`` file. :func:`provision_vars` turns a
:class:`K3sPlan` into the extra vars of ``playbooks/provision.yml``;
:func:`wipe_vars` into those of ``playbooks/wipe.yml``. Every variable is
documented in ``playbooks/README.md``.

Mesh networking (Tailscale): when the host has a mesh address, K3s runs with
``--node-ip``/``--node-external-ip`` = that address and ``--flannel-iface
tailscale0``, and a server adds ``--tls-san`` for every address the kubeconfig
may be pointed at (see :func:`k3s_exec_args`).
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "K3S_API_PORT",
    "MESH_INTERFACE",
    "InventoryHost",
    "K3sPlan",
    "K3sRole",
    "k3s_exec_args",
    "mesh_address",
    "provision_vars",
    "reachable_address",
    "render_inventory",
    "server_url",
    "ssh_common_args",
    "wipe_vars",
]

K3sRole = Literal["server", "agent"]

MESH_INTERFACE: Final = "tailscale0"
K3S_API_PORT: Final = 6443
_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_TAILSCALE_V6: Final = ipaddress.IPv6Network("fd7a:115c:a1e0::/48")


@dataclass(frozen=True)
class InventoryHost:
    """How Ansible reaches one host. ``name`` is the inventory name (used in output)."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    python_interpreter: str = "/usr/bin/python3"

    @property
    def become(self) -> bool:
        return self.user != "root"


@dataclass(frozen=True)
class K3sPlan:
    """What ``provision.yml`` should do on one host.

    ``node_ip``: the host's mesh address, when it has one (mesh networking on).
    ``tls_sans``: extra names/addresses for the server certificate.
    ``server_url``/``join_token``: an agent's control plane (the token itself is
    not rendered here: the service passes it apart so it can be redacted).
    """

    role: K3sRole
    artifacts_dir: str
    node_ip: str | None = None
    external_ip: str | None = None
    tls_sans: tuple[str, ...] = ()
    server_url: str | None = None
    gpu: bool = False
    install_prefix: str = ""
    install_base_packages: bool = True
    extra_args: tuple[str, ...] = field(default=())


def mesh_address(
    addresses: Iterable[str], interfaces: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """The host's mesh (Tailscale) IPv4 address: on ``tailscale0``, else any in 100.64.0.0/10.

    IPv6 Tailscale addresses count only when there is no IPv4 one.
    """
    candidates = [*((interfaces or {}).get(MESH_INTERFACE, ())), *addresses]
    v6: str | None = None
    for raw in candidates:
        text = raw.split("/")[0].strip()
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
            return str(ip)
        if isinstance(ip, ipaddress.IPv6Address) and ip in _TAILSCALE_V6 and v6 is None:
            v6 = str(ip)
    return v6


def reachable_address(ssh_address: str | None, addresses: Sequence[str], mesh: str | None) -> str | None:
    """The address PodWarden and other nodes use for the host: mesh first, then the SSH address."""
    return mesh or ssh_address or next(iter(addresses), None)


def server_url(address: str) -> str:
    """``https://ADDRESS:6443`` (IPv6 in brackets)."""
    host = address
    try:
        if isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address):
            host = f"[{address}]"
    except ValueError:
        pass
    return f"https://{host}:{K3S_API_PORT}"


def k3s_exec_args(plan: K3sPlan) -> list[str]:
    """``INSTALL_K3S_EXEC`` as a list: ``server``/``agent`` then the networking flags."""
    args: list[str] = [plan.role]
    if plan.node_ip:
        args += ["--node-ip", plan.node_ip, "--flannel-iface", MESH_INTERFACE]
    external = plan.external_ip or plan.node_ip
    if external:
        args += ["--node-external-ip", external]
    if plan.role == "server":
        sans: list[str] = []
        for san in (plan.node_ip, *plan.tls_sans):
            if san and san not in sans:
                sans.append(san)
        for san in sans:
            args += ["--tls-san", san]
    args += list(plan.extra_args)
    return args


def ssh_common_args(known_hosts_file: str) -> str:
    """OpenSSH options: only the pinned keys count, and a mismatch is refused."""
    return " ".join(
        [
            "-o", f"UserKnownHostsFile={shlex.quote(known_hosts_file)}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "PasswordAuthentication=no",
        ]
    )  # fmt: skip


def render_inventory(
    host: InventoryHost, *, known_hosts_file: str, private_key_file: str | None = None
) -> dict[str, Any]:
    """ansible-runner's ``inventory`` mapping for one host."""
    hostvars: dict[str, Any] = {
        "ansible_host": host.address,
        "ansible_port": host.port,
        "ansible_user": host.user,
        "ansible_connection": "ssh",
        "ansible_python_interpreter": host.python_interpreter,
        "ansible_ssh_common_args": ssh_common_args(known_hosts_file),
        "ansible_become": host.become,
    }
    if host.become:
        hostvars["ansible_become_method"] = "sudo"
    if private_key_file is not None:
        hostvars["ansible_ssh_private_key_file"] = private_key_file
    return {"all": {"hosts": {host.name: hostvars}}}


def provision_vars(plan: K3sPlan) -> dict[str, Any]:
    """Extra vars of ``provision.yml`` (without the join token: see the service)."""
    if plan.role == "agent" and not plan.server_url:
        raise ValueError("an agent needs the server URL of its control plane")
    return {
        "k3s_role": plan.role,
        "k3s_exec": " ".join(shlex.quote(a) for a in k3s_exec_args(plan)),
        "k3s_server_url": plan.server_url or "",
        "k3s_artifacts_dir": plan.artifacts_dir,
        "k3s_install_prefix": plan.install_prefix,
        "podwarden_gpu": plan.gpu,
        "podwarden_install_base_packages": plan.install_base_packages,
    }


def wipe_vars(*, install_prefix: str = "") -> dict[str, Any]:
    """Extra vars of ``wipe.yml``."""
    return {"k3s_install_prefix": install_prefix}
