"""Deployments view against a real engine and kmock's emulated Kubernetes API: create a
deployment of a stack (a refused form saves nothing), preflight warnings and the plan
diff before apply, deploy and watch the job finish, history and rollback, the pods'
logs, undeploy; a viewer sees every mutating action disabled.

kmock runs no controllers: ``controller`` plays the Deployment controller's part (as in
tests/integration/test_deployments_service.py), writing a ready status for each
Deployment PodWarden applied, so the deploy's rollout wait ends honestly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton

from podwarden.engine.adapters.kube import KubeClient
from podwarden.engine.errors import PodWardenError, ValidationError
from podwarden.engine.render.naming import DEPLOYMENT_ID_LABEL, MANAGED_BY_LABEL
from podwarden.ui.dialogs.deployment import CONFIG, ENVIRONMENT, GENERAL, DeploymentDialog, parse_selector
from podwarden.ui.dialogs.plan import PlanDialog
from podwarden.ui.models.deployments import ChangesModel, DeploymentsModel, RevisionsModel
from podwarden.ui.views.deployments import OUTPUT, PODS, DeploymentsView
from tests.fakes import kube as fake_module
from tests.fakes.kube import KubeAPI, make_node, make_pod
from tests.ui.helpers import closed, find_dialog, settle, wait_until

kube_api = fake_module.kube_api  # fixture

NS = "shop"
STACK: dict[str, Any] = {
    "name": "web",
    "image": "nginx",
    "image_tag": "1.27",
    "ports": [{"name": "http", "container_port": 80}],
    "env_schema": [
        {"name": "GREETING", "default_value": "hello", "description": "What it says"},
        {"name": "MODE", "required": True},
        {"name": "LICENSE", "required": True, "secret": True},
        {"name": "API_TOKEN", "generate": True, "secret": True},
    ],
    "config_slots": [
        {"name": "site", "key": "site.conf", "mount_path": "/etc/nginx/conf.d/site.conf",
         "default_content": "server { listen 80; }\n"},
    ],
}  # fmt: skip


async def _mark_ready(kube: KubeClient) -> None:
    for obj in await kube.list_by_label("apps/v1", "Deployment", f"{MANAGED_BY_LABEL}=podwarden"):
        meta, want = obj["metadata"], int(obj.get("spec", {}).get("replicas", 1))
        status = obj.get("status") or {}
        if status.get("readyReplicas") == want and status.get("availableReplicas") == want:
            continue
        ready = {k: want for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")}
        await kube.server_side_apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "status": ready,
            },
            "test-controller",
        )


@pytest.fixture
async def controller(kube_api: KubeAPI) -> AsyncIterator[Callable[[], None]]:
    """Call it to start the stand-in Deployment controller (until the test ends)."""
    kube = KubeClient(kube_api.kubeconfig(), request_timeout=5)
    tasks: list[asyncio.Task[None]] = []

    async def loop() -> None:
        while True:
            with contextlib.suppress(PodWardenError):
                await _mark_ready(kube)
            await asyncio.sleep(0.05)

    def start() -> None:
        if not tasks:
            tasks.append(asyncio.ensure_future(loop()))

    yield start
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(set(tasks), timeout=5)
    await kube.aclose()


@pytest.fixture
async def lab(engine, admin_user, kube_api: KubeAPI):  # type: ignore[no-untyped-def]
    """An emulated cluster with one node, and the stack to deploy."""
    kube_api.add("nodes", make_node("n1", cpu="4", memory="8Gi"))
    engine.deployments.rollout_poll = 0.05
    cluster = await engine.clusters.create_from_kubeconfig(admin_user, "lab", kube_api.kubeconfig())
    stack = await engine.stacks.create_stack(admin_user, STACK)
    return cluster, stack


async def _view(window) -> DeploymentsView:  # type: ignore[no-untyped-def]
    """The view in the window's Deployments section (installed here until the window builds it)."""
    if "Deployments" not in window.views:
        view = DeploymentsView(window.ctx)
        window._set_page("Deployments", view)
        window.views["Deployments"] = view
        view.start()
    window.select_section("Deployments")
    await settle(window)
    view = window.views["Deployments"]
    assert isinstance(view, DeploymentsView)
    return view


def _press_yes(box: QMessageBox) -> None:
    button = box.findChild(QPushButton, "confirm-yes")
    assert button is not None
    button.click()


