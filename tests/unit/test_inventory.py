"""Inventory and extra vars for provisioning (pure rendering)."""

from __future__ import annotations

import shlex

import pytest

from podwarden.engine.render.inventory import (
    InventoryHost,
    K3sPlan,
    k3s_exec_args,
    mesh_address,
    provision_vars,
    reachable_address,
    render_inventory,
    server_url,
    wipe_vars,
)
from podwarden.engine.services.provisioning import parse_leftovers


def test_inventory_pins_host_keys_and_uses_the_key_file() -> None:
    inv = render_inventory(
        InventoryHost("node-1", "10.0.0.5", 2222, "root"),
        known_hosts_file="/tmp/x/known hosts",
        private_key_file="/tmp/x/id_key",
    )
    hostvars = inv["all"]["hosts"]["node-1"]
    assert hostvars["ansible_host"] == "10.0.0.5"
    assert hostvars["ansible_port"] == 2222
    assert hostvars["ansible_user"] == "root"
    assert hostvars["ansible_ssh_private_key_file"] == "/tmp/x/id_key"
    assert hostvars["ansible_become"] is False
    args = shlex.split(hostvars["ansible_ssh_common_args"])
    assert "UserKnownHostsFile=/tmp/x/known hosts" in args
    assert "StrictHostKeyChecking=yes" in args
    assert "GlobalKnownHostsFile=/dev/null" in args


def test_non_root_user_becomes_root_with_sudo_and_agent_has_no_key_file() -> None:
    hostvars = render_inventory(InventoryHost("n", "h.example", user="deploy"), known_hosts_file="/k")["all"][
        "hosts"
    ]["n"]
    assert hostvars["ansible_become"] is True
    assert hostvars["ansible_become_method"] == "sudo"
    assert "ansible_ssh_private_key_file" not in hostvars


def test_server_on_mesh_gets_node_ip_flannel_iface_external_ip_and_tls_sans() -> None:
    plan = K3sPlan(
        role="server", artifacts_dir="/a", node_ip="100.101.1.2", tls_sans=("10.0.0.5", "100.101.1.2")
    )
    assert k3s_exec_args(plan) == [
        "server",
        "--node-ip", "100.101.1.2",
        "--flannel-iface", "tailscale0",
        "--node-external-ip", "100.101.1.2",
        "--tls-san", "100.101.1.2",
        "--tls-san", "10.0.0.5",
    ]  # fmt: skip


def test_server_without_mesh_has_no_mesh_flags() -> None:
    args = k3s_exec_args(K3sPlan(role="server", artifacts_dir="/a", tls_sans=("10.0.0.5",)))
    assert args == ["server", "--tls-san", "10.0.0.5"]


def test_agent_vars_carry_server_url_but_never_a_token() -> None:
    plan = K3sPlan(
        role="agent", artifacts_dir="/a", node_ip="100.64.0.9", server_url="https://100.64.0.1:6443"
    )
    extravars = provision_vars(plan)
    assert extravars["k3s_role"] == "agent"
    assert extravars["k3s_server_url"] == "https://100.64.0.1:6443"
    assert shlex.split(extravars["k3s_exec"]) == [
        "agent", "--node-ip", "100.64.0.9", "--flannel-iface", "tailscale0", "--node-external-ip", "100.64.0.9",
    ]  # fmt: skip
    assert "--tls-san" not in extravars["k3s_exec"]
    assert "k3s_token" not in extravars


def test_agent_without_server_url_is_refused() -> None:
    with pytest.raises(ValueError, match="server URL"):
        provision_vars(K3sPlan(role="agent", artifacts_dir="/a"))


@pytest.mark.parametrize("gpu", [True, False])
def test_gpu_and_install_switches(gpu: bool) -> None:
    extravars = provision_vars(
        K3sPlan(
            role="server", artifacts_dir="/art", gpu=gpu, install_prefix="/tmp/p", install_base_packages=False
        )
    )
    assert extravars["podwarden_gpu"] is gpu
    assert extravars["podwarden_install_base_packages"] is False
    assert extravars["k3s_artifacts_dir"] == "/art"
    assert extravars["k3s_install_prefix"] == "/tmp/p"
    assert wipe_vars(install_prefix="/tmp/p") == {"k3s_install_prefix": "/tmp/p"}


def test_mesh_address_prefers_tailscale0_then_cgnat_then_v6() -> None:
    assert mesh_address(["192.168.1.4", "100.80.0.3"], {"tailscale0": ["100.99.0.1/32"]}) == "100.99.0.1"
    assert mesh_address(["192.168.1.4", "100.80.0.3"]) == "100.80.0.3"
    assert mesh_address(["fd7a:115c:a1e0::1", "8.8.8.8"]) == "fd7a:115c:a1e0::1"
    assert mesh_address(["192.168.1.4", "not-an-ip", "100.128.0.1"]) is None
    assert reachable_address("10.0.0.5", ["10.0.0.5"], None) == "10.0.0.5"
    assert reachable_address("10.0.0.5", [], "100.64.0.2") == "100.64.0.2"
    assert server_url("fd7a:115c:a1e0::1") == "https://[fd7a:115c:a1e0::1]:6443"


def test_leftover_marker_lines() -> None:
    assert parse_leftovers("    msg: 'PODWARDEN_LEFTOVERS: none'") == []
    assert parse_leftovers('"msg": "PODWARDEN_LEFTOVERS: path:/var/lib/rancher interface:cni0"') == [
        "path:/var/lib/rancher",
        "interface:cni0",
    ]
    assert parse_leftovers("TASK [Report leftovers] ***") is None
