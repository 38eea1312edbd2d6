"""Jobs: the list (newest first, filtered by state in SQL), a live output pane, cancel."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QItemSelection, QModelIndex, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QWidget,
)

from podwarden.engine.models.jobs import JobState
from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.jobs import JobInfo
from podwarden.ui.context import UiContext
from podwarden.ui.format import duration, when
from podwarden.ui.models.jobs import STATE_COLORS, JobsModel
from podwarden.ui.ops import run_op
from podwarden.ui.roles import guard, set_enabled
from podwarden.ui.views.base import View
from podwarden.ui.widgets.layout import master_detail, toolbar
from podwarden.ui.widgets.output_pane import OutputPane
from podwarden.ui.widgets.table import select_key, table_view

#: While the selected job runs, its output is also polled (notices are the fast path).
POLL_MS = 1000


class JobsView(View):
    watched = frozenset({"jobs"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-jobs")
        self.model = JobsModel(ctx.engine, ctx.actor, parent=self)
        self.selected: uuid.UUID | None = None
        self.offset = 0  # characters of the selected job's output already shown
        self._output_busy = False
        self._output_again = False

        self.state_filter = QComboBox()
        self.state_filter.setObjectName("state-filter")
        self.state_filter.addItem("All states", None)
        for state in JobState:
            self.state_filter.addItem(state.value, state.value)
        self.state_filter.currentIndexChanged.connect(self._filter_changed)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        self.cancel_button = QPushButton("Cancel job")
        self.cancel_button.setObjectName("cancel-job")
        guard(self.cancel_button, ctx.actor, Permissions.JOBS_MANAGE, tooltip="Ask the selected job to stop")
        set_enabled(self.cancel_button, False)
        self.cancel_button.clicked.connect(self.cancel_selected)

        self.table = table_view(self.model, "jobs-table")
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.title = QLabel("No job selected")
        self.title.setObjectName("job-title")
        self.title.setStyleSheet("font-weight: bold;")
        self.facts = QLabel()
        self.facts.setObjectName("job-facts")
        self.error = QLabel()
        self.error.setObjectName("job-error")
        self.error.setStyleSheet("color: #c01c28;")
        self.error.setWordWrap(True)
        self.output = OutputPane()

        bar = toolbar([QLabel("Show"), self.state_filter], [self.refresh_button, self.cancel_button])
        detail = [self.title, self.facts, self.error, self.output]
        master_detail(self, [bar], self.table, detail, stretch=(2, 3))

        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.fetch_output)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.dataChanged.connect(self._rows_changed)
        self._wanted: uuid.UUID | None = None  # a job to select once its page is loaded
        self.model.rowsInserted.connect(lambda *_args: self._look_for_wanted())

    # -- loading ----------------------------------------------------------------------------
    def reload(self) -> None:
        self.model.reload()

    def on_change(self, table: str, ids: tuple[str, ...] | None) -> None:
        if ids is None:
            self.model.reload()
        else:
            self.model.refresh(uuid.UUID(i) for i in ids)
        if self.selected is not None and (ids is None or str(self.selected) in ids):
            self.fetch_output()

    def _filter_changed(self, _index: int) -> None:
        value = self.state_filter.currentData()
        self.model.set_state_filter(None if value is None else JobState(value))

    # -- selection and detail ---------------------------------------------------------------
    def select_job(self, job_id: uuid.UUID) -> bool:
        return select_key(self.table, self.model, job_id)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        job_id = self.model.key_at(rows[0].row()) if rows else None
        if job_id == self.selected:
            return
        self.selected = job_id
        self.offset = 0
        self.output.clear()
        self._output_busy = self._output_again = False
        self._show_detail()
        if job_id is not None:
            self.fetch_output()

    def show_job(self, job_id: uuid.UUID) -> None:
        """Select a job: reload with all states shown, then fetch pages until it is there."""
        if self.select_job(job_id):
            return
        self._wanted = job_id
        if self.state_filter.currentIndex() != 0:
            self.state_filter.setCurrentIndex(0)  # reloads
        else:
            self.model.reload(from_start=True)

    def _look_for_wanted(self) -> None:
        if self._wanted is None:
            return
        if self.select_job(self._wanted):
            self._wanted = None
        elif self.model.canFetchMore():
            self.model.fetchMore()
        else:
            self._wanted = None  # gone (deleted meanwhile)

    def _remember_selection(self) -> None:
        self._kept = self.selected

    def _restore_selection(self) -> None:
        if self._wanted is not None:
            self._look_for_wanted()
            return
        kept = getattr(self, "_kept", None)
        if kept is not None and self.model.row_of(kept) is not None:
            self.select_job(kept)
        else:
            self._show_detail()

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        if self.selected is None:
            return
        row = self.model.row_of(self.selected)
        if row is not None and top.row() <= row <= bottom.row():
            self._show_detail()

    @property
    def selected_job(self) -> JobInfo | None:
        return None if self.selected is None else self.model.get(self.selected)

    def _show_detail(self) -> None:
        job = self.selected_job
        if job is None:
            self.title.setText("No job selected")
            self.facts.clear()
            self.error.clear()
            self.error.setVisible(False)
            set_enabled(self.cancel_button, False)
            self.poll.stop()
            return
        self.title.setText(job.title or job.kind)
        color = STATE_COLORS.get(job.state, "")
        started = f" · started {when(job.started_at)}" if job.started_at else ""
        took = duration(job.started_at, job.finished_at)
        finished = f" · finished {when(job.finished_at)} ({took})" if job.finished_at else ""
        self.facts.setText(
            f"<span style='color:{color}'>{job.state.value}</span> · {job.kind} · by {job.actor}"
            f"{started}{finished}"
        )
        self.error.setText(job.error)
        self.error.setVisible(bool(job.error))
        set_enabled(self.cancel_button, not job.state.finished)
        if job.state.finished:
            if self.poll.isActive():
                self.poll.stop()
                self.fetch_output()  # the last lines written before it ended
        elif not self.poll.isActive():
            self.poll.start()

    # -- output -----------------------------------------------------------------------------
    def fetch_output(self) -> None:
        """Fetch what the selected job wrote since the last fetch (one request at a time)."""
        job_id = self.selected
        if job_id is None:
            return
        if self._output_busy:
            self._output_again = True
            return
        self._output_busy = True
        offset = self.offset
        run_op(
            self,
            lambda: self.engine.jobs.read_output(self.actor, job_id, offset=offset),
            on_success=lambda text: self._output_arrived(job_id, offset, text),
            on_failure=self._output_failed,
            key="jobs.output",  # selecting another job cancels the stale fetch
            progress_text="Reading job output…",
        )

    def _output_arrived(self, job_id: uuid.UUID, offset: int, text: str) -> None:
        self._output_busy = False
        if job_id != self.selected or offset != self.offset:
            return
        if text:
            self.output.append_text(text)
            self.offset += len(text)
        if self._output_again:
            self._output_again = False
            self.fetch_output()

    def _output_failed(self, _error: BaseException) -> bool:
        self._output_busy = False
        return False

    # -- actions ----------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        job = self.selected_job
        if job is None:
            return
        set_enabled(self.cancel_button, False)
        run_op(
            self,
            lambda: self.engine.jobs.cancel(self.actor, job.id),
            on_success=lambda info: self.model.update([info]),
            on_failure=lambda _e: self._show_detail(),
            key=f"jobs.cancel.{job.id}",
            progress_text=f"Cancelling {job.title or job.kind}…",
        )