async def test_empty_view_and_models(engine, admin_user, open_session, qtmodeltester) -> None:
    window = await open_session(admin_user)
    view = await _view(window)
    for model in (view.model, view.history.model, view.pods.pods):
        qtmodeltester.check(model, force_py=True)
        assert model.rowCount() == 0
    assert view.title.text() == "No deployment selected"
    assert view.new_button.isEnabled()
    for widget in (view.edit_button, view.deploy_button, view.undeploy_button, view.delete_button):
        assert not widget.isEnabled()
    for model_type in (DeploymentsModel, RevisionsModel, ChangesModel):
        qtmodeltester.check(model_type(), force_py=True)


def test_parse_selector() -> None:
    assert parse_selector(" gpu=true, zone = a ,") == {"gpu": "true", "zone": "a"}
    with pytest.raises(ValueError, match="not key=value"):
        parse_selector("gpu")


async def test_create_plan_deploy_history_rollback_logs_undeploy(
    engine, admin_user, open_session, kube_api, lab, controller, qtmodeltester
) -> None:
    cluster, stack = lab
    window = await open_session(admin_user)
    view = await _view(window)

    # Create: the form follows the stack's env schema and config slots.
    dialog: DeploymentDialog = view.new_deployment()
    await wait_until(lambda: dialog.stack.count() == 1 and dialog.cluster.count() == 1, what="choices")
    dialog.name.setText("web")
    dialog.select_stack(stack.id)
    dialog.select_cluster(cluster.id)
    assert set(dialog.env.edits) == {"GREETING", "MODE", "LICENSE", "API_TOKEN"}
    assert dialog.env.edits["API_TOKEN"].placeholderText() == "generated at deploy"
    assert dialog.env.edits["LICENSE"].echoMode() == dialog.env.edits["LICENSE"].EchoMode.Password
    assert dialog.env.edits["GREETING"].placeholderText() == "default: hello"
    assert dialog.config.edits["site"].toPlainText() == "server { listen 80; }\n"
    # Bad input: a node selector that is not key=value (caught in the form), then a bad
    # namespace (the engine's error, at its field). Nothing is saved.
    dialog.node_selector.setText("gpu")
    dialog.buttons.ok.click()
    await settle(window)
    assert "key=value" in dialog.form.error("placement")
    dialog.node_selector.setText("")
    dialog.namespace.setText("Bad_Namespace!")
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.isVisible() and dialog.form.error("namespace"), dialog.form.message_text
    assert await engine.deployments.list_deployments(admin_user) == []
    dialog.namespace.setText(NS)
    dialog.replicas.setValue(2)
    dialog.env.edits["MODE"].setText("prod")
    dialog.config.edits["site"].setPlainText("server { listen 8080; }\n")
    dialog.buttons.ok.click()
    await wait_until(lambda: closed(dialog), what="the dialog to close")
    (dep,) = await engine.deployments.list_deployments(admin_user)
    assert (dep.namespace, dep.replicas, dep.env_values) == (NS, 2, {"MODE": "prod"})
    assert dep.config_values == {"site": "server { listen 8080; }\n"}
    await wait_until(lambda: view.model.row_of(dep.id) is not None, what="the deployment in the list")
    assert view.select_deployment(dep.id)
    row = view.model.row_of(dep.id)
    assert [view.model.index(row, c).data() for c in range(6)] == ["web", "web", "lab", NS, "2", "draft"]
    assert "MODE = prod" in view.inputs.toPlainText() and "API_TOKEN = (generated at deploy)" in (
        view.inputs.toPlainText()
    )

    # Plan: preflight warns about the missing required secret; the diff shows new objects.
    view.plan_button.click()
    await wait_until(lambda: find_dialog(PlanDialog) is not None, what="the plan")
    plan: PlanDialog = find_dialog(PlanDialog)
    changes = ChangesModel()  # the dialog's own model goes with the dialog: check a copy
    changes.replace(plan.plan.changes)
    qtmodeltester.check(changes, force_py=True)
    warnings = [plan.warning_list.item(i).text() for i in range(plan.warning_list.count())]
    assert any("LICENSE" in w for w in warnings), warnings
    assert "to create" in plan.summary.text()
    refs = {plan.changes.row_at(r).ref: plan.changes.row_at(r).action for r in range(plan.changes.rowCount())}
    assert refs["Deployment shop/web"] == "create", refs
    assert plan.diff.toPlainText().startswith("# new object")
    assert "kind: Deployment" in plan.manifests.toPlainText()
    plan.cancel.click()
    await settle(window)
    assert await engine.deployments.history(admin_user, dep.id) == []  # nothing applied

    # Deploy: the plan again, Apply, then the job's output streams and it finishes.
    view.deploy_button.click()
    await wait_until(lambda: find_dialog(PlanDialog) is not None, what="the plan")
    find_dialog(PlanDialog).apply.click()
    assert view.tabs.currentIndex() == OUTPUT
    # No controller yet: the rollout waits, and the running job's output streams in.
    await wait_until(lambda: "running" in view.output.title.text(), what="the running deploy job")
    await wait_until(
        lambda: "applied Deployment shop/web" in view.output.output.toPlainText(), what="live output"
    )
    await wait_until(lambda: view.model.get(dep.id).info.status == "deploying", what="deploying status")
    assert not view.deploy_button.isEnabled()  # one deploy at a time from here
    controller()  # the pods become ready: the rollout ends
    await wait_until(lambda: "succeeded" in view.output.title.text(), timeout=60, what="the deploy job")
    assert "applied Deployment shop/web" in view.output.output.toPlainText()
    assert "2/2 ready" in view.output.output.toPlainText()
    await wait_until(lambda: view.model.get(dep.id).info.status == "deployed", what="deployed status")
    # The history refreshes from change notices: the revision shows pending, then succeeded.
    history = view.history.model
    await wait_until(
        lambda: history.rowCount() == 1 and history.index(0, 1).data() == "succeeded",
        what="the first revision, succeeded",
    )
    assert view.undeploy_button.isEnabled() and not view.delete_button.isEnabled()
    assert view.deploy_button.isEnabled()
    assert view.output.jobs_button.isEnabled()

    # Rollback to revision 1 (after a confirmation): a new revision.
    assert view.history.select_revision(1)
    view.history.rollback_button.click()
    box = view.dialog
    assert isinstance(box, QMessageBox) and "web" in box.text() and "revision 1" in box.text()
    _press_yes(box)
    await wait_until(lambda: view.history.model.rowCount() == 2, timeout=60, what="the rollback revision")
    await wait_until(
        lambda: view.history.model.row_at(0).result == "succeeded", timeout=60, what="rolled back"
    )
    assert view.history.model.row_at(0).rollback_of == 1
    assert view.history.model.index(0, 4).data() == "1"

    # Logs: the deployment's pods (by label) and a followed log.
    kube_api.add("pods", make_pod(NS, "web-abc12", **{DEPLOYMENT_ID_LABEL: str(dep.id)}))
    kube_api.add("pods", make_pod(NS, "other-1"))
    kube_api.emulator.logs[(NS, "web-abc12")] = ["listening on 8080"]
    view.tabs.setCurrentIndex(PODS)
    await wait_until(lambda: view.pods.pods.rowCount() == 1, what="the deployment's pod")
    assert view.pods.select_pod(NS, "web-abc12")
    view.pods.show_log()
    await wait_until(lambda: "listening on 8080" in view.pods.log.toPlainText(), what="the log")
    view.pods.follow.setChecked(True)
    await wait_until(lambda: kube_api.emulator.log_streams_opened == 1, what="the follow stream")
    await kube_api.emulator.append_log(NS, "web-abc12", "GET / 200")
    await wait_until(lambda: "GET / 200" in view.pods.log.toPlainText(), what="a followed line")
    view.pods.follow.setChecked(False)
    await wait_until(lambda: kube_api.emulator.log_streams_closed == 1, what="the stream to close")

    # Undeploy (confirmation names it): its objects go, the status says so.
    view.undeploy_button.click()
    box = view.dialog
    assert isinstance(box, QMessageBox) and "web" in box.text()
    _press_yes(box)
    await wait_until(lambda: view.model.get(dep.id).info.status == "undeployed", what="undeployed")
    assert "deleted Deployment shop/web" in view.output.output.toPlainText()
    assert view.delete_button.isEnabled()


