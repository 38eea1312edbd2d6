"""Tailscale discovery: the tailnet's devices, reconciled into ``hosts`` in one transaction.

One run (:meth:`DiscoveryService.run_discovery`, the periodic loop's task, or
:meth:`DiscoveryService.discover_now` on demand):

1. reads ``system_config.tailscale`` and reveals the credential from its secret;
2. lists the devices through :class:`~podwarden.engine.adapters.tailscale.TailscaleClient`
   (timeout: ``Settings.timeouts.http_request``). Adapter errors propagate
   unchanged (``TemporaryServiceError`` / ``PermanentServiceError``) and, because
   the database is only touched after the fetch succeeded, leave ``hosts`` as it was;
3. reconciles in ONE transaction, under a transaction-level advisory lock so two
   engines never reconcile at the same time:

   - fill a temporary table with the devices from ONE statement parameter: the
     rows as a JSON array (encoded by msgspec in a few milliseconds) expanded by
     ``jsonb_array_elements`` on the server. It replaced a binary ``COPY`` whose
     10,000 ``await write_row()`` calls cost more than the whole statement;
   - one ``INSERT … SELECT … ON CONFLICT (tailscale_id) DO UPDATE … WHERE (row differs)``:
     new devices become ``source=tailscale, state=discovered`` hosts with the
     device's Tailscale IPv4 as ``ssh_address``; a changed host name, MagicDNS
     name, addresses, tags, OS or last-seen time updates the row and bumps
     ``version`` and ``updated_at``; an unchanged device writes nothing;
   - one ``UPDATE`` marks Tailscale hosts whose device left the tailnet ``missing``
     (never deleted);
   - the changed ids are announced (``NOTIFY``) with the commit.

Rules the statements keep:

- Hosts added by hand (``source=manual``) are never touched: they have no
  ``tailscale_id``, and the upsert's ``WHERE`` also requires ``source=tailscale``.
- A ``missing`` host whose device comes back returns to ``in_cluster`` when it
  still belongs to a cluster (``cluster_id`` set), else to ``discovered``. The
  state it had before it went missing is not stored anywhere, and a cluster
  membership is the one fact that survives; ``provisioned`` without a cluster
  cannot be told apart from a bare machine, so it comes back as ``discovered``
  (a probe tells the truth again).
- ``ssh_address`` follows the device only while it is one of the device's own
  addresses: it is set when empty, and replaced by the new Tailscale IPv4 when the
  old address disappeared from the device. An address an operator typed in
  (e.g. a LAN address) is kept.
- Devices are keyed by the stable ``nodeId``; a device listed twice counts once
  (the last entry wins); ids longer than the column (64) are skipped and counted.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from podwarden.engine.errors import ConfigurationError, NotFoundError, PodWardenError
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service
from podwarden.engine.services.config import ConfigService, TailscaleConfig
from podwarden.engine.services.secrets import SecretsService

if TYPE_CHECKING:  # the adapter (httpx, pydantic models) is imported on first use, not at start-up
    from podwarden.engine.adapters.tailscale import TailscaleClient, TailscaleDevice

__all__ = ["DISCOVERY_LOCK", "DiscoveryResult", "DiscoveryService", "ReconcileCounts"]

log = logging.getLogger(__name__)

DISCOVERY_LOCK: Final = 0x50570003  # pg_advisory_xact_lock key (see users.py, listen.py)
#: Rows written at once from which the hosts search index's pending list is flushed.
FLUSH_INDEX_AFTER: Final = 200
# to_regclass: NULL without the index, and gin_clean_pending_list(NULL) is NULL (strict).
_FLUSH_SEARCH_INDEX = "SELECT gin_clean_pending_list(to_regclass('ix_hosts_search_text_trgm'))"
_MAX_ID: Final = 64  # hosts.tailscale_id
_MAX_NAME: Final = 253  # hosts.hostname / tailscale_name
_MAX_OS: Final = 128  # hosts.os

_TEMP_TABLE: Final = "pw_tailscale_devices"

_CREATE_TEMP = f"""
CREATE TEMPORARY TABLE {_TEMP_TABLE} (
    tailscale_id   text NOT NULL,
    hostname       text NOT NULL,
    tailscale_name text,
    addresses      jsonb NOT NULL,
    tags           jsonb NOT NULL,
    os             text,
    last_seen      timestamptz,
    ssh_address    text
) ON COMMIT DROP
"""

# :rows is a JSON array of _device_row() arrays (the positions below).
_FILL = f"""
INSERT INTO {_TEMP_TABLE}
    (tailscale_id, hostname, tailscale_name, addresses, tags, os, last_seen, ssh_address)
