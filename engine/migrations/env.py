"""Alembic environment. PodWarden runs migrations itself (podwarden.engine.db.migrate),
handing Alembic an open connection that already holds the migration lock."""

from __future__ import annotations

from alembic import context

from podwarden.engine.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic CLI
    raise RuntimeError("Run migrations with `podwarden-engine migrate`, not the alembic CLI.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
