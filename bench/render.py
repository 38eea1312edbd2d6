"""Render + validate 1,000 varied stacks: per-stack time of rendering alone and with validation.

    python bench/render.py [--count 1000] [--seed 7] [--version 1.37] [--skip-stock]

The stacks are generated from a seeded random source: every kind (deployment,
daemonset, job), 0–4 ports, 0–5 volumes of every type (emptyDir, hostPath, pvc,
nfs, s3, configMap, secret), 0–3 config slots, env schema and fixed env, GPUs,
host networking, registry credentials and compose-style aliases. Each is turned
into a validated ``DeploymentSpec`` (timed apart), then:

- render: ``render_deployment(spec)``;
- render + validate (stock): and ``kubernetes_validate.validate(obj, version,
  strict=True)`` for every object, as the tests call it (the library reads and
  parses its JSON schema files on every call);
- render + validate (parsed schemas kept): the same validation with the library's
  schema-file loader memoised, to show what the validation itself costs.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kubernetes_validate  # noqa: E402
import kubernetes_validate.utils  # noqa: E402

from podwarden.engine.render import KUBERNETES_VERSION, render_deployment  # noqa: E402
from podwarden.engine.schemas.deployments import DeploymentSpec  # noqa: E402
from podwarden.engine.schemas.stacks import validate_stack  # noqa: E402

IMAGES = ["nginx", "library/redis", "postgres", "ghcr.io/acme/api", "grafana/grafana", "pytorch/pytorch"]
VOLUME_TYPES = ["emptyDir", "hostPath", "pvc", "nfs", "s3", "configMap", "secret"]


def make_stack(rng: random.Random, index: int) -> dict[str, Any]:
    kind = rng.choice(["deployment", "deployment", "deployment", "daemonset", "job"])
    ports = [
        {
            "name": f"p{n}",
            "container_port": 1000 + 10 * n + rng.randrange(10),
            "protocol": rng.choice(["TCP", "UDP"]),
        }
        for n in range(rng.randrange(5))
    ]
    volumes: list[dict[str, Any]] = []
    for n in range(rng.randrange(6)):
        kind_of = rng.choice(VOLUME_TYPES)
        volume: dict[str, Any] = {"type": kind_of, "name": f"vol{n}"}
        if kind_of != "s3":
            volume["mount_path"] = f"/mnt/v{n}"
        if kind_of == "hostPath":
            volume |= {"path": f"/srv/data/{index}/{n}", "read_only": rng.random() < 0.3}
        elif kind_of == "pvc":
            volume |= {
                "size": rng.choice(["1Gi", "10Gi", "500Mi"]),
                "access_mode": rng.choice(["RWO", "RWX", "ROX"]),
                "retain_on_undeploy": rng.random() < 0.7,
            }
            if rng.random() < 0.5:
                volume["storage_class"] = "local-path"
        elif kind_of == "nfs":
            volume |= {"storage_connection": "nas", "sub_path": f"apps/{index}"}
        elif kind_of == "s3":
            volume |= {"storage_connection": "minio", "env_prefix": f"S3V{n}_"}
        elif kind_of in ("configMap", "secret"):
            volume["source"] = f"shared-{n}"
        volumes.append(volume)
    slots = [
        {
            "name": f"cfg{n}",
            "key": f"file{n}.conf",
            "mount_path": f"/etc/app/file{n}.conf",
            "default_content": "key = value\n" * rng.randrange(1, 20),
            "required": rng.random() < 0.3,
        }
        for n in range(rng.randrange(4))
    ]
    gpus = rng.choice([0, 0, 0, 1, 2])
    host_network = kind == "daemonset" and rng.random() < 0.5
    return {
        "name": f"app-{index}",
        "kind": kind,
        "image": rng.choice(IMAGES),
        "image_tag": rng.choice([None, "1.2.3", "latest", "16-alpine"]),
        "registry_secret": "private" if rng.random() < 0.2 else None,
        "command": ["/bin/sh", "-c"] if rng.random() < 0.3 else [],
        "args": [f"--flag-{n}=$(VAR_{n})" for n in range(rng.randrange(4))],
        "ports": ports,
        "resources": {
            "cpu_request": rng.choice([None, "100m", "500m", "2"]),
            "memory_limit": rng.choice([None, "256Mi", "4Gi"]),
            "gpu_count": gpus,
            "vram_request_mb": 8000 if gpus else None,
        },
        "env_schema": [
            {"name": f"VAR_{n}", "secret": rng.random() < 0.4, "default_value": f"default-{n}"}
            for n in range(rng.randrange(6))
        ],
        "env": [
            {"name": f"FIXED_{n}", "value": f"http://svc{n}.{{{{namespace}}}}.svc.cluster.local"}
            for n in range(rng.randrange(6))
        ],
        "config_slots": slots,
        "volumes": volumes,
        "node_selector": {"podwarden.io/pool": "a"} if rng.random() < 0.3 else {},
        "host_network": host_network,
        "dns_policy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
    }


def make_spec(rng: random.Random, index: int) -> DeploymentSpec:
    stack = validate_stack(make_stack(rng, index))
    data: dict[str, Any] = {
        "deployment_id": uuid.UUID(int=index + 1),
        "stack_id": uuid.UUID(int=10_000 + index),
        "name": stack.name,
        "namespace": f"ns-{index % 20}",
        "stack": stack,
        "replicas": rng.randrange(1, 4),
        "secret_values": {item.name: f"secret-{index}" for item in stack.env_schema if item.secret},
        "default_image_tag": "stable",
        "storage_connections": [
            {"name": "nas", "kind": "nfs", "server": "10.0.0.5", "path": "/export", "network_types": ["lan"]},
            {
                "name": "minio",
                "kind": "s3",
                "endpoint": "http://10.0.0.6:9000",
                "bucket": "data",
                "access_key_id": "AK",
                "secret_access_key": "SK",
            },
        ],
        "service_aliases": [f"alias-{index}"] if rng.random() < 0.3 else [],
    }
    if stack.registry_secret and rng.random() < 0.5:
        data["registry_credentials"] = {"server": "registry.local:5000", "username": "u", "password": "p"}
    if rng.random() < 0.2:
        data["placement"] = {"hostname": f"node-{index % 5}"}
    return DeploymentSpec.model_validate(data)


def describe(label: str, seconds: list[float], cpu: float | None = None) -> None:
    ordered = sorted(seconds)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    mean = statistics.mean(seconds) * 1000
    median = statistics.median(seconds) * 1000
    print(
        f"{label:<46} total {sum(seconds):8.2f} s | per stack mean {mean:7.2f} ms, "
        f"median {median:7.2f} ms, p95 {p95 * 1000:7.2f} ms, max {ordered[-1] * 1000:7.2f} ms"
        + (f" | CPU {cpu / len(seconds) * 1000:7.2f} ms/stack" if cpu is not None else "")
    )


def render_and_validate(specs: list[DeploymentSpec], version: str) -> tuple[list[float], float]:
    """Wall time per stack, and the process CPU time of the whole run."""
    timings: list[float] = []
    cpu_started = time.process_time()
    for spec in specs:
        started = time.perf_counter()
        for manifest in render_deployment(spec):
            kubernetes_validate.validate(manifest, version, strict=True)
        timings.append(time.perf_counter() - started)
    return timings, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--version", default=KUBERNETES_VERSION)
    parser.add_argument("--skip-stock", action="store_true", help="skip the slow stock validation run")
    args = parser.parse_args()

    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(
        f"Python {platform.python_version()} on {platform.machine()}, kubernetes-validate "
        f"{kubernetes_validate.__version__}, Kubernetes {args.version}, {args.count} stacks, seed {args.seed}"
    )
    rng = random.Random(args.seed)
    started = time.perf_counter()
    specs = [make_spec(rng, index) for index in range(args.count)]
    build = time.perf_counter() - started

    render_times: list[float] = []
    cpu_started = time.process_time()
    objects = 0
    kinds: dict[str, int] = {}
    for spec in specs:
        began = time.perf_counter()
        manifests = render_deployment(spec)
        render_times.append(time.perf_counter() - began)
        objects += len(manifests)
        for manifest in manifests:
            kinds[manifest["kind"]] = kinds.get(manifest["kind"], 0) + 1
    render_cpu = time.process_time() - cpu_started
    print(
        f"objects: {objects} ({objects / len(specs):.1f} per stack): "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    )
    per_stack = build / len(specs) * 1000
    print(
        f"{'build + validate DeploymentSpec':<46} total {build:8.2f} s | per stack mean {per_stack:7.2f} ms"
    )
    describe("render", render_times, render_cpu)

    if not args.skip_stock:
        describe("render + validate (stock kubernetes-validate)", *render_and_validate(specs, args.version))

    loader = kubernetes_validate.utils.schema_contents
    kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(loader)
    try:
        render_and_validate(specs[:5], args.version)  # load each schema once
        describe("render + validate (parsed schemas kept)", *render_and_validate(specs, args.version))
    finally:
        kubernetes_validate.utils.schema_contents = loader


if __name__ == "__main__":
    main()