SELECT r->>0, r->>1, r->>2, r->3, r->4, r->>5, (r->>6)::timestamptz, r->>7
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r
"""  # noqa: S608 - built from constants only
_ROWS_ENCODER: Final = msgspec.json.Encoder()  # datetimes as RFC 3339, None as null


def _differs(old: str, new: str) -> str:
    """SQL: the stored host ``old`` differs from the device ``new`` (or must come back from missing)."""
    compared = ("hostname", "tailscale_name", "tailscale_tags", "tailscale_last_seen", "addresses", "os")
    parts = [f"{old}.{c} IS DISTINCT FROM {new}.{c}" for c in compared]
    parts.append(f"{old}.state = 'missing'")
    parts.append(f"({old}.ssh_address IS NULL AND {new}.ssh_address IS NOT NULL)")
    return "(" + "\n     OR ".join(parts) + ")"


# The devices as host-shaped rows.
# Only new or differing devices reach the INSERT: the join skips unchanged ones, so
# they are neither locked nor written. The ON CONFLICT arm repeats the test, so a row
# is written only when it differs even if it appeared in between. New rows get every
# NOT NULL column (the model's defaults are Python-side only); ``xmax = 0`` tells an
# inserted row from an updated one.
_UPSERT = f"""
INSERT INTO hosts AS h (
    id, hostname, source, state, tailscale_id, tailscale_name, tailscale_tags, tailscale_last_seen,
    addresses, os, ssh_address, ssh_port, ssh_user, gpu_count, network_types, facts,
    kubernetes_detected, protected, is_gateway, notes, version, created_at, updated_at
)
SELECT gen_random_uuid(), d.hostname, 'tailscale', 'discovered', d.tailscale_id, d.tailscale_name,
       d.tailscale_tags, d.tailscale_last_seen, d.addresses, d.os, d.ssh_address, 22, 'root', 0,
       '[]'::jsonb, '{{}}'::jsonb, false, false, false, '', 1, now(), now()
FROM (
    SELECT t.tailscale_id, t.hostname, t.tailscale_name, t.tags AS tailscale_tags,
           t.last_seen AS tailscale_last_seen, t.addresses, t.os, t.ssh_address
    FROM {_TEMP_TABLE} AS t
) AS d
LEFT JOIN hosts AS cur ON cur.tailscale_id = d.tailscale_id
WHERE cur.id IS NULL OR (cur.source = 'tailscale' AND {_differs("cur", "d")})
ON CONFLICT (tailscale_id) DO UPDATE SET
    hostname = EXCLUDED.hostname,
    tailscale_name = EXCLUDED.tailscale_name,
    tailscale_tags = EXCLUDED.tailscale_tags,
    tailscale_last_seen = EXCLUDED.tailscale_last_seen,
    addresses = EXCLUDED.addresses,
    os = EXCLUDED.os,
    state = CASE
        WHEN h.state <> 'missing' THEN h.state
        WHEN h.cluster_id IS NOT NULL THEN 'in_cluster'::host_state
        ELSE 'discovered'::host_state
    END,
    ssh_address = CASE
        WHEN h.ssh_address IS NULL
          OR (jsonb_exists(h.addresses, h.ssh_address)
              AND NOT jsonb_exists(EXCLUDED.addresses, h.ssh_address))
        THEN EXCLUDED.ssh_address
        ELSE h.ssh_address
    END,
    version = h.version + 1,
    updated_at = now()
