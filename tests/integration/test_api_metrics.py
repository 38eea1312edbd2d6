"""``/metrics`` of the real ``podwarden-engine run`` process, read over HTTP and parsed.

The engine's loops tick once at start: the consistency audit succeeds; Tailscale
discovery is pointed at a local Tailscale API server that answers 500, so its tick
fails. Two jobs left ``queued`` by an engine that has stopped are marked
``interrupted`` when the service opens. ``/metrics`` must show all of it: loop
ticks, failures and tick durations by loop, job counts by state, API latency.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Actor
from tests.conftest import TEST_KEY
from tests.fakes.tailscale_api import FAKE_TAILNET, FakeTailscaleAPI, make_device

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def failing_tailscale() -> Iterator[FakeTailscaleAPI]:
    with FakeTailscaleAPI([make_device(i) for i in range(3)]) as fake:
        fake.fail_next(500, count=1000, endpoint="devices")
        yield fake


async def _prepare(settings: Settings, fake: FakeTailscaleAPI) -> str:
    async with Engine(settings) as engine:
        system = Actor.system()
        await engine.secrets.create_secret(system, "tailscale/api-key", fake.api_key, kind="tailscale")
        await engine.config.update_system_config(
            system,
            {
                "tailscale": {
                    "enabled": True,
                    "api_url": fake.base_url,
                    "tailnet": FAKE_TAILNET,
                    "auth": "api_key",
                    "api_key_secret": "tailscale/api-key",
                }
            },
        )
        for n in range(2):
            await engine.jobs.create(system, "test", f"left behind {n}")
        return (await engine.tokens.create_token(system, "metrics-test", Role.VIEWER)).token


def _scrape(base: str) -> tuple[str, Samples]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_report_loops_jobs_and_latency(
    database_url: URL, tmp_path: Path, failing_tailscale: FakeTailscaleAPI
) -> None:
    env = {
        **os.environ,
        "PODWARDEN_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PODWARDEN_SECRET_KEY": TEST_KEY,
        "PODWARDEN_DATA_DIR": str(tmp_path),
        "PODWARDEN_API_PORT": "0",
    }
    settings = Settings(database_url=env["PODWARDEN_DATABASE_URL"], secret_key=TEST_KEY, data_dir=tmp_path)
    token = asyncio.run(_prepare(settings, failing_tailscale))

    proc = subprocess.Popen(
        [sys.executable, "-m", "podwarden.app.headless", "run"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "PodWarden engine running" in proc.stdout.readline()
        api_line = proc.stdout.readline()
        assert api_line.startswith("API on http://127.0.0.1:"), api_line
        base = api_line.split()[2].removesuffix("/api/v1")

        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/health").status_code == 200
        for _ in range(3):
            r = httpx.get(f"{base}/api/v1/ops/hosts.count_by_state", headers=headers)
            assert r.status_code == 200, r.text
        assert httpx.get(f"{base}/api/v1/ops/hosts.count_by_state").status_code == 401

        deadline = time.monotonic() + 90
        while True:
            text, samples = _scrape(base)
            audit_ticks = _value(samples, "podwarden_loop_ticks_total", loop="audit") or 0
            discovery_failures = _value(samples, "podwarden_loop_failures_total", loop="discovery") or 0
            if audit_ticks >= 1 and discovery_failures >= 1:
                break
            assert time.monotonic() < deadline, f"the loops did not tick:\n{text}"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    # Loops, by name: this engine leads both (it is alone on the database).
    for loop in ("audit", "discovery"):
        assert _value(samples, "podwarden_loop_leading", loop=loop) == 1.0
        assert (_value(samples, "podwarden_loop_ticks_total", loop=loop) or 0) >= 1
        duration = _value(samples, "podwarden_loop_last_tick_duration_seconds", loop=loop)
        assert duration is not None and duration > 0
        assert (
            _value(samples, "podwarden_loop_last_tick_timestamp_seconds", loop=loop) or 0
        ) > time.time() - 600
        assert _value(samples, "podwarden_loop_interval_seconds", loop=loop) in (300.0, 900.0)
    assert _value(samples, "podwarden_loop_failures_total", loop="audit") == 0
    assert (_value(samples, "podwarden_loop_consecutive_failures", loop="discovery") or 0) >= 1
    assert failing_tailscale.device_requests >= 1  # the failure came from a real call
    assert "loop discovery failed" in err  # and was logged with its reason

    # Jobs by state: the two left queued by a stopped engine are now interrupted.
    assert _value(samples, "podwarden_jobs", state="interrupted") == 2
    assert _value(samples, "podwarden_jobs", state="running") == 0
    assert _value(samples, "podwarden_jobs", state="queued") == 0

    # API latency, by route template (authenticated, refused and public calls alike).
    route = "/api/v1/ops/hosts.count_by_state"
    assert _value(samples, "podwarden_api_requests_total", method="GET", route=route, status="200") == 3
    refused = [
        v
        for (name, labels), v in samples.items()
        if name == "podwarden_api_requests_total" and ("status", "401") in labels
    ]
    assert sum(refused) == 1
    count = _value(samples, "podwarden_api_request_duration_seconds_count", method="GET", route=route)
    total = _value(samples, "podwarden_api_request_duration_seconds_sum", method="GET", route=route)
    assert count is not None and count >= 3 and total is not None and total > 0
    assert (
        _value(samples, "podwarden_api_request_duration_seconds_count", method="GET", route="/api/v1/health")
        or 0
    ) >= 1


async def test_concurrent_calls_each_get_an_audit_row_in_shared_writes(engine: Engine) -> None:
    """50 calls at once: 50 audit rows, each committed before its response, in fewer writes."""
    from podwarden.engine.api import ApiServer, create_app
    from podwarden.engine.api.audit_log import AuditWriter

    app = create_app(engine, with_mcp=False)
    writer = app.state.audit_writer
    assert isinstance(writer, AuditWriter)
    system = Actor.system()
    issued = await engine.tokens.create_token(system, "audit-burst", Role.VIEWER)
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with ApiServer(app, "127.0.0.1", 0) as server:
        clients = [httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) for _ in range(50)]
        try:
            calls = [c.get("/api/v1/ops/hosts.count_by_state") for c in clients]
            responses = await asyncio.gather(*calls)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert [r.status_code for r in responses] == [200] * 50
        # Every response was sent after its row committed: all 50 are there now.
        rows = await engine.tokens.list_audit(system, token_id=issued.info.id, limit=500)
    assert len(rows) == 50
    assert {(r.method, r.path, r.status_code) for r in rows} == {
        ("GET", "/api/v1/ops/hosts.count_by_state", 200)
    }
    assert writer.rows == 50
    assert writer.batches < 50, "concurrent calls should share audit writes"
