"""podwarden.engine: the Qt-free core of PodWarden.

    from podwarden.engine import Engine, Settings

    async with Engine(Settings()) as engine:
        admin = await engine.users.authenticate("alice", "…")
        await engine.secrets.list_secrets(admin)

Nothing is created at import time: the database, the secret box and the
services come to life in ``Engine.__aenter__``.
"""

from podwarden.engine.db.listen import Change
from podwarden.engine.engine import Engine
from podwarden.engine.errors import PodWardenError
from podwarden.engine.security.rbac import Actor
from podwarden.engine.settings import Settings

__all__ = ["Actor", "Change", "Engine", "PodWardenError", "Settings"]
