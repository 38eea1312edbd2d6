"""Prometheus metrics of one API app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from podwarden.engine.models.jobs import JobState

CONTENT_TYPE = CONTENT_TYPE_LATEST


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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_jobs(self, counts: dict[JobState, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state.value).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