WHERE h.source = 'tailscale' AND {_differs("h", "EXCLUDED")}
RETURNING h.id, (h.xmax = 0) AS inserted
"""  # noqa: S608 - built from constants only

_MARK_MISSING = f"""
UPDATE hosts AS h
SET state = 'missing', version = h.version + 1, updated_at = now()
WHERE h.source = 'tailscale'
  AND h.state <> 'missing'
  AND h.tailscale_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {_TEMP_TABLE} AS d WHERE d.tailscale_id = h.tailscale_id)
RETURNING h.id
"""  # noqa: S608 - built from constants only


@dataclass(frozen=True)
class ReconcileCounts:
    """What one reconcile wrote. ``unchanged`` devices wrote no row."""

    devices: int
    added: int
    updated: int
    missing: int
    unchanged: int
    skipped: int = 0

    @property
    def written(self) -> int:
        return self.added + self.updated + self.missing


@dataclass(frozen=True)
class DiscoveryResult:
    """The outcome of one discovery run; times in seconds."""

    devices: int
    added: int
    updated: int
    missing: int
    unchanged: int
    skipped: int
    duration: float
    fetch_seconds: float
    reconcile_seconds: float

    @property
    def written(self) -> int:
        return self.added + self.updated + self.missing


def _ssh_address(addresses: Sequence[str]) -> str | None:
    """The first IPv4 address (a cheap test: the adapter's ``ipv4`` parses each one), else the first."""
    for address in addresses:
        if ":" not in address and address.count(".") == 3:
            return address
    return addresses[0] if addresses else None


def _clean(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; a reply with one must not fail the run."""
    return value.replace("\x00", "") if "\x00" in value else value


def _device_row(device: TailscaleDevice) -> tuple[Any, ...]:
    name, hostname, os = device.name, device.hostname, device.os
    addresses, tags = device.addresses, device.tags
    if "\x00" in f"{name}{hostname}{os}{''.join(addresses)}{''.join(tags)}":  # rare: clean every field
        name, hostname, os = _clean(name), _clean(hostname), _clean(os)
        addresses, tags = [_clean(a) for a in addresses], [_clean(t) for t in tags]
    hostname = hostname or name.split(".", 1)[0] or device.id
    return (
        device.id,
        hostname[:_MAX_NAME],
        name[:_MAX_NAME] or None,
        addresses,  # the device's own lists: encoded, never changed
        tags,
        os[:_MAX_OS] or None,
        device.last_seen,
        _ssh_address(addresses),
    )


def _encode_rows(devices: Iterable[TailscaleDevice]) -> tuple[str, int, int]:
    """The usable devices as the JSON text of :data:`_FILL`'s ``:rows``; (text, count, skipped).

    Synchronous, so the cyclic GC is paused meanwhile (nothing else runs): building
    10,000 rows would otherwise trigger full-heap collections costing more than the
    work itself.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows: dict[str, tuple[Any, ...]] = {}
        skipped = 0
        for device in devices:
            if not device.id or len(device.id) > _MAX_ID or "\x00" in device.id:
                skipped += 1
                continue
            rows[device.id] = _device_row(device)  # a repeated id: the last entry wins
        return _ROWS_ENCODER.encode(list(rows.values())).decode(), len(rows), skipped
    finally:
        if gc_was_enabled:
            gc.enable()


class DiscoveryService(Service):
    @operation(Permissions.HOSTS_MANAGE, Access.MUTATING)
    async def discover_now(self, actor: Actor) -> DiscoveryResult:
        """List the tailnet's devices now and reconcile them into the hosts."""
        return await self.run_discovery()

    async def run_discovery(self) -> DiscoveryResult:
        """One discovery run as PodWarden itself (the periodic loop's task).

        Raises ConfigurationError when Tailscale is off or incompletely configured,
        and the adapter's TemporaryServiceError / PermanentServiceError when the API
        fails; the hosts stay exactly as they were in every error case.
        """
        started = time.perf_counter()
        client = await self._client()
        async with client:
            devices = await client.list_devices()
        fetched = time.perf_counter()
        counts = await self.reconcile_devices(devices)
        done = time.perf_counter()
        result = DiscoveryResult(
            devices=counts.devices,
            added=counts.added,
            updated=counts.updated,
            missing=counts.missing,
            unchanged=counts.unchanged,
            skipped=counts.skipped,
            duration=done - started,
            fetch_seconds=fetched - started,
            reconcile_seconds=done - fetched,
        )
        log.info(
            "Tailscale discovery: %d devices, %d added, %d updated, %d missing, %d unchanged in %.3f s",
            result.devices,
            result.added,
            result.updated,
            result.missing,
            result.unchanged,
            result.duration,
        )
        return result

    async def reconcile_devices(self, devices: Sequence[TailscaleDevice]) -> ReconcileCounts:
        """Reconcile a device list into ``hosts`` in one transaction (no role check: for
        the discovery loop, :meth:`discover_now` and benchmarks)."""
        payload, count, skipped = _encode_rows(devices)
        if skipped:
            log.warning("Tailscale discovery skipped %d device(s) without a usable id", skipped)

        async with self.db.unit_of_work() as uow:
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DISCOVERY_LOCK})
            await uow.session.execute(text(_CREATE_TEMP))
            await uow.session.execute(text(_FILL), {"rows": payload})
            upserted = (await uow.session.execute(text(_UPSERT))).all()
            missing = [r[0] for r in (await uow.session.execute(text(_MARK_MISSING))).all()]
            added = sum(1 for r in upserted if r[1])
            changed: list[uuid.UUID] = [r[0] for r in upserted]
            changed.extend(missing)
            if changed:
                uow.announce("hosts", changed)
        if len(upserted) >= FLUSH_INDEX_AFTER:
            await self._flush_search_index()
        return ReconcileCounts(
            devices=count,
            added=added,
            updated=len(upserted) - added,
            missing=len(missing),
            unchanged=count - len(upserted),
            skipped=skipped,
        )

    # -- helpers ------------------------------------------------------------------------
    async def _flush_search_index(self) -> None:
        """Move the rows just written out of the trigram index's pending list, so the
        hosts filter keeps using the index (see migration 0002). Best effort: without
        the index (no pg_trgm) this does nothing; without the right (not the index
        owner) autovacuum does it later."""
        try:
            async with self.db.session() as session:
                await session.execute(text(_FLUSH_SEARCH_INDEX))
                await session.commit()
        except (PodWardenError, DBAPIError) as exc:  # e.g. not the index's owner
            log.debug("could not flush the hosts search index: %s", exc)

    async def _client(self) -> TailscaleClient:
        from podwarden.engine.adapters.tailscale import TailscaleClient

        doc, _ = await ConfigService(self.ctx).get_system_config(Actor.system())
        cfg: TailscaleConfig = doc.tailscale
        if not cfg.enabled:
            raise ConfigurationError(
                "Tailscale discovery is turned off; enable it in the system configuration "
                "(tailscale.enabled) after storing an API key or OAuth client."
            )
        timeout = self.ctx.settings.timeouts.http_request
        if cfg.auth == "api_key":
            if not cfg.api_key_secret:
                raise ConfigurationError(
                    "Tailscale discovery needs an API key: store it as a secret and name that secret "
                    "in tailscale.api_key_secret."
                )
            key = await self._reveal(cfg.api_key_secret, "API key")
            return TailscaleClient(cfg.api_url, cfg.tailnet, api_key=key, timeout=timeout)
        if not cfg.oauth_client_id or not cfg.oauth_client_secret_secret:
            raise ConfigurationError(
                "Tailscale discovery with an OAuth client needs tailscale.oauth_client_id and the "
                "name of the secret holding the client secret (tailscale.oauth_client_secret_secret)."
            )
        secret = await self._reveal(cfg.oauth_client_secret_secret, "OAuth client secret")
        return TailscaleClient(
            cfg.api_url,
            cfg.tailnet,
            oauth_client_id=cfg.oauth_client_id,
            oauth_client_secret=secret,
            timeout=timeout,
        )

    async def _reveal(self, name: str, what: str) -> str:
        try:
            value = await SecretsService(self.ctx).reveal(name)
        except NotFoundError as exc:
            raise ConfigurationError(
                f"The Tailscale {what} is configured to come from the secret '{name}', which does not "
                "exist; store it there or correct the name in the system configuration."
            ) from exc
        return value.reveal()
