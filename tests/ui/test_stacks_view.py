"""Stacks view against a real engine: every field through the editor, validation errors at
the fields (nothing saved), edit, a stale-version conflict that keeps what was typed,
delete after a confirmation, compose import and the YAML round trip, the viewer role."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from podwarden.engine.schemas.stacks import stack_from_yaml, validate_stack
from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.context import UiContext
from podwarden.ui.views.stack_editor.models import StacksModel
from podwarden.ui.views.stack_editor.rows import RowsEditModel
from podwarden.ui.views.stacks import StacksView
from tests.ui.helpers import settle, wait_until

COMPOSE = """\
name: shop
services:
  web:
    image: ghcr.io/example/shop-web:2.1
    command: ["serve", "--db", "postgres://shop:${DB_PASSWORD:-secret}@db:5432/shop"]
    ports: ["8080:8000"]
    environment:
      REDIS_URL: redis://cache:6379/0
      LOG_LEVEL: ${LOG_LEVEL:-info}
    depends_on: [db, cache]
    restart: unless-stopped
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: shop
      POSTGRES_PASSWORD: ${DB_PASSWORD:-secret}
    volumes:
      - dbdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
      interval: 10s
  cache:
    image: redis:7-alpine
    command: ["redis-server", "--appendonly", "yes"]
    expose: ["6379"]
    volumes:
      - cachedata:/data
volumes:
  dbdata: {}
  cachedata: {}
