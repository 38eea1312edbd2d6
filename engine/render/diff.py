"""Plan diff (pure): rendered manifests against what the cluster has.

:func:`plan_changes` compares each rendered object with its live copy, looking
only at the fields PodWarden sets (the live object is first cut down to the
key paths of the rendered one, see :func:`restrict`), so server defaults, status
and bookkeeping (``resourceVersion``, ``managedFields``, a Service's
``clusterIP``…) never show up as changes.

Actions: ``create`` (not in the cluster), ``update`` (a PodWarden field differs;
``diff`` is a unified diff of the two YAML forms), ``unchanged``, and ``prune``
(labelled for the deployment but no longer rendered). Secret values never appear
in a diff: both sides are redacted first, and a changed value is reported as
``# secret values changed (not shown)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from podwarden.engine.render.manifests import Manifest, redact, to_yaml

__all__ = ["Action", "ObjectChange", "ObjectKey", "object_key", "plan_changes", "restrict"]

Action = Literal["create", "update", "unchanged", "prune"]
ObjectKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace or "", name)

SECRET_NOTE = "# secret values changed (not shown)\n"  # noqa: S105 - a message, not a password


@dataclass(frozen=True)
class ObjectChange:
    action: Action
    api_version: str
    kind: str
    namespace: str | None
    name: str
    diff: str = ""

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def object_key(manifest: Mapping[str, Any]) -> ObjectKey:
    meta = manifest.get("metadata") or {}
    return (
        str(manifest.get("apiVersion", "")),
        str(manifest.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def restrict(live: object, desired: object) -> object:
    """``live`` cut down to the key paths present in ``desired``.

    Mappings keep only the desired keys (recursively); lists of equal length are
    restricted element by element; anything else is returned as it is.
    """
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return {key: restrict(live[key], value) for key, value in desired.items() if key in live}
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [restrict(item, want) for item, want in zip(live, desired, strict=True)]
    return live


def _yaml(manifest: Manifest) -> list[str]:
    return to_yaml(redact([manifest])).splitlines(keepends=True)


def _unified(before: Manifest, after: Manifest, label: str) -> str:
    lines = difflib.unified_diff(_yaml(before), _yaml(after), f"live: {label}", f"rendered: {label}")
    return "".join(lines)


def _diff(desired: Manifest, live: Manifest | None) -> ObjectChange:
    api_version, kind, namespace, name = object_key(desired)
    ns = namespace or None
    if live is None:
        return ObjectChange("create", api_version, kind, ns, name, "".join(_yaml(desired)))
    current = restrict(live, desired)
    if current == desired:
        return ObjectChange("unchanged", api_version, kind, ns, name)
    assert isinstance(current, dict)
    label = f"{kind} {namespace + '/' if namespace else ''}{name}"
    text = _unified(current, desired, label)
    if kind == "Secret" and redact([current]) == redact([desired]):
        text = SECRET_NOTE
    elif kind == "Secret" and current.get("data") != desired.get("data"):
        text += SECRET_NOTE
    return ObjectChange("update", api_version, kind, ns, name, text)


def plan_changes(
    desired: Iterable[Manifest],
    live: Mapping[ObjectKey, Manifest | None],
    labelled: Iterable[Manifest] = (),
) -> list[ObjectChange]:
    """Changes for every rendered object (in render order), then prunes.

    ``live`` maps :func:`object_key` of a rendered object to its live copy (None
    or absent = missing); ``labelled`` are the live objects labelled for the
    deployment (anything among them not rendered any more is pruned).
    """
    rendered = list(desired)
    changes = [_diff(item, live.get(object_key(item))) for item in rendered]
    keys = {object_key(item) for item in rendered}
    seen: set[ObjectKey] = set()
    for obj in labelled:
        key = object_key(obj)
        if key in keys or key in seen:
            continue
        seen.add(key)
        api_version, kind, namespace, name = key
        changes.append(ObjectChange("prune", api_version, kind, namespace or None, name))
    return changes
