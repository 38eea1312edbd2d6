"""What every view gets: the engine, the signed-in actor and the change notices."""

from __future__ import annotations

from dataclasses import dataclass

from podwarden.engine import Actor, Engine
from podwarden.ui.changes import ChangeHub


@dataclass(frozen=True)
class UiContext:
    engine: Engine
    actor: Actor
    changes: ChangeHub
