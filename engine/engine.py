"""The composition root: one :class:`Engine` owns the database, the secret box and the services."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from podwarden.engine.adapters.ssh import SshPool
from podwarden.engine.db.database import Database
from podwarden.engine.db.embedded import EmbeddedPostgres
from podwarden.engine.db.listen import Change, ChangeListener, Presence
from podwarden.engine.db.migrate import migrate, preload_migrations, require_current_schema
from podwarden.engine.db.urls import describe_url, libpq_conninfo, parse_database_url
from podwarden.engine.errors import ConfigurationError, PodWardenError
from podwarden.engine.security.crypto import SecretBox
from podwarden.engine.security.masterkey import load_master_key
from podwarden.engine.services.audit import AuditService
from podwarden.engine.services.base import Context
from podwarden.engine.services.clusters import ClustersService
from podwarden.engine.services.config import ConfigService
from podwarden.engine.services.deployments import DeploymentsService
from podwarden.engine.services.discovery import DiscoveryService
from podwarden.engine.services.hosts import HostsService
from podwarden.engine.services.jobs import JobsService
from podwarden.engine.services.probe import ProbeService
from podwarden.engine.services.provisioning import ProvisioningService
from podwarden.engine.services.secrets import SecretsService
from podwarden.engine.services.stacks import StacksService
from podwarden.engine.services.tokens import TokensService
from podwarden.engine.services.users import UsersService
from podwarden.engine.settings import Settings

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = 150000


class Engine:
    """PodWarden's engine. Use as ``async with Engine(Settings()) as engine:``.

    Entering opens (or starts) the database, applies migrations, checks the
    secret key and marks jobs that dead engines left running as interrupted.
    It never contacts a cluster or an SSH host. Leaving closes everything.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.engine_id = uuid.uuid4()
        self._embedded: EmbeddedPostgres | None = None
        self._db: Database | None = None
        self._ctx: Context | None = None
        self._presence: Presence | None = None
        self._listener: ChangeListener | None = None
        self._listener_lock = asyncio.Lock()
        self.secrets: SecretsService
        self.users: UsersService
        self.config: ConfigService
        self.jobs: JobsService
        self.clusters: ClustersService
        self.hosts: HostsService
        self.discovery: DiscoveryService
        self.tokens: TokensService
        self.stacks: StacksService
        self.deployments: DeploymentsService
        self.ssh: SshPool
        self.probe: ProbeService
        self.audit: AuditService
        self.provisioning: ProvisioningService

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise

    async def _open(self) -> None:
        s = self.settings
        if s.database_url is None:
            self._prepare_data_dir()
            fresh = not (s.data_dir / "postgres" / "PG_VERSION").exists()
            self._embedded = EmbeddedPostgres(s.data_dir, start_timeout=s.timeouts.embedded_start)
            starting = asyncio.ensure_future(self._embedded.start())
            if fresh:
                # initdb runs in its own process for ≈ 1 s; meanwhile load Alembic
                # (≈ 0.4 s), which a fresh database needs for its first migration.
                await asyncio.to_thread(preload_migrations)
            url = parse_database_url(await starting)
        else:
            url = parse_database_url(s.database_url.get_secret_value())
        key = await asyncio.to_thread(load_master_key, s, create=True)
        self._db = db = Database(
            url,
            connect_timeout=s.timeouts.db_connect,
            statement_timeout=s.timeouts.db_statement,
            pool_size=s.db_pool_size,
            max_overflow=s.db_pool_overflow,
        )
        version = await db.server_version()
        if version < MIN_SERVER_VERSION:
            raise ConfigurationError(
                f"PostgreSQL at {db.description} is version {version // 10000}; PodWarden needs 15 or newer."
            )
        if s.run_migrations:
            await migrate(db, lock_timeout=s.timeouts.db_migration_lock)
        else:
            await require_current_schema(db)
        self._ctx = ctx = Context(db=db, settings=s, box=SecretBox(key), engine_id=self.engine_id)
        self.secrets = SecretsService(ctx)
        self.users = UsersService(ctx)
        self.config = ConfigService(ctx)
        self.jobs = JobsService(ctx)
        self.clusters = ClustersService(ctx, secrets=self.secrets)
        self.hosts = HostsService(ctx)
        self.discovery = DiscoveryService(ctx)
        self.tokens = TokensService(ctx)
        self.stacks = StacksService(ctx)
        self.deployments = DeploymentsService(
            ctx, clusters=self.clusters, secrets=self.secrets, jobs=self.jobs
        )
        self.ssh = SshPool.from_settings(s)
        self.probe = ProbeService(ctx, jobs=self.jobs, secrets=self.secrets, ssh=self.ssh)
        self.audit = AuditService(ctx, secrets=self.secrets)
        self.provisioning = ProvisioningService(
            ctx, jobs=self.jobs, secrets=self.secrets, clusters=self.clusters, ssh=self.ssh
        )
        await self.secrets.ensure_key_check()
        conninfo = libpq_conninfo(url)
        self._presence = Presence(conninfo, self.engine_id, connect_timeout=s.timeouts.db_connect)
        await self._presence.start()
        await self.recover_jobs()
        log.info("engine %s ready on %s", self.engine_id, self.database_mode)

    async def close(self) -> None:
        if self._ctx is not None:
            await self.jobs.cancel_all_local()
            await self.clusters.close()
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._presence is not None:
            await self._presence.close()
            self._presence = None
        if self._db is not None:
            await self._db.close()
            self._db = None
        if self._embedded is not None:
            await self._embedded.stop()
            self._embedded = None
        self._ctx = None

    def _prepare_data_dir(self) -> None:
        path = self.settings.data_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"The data folder {path} cannot be created ({exc.strerror}); set PODWARDEN_DATA_DIR to a "
                "folder you can write."
            ) from exc
        if not path.is_dir():
            raise ConfigurationError(f"The data folder {path} is not a folder; set PODWARDEN_DATA_DIR.")

    # -- what the engine offers ---------------------------------------------------------
    @property
    def db(self) -> Database:
        if self._db is None:
            raise PodWardenError("The engine is not open; use `async with Engine(...)`.")
        return self._db

    @property
    def context(self) -> Context:
        """What services share (database, settings, secret box, engine id)."""
        if self._ctx is None:
            raise PodWardenError("The engine is not open; use `async with Engine(...)`.")
        return self._ctx

    @property
    def database_mode(self) -> str:
        """'embedded (<folder>)' or the shared server's URL without its password."""
        if self._embedded is not None:
            return f"embedded ({self.settings.data_dir})"
        if self._db is not None:
            return f"shared {self._db.description}"
        if self.settings.database_url is not None:
            return f"shared {describe_url(parse_database_url(self.settings.database_url.get_secret_value()))}"
        return "embedded"

    async def recover_jobs(self) -> int:
        """Mark jobs whose engine is gone as interrupted; returns how many."""
        assert self._presence is not None
        owners = await self.jobs.owners_of_unfinished()
        dead = await self._presence.dead_engines(owners)
        count = await self.jobs.mark_interrupted(dead)
        if count:
            log.warning("marked %d job(s) interrupted: their engine stopped while they ran", count)
        return count

    async def listener(self) -> ChangeListener:
        """The change listener, started on first use (desktops use it; scripts need not)."""
        async with self._listener_lock:
            if self._listener is None:
                self._listener = ChangeListener(
                    libpq_conninfo(self.db.url), connect_timeout=self.settings.timeouts.db_connect
                )
                await self._listener.start()
            return self._listener

    async def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        return (await self.listener()).subscribe(callback)

    async def changes(self) -> AsyncIterator[Change]:
        async for change in (await self.listener()).changes():
            yield change
