from __future__ import annotations

import pytest

from podwarden.engine.db.database import encode_notices
from podwarden.engine.db.listen import Change, decode_notice
from podwarden.engine.db.urls import describe_url, libpq_conninfo, parse_database_url
from podwarden.engine.errors import (
    ConfigurationError,
    ExternalServiceError,
    PermanentServiceError,
    PodWardenError,
    SchemaTooNewError,
    TemporaryServiceError,
)


def test_urls_are_normalised_and_described_without_password() -> None:
    url = parse_database_url("postgres://pw:s3cret@db.example:5433/podwarden")
    assert url.drivername == "postgresql+psycopg"
    assert describe_url(url) == "postgresql://pw@db.example:5433/podwarden"
    assert "s3cret" not in describe_url(url)
    assert libpq_conninfo(url).startswith("postgresql://pw:s3cret@db.example:5433/")
    socket = parse_database_url("postgresql://postgres@/postgres?host=/tmp/pg")
    assert describe_url(socket) == "postgresql://postgres@/tmp/pg/postgres"


@pytest.mark.parametrize("bad", ["", "nonsense", "sqlite:///x.db", "postgresql://h"])
def test_bad_urls(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_database_url(bad)


def test_error_tree() -> None:
    assert issubclass(SchemaTooNewError, ConfigurationError)
    assert TemporaryServiceError("ssh", "x").temporary and not PermanentServiceError("ssh", "x").temporary
    for cls in (TemporaryServiceError, PermanentServiceError):
        assert issubclass(cls, ExternalServiceError) and issubclass(cls, PodWardenError)
    assert str(TemporaryServiceError("tailscale", "Rate limited.", retry_after=3)) == "Rate limited."


def test_notice_round_trip() -> None:
    (payload,) = encode_notices({"hosts": {"a", "b"}})
    assert decode_notice(payload) == Change("hosts", ("a", "b"))
    assert decode_notice("not json") is None
    assert decode_notice('{"ids": []}') is None
