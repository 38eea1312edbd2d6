"""Stacks: workload definitions, stored validated; YAML and docker-compose import.

A stack row keeps the validated document in ``spec`` and copies what lists sort
and filter on (name, kind, image, tags) into columns. Deleting a stack that
deployments still use is refused with a :class:`ConflictError` naming them
(the foreign key would otherwise silently orphan them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from podwarden.engine.db.database import UnitOfWork
from podwarden.engine.errors import ConflictError, ValidationError
from podwarden.engine.models.workloads import Deployment
from podwarden.engine.models.workloads import Stack as StackRow
from podwarden.engine.parsers.compose import ServicePort, import_compose
from podwarden.engine.schemas.deployments import compose_aliases
from podwarden.engine.schemas.stacks import Stack, stack_from_yaml, stack_to_yaml, validate_stack
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, check_version, get_or_404

__all__ = ["ComposeImportResult", "StackInfo", "StackPage", "StacksService"]

MAX_PAGE = 500
SortKey = Literal["name", "kind", "image", "created_at", "updated_at"]
_SORT = {
    "name": StackRow.name,
    "kind": StackRow.kind,
    "image": StackRow.image,
    "created_at": StackRow.created_at,
    "updated_at": StackRow.updated_at,
}


@dataclass(frozen=True)
class StackInfo:
    id: uuid.UUID
    name: str
    kind: str
    image: str
    tags: list[str]
    version: int
    stack: Stack
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StackPage:
    items: list[StackInfo]
    total: int


@dataclass(frozen=True)
class ComposeImportResult:
    """The stacks a compose file became, plus what deployments of them need."""

    project_name: str
    stacks: list[StackInfo]
    warnings: list[str]
    #: stack name → alias Service names (feed DeploymentSpec.service_aliases)
    aliases: dict[str, list[str]]
    #: stack name → ports its Service exposes (published host ports included)
    ports: dict[str, list[ServicePort]]
    depends_on: dict[str, list[str]]
    replicas: dict[str, int]


def _image_column(stack: Stack) -> str:
    base = f"{stack.registry_url}/{stack.image}" if stack.registry_url else stack.image
    return f"{base}:{stack.image_tag}" if stack.image_tag else base


def _info(row: StackRow) -> StackInfo:
    stack = validate_stack(row.spec)
    return StackInfo(
        row.id, row.name, row.kind, row.image, list(row.tags), row.version, stack,
        row.created_at, row.updated_at, stack.warnings(),
    )  # fmt: skip


def _fill(row: StackRow, stack: Stack) -> None:
    row.name, row.kind, row.image = stack.name, stack.kind, _image_column(stack)
    row.spec = stack.model_dump(mode="json")
    row.template_version = stack.version
    row.tags = list(stack.tags)


class StacksService(Service):
    # -- reading ---------------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def get_stack(self, actor: Actor, stack_id: uuid.UUID) -> StackInfo:
        """One stack."""
        async with self.db.session() as session:
            return _info(await get_or_404(session, StackRow, stack_id, "Stack"))

    @operation(Permissions.READ, Access.READ)
    async def list_stacks(
        self,
        actor: Actor,
        *,
        name_contains: str | None = None,
        kind: str | None = None,
        tag: str | None = None,
        sort: SortKey = "name",
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> StackPage:
        """Stacks filtered by name (substring), kind and tag, sorted and paged in SQL."""
        if sort not in _SORT:
            raise ValidationError(f"Cannot sort stacks by {sort!r}.", {"sort": "unknown column"})
        conditions: list[Any] = []
        if name_contains:
            escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(StackRow.name.ilike(f"%{escaped}%", escape="\\"))
        if kind:
            conditions.append(StackRow.kind == kind)
        if tag:
            conditions.append(StackRow.tags.contains([tag]))
        column = _SORT[sort]
        order = [column.desc() if descending else column.asc(), StackRow.id]
        stmt = select(StackRow).where(*conditions).order_by(*order)
        stmt = stmt.limit(max(0, min(limit, MAX_PAGE))).offset(max(0, offset))
        count = select(func.count()).select_from(StackRow).where(*conditions)
        async with self.db.session() as session:
            rows = list((await session.execute(stmt)).scalars())
            total = int((await session.execute(count)).scalar_one())
        return StackPage([_info(row) for row in rows], total)

    @operation(Permissions.READ, Access.READ)
    async def export_yaml(self, actor: Actor, stack_id: uuid.UUID) -> str:
        """The stack's YAML form (import_yaml reads it back)."""
        return stack_to_yaml((await self.get_stack(actor, stack_id)).stack)

    # -- writing ---------------------------------------------------------------------------
    @operation(Permissions.STACKS_MANAGE, Access.MUTATING)
    async def create_stack(self, actor: Actor, data: object) -> StackInfo:
        """Validate and store a new stack (a mapping or a Stack). Names are unique."""
        stack = validate_stack(data)
        async with self.db.unit_of_work() as uow:
            row = await self._insert(uow, stack)
        return _info(row)

    @operation(Permissions.STACKS_MANAGE, Access.MUTATING)
    async def import_yaml(self, actor: Actor, text: str) -> StackInfo:
        """Create a stack from its YAML form."""
        stack = stack_from_yaml(text)
        async with self.db.unit_of_work() as uow:
            row = await self._insert(uow, stack)
        return _info(row)

    @operation(Permissions.STACKS_MANAGE, Access.MUTATING)
    async def update_stack(
        self, actor: Actor, stack_id: uuid.UUID, data: object, *, expected_version: int | None = None
    ) -> StackInfo:
        """Replace a stack's document (``expected_version``: the version you loaded)."""
        stack = validate_stack(data)
        async with self.db.unit_of_work() as uow:
            row = await get_or_404(uow.session, StackRow, stack_id, "Stack")
            check_version(row, expected_version, "stack")
            if stack.name != row.name:
                await self._refuse_duplicates(uow, [stack.name])
            _fill(row, stack)
        return await self.get_stack(actor, stack_id)

    @operation(Permissions.STACKS_MANAGE, Access.DESTRUCTIVE)
    async def delete_stack(
        self, actor: Actor, stack_id: uuid.UUID, *, expected_version: int | None = None
    ) -> None:
        """Delete a stack; refused while deployments use it (they are named)."""
        async with self.db.unit_of_work() as uow:
            row = await get_or_404(uow.session, StackRow, stack_id, "Stack")
            check_version(row, expected_version, "stack")
            stmt = select(Deployment.name, Deployment.namespace).where(Deployment.stack_id == stack_id)
            users = (await uow.session.execute(stmt.order_by(Deployment.name))).all()
            if users:
                names = ", ".join(f"{ns}/{name}" for name, ns in users)
                raise ConflictError(
                    f"Stack {row.name} is used by {len(users)} deployment(s): {names}; delete those first."
                )
            await uow.session.delete(row)

    @operation(Permissions.STACKS_MANAGE, Access.MUTATING)
    async def import_compose(self, actor: Actor, text: str, project_name: str) -> ComposeImportResult:
        """One stack per compose service, all created together or none."""
        result = import_compose(text, project_name=project_name)
        async with self.db.unit_of_work() as uow:
            await self._refuse_duplicates(uow, [stack.name for stack in result.stacks])
            rows = [await self._insert(uow, stack, checked=True) for stack in result.stacks]
        return ComposeImportResult(
            project_name=result.project_name,
            stacks=[_info(row) for row in rows],
            warnings=list(result.warnings),
            aliases={s.name: compose_aliases(result.aliases, s.name) for s in result.stacks},
            ports={name: list(ports) for name, ports in result.services.items()},
            depends_on={name: list(deps) for name, deps in result.depends_on.items()},
            replicas=dict(result.replicas),
        )

    # -- internals -------------------------------------------------------------------------
    async def _insert(self, uow: UnitOfWork, stack: Stack, *, checked: bool = False) -> StackRow:
        if not checked:
            await self._refuse_duplicates(uow, [stack.name])
        row = StackRow()
        _fill(row, stack)
        uow.session.add(row)
        await uow.flush()
        return row

    @staticmethod
    async def _refuse_duplicates(uow: UnitOfWork, names: list[str]) -> None:
        stmt = select(StackRow.name).where(StackRow.name.in_(names)).order_by(StackRow.name)
        taken = list((await uow.session.execute(stmt)).scalars())
        if taken:
            raise ConflictError(
                f"A stack named {', '.join(taken)} already exists; rename or delete it first.",
            )
