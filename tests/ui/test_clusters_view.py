"""Clusters view against a real engine and kmock's emulated Kubernetes API: add from a
kubeconfig, the overview's nodes, pods paged 500 at a time, events, a followed pod log,
the protected toggle and delete after the affected preview."""

from __future__ import annotations

import asyncio

from podwarden.engine.models.fleet import Host, HostSource, HostState
from podwarden.ui.dialogs.add_cluster import PICK, AddClusterDialog
from podwarden.ui.dialogs.confirm import AffectedPreviewDialog
from podwarden.ui.models.clusters import ClustersModel, EventsModel, NamespacesModel, NodesModel, PodsModel
from podwarden.ui.views.clusters import ClustersView
from tests.fakes import kube as fake_module
from tests.fakes.kube import KubeAPI, make_event, make_namespace, make_node, make_pod, make_storage_class
from tests.ui.helpers import closed, find_dialog, settle, wait_until

kube_api = fake_module.kube_api  # fixture


def populate(api: KubeAPI, pods: int = 0) -> None:
    api.add("nodes", make_node("cp1", roles=["control-plane"]))
    api.add("nodes", make_node("gpu1", gpus=4, cpu="32", memory="128Gi"))
    for ns in ("default", "apps"):
        api.add("namespaces", make_namespace(ns))
    api.add("storageclasses", make_storage_class("local-path", default=True))
    api.add("events", make_event("apps", "ev1", reason="Pulled", message="image pulled"))
    for i in range(pods):
        api.add("pods", make_pod("apps", f"web-{i:04d}", node="gpu1"))


async def _view(window) -> ClustersView:  # type: ignore[no-untyped-def]
    window.select_section("Clusters")
    await settle(window)
    return window.views["Clusters"]


async def test_empty_view_and_models(engine, admin_user, open_session, qtmodeltester) -> None:
    window = await open_session(admin_user)
    view = await _view(window)
    for model in (view.model, view.nodes, view.namespaces, view.pods, view.events):
        qtmodeltester.check(model, force_py=True)
        assert model.rowCount() == 0
    assert view.title.text() == "No cluster selected"
    assert not view.delete_button.isEnabled() and not view.protected.isEnabled()
    assert view.add_button.isEnabled()
    for model_type in (ClustersModel, NodesModel, NamespacesModel, EventsModel, PodsModel):
        qtmodeltester.check(model_type(), force_py=True)


