"""Role-aware views: what a role may not use is disabled, and the tooltip says why."""

from __future__ import annotations

import asyncio

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton

from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Actor, Permissions
from podwarden.ui.roles import allowed, denied_reason, guard, set_enabled
from tests.ui.helpers import wait_until


def test_guard_explains_and_combines_with_other_reasons(qtbot) -> None:
    viewer = Actor(kind="user", name="vic", role=Role.VIEWER)
    operator = Actor(kind="user", name="olga", role=Role.OPERATOR)
    button = QPushButton("Wipe")
    qtbot.addWidget(button)
    assert not guard(button, viewer, Permissions.HOSTS_WIPE, tooltip="Wipe the host")
    assert not button.isEnabled()
    assert button.toolTip() == (
        "Needs the admin role (wipe a host (uninstall k3s, remove its data)); vic has the viewer role."
    )
    set_enabled(button, True)  # a selection appears: still not allowed
    assert not button.isEnabled()

    assert guard(button, operator, Permissions.JOBS_MANAGE, tooltip="Cancel the job")
    assert button.toolTip() == "Cancel the job"
    set_enabled(button, False)
    assert not button.isEnabled()
    set_enabled(button, True)
    assert button.isEnabled() and allowed(button)

    action = QAction("Delete cluster")
    guard(action, operator, Permissions.CLUSTERS_DELETE)
    assert not action.isEnabled() and "Needs the admin role" in action.toolTip()
    assert denied_reason(None, Permissions.READ) == "Sign in first."


async def test_a_viewer_sees_mutating_actions_disabled(engine, admin_user, open_session) -> None:
    await engine.users.create_user(admin_user, "vic", "viewer-password", "viewer")
    viewer = await engine.users.authenticate("vic", "viewer-password")
    job_id = await engine.jobs.create(admin_user, "demo", "Queued job")
    window = await open_session(viewer)

    jobs = window.views["Jobs"]
    window.select_section("Jobs")
    await wait_until(lambda: jobs.model.rowCount() == 1, what="the job")
    jobs.select_job(job_id)
    await asyncio.sleep(0.05)
    assert jobs.selected == job_id
    assert not jobs.cancel_button.isEnabled()
    assert jobs.cancel_button.toolTip().startswith("Needs the operator role (start and cancel jobs)")

    settings = window.views["Settings"]
    users = settings.users
    assert users.model.rowCount() == 2  # viewers read the list
    assert users.select("admin")
    for button in (users.add_button, users.role_button, users.reset_button, users.delete_button):
        assert not button.isEnabled(), button.text()
        assert "Needs the admin role" in button.toolTip()
    assert users.findChild(type(users.note), "read-only-hint") is not None

    secrets = settings.secrets
    assert not secrets.new_button.isEnabled()
    assert secrets.hidden_hint.isVisibleTo(secrets) and not secrets.table.isVisibleTo(secrets)
    assert secrets.model.rowCount() == 0  # never listed: listing needs the admin role

    for tab in (settings.tailscale, settings.registry):
        assert not tab.save_button.isEnabled()
        assert tab.save_button.toolTip().startswith("Needs the admin role")
        assert all(not w.isEnabled() for w in tab.form.fields.values())
    assert window.error_dock.panel.entries == []  # nothing was tried and refused


async def test_an_operator_may_cancel_jobs_but_not_manage_users(engine, admin_user, open_session) -> None:
    await engine.users.create_user(admin_user, "olga", "operator-password", "operator")
    operator = await engine.users.authenticate("olga", "operator-password")
    job_id = await engine.jobs.create(admin_user, "demo", "Queued job")
    window = await open_session(operator)
    jobs = window.views["Jobs"]
    window.select_section("Jobs")
    await wait_until(lambda: jobs.model.rowCount() == 1, what="the job")
    jobs.select_job(job_id)
    await wait_until(lambda: jobs.cancel_button.isEnabled(), what="cancel enabled")
    jobs.cancel_button.click()
    await wait_until(lambda: jobs.model.index(0, 1).data() == "cancelled", what="the job cancelled")
    assert not window.views["Settings"].users.add_button.isEnabled()
