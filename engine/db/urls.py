"""Database URLs: parse, normalise to psycopg 3, and describe without the password."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from podwarden.engine.errors import ConfigurationError

_ACCEPTED = {"postgres", "postgresql", "postgresql+psycopg"}


def parse_database_url(raw: str) -> URL:
    """Parse a PostgreSQL URL and force the psycopg 3 driver.

    ``postgres://`` and ``postgresql://`` are accepted as users write them.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ConfigurationError(
            "PODWARDEN_DATABASE_URL is not a valid URL; expected e.g. "
            "postgresql://user:password@host:5432/podwarden."
        ) from exc
    if url.drivername not in _ACCEPTED:
        raise ConfigurationError(
            f"PODWARDEN_DATABASE_URL uses '{url.drivername}', but PodWarden needs PostgreSQL "
            "(postgresql://user:password@host:5432/podwarden)."
        )
    if not url.database:
        raise ConfigurationError("PODWARDEN_DATABASE_URL names no database; add /<database> after the host.")
    return url.set(drivername="postgresql+psycopg")


def libpq_conninfo(url: URL) -> str:
    """The same URL as a libpq URI for direct psycopg connections (LISTEN)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def describe_url(url: URL) -> str:
    """Where the database is, for people: no password, socket folders kept."""
    host = url.host or str(url.query.get("host", "local socket"))
    port = f":{url.port}" if url.port else ""
    user = f"{url.username}@" if url.username else ""
    return f"postgresql://{user}{host}{port}/{url.database}"
