"""The pure plan diff: create / unchanged / update / prune, server fields ignored, secrets hidden."""

from __future__ import annotations

import base64
import copy
from typing import Any

from podwarden.engine.render.diff import SECRET_NOTE, object_key, plan_changes, restrict


def deployment(image: str = "nginx:1.27", env: str = "a") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [{"name": "web", "image": image, "env": [{"name": "X", "value": env}]}]
                }
            },
        },
    }


def secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "web-env", "namespace": "apps"},
        "data": {"PASSWORD": base64.b64encode(value.encode()).decode()},
    }


def as_live(manifest: dict[str, Any]) -> dict[str, Any]:
    """What an API server returns: the object plus defaults, status and bookkeeping."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(
        {"uid": "u-1", "resourceVersion": "7", "managedFields": [{"manager": "podwarden"}]}
    )
    live["status"] = {"replicas": 1}
    if live["kind"] == "Deployment":
        live["spec"]["strategy"] = {"type": "RollingUpdate"}
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
    return live


def test_missing_object_is_created_with_its_yaml() -> None:
    [change] = plan_changes([deployment()], {})
    assert change.action == "create"
    assert "image: nginx:1.27" in change.diff
    assert change.ref == "Deployment apps/web"


def test_server_defaults_and_status_are_not_changes() -> None:
    desired = deployment()
    [change] = plan_changes([desired], {object_key(desired): as_live(desired)})
    assert change.action == "unchanged"
    assert change.diff == ""


def test_a_changed_field_is_an_update_with_a_unified_diff_of_podwarden_fields_only() -> None:
    live = as_live(deployment(env="a"))
    [change] = plan_changes([deployment(env="b")], {object_key(live): live})
    assert change.action == "update"
    removed = [
        line.strip()
        for line in change.diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    added = [
        line.strip()
        for line in change.diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert removed == ["-              value: a".strip()]
    assert added == ["+              value: b".strip()]
    assert "terminationMessagePath" not in change.diff and "resourceVersion" not in change.diff


def test_labelled_objects_no_longer_rendered_are_pruned_once() -> None:
    desired = deployment()
    gone = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "old", "namespace": "apps"}}
    changes = plan_changes([desired], {}, [as_live(desired), gone, gone])
    assert [(c.action, c.ref) for c in changes] == [
        ("create", "Deployment apps/web"),
        ("prune", "Service apps/old"),
    ]


def test_secret_values_never_appear_in_a_diff() -> None:
    live = as_live(secret("old-password"))
    [change] = plan_changes([secret("new-password")], {object_key(live): live})
    assert change.action == "update"
    assert change.diff == SECRET_NOTE
    encoded = [base64.b64encode(v.encode()).decode() for v in ("old-password", "new-password")]
    assert not any(value in change.diff for value in encoded)
    [created] = plan_changes([secret("new-password")], {})
    assert encoded[1] not in created.diff


def test_restrict_keeps_only_desired_paths() -> None:
    live = {"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}], "g": 3}
    assert restrict(live, {"a": {"b": 0}, "d": [{"e": 0}]}) == {"a": {"b": 1}, "d": [{"e": 1}]}
    assert restrict(live, {"d": [{}, {}]}) == {"d": [{"e": 1, "f": 2}]}  # lengths differ: whole list
