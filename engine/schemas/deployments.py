"""Deployment inputs: a stack placed on a cluster, with every value already resolved.

:class:`DeploymentSpec` is what :func:`podwarden.engine.render.render_deployment`
turns into Kubernetes manifests and what :func:`podwarden.engine.render.preflight`
checks. It holds *resolved* data only — no database ids to look up, no secret
names to decrypt — so that rendering stays pure:

* ``env_values``: plain values for the stack's ``env_schema`` entries;
* ``secret_values``: secret values (user-given secret entries and the values the
  deploy service generated for ``generate: true`` entries), masked in ``repr``
  and written as ``"**********"`` by ``model_dump(mode="json")``;
* ``config_values``: file contents per config slot name (they win over the slot's
  ``default_content``);
* ``placement``: extra node selector labels and/or a pinned host name;
* ``storage_connections``: the resolved NFS/S3 connections the stack's volumes name;
* ``registry_credentials``: decrypted registry credentials, when the deploy service
  has them (else only the pull secret reference is rendered);
* ``service_aliases``: extra Service names (compose aliases, see :func:`compose_aliases`).

Resolution of an ``env_schema`` entry's value (design): ``secret_values`` first,
then ``env_values``, then the entry's ``default_value``; an entry without any value
is left out of the pod (preflight warns when it is required or generated). An
entry is stored in the deployment's Secret when it is ``secret`` or ``generate``
or when its value came from ``secret_values``.

Image (design): the stack's tag, else ``default_image_tag`` (the fleet default),
else no tag at all (Kubernetes then pulls ``latest``; preflight warns). The
stack's ``registry_url`` wins; the spec's ``registry_url`` (a fleet default
registry) is put in front only of images whose stack names no registry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Annotated, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import (
    DnsLabel,
    EnvName,
    EnvVarSpec,
    NetworkType,
    NfsVolume,
    RefName,
    S3Volume,
    Stack,
    Text,
    _check_image_tag,
    _check_label_key,
    _check_label_value,
    _check_registry,
    _fail,
    _int_to_str,
    _pydantic_problems,
    _raise_problems,
    check_document_size,
    problems_to_error,
)

__all__ = [
    "DeploymentSpec",
    "Placement",
    "RegistryCredentials",
    "StorageConnectionData",
    "compose_aliases",
    "validate_deployment_spec",
]


def _reveal(value: object) -> object:
    """Accept PodWarden's masked ``SecretValue`` (anything with ``reveal()``) as a secret."""
    reveal = getattr(value, "reveal", None)
    if callable(reveal) and not isinstance(value, SecretStr):
        revealed = reveal()
        if isinstance(revealed, str):
            return SecretStr(revealed)
    return value


def _check_absolute(value: str) -> str:
    if not value.startswith("/") or "\x00" in value:
        _fail("must be an absolute path (starting with '/')")
    return value


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or any(ch.isspace() for ch in value):
        _fail("must be an http:// or https:// URL without spaces")
    return value


def _check_host(value: str) -> str:
    if not value or len(value) > 253 or any(ch.isspace() or ch in "/@?#" for ch in value):
        _fail("must be a host name or an IP address")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_reveal)]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, BeforeValidator(_int_to_str), AfterValidator(_check_label_value)]
