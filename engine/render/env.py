"""The container environment, in the order Kubernetes needs for ``$(VAR)`` references.

Order (design): the ``env_schema`` entries first (stack order), then the S3
variables of the stack's S3 volumes, then the fixed ``env``. Kubernetes expands
``$(NAME)`` only from variables defined *earlier* in the list, and compose
imports write fixed values such as ``postgres://u:$(POSTGRES_PASSWORD)@db…``
that refer to schema variables.

Secret entries (see :meth:`DeploymentSpec.env_value`) are ``valueFrom.secretKeyRef``
to the deployment's one Secret (key = the variable name); the others are inline
``value``s. :data:`~podwarden.engine.schemas.stacks.NAMESPACE_PLACEHOLDER` is
replaced with the target namespace in every value, secret ones included.
"""

from __future__ import annotations

from typing import Any

from podwarden.engine.schemas.deployments import DeploymentSpec
from podwarden.engine.schemas.stacks import NAMESPACE_PLACEHOLDER

__all__ = ["render_env", "with_namespace"]

Manifest = dict[str, Any]


def with_namespace(spec: DeploymentSpec, text: str) -> str:
    """``{{namespace}}`` → the deployment's namespace."""
    return text.replace(NAMESPACE_PLACEHOLDER, spec.namespace)


def render_env(
    spec: DeploymentSpec, secret_name: str, injected: list[Manifest]
) -> tuple[list[Manifest], dict[str, str]]:
    """(the ``env`` list, the Secret's data as text) — ``injected`` goes between schema and fixed env."""
    env: list[Manifest] = []
    secret_data: dict[str, str] = {}
    for item in spec.stack.env_schema:
        value, secret = spec.env_value(item)
        if value is None:
            continue  # no value and no default: left out (preflight warns when required)
        value = with_namespace(spec, value)
        if secret:
            secret_data[item.name] = value
            env.append(
                {"name": item.name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": item.name}}}
            )
        else:
            env.append({"name": item.name, "value": value})
    env += injected
    env += [{"name": item.name, "value": with_namespace(spec, item.value)} for item in spec.stack.env]
    return env, secret_data
