"""Every view opens, also on an empty fleet (Orange3 style: feed each view empty data)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from podwarden.ui.main_window import SECTIONS, SESSION_SECTIONS
from tests.ui.helpers import settle


async def test_every_view_opens_on_an_empty_database(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    for name in SECTIONS:
        window.select_section(name)
        await settle(window)
        page = window.pages.currentWidget()
        assert page.objectName() == f"page-{name.lower()}"
        assert not window.grab().isNull()
        if name not in SESSION_SECTIONS:
            assert isinstance(page, QLabel) and "Arrives with" in page.text()

    dashboard = window.views["Dashboard"]
    assert dashboard.users_count.text() == "1"
    assert set(dashboard.state_counts_text().values()) == {"0"}
    assert dashboard.recent_model.rowCount() == 0 and dashboard.failed_model.rowCount() == 0

    jobs = window.views["Jobs"]
    assert jobs.model.rowCount() == 0 and not jobs.model.canFetchMore()
    assert jobs.selected is None and jobs.title.text() == "No job selected"
    assert not jobs.cancel_button.isEnabled()
    for index in range(jobs.state_filter.count()):  # every filter on nothing
        jobs.state_filter.setCurrentIndex(index)
        await settle(window)
        assert jobs.model.rowCount() == 0

    settings = window.views["Settings"]
    for tab in settings.tab_views:
        settings.tabs.setCurrentWidget(tab)
        await settle(window)
    assert settings.secrets.model.rowCount() == 0
    assert not settings.secrets.replace_button.isEnabled()
    assert settings.tailscale.tailnet.text() == "-" and not settings.tailscale.enabled.isChecked()
    assert settings.tailscale.api_key_secret.count() == 0  # no secrets to pick from
    assert settings.registry.image_tag.text() == "latest"
    assert settings.registry.registry_url.text() == ""
    assert window.error_dock.panel.entries == []

    window.close_session()  # what signing out does (the session controller drives it)
    for name in SESSION_SECTIONS:
        page = window.page(name)
        assert isinstance(page, QLabel) and "Sign in" in page.text()
