"""Where the master key comes from: argument/env, key file, else the OS keyring.

Order: ``Settings.secret_key`` (``PODWARDEN_SECRET_KEY``), then
``Settings.secret_key_file`` (``PODWARDEN_SECRET_KEY_FILE``), then the OS keyring
(service ``podwarden``, entry ``master-key:<data folder or database>``). On a
desktop's first run the keyring entry is created. A machine with no keyring
backend (a server) must use the variable or the file: we say so rather than
invent a key nobody can find again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from podwarden.engine.errors import ConfigurationError
from podwarden.engine.security.crypto import decode_key, generate_key
from podwarden.engine.settings import Settings

log = logging.getLogger(__name__)


def keyring_entry(settings: Settings) -> str:
    if settings.database_url is not None:
        from podwarden.engine.db.urls import describe_url, parse_database_url

        where = describe_url(parse_database_url(settings.database_url.get_secret_value()))
    else:
        where = str(settings.data_dir)
    return f"master-key:{where}"


def load_master_key(settings: Settings, *, create: bool) -> bytes:
    """Return the 32-byte master key. ``create``: make one in the keyring if absent."""
    if settings.secret_key is not None:
        return decode_key(settings.secret_key.get_secret_value(), source="PODWARDEN_SECRET_KEY")
    if settings.secret_key_file is not None:
        return decode_key(_read_key_file(settings.secret_key_file), source=str(settings.secret_key_file))
    import keyring  # only here: ~0.15 s to import, and servers configure the key instead
    import keyring.errors

    entry = keyring_entry(settings)
    try:
        stored = keyring.get_password(settings.keyring_service, entry)
        if stored is None:
            if not create:
                raise ConfigurationError(
                    "No secret key is configured and the OS keyring holds none for this database; "
                    "set PODWARDEN_SECRET_KEY_FILE to the key file."
                )
            stored = generate_key()
            keyring.set_password(settings.keyring_service, entry, stored)
            log.info("created a new master key in the OS keyring (%s)", entry)
    except keyring.errors.KeyringError as exc:
        raise ConfigurationError(
            "No secret key is configured and no OS keyring is available here; set PODWARDEN_SECRET_KEY_FILE "
            "to a file holding the key (create one with `podwarden-engine generate-key`)."
        ) from exc
    return decode_key(stored, source="the OS keyring")


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"The secret key file {path} does not exist; create it with `podwarden-engine generate-key`."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"The secret key file {path} cannot be read: {exc.__class__.__name__}."
        ) from exc