async def test_edit_keeps_secrets_masked_and_shows_engine_errors_inline(
    engine, admin_user, open_session, lab
) -> None:
    cluster, stack = lab
    dep = await engine.deployments.create_deployment(
        admin_user, name="web", stack_id=stack.id, cluster_id=cluster.id, namespace=NS,
        env_values={"MODE": "dev"}, secret_values={"LICENSE": "s3cret-licence"},
    )  # fmt: skip
    window = await open_session(admin_user)
    view = await _view(window)
    assert view.select_deployment(dep.id)
    await wait_until(lambda: "LICENSE = ••••••" in view.inputs.toPlainText(), what="the secret, masked")
    assert "s3cret-licence" not in view.inputs.toPlainText()
    dialog = view.edit_selected()
    assert dialog is not None
    await wait_until(lambda: dialog.stack.count() == 1, what="choices")
    assert not dialog.name.isEnabled()
    assert dialog.env.edits["MODE"].text() == "dev"
    assert dialog.env.edits["LICENSE"].text() == ""  # never shown back
    assert "stored" in dialog.env.edits["LICENSE"].placeholderText()
    dialog.hostname.setText("not a node/name")  # the engine refuses it; nothing is saved
    dialog.env.edits["MODE"].setText("prod")
    dialog.tabs.setCurrentIndex(CONFIG)
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.isVisible() and "placement" in dialog.form.error("placement").lower()
    assert dialog.tabs.currentIndex() == GENERAL
    unchanged = await engine.deployments.get_deployment(admin_user, dep.id)
    assert (unchanged.placement, unchanged.env_values) == ({}, {"MODE": "dev"})
    # An engine error about an env value lands at that value, on its tab.
    assert dialog._failed(ValidationError("Bad env.", {"env_values.MODE": "must be short"}))
    assert dialog.env.form.error("MODE") == "must be short"
    assert dialog.tabs.currentIndex() == ENVIRONMENT
    dialog.hostname.setText("n1")
    dialog.buttons.ok.click()
    await wait_until(lambda: closed(dialog), what="the dialog to close")
    info = await engine.deployments.get_deployment(admin_user, dep.id)
    assert info.env_values == {"MODE": "prod"} and info.secret_env_names == ["LICENSE"]
    assert info.placement == {"hostname": "n1"}
    await wait_until(lambda: "MODE = prod" in view.inputs.toPlainText(), what="the new inputs shown")
    assert "pinned to n1" in view.inputs.toPlainText()


