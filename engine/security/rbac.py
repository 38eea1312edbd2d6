"""Actors, roles and the one permission table.

Every engine operation runs as an :class:`Actor` and names the
:class:`Permission` it needs. Service methods declare that with the
:func:`operation` decorator, which checks the role *before* the body runs and
records the operation in :data:`OPERATIONS` (read / mutating / destructive), so
tests, docs/permissions.md and later the HTTP API and MCP tools all derive
from one description.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import pydantic

from podwarden.engine.errors import PermissionDenied
from podwarden.engine.models.access import Role

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: a signed-in user, an API token, or PodWarden itself."""

    kind: Literal["user", "token", "system"]
    name: str
    role: Role
    id: uuid.UUID | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", name="system", role=Role.ADMIN)

    @property
    def label(self) -> str:
        return "system" if self.kind == "system" else f"{self.kind}:{self.name}"

    def can(self, permission: Permission) -> bool:
        return self.role.rank >= permission.role.rank


class Access(enum.StrEnum):
    READ = "read"
    MUTATING = "mutating"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    role: Role
    description: str


class Permissions:
    """The permission table. docs/permissions.md is generated from it (and checked by a test)."""

    READ = Permission("fleet.read", Role.VIEWER, "Read hosts, clusters, stacks, deployments, jobs, settings")
    HOSTS_MANAGE = Permission("hosts.manage", Role.OPERATOR, "Add, edit, discover and probe hosts")
    HOSTS_PROVISION = Permission("hosts.provision", Role.OPERATOR, "Run provisioning jobs on hosts")
    HOSTS_WIPE = Permission("hosts.wipe", Role.ADMIN, "Wipe a host (uninstall K3s, remove its data)")
    HOSTS_TRUST_KEY = Permission("hosts.trust_key", Role.ADMIN, "Accept a changed SSH host key")
    CLUSTERS_MANAGE = Permission("clusters.manage", Role.OPERATOR, "Add and edit clusters")
    CLUSTERS_DELETE = Permission("clusters.delete", Role.ADMIN, "Delete a cluster, change its protection")
    STACKS_MANAGE = Permission("stacks.manage", Role.OPERATOR, "Create, edit, import and delete stacks")
    DEPLOYMENTS_MANAGE = Permission(
        "deployments.manage", Role.OPERATOR, "Create, deploy, undeploy and roll back deployments"
    )
    INGRESS_MANAGE = Permission("ingress.manage", Role.OPERATOR, "Manage ingress rules")
    BACKUPS_MANAGE = Permission("backups.manage", Role.OPERATOR, "Manage backup policies, run and restore")
    STORAGE_MANAGE = Permission("storage.manage", Role.ADMIN, "Manage storage connections (hold credentials)")
    DDNS_MANAGE = Permission("ddns.manage", Role.ADMIN, "Manage dynamic DNS (holds provider credentials)")
    HUB_IMPORT = Permission("hub.import", Role.OPERATOR, "Import templates from the Hub catalog")
    JOBS_MANAGE = Permission("jobs.manage", Role.OPERATOR, "Start and cancel jobs")
    SETTINGS_MANAGE = Permission("settings.manage", Role.ADMIN, "Change system configuration and settings")
    SECRETS_MANAGE = Permission("secrets.manage", Role.ADMIN, "List, read, write and delete secrets")
    USERS_MANAGE = Permission("users.manage", Role.ADMIN, "Add, edit and delete users, reset passwords")
    TOKENS_MANAGE = Permission("tokens.manage", Role.ADMIN, "Create, list and revoke API tokens")
    AUDIT_READ = Permission("audit.read", Role.ADMIN, "Read the API audit log")
    SELF = Permission("self", Role.VIEWER, "Change one's own password")

    @classmethod
    def all(cls) -> list[Permission]:
        return [value for value in vars(cls).values() if isinstance(value, Permission)]


