"""Tests for the host probe: ``playbooks/files/probe.sh`` and ``podwarden.engine.parsers.probe``.

The JSON fixtures under ``data/probe/`` are hand-written samples in the script's
output format, modelled on real ``ip -j addr``, ``lsblk -J``, ``nvidia-smi`` and
``lspci -mm -nn`` output (pretty-printed for review; the parser ignores layout).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from podwarden.engine.errors import PodWardenError, ValidationError
from podwarden.engine.parsers.probe import (
    Gpu,
    Interface,
    ProbeResult,
    classify_address,
    network_types,
    parse_lspci,
    parse_nvidia_smi,
    parse_probe_output,
)

DATA = Path(__file__).parent / "data" / "probe"
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "playbooks" / "files" / "probe.sh"
#: What probe.sh needs at the very least (everything else is optional).
REQUIRED_TOOLS = ("cat", "sed", "tr", "grep", "uname")


def fixture_text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def fixture_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(fixture_text(name))
    return doc


def parse_doc(doc: dict[str, Any]) -> ProbeResult:
    return parse_probe_output(json.dumps(doc))


def iface(name: str, *addresses: str, up: bool = True) -> Interface:
    return Interface(name=name, addresses=tuple(ipaddress.ip_interface(a) for a in addresses), up=up)


def by_name(result: ProbeResult) -> dict[str, Interface]:
    return {interface.name: interface for interface in result.interfaces}


# ------------------------------------------------------------ recorded hosts ---


def test_plain_vm_without_gpu() -> None:
    result = parse_probe_output(fixture_text("vm_no_gpu.json"))

    assert result.probe_version == 1
    assert result.hostname == "web-01"
    assert result.fqdn == "web-01.example.net"
    assert result.cpu_model == "Intel Xeon Processor (Skylake, IBRS)"
    assert result.cpu_cores == 4
    assert result.cpu_sockets == 4
    assert result.memory_bytes == 8323330048
    assert (result.os_id, result.os_name, result.os_version) == ("ubuntu", "Ubuntu 22.04.4 LTS", "22.04")
    assert (result.kernel, result.arch) == ("5.15.0-94-generic", "x86_64")
    # loop devices and the virtual DVD drive are not disks
    assert [(d.name, d.size_bytes, d.rotational, d.model) for d in result.disks] == [
        ("vda", 85899345920, True, None)
    ]
    assert result.disk_bytes == 85899345920
    # the emulated Cirrus VGA is a display controller, not a GPU
    assert result.gpus == ()
    assert result.gpu_count == 0
    assert result.gpu_vram_total_mb == 0
    assert result.gpu_model is None
    assert [(g.vendor, g.model, g.is_accelerator) for g in result.display_controllers] == [
        ("virtual", "Cirrus Logic GD 5446", False)
    ]
    ens3 = by_name(result)["ens3"]
    assert ens3.up
    assert ens3.mac == "96:00:03:12:34:56"
    assert [str(a) for a in ens3.addresses] == [
        "159.69.42.17/32",
        "2a01:4f8:c17:2c1a::1/64",
        "fe80::9400:3ff:fe12:3456/64",
    ]
    assert by_name(result)["lo"].mac is None
    assert result.network_types == ("public",)
    assert result.kubernetes_detected is False
    assert result.kubernetes_signals == ()
    assert result.k3s_role is None


def test_one_nvidia_gpu_with_driver() -> None:
    result = parse_probe_output(fixture_text("nvidia_rtx4090.json"))

    assert result.gpus == (Gpu(model="NVIDIA GeForce RTX 4090", vram_mb=24564, vendor="nvidia"),)
    assert result.gpu_count == 1
    assert result.gpu_vram_total_mb == 24564
    assert result.gpu_model == "NVIDIA GeForce RTX 4090"
    # nvidia-smi is authoritative: the same card seen by lspci is not counted twice;
    # the integrated Intel graphics stays a display controller
    assert [(g.vendor, g.model) for g in result.display_controllers] == [("intel", "Intel AlderLake-S GT1")]
    assert result.fqdn is None
    assert [(d.name, d.rotational, d.model) for d in result.disks] == [
        ("sda", True, "ST4000DM004-2CV104"),
        ("nvme0n1", False, "Samsung SSD 980 PRO 2TB"),
    ]
    assert by_name(result)["tailscale0"].mac is None  # link/none
    assert result.network_types == ("lan", "mesh")


def test_eight_a100_gpus_on_a_k3s_agent() -> None:
    result = parse_probe_output(fixture_text("nvidia_a100x8.json"))

    assert result.gpu_count == 8
    assert {g.model for g in result.gpus} == {"NVIDIA A100-SXM4-80GB"}
    assert all(g.vram_mb == 81920 and g.vendor == "nvidia" for g in result.gpus)
    assert result.gpu_vram_total_mb == 8 * 81920
    assert result.gpu_model == "NVIDIA A100-SXM4-80GB"
    # the BMC's VGA is kept, marked, and not counted
    assert [(g.vendor, g.model, g.pci_slot) for g in result.display_controllers] == [
        ("aspeed", "ASPEED Graphics Family", "c2:00.0")
    ]
    assert result.cpu_sockets == 2
    assert result.cpu_cores == 256
    # md0 (raid0) is not a physical disk
    assert [d.name for d in result.disks] == ["nvme0n1", "nvme1n1", "nvme2n1", "nvme3n1"]
    assert result.kubernetes_detected is True
    assert result.kubernetes_signals == ("k3s_agent_service_active", "k3s_binary", "k3s_process")
    assert result.k3s_role == "agent"
    assert result.network_types == ("lan",)


def test_nvidia_seen_only_by_lspci_counts_with_unknown_vram() -> None:
    result = parse_probe_output(fixture_text("lspci_no_driver.json"))

    assert result.gpu_count == 2
    assert [(g.model, g.vram_mb, g.vendor, g.pci_slot) for g in result.gpus] == [
        ("NVIDIA device 10de:2b85", None, "nvidia", "01:00.0"),  # too new for pci.ids
        ("NVIDIA GeForce RTX 4090", None, "nvidia", "02:00.0"),
    ]
    assert result.gpu_vram_total_mb is None  # unknown, not zero
    # the Ryzen's integrated Radeon is not a GPU
    assert [(g.vendor, g.model) for g in result.display_controllers] == [("amd", "AMD Raphael")]


@pytest.mark.parametrize(
    ("smi_text", "smi_rc"),
    [
        pytest.param(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running.",
            9,
            id="driver-not-loaded",
        ),
        pytest.param("No devices were found", 6, id="no-devices"),
        pytest.param("", 0, id="empty-success"),
    ],
)
def test_failing_nvidia_smi_falls_back_to_lspci(smi_text: str, smi_rc: int) -> None:
    doc = fixture_doc("lspci_no_driver.json")
    doc["gpus"]["nvidia_smi"] = smi_text
    doc["gpus"]["nvidia_smi_rc"] = smi_rc

    result = parse_doc(doc)

    assert result.gpu_count == 2
    assert all(g.vendor == "nvidia" and g.vram_mb is None for g in result.gpus)


def test_odd_interfaces() -> None:
    result = parse_probe_output(fixture_text("odd_interfaces.json"))
    interfaces = by_name(result)

    assert result.network_types == ("lan", "mesh", "public")
    assert interfaces["eth1"].up is False  # NO-CARRIER, its public IPv6 does not count
    assert interfaces["docker0"].up is False
    assert interfaces["kube-ipvs0"].up is False
    assert interfaces["tailscale0"].up is True
    assert interfaces["wg0"].up is True
    assert [str(a) for a in interfaces["ula0"].addresses] == [
        "fd12:3456:789a:1::10/64",
        "fe80::e0:4cff:fe68:2/64",
    ]
    assert [str(a) for a in interfaces["veth3c1f0a2b"].addresses] == ["fe80::4c55:8dff:fe01:a2b3/64"]
    assert isinstance(interfaces["tailscale0"].addresses[0], ipaddress.IPv4Interface)
    assert isinstance(interfaces["tailscale0"].addresses[1], ipaddress.IPv6Interface)

    # Without the ULA-only interface nothing else is "lan": docker0, br-…, cni0,
    # flannel.1 and veth* are ignored and wg0's 10.13.13.1 counts as mesh.
    without_ula = [i for i in result.interfaces if i.name != "ula0"]
    assert network_types(without_ula) == ["mesh", "public"]
    # … and without the public uplink only the mesh remains
    assert network_types([i for i in without_ula if i.name != "end0"]) == ["mesh"]

    # zram and the eMMC boot partitions are not disks; aarch64 has no socket count
    assert [d.name for d in result.disks] == ["mmcblk0"]
    assert result.arch == "aarch64"
    assert result.cpu_sockets is None


def test_k3s_server() -> None:
    result = parse_probe_output(fixture_text("k3s_server.json"))

    assert result.kubernetes_detected is True
    assert result.kubernetes_signals == ("k3s_binary", "k3s_config", "k3s_process", "k3s_service_active")
    assert result.k3s_role == "server"
    assert result.gpu_count == 0
    assert [(g.vendor, g.model, g.is_accelerator) for g in result.display_controllers] == [
        ("intel", "Intel UHD Graphics", False)
    ]
    assert result.network_types == ("lan", "mesh")


@pytest.mark.parametrize(
    ("change", "signals", "role"),
    [
        ({"kubelet_binary": True}, ("kubelet_binary",), None),
        ({"kubelet_process": True}, ("kubelet_process",), None),
        ({"k3s_config": True}, ("k3s_config",), None),
        ({"k3s_service": "activating"}, (), None),
        ({"k3s_service": None, "k3s_agent_service": None, "systemd": False}, (), None),
        ({"k3s_agent_service": "active"}, ("k3s_agent_service_active",), "agent"),
    ],
)
def test_kubernetes_signals(change: dict[str, Any], signals: tuple[str, ...], role: str | None) -> None:
    doc = fixture_doc("vm_no_gpu.json")
    doc["kubernetes"].update(change)

    result = parse_doc(doc)

    assert result.kubernetes_signals == signals
    assert result.kubernetes_detected is bool(signals)
    assert result.k3s_role == role


def test_legacy_host_without_ip_json_or_lsblk_json() -> None:
    result = parse_probe_output(fixture_text("legacy_centos7.json"))
    interfaces = by_name(result)

    assert list(interfaces) == ["lo", "em1", "em2", "docker0"]
    assert interfaces["em1"].up is True
    assert interfaces["em1"].mac == "18:66:da:9e:1f:20"
    assert [str(a) for a in interfaces["em1"].addresses] == ["10.1.2.30/24", "fe80::1a66:daff:fe9e:1f20/64"]
    assert interfaces["em2"].up is False
    assert interfaces["em2"].addresses == ()
    assert interfaces["docker0"].up is False
    assert result.network_types == ("lan",)
    # from /sys/block: device-mapper and the DVD drive are skipped
    assert [(d.name, d.model) for d in result.disks] == [("sda", "PERC H730P Mini")]


def test_empty_ip_json_entries_and_empty_strings_are_tolerated() -> None:
    doc = fixture_doc("vm_no_gpu.json")
    doc["network"]["ip_json"].insert(0, {})
    doc["kernel"] = ""
    doc["os"]["pretty_name"] = ""

    result = parse_doc(doc)

    assert [i.name for i in result.interfaces] == ["lo", "ens3"]
    assert result.kernel is None
    assert result.os_name == "Ubuntu"


def test_old_lsblk_with_string_numbers() -> None:
    doc = fixture_doc("vm_no_gpu.json")
    doc["disks"]["lsblk"] = {
        "blockdevices": [
            {"name": "sda", "size": "500107862016", "type": "disk", "rota": "1", "model": "WDC WD5000AAKX-0"},
            {"name": "sdb", "size": "0", "type": "disk", "rota": "0", "model": None},
        ]
    }

    result = parse_doc(doc)

    assert [(d.name, d.size_bytes, d.rotational) for d in result.disks] == [("sda", 500107862016, True)]


def test_result_is_frozen_and_round_trips() -> None:
    result = parse_probe_output(fixture_text("nvidia_a100x8.json"))

    with pytest.raises(pydantic.ValidationError):
        result.hostname = "other"
    dumped = result.model_dump(mode="json")
    assert dumped["gpu_count"] == 8
    assert dumped["gpu_vram_total_mb"] == 655360
    assert dumped["network_types"] == ["lan"]
    assert "10.20.0.31/16" in dumped["interfaces"][1]["addresses"]
    assert ProbeResult.model_validate_json(json.dumps(dumped)) == result


# ---------------------------------------------------------------- nvidia-smi ---


def test_parse_nvidia_smi_single_gpu() -> None:
    assert parse_nvidia_smi(fixture_text("nvidia_smi_rtx4090.csv")) == [
        Gpu(model="NVIDIA GeForce RTX 4090", vram_mb=24564, vendor="nvidia")
    ]


def test_parse_nvidia_smi_eight_gpus() -> None:
    gpus = parse_nvidia_smi(fixture_text("nvidia_smi_a100x8.csv"))

    assert len(gpus) == 8
    assert sum(g.vram_mb or 0 for g in gpus) == 655360


def test_parse_nvidia_smi_tolerates_not_available() -> None:
    assert [(g.model, g.vram_mb) for g in parse_nvidia_smi(fixture_text("nvidia_smi_mixed.csv"))] == [
        ("NVIDIA GeForce RTX 3090", 24576),
        ("NVIDIA A100-SXM4-40GB MIG 3g.20gb", None),
        ("Tesla T4", 15360),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("No devices were found\n", []),
        ("\n\nNVIDIA GeForce GTX 1080 Ti, 11264\r\n\n", [("NVIDIA GeForce GTX 1080 Ti", 11264)]),
        ("NVIDIA RTX A6000, 49140 MiB", [("NVIDIA RTX A6000", 49140)]),
        ("NVIDIA L4, [Not Supported]", [("NVIDIA L4", None)]),
        ("[N/A], 16384", [("NVIDIA GPU", 16384)]),
        ("Failed to initialize NVML: Driver/library version mismatch, try again", []),
    ],
)
def test_parse_nvidia_smi_edge_cases(text: str, expected: list[tuple[str, int | None]]) -> None:
    assert [(g.model, g.vram_mb) for g in parse_nvidia_smi(text)] == expected


# --------------------------------------------------------------------- lspci ---


def test_parse_lspci_marks_vendors_and_accelerators() -> None:
    devices = parse_lspci(fixture_text("lspci_mixed.txt"))

    # the two "Audio device [0403]" lines are not display controllers
    assert [(d.pci_slot, d.vendor, d.model, d.is_accelerator) for d in devices] == [
        ("00:02.0", "intel", "Intel AlderLake-S GT1", False),
        ("01:00.0", "nvidia", "NVIDIA GeForce RTX 4090", True),
        ("03:00.0", "amd", "AMD Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M", True),
        ("04:00.0", "amd", "AMD Instinct MI300X", True),
        ("05:00.0", "intel", "Intel Arc A770", True),
        ("06:00.0", "aspeed", "ASPEED Graphics Family", False),
        ("07:00.0", "matrox", "Integrated Matrox G200eW3 Graphics Controller", False),
        ("08:00.0", "nvidia", "NVIDIA A100 SXM4 80GB", True),
        ("0c:00.0", "amd", "AMD Radeon Vega Series / Radeon Vega Mobile Series", False),
    ]
    assert all(d.vram_mb is None for d in devices)


def test_parse_lspci_accepts_lines_without_numeric_ids() -> None:
    devices = parse_lspci(
        [
            '01:00.0 "3D controller" "NVIDIA Corporation" "TU104GL [Tesla T4]" -ra1 '
            '"NVIDIA Corporation" "Device 12a2"',
            '00:02.0 "VGA compatible controller" "Red Hat, Inc." "Virtio GPU" -r01 '
            '"Red Hat, Inc." "Device 1100"',
            '00:1f.2 "SATA controller" "Intel Corporation" "C600/X79 series chipset SATA RAID Controller"',
            "not an lspci line",
            "",
        ]
    )

    assert [(d.vendor, d.model, d.is_accelerator) for d in devices] == [
        ("nvidia", "NVIDIA Tesla T4", True),
        ("virtual", "Red Hat Virtio GPU", False),
    ]


# ------------------------------------------------------------------- network ---


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", None),
        ("::1", None),
        ("169.254.10.1", None),
        ("fe80::1", None),
        ("fe80::1%eth0", None),
        ("0.0.0.0", None),
        ("::", None),
        ("224.0.0.251", None),
        ("192.0.2.10", None),  # documentation range: neither lan nor public
        ("not-an-ip", None),
        ("100.64.0.1", "mesh"),
        ("100.101.102.103/32", "mesh"),
        ("100.127.255.254", "mesh"),
        ("fd7a:115c:a1e0::1d01:6667", "mesh"),  # Tailscale IPv6
        ("10.0.0.5/8", "lan"),
        ("172.16.0.1", "lan"),
        ("172.31.255.254", "lan"),
        ("192.168.1.50", "lan"),
        ("fd12:3456:789a:1::10", "lan"),
        ("fc00::1", "lan"),
        ("::ffff:192.168.1.1", "lan"),
        ("100.128.0.1", "public"),
        ("172.32.0.1", "public"),
        ("8.8.8.8", "public"),
        ("95.217.10.20/26", "public"),
        ("2a01:4f8:c17:2c1a::1", "public"),
    ],
)
def test_classify_address(address: str, expected: str | None) -> None:
    assert classify_address(address) == expected


def test_classify_address_accepts_ipaddress_objects() -> None:
    assert classify_address(ipaddress.ip_address("10.1.2.3")) == "lan"
    assert classify_address(ipaddress.ip_interface("100.90.1.2/32")) == "mesh"
    assert classify_address(ipaddress.ip_interface("2001:4860:4860::8888/128")) == "public"
    assert classify_address(ipaddress.ip_interface("fe80::1/64")) is None


@pytest.mark.parametrize(
    "name",
    [
        "docker0",
        "docker_gwbridge",
        "br-0123456789ab",
        "cni0",
        "flannel.1",
        "flannel-wg",
        "veth1a2b3c4d",
        "kube-bridge",
        "kube-ipvs0",
        "cali12ab34cd56e",
        "cilium_host",
        "virbr0",
    ],
)
def test_container_interfaces_are_ignored(name: str) -> None:
    assert network_types([iface(name, "192.168.50.1/24", "8.8.4.4/32")]) == []


@pytest.mark.parametrize("name", ["tailscale0", "tailscale1", "wg0", "wg-mesh", "nebula1", "zt5u4ifw2a"])
def test_mesh_interfaces_make_every_address_mesh(name: str) -> None:
    assert network_types([iface(name, "10.13.13.1/24", "8.8.4.4/32", "fe80::1/64")]) == ["mesh"]


def test_network_types_is_sorted_and_skips_down_interfaces() -> None:
    interfaces = [
        iface("eth0", "203.0.113.5/24", "1.1.1.2/24"),
        iface("br-lan", "192.168.1.1/24"),  # a user bridge, not a Docker network
        iface("eth1", "100.70.0.1/10"),  # CGNAT address outside a mesh interface
        iface("eth2", "10.0.0.2/24", up=False),
        iface("lo", "127.0.0.1/8"),
    ]

    assert network_types(interfaces) == ["lan", "mesh", "public"]
    assert network_types([]) == []


# ----------------------------------------------------------------- malformed ---


@pytest.mark.parametrize(
    ("name", "field", "words"),
    [
        ("malformed_empty.txt", "output", "printed nothing"),
        ("malformed_not_json.txt", "output", "not valid JSON"),
        ("malformed_truncated.json", "output", "truncated"),
        ("malformed_wrong_types.json", "cpu.cores", "expected an integer, got a string"),
    ],
)
def test_malformed_fixtures(name: str, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_probe_output(fixture_text(name))

    assert words in str(caught.value)
    assert field in caught.value.errors
    assert isinstance(caught.value, PodWardenError)


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value

    return change


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        del doc[key]

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("probe_version", 2), "probe_version"),
        (_set("probe_version", "1"), "probe_version"),
        (_set("probe_version", True), "probe_version"),
        (_delete("probe_version"), "probe_version"),
        (_delete("hostname"), "hostname"),
        (_set("hostname", ""), "hostname"),
        (_set("hostname", None), "hostname"),
        (_delete("cpu"), "cpu"),
        (_set("cpu", "Intel"), "cpu"),
        (_set("memory_bytes", -1), "memory_bytes"),
        (_set("memory_bytes", "8 GB"), "memory_bytes"),
        (_set("os.pretty_name", 22.04), "os.pretty_name"),
        (_set("disks.lsblk", []), "disks.lsblk"),
        (_set("disks.lsblk", {"blockdevices": "vda"}), "disks.lsblk.blockdevices"),
        (_set("gpus.nvidia_smi_rc", "0"), "gpus.nvidia_smi_rc"),
        (_set("network.source", "carrier-pigeon"), "network.source"),
        (_set("network.ip_json", {"ifname": "eth0"}), "network.ip_json"),
        (_set("network.ip_json.1.ifname", None), "network.ip_json[1].ifname"),
        (_set("network.ip_json.1.ifname", 2), "network.ip_json[1].ifname"),
        (
            _set("network.ip_json.1.addr_info.0.local", "159.69.42.300"),
            "network.ip_json[1].addr_info[0].local",
        ),
        (_set("kubernetes.k3s_binary", "yes"), "kubernetes.k3s_binary"),
        (_delete("kubernetes"), "kubernetes"),
    ],
)
def test_wrong_shapes_raise_validation_error(change: Callable[[dict[str, Any]], None], field: str) -> None:
    doc = copy.deepcopy(fixture_doc("vm_no_gpu.json"))
    change(doc)

    with pytest.raises(ValidationError) as caught:
        parse_doc(doc)

    assert field in caught.value.errors, caught.value.errors
    assert field in str(caught.value)


@pytest.mark.parametrize("text", ["[]", "null", "42", '"probe"', "{} {}", '{"probe_version": 1'])
def test_non_object_documents_raise_validation_error(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_probe_output(text)


# ------------------------------------------------------------ the real script ---


def _shell() -> str:
    """dash when installed (what /bin/sh is on Debian), else /bin/sh."""
    return shutil.which("dash") or "/bin/sh"


def _run_probe(env: dict[str, str], shell: str | None = None) -> tuple[str, float]:
    started = time.monotonic()
    completed = subprocess.run(
        [shell or _shell(), str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
        cwd="/",
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, elapsed


def _minimal_bin(directory: Path) -> Path:
    """A folder holding only the shell and the tools probe.sh cannot do without."""
    directory.mkdir()
    (directory / "sh").symlink_to(_shell())
    for tool in REQUIRED_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the probe test"
        (directory / tool).symlink_to(found)
    return directory


def _fake_tool(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


def test_real_script_emits_valid_json_under_dash() -> None:
    stdout, elapsed = _run_probe({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"})

    raw = json.loads(stdout)
    result = parse_probe_output(stdout)

    assert raw["probe_version"] == 1
    assert stdout.endswith("}\n")
    assert result.hostname == platform.node()
    assert result.kernel == platform.release()
    assert result.arch == platform.machine()
    assert result.memory_bytes
    assert result.cpu_cores
    assert any(interface.name == "lo" for interface in result.interfaces)
    if shutil.which("nvidia-smi") is None and shutil.which("lspci") is None:
        assert result.gpus == ()
    assert elapsed < 5, f"the probe took {elapsed:.2f}s"


def test_real_script_degrades_without_optional_tools(tmp_path: Path) -> None:
    bin_dir = _minimal_bin(tmp_path / "bin")
    env = {"PATH": str(bin_dir), "PODWARDEN_PROBE_EXTRA_PATH": ""}

    stdout, _ = _run_probe(env, shell=str(bin_dir / "sh"))

    raw = json.loads(stdout)
    assert raw["network"]["source"] == "sysfs"
    assert raw["disks"]["source"] == "none"
    assert raw["gpus"] == {"nvidia_smi": None, "nvidia_smi_rc": None, "lspci_present": False, "lspci": None}
    assert raw["kubernetes"]["systemd"] is False
    result = parse_probe_output(stdout)
    assert result.hostname == platform.node()
    assert result.memory_bytes
    assert {i.name for i in result.interfaces} == set(os.listdir("/sys/class/net"))
    assert result.gpus == ()


IP_O_ADDR = (
    r"1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever"
    "\n"
    r"2: eth0    inet 192.168.7.20/24 brd 192.168.7.255 scope global eth0\       valid_lft forever"
    "\n"
    r"3: tailscale0    inet 100.88.1.9/32 scope global tailscale0\       valid_lft forever"
)
IP_O_LINK = (
    r"1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\    link/loopback 00:00:00:00:00:00"
    "\n"
    r"2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP\    link/ether 52:54:00:aa:bb:cc"
    "\n"
    r"3: tailscale0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1280 state UNKNOWN\    link/none "
)
#: A display line with characters json_str must escape: backslash, quote, tab and CR.
ODD_LSPCI_LINE = '09:00.0 "Display controller [0380]" "Odd Vendor\\ \\"Q\\" [abcd]" "Name\twith\rjunk [0001]"'


def test_real_script_with_fake_tools(tmp_path: Path) -> None:
    bin_dir = _minimal_bin(tmp_path / "bin")
    lspci = fixture_text("lspci_mixed.txt")
    _fake_tool(
        bin_dir,
        "ip",
        f"""
