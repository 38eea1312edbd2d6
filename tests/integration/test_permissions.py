"""Every registered operation × every role: the role check holds before anything happens."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest

from podwarden.engine import Engine
from podwarden.engine.errors import PermissionDenied, PodWardenError
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import OPERATIONS, Access, Actor
from podwarden.engine.services.base import Service

ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def _bound_operations(engine: Engine) -> list[tuple[str, Any]]:
    found = []
    services = [v for v in vars(engine).values() if isinstance(v, Service)]
    for service in services:
        for _, method in inspect.getmembers(service, inspect.ismethod):
            info = getattr(method, "__podwarden_operation__", None)
            if info is not None:
                found.append((info.name, method))
    return found


def _placeholder(param: inspect.Parameter) -> Any:
    annotation = str(param.annotation)
    if "UUID" in annotation:
        return uuid.uuid4()
    if "dict" in annotation:
        return {"no_such_section": {}}
    if "int" in annotation and "str" not in annotation:
        return 1
    return "x" * 12


def _dummy_args(method: Any) -> tuple[list[Any], dict[str, Any]]:
    """Placeholder arguments: the role check must refuse before they are looked at."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in list(inspect.signature(method).parameters.values())[1:]:
        if param.default is not param.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = _placeholder(param)
        else:
            args.append(_placeholder(param))
    return args, kwargs


async def test_every_operation_is_registered_and_reachable(engine: Engine) -> None:
    """Every operation any service module registers is reachable through the engine."""
    import podwarden.engine.services  # noqa: F401  (imports every service module)

    names = {name for name, _ in _bound_operations(engine)}
    assert names == set(OPERATIONS)
    assert len(names) >= 15


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
async def test_operation_x_role(engine: Engine, role: Role) -> None:
    actor = Actor(kind="user", name=f"{role.value}-user", role=role, id=uuid.uuid4())
    checked = 0
    for name, method in _bound_operations(engine):
        info = OPERATIONS[name]
        allowed = role.rank >= info.permission.role.rank
        try:
            args, kwargs = _dummy_args(method)
            result = await method(actor, *args, **kwargs)
            if hasattr(result, "__aiter__"):
                await result.aclose()
        except PermissionDenied as exc:
            if type(exc) is PermissionDenied:
                assert not allowed, f"{name} refused {role.value}: {exc}"
                checked += 1
                continue
        except PodWardenError:
            pass  # the call got past the role check and failed on the placeholder input
        assert allowed, f"{name} ({info.access.value}) let a {role.value} through"
        checked += 1
    assert checked == len(_bound_operations(engine))


def test_mutating_operations_need_more_than_viewer() -> None:
    for info in OPERATIONS.values():
        if info.access is not Access.READ and info.permission.name != "self":
            assert info.permission.role is not Role.VIEWER, info.name


def test_permissions_doc_is_current() -> None:
    from pathlib import Path

    import podwarden.engine.services  # noqa: F401
    from podwarden.engine.security.rbac import permissions_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
    assert doc.read_text() == permissions_markdown(), (
        "regenerate: podwarden-engine permissions-doc > docs/permissions.md"
    )
