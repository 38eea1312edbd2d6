"""Settings: users, secrets, Tailscale and registry defaults against a real engine."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from podwarden.engine.errors import AuthenticationError
from podwarden.ui.dialogs.secrets import SecretDialog
from podwarden.ui.dialogs.users import AddUserDialog, ResetPasswordDialog
from tests.ui.helpers import closed, settle, wait_until


async def test_add_user_shows_a_short_password_at_its_field_and_saves_nothing(
    engine, admin_user, open_session
) -> None:
    window = await open_session(admin_user)
    window.select_section("Settings")
    users = window.views["Settings"].users
    assert [users.model.row_at(r).username for r in range(users.model.rowCount())] == ["admin"]

    users.add_button.click()
    dialog = users.dialog
    assert isinstance(dialog, AddUserDialog) and dialog.isVisible()
    dialog.username.setText("bob")
    dialog.role.setCurrentIndex(dialog.role.findData("operator"))
    dialog.password.setText("short")
    dialog.confirm.setText("short")
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.form.error("password") == "at least 8 characters"
    assert dialog.isVisible()
    assert [u.username for u in await engine.users.list_users(admin_user)] == ["admin"]

    dialog.username.setText("no spaces allowed")
    dialog.password.setText("long-enough-pw")
    dialog.confirm.setText("long-enough-pw")
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.form.error("username") == "invalid username"
    assert dialog.form.error("password") == ""

    left_behind: list[str] = []
    dialog.finished.connect(lambda _r: left_behind.append(dialog.password.text() + dialog.confirm.text()))
    dialog.username.setText("bob")
    dialog.buttons.ok.click()
    await wait_until(lambda: users.model.rowCount() == 2, what="bob in the table")
    assert closed(dialog)
    assert left_behind == [""]  # the password does not linger in the widgets
    bob = users.model.row_at(1)
    assert (bob.username, bob.role.value) == ("bob", "operator")
    assert users.note.text() == "Added bob (operator)."

    # A duplicate name is the engine's ConflictError, shown in the dialog.
    users.add_button.click()
    again = users.dialog
    assert isinstance(again, AddUserDialog)
    again.username.setText("bob")
    again.password.setText("long-enough-pw")
    again.confirm.setText("long-enough-pw")
    again.buttons.ok.click()
    await settle(window)
    assert "already taken" in again.form.message_text
    again.reject()


async def test_roles_passwords_and_the_last_admin(engine, admin_user, open_session) -> None:
    await engine.users.create_user(admin_user, "carol", "carol-password", "viewer")
    window = await open_session(admin_user)
    users = window.views["Settings"].users
    window.select_section("Settings")

    # The last admin cannot be demoted: the engine's ConflictError shows inline, nothing changes.
    assert users.select("admin")
    users.role.setCurrentIndex(users.role.findData("viewer"))
    users.role_button.click()
    await settle(window)
    assert users.message.text() == "Cannot demote admin: PodWarden needs at least one admin."
    assert window.error_dock.panel.entries == []
    assert {u.username: u.role.value for u in await engine.users.list_users(admin_user)}["admin"] == "admin"

    # …nor deleted (after a confirmation that names the user).
    assert users.select("admin")
    users.delete_button.click()
    box = users.dialog
    assert isinstance(box, QMessageBox) and "“admin”" in box.text()
    box.findChild(type(users.delete_button), "confirm-yes").click()
    await settle(window)
    assert "Cannot delete admin" in users.message.text()

    # Promote carol, reset her password, then delete her.
    assert users.select("carol")
    users.role.setCurrentIndex(users.role.findData("operator"))
    users.role_button.click()
    await wait_until(lambda: users.note.text() == "carol is now operator.", what="the role change")
    assert users.select("carol")
    users.reset_button.click()
    reset = users.dialog
    assert isinstance(reset, ResetPasswordDialog)
    reset.password.setText("carol-new-password")
    reset.confirm.setText("carol-new-password")
    reset.buttons.ok.click()
    await wait_until(lambda: closed(reset), what="the reset dialog to close")
    carol = await engine.users.authenticate("carol", "carol-new-password")
    assert carol.role.value == "operator"

    assert users.select("carol")
    users.delete_button.click()
    box = users.dialog
    assert isinstance(box, QMessageBox) and "“carol”" in box.text()
    box.findChild(type(users.delete_button), "confirm-no").click()  # cancel keeps her
    await settle(window)
    assert users.model.rowCount() == 2
    users.delete_button.click()
    users.dialog.findChild(type(users.delete_button), "confirm-yes").click()
    await wait_until(lambda: users.model.rowCount() == 1, what="carol gone")
    try:
        await engine.users.authenticate("carol", "carol-new-password")
        raise AssertionError("carol can still sign in")
    except AuthenticationError:
        pass


async def test_secrets_are_names_only_and_values_write_only(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    window.select_section("Settings")
    secrets = window.views["Settings"].secrets
    window.views["Settings"].tabs.setCurrentWidget(secrets)
    assert secrets.model.rowCount() == 0

    secrets.new_button.click()
    dialog = secrets.dialog
    assert isinstance(dialog, SecretDialog)
    dialog.name.setText("Bad Name")
    dialog.value.setText("s3cr3t-value")
    dialog.buttons.ok.click()
    await settle(window)
    assert dialog.form.error("name") == "invalid secret name"
    assert await engine.secrets.list_secrets(admin_user) == []

    dialog.name.setText("registry/ghcr")
    dialog.kind.setCurrentText("registry")
    dialog.description.setText("pull token")
    dialog.buttons.ok.click()
    await wait_until(lambda: secrets.model.rowCount() == 1, what="the new secret")
    row = [secrets.model.index(0, c).data() for c in range(secrets.model.columnCount())]
    assert row[:3] == ["registry/ghcr", "registry", "pull token"]
    assert all("s3cr3t" not in str(cell) for cell in row)
    assert closed(dialog)
    assert (await engine.secrets.reveal("registry/ghcr")).reveal() == "s3cr3t-value"

    # Replace: the old value is never shown; a stale version is refused inline.
    assert secrets.select("registry/ghcr")
    secrets.replace_button.click()
    replace = secrets.dialog
    assert isinstance(replace, SecretDialog) and replace.value.text() == ""
    theirs = await engine.secrets.update_secret(admin_user, "registry/ghcr", "changed-elsewhere")
    replace.value.setText("new-value")
    replace.buttons.ok.click()
    await settle(window)
    assert "changed this record" in replace.form.message_text or "reload" in replace.form.message_text
    assert (await engine.secrets.reveal("registry/ghcr")).reveal() == "changed-elsewhere"
    replace.reject()
    # The change notice refreshed the row (live refresh): replacing now uses the new version.
    await wait_until(lambda: secrets.model.row_at(0).version == theirs.version, what="the refreshed row")
    assert secrets.select("registry/ghcr")
    secrets.replace_button.click()
    replace = secrets.dialog
    replace.value.setText("new-value")
    replace.buttons.ok.click()
    await wait_until(lambda: closed(replace), what="replace to finish")
    assert (await engine.secrets.reveal("registry/ghcr")).reveal() == "new-value"

    # Delete, confirming a box that names the secret.
    assert secrets.select("registry/ghcr")
    secrets.delete_button.click()
    box = secrets.dialog
    assert isinstance(box, QMessageBox) and "“registry/ghcr”" in box.text()
    box.findChild(type(secrets.delete_button), "confirm-yes").click()
    await wait_until(lambda: secrets.model.rowCount() == 0, what="the secret gone")
    assert await engine.secrets.list_secrets(admin_user) == []


async def test_tailscale_settings_save_whole_and_refuse_a_stale_save(
    engine, admin_user, open_session
) -> None:
    await engine.secrets.create_secret(admin_user, "tailscale/key", "tskey-api-1", kind="api-key")
    window = await open_session(admin_user)
    window.select_section("Settings")
    tab = window.views["Settings"].tailscale
    window.views["Settings"].tabs.setCurrentWidget(tab)
    assert tab.tailnet.text() == "-"
    assert tab.api_key_secret.findText("tailscale/key") >= 0

    tab.enabled.setChecked(True)
    tab.tailnet.setText("example.ts.net")
    tab.api_key_secret.setCurrentText("tailscale/key")
    tab.save_button.click()
    await settle(window)
    assert tab.form.note.text() == "Saved."
    doc, version = await engine.config.get_system_config(admin_user)
    assert (doc.tailscale.enabled, doc.tailscale.tailnet, doc.tailscale.api_key_secret) == (
        True,
        "example.ts.net",
        "tailscale/key",
    )

    # Someone else saves meanwhile: our save is refused, nothing of it is written.
    tab.tailnet.setText("mine.ts.net")
    tab.tailnet.textEdited.emit("mine.ts.net")
    await engine.config.update_system_config(
        admin_user, {"tailscale": {"tailnet": "theirs.ts.net"}}, expected_version=version
    )
    await wait_until(lambda: tab.elsewhere.isVisible(), what="the changed-elsewhere note")
    assert tab.tailnet.text() == "mine.ts.net"  # unsaved edits are kept
    tab.save_button.click()
    await settle(window)
    assert "changed by someone else" in tab.form.message_text
    doc, _ = await engine.config.get_system_config(admin_user)
    assert doc.tailscale.tailnet == "theirs.ts.net"
    tab.revert_button.click()
    await settle(window)
    assert tab.tailnet.text() == "theirs.ts.net"
    assert not tab.elsewhere.isVisible()


async def test_registry_defaults_show_errors_at_the_field(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    window.select_section("Settings")
    tab = window.views["Settings"].registry
    window.views["Settings"].tabs.setCurrentWidget(tab)
    assert tab.image_tag.text() == "latest"

    tab.registry_url.setText("ghcr.io/acme")
    tab.image_tag.setText("")
    tab.save_button.click()
    await settle(window)
    assert "at least 1 character" in tab.form.error("default_image_tag")
    settings = await engine.config.get_settings(admin_user)
    assert (settings.default_registry_url, settings.default_image_tag) == ("", "latest")  # nothing half

    tab.image_tag.setText("stable")
    tab.save_button.click()
    await settle(window)
    assert tab.form.error("default_image_tag") == ""
    settings = await engine.config.get_settings(admin_user)
    assert (settings.default_registry_url, settings.default_image_tag) == ("ghcr.io/acme", "stable")
