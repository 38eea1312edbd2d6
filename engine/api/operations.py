"""The registered operations the API offers, each bound to its service instance."""

from __future__ import annotations

import datetime
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pydantic

from podwarden.engine.security.rbac import OPERATIONS, Actor, Operation

# Operations kept off the network on purpose (the rest is derived from the registry).
NOT_REMOTE: dict[str, str] = {
    "secrets.read_secret": "returns a secret value",
    "secrets.rotate_master_key": "replaces the master key of the engine",
    "clusters.list_kube_contexts": "reads kubeconfig files on the engine's machine",
    "clusters.create_from_context": "reads kubeconfig files on the engine's machine",
}

_SCALARS = (str, int, float, bool, uuid.UUID, datetime.datetime, datetime.date)

BoundMethod = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class RemoteOperation:
    info: Operation
    call: BoundMethod
    input_model: type[pydantic.BaseModel]
    output_type: Any
    query: bool  # READ with scalar parameters only: offered as GET with query parameters

    async def invoke(self, actor: Actor, params: pydantic.BaseModel | None) -> Any:
        kwargs = {} if params is None else {n: getattr(params, n) for n in type(params).model_fields}
        return await self.call(actor, **kwargs)

    def dump(self, result: Any) -> Any:
        if self.output_type is None:
            return None
        return pydantic.TypeAdapter(self.output_type).dump_python(result, mode="json")


def _is_scalar(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return all(a is type(None) or _is_scalar(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return True
    return isinstance(annotation, type) and (
        issubclass(annotation, _SCALARS) or issubclass(annotation, enum.Enum)
    )


def _describable(info: Operation) -> tuple[type[pydantic.BaseModel], Any] | None:
    try:
        model = info.input_model()
        model.model_json_schema()
        output = info.output_type()
        if output is not None:
            pydantic.TypeAdapter(output).json_schema(mode="serialization")
    except (pydantic.PydanticSchemaGenerationError, pydantic.errors.PydanticInvalidForJsonSchema, TypeError):
        return None
    return model, output


def bound_operations(services: Iterable[object]) -> dict[str, BoundMethod]:
    found: dict[str, BoundMethod] = {}
    for service in services:
        for _, method in inspect.getmembers(service, inspect.ismethod):
            info = getattr(method, "__podwarden_operation__", None)
            if isinstance(info, Operation):
                found[info.name] = method
    return found


def remote_operations(services: Iterable[object]) -> tuple[dict[str, RemoteOperation], dict[str, str]]:
    """The operations to offer and, for the others, why not."""
    bound = bound_operations(services)
    offered: dict[str, RemoteOperation] = {}
    skipped: dict[str, str] = {}
    for name in sorted(OPERATIONS):
        info = OPERATIONS[name]
        if name in NOT_REMOTE:
            skipped[name] = NOT_REMOTE[name]
            continue
        if name not in bound:
            skipped[name] = "its service is not part of this engine"
            continue
        types_ = _describable(info)
        if types_ is None:
            skipped[name] = "its input or result has no JSON form"
            continue
        model, output = types_
        query = info.access.value == "read" and all(
            _is_scalar(f.annotation) for f in model.model_fields.values()
        )
        offered[name] = RemoteOperation(info, bound[name], model, output, query)
    return offered, skipped
