"""The stacks list (stacks are few: loaded whole, refreshed in place)."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QObject

from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.format import when
from podwarden.ui.models.table import Column, RowsModel


def _resources(info: StackInfo) -> str:
    res = info.stack.resources
    parts = [f"{res.cpu_request or res.cpu_limit} CPU" if (res.cpu_request or res.cpu_limit) else ""]
    parts.append(str(res.memory_request or res.memory_limit or ""))
    if res.gpu_count:
        parts.append(
            f"{res.gpu_count} GPU" + (f" · {res.vram_request_mb} MiB VRAM" if res.vram_request_mb else "")
        )
    return " · ".join(p for p in parts if p)


STACK_COLUMNS: list[Column[StackInfo]] = [
    Column(
        "Stack",
        lambda s: s.name,
        tooltip=lambda s: s.stack.description or s.name,
        width=20,
    ),
    Column("Kind", lambda s: s.kind, width=10),
    Column("Image", lambda s: s.image, tooltip=lambda s: s.image, width=28),
    Column("Resources", _resources, width=18),
    Column(
        "Warnings",
        lambda s: str(len(s.warnings)) if s.warnings else "",
        tooltip=lambda s: "\n".join(s.warnings),
        color=lambda s: "#c64600" if s.warnings else None,
        align_right=True,
        width=8,
    ),
    Column("Updated", lambda s: when(s.updated_at), width=19),
]


class StacksModel(RowsModel[uuid.UUID, StackInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(STACK_COLUMNS, lambda s: s.id, parent)
