"""Hosts view against a real engine: paging, SQL sort and filters, add with inline errors,
role-aware actions, protected hosts, live refresh; the model passes the model tester."""

from __future__ import annotations

import asyncio
import uuid

from PySide6.QtCore import Qt
from sqlalchemy import insert, update

from podwarden.engine.models.fleet import Host, HostSource, HostState
from podwarden.ui.dialogs.add_host import AddHostDialog, restore_key_lines
from podwarden.ui.views.hosts import NO_PROVISIONING, HostsView
from tests.ui.helpers import closed, settle, wait_until

STATES = list(HostState)


def host_rows(count: int, start: int = 0) -> list[dict[str, object]]:
    """``count`` hosts: every 10th has a GPU; states and networks rotate."""
    rows = []
    for i in range(start, start + count):
        gpu = i % 10 == 0
        rows.append(
            {
                "id": uuid.uuid4(),
                "hostname": f"node-{i:05d}",
                "source": HostSource.MANUAL,
                "state": STATES[i % len(STATES)],
                "addresses": [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"],
                "ssh_address": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                "ssh_port": 22,
                "ssh_user": "root",
                "cpu_cores": 2 + i % 30,
                "memory_bytes": (4 + i % 60) * 2**30,
                "gpu_count": 2 if gpu else 0,
                "gpu_model": "NVIDIA RTX 4090" if gpu else None,
                "gpu_vram_mb": 24564 if gpu else None,
                "network_types": ["mesh", "lan"] if i % 2 else ["lan"],
                "tailscale_tags": [],
                "facts": {},
                "notes": "",
            }
        )
    return rows


async def seed_hosts(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(insert(Host), host_rows(count))


async def _hosts_view(window) -> HostsView:  # type: ignore[no-untyped-def]
    window.select_section("Hosts")
    view = window.views["Hosts"]
    await settle(window)
    return view


async def test_empty_then_paging_sorting_filtering_in_sql(
    engine, admin_user, open_session, qtmodeltester
) -> None:
    window = await open_session(admin_user)
    view = await _hosts_view(window)
    model = view.model
    qtmodeltester.check(model, force_py=True)
    assert model.rowCount() == 0 and not model.canFetchMore()
    assert view.title.text() == "No host selected"
    assert not view.probe_button.isEnabled() and view.probe_button.toolTip() == "Select a host first."

    await seed_hosts(engine, 200)
    model.page_size = 50
    view.reload()
    await settle(window)
    shown = model.rowCount()  # a page, or a few while the table fills its height
    assert shown < 200 and shown % 50 == 0 and model.total == 200 and model.canFetchMore()
    assert model.row_at(0).hostname == "node-00000"
    assert view.count_label.text() == f"{shown} of 200 hosts"
    model.fetchMore()
    await settle(window)
    assert model.rowCount() == shown + 50
    assert [model.row_at(r).hostname for r in range(shown + 50)] == [
        f"node-{i:05d}" for i in range(shown + 50)
    ]

    # A header click sorts in the database (descending by name: the last host comes first).
    view.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
    await settle(window)
    assert model.sort_key == "hostname" and model.descending
    assert model.rowCount() < 200 and model.row_at(0).hostname == "node-00199"
    # RAM column, ascending: the smallest memory first, across all 200 rows (not just the page).
    ram = [c.title for c in model.columns].index("RAM")
    view.table.horizontalHeader().setSortIndicator(ram, Qt.SortOrder.AscendingOrder)
    await settle(window)
    assert model.row_at(0).memory_bytes == 4 * 2**30
    view.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
    await settle(window)

    # Filters: state, network, GPU, text (debounced).
    view.state_filter.setCurrentIndex(view.state_filter.findData(HostState.MISSING.value))
    await settle(window)
    assert model.total == 40 and {model.row_at(r).state for r in range(model.rowCount())} == {
        HostState.MISSING
    }
    view.state_filter.setCurrentIndex(0)
    view.gpu_filter.setCurrentIndex(view.gpu_filter.findData(True))
    await settle(window)
    assert model.total == 20 and all(model.row_at(r).gpu_count > 0 for r in range(model.rowCount()))
    view.network_filter.setCurrentIndex(view.network_filter.findData("mesh"))
    await settle(window)
    assert model.rowCount() == 0  # GPU hosts are the even ones: lan only
    view.network_filter.setCurrentIndex(0)
    view.gpu_filter.setCurrentIndex(0)
    await settle(window)
    for ch in "node-0012":  # keystrokes: each restarts the debounce; stale loads are cancelled
        view.text_filter.insert(ch)
    await wait_until(lambda: model.filters.text == "node-0012", what="the debounced filter")
    await settle(window)
    assert model.total == 10 and model.keys and model.row_at(0).hostname == "node-00120"
    assert view.count_label.text() == "10 hosts"
    view.text_filter.setText("10.0.0.7")  # matches addresses too
    await wait_until(lambda: model.filters.text == "10.0.0.7", what="the address filter")
    await settle(window)
    assert [model.row_at(r).hostname for r in range(model.rowCount())] == ["node-00007"] + [
        f"node-{i:05d}" for i in range(70, 80)
    ]
    assert window.error_dock.panel.entries == []


async def test_detail_delete_and_protected_hosts(engine, admin_user, open_session) -> None:
    await seed_hosts(engine, 3)
    window = await open_session(admin_user)
    view = await _hosts_view(window)
    model = view.model
    first, second = model.key_at(0), model.key_at(1)
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(update(Host).where(Host.id == second).values(protected=True))
        uow.announce("hosts", [second])
    await wait_until(lambda: model.get(second).protected, what="the live refresh")

    assert view.select_host(second)
    await asyncio.sleep(0.05)
    assert view.badge.isVisible() and view.badge.text() == "protected"
    assert "NVIDIA" not in view.detail.text() and "Last probe" in view.detail.text()
    assert not view.delete_button.isEnabled()
    assert view.delete_button.toolTip() == "node-00001 is protected."
    assert not view.wipe_button.isEnabled()
    assert view.wipe_button.toolTip() == "node-00001 is protected."
    assert not view.provision_button.isEnabled()
    assert view.provision_button.toolTip() == "node-00001 is protected."
    assert not view.accept_key_button.isEnabled()

    assert view.select_host(first)
    await asyncio.sleep(0.05)
    assert "2 × NVIDIA RTX 4090 (24564 MiB each)" in view.detail.text()  # host 0 has GPUs
    assert not view.badge.isVisible()
    assert view.delete_button.isEnabled() and view.probe_button.isEnabled()
    view.delete_button.click()
    box = window.findChild(object, "confirm")
    assert box is not None and "node-00000" in box.text()
    assert box.findChild(object, "confirm-yes").text() == "Delete node-00000"
    box.findChild(object, "confirm-yes").click()
    await wait_until(lambda: model.row_of(first) is None, what="the deleted host to go")
    page = await engine.hosts.list_hosts(admin_user)
    assert page.total == 2


async def test_add_manual_host_inline_error_then_valid(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    view = await _hosts_view(window)
    dialog: AddHostDialog = view.add_host()
    dialog.hostname.setText("bad_name!")
    dialog.ssh_user.setText("root")
    dialog.key.setText("not a key at all")
    assert dialog.key.echoMode() == dialog.key.EchoMode.Password
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.isVisible()
    assert dialog.form.error("hostname") == "not an IP address or host name"
    assert (await engine.hosts.list_hosts(admin_user)).total == 0  # nothing saved
    assert window.error_dock.panel.entries == []  # shown in the form, not the panel

    dialog.hostname.setText("gpu-01.lan")
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.form.error("hostname") == ""
    assert dialog.form.error("ssh_private_key") == "unreadable key"
    assert (await engine.hosts.list_hosts(admin_user)).total == 0

    dialog.key.clear()  # the ssh-agent
    dialog.ssh_port.setValue(2222)
    dialog.buttons.ok.click()
    await wait_until(lambda: closed(dialog), what="the dialog to close")
    page = await engine.hosts.list_hosts(admin_user)
    assert [(h.hostname, h.ssh_port, h.uses_ssh_agent) for h in page.rows] == [("gpu-01.lan", 2222, True)]
    await wait_until(lambda: view.model.row_of(page.rows[0].id) is not None, what="the new host in the table")


def test_a_pasted_key_gets_its_line_breaks_back() -> None:
    flat = "-----BEGIN OPENSSH PRIVATE KEY----- b3Blbn NzaC1r ZXktdjE= -----END OPENSSH PRIVATE KEY-----"
    assert restore_key_lines(flat) == (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\nNzaC1r\nZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    assert restore_key_lines("garbage") == "garbage"


async def test_a_viewer_sees_every_mutating_action_disabled(engine, admin_user, open_session) -> None:
    await engine.users.create_user(admin_user, "vic", "viewer-password", "viewer")
    viewer = await engine.users.authenticate("vic", "viewer-password")
    await seed_hosts(engine, 2)
    window = await open_session(viewer)
    view = await _hosts_view(window)
    assert view.model.rowCount() == 2  # viewers read
    view.select_host(view.model.key_at(0))
    await asyncio.sleep(0.05)
    for button in (
        view.discover_button,
        view.add_button,
        view.probe_button,
        view.accept_key_button,
        view.delete_button,
        view.provision_button,
        view.wipe_button,
        view.register_button,
    ):
        assert not button.isEnabled(), button.objectName()
        assert button.toolTip().startswith("Needs the "), (button.objectName(), button.toolTip())
        assert "vic has the viewer role" in button.toolTip()


async def test_provisioning_actions_follow_the_service(engine, admin_user, open_session) -> None:
    """Without engine.provisioning they say it is coming; with it, they open their dialogs."""
    from podwarden.engine.services.provisioning import ProvisioningService
    from podwarden.ui.dialogs.provision import ProvisionDialog

    await seed_hosts(engine, 1)
    await engine.clusters.create_from_kubeconfig(
        admin_user,
        "lab",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: abc}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n",
    )
    window = await open_session(admin_user)
    view = await _hosts_view(window)
    view.select_host(view.model.key_at(0))
    await asyncio.sleep(0.05)
    if getattr(engine, "provisioning", None) is None:
        assert not view.provision_button.isEnabled() and view.provision_button.toolTip() == NO_PROVISIONING
        engine.provisioning = ProvisioningService(engine.context)  # what the engine's wiring adds
    view._update_actions()
    assert (
        view.provision_button.isEnabled()
        and view.register_button.isEnabled()
        and view.wipe_button.isEnabled()
    )
    view.provision_button.click()
    dialog = window.findChild(ProvisionDialog, "provision")
    assert dialog is not None
    await settle(window)
    assert dialog.cluster.count() == 1 and dialog.cluster.itemText(0) == "lab"
    assert dialog.name.text() == "node-00000"
    dialog.buttons.cancel.click()


async def test_the_dashboard_counts_hosts_clusters_and_gpus(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    dashboard = window.views["Dashboard"]
    assert set(dashboard.host_counts_text().values()) == {"0"}
    assert dashboard.clusters_count.text() == "0" and dashboard.gpu_count.text() == "0 GPUs"
    await seed_hosts(engine, 200)
    dashboard.reload()
    await settle(window)
    assert dashboard.host_counts_text() == {state.value: "40" for state in HostState}
    assert dashboard.gpu_count.text() == "40 GPUs"  # 20 hosts with 2 each
    assert dashboard.gpu_note.text() == f"on 20 hosts · {40 * 24564 / 1024:.0f} GiB VRAM"
