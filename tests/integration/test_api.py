"""The HTTP API over real HTTP: uvicorn on 127.0.0.1 (random port), a real PostgreSQL."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.engine import URL

from podwarden.engine import Settings
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.models.access import ApiToken, Role
from podwarden.engine.services.base import now
from tests.conftest import TEST_KEY
from tests.integration.api_server import ADMIN, Served, serve_api
from tests.pg import PgTestServer

OPS = "/api/v1/ops"


@pytest.fixture(scope="module")
def served(pg_server: PgTestServer) -> Iterator[Served]:
    url = pg_server.new_database()
    folder = Path(tempfile.mkdtemp(prefix="podwarden-api-test-"))
    settings = Settings(
        database_url=url.render_as_string(hide_password=False), data_dir=folder / "data", secret_key=TEST_KEY
    )
    try:
        with serve_api(settings) as served:
            yield served
    finally:
        pg_server.drop(url)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as c:
        yield c


def test_health_needs_no_token_and_pings_the_database(client: httpx.Client) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


def test_no_or_bad_credentials_get_401(client: httpx.Client, served: Served) -> None:
    before = served.audit_count()
    for headers in (
        {},
        {"Authorization": "Bearer pwm_" + base64.urlsafe_b64encode(b"x" * 32).decode()},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        r = client.get(f"{OPS}/users.list_users", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"] == "AuthenticationError"
        assert r.headers["www-authenticate"] == "Bearer"
    assert served.audit_count() == before  # nobody to attribute these to


def test_wrong_role_gets_403_and_is_audited(client: httpx.Client, served: Served) -> None:
    before = served.audit_count()
    r = client.post(
        f"{OPS}/users.create_user",
        headers=served.headers(Role.OPERATOR),
        json={"username": "mallory", "password": "pw-123456789", "role": "admin"},
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "PermissionDenied"
    r = client.get(f"{OPS}/tokens.list_tokens", headers=served.headers(Role.VIEWER))
    assert r.status_code == 403
    entries = served.run(lambda: served.tokens.list_audit(ADMIN, limit=2))
    assert served.audit_count() == before + 2
    assert [(e.method, e.path, e.status_code, e.actor) for e in entries] == [
        ("GET", f"{OPS}/tokens.list_tokens", 403, "token:viewer-token"),
        ("POST", f"{OPS}/users.create_user", 403, "token:operator-token"),
    ]
    assert entries[0].token_id is not None
    assert entries[0].duration_ms is not None


def test_expired_and_revoked_tokens_are_rejected(client: httpx.Client, served: Served) -> None:
    revoked = served.run(lambda: served.tokens.create_token(ADMIN, "soon-revoked", Role.ADMIN))
    expired = served.run(lambda: served.tokens.create_token(ADMIN, "soon-expired", Role.ADMIN))
    for issued in (revoked, expired):
        r = client.get(f"{OPS}/users.list_users", headers={"Authorization": f"Bearer {issued.token}"})
        assert r.status_code == 200
    r = client.post(
        f"{OPS}/tokens.revoke_token",
        headers=served.headers(Role.ADMIN),
        json={"token_id": str(revoked.info.id)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None

    async def expire() -> None:
        async with served.engine.context.db.unit_of_work() as uow:
            await uow.session.execute(
                update(ApiToken)
                .where(ApiToken.id == expired.info.id)
                .values(expires_at=now() - timedelta(seconds=1))
            )

    served.run(expire)
    for issued, word in ((revoked, "revoked"), (expired, "expired")):
        r = client.get(f"{OPS}/users.list_users", headers={"Authorization": f"Bearer {issued.token}"})
        assert r.status_code == 401
        assert word in r.json()["message"]


def test_exactly_one_audit_row_per_authenticated_call(client: httpx.Client, served: Served) -> None:
    admin = served.headers(Role.ADMIN)
    calls = [
        ("GET", f"{OPS}/users.list_users", None, 200),
        ("GET", f"{OPS}/jobs.count_by_state", None, 200),
        ("POST", f"{OPS}/users.delete_user", {"user_id": str(uuid.uuid4())}, 404),
        ("POST", f"{OPS}/users.create_user", {"username": 5}, 422),
        ("GET", f"{OPS}/tokens.list_audit?limit=900", None, 422),
        ("GET", "/api/v1/auth/me", None, 200),
        ("GET", "/api/v1/no-such-route", None, 404),
    ]
    for method, path, body, status in calls:
        before = served.audit_count()
        r = client.request(method, path, headers=admin, json=body)
        assert r.status_code == status, (path, r.text)
        # The row is committed before the response is sent: no waiting needed.
        assert served.audit_count() == before + 1, path
        [last] = served.run(lambda: served.tokens.list_audit(ADMIN, limit=1))
        assert (last.method, last.path.split("?")[0], last.status_code) == (
            method,
            path.split("?")[0],
            status,
        )


def test_malformed_json_and_wrong_types_get_422_with_details(client: httpx.Client, served: Served) -> None:
    admin = served.headers(Role.ADMIN) | {"Content-Type": "application/json"}
    r = client.post(f"{OPS}/users.create_user", headers=admin, content=b'{"username": "x",')
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "ValidationError"
    assert body["detail"][0]["type"] == "json_invalid"
    r = client.post(
        f"{OPS}/tokens.create_token",
        headers=admin,
        content=b'{"name": ["no"], "role": "emperor", "expires_in_days": "soon", "extra": 1}',
    )
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {"body.name", "body.role", "body.expires_in_days", "body.extra"} <= set(errors), errors
    r = client.get(f"{OPS}/jobs.get_job", params={"job_id": "not-a-uuid"}, headers=admin)
    assert r.status_code == 422
    assert "query.job_id" in r.json()["errors"]
    r = client.post(
        f"{OPS}/tokens.create_token",
        headers=admin,
        json={"name": "t", "role": "viewer", "expires_in_days": 400},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == {"expires_in_days": "must be 1–365"}


def test_errors_map_to_status_codes(client: httpx.Client, served: Served) -> None:
    admin = served.headers(Role.ADMIN)
    body = {"username": "dup-user", "password": "pw-123456789", "role": "viewer"}
    assert client.post(f"{OPS}/users.create_user", headers=admin, json=body).status_code == 200
    r = client.post(f"{OPS}/users.create_user", headers=admin, json=body)
    assert r.status_code == 409, r.text
    r = client.get(f"{OPS}/jobs.get_job", params={"job_id": str(uuid.uuid4())}, headers=admin)
    assert r.status_code == 404
    assert r.json()["error"] == "NotFoundError"


def test_token_lifecycle_over_http_and_jwt_login(client: httpx.Client, served: Served) -> None:
    admin = served.headers(Role.ADMIN)
    r = client.post(
        f"{OPS}/tokens.create_token", headers=admin, json={"name": "made-over-http", "role": "viewer"}
    )
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["token"].startswith("pwm_")
    listed = client.get(f"{OPS}/tokens.list_tokens", headers=admin).json()
    assert "made-over-http" in {t["name"] for t in listed}
    assert made["token"] not in str(listed)
    assert all("token_hash" not in t for t in listed)
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {made['token']}"}).json()
    assert me == {"kind": "token", "name": "made-over-http", "role": "viewer"}

    body = {"username": "jwt-user", "password": "pw-123456789", "role": "operator"}
    assert client.post(f"{OPS}/users.create_user", headers=admin, json=body).status_code == 200
    r = client.post("/api/v1/auth/login", json={"username": "jwt-user", "password": "wrong"})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "jwt-user", "password": "pw-123456789"})
    assert r.status_code == 200
    access = r.json()["access_token"]
    jwt_headers = {"Authorization": f"Bearer {access}"}
    assert client.get("/api/v1/auth/me", headers=jwt_headers).json() == {
        "kind": "user",
        "name": "jwt-user",
        "role": "operator",
    }
    assert client.get(f"{OPS}/users.list_users", headers=jwt_headers).status_code == 200
    assert client.get(f"{OPS}/tokens.list_tokens", headers=jwt_headers).status_code == 403
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


def test_openapi_document_describes_every_route(client: httpx.Client, served: Served) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    op = doc["paths"][f"{OPS}/users.create_user"]["post"]
    assert op["operationId"] == "users.create_user"
    assert op["x-podwarden-access"] == "mutating"
    assert op["x-podwarden-role"] == "admin"
    assert doc["paths"][f"{OPS}/users.list_users"]["get"]["x-podwarden-access"] == "read"
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


def test_metrics(client: httpx.Client) -> None:
    client.get("/api/v1/health")
    text = client.get("/metrics").text
    assert 'podwarden_api_requests_total{method="GET",route="/api/v1/health",status="200"}' in text
    assert "podwarden_api_request_duration_seconds_bucket" in text
    assert 'podwarden_jobs{state="running"} 0.0' in text


def _schemathesis() -> str | None:
    exe = Path(sys.executable).with_name("schemathesis")
    return str(exe) if exe.exists() else shutil.which("schemathesis")


# Services whose operations reach outside systems (SSH hosts, clusters, Tailscale) are
# fuzzed only with a viewer token, which the role check stops before any I/O.
FUZZ_AS_ADMIN = r"^/api/v1/(ops/(users|tokens|secrets|jobs|config)\.|auth/|health)"
# Server errors schemathesis found outside the API layer, left out until fixed there:
# jobs.list_jobs: limit/offset beyond bigint → DataError (500); jobs.read_output: offset
# beyond int4 → "function substr(text, bigint) does not exist" (500).
KNOWN_SERVICE_BUGS: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("role", "include"), [(Role.VIEWER, None), (Role.ADMIN, FUZZ_AS_ADMIN)], ids=["viewer", "admin"]
)
def test_schemathesis_finds_no_server_errors(served: Served, role: Role, include: str | None) -> None:
    exe = _schemathesis()
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e .[test])")
    args = [
        exe,
        "run",
        f"{served.url}/api/v1/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "5",
        "--phases",
        "examples,fuzzing",
        "--header",
        f"Authorization: Bearer {served.bearer[role]}",
        "--no-color",
        "--seed",
        "1",
    ]
    if include:
        args += ["--include-path-regex", include]
    for operation_id in KNOWN_SERVICE_BUGS:
        args += ["--exclude-operation-id", operation_id]
    env = dict(os.environ)
    started = time.monotonic()
    result = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert time.monotonic() - started < 240


def test_database_down_gives_503_and_the_service_recovers(
    settings: Settings, pg_server: PgTestServer, database_url: URL
) -> None:
    name = database_url.database

    def admin_sql(*statements: str) -> None:
        with psycopg.connect(libpq_conninfo(pg_server.admin_url), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    with serve_api(settings) as served, httpx.Client(base_url=served.url, timeout=30) as client:
        viewer = served.headers(Role.VIEWER)
        assert client.get(f"{OPS}/users.list_users", headers=viewer).status_code == 200
        admin_sql(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",  # noqa: S608
        )
        try:
            for path, headers in ((f"{OPS}/users.list_users", viewer), ("/api/v1/health", {})):
                r = client.get(path, headers=headers)
                assert r.status_code == 503, (path, r.text)
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["error"] == "TemporaryServiceError"
        finally:
            admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        deadline = time.monotonic() + 30
        while client.get("/api/v1/health").status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover within 30 s"
            time.sleep(0.2)
        assert client.get(f"{OPS}/users.list_users", headers=viewer).status_code == 200
