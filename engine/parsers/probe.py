"""Turn the output of ``playbooks/files/probe.sh`` into a typed :class:`ProbeResult`.

Everything here is pure: no I/O, no subprocesses, no clock. The SSH layer runs the
script and hands its stdout to :func:`parse_probe_output`.

The script prints one JSON document (``probe_version`` 1)::

    {
      "probe_version": 1,
      "hostname": "node1", "fqdn": "node1.example.lan" | null,
      "kernel": "6.1.0-18-amd64", "arch": "x86_64",
      "os": {"id": "debian", "version_id": "12", "pretty_name": "...", "name": "..."},
      "cpu": {"model": "..." | null, "cores": 16 | null, "sockets": 1 | null},
      "memory_bytes": 67108864000 | null,
      "disks": {"source": "lsblk" | "none",
                "lsblk": <`lsblk -b -J -d -o NAME,SIZE,TYPE,ROTA,MODEL` as-is> | null,
                "sysfs": [{"name", "size_bytes", "rotational", "removable", "model"}] | null},
      "gpus": {"nvidia_smi": "<raw csv>" | null, "nvidia_smi_rc": 0 | null,
               "lspci_present": true, "lspci": "<raw `lspci -mm -nn` class 03xx lines>" | null},
      "network": {"source": "ip-json" | "ip-oneline" | "sysfs" | "none",
                  "ip_json": <`ip -j addr show` as-is> | null,
                  "ip_addr": "<`ip -o addr show`>" | null, "ip_link": "<`ip -o link show`>" | null,
                  "sysfs": [{"name", "mac", "operstate", "flags"}] | null,
                  "if_inet6": "<raw /proc/net/if_inet6>" | null},
      "kubernetes": {"k3s_binary": bool, "k3s_config": bool, "systemd": bool,
                     "k3s_service": "active" | ... | null, "k3s_agent_service": ... | null,
                     "kubelet_binary": bool, "kubelet_process": bool, "k3s_process": bool}
    }

The keys the script always writes are required (a missing one means a broken or
foreign script); the JSON embedded from ``ip`` and ``lsblk`` is read leniently
because its keys vary between tool versions.

GPU policy (see :attr:`Gpu.is_accelerator`): a *GPU* is a compute accelerator a
workload could be scheduled on. NVIDIA devices always count (also when only
``lspci`` sees them because the driver is missing; their VRAM is then unknown).
AMD devices count unless the name marks an APU's integrated graphics. Intel
devices count only when they are discrete Arc / Data Center GPUs. Server BMC
adapters (ASPEED, Matrox), virtual adapters (QEMU, virtio, VMware, Hyper-V…) and
integrated graphics are kept in :attr:`ProbeResult.display_controllers` with their
vendor marked, but are not GPUs. When ``nvidia-smi`` succeeded it is authoritative
for NVIDIA devices (name and VRAM) and NVIDIA lines from ``lspci`` are dropped.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Literal, NoReturn, TypeAlias

from pydantic import BaseModel, ConfigDict, computed_field

from podwarden.engine.errors import ValidationError

SUPPORTED_PROBE_VERSION = 1

NetworkType: TypeAlias = Literal["mesh", "lan", "public"]
GpuVendor: TypeAlias = Literal["nvidia", "amd", "intel", "aspeed", "matrox", "virtual", "other"]
IPInterface: TypeAlias = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Interface-name prefixes of overlay/mesh VPNs: every usable address on them is "mesh".
MESH_INTERFACE_PREFIXES: tuple[str, ...] = ("tailscale", "wg", "nebula", "zt")
#: Interface-name prefixes of container/pod plumbing: ignored for network_types.
IGNORED_INTERFACE_PREFIXES: tuple[str, ...] = (
    "lo",
    "docker",
    "cni",
    "flannel",
    "veth",
    "kube-",
    "cali",
    "vxlan.calico",
    "tunl",
    "cilium",
    "lxc",
    "virbr",
    "podman",
    "nodelocaldns",
)
_DOCKER_BRIDGE = re.compile(r"^br-[0-9a-f]{12}$")  # user-defined Docker networks

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_TAILSCALE_V6 = ipaddress.IPv6Network("fd7a:115c:a1e0::/48")
_LAN_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)


# --------------------------------------------------------------------- models ---


class _Frozen(BaseModel):
    # Unknown keys are ignored so a stored ``model_dump()`` (which includes the
    # computed fields) validates back into an equal object.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Gpu(_Frozen):
    """A display/compute device. ``vram_mb`` is MiB, ``None`` when unknown."""

    model: str
    vram_mb: int | None = None
    vendor: GpuVendor = "other"
    pci_slot: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_accelerator(self) -> bool:
        """Whether this counts as a GPU (see the module docstring for the policy)."""
        if self.vendor == "nvidia":
            return True
        if self.vendor == "amd":
            return not _AMD_INTEGRATED.search(self.model)
        if self.vendor == "intel":
            return bool(_INTEL_DISCRETE.search(self.model))
        return False


class Disk(_Frozen):
    name: str
    size_bytes: int
    rotational: bool | None = None
    model: str | None = None


class Interface(_Frozen):
    name: str
    addresses: tuple[IPInterface, ...] = ()
    mac: str | None = None
    up: bool = False


class ProbeResult(_Frozen):
    probe_version: int
    hostname: str
    fqdn: str | None = None
    cpu_model: str | None = None
    cpu_cores: int | None = None
    cpu_sockets: int | None = None
    memory_bytes: int | None = None
    disks: tuple[Disk, ...] = ()
    os_id: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    kernel: str | None = None
    arch: str | None = None
    gpus: tuple[Gpu, ...] = ()
    display_controllers: tuple[Gpu, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    network_types: tuple[NetworkType, ...] = ()
    kubernetes_detected: bool = False
    kubernetes_signals: tuple[str, ...] = ()
    k3s_role: Literal["server", "agent"] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_vram_total_mb(self) -> int | None:
        """Sum of VRAM over all GPUs; 0 without GPUs, ``None`` if any GPU's VRAM is unknown."""
        total = 0
        for gpu in self.gpus:
            if gpu.vram_mb is None:
                return None
            total += gpu.vram_mb
        return total

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_model(self) -> str | None:
        """The most common GPU model (first seen wins a tie), ``None`` without GPUs."""
        if not self.gpus:
            return None
        models = [gpu.model for gpu in self.gpus]
        return max(dict.fromkeys(models), key=models.count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def disk_bytes(self) -> int:
        return sum(disk.size_bytes for disk in self.disks)


# --------------------------------------------------------------- public API ---


def parse_probe_output(text: str) -> ProbeResult:
    """Parse the stdout of ``probe.sh``.

    Raises :class:`ValidationError` when the output is empty, not JSON, truncated,
    of an unsupported ``probe_version`` or has the wrong shape; ``errors`` maps the
    offending field path to a message.
    """
    stripped = text.strip()
    if not stripped:
        _fail("output", "the probe printed nothing")
    try:
        data: object = json.loads(stripped)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(stripped) - 1
        reason = "it ends early (truncated output?)" if truncated else exc.msg
        message = f"Probe output is not valid JSON: {reason} at line {exc.lineno}, column {exc.colno}."
        raise ValidationError(message, {"output": reason}) from exc
    doc = _Obj(data, "output")

    version = doc.get_int("probe_version", required=True)
    if version != SUPPORTED_PROBE_VERSION:
        _fail("probe_version", f"unsupported version {version} (expected {SUPPORTED_PROBE_VERSION})")

    hostname = doc.get_str("hostname", required=True)
    if not hostname:
        _fail("hostname", "must not be empty")

    os_info = doc.obj("os")
    cpu = doc.obj("cpu")
    kubernetes = doc.obj("kubernetes")
    signals, role = _kubernetes(kubernetes)
    gpus, display = _gpus(doc.obj("gpus"))
    interfaces = _interfaces(doc.obj("network"))

    return ProbeResult(
        probe_version=version,
        hostname=hostname,
        fqdn=doc.get_str("fqdn"),
        cpu_model=cpu.get_str("model"),
        cpu_cores=cpu.get_int("cores"),
        cpu_sockets=cpu.get_int("sockets"),
        memory_bytes=doc.get_int("memory_bytes"),
        disks=tuple(_disks(doc.obj("disks"))),
        os_id=os_info.get_str("id"),
        os_name=os_info.get_str("pretty_name")
        or os_info.get_str("name", optional_key=True)
        or os_info.get_str("id"),
        os_version=os_info.get_str("version_id"),
        kernel=doc.get_str("kernel"),
        arch=doc.get_str("arch"),
        gpus=tuple(gpus),
        display_controllers=tuple(display),
        interfaces=tuple(interfaces),
        network_types=tuple(network_types(interfaces)),
        kubernetes_detected=bool(signals),
        kubernetes_signals=tuple(signals),
        k3s_role=role,
    )


_NVIDIA_SMI_MEMORY = re.compile(r"^(\d+)(?:\s*MiB)?$", re.IGNORECASE)


def parse_nvidia_smi(csv_text: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits``.

    ``NVIDIA GeForce RTX 4090, 24564`` → ``Gpu("NVIDIA GeForce RTX 4090", 24564)``.
    A memory of ``[N/A]`` (or any other bracketed placeholder) gives ``vram_mb=None``.
    Lines that are not such rows (``No devices were found``, error text) are skipped.
    """
    gpus: list[Gpu] = []
    for raw in csv_text.splitlines():
        line = raw.strip()
        if "," not in line:
            continue
        name, memory = (part.strip() for part in line.rsplit(",", 1))
        match = _NVIDIA_SMI_MEMORY.match(memory)
        if match:
            vram: int | None = int(match.group(1))
        elif memory.startswith("[") and memory.endswith("]"):
            vram = None
        else:
            continue
        if not name or (name.startswith("[") and name.endswith("]")):
            name = "NVIDIA GPU"
        gpus.append(Gpu(model=name, vram_mb=vram, vendor="nvidia"))
    return gpus


_LSPCI_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_PCI_ID_SUFFIX = re.compile(r"\s*\[([0-9a-fA-F]{4})\]$")
_DISPLAY_CLASS = re.compile(r"VGA compatible controller|3D controller|Display controller|XGA", re.IGNORECASE)
_LAST_BRACKETS = re.compile(r"\[([^\[\]]+)\]\s*$")
_COMPANY_SUFFIX = re.compile(r",?\s+(?:Inc|Ltd|Corp|Corporation|Co|Limited|GmbH)\.?$", re.IGNORECASE)
_VENDOR_IDS: dict[str, GpuVendor] = {
    "10de": "nvidia",
    "1002": "amd",
    "8086": "intel",
    "1a03": "aspeed",
    "102b": "matrox",
    "1234": "virtual",  # QEMU/Bochs stdvga
    "1af4": "virtual",  # virtio-gpu
    "1b36": "virtual",  # QXL
    "15ad": "virtual",  # VMware SVGA
    "80ee": "virtual",  # VirtualBox
    "1414": "virtual",  # Hyper-V
    "1013": "virtual",  # Cirrus (emulated)
    "1d0f": "virtual",  # Amazon
}
_VENDOR_LABELS: dict[GpuVendor, str] = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}
_AMD_INTEGRATED = re.compile(
    r"Renoir|Cezanne|Lucienne|Barcelo|Rembrandt|Raphael|Phoenix|Hawk Point|Picasso|Raven|Mendocino"
    r"|Van Gogh|Vega (?:Mobile )?Series|Radeon \d{3}M|Radeon Graphics",
    re.IGNORECASE,
)
_INTEL_DISCRETE = re.compile(
    r"\bArc (?:Pro )?[AB]\d{2,3}|Data Center GPU|Iris Xe MAX|\bDG[12]\b|\bBattlemage\b", re.IGNORECASE
)


def parse_lspci(lines: str | Iterable[str]) -> list[Gpu]:
    """Parse ``lspci -mm -nn`` lines; return every display controller (PCI class 03xx).

    Accepts the raw text or an iterable of lines; non-display lines are skipped,
    so the full ``lspci -mm -nn`` output may be passed. ``vram_mb`` is always
    ``None``. The vendor comes from the PCI vendor id (``[10de]`` …) or, without
    ids, from the vendor name. BMC and virtual adapters are returned too, marked
    by ``vendor``; :attr:`Gpu.is_accelerator` tells which ones count as GPUs.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    devices: list[Gpu] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        slot: str | None = None
        quoted: list[str] = []
        for match in _LSPCI_TOKEN.finditer(line):
            if match.group(1) is not None:
                quoted.append(match.group(1).replace('\\"', '"'))
            elif slot is None:
                slot = match.group(2)
        if len(quoted) < 3:
            continue
        device_class, vendor_field, device_field = quoted[0], quoted[1], quoted[2]
        class_id = _PCI_ID_SUFFIX.search(device_class)
        if class_id:
            if not class_id.group(1).startswith("03"):
                continue
        elif not _DISPLAY_CLASS.search(device_class):
            continue
        vendor_name, vendor_id = _split_pci_id(vendor_field)
        device_name, device_id = _split_pci_id(device_field)
        vendor = _lspci_vendor(vendor_name, vendor_id)
        devices.append(
            Gpu(
                model=_lspci_model(vendor, vendor_name, vendor_id, device_name, device_id),
                vram_mb=None,
                vendor=vendor,
                pci_slot=slot,
            )
        )
    return devices


def classify_address(ip: str | IPAddress | IPInterface) -> NetworkType | None:
    """Classify one address: ``"mesh"``, ``"lan"``, ``"public"`` or ``None``.

    Loopback, link-local, multicast, unspecified and other special-purpose
    addresses (documentation, benchmarking, reserved) give ``None``.
    100.64.0.0/10 (CGNAT, used by Tailscale) and Tailscale's IPv6 range
    fd7a:115c:a1e0::/48 are ``"mesh"``; RFC 1918 and IPv6 ULA (fc00::/7) are
    ``"lan"``; globally routable addresses are ``"public"``. A string may carry a
    prefix length (``10.0.0.5/24``); an unparsable string gives ``None``.
    """
    address: IPAddress
    if isinstance(ip, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        address = ip.ip
    elif isinstance(ip, str):
        try:
            address = ipaddress.ip_interface(ip.strip().split("%", 1)[0]).ip
        except ValueError:
            return None
    else:
        address = ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
        return None
    if address in _CGNAT or address in _TAILSCALE_V6:
        return "mesh"
    if any(address in network for network in _LAN_NETWORKS):
        return "lan"
    if address.is_global:
        return "public"
    return None


def is_mesh_interface(name: str) -> bool:
    return name.startswith(MESH_INTERFACE_PREFIXES)


def is_ignored_interface(name: str) -> bool:
    return name.startswith(IGNORED_INTERFACE_PREFIXES) or bool(_DOCKER_BRIDGE.match(name))


def network_types(interfaces: Iterable[Interface]) -> list[str]:
    """The sorted set of network kinds this machine is on.

    Interfaces that are down, and container/pod plumbing (docker*, cni*, flannel*,
    veth*, kube-*, calico, cilium…; see :data:`IGNORED_INTERFACE_PREFIXES`), are
    skipped. On a mesh interface (tailscale*, wg*, nebula*, zt*) every address that
    :func:`classify_address` does not discard counts as ``"mesh"``; elsewhere each
    address counts as its own classification.
    """
    found: set[str] = set()
    for interface in interfaces:
        if not interface.up or is_ignored_interface(interface.name):
            continue
        mesh = is_mesh_interface(interface.name)
        for address in interface.addresses:
            kind = classify_address(address)
            if kind is not None:
                found.add("mesh" if mesh else kind)
    return sorted(found)


# ---------------------------------------------------------- shape checking ---


def _fail(path: str, message: str) -> NoReturn:
    raise ValidationError(f"Malformed probe output: {path}: {message}.", {path: message})


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {_kind(value)}")
    return value


class _Obj:
    """A JSON object with typed, path-aware accessors.

    Keys are required unless ``optional_key=True``; values may be ``null`` unless
    ``required=True`` (which also makes the key required). Strings are stripped and
    an empty optional string reads as ``None``.
    """

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            _fail(path, f"expected an object, got {_kind(data)}")
        self.data: dict[str, object] = data
        self.path = path

    def sub(self, key: str) -> str:
        return key if self.path == "output" else f"{self.path}.{key}"

    def get(self, key: str, *, required: bool = False, optional_key: bool = False) -> object:
        if key not in self.data:
            if optional_key and not required:
                return None
            _fail(self.sub(key), "missing")
        value = self.data[key]
        if value is None and required:
            _fail(self.sub(key), "must not be null")
        return value

    def obj(self, key: str) -> _Obj:
        return _Obj(self.get(key, required=True), self.sub(key))

    def get_str(self, key: str, *, required: bool = False, optional_key: bool = False) -> str | None:
        value = self.get(key, required=required, optional_key=optional_key)
        if value is None:
            return None
        if not isinstance(value, str):
            _fail(self.sub(key), f"expected a string, got {_kind(value)}")
        value = value.strip()
        return value if value or required else None

    def get_int(self, key: str, *, required: bool = False, optional_key: bool = False) -> int | None:
        value = self.get(key, required=required, optional_key=optional_key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(self.sub(key), f"expected an integer, got {_kind(value)}")
        if value < 0:
            _fail(self.sub(key), "must not be negative")
        return value

    def get_bool(self, key: str, *, optional_key: bool = False) -> bool:
        value = self.get(key, optional_key=optional_key)
        if value is None and optional_key:
            return False
        if not isinstance(value, bool):
            _fail(self.sub(key), f"expected true or false, got {_kind(value)}")
        return value

    def get_list(self, key: str, *, optional_key: bool = False) -> list[object] | None:
        value = self.get(key, optional_key=optional_key)
        if value is None:
            return None
        return _list(value, self.sub(key))


def _loose_int(value: object, path: str) -> int | None:
    """An integer that older tools may print as a string (lsblk < 2.33)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str) and not value.strip():
        return None
    _fail(path, f"expected an integer, got {_kind(value)}")


def _loose_bool(value: object, path: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return value in (1, "1")
    _fail(path, f"expected true or false, got {_kind(value)}")


# -------------------------------------------------------------------- disks ---

_SKIPPED_DISKS = re.compile(r"^(?:loop|ram|zram|sr|fd|md|dm-|nbd|mmcblk\d+(?:boot\d+|rpmb))")


def _disks(section: _Obj) -> list[Disk]:
    source = section.get_str("source")
    lsblk = section.get("lsblk", optional_key=True)
    disks: list[Disk] = []
    if source == "lsblk" or lsblk is not None:
        tree = _Obj(lsblk, section.sub("lsblk"))
        devices = tree.get_list("blockdevices") or []
        for index, item in enumerate(devices):
            device = _Obj(item, f"{tree.sub('blockdevices')}[{index}]")
            name = device.get_str("name", required=True) or ""
            kind = device.get_str("type", optional_key=True)
            size = _loose_int(device.get("size", optional_key=True), device.sub("size"))
            if kind not in (None, "disk") or not size or _SKIPPED_DISKS.match(name):
                continue
            disks.append(
                Disk(
                    name=name,
                    size_bytes=size,
                    rotational=_loose_bool(device.get("rota", optional_key=True), device.sub("rota")),
                    model=device.get_str("model", optional_key=True) or None,
                )
            )
        return disks
    entries = section.get_list("sysfs", optional_key=True) or []
    for index, item in enumerate(entries):
        device = _Obj(item, f"{section.sub('sysfs')}[{index}]")
        name = device.get_str("name", required=True) or ""
        size = device.get_int("size_bytes")
        if not size or _SKIPPED_DISKS.match(name):
            continue
        rotational = device.get("rotational", optional_key=True)
        disks.append(
            Disk(
                name=name,
                size_bytes=size,
                rotational=_loose_bool(rotational, device.sub("rotational")),
                model=device.get_str("model", optional_key=True) or None,
            )
        )
    return disks


# --------------------------------------------------------------------- gpus ---


def _gpus(section: _Obj) -> tuple[list[Gpu], list[Gpu]]:
    smi_text = section.get_str("nvidia_smi")
    smi_rc = section.get_int("nvidia_smi_rc")
    lspci_text = section.get_str("lspci")
    from_smi = parse_nvidia_smi(smi_text) if smi_text and smi_rc == 0 else []
    from_lspci = parse_lspci(lspci_text) if lspci_text else []
    gpus = list(from_smi)
    display: list[Gpu] = []
    for device in from_lspci:
        if not device.is_accelerator:
            display.append(device)
        elif not (from_smi and device.vendor == "nvidia"):
            gpus.append(device)
    return gpus, display


def _split_pci_id(field: str) -> tuple[str, str | None]:
    match = _PCI_ID_SUFFIX.search(field)
    if match:
        return field[: match.start()].strip(), match.group(1).lower()
    return field.strip(), None


def _lspci_vendor(name: str, vendor_id: str | None) -> GpuVendor:
    if vendor_id in _VENDOR_IDS:
        return _VENDOR_IDS[vendor_id]
    lowered = name.lower()
    if "nvidia" in lowered:
        return "nvidia"
    if "advanced micro devices" in lowered or re.search(r"\b(?:amd|ati)\b", lowered):
        return "amd"
    if "intel" in lowered:
        return "intel"
    if "aspeed" in lowered:
        return "aspeed"
    if "matrox" in lowered:
        return "matrox"
    if re.search(r"qemu|bochs|virtio|vmware|virtualbox|red hat|hyper-v|microsoft|cirrus", lowered):
        return "virtual"
    return "other"


def _lspci_model(
    vendor: GpuVendor, vendor_name: str, vendor_id: str | None, device: str, device_id: str | None
) -> str:
    label = _VENDOR_LABELS.get(vendor) or _COMPANY_SUFFIX.sub("", vendor_name).strip()
    if not device or device.lower() == "device":
        ids = f" {vendor_id}:{device_id}" if vendor_id and device_id else ""
        return f"{label} device{ids}".strip()
    bracket = _LAST_BRACKETS.search(device)
    name = bracket.group(1).strip() if bracket else device
    brand = label.split(" ", 1)[0].lower()
    if brand and brand not in name.lower():
        name = f"{label} {name}"
    return name


# --------------------------------------------------------------- interfaces ---


def _interfaces(section: _Obj) -> list[Interface]:
    source = section.get_str("source")
    if source == "ip-json":
        return _interfaces_ip_json(section.get_list("ip_json") or [], section.sub("ip_json"))
    if source == "ip-oneline":
        return _interfaces_ip_oneline(section.get_str("ip_addr") or "", section.get_str("ip_link") or "")
    if source == "sysfs":
        return _interfaces_sysfs(section)
    if source in (None, "none"):
        return []
    _fail(section.sub("source"), f"unknown source {source!r}")


def _interface_address(local: str, prefix: int | None, path: str) -> IPInterface:
    text = local.split("%", 1)[0]
    try:
        return ipaddress.ip_interface(text if prefix is None else f"{text}/{prefix}")
    except ValueError:
        _fail(path, f"not an IP address: {local!r}")


def _mac(value: str | None) -> str | None:
    if not value or value.strip("0:") == "":
        return None
    return value.lower()


def _interfaces_ip_json(items: list[object], path: str) -> list[Interface]:
    interfaces: list[Interface] = []
    for index, item in enumerate(items):
        link = _Obj(item, f"{path}[{index}]")
        if "ifname" not in link.data:
            continue  # some iproute2 versions emit {} for filtered-out links
        name = link.get_str("ifname", required=True) or ""
        flags = [str(flag) for flag in (link.get_list("flags", optional_key=True) or [])]
        operstate = (link.get_str("operstate", optional_key=True) or "").upper()
        addresses: list[IPInterface] = []
        for number, entry in enumerate(link.get_list("addr_info", optional_key=True) or []):
            info = _Obj(entry, f"{link.sub('addr_info')}[{number}]")
            if info.get_str("family", optional_key=True) not in ("inet", "inet6"):
                continue
            local = info.get_str("local", optional_key=True)
            if not local:
                continue
            prefix = info.get_int("prefixlen", optional_key=True)
            addresses.append(_interface_address(local, prefix, info.sub("local")))
        interfaces.append(
            Interface(
                name=name,
                addresses=tuple(addresses),
                mac=_mac(link.get_str("address", optional_key=True)),
                up="UP" in flags and ("LOWER_UP" in flags or operstate == "UP"),
            )
        )
    return interfaces


_IP_O_ADDR = re.compile(r"^\d+:\s+(\S+?)(?:@\S+)?\s+(inet6?)\s+(\S+)")
_IP_O_LINK = re.compile(r"^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:\s+<([^>]*)>")
_IP_O_STATE = re.compile(r"\sstate\s+(\S+)")
_IP_O_MAC = re.compile(r"link/\S+\s+([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\b")


def _interfaces_ip_oneline(addr_text: str, link_text: str) -> list[Interface]:
    order: list[str] = []
    addresses: dict[str, list[IPInterface]] = {}
    up: dict[str, bool] = {}
    macs: dict[str, str | None] = {}
    for line in link_text.splitlines():
        match = _IP_O_LINK.match(line.strip())
        if not match:
            continue
        name, flags = match.group(1), match.group(2).split(",")
        state = _IP_O_STATE.search(line)
        mac = _IP_O_MAC.search(line)
        order.append(name)
        up[name] = "UP" in flags and ("LOWER_UP" in flags or bool(state and state.group(1) == "UP"))
        macs[name] = _mac(mac.group(1)) if mac else None
    for line in addr_text.splitlines():
        match = _IP_O_ADDR.match(line.strip())
        if not match:
            continue
        name = match.group(1)
        if name not in addresses:
            addresses[name] = []
            if name not in order:
                order.append(name)
        addresses[name].append(_interface_address(match.group(3), None, "network.ip_addr"))
    return [
        Interface(
            name=name,
            addresses=tuple(addresses.get(name, ())),
            mac=macs.get(name),
            # Without `ip -o link` the state is unknown: an address implies it is configured.
            up=up.get(name, not link_text.strip() and name in addresses),
        )
        for name in order
    ]


_DOWN_OPERSTATES = ("down", "lowerlayerdown", "notpresent", "dormant")


def _interfaces_sysfs(section: _Obj) -> list[Interface]:
    v6: dict[str, list[IPInterface]] = {}
    for line in (section.get_str("if_inet6", optional_key=True) or "").splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(fields[0])
            prefix = int(fields[2], 16)
        except ValueError:
            continue
        v6.setdefault(fields[5], []).append(ipaddress.IPv6Interface((ipaddress.IPv6Address(packed), prefix)))
    interfaces: list[Interface] = []
    path = section.sub("sysfs")
    for index, item in enumerate(section.get_list("sysfs") or []):
        link = _Obj(item, f"{path}[{index}]")
        name = link.get_str("name", required=True) or ""
        operstate = (link.get_str("operstate", optional_key=True) or "").lower()
        flags_text = link.get_str("flags", optional_key=True)
        try:
            admin_up = bool(int(flags_text, 16) & 0x1) if flags_text else operstate == "up"
        except ValueError:
            _fail(link.sub("flags"), f"not a hexadecimal number: {flags_text!r}")
        interfaces.append(
            Interface(
                name=name,
                addresses=tuple(v6.get(name, ())),
                mac=_mac(link.get_str("mac", optional_key=True)),
                up=admin_up and operstate not in _DOWN_OPERSTATES,
            )
        )
    return interfaces


# --------------------------------------------------------------- kubernetes ---


def _kubernetes(section: _Obj) -> tuple[list[str], Literal["server", "agent"] | None]:
    signals = [
        key
        for key in ("k3s_binary", "k3s_config", "kubelet_binary", "kubelet_process", "k3s_process")
        if section.get_bool(key)
    ]
    server = section.get_str("k3s_service") == "active"
    agent = section.get_str("k3s_agent_service") == "active"
    if server:
        signals.append("k3s_service_active")
    if agent:
        signals.append("k3s_agent_service_active")
    role: Literal["server", "agent"] | None = "server" if server else "agent" if agent else None
    return sorted(signals), role


__all__ = [
    "IGNORED_INTERFACE_PREFIXES",
    "MESH_INTERFACE_PREFIXES",
    "SUPPORTED_PROBE_VERSION",
    "Disk",
    "Gpu",
    "GpuVendor",
    "Interface",
    "NetworkType",
    "ProbeResult",
    "classify_address",
    "is_ignored_interface",
    "is_mesh_interface",
    "network_types",
    "parse_lspci",
    "parse_nvidia_smi",
    "parse_probe_output",
]
