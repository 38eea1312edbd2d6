"""Encrypted secrets (``secrets`` table): names and metadata are readable to admins,
values are sealed with AES-256-GCM under the master key."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from podwarden.engine.db.database import UnitOfWork
from podwarden.engine.errors import ConfigurationError, NotFoundError, ValidationError
from podwarden.engine.models.access import Secret, SecretKeyCheck
from podwarden.engine.security.crypto import KEY_BYTES, DecryptionError, SecretBox, SecretValue, decode_key
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, check_version, now

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._:/-]{0,126}[a-z0-9])?$")


@dataclass(frozen=True)
class SecretInfo:
    """A secret without its value."""

    id: uuid.UUID
    name: str
    kind: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime


def _info(row: Secret) -> SecretInfo:
    return SecretInfo(
        row.id, row.name, row.kind, row.description, row.version, row.created_at, row.updated_at
    )


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValidationError(
            "A secret name uses lower-case letters, digits and . _ : / - (up to 128 characters).",
            {"name": "invalid secret name"},
        )


class SecretsService(Service):
    # -- key check ------------------------------------------------------------------------
    async def ensure_key_check(self) -> None:
        """Store a key check on first use; afterwards refuse a key that does not match it."""
        async with self.db.unit_of_work() as uow:
            check = await uow.session.get(SecretKeyCheck, 1, with_for_update=True)
            if check is None:
                sample = (await uow.session.execute(select(Secret).limit(1))).scalar_one_or_none()
                if sample is not None:
                    self._open(sample)  # secrets exist from before: the key must open them
                uow.session.add(SecretKeyCheck(id=1, ciphertext=self.ctx.box.key_check(), rotated_at=now()))
            elif not self.ctx.box.verify_key_check(check.ciphertext):
                raise ConfigurationError(
                    "The secret key does not match the key this database's secrets were sealed with; "
                    "use the original key (PODWARDEN_SECRET_KEY, PODWARDEN_SECRET_KEY_FILE or the keyring)."
                )

    # -- operations -----------------------------------------------------------------------
    @operation(Permissions.SECRETS_MANAGE, Access.MUTATING)
    async def create_secret(
        self,
        actor: Actor,
        name: str,
        value: SecretValue | str,
        *,
        kind: str = "generic",
        description: str = "",
    ) -> SecretInfo:
        """Store a new secret."""
        async with self.db.unit_of_work() as uow:
            row = await self.put(uow, name, value, kind=kind, description=description, replace=False)
            await uow.flush()
            return _info(row)

    @operation(Permissions.SECRETS_MANAGE, Access.READ)
    async def list_secrets(self, actor: Actor) -> list[SecretInfo]:
        """Names and metadata of every secret; never values."""
        async with self.db.session() as session:
            rows = (await session.execute(select(Secret).order_by(Secret.name))).scalars()
            return [_info(r) for r in rows]

    @operation(Permissions.SECRETS_MANAGE, Access.READ)
    async def read_secret(self, actor: Actor, name: str) -> SecretValue:
        """The value of one secret (admins only)."""
        return await self.reveal(name)

    @operation(Permissions.SECRETS_MANAGE, Access.MUTATING)
    async def update_secret(
        self,
        actor: Actor,
        name: str,
        value: SecretValue | str,
        *,
        expected_version: int | None = None,
        description: str | None = None,
    ) -> SecretInfo:
        """Replace a secret's value."""
        async with self.db.unit_of_work() as uow:
            row = await self._row(uow, name, for_update=True)
            check_version(row, expected_version, "secret")
            row.ciphertext = self.ctx.box.seal_text(value, context=name)
            if description is not None:
                row.description = description
            await uow.flush()
            return _info(row)

    @operation(Permissions.SECRETS_MANAGE, Access.DESTRUCTIVE)
    async def delete_secret(self, actor: Actor, name: str) -> None:
        """Delete a secret."""
        async with self.db.unit_of_work() as uow:
            await uow.session.delete(await self._row(uow, name, for_update=True))

    @operation(Permissions.SECRETS_MANAGE, Access.DESTRUCTIVE)
    async def rotate_master_key(self, actor: Actor, new_key: bytes | str) -> int:
        """Re-seal every secret under a new master key in one transaction; returns the count.

        The engine switches to the new key only after the commit; on any error
        nothing changes. Store the new key where PodWarden reads it before the next start.
        """
        if isinstance(new_key, str):
            new_key = decode_key(new_key, source="the new key")
        if len(new_key) != KEY_BYTES:
            raise ValidationError("The new master key must be 32 bytes.", {"new_key": "must be 32 bytes"})
        new_box = SecretBox(new_key)
        async with self.db.unit_of_work() as uow:
            check = await uow.session.get(SecretKeyCheck, 1, with_for_update=True)
            rows = (await uow.session.execute(select(Secret).with_for_update())).scalars().all()
            for row in rows:
                row.ciphertext = new_box.seal(self._open(row).reveal().encode(), context=row.name)
            if check is None:
                uow.session.add(SecretKeyCheck(id=1, ciphertext=new_box.key_check(), rotated_at=now()))
            else:
                check.ciphertext = new_box.key_check()
                check.rotated_at = now()
        self.ctx.box = new_box
        return len(rows)

    # -- for other services (they check their own permissions) --------------------------
    async def put(
        self,
        uow: UnitOfWork,
        name: str,
        value: SecretValue | str,
        *,
        kind: str = "generic",
        description: str = "",
        replace: bool = True,
    ) -> Secret:
        """Seal a value into the caller's unit of work; ``replace`` overwrites an existing one."""
        _check_name(name)
        ciphertext = self.ctx.box.seal_text(value, context=name)
        if replace:
            stmt = select(Secret).where(Secret.name == name).with_for_update()
            row = (await uow.session.execute(stmt)).scalar_one_or_none()
            if row is not None:
                row.ciphertext, row.kind, row.description = ciphertext, kind, description or row.description
                return row
        row = Secret(name=name, kind=kind, description=description, ciphertext=ciphertext)
        uow.session.add(row)
        return row

    async def reveal(self, name: str) -> SecretValue:
        async with self.db.session() as session:
            row = (await session.execute(select(Secret).where(Secret.name == name))).scalar_one_or_none()
            if row is None:
                raise NotFoundError("Secret", name)
            return self._open(row)

    async def count(self) -> int:
        async with self.db.session() as session:
            return int((await session.execute(select(func.count()).select_from(Secret))).scalar_one())

    async def _row(self, uow: UnitOfWork, name: str, *, for_update: bool = False) -> Secret:
        stmt = select(Secret).where(Secret.name == name)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await uow.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFoundError("Secret", name)
        return row

    def _open(self, row: Secret) -> SecretValue:
        try:
            return self.ctx.box.open_text(row.ciphertext, context=row.name)
        except DecryptionError as exc:
            raise ConfigurationError(
                f"Secret '{row.name}' does not open with the configured secret key; "
                "the key is wrong or the data was altered."
            ) from exc