async def test_a_viewer_sees_mutating_actions_disabled(engine, admin_user, open_session, lab) -> None:
    cluster, stack = lab
    dep = await engine.deployments.create_deployment(
        admin_user, name="web", stack_id=stack.id, cluster_id=cluster.id, namespace=NS
    )
    await engine.users.create_user(admin_user, "vic", "viewer-password", "viewer")
    viewer = await engine.users.authenticate("vic", "viewer-password")
    window = await open_session(viewer)
    view = await _view(window)
    assert view.select_deployment(dep.id)
    await settle(window)
    mutating = (view.new_button, view.edit_button, view.deploy_button, view.undeploy_button,
                view.delete_button, view.history.rollback_button)  # fmt: skip
    for widget in mutating:
        assert not widget.isEnabled(), widget.objectName()
        assert "vic has the viewer role" in widget.toolTip(), widget.objectName()
    # Reading the plan is allowed; its Apply is not.
    assert view.plan_button.isEnabled()
    view.plan_button.click()
    await wait_until(lambda: find_dialog(PlanDialog) is not None, what="the plan")
    plan = find_dialog(PlanDialog)
    assert not plan.apply.isEnabled() and "viewer role" in plan.apply.toolTip()
    plan.cancel.click()
    await settle(window)


async def test_sample_deployments_render_without_a_cluster(
    engine, admin_user, open_session, tmp_path
) -> None:
    from podwarden.ui.views.deployments_parts.sample import render_deployments, seed_deployments

    # A stack of that name stored by other samples is reused; values it does not ask for are left out.
    existing = await engine.stacks.create_stack(admin_user, {**STACK, "name": "whisper-api"})
    ids = await seed_deployments(engine, admin_user)
    window = await open_session(admin_user)
    view = await _view(window)
    assert view.model.rowCount() == 3
    assert view.model.get(ids[0]).info.stack_id == existing.id
    assert view.select_deployment(ids[2])
    await wait_until(lambda: "GF_SECURITY_ADMIN_PASSWORD" in view.inputs.toPlainText(), what="the inputs")
    assert view.history.model.rowCount() == 0 and "No revisions" in view.history.label.text()
    written = await render_deployments(window, engine, admin_user, tmp_path, "05-deployments")
    assert [p.name for p in written] == [
        "05-deployments-inputs.png", "05-deployments-edit.png", "05-deployments-edit-environment.png",
    ]  # fmt: skip
    assert all(p.stat().st_size > 1000 for p in written)
