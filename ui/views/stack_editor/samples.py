"""Sample stacks for ``python -m podwarden.app.screenshots`` (and the view's tests).

:func:`seed_stacks` stores a few realistic stacks (a GPU inference API with a config
file, a database, a compose import); :func:`render_stacks` shows the Stacks view with one
selected, saves a PNG per editor tab and one with validation errors at the fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podwarden.engine import Actor, Engine
from podwarden.engine.services.stacks import StackInfo

WHISPER: dict[str, Any] = {
    "name": "whisper-api",
    "description": "Speech to text (OpenAI Whisper) behind a small HTTP API",
    "version": "3",
    "tags": ["ai", "gpu"],
    "image": "ghcr.io/acme/whisper-api",
    "image_tag": "1.4.2",
    "registry_secret": "registry/ghcr",
    "args": ["--port", "8000", "--model", "$(MODEL)"],
    "ports": [
        {"name": "http", "container_port": 8000},
        {"name": "metrics", "container_port": 9100},
    ],
    "resources": {
        "cpu_request": "2",
        "cpu_limit": "4",
        "memory_request": "8Gi",
        "memory_limit": "16Gi",
        "gpu_count": 1,
        "vram_request_mb": 10000,
    },
    "env": [{"name": "MODEL", "value": "large-v3"}, {"name": "LOG_LEVEL", "value": "info"}],
    "env_schema": [
        {
            "name": "API_TOKEN",
            "required": True,
            "generate": True,
            "secret": True,
            "description": "Bearer token",
        },
        {"name": "LANGUAGE", "default_value": "en", "description": "Default language"},
    ],
    "config_slots": [
        {
            "name": "settings",
            "key": "settings.toml",
            "mount_path": "/etc/whisper/settings.toml",
            "file_type": "toml",
            "required": True,
            "description": "Decoding settings",
            "default_content": 'beam_size = 5\nlanguage = "en"\nvad_filter = true\n',
        }
    ],
    "volumes": [
        {"type": "pvc", "name": "models", "mount_path": "/models", "size": "40Gi", "access_mode": "RWO"},
        {
            "type": "emptyDir",
            "name": "scratch",
            "mount_path": "/scratch",
            "medium": "Memory",
            "size_limit": "2Gi",
        },
    ],
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "required_network_types": ["mesh"],
}

POSTGRES: dict[str, Any] = {
    "name": "postgres",
    "description": "PostgreSQL 16 with a retained volume",
    "tags": ["database"],
    "image": "postgres",
    "image_tag": "16",
    "ports": [{"name": "postgres", "container_port": 5432}],
    "resources": {"cpu_request": "500m", "memory_request": "1Gi", "memory_limit": "2Gi"},
    "env_schema": [
        {"name": "POSTGRES_PASSWORD", "required": True, "generate": True, "secret": True},
        {"name": "POSTGRES_DB", "default_value": "app"},
    ],
    "volumes": [{"type": "pvc", "name": "data", "mount_path": "/var/lib/postgresql/data", "size": "20Gi"}],
}

NODE_EXPORTER: dict[str, Any] = {
    "name": "node-exporter",
    "kind": "daemonset",
    "image": "quay.io/prometheus/node-exporter",
    "image_tag": "v1.8.2",
    "args": ["--path.rootfs=/host"],
    "ports": [{"name": "metrics", "container_port": 9100}],
    "volumes": [
        {
            "type": "hostPath",
            "name": "root",
            "mount_path": "/host",
            "path": "/",
            "read_only": True,
            "host_path_type": "Directory",
        },
    ],
    "host_network": True,
    "dns_policy": "ClusterFirstWithHostNet",
}

COMPOSE = """\
services:
  grafana:
    image: grafana/grafana:11.2.0
    ports: ["3000:3000"]
    environment:
      GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_PASSWORD:-admin}
    volumes:
      - grafana:/var/lib/grafana
volumes:
  grafana: {}
"""


async def seed_stacks(engine: Engine, actor: Actor) -> list[StackInfo]:
    """Store the sample stacks (plus a one-service compose import)."""
    stacks = [await engine.stacks.create_stack(actor, doc) for doc in (WHISPER, POSTGRES, NODE_EXPORTER)]
    imported = await engine.stacks.import_compose(actor, COMPOSE, "monitoring")
    return [*stacks, *imported.stacks]


async def render_stacks(window: Any, engine: Engine, actor: Actor, outdir: Path, slug: str) -> list[Path]:
    """PNGs of the Stacks view (``window.views["Stacks"]``, wired and selected): each editor
    tab of the first sample stack, then a new stack with errors at its fields."""
    from podwarden.ui.views.stacks import StacksView

    view = window.views["Stacks"]
    assert isinstance(view, StacksView)
    written: list[Path] = []

    async def shot(name: str) -> None:
        await window.op_runner.wait_idle()
        await asyncio.sleep(0.15)
        path = outdir / f"{slug}-{name}.png"
        if not window.grab().save(str(path)):
            raise OSError(f"Could not write {path}.")
        written.append(path)

    listing = await engine.stacks.list_stacks(actor, name_contains="whisper-api")
    if listing.items:
        view.select_stack(listing.items[0].id)
    for index in range(view.editor.tabs.count()):
        view.editor.tabs.setCurrentIndex(index)
        if index == 3:
            view.editor.config_slots.select(0)
        title = view.editor.tabs.tabText(index).replace("&&", "and").lower().replace(" ", "-")
        await shot(title)
    view.new_stack()
    view.editor.general.name.setText("Media Server")
    view.editor.general.image.setText("jellyfin/jellyfin:latest")
    view.save()
    view.editor.tabs.setCurrentIndex(0)
    await shot("errors")
    return written
