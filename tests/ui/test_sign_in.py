"""First run, sign-in (wrong then right password), lockout, sign-out — on a real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from podwarden.engine import Settings
from podwarden.engine.settings import Timeouts
from podwarden.ui.dialogs.sign_in import FirstRunDialog, SignInDialog
from podwarden.ui.main_window import SECTIONS, SESSION_SECTIONS
from podwarden.ui.session import SessionController
from tests.conftest import TEST_KEY
from tests.ui.helpers import wait_until


@pytest.fixture
def settings(database_url: URL, tmp_path: Path) -> Settings:
    """Two failures lock an account here; no sign-in delay to keep the tests quick."""
    return Settings(
        database_url=database_url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        secret_key=TEST_KEY,
        login_max_failures=2,
        timeouts=Timeouts(login_failure_delay=0),
    )


async def _dialog(controller: SessionController, kind: type) -> object:
    await wait_until(
        lambda: isinstance(controller.dialog, kind) and controller.dialog.isVisible(), what=kind.__name__
    )
    return controller.dialog


async def test_first_run_creates_the_admin_then_signs_in(engine, window) -> None:
    controller = SessionController(window, engine)
    flow = controller.start()
    first = await _dialog(controller, FirstRunDialog)
    assert isinstance(first, FirstRunDialog)
    assert window.database_label.text() == f"Database: {engine.database_mode}"

    # A too-short password: shown at the field, nothing created.
    first.username.setText("ada")
    first.password.setText("short")
    first.confirm.setText("short")
    first.buttons.ok.click()
    await wait_until(lambda: first.form.error("password"), what="the password error")
    assert "8 characters" in first.form.error("password")
    assert not await engine.users.has_users()

    # Passwords that differ: caught before the engine is asked.
    first.password.setText("long-enough-1")
    first.confirm.setText("long-enough-2")
    first.buttons.ok.click()
    assert first.form.error("confirm") == "The two passwords differ."

    first.confirm.setText("long-enough-1")
    first.buttons.ok.click()
    sign_in = await _dialog(controller, SignInDialog)
    assert isinstance(sign_in, SignInDialog)
    assert "Created the admin account ada" in sign_in.notice.text()
    assert sign_in.username.text() == "ada"
    users = await engine.users.list_users(await engine.users.authenticate("ada", "long-enough-1"))
    assert [(u.username, u.role.value) for u in users] == [("ada", "admin")]

    # Wrong, then right.
    sign_in.password.setText("not-the-password")
    sign_in.buttons.ok.click()
    await wait_until(lambda: sign_in.form.message_text, what="the sign-in error")
    assert sign_in.form.message_text == "The username or password is wrong."
    assert sign_in.isVisible()
    assert window.user_label.text() == "Not signed in"
    sign_in.password.setText("long-enough-1")
    sign_in.buttons.ok.click()
    await flow
    assert window.user_label.text() == "ada (admin)"
    assert controller.actor is not None and controller.actor.name == "ada"
    assert (
        set(window.views) == set(SESSION_SECTIONS) >= {"Dashboard", "Hosts", "Clusters", "Jobs", "Settings"}
    )
    assert [window.page(name).objectName() for name in SECTIONS] == [f"page-{n.lower()}" for n in SECTIONS]
    await controller.stop()
    await window.op_runner.shutdown()


async def test_lockout_message_and_sign_out(engine, window, admin_user) -> None:
    from tests.ui.conftest import ADMIN_PASSWORD

    controller = SessionController(window, engine)
    controller.start()
    sign_in = await _dialog(controller, SignInDialog)
    assert isinstance(sign_in, SignInDialog)
    sign_in.username.setText("admin")
    for _ in range(2):
        sign_in.password.setText("wrong-password")
        sign_in.buttons.ok.click()
        await wait_until(lambda: sign_in.form.message_text, what="an error")
        await window.op_runner.wait_idle()
    sign_in.password.setText(ADMIN_PASSWORD)  # right, but locked now
    sign_in.buttons.ok.click()
    await window.op_runner.wait_idle()
    assert sign_in.form.message_text.startswith("Too many failed sign-ins; this account is locked until")
    assert window.user_label.text() == "Not signed in"

    # An admin lifts the lockout by setting a new password; then sign in and out.
    await engine.users.reset_password(admin_user, admin_user.id, "a-new-password")
    sign_in.password.setText("a-new-password")
    sign_in.buttons.ok.click()
    await wait_until(lambda: window.user_label.text() == "admin (admin)", what="the signed-in user")
    assert window.sign_out_action.isEnabled()

    window.sign_out_action.trigger()
    assert window.user_label.text() == "Not signed in"
    assert window.views == {}
    assert window.page("Settings").objectName() == "page-settings"
    again = await _dialog(controller, SignInDialog)
    assert isinstance(again, SignInDialog) and again is not sign_in
    assert again.notice.text() == "Signed out."
    assert again.username.text() == "admin"

    # Quit from the sign-in dialog asks the app to close.
    quits = []
    controller.quit_requested.connect(lambda: quits.append(True))
    again.buttons.cancel.click()
    await wait_until(lambda: quits, what="quit")
    await controller.stop()
    await window.op_runner.shutdown()


async def test_a_role_changed_elsewhere_applies_at_once(engine, window, admin_user) -> None:
    """Demoted by another admin while signed in: the views rebuild for the new role."""
    bob = await engine.users.create_user(admin_user, "bob", "bob-password-1", "admin")
    controller = SessionController(window, engine)
    controller.start()
    sign_in = await _dialog(controller, SignInDialog)
    assert isinstance(sign_in, SignInDialog)
    sign_in.username.setText("bob")
    sign_in.password.setText("bob-password-1")
    sign_in.buttons.ok.click()
    await wait_until(lambda: window.user_label.text() == "bob (admin)", what="bob signed in")
    assert window.views["Settings"].users.add_button.isEnabled()

    await engine.users.set_role(admin_user, bob.id, "viewer")
    await wait_until(lambda: window.user_label.text() == "bob (viewer)", what="the new role")
    add = window.views["Settings"].users.add_button
    assert not add.isEnabled()
    assert "Needs the admin role" in add.toolTip()

    await engine.users.delete_user(admin_user, bob.id)
    await wait_until(lambda: window.user_label.text() == "Not signed in", what="signed out")
    await _dialog(controller, SignInDialog)
    await controller.stop()
    await window.op_runner.shutdown()
