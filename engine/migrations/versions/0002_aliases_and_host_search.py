"""deployment alias column; host text search (generated column + trigram index)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

* ``deployments.service_aliases`` (JSONB list): the compose alias Service names, which
  0001-era code kept inside ``placement`` under ``service_aliases``. Existing rows
  are moved (the key leaves ``placement``).
* ``hosts.search_text``: a stored generated column holding what the hosts list's
  text filter searches, and a ``gin_trgm_ops`` index on it. ``pg_trgm`` is a trusted
  extension (PostgreSQL 13+), so a database owner may create it; when it cannot be
  created (no privilege, not installed) the migration still succeeds without the
  index and the filter still works (a sequential scan). The index keeps GIN's
  pending list (``fastupdate``): inserting 10,000 hosts took 2.6 s without it and
  0.32 s with it. Rows in the pending list make the planner prefer a sequential
  scan (40 ms instead of 1.3 ms for a 100-match filter over 10,000 hosts), so bulk
  writers (discovery) flush it right after committing (``gin_clean_pending_list``,
  ~50 ms for 10,000 rows); autovacuum does it for everything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of podwarden.engine.models.fleet.HOST_SEARCH_TEXT at this revision.
SEARCH_TEXT = (
    "lower(((((((hostname)::text || chr(31)) || COALESCE(tailscale_name, ''::character varying)::text) "
    "|| chr(31)) || COALESCE(ssh_address, ''::character varying)::text) || chr(31)) || (addresses)::text)"
)


def upgrade() -> None:
    op.add_column(
        "deployments",
        sa.Column(
            "service_aliases",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
    )
    op.execute(
        """
        UPDATE deployments
        SET service_aliases = CASE
                WHEN jsonb_typeof(placement -> 'service_aliases') = 'array' THEN (
                    SELECT coalesce(jsonb_agg(to_jsonb(alias)), '[]'::jsonb)
                    FROM jsonb_array_elements_text(placement -> 'service_aliases') AS alias
                )
                ELSE '[]'::jsonb
            END,
            placement = placement - 'service_aliases'
        WHERE jsonb_typeof(placement) = 'object' AND placement -> 'service_aliases' IS NOT NULL
        """
    )
    op.alter_column("deployments", "service_aliases", server_default=None)

    op.add_column(
        "hosts",
        sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT, persisted=True), nullable=True),
    )
    # Each block runs in a subtransaction (the EXCEPTION clause), so a refusal leaves
    # the migration's transaction usable.
    op.execute(
        """
        DO $$
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm is not available (%); no index for the hosts text filter', SQLERRM;
        END
        $$
        """
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
                CREATE INDEX ix_hosts_search_text_trgm ON hosts USING gin (search_text gin_trgm_ops);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'no trigram index on hosts.search_text (%)', SQLERRM;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_hosts_search_text_trgm")
    op.drop_column("hosts", "search_text")
    op.execute(
        """
        UPDATE deployments
        SET placement = placement || jsonb_build_object('service_aliases', service_aliases)
        WHERE service_aliases <> '[]'::jsonb AND jsonb_typeof(placement) = 'object'
        """
    )
    op.drop_column("deployments", "service_aliases")
