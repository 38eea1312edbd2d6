"""Prometheus metrics of one API app (its own registry, so several apps can live in one process).

- ``podwarden_api_requests_total`` / ``podwarden_api_request_duration_seconds``: every
  HTTP request, by method, route template (and status);
- ``podwarden_jobs{state}``: jobs in the database by state (read at each scrape);
- ``podwarden_mcp_tool_calls_total``: MCP tool calls by tool and outcome;
- ``podwarden_loop_*{loop}``: the periodic loops of this engine (ticks, failures,
  consecutive failures, last tick duration and time, interval, whether this engine
  leads the loop), read from :meth:`LoopRunner.stats` at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from podwarden.engine.loops.runner import LoopStats
from podwarden.engine.models.jobs import JobState

CONTENT_TYPE = CONTENT_TYPE_LATEST

LoopStatsSource = Callable[[], Mapping[str, LoopStats]]

# Request latency buckets (seconds): finer than the default below 100 ms.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopCollector(Collector):
    """Reads the loop runner's counters at scrape time (no copies to keep in step)."""

    def __init__(self) -> None:
        self.source: LoopStatsSource | None = None

    def collect(self) -> Iterable[Metric]:
        stats = list(self.source().values()) if self.source is not None else []
        label = ["loop"]
        ticks = CounterMetricFamily(
            "podwarden_loop_ticks", "Ticks this engine ran, by loop (failed ones included).", labels=label
        )
        failures = CounterMetricFamily(
            "podwarden_loop_failures", "Ticks that failed in this engine, by loop.", labels=label
        )
        streak = GaugeMetricFamily(
            "podwarden_loop_consecutive_failures", "Failed ticks since the last success.", labels=label
        )
        duration = GaugeMetricFamily(
            "podwarden_loop_last_tick_duration_seconds", "How long the last tick took.", labels=label
        )
        last_at = GaugeMetricFamily(
            "podwarden_loop_last_tick_timestamp_seconds",
            "When the last tick ended (Unix time).",
            labels=label,
        )
        interval = GaugeMetricFamily("podwarden_loop_interval_seconds", "The loop's interval.", labels=label)
        leading = GaugeMetricFamily(
            "podwarden_loop_leading", "1 when this engine leads the loop (runs its ticks).", labels=label
        )
        for s in stats:
            ticks.add_metric([s.name], s.ticks)
            failures.add_metric([s.name], s.failures)
            streak.add_metric([s.name], s.consecutive_failures)
            leading.add_metric([s.name], 1.0 if s.leading else 0.0)
            if s.last_duration_s is not None:
                duration.add_metric([s.name], s.last_duration_s)
            if s.last_tick_at is not None:
                last_at.add_metric([s.name], s.last_tick_at.timestamp())
            if s.interval_s is not None:
                interval.add_metric([s.name], s.interval_s)
        return [ticks, failures, streak, duration, last_at, interval, leading]


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "podwarden_api_requests",
            "HTTP requests served, by route template, method and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "podwarden_api_request_duration_seconds",
            "Time to serve an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Gauge(
            "podwarden_jobs", "Jobs in the database by state.", ["state"], registry=self.registry
        )
        self.tool_calls = Counter(
            "podwarden_mcp_tool_calls",
            "MCP tool calls, by tool and outcome.",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.loops = LoopCollector()
        self.registry.register(self.loops)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_jobs(self, counts: Mapping[JobState, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state.value).set(count)

    def watch_loops(self, source: LoopStatsSource | None) -> None:
        """Report these loops' counters (e.g. ``runner.stats``) from now on."""
        self.loops.source = source

    def render(self) -> bytes:
        return generate_latest(self.registry)