ImageTag = Annotated[str, AfterValidator(_check_image_tag)]
Registry = Annotated[str, AfterValidator(_check_registry)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Placement(_Model):
    """Where the pods may run: extra node selector labels and/or one pinned node."""

    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    hostname: LabelValue | None = None

    @model_validator(mode="after")
    def _no_empty_hostname(self) -> Placement:
        if self.hostname == "":
            _raise_problems([("hostname", "must not be empty; leave it out to not pin a node")])
        return self


class RegistryCredentials(_Model):
    """Decrypted credentials for the stack's private registry.

    ``server`` is the key of the docker config (``registry.example.com:5000``);
    ``None`` means the registry of the image (Docker Hub when it names none).
    """

    server: Registry | None = None
    username: str = Field(min_length=1, max_length=512)
    password: Secret


class StorageConnectionData(_Model):
    """A storage connection as the deploy service resolved it (credentials decrypted).

    NFS: ``server`` and the export ``path``. S3: ``endpoint`` (URL), ``bucket``,
    optional ``region`` and key ``prefix``, and the access key pair.
    """

    name: RefName
    kind: Literal["nfs", "s3"]
    network_types: list[NetworkType] = Field(default_factory=list)
    server: Annotated[str, AfterValidator(_check_host)] | None = None
    path: Annotated[str, AfterValidator(_check_absolute)] | None = None
    endpoint: Annotated[str, AfterValidator(_check_url)] | None = None
    bucket: str | None = Field(default=None, min_length=1, max_length=255)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    prefix: str | None = Field(default=None, max_length=1024)
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> StorageConnectionData:
        problems: list[tuple[str, str]] = []
        if self.kind == "nfs":
            if self.server is None:
                problems.append(("server", "an NFS connection needs the server"))
            if self.path is None:
                problems.append(("path", "an NFS connection needs the export path"))
        else:
            if self.bucket is None:
                problems.append(("bucket", "an S3 connection needs the bucket"))
            if (self.access_key_id is None) != (self.secret_access_key is None):
                problems.append(
                    ("secret_access_key", "give both access_key_id and secret_access_key, or none")
                )
        _raise_problems(problems)
        return self


class DeploymentSpec(_Model):
    """Everything needed to render one deployment (see the module docstring)."""

    deployment_id: uuid.UUID = Field(strict=False)
    stack_id: uuid.UUID | None = Field(default=None, strict=False)
    name: DnsLabel
    namespace: DnsLabel
    stack: Stack
    replicas: int = Field(default=1, ge=0, le=10_000)  # ignored for daemonsets
    env_values: dict[EnvName, Text] = Field(default_factory=dict)
    secret_values: dict[EnvName, Secret] = Field(default_factory=dict)
    config_values: dict[DnsLabel, str] = Field(default_factory=dict)
    placement: Placement = Field(default_factory=Placement)
    default_image_tag: ImageTag | None = None
    registry_url: Registry | None = None
    registry_credentials: RegistryCredentials | None = None
    storage_connections: list[StorageConnectionData] = Field(default_factory=list)
    service_aliases: list[DnsLabel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> DeploymentSpec:
        _raise_problems(list(_spec_problems(self)))
        return self

    # -- derived values the renderer and preflight share -------------------- #

    def storage_connection(self, name: str) -> StorageConnectionData | None:
        for connection in self.storage_connections:
            if connection.name == name:
                return connection
        return None

    def env_value(self, item: EnvVarSpec) -> tuple[str | None, bool]:
        """(value or None, whether it belongs in the Secret) for an ``env_schema`` entry."""
        if item.name in self.secret_values:
            return self.secret_values[item.name].get_secret_value(), True
        secret = item.secret or item.generate
        if item.name in self.env_values:
            return self.env_values[item.name], secret
        return item.default_value, secret

    def config_content(self, slot_name: str) -> str | None:
        """The slot's file: the user's content, else its default (None when neither)."""
        if slot_name in self.config_values:
            return self.config_values[slot_name]
        for slot in self.stack.config_slots:
            if slot.name == slot_name:
                return slot.default_content
        return None

    def image_tag(self) -> str | None:
        return self.stack.image_tag or self.default_image_tag

    def image_reference(self) -> str:
        """The container image: registry (stack's, else the spec's) / image : tag."""
        stack = self.stack
        if stack.registry_url is None and self.registry_url is not None:
            stack = stack.model_copy(update={"registry_url": self.registry_url})
        tag = self.image_tag()
        if tag is None:
            return f"{stack.registry_url}/{stack.image}" if stack.registry_url else stack.image
        return stack.image_reference(tag)

    def effective_registry(self) -> str | None:
        """The registry host the image is pulled from (None = Docker Hub)."""
        return self.stack.registry_url or self.registry_url


def _spec_problems(spec: DeploymentSpec) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for index, given in enumerate(spec.storage_connections):
        if given.name in seen:
            yield (f"storage_connections.{index}.name", f"duplicate storage connection {given.name!r}")
        seen.add(given.name)
    for index, volume in enumerate(spec.stack.volumes):
        if not isinstance(volume, NfsVolume | S3Volume):
            continue
        connection = spec.storage_connection(volume.storage_connection)
        if connection is None:
            yield (
                "storage_connections",
                f"volume {volume.name!r} (stack.volumes[{index}]) needs storage connection "
                f"{volume.storage_connection!r}, which is not given",
            )
        elif connection.kind != volume.type:
            yield (
                "storage_connections",
                f"volume {volume.name!r} is {volume.type} but storage connection "
                f"{connection.name!r} is {connection.kind}",
            )


def compose_aliases(aliases: Mapping[str, str], stack_name: str) -> list[str]:
    """The alias Service names a compose import gives one stack (``ComposeImport.aliases``).

    ``aliases`` maps alias → stack name; the result is sorted and fits
    :attr:`DeploymentSpec.service_aliases` (the renderer skips an alias equal to the
    deployment's own Service name).
    """
    return sorted(alias for alias, target in aliases.items() if target == stack_name)


def validate_deployment_spec(data: object) -> DeploymentSpec:
    """Validate untrusted input into a :class:`DeploymentSpec`.

    Raises only :class:`podwarden.engine.errors.ValidationError` (``errors`` maps
    dotted paths such as ``"stack.ports.0.name"`` or ``"env_values"`` to messages).
    """
    try:
        if isinstance(data, DeploymentSpec):
            return data
        check_document_size(data, what="Deployment")
        return DeploymentSpec.model_validate(data)
    except ValidationError:
        raise
    except pydantic.ValidationError as exc:
        problems = _pydantic_problems(exc)
        raise problems_to_error(problems or [("", "is invalid")], what="Deployment") from exc
    except RecursionError as exc:
        raise problems_to_error([("", "the input is nested too deeply")], what="Deployment") from exc
    except Exception as exc:  # odd input still becomes our error
        raise problems_to_error(
            [("", f"the input could not be validated ({type(exc).__name__})")], what="Deployment"
        ) from exc
