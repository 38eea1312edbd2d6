"""What every service shares: the database, settings, the secret box and small helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from podwarden.engine.db.database import Database
from podwarden.engine.errors import ConflictError, NotFoundError, ValidationError
from podwarden.engine.models.base import Base
from podwarden.engine.security.crypto import SecretBox
from podwarden.engine.settings import Settings

M = TypeVar("M", bound=Base)


@dataclass
class Context:
    """Shared by all services of one engine."""

    db: Database
    settings: Settings
    box: SecretBox
    engine_id: uuid.UUID = field(default_factory=uuid.uuid4)


def now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Database:
        return self.ctx.db


async def get_or_404(session: AsyncSession, model: type[M], ident: object, kind: str) -> M:
    obj = await session.get(model, ident)
    if obj is None:
        raise NotFoundError(kind, ident)
    return obj


def check_version(obj: object, expected: int | None, kind: str) -> None:
    """A caller that saves a copy it loaded earlier passes that copy's version."""
    if expected is not None and getattr(obj, "version", None) != expected:
        raise ConflictError(
            f"This {kind} was changed by someone else (version {getattr(obj, 'version', '?')}, "
            f"you had {expected}); reload it and try again."
        )


def check_page(limit: int, offset: int, max_limit: int) -> tuple[int, int]:
    """Validate paging arguments from callers (the API passes them through as given)."""
    problems = {}
    if not 1 <= limit <= max_limit:
        problems["limit"] = f"between 1 and {max_limit}"
    if not 0 <= offset < 2**62:
        problems["offset"] = "0 or more"
    if problems:
        raise ValidationError(
            "The page is out of range: " + "; ".join(f"{k} must be {v}" for k, v in problems.items()) + ".",
            problems,
        )
    return limit, offset
