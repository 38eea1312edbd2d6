"""``python -m podwarden.app.screenshots OUTDIR``: every view with sample data, as PNG files.

Opens an engine on a temporary embedded database (or ``--database-url``, an
empty database to fill), adds sample data (an admin, a few users, secrets,
settings, jobs in each state with output), renders the first-run and sign-in
dialogs and each sidebar section offscreen, and prints the files it wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podwarden.app.logging_setup import setup_logging

PASSWORD = "sample-password-1"  # noqa: S105 (throwaway database)


@dataclass
class Sample:
    admin: Any  # Actor
    running_job: uuid.UUID
    release: asyncio.Event
    runner: asyncio.Task[Any]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m podwarden.app.screenshots", description=__doc__)
    parser.add_argument("outdir", type=Path, help="folder for the PNG files (created if missing)")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database to use instead of an embedded one"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT (default 1280x800)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    setup_logging(level="DEBUG" if args.debug else "WARNING")
    import qasync
    from PySide6.QtWidgets import QApplication

    from podwarden.app.errors import run_main

    width, height = (int(n) for n in args.size.lower().split("x", 1))
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setApplicationName("PodWarden")
    app.setQuitOnLastWindowClosed(False)  # closing the window must not stop the loop mid-cleanup
    args.outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = run_main(
        "screenshots",
        lambda: qasync.run(render_all(args.outdir, args.database_url, (width, height))),
        debug=args.debug,
    )
    for path in written:
        print(path)


async def render_all(outdir: Path, database_url: str | None, size: tuple[int, int]) -> list[Path]:
    from podwarden.engine import Engine, Settings

    with tempfile.TemporaryDirectory(prefix="podwarden-shots-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 (the embedded server's user must reach its folder)
        settings = Settings(
            database_url=database_url,
            data_dir=Path(tmp) / "data",
            secret_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )
        async with Engine(settings) as engine:
            return await _render(engine, outdir, size)


async def _settle(window: Any) -> None:
    await window.op_runner.wait_idle()
    await asyncio.sleep(0.15)  # let Qt lay out and paint what the ops delivered


def _save(widget: Any, outdir: Path, name: str, written: list[Path]) -> None:
    path = outdir / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise OSError(f"Could not write {path}.")
    written.append(path)


async def _render(engine: Any, outdir: Path, size: tuple[int, int]) -> list[Path]:
    from podwarden.ui.changes import ChangeHub
    from podwarden.ui.context import UiContext
    from podwarden.ui.dialogs.sign_in import FirstRunDialog, SignInDialog
    from podwarden.ui.main_window import SECTIONS, MainWindow
    from podwarden.ui.ops import run_op
    from podwarden.ui.views.jobs import JobsView
    from podwarden.ui.views.settings import SettingsView

    written: list[Path] = []
    window = MainWindow()
    window.resize(*size)
    window.show_database(engine.database_mode)
    window.show()

    first = FirstRunDialog(engine, window)
    first.username.setText("admin")
    first.display_name.setText("Ada Admin")
    first.open()
    await _settle(window)
    _save(first, outdir, "00-first-run", written)
    first.reject()

    sample = await seed(engine)

    sign_in = SignInDialog(engine, window, username="admin")
    sign_in.open()
    sign_in.form.set_errors({}, "The username or password is wrong.")
    await _settle(window)
    _save(sign_in, outdir, "00-sign-in", written)
    sign_in.reject()

    hub = ChangeHub(window)
    await hub.attach(engine)
    window.open_session(UiContext(engine, sample.admin, hub))
    try:
        for number, name in enumerate(SECTIONS, start=1):
            window.select_section(name)
            await _settle(window)
            if name == "Jobs":
                jobs = window.views["Jobs"]
                assert isinstance(jobs, JobsView)
                jobs.select_job(sample.running_job)
                await _settle(window)
            slug = f"{number:02d}-{name.lower()}"
            _save(window, outdir, slug, written)
            if name == "Stacks":
                from podwarden.ui.views.stack_editor.samples import render_stacks

                written += await render_stacks(window, engine, sample.admin, outdir, slug)
            if name == "Deployments":
                from podwarden.ui.views.deployments_parts.sample import render_deployments

                written += await render_deployments(window, engine, sample.admin, outdir, slug)
            if name == "Settings":
                settings_view = window.views["Settings"]
                assert isinstance(settings_view, SettingsView)
                for index in range(1, settings_view.tabs.count()):
                    settings_view.tabs.setCurrentIndex(index)
                    await _settle(window)
                    tab = settings_view.tabs.tabText(index).lower().replace(" ", "-")
                    _save(window, outdir, f"{slug}-{tab}", written)
        # The error panel, with an engine error and its details open.
        window.select_section("Jobs")
        missing = uuid.UUID(int=7)
        run_op(window, lambda: engine.jobs.get_job(sample.admin, missing), on_success=None)
        await _settle(window)
        window.error_dock.panel.toggle.setChecked(True)
        await _settle(window)
        _save(window, outdir, "99-error-panel", written)
    finally:
        hub.detach()
        await window.op_runner.shutdown()
        sample.release.set()
        await asyncio.gather(sample.runner, return_exceptions=True)
        window.close()
    return written


async def seed(engine: Any) -> Sample:
    """Sample data: users, secrets, settings and jobs in every state (with output)."""
    from podwarden.engine.errors import TemporaryServiceError
    from podwarden.engine.services.jobs import JobHandle

    await engine.users.create_first_admin("admin", PASSWORD, "Ada Admin")
    admin = await engine.users.authenticate("admin", PASSWORD)
    for username, role, name in (
        ("alice", "operator", "Alice Ops"),
        ("bob", "viewer", "Bob Watcher"),
        ("carol", "operator", "Carol Chen"),
        ("dave", "viewer", "Dave Doe"),
    ):
        await engine.users.create_user(admin, username, PASSWORD, role, display_name=name)
    for name, kind, description in (
        ("ssh/fleet-key", "ssh-key", "The key PodWarden uses to reach hosts"),
        ("registry/ghcr", "registry", "Pull credentials for ghcr.io/acme"),
        ("tailscale/api-key", "api-key", "Tailscale API key (devices: read)"),
        ("s3/backups", "s3", "Backup bucket credentials"),
        ("kube/edge", "kubeconfig", "kubeconfig of the edge cluster"),
    ):
        await engine.secrets.create_secret(
            admin, name, secrets.token_urlsafe(24), kind=kind, description=description
        )
    await engine.config.update_system_config(
        admin,
        {"tailscale": {"enabled": True, "tailnet": "example.ts.net", "api_key_secret": "tailscale/api-key"}},
    )
    await engine.config.update_settings(
        admin, {"default_registry_url": "ghcr.io/acme", "default_image_tag": "stable"}
    )

    jobs = engine.jobs
    # Interrupted first: marking needs no other unfinished job of this engine around.
    lost = await jobs.create(admin, "backup.run", "Back up volume pg-data")
    await jobs.append_output(lost, "restic backup /var/lib/postgresql\nscanning 1.2 GiB…\n")
    await jobs.mark_interrupted([engine.engine_id])

    async def probe(handle: JobHandle) -> dict[str, Any]:
        for line in (
            "ssh root@gpu-node-01 (known host key SHA256:q2…)",
            "lscpu: 32 × AMD EPYC 7302P",
            "nvidia-smi: 2 × NVIDIA RTX 4090 (24564 MiB)",
            "ip -j addr: eth0 10.0.0.21/24, tailscale0 100.88.1.21/32",
            "probe finished: 2 GPUs, 128 GiB RAM",
        ):
            await handle.line(line)
        return {"gpus": 2}

    async def register(handle: JobHandle) -> dict[str, Any]:
        await handle.line("kubectl version: v1.30.4+k3s1")
        await handle.line("3 nodes Ready")
        return {"nodes": 3}

    async def provision(handle: JobHandle) -> None:
        await handle.line("PLAY [k3s agent] ***")
        await handle.line("TASK [Gathering Facts] ***")
        await handle.line("fatal: [node-07]: UNREACHABLE!")
        raise TemporaryServiceError("ssh", "node-07: the SSH connection timed out after 10 s.")

    for kind, title, work in (
        ("host.probe", "Probe gpu-node-01", probe),
        ("cluster.register", "Register cluster edge", register),
        ("host.provision", "Provision K3s agent on node-07", provision),
    ):
        await jobs.run(await jobs.create(admin, kind, title), work)

    from podwarden.ui.views.deployments_parts.sample import seed_deployments
    from podwarden.ui.views.stack_editor.samples import seed_stacks

    await seed_stacks(engine, admin)
    await seed_deployments(engine, admin)
    from podwarden.app.sample_hosts import seed_hosts

    edge = next(c for c in await engine.clusters.list_clusters(admin) if c.name == "edge")
    await seed_hosts(engine, edge.id)

    cancelled = await jobs.create(admin, "stack.deploy", "Deploy stack grafana to edge")
    await jobs.cancel(admin, cancelled)

    release = asyncio.Event()
    started = asyncio.Event()

    async def deploy(handle: JobHandle) -> None:
        for line in (
            "plan: Deployment whisper-api (1 replica, 1 × GPU), Service whisper-api:8000",
            "apply: deployment.apps/whisper-api configured",
            "rollout: 0 of 1 updated replicas are available…",
        ):
            await handle.line(line)
        started.set()
        await release.wait()

    running = await jobs.create(admin, "stack.deploy", "Deploy stack whisper-api to edge")
    runner = asyncio.ensure_future(jobs.run(running, deploy))
    await asyncio.wait_for(started.wait(), 30)
    await jobs.create(admin, "host.provision", "Provision control plane on node-01")
    return Sample(admin, running, release, runner)


if __name__ == "__main__":
    main()