async def test_add_from_kubeconfig_overview_pods_logs_protect_delete(
    engine, admin_user, open_session, kube_api, qtmodeltester
) -> None:
    populate(kube_api, pods=620)
    kube_api.emulator.logs[("apps", "web-0003")] = [f"request {i}" for i in range(5)]
    window = await open_session(admin_user)
    view = await _view(window)

    dialog: AddClusterDialog = view.add_cluster()
    dialog.name.setText("home lab")
    dialog.kubeconfig.setPlainText("apiVersion: v1\nkind: Config\nclusters: []\n")  # broken
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.isVisible()
    assert dialog.paste_form.message_text or dialog.paste_form.error("kubeconfig")
    assert await engine.clusters.list_clusters(admin_user) == []  # nothing saved
    assert kube_api.emulator.seen == []
    dialog.kubeconfig.setPlainText(kube_api.kubeconfig())
    dialog.buttons.ok.click()
    await wait_until(lambda: closed(dialog), what="the dialog to close")
    await settle(window)
    assert kube_api.emulator.seen == []  # adding contacts nothing
    (cluster,) = await engine.clusters.list_clusters(admin_user)
    await wait_until(lambda: view.model.row_of(cluster.id) is not None, what="the cluster in the list")
    qtmodeltester.check(view.nodes, force_py=True)
    qtmodeltester.check(view.pods, force_py=True)

    assert view.select_cluster(cluster.id)
    await wait_until(lambda: view.nodes.rowCount() == 2, what="the nodes")
    await settle(window)
    assert [view.nodes.index(r, 0).data() for r in range(2)] == ["cp1", "gpu1"]
    assert view.nodes.index(1, 5).data() == "4"  # GPUs
    assert {view.namespaces.row_at(r).name for r in range(view.namespaces.rowCount())} >= {"default", "apps"}
    assert view.events.rowCount() == 1 and view.events.index(0, 2).data() == "Pulled"
    assert "2/2 nodes ready" in view.facts.text() and "4 GPUs allocatable" in view.facts.text()
    assert view.model.get(cluster.id).status == "reachable"
    # Pages of 500 (the model tester watching the model pages on: it calls fetchMore).
    view.pods.fetchMore()
    await settle(window)
    assert view.pods.rowCount() == 620 and not view.pods.canFetchMore()
    pod_lists = [r.query for r in kube_api.emulator.seen if r.path == "/api/v1/pods"]
    assert [q.get("limit") for q in pod_lists] == ["500", "500"] and "continue" in pod_lists[1]
    assert len({view.pods.key_at(r) for r in range(620)}) == 620

    # Logs: the last lines, then follow.
    assert view.select_pod("apps", "web-0003")
    view.show_log()
    await wait_until(lambda: "request 4" in view.log.toPlainText(), what="the log")
    view.follow.setChecked(True)
    await wait_until(lambda: kube_api.emulator.log_streams_opened == 1, what="the follow stream")
    await kube_api.emulator.append_log("apps", "web-0003", "request 5 (live)")
    await wait_until(lambda: "request 5 (live)" in view.log.toPlainText(), what="a followed line")
    view.follow.setChecked(False)  # stop: the stream closes
    await wait_until(lambda: kube_api.emulator.log_streams_closed == 1, what="the stream to close")
    assert view.follow_task is None

    # Protect: delete is then blocked in the preview.
    view.protected.click()
    await wait_until(lambda: view.model.get(cluster.id).protected, what="protected")
    view.delete_button.click()
    await wait_until(lambda: find_dialog(AffectedPreviewDialog) is not None, what="the preview")
    preview = find_dialog(AffectedPreviewDialog)
    assert not preview.yes.isEnabled() and "protected" in preview.blocked.text()
    preview.no.click()
    view.protected.click()
    await wait_until(lambda: not view.model.get(cluster.id).protected, what="unprotected")

    # A member host: the preview names it and its effect; then delete.
    async with engine.db.unit_of_work() as uow:
        uow.session.add(
            Host(
                hostname="gpu1",
                source=HostSource.MANUAL,
                state=HostState.IN_CLUSTER,
                cluster_id=cluster.id,
                cluster_role="agent",
                ssh_address="10.0.0.9",
            )
        )
    view.delete_button.click()
    await wait_until(lambda: find_dialog(AffectedPreviewDialog) is not None, what="the preview")
    preview = find_dialog(AffectedPreviewDialog)
    texts = [preview.items.item(i).text() for i in range(preview.items.count())]
    assert any(t.startswith("Host gpu1: leaves the cluster") for t in texts), texts
    assert any(t.startswith("Secret cluster/") for t in texts), texts
    assert preview.yes.isEnabled()
    preview.yes.click()
    await wait_until(lambda: view.model.rowCount() == 0, what="the cluster to go")
    assert await engine.clusters.list_clusters(admin_user) == []
    assert view.title.text() == "No cluster selected"


async def test_pick_a_context_from_a_kubeconfig_file(
    engine, admin_user, open_session, kube_api, tmp_path
) -> None:
    path = tmp_path / "config"
    path.write_text(kube_api.kubeconfig(context="lab"))
    window = await open_session(admin_user)
    view = await _view(window)
    dialog = view.add_cluster()
    dialog.path.setText(str(path))
    dialog.tabs.setCurrentIndex(PICK)
    await wait_until(lambda: dialog.contexts.count() == 1, what="the contexts")
    assert dialog.contexts.currentData() == "lab"
    dialog.name.setText("lab")
    dialog.buttons.ok.click()
    await wait_until(lambda: closed(dialog), what="the dialog to close")
    (cluster,) = await engine.clusters.list_clusters(admin_user)
    assert cluster.context == "lab" and cluster.api_server == kube_api.url


async def test_a_viewer_cannot_add_protect_or_delete(engine, admin_user, open_session) -> None:
    await engine.users.create_user(admin_user, "vic", "viewer-password", "viewer")
    viewer = await engine.users.authenticate("vic", "viewer-password")
    window = await open_session(viewer)
    view = await _view(window)
    for widget in (view.add_button, view.protected, view.delete_button):
        assert not widget.isEnabled()
        assert "vic has the viewer role" in widget.toolTip()
    await asyncio.sleep(0)