def require(actor: Actor, permission: Permission) -> None:
    if not isinstance(actor, Actor):
        raise PermissionDenied("No actor was given for this operation.")
    if not actor.can(permission):
        raise PermissionDenied(
            f"{actor.label} has the {actor.role.value} role; this needs {permission.role.value} "
            f"({permission.description.lower()})."
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """One engine operation, described once.

    ``fn`` is the undecorated service method; :meth:`input_model` and
    :meth:`output_type` derive the operation's input (a pydantic model of the
    parameters after ``actor``) and output type from its signature and type hints,
    so the HTTP API and the MCP tools validate and describe it the same way.
    """

    name: str  # "users.create_user"
    permission: Permission
    access: Access
    doc: str
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def method(self) -> str:
        return self.name.split(".", 1)[1]

    def input_model(self) -> type[pydantic.BaseModel]:
        """A pydantic model of the parameters (unknown fields are errors). Cached."""
        return _signature_types(self)[0]

    def output_type(self) -> Any:
        """The return annotation, hints resolved (``None`` for no result). Cached."""
        return _signature_types(self)[1]


OPERATIONS: dict[str, Operation] = {}


def operation(
    permission: Permission, access: Access = Access.MUTATING
) -> Callable[
    [Callable[Concatenate[S, Actor, P], Awaitable[R]]],
    Callable[Concatenate[S, Actor, P], Awaitable[R]],
]:
    """Mark a service method as an operation: check the actor's role first, then run."""

    def decorate(
        fn: Callable[Concatenate[S, Actor, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, Actor, P], Awaitable[R]]:
        module = fn.__module__.rsplit(".", 1)[-1]
        info = Operation(f"{module}.{fn.__name__}", permission, access, (fn.__doc__ or "").strip(), fn)
        OPERATIONS[info.name] = info

        @functools.wraps(fn)
        async def wrapper(self: S, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            require(actor, permission)
            return await fn(self, actor, *args, **kwargs)

        wrapper.__podwarden_operation__ = info  # type: ignore[attr-defined]
        return wrapper

    return decorate


_TYPES: dict[str, tuple[type[pydantic.BaseModel], Any]] = {}


def _wire_type(annotation: Any) -> Any:
    """What a remote caller sends for a parameter: secrets arrive as text, paths are not offered."""
    from podwarden.engine.security.crypto import SecretValue

    if annotation is SecretValue:
        return str
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        kept = tuple(
            _wire_type(a) for a in typing.get_args(annotation) if a is not SecretValue and a is not Path
        )
        return functools.reduce(lambda a, b: a | b, kept) if kept else str
    return annotation


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace(".", "_").split("_"))


def _signature_types(op: Operation) -> tuple[type[pydantic.BaseModel], Any]:
    cached = _TYPES.get(op.name)
    if cached is not None:
        return cached
    if op.fn is None:
        raise TypeError(f"{op.name} has no function to derive types from")
    hints = typing.get_type_hints(op.fn)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(op.fn).parameters.values())[2:]:  # self, actor
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = _wire_type(hints.get(param.name, Any))
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    model = pydantic.create_model(
        f"{_camel(op.name)}Input",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        __doc__=op.doc or op.name,
        **fields,
    )
    result = hints.get("return")
    result = None if result is type(None) else result
    _TYPES[op.name] = (model, result)
    return model, result


def permissions_markdown() -> str:
    """docs/permissions.md, generated from the table above and the registered operations."""
    lines = [
        "# Permissions",
        "",
        "Generated from `engine/security/rbac.py` by `podwarden-engine permissions-doc`;",
        "a test fails when this file and the code disagree. Roles are ordered",
        "viewer < operator < admin: a role may do everything the roles below it may.",
        "",
        "| permission | least role | what it allows |",
        "|---|---|---|",
    ]
    for perm in sorted(Permissions.all(), key=lambda p: (p.role.rank, p.name)):
        lines.append(f"| `{perm.name}` | {perm.role.value} | {perm.description} |")
    lines += [
        "",
        "## Operations",
        "",
        "| operation | access | permission | least role |",
        "|---|---|---|---|",
    ]
    for op in sorted(OPERATIONS.values(), key=lambda o: o.name):
        lines.append(
            f"| `{op.name}` | {op.access.value} | `{op.permission.name}` | {op.permission.role.value} |"
        )
    return "\n".join(lines) + "\n"
