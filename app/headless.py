"""``podwarden-engine``: the headless engine's command line.

    podwarden-engine migrate                  bring the database schema up to date
    podwarden-engine create-admin NAME        create the first admin (password from a prompt,
                                              --password-file or PODWARDEN_ADMIN_PASSWORD)
    podwarden-engine generate-key             print a new master key for PODWARDEN_SECRET_KEY_FILE
    podwarden-engine permissions-doc          print docs/permissions.md
    podwarden-engine info                     where the database is and what it holds
    podwarden-engine run                      run the engine and its API until SIGTERM/SIGINT
    podwarden-engine tokens create|list|revoke   API tokens

Configuration comes from PODWARDEN_* environment variables (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from podwarden.app.errors import run_main
from podwarden.app.logging_setup import setup_logging
from podwarden.engine import Engine, Settings
from podwarden.engine.errors import ValidationError

PROG = "podwarden-engine"


def _settings() -> Settings:
    import pydantic

    try:
        return Settings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"PODWARDEN_{'__'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ValidationError(f"The PODWARDEN_* settings are invalid: {problems}.") from exc


async def _migrate() -> None:
    async with Engine(_settings()) as engine:  # migrations run on open
        print(f"The database schema is up to date ({engine.database_mode}).")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").rstrip("\n")
    env = os.environ.get("PODWARDEN_ADMIN_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise ValidationError(
            "No password given: use --password-file, PODWARDEN_ADMIN_PASSWORD or a terminal."
        )
    first = getpass.getpass("Password for the new admin: ")
    if getpass.getpass("Repeat it: ") != first:
        raise ValidationError("The two passwords differ.")
    return first


async def _create_admin(args: argparse.Namespace) -> None:
    password = _read_password(args)
    async with Engine(_settings()) as engine:
        user = await engine.users.create_first_admin(args.username, password, args.display_name or "")
        print(f"Created admin {user.username}.")


async def _info() -> None:
    async with Engine(_settings()) as engine:
        print(f"database: {engine.database_mode}")
        print(f"users: {'yes' if await engine.users.has_users() else 'none yet (run create-admin)'}")
        print(f"secrets: {await engine.secrets.count()}")


async def _run_service() -> None:
    """Open the engine and keep it open until SIGTERM/SIGINT, then close cleanly.

    Opening marks jobs of dead engines interrupted. On the signal, this engine's
    running jobs are cancelled (each records its final state), the API stops
    (requests in progress get a short grace period, then are cancelled), the
    loops stop, and the engine closes.
    """
    import logging
    import signal

    log = logging.getLogger("podwarden.service")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from podwarden.engine.api import ApiServer, create_app
    from podwarden.engine.loops import LoopRunner, default_loops

    async with (
        Engine(_settings()) as engine,
        LoopRunner(engine, default_loops(engine), mode="server") as loops,
    ):
        log.warning("PodWarden engine %s running on %s", engine.engine_id, engine.database_mode)
        print(f"PodWarden engine running on {engine.database_mode}; stop with SIGTERM or Ctrl-C.", flush=True)
        settings = engine.settings
        app = create_app(engine, loops=loops)
        async with ApiServer(app, settings.api_host, settings.api_port) as api:
            print(f"API on {api.url}/api/v1 (MCP at {api.url}/mcp)", flush=True)
            await stop.wait()
            log.warning("stopping")
            # Running jobs are cancelled now (each records its final state), so the
            # requests that run them end well within the API's shutdown grace period.
            await engine.jobs.cancel_all_local()
    print("PodWarden engine stopped.", flush=True)


async def _tokens(args: argparse.Namespace) -> None:
    from podwarden.engine.models.access import Role
    from podwarden.engine.security.rbac import Actor

    system = Actor.system()
    async with Engine(_settings()) as engine:
        if args.tokens_command == "create":
            issued = await engine.tokens.create_token(
                system, args.name, Role(args.role), expires_in_days=args.days
            )
            print(issued.token)
            print(f"Token {args.name} ({args.role}) is shown only now; store it safely.", file=sys.stderr)
        elif args.tokens_command == "list":
            for t in await engine.tokens.list_tokens(system):
                expired = t.expires_at <= datetime.now(UTC)
                state = "revoked" if t.revoked_at else ("expired" if expired else "active")
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                expires = f"{t.expires_at:%Y-%m-%d}"
                print(f"{t.id}  {t.name:<24} {t.role.value:<8} {state:<8} expires {expires}  used {used}")
        elif args.tokens_command == "revoke":
            tokens = await engine.tokens.list_tokens(system)
            match = [t for t in tokens if args.token in (t.name, str(t.id))]
            if not match:
                raise ValidationError(f"No token is named {args.token!r}.")
            await engine.tokens.revoke_token(system, match[0].id)
            print(f"Revoked token {match[0].name}.")


def _permissions_doc() -> None:
    import podwarden.engine.services  # noqa: F401  (registers every operation)
    from podwarden.engine.security.rbac import permissions_markdown

    sys.stdout.write(permissions_markdown())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="PodWarden's headless engine.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (also PODWARDEN_LOG_JSON=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    admin = sub.add_parser("create-admin", help="create the first admin user")
    admin.add_argument("username")
    admin.add_argument("--display-name")
    admin.add_argument("--password-file", help="read the password from this file")
    sub.add_parser("generate-key", help="print a new master key")
    sub.add_parser("permissions-doc", help="print the permission table as Markdown")
    sub.add_parser("info", help="show the database in use")
    sub.add_parser("run", help="run the engine as a service until SIGTERM/SIGINT")
    tokens = sub.add_parser("tokens", help="create, list and revoke API tokens")
    tsub = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tsub.add_parser("create", help="create a token (printed once)")
    create.add_argument("name")
    create.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    create.add_argument("--days", type=int, default=90, help="expiry in days (1-365)")
    tsub.add_parser("list", help="list tokens")
    revoke = tsub.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token", help="token name or id")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    json_logs = args.log_json or os.environ.get("PODWARDEN_LOG_JSON", "") in {"1", "true", "yes"}
    setup_logging(level="DEBUG" if args.debug else "WARNING", json_lines=json_logs)

    def dispatch() -> None:
        if args.command == "migrate":
            asyncio.run(_migrate())
        elif args.command == "create-admin":
            asyncio.run(_create_admin(args))
        elif args.command == "generate-key":
            from podwarden.engine.security.crypto import generate_key

            print(generate_key())
        elif args.command == "permissions-doc":
            _permissions_doc()
        elif args.command == "info":
            asyncio.run(_info())
        elif args.command == "run":
            asyncio.run(_run_service())
        elif args.command == "tokens":
            asyncio.run(_tokens(args))

    run_main(PROG, dispatch, debug=args.debug)


if __name__ == "__main__":
    main()
