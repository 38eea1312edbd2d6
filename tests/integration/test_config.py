"""System configuration and fleet settings: typed, validated, versioned."""

from __future__ import annotations

import pytest

from podwarden.engine import Engine
from podwarden.engine.errors import ConflictError, PermissionDenied, ValidationError
from podwarden.engine.security.rbac import Actor


async def test_system_config_roundtrip(engine: Engine, admin: Actor, viewer: Actor) -> None:
    doc, version = await engine.config.get_system_config(viewer)
    assert version == 0 and doc.tailscale.tailnet == "-"
    doc, version = await engine.config.update_system_config(
        admin, {"tailscale": {"tailnet": "example.com", "api_key_secret": "tailscale/api-key"}}
    )
    assert version == 1 and doc.tailscale.tailnet == "example.com"
    doc, version = await engine.config.update_system_config(
        admin, {"tailscale": {"enabled": True}}, expected_version=1
    )
    assert doc.tailscale.tailnet == "example.com" and doc.tailscale.enabled and version == 2
    with pytest.raises(ConflictError):
        await engine.config.update_system_config(admin, {"smtp": {"host": "mail"}}, expected_version=1)


async def test_system_config_rejects_bad_values(engine: Engine, admin: Actor, viewer: Actor) -> None:
    with pytest.raises(ValidationError) as err:
        await engine.config.update_system_config(admin, {"smtp": {"port": 70000}, "bogus": {}})
    assert set(err.value.errors) == {"smtp.port", "bogus"}
    with pytest.raises(PermissionDenied):
        await engine.config.update_system_config(viewer, {"smtp": {"host": "x"}})
    assert (await engine.config.get_system_config(viewer))[1] == 0  # nothing was saved


async def test_fleet_settings(engine: Engine, admin: Actor, operator: Actor) -> None:
    assert (await engine.config.get_settings(operator)).default_image_tag == "latest"
    updated = await engine.config.update_settings(
        admin, {"default_image_tag": "stable", "discovery_interval_s": 60}
    )
    assert updated.default_image_tag == "stable"
    assert (await engine.config.get_settings(operator)).discovery_interval_s == 60
    with pytest.raises(ValidationError, match="Unknown setting"):
        await engine.config.update_settings(admin, {"colour": "blue"})
    with pytest.raises(ValidationError):
        await engine.config.update_settings(admin, {"discovery_interval_s": 1})
    with pytest.raises(PermissionDenied):
        await engine.config.update_settings(operator, {"default_image_tag": "x"})


async def test_stale_settings_save_is_refused(engine: Engine, admin: Actor) -> None:
    loaded = await engine.config.get_settings(admin)
    await engine.config.update_settings(admin, {"default_image_tag": "v2"}, expected=loaded)
    with pytest.raises(ConflictError):
        await engine.config.update_settings(admin, {"default_image_tag": "v3"}, expected=loaded)
    assert (await engine.config.get_settings(admin)).default_image_tag == "v2"


async def test_tailscale_settings_are_validated(engine: Engine, admin: Actor) -> None:
    with pytest.raises(ValidationError) as err:
        await engine.config.update_system_config(
            admin, {"tailscale": {"api_url": "ftp:/x", "tailnet": "a/b"}}
        )
    assert set(err.value.errors) == {"tailscale.api_url", "tailscale.tailnet"}
