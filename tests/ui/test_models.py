"""Every table model passes Qt's model tester, with rows and empty; data() hides no bug."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt

from podwarden.engine.models.access import Role
from podwarden.engine.models.jobs import JobState
from podwarden.engine.services.jobs import JobInfo
from podwarden.engine.services.secrets import SecretInfo
from podwarden.engine.services.users import UserInfo
from podwarden.ui.models.access import SecretsModel, UsersModel
from podwarden.ui.models.table import KEY_ROLE, Column, RowsModel
from podwarden.ui.views.dashboard import JobListModel
from tests.ui.helpers import settle

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _job(title: str, state: JobState = JobState.SUCCEEDED) -> JobInfo:
    return JobInfo(uuid.uuid4(), "demo", title, state, "user:admin", None, None, "", {}, NOW, NOW, NOW)


def _user(name: str, role: Role = Role.VIEWER) -> UserInfo:
    return UserInfo(uuid.uuid4(), name, name.title(), role, False, 1, None, None)


def _secret(name: str) -> SecretInfo:
    return SecretInfo(uuid.uuid4(), name, "generic", "", 1, NOW, NOW)


@pytest.mark.parametrize(
    ("model_type", "rows"),
    [
        (UsersModel, [_user("ann", Role.ADMIN), _user("bob")]),
        (SecretsModel, [_secret("a"), _secret("b/c")]),
        (JobListModel, [_job("one"), _job("two", JobState.FAILED)]),
    ],
)
def test_models_pass_the_model_tester(qtmodeltester, model_type, rows) -> None:
    empty = model_type()
    qtmodeltester.check(empty, force_py=True)
    assert empty.rowCount() == 0

    model = model_type()
    qtmodeltester.check(model, force_py=True)  # the tester watches every change from here on
    model.replace(rows)
    assert model.rowCount() == 2
    assert model.index(1, 0).data(KEY_ROLE) == rows[1].id
    model.replace(list(reversed(rows)))  # new order: a reset
    model.update([rows[0]])  # in place
    model.prepend([rows[0]])  # already there: nothing
    model.remove(rows[1].id)
    assert model.rowCount() == 1
    model.append([rows[1]])
    assert model.keys == [rows[0].id, rows[1].id]
    model.replace([])
    assert model.rowCount() == 0


def test_state_is_coloured_and_explained(qtbot) -> None:
    model = JobListModel()
    failed = _job("deploy", JobState.FAILED)
    failed = JobInfo(**{**failed.__dict__, "error": "rollout timed out"})
    model.replace([failed])
    state = model.index(0, 1)
    assert state.data() == "failed"
    assert state.data(Qt.ItemDataRole.ForegroundRole).color().name() == "#c01c28"
    assert state.data(Qt.ItemDataRole.ToolTipRole) == "deploy\nrollout timed out"
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Job"
    assert model.headerData(0, Qt.Orientation.Vertical) is None


def test_data_does_not_swallow_a_bug(qtbot) -> None:
    def broken(_row: object) -> str:
        raise ZeroDivisionError("bug in a column")

    model: RowsModel[int, int] = RowsModel([Column("x", broken)], key=lambda r: r)
    model.replace([1])
    with pytest.raises(ZeroDivisionError):
        model.data(model.index(0, 0))


async def test_the_paged_jobs_model_with_the_tester_from_empty(
    engine, admin_user, open_session, qtmodeltester
) -> None:
    window = await open_session(admin_user)
    model = window.views["Jobs"].model
    qtmodeltester.check(model, force_py=True)
    assert model.rowCount() == 0 and not model.canFetchMore()
    ids = [await engine.jobs.create(admin_user, "demo", f"job {i}") for i in range(3)]
    window.select_section("Jobs")
    from tests.ui.helpers import wait_until

    await wait_until(lambda: model.rowCount() == 3, what="three jobs")
    assert model.keys == list(reversed(ids))
    await engine.jobs.cancel(admin_user, ids[0])
    await wait_until(lambda: model.index(2, 1).data() == "cancelled", what="the update")
    model.reload()
    await settle(window)
    assert model.rowCount() == 3
