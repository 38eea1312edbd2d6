"""Sample hosts for ``python -m podwarden.app.screenshots``: a small mixed fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

#: (hostname, state, source, cores, RAM GiB, GPU model, GPUs, VRAM MiB, networks, extra)
_FLEET: tuple[tuple[str, str, str, int, int, str | None, int, int | None, list[str], dict[str, Any]], ...] = (
    ("gpu-node-01", "in_cluster", "tailscale", 32, 128, "NVIDIA GeForce RTX 4090", 2, 24564, ["mesh", "lan"],
     {"cluster_role": "server", "protected": True}),
    ("gpu-node-02", "in_cluster", "tailscale", 32, 128, "NVIDIA GeForce RTX 4090", 2, 24564, ["mesh", "lan"],
     {"cluster_role": "agent", "protected": True}),
    ("a100-box", "provisioned", "tailscale", 64, 512, "NVIDIA A100-SXM4-80GB", 8, 81920, ["mesh", "lan"], {}),
    ("edge-gw-1", "in_cluster", "manual", 4, 8, None, 0, None, ["mesh", "public"],
     {"cluster_role": "agent", "protected": True, "is_gateway": True, "public_ip": "203.0.113.24"}),
    ("nas-01", "discovered", "tailscale", 8, 32, None, 0, None, ["mesh", "lan"], {}),
    ("pi-kitchen", "discovered", "tailscale", 4, 4, None, 0, None, ["mesh"], {"last_probe_at": None}),
    ("old-laptop", "missing", "tailscale", 4, 16, None, 0, None, ["mesh", "lan"], {}),
    ("node-07", "error", "manual", 16, 64, None, 0, None, ["lan"], {"notes": "SSH timed out."}),
    ("k8s-legacy", "discovered", "manual", 16, 64, None, 0, None, ["lan"],
     {"kubernetes_detected": True, "protected": True}),
)  # fmt: skip

_OS = "Debian GNU/Linux 12 (bookworm)"
_EPYC = "AMD EPYC 7302P 16-Core Processor"


async def seed_hosts(engine: Any, cluster_id: Any | None = None) -> int:
    """Insert the sample fleet (cluster members join ``cluster_id`` when given)."""
    from podwarden.engine.models.fleet import Host, HostSource, HostState

    probed = datetime.now(UTC) - timedelta(minutes=7)
    rows = []
    for i, (name, state, source, cores, ram, gpu, gpus, vram, networks, extra) in enumerate(_FLEET, start=1):
        address = f"100.88.1.{i}" if "mesh" in networks else f"10.0.0.{20 + i}"
        member = state == "in_cluster" and cluster_id is not None
        rows.append(
            {
                "hostname": name,
                "source": HostSource(source),
                "state": HostState(state) if state != "in_cluster" or member else HostState.PROVISIONED,
                "tailscale_id": f"n{i:04d}CNTRL" if source == "tailscale" else None,
                "tailscale_name": f"{name}.tail1234.ts.net" if source == "tailscale" else None,
                "tailscale_tags": ["tag:fleet"] if source == "tailscale" else [],
                "addresses": [address, f"10.0.0.{20 + i}"] if "lan" in networks else [address],
                "os": _OS,
                "ssh_address": address,
                "ssh_user": "root",
                "ssh_known_hosts": f"{address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:02d}sample",
                "cpu_model": "AMD EPYC 7302P 16-Core Processor"
                if cores >= 32
                else "Intel(R) Core(TM) i7-8700",
                "cpu_cores": cores,
                "memory_bytes": ram * 2**30,
                "disk_bytes": (2 if gpus else 1) * 10**12,
                "gpu_model": gpu,
                "gpu_count": gpus,
                "gpu_vram_mb": vram,
                "network_types": networks,
                "facts": {},
                "last_probe_at": extra.get("last_probe_at", probed),
                "cluster_id": cluster_id if member else None,
                "notes": "",
                **{k: v for k, v in extra.items() if k != "last_probe_at"},
            }
        )
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(insert(Host), rows)
    return len(rows)
