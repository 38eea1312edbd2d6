"""System configuration (the ``system_config`` singleton) and fleet settings (``settings``).

Both are typed documents validated with pydantic; credentials are never stored
here, only the *names* of secrets that hold them.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from podwarden.engine.errors import ConflictError, ValidationError
from podwarden.engine.models.access import FleetSetting, SystemConfig
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, now


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpConfig(_Section):
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    username: str = ""
    password_secret: str | None = None
    sender: str = ""
    starttls: bool = True


class OidcConfig(_Section):
    enabled: bool = False
    issuer_url: str = ""
    client_id: str = ""
    client_secret_secret: str | None = None
    default_role: Literal["viewer", "operator", "admin"] = "viewer"


class HubConfig(_Section):
    url: str = "https://hub.podwarden.com"
    api_key_secret: str | None = None
    enabled: bool = False


class TailscaleConfig(_Section):
    tailnet: str = Field("-", min_length=1, max_length=253, pattern=r"^[^/\s?#]+$")
    api_url: str = Field("https://api.tailscale.com", pattern=r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$")
    auth: Literal["api_key", "oauth"] = "api_key"
    api_key_secret: str | None = None
    oauth_client_id: str = ""
    oauth_client_secret_secret: str | None = None
    enabled: bool = False


class RegistryConfig(_Section):
    url: str = ""
    default_tag: str = "latest"
    credentials_secret: str | None = None


class McpConfig(_Section):
    allow_mutating: bool = False
    allow_destructive: bool = False


class SystemConfigDoc(_Section):
    smtp: SmtpConfig = SmtpConfig()
    oidc: OidcConfig = OidcConfig()
    hub: HubConfig = HubConfig()
    tailscale: TailscaleConfig = TailscaleConfig()
    registry: RegistryConfig = RegistryConfig()
    mcp: McpConfig = McpConfig()


class FleetSettings(_Section):
    """Named fleet settings, one row each in ``settings``."""

    default_registry_url: str = ""
    default_image_tag: str = Field("latest", min_length=1, max_length=128)
    discovery_interval_s: float = Field(300.0, ge=10)
    audit_interval_s: float = Field(900.0, ge=10)
    ddns_interval_s: float = Field(300.0, ge=10)


def _validation_error(what: str, exc: pydantic.ValidationError) -> ValidationError:
    errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
    summary = "; ".join(f"{k}: {v}" for k, v in errors.items())
    return ValidationError(f"The {what} is invalid: {summary}.", errors)


class ConfigService(Service):
    @operation(Permissions.READ, Access.READ)
    async def get_system_config(self, actor: Actor) -> tuple[SystemConfigDoc, int]:
        """The system configuration and its version (for a later save)."""
        async with self.db.session() as session:
            row = await session.get(SystemConfig, 1)
            if row is None:
                return SystemConfigDoc(), 0
            return SystemConfigDoc.model_validate(row.document), row.version

    @operation(Permissions.SETTINGS_MANAGE)
    async def update_system_config(
        self, actor: Actor, changes: dict[str, Any], *, expected_version: int | None = None
    ) -> tuple[SystemConfigDoc, int]:
        """Change sections of the system configuration (unknown keys are errors)."""
        async with self.db.unit_of_work() as uow:
            row = await uow.session.get(SystemConfig, 1, with_for_update=True)
            current = {} if row is None else row.document
            current_version = 0 if row is None else row.version
            if expected_version is not None and current_version != expected_version:
                raise ConflictError(
                    "The system configuration was changed by someone else; reload it and try again."
                )
            merged = {**current}
            for section, values in changes.items():
                if isinstance(values, dict) and isinstance(current.get(section), dict):
                    merged[section] = {**current[section], **values}
                else:
                    merged[section] = values
            try:
                doc = SystemConfigDoc.model_validate(merged)
            except pydantic.ValidationError as exc:
                raise _validation_error("system configuration", exc) from exc
            data = doc.model_dump(mode="json")
            if row is None:
                row = SystemConfig(id=1, document=data, updated_at=now())
                uow.session.add(row)
            else:
                row.document, row.updated_at = data, now()
            await uow.flush()
            return doc, row.version

    @operation(Permissions.READ, Access.READ)
    async def get_settings(self, actor: Actor) -> FleetSettings:
        """Fleet settings (registry defaults, loop intervals, artifact folder)."""
        return await self.settings()

    @operation(Permissions.SETTINGS_MANAGE)
    async def update_settings(
        self, actor: Actor, changes: dict[str, Any], *, expected: FleetSettings | None = None
    ) -> FleetSettings:
        """Change fleet settings. ``expected``: the settings the caller edited; if someone
        changed them since, nothing is saved and ConflictError is raised."""
        unknown = set(changes) - set(FleetSettings.model_fields)
        if unknown:
            raise ValidationError(
                f"Unknown setting(s): {', '.join(sorted(unknown))}.", {k: "unknown setting" for k in unknown}
            )
        async with self.db.unit_of_work() as uow:
            rows = {
                r.key: r
                for r in (await uow.session.execute(select(FleetSetting).with_for_update())).scalars()
            }
            merged = {k: r.value.get("v") for k, r in rows.items() if k in FleetSettings.model_fields}
            if expected is not None and FleetSettings.model_validate(merged) != expected:
                raise ConflictError("The settings were changed by someone else; reload them and try again.")
            merged.update(changes)
            try:
                doc = FleetSettings.model_validate(merged)
            except pydantic.ValidationError as exc:
                raise _validation_error("settings", exc) from exc
            for key in changes:
                value = {"v": getattr(doc, key)}
                if key in rows:
                    rows[key].value, rows[key].updated_at = value, now()
                else:
                    uow.session.add(FleetSetting(key=key, value=value, updated_at=now()))
            return doc

    async def settings(self) -> FleetSettings:
        """Fleet settings for other services (no role check: reading defaults)."""
        async with self.db.session() as session:
            rows = (await session.execute(select(FleetSetting))).scalars()
            data = {r.key: r.value.get("v") for r in rows if r.key in FleetSettings.model_fields}
        return FleetSettings.model_validate(data)
