"""podwarden-engine from the outside: real processes, real database, one-sentence errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy.engine import URL

from tests.conftest import TEST_KEY
from tests.pg import PgTestServer


def _run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podwarden.app.headless", *args],
        env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _env(url: URL, tmp_path) -> dict[str, str]:
    return {
        "PODWARDEN_DATABASE_URL": url.render_as_string(hide_password=False),
        "PODWARDEN_SECRET_KEY": TEST_KEY,
        "PODWARDEN_DATA_DIR": str(tmp_path),
    }


def test_migrate_then_create_admin(pg_server: PgTestServer, tmp_path) -> None:
    env = _env(pg_server.new_empty_database(), tmp_path)
    result = _run("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery\n")
    result = _run("create-admin", "alice", "--password-file", str(pw), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Created admin alice."
    again = _run("create-admin", "bob", env={**env, "PODWARDEN_ADMIN_PASSWORD": "another password"})
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "podwarden-engine: PodWarden already has users; ask an admin to create your account."
    )


def test_create_admin_without_a_password_source(database_url: URL, tmp_path) -> None:
    env = {**_env(database_url, tmp_path), "PODWARDEN_ADMIN_PASSWORD": ""}
    result = _run("create-admin", "alice", env=env, stdin="")
    assert result.returncode == 1
    assert "No password given" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected", "code"),
    [
        ({"PODWARDEN_DATABASE_URL": "postgresql://x@127.0.0.1:1/db", "PODWARDEN_TIMEOUTS__DB_CONNECT": "2"},
         "Cannot reach PostgreSQL at postgresql://x@127.0.0.1:1/db", 1),
        ({"PODWARDEN_DATABASE_URL": "::not a url::"}, "PODWARDEN_DATABASE_URL is not a valid URL", 2),
        ({"PODWARDEN_SECRET_KEY": "too-short"}, "is not 32 bytes of URL-safe base64", 2),
        ({"PODWARDEN_SECRET_KEY_FILE": "/nonexistent/key"}, "The secret key file /nonexistent/key does not exist", 2),
        ({"PODWARDEN_TIMEOUTS__DB_CONNECT": "-1"}, "The PODWARDEN_* settings are invalid", 1),
    ],
)  # fmt: skip
def test_bad_configuration_is_one_sentence(database_url: URL, tmp_path, env, expected, code) -> None:
    base = _env(database_url, tmp_path)
    if "PODWARDEN_SECRET_KEY_FILE" in env:
        base.pop("PODWARDEN_SECRET_KEY")
    result = _run("info", env={**base, **env})
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("podwarden-engine: ") and expected in lines[0], lines
    assert "Traceback" not in result.stderr


def test_wrong_key_is_one_sentence(database_url: URL, tmp_path) -> None:
    env = _env(database_url, tmp_path)
    assert _run("info", env=env).returncode == 0  # stores the key check
    other = {**env, "PODWARDEN_SECRET_KEY": "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg="}
    result = _run("info", env=other)
    assert result.returncode == 2
    assert "The secret key does not match" in result.stderr and "Traceback" not in result.stderr


def test_generate_key_round_trips(tmp_path) -> None:
    result = _run("generate-key", env={})
    from podwarden.engine.security.crypto import decode_key

    assert len(decode_key(result.stdout, source="test")) == 32


def test_run_stops_cleanly_on_sigterm(database_url: URL, tmp_path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "podwarden.app.headless", "run"],
        env={**os.environ, **_env(database_url, tmp_path), "PODWARDEN_API_PORT": "0"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "PodWarden engine running on shared postgresql://" in line
        assert "API on http://127.0.0.1:" in proc.stdout.readline()
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "PodWarden engine stopped." in out


def test_corrupt_data_folder_is_one_sentence(tmp_path) -> None:
    data = tmp_path / "data"
    (data / "postgres").mkdir(parents=True)
    (data / "postgres" / "notes.txt").write_text("not a database")
    env = {"PODWARDEN_DATA_DIR": str(data), "PODWARDEN_SECRET_KEY": TEST_KEY, "PODWARDEN_DATABASE_URL": ""}
    result = _run("info", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(data / "postgres") in lines[0], lines
    assert (data / "postgres" / "notes.txt").read_text() == "not a database"  # nothing lost


def test_importing_the_engine_creates_nothing(tmp_path) -> None:
    code = (
        "import threading, podwarden.engine, podwarden.engine.services, podwarden.engine.models;"
        "print(threading.active_count())"
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1"  # no threads started
    assert list(tmp_path.iterdir()) == []  # no data folder, no files


def test_tokens_create_list_revoke(database_url: URL, tmp_path) -> None:
    env = _env(database_url, tmp_path)
    created = _run("tokens", "create", "ci-bot", "--role", "operator", "--days", "30", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("pwm_") and len(token) == 4 + 43
    listed = _run("tokens", "list", env=env)
    assert "ci-bot" in listed.stdout and "operator" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    revoked = _run("tokens", "revoke", "ci-bot", env=env)
    assert revoked.returncode == 0 and "Revoked token ci-bot." in revoked.stdout
    assert "revoked" in _run("tokens", "list", env=env).stdout