case "$1" in
-j) echo 'Option "-j" is unknown, try "ip -help".' >&2; exit 255 ;;
esac
case "$2" in
addr) cat <<'EOF'
{IP_O_ADDR}
EOF
;;
link) cat <<'EOF'
{IP_O_LINK}
EOF
;;
esac
""",
    )
    _fake_tool(bin_dir, "lsblk", "echo 'lsblk: unknown option -- J' >&2\nexit 1\n")
    _fake_tool(
        bin_dir, "nvidia-smi", "printf 'NVIDIA GeForce RTX 3090, 24576\\nNVIDIA GeForce RTX 3090, 24576\\n'\n"
    )
    _fake_tool(bin_dir, "lspci", f"cat <<'EOF'\n{lspci}{ODD_LSPCI_LINE}\nEOF\n")
    env = {"PATH": str(bin_dir), "PODWARDEN_PROBE_EXTRA_PATH": ""}

    stdout, _ = _run_probe(env, shell=str(bin_dir / "sh"))

    raw = json.loads(stdout)
    assert raw["network"]["source"] == "ip-oneline"
    assert raw["network"]["ip_addr"] == IP_O_ADDR
    assert raw["disks"]["source"] == "none"  # lsblk failed: /sys/block instead
    assert raw["gpus"]["nvidia_smi_rc"] == 0
    lines = raw["gpus"]["lspci"].split("\n")
    assert lines[-1] == ODD_LSPCI_LINE  # escaped by json_str, decoded back unchanged
    assert not any("Audio device" in line for line in lines)

    result = parse_probe_output(stdout)
    assert [(g.model, g.vram_mb) for g in result.gpus] == [
        ("NVIDIA GeForce RTX 3090", 24576),
        ("NVIDIA GeForce RTX 3090", 24576),
        ("AMD Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M", None),
        ("AMD Instinct MI300X", None),
        ("Intel Arc A770", None),
    ]
    assert result.gpu_vram_total_mb is None
    assert {i.name: i.up for i in result.interfaces} == {"lo": True, "eth0": True, "tailscale0": True}
    assert by_name(result)["eth0"].mac == "52:54:00:aa:bb:cc"
    assert result.network_types == ("lan", "mesh")


def test_real_script_falls_back_to_lspci_when_nvidia_smi_fails(tmp_path: Path) -> None:
    bin_dir = _minimal_bin(tmp_path / "bin")
    _fake_tool(
        bin_dir,
        "nvidia-smi",
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\nexit 9\n',
    )
    line = fixture_doc("lspci_no_driver.json")["gpus"]["lspci"]
    _fake_tool(bin_dir, "lspci", f"cat <<'EOF'\n{line}\nEOF\n")

    stdout, _ = _run_probe(
        {"PATH": str(bin_dir), "PODWARDEN_PROBE_EXTRA_PATH": ""}, shell=str(bin_dir / "sh")
    )

    raw = json.loads(stdout)
    assert raw["gpus"]["nvidia_smi_rc"] == 9
    assert "NVIDIA-SMI has failed" in raw["gpus"]["nvidia_smi"]
    result = parse_probe_output(stdout)
    assert result.gpu_count == 2
    assert result.gpu_vram_total_mb is None


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_passes_shellcheck() -> None:
    completed = subprocess.run(
        ["shellcheck", "--shell=sh", str(SCRIPT)], capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stdout