"""


async def open_stacks(engine, window, changes, actor) -> StacksView:  # type: ignore[no-untyped-def]
    """The view inside the (signed-out) main window, as the sidebar would hold it."""
    view = StacksView(UiContext(engine, actor, changes))
    window.pages.addWidget(view)
    window.pages.setCurrentWidget(view)
    view.start()
    await settle(window)
    return view


async def a_viewer(engine, admin_user):  # type: ignore[no-untyped-def]
    await engine.users.create_user(admin_user, "vic", "viewer-password", "viewer")
    return await engine.users.authenticate("vic", "viewer-password")


def stored(view: StacksView) -> list[StackInfo]:
    return [view.model.row_at(r) for r in range(view.model.rowCount())]


def fill(model: RowsEditModel, row: int, **values: object) -> None:
    """Type into a row's cells the way the table's delegate does."""
    for key, value in values.items():
        index = model.index(row, model.column_of(key))
        if isinstance(value, bool):
            state = Qt.CheckState.Checked if value else Qt.CheckState.Unchecked
            assert model.setData(index, state.value, Qt.ItemDataRole.CheckStateRole)
        else:
            assert model.setData(index, value, Qt.ItemDataRole.EditRole)


def panel_messages(window) -> list[str]:  # type: ignore[no-untyped-def]
    return [entry.message for entry in window.error_dock.panel.entries]


async def test_the_view_opens_and_its_models_pass_the_tester(
    engine, admin_user, window, changes, qtmodeltester
) -> None:
    view = await open_stacks(engine, window, changes, admin_user)
    qtmodeltester.check(view.model, force_py=True)
    assert view.model.rowCount() == 0
    assert view.title.text() == "New stack"
    assert view.save_button.isEnabled() and not view.delete_button.isEnabled()
    assert not view.export_yaml_button.isEnabled()
    info = await engine.stacks.create_stack(admin_user, {"name": "web", "image": "nginx"})
    await wait_until(lambda: view.model.row_of(info.id) is not None, what="the live refresh")
    listing = StacksModel()
    qtmodeltester.check(listing, force_py=True)
    listing.replace([info])
    assert listing.index(0, 0).data() == "web" and listing.index(0, 2).data() == "nginx"
    assert listing.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is None

    for name, editor in view.editor.lists.items():
        model = editor.model
        qtmodeltester.check(model, force_py=True)
        first = model.add_row()
        second = model.add_row()
        key = model.specs[0].key
        if model.specs[0].kind == "choice":
            model.setData(model.index(first, 0), model.specs[0].choices[2], Qt.ItemDataRole.EditRole)
        else:
            fill(model, first, **{key: "x1"})
        model.set_errors({(second, key): "bad"})
        assert model.index(second, 0).data(Qt.ItemDataRole.ToolTipRole) == "bad", name
        assert model.index(second, 0).data(Qt.ItemDataRole.WhatsThisRole) is None
        model.remove_row(first)
        assert model.error(0, key) == "bad"  # the error moved up with its row
        model.set_items([])
        assert model.rowCount() == 0
    fresh = RowsEditModel(view.editor.volumes.model.specs)
    qtmodeltester.check(fresh, force_py=True)
    fresh.set_items([{"type": "pvc", "name": "data", "mount_path": "/data", "size": "1Gi"}])
    size = fresh.index(0, fresh.column_of("size"))
    path = fresh.index(0, fresh.column_of("path"))
    assert size.data() == "1Gi" and bool(size.flags() & Qt.ItemFlag.ItemIsEditable)
    assert path.data() is None and not path.flags() & Qt.ItemFlag.ItemIsEnabled  # not for a PVC


async def test_invalid_field_is_shown_inline_then_every_field_saves(
    engine, admin_user, window, changes
) -> None:
    view = await open_stacks(engine, window, changes, admin_user)
    ed = view.editor
    view.new_stack()
    ed.general.name.setText("whisper-api")
    ed.general.image.setText("ghcr.io/acme/whisper:latest")  # a tag in the image: invalid
    ed.resources.cpu_limit.setText("two cores")  # not a quantity
    ports = ed.ports.model
    fill(ports, ports.add_row(), name="http", container_port="eighty")
    view.save_button.click()
    await settle(window)
    assert "tag" in ed.field_error("image")
    assert "quantity" in ed.field_error("resources.cpu_limit")
    assert "whole number" in ed.field_error("ports.0.container_port")
    assert not ed.ports.error_label.isHidden() and "row 1, container port" in ed.ports.error_label.text()
    assert "problems" in ed.summary.text() and ed.summary.isVisible()
    assert "border" in ed.general.image.styleSheet()
    assert ed.tabs.tabText(0).startswith("⚠") and ed.tabs.tabText(1).startswith("⚠")
    assert not ed.tabs.tabText(2).startswith("⚠")
    assert (await engine.stacks.list_stacks(admin_user)).total == 0  # nothing saved
    assert view.model.rowCount() == 0 and view.current is None
    assert panel_messages(window) == []  # shown at the fields, not in the panel

    # Fix it and fill every field.
    ed.general.image.setText("ghcr.io/acme/whisper")
    ed.general.image_tag.setText("1.4.2")
    ed.resources.cpu_limit.setText("2")
    fill(ports, 0, container_port="8000")
    fill(ports, ports.add_row(), name="metrics", container_port="9100", protocol="TCP")
    ed.general.description.setText("Speech to text")
    ed.general.kind.setCurrentText("deployment")
    ed.general.version.setText("2")
    ed.general.tags.setText("ai, gpu")
    ed.general.registry_url.setText("registry.example.com:5000")
    ed.general.registry_secret.setText("registry/ghcr")
    ed.general.command.setPlainText("python\n-m\nwhisper_api")
    ed.general.args.setPlainText("--port\n8000")
    ed.resources.cpu_request.setText("500m")
    ed.resources.memory_request.setText("4Gi")
    ed.resources.memory_limit.setText("8Gi")
    ed.resources.gpu_count.setValue(1)
    ed.resources.vram.setText("8000")
    env = ed.env.model
    fill(env, env.add_row(), name="MODEL", value="large-v3")
    schema = ed.env_schema.model
    fill(schema, schema.add_row(), name="API_TOKEN", required=True, description="Bearer token", generate=True)
    fill(schema, schema.add_row(), name="LANGUAGE", default_value="en")
    slots = ed.config_slots
    slots.select(slots.model.add_row())
    fill(slots.model, 0, name="settings", key="settings.toml", mount_path="/etc/whisper/settings.toml")
    fill(slots.model, 0, file_type="toml", required=True, description="Model settings")
    slots.content.setPlainText('beam_size = 5\nlanguage = "en"\n')
    volumes = ed.volumes.model
    fill(volumes, volumes.add_row(), type="pvc", name="models", mount_path="/models", size="20Gi")
    fill(volumes, 0, access_mode="RWX", storage_class="longhorn", retain_on_undeploy=False)
    fill(volumes, volumes.add_row(), type="emptyDir", name="scratch", mount_path="/tmp/scratch")
    fill(volumes, 1, medium="Memory", size_limit="1Gi")
    fill(volumes, volumes.add_row(), type="hostPath", name="cache", mount_path="/cache", path="/var/cache/w")
    fill(volumes, volumes.add_row(), type="nfs", name="shared", mount_path="/shared")
    fill(volumes, 3, storage_connection="nas", sub_path="whisper", read_only=True)
    fill(
        volumes, volumes.add_row(), type="s3", name="bucket", storage_connection="minio", env_prefix="AUDIO_"
    )
    selector = ed.node_selector.model
    fill(selector, selector.add_row(), key="nvidia.com/gpu.present", value="true")
    ed.network.host_network.setChecked(True)
    ed.network.dns_policy.setCurrentText("ClusterFirstWithHostNet")
    ed.network.network_types["mesh"].setChecked(True)
    assert view.dirty
    view.save_button.click()
    await wait_until(lambda: view.model.rowCount() == 1, what="the saved stack in the list")
    await settle(window)
    assert ed.field_error("image") == "" and ed.field_error("ports.0.container_port") == ""
    assert not ed.summary.isVisible() and ed.general.image.styleSheet() == ""
    assert not view.dirty and view.current is not None
    (info,) = (await engine.stacks.list_stacks(admin_user)).items
    assert view.current.id == info.id and view.title.text().startswith("whisper-api")
    stack = info.stack
    assert (stack.image, stack.image_tag, stack.version, stack.tags) == (
        "ghcr.io/acme/whisper", "1.4.2", "2", ["ai", "gpu"]
    )  # fmt: skip
    assert (stack.registry_url, stack.registry_secret) == ("registry.example.com:5000", "registry/ghcr")
    assert stack.command == ["python", "-m", "whisper_api"] and stack.args == ["--port", "8000"]
    assert [(p.name, p.container_port, p.protocol) for p in stack.ports] == [
        ("http", 8000, "TCP"), ("metrics", 9100, "TCP")
    ]  # fmt: skip
    res = stack.resources
    assert (res.cpu_request, res.cpu_limit, res.memory_request, res.memory_limit) == (
        "500m",
        "2",
        "4Gi",
        "8Gi",
    )
    assert (res.gpu_count, res.vram_request_mb) == (1, 8000)
    assert [(e.name, e.value) for e in stack.env] == [("MODEL", "large-v3")]
    token, language = stack.env_schema
    assert token.required and token.generate and token.description == "Bearer token"
    assert language.default_value == "en" and not language.required
    (slot,) = stack.config_slots
    assert (slot.key, slot.mount_path, slot.file_type, slot.required) == (
        "settings.toml", "/etc/whisper/settings.toml", "toml", True
    )  # fmt: skip
    assert slot.default_content == 'beam_size = 5\nlanguage = "en"\n'
    assert [v.type for v in stack.volumes] == ["pvc", "emptyDir", "hostPath", "nfs", "s3"]
    pvc = stack.volumes[0]
    assert (pvc.size, pvc.access_mode, pvc.storage_class, pvc.retain_on_undeploy) == (  # type: ignore[union-attr]
        "20Gi", "RWX", "longhorn", False
    )  # fmt: skip
    assert stack.volumes[3].read_only and stack.volumes[4].env_prefix == "AUDIO_"  # type: ignore[union-attr]
    assert stack.node_selector == {"nvidia.com/gpu.present": "true"}
    assert stack.host_network and stack.dns_policy == "ClusterFirstWithHostNet"
    assert stack.required_network_types == ["mesh"]
    # The editor shows the stored stack: its document validates to the same stack.
    assert validate_stack(ed.document()) == stack


async def test_edit_save_and_a_stale_save_keeps_the_edits(engine, admin_user, window, changes) -> None:
    info = await engine.stacks.create_stack(
        admin_user,
        {
            "name": "web",
            "image": "nginx",
            "image_tag": "1.27",
            "ports": [{"name": "http", "container_port": 80}],
        },
    )
    view = await open_stacks(engine, window, changes, admin_user)
    assert view.select_stack(info.id)
    assert view.editor.general.image_tag.text() == "1.27" and view.editor.ports.model.rowCount() == 1
    view.editor.general.image_tag.setText("1.28")
    view.editor.general.image_tag.textEdited.emit("1.28")
    assert view.dirty and "(edited)" in view.title.text()
    view.save()
    await wait_until(
        lambda: view.current is not None and view.current.version == info.version + 1, what="saved"
    )
    assert (await engine.stacks.get_stack(admin_user, info.id)).stack.image_tag == "1.28"
    assert view.model.get(info.id).image == "nginx:1.28"

    # A change made elsewhere shows at once while nothing is edited here.
    saved = view.current
    await engine.stacks.update_stack(
        admin_user,
        info.id,
        {**saved.stack.model_dump(), "description": "live"},
        expected_version=saved.version,
    )
    await wait_until(lambda: view.editor.general.description.text() == "live", what="the live reload")
    assert not view.dirty and view.current.version == saved.version + 1

    # Someone else saves meanwhile; our edit is based on the older version.
    loaded = view.current
    view.editor.general.description.setText("typed here")
    view.editor.general.description.textEdited.emit("typed here")
    elsewhere = await engine.stacks.update_stack(
        admin_user, info.id, {**loaded.stack.model_dump(), "description": "from elsewhere"},
        expected_version=loaded.version,
    )  # fmt: skip
    await wait_until(lambda: "changed elsewhere" in view.note.text(), what="the changed-elsewhere note")
    view.save()
    await wait_until(lambda: panel_messages(window), what="the conflict in the error panel")
    assert "changed by someone else" in panel_messages(window)[-1]
    assert view.editor.general.description.text() == "typed here" and view.dirty  # nothing typed is lost
    assert "Revert" in view.editor.summary.text()
    assert (await engine.stacks.get_stack(admin_user, info.id)).version == elsewhere.version
    view.revert()
    await wait_until(
        lambda: view.editor.general.description.text() == "from elsewhere", what="the stored stack"
    )
    assert not view.dirty and view.current.version == elsewhere.version
    window.error_dock.panel.clear()


async def test_delete_asks_first(engine, admin_user, window, changes) -> None:
    info = await engine.stacks.create_stack(admin_user, {"name": "old", "image": "busybox"})
    view = await open_stacks(engine, window, changes, admin_user)
    view.select_stack(info.id)
    box = view.delete_selected()
    assert box is not None and "old" in box.text()
    box.findChild(QPushButton, "confirm-no").click()
    await settle(window)
    assert (await engine.stacks.list_stacks(admin_user)).total == 1
    view.delete_button.click()
    view.confirm_box.findChild(QPushButton, "confirm-yes").click()
    await wait_until(lambda: view.model.rowCount() == 0, what="the stack to go")
    assert (await engine.stacks.list_stacks(admin_user)).total == 0
    assert view.current is None and view.title.text() == "New stack"


async def test_compose_import_and_the_yaml_round_trip(engine, admin_user, window, changes, tmp_path) -> None:
    view = await open_stacks(engine, window, changes, admin_user)
    compose = tmp_path / "shop" / "compose.yaml"
    compose.parent.mkdir()
    compose.write_text(COMPOSE, encoding="utf-8")
    dialog = view.ask_project_name(compose)  # what picking the file opens
    assert dialog.textValue() == "shop"
    dialog.reject()
    view.import_compose_file(compose, "shop")
    await wait_until(lambda: view.last_import is not None, what="the compose import")
    await settle(window)
    result = view.last_import
    names = sorted(info.name for info in result.stacks)
    assert len(names) == 3 and view.model.rowCount() == 3
    assert "Imported 3 stack(s) from compose project shop" in view.note.text()
    assert all(name in view.note.text() for name in names)
    assert all(f"⚠ {w}" in view.note.text() for w in result.warnings)
    assert view.current is not None and view.current.id == result.stacks[0].id
    db = next(info for info in result.stacks if info.stack.image == "postgres")
    view.select_stack(db.id)
    assert view.editor.general.image.text() == "postgres" and view.editor.general.image_tag.text() == "16"
    assert any(row["type"] == "pvc" for row in view.editor.volumes.model.rows)
    assert "DB_PASSWORD" in {row["name"] for row in view.editor.env_schema.model.rows}

    # Export YAML; it reads back as the same stack; imported under a new name it is a new stack.
    out = tmp_path / "db.yaml"
    view.export_yaml_to(out)
    await wait_until(out.exists, what="the exported file")
    await settle(window)
    text = out.read_text(encoding="utf-8")
    assert stack_from_yaml(text) == db.stack and "Exported" in view.note.text()
    copy = tmp_path / "copy.yaml"
    copy.write_text(text.replace(f"name: {db.name}\n", "name: db-copy\n", 1), encoding="utf-8")
    view.import_yaml_file(copy)
    await wait_until(lambda: view.model.rowCount() == 4, what="the imported copy")
    assert view.current is not None and view.current.name == "db-copy"
    assert view.current.stack.model_copy(update={"name": db.name}) == db.stack

    # The same compose again: names are taken, nothing half-imported; the panel says why.
    view.import_compose_file(compose, "shop")
    await wait_until(lambda: panel_messages(window), what="the refusal")
    assert "already exists" in panel_messages(window)[-1]
    assert (await engine.stacks.list_stacks(admin_user)).total == 4
    view.import_yaml_file(tmp_path / "missing.yaml")
    await wait_until(lambda: len(panel_messages(window)) == 2, what="the unreadable file")
    assert "Cannot read" in panel_messages(window)[-1]
    window.error_dock.panel.clear()


async def test_a_viewer_sees_stacks_read_only(engine, admin_user, window, changes) -> None:
    info = await engine.stacks.create_stack(
        admin_user, {"name": "web", "image": "nginx", "ports": [{"name": "http", "container_port": 80}]}
    )
    viewer = await a_viewer(engine, admin_user)
    view = await open_stacks(engine, window, changes, viewer)
    for widget in (view.new_button, view.save_button, view.delete_button, view.import_compose_button,
                   view.import_yaml_button):  # fmt: skip
        assert not widget.isEnabled(), widget.objectName()
        assert "vic has the viewer role" in widget.toolTip(), widget.objectName()
    assert view.select_stack(info.id)
    assert view.editor.general.name.text() == "web" and view.editor.general.name.isReadOnly()
    assert not view.delete_button.isEnabled()  # a selection does not enable it
    assert view.export_yaml_button.isEnabled()  # reading is allowed
    assert not view.editor.ports.add_button.isEnabled()
    ports = view.editor.ports.model
    assert ports.rowCount() == 1 and not ports.flags(ports.index(0, 0)) & Qt.ItemFlag.ItemIsEditable
    assert not ports.setData(ports.index(0, 0), "web", Qt.ItemDataRole.EditRole)
    assert view.findChild(QLabel, "read-only-hint") is not None


async def test_the_screenshot_samples_render(engine, admin_user, window, changes, tmp_path) -> None:
    from podwarden.ui.views.stack_editor.samples import render_stacks, seed_stacks

    seeded = await seed_stacks(engine, admin_user)
    assert len(seeded) == 4 and any(info.stack.resources.gpu_count for info in seeded)
    view = await open_stacks(engine, window, changes, admin_user)
    window.views["Stacks"] = view  # what the sidebar wiring does
    assert view.model.rowCount() == 4
    written = await render_stacks(window, engine, admin_user, tmp_path, "04-stacks")
    assert len(written) == view.editor.tabs.count() + 1
    assert all(path.stat().st_size > 1000 for path in written)
    assert "DNS label" in view.editor.field_error("name") and "tag" in view.editor.field_error("image")
    assert (await engine.stacks.list_stacks(admin_user)).total == 4
    del window.views["Stacks"]


async def test_unsaved_edits_are_not_dropped_by_a_click(engine, admin_user, window, changes) -> None:
    web = await engine.stacks.create_stack(admin_user, {"name": "web", "image": "nginx"})
    db = await engine.stacks.create_stack(admin_user, {"name": "db", "image": "postgres"})
    view = await open_stacks(engine, window, changes, admin_user)
    view.select_stack(web.id)
    view.editor.general.description.setText("half typed")
    view.editor.general.description.textEdited.emit("half typed")
    view.table.selectRow(view.model.row_of(db.id))  # a click on another stack
    box = view.confirm_box
    assert box is not None and box.isVisible() and "web" in box.text()
    assert view.current.id == web.id and view.editor.general.description.text() == "half typed"
    assert view.table.selectionModel().selectedRows()[0].row() == view.model.row_of(web.id)
    box.findChild(QPushButton, "confirm-no").click()
    await settle(window)
    assert view.dirty and view.editor.general.description.text() == "half typed"
    view.new_stack()  # also asks
    view.confirm_box.findChild(QPushButton, "confirm-yes").click()
    await settle(window)
    assert view.current is None and not view.dirty and view.editor.general.name.text() == ""
    assert not view.table.selectionModel().selectedRows()
    view.select_stack(db.id)
    assert view.current.id == db.id and view.editor.general.image.text() == "postgres"


def test_models_hand_none_back_without_draining_its_refcount(qtbot) -> None:
    """The PySide6 6.12.0 guard (tests/ui/test_main_window.py) for this view's models."""
    import sys

    from podwarden.ui.views.stack_editor.lists import VOLUME_FIELDS

    model = RowsEditModel(VOLUME_FIELDS)
    model.set_items([{"type": "pvc", "name": "d", "mount_path": "/d", "size": "1Gi"}, {"name": "e"}])
    stacks = StacksModel()
    before = sys.getrefcount(None)
    for i in range(2000):
        model.itemData(model.index(i % 2, i % len(VOLUME_FIELDS)))
        model.headerData(i % 3, Qt.Orientation.Vertical, Qt.ItemDataRole.DisplayRole)
        stacks.headerData(i % 3, Qt.Orientation.Vertical, Qt.ItemDataRole.DisplayRole)
    drift = sys.getrefcount(None) - before
    if sys.version_info < (3, 12):
        assert abs(drift) < 200, f"None's refcount drifted by {drift}"
