"""One job's live output and state, for views that start jobs (deploy, rollback).

:meth:`JobOutputPanel.watch_subject` finds the job a running operation created for a
subject (the deploy call returns only when its job has ended), :meth:`follow_job`
streams a known job. While the job runs its output is polled (one request at a
time); the panel stops polling when the job has ended and emits ``job_finished``.
"Show in Jobs" asks the window (``open_job_requested``) to select the job there.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.services.jobs import JobInfo
from podwarden.ui.models.jobs import STATE_COLORS
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.output_pane import OutputPane

POLL_MS = 400
#: A job created this long before the watch started still counts (clock skew between engines).
SLACK = timedelta(seconds=5)


class JobOutputPanel(QWidget):
    job_finished = Signal(object)  # JobInfo
    open_job_requested = Signal(object)  # uuid.UUID

    def __init__(self, engine: Engine, actor: Actor, *, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{key}-job-output")
        self.engine, self.actor, self.key = engine, actor, key
        self.job_id: uuid.UUID | None = None
        self.job: JobInfo | None = None
        self.offset = 0
        self._subject: tuple[uuid.UUID, str, datetime] | None = None
        self._exclude: uuid.UUID | None = None  # the job shown before a new watch
        self._busy = False
        self.title = QLabel("No job yet: deploy or roll back to see its output here.")
        self.title.setObjectName("job-title")
        self.title.setWordWrap(True)
        self.jobs_button = QPushButton("Show in Jobs")
        self.jobs_button.setObjectName("show-in-jobs")
        self.jobs_button.setEnabled(False)
        self.jobs_button.clicked.connect(self._open_in_jobs)
        self.output = OutputPane()
        self.output.setPlaceholderText("The output of the last deploy appears here while it runs.")
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.jobs_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.output, 1)
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.fetch)

    # -- what to show -----------------------------------------------------------------------
    def clear(self) -> None:
        self.poll.stop()
        self.job_id, self.job, self.offset, self._subject, self._busy = None, None, 0, None, False
        self.output.clear()
        self.title.setText("No job yet: deploy or roll back to see its output here.")
        self.jobs_button.setEnabled(False)

    def watch_subject(self, subject_id: uuid.UUID, kind: str, since: datetime, title: str) -> None:
        """Follow the next job of ``kind`` created for ``subject_id`` from ``since`` on."""
        previous = self.job_id
        self.clear()
        self._exclude = previous
        self._subject = (subject_id, kind, since - SLACK)
        self.title.setText(f"{title}: waiting for the job to start…")
        self.poll.start()

    def follow_job(self, job_id: uuid.UUID) -> None:
        """Stream ``job_id`` (from the start of its output, or on from where it is shown)."""
        if job_id != self.job_id:
            self.clear()
            self.job_id = job_id
        self._subject = None
        self.fetch()
        if not self.poll.isActive():
            self.poll.start()

    def show_text(self, title: str, text: str) -> None:
        """A result without a job (undeploy)."""
        self.clear()
        self.title.setText(title)
        self.output.append_text(text)

    # -- polling ----------------------------------------------------------------------------
    def fetch(self) -> None:
        if self._busy or (self.job_id is None and self._subject is None):
            return
        self._busy = True
        job_id, subject, offset, exclude = self.job_id, self._subject, self.offset, self._exclude

        async def load() -> tuple[JobInfo | None, str]:
            job = None
            if job_id is not None:
                job = await self.engine.jobs.get_job(self.actor, job_id)
            elif subject is not None:
                subject_id, kind, since = subject
                for candidate in await self.engine.jobs.list_jobs(self.actor, limit=20):
                    if (
                        (candidate.subject_id, candidate.kind) == (subject_id, kind)
                        and candidate.created_at >= since
                        and candidate.id != exclude
                    ):
                        job = candidate
                        break
            if job is None:
                return None, ""
            text = await self.engine.jobs.read_output(self.actor, job.id, offset=offset if job_id else 0)
            return job, text

        run_op(
            self,
            load,
            on_success=lambda result: self._arrived(job_id, offset, *result),
            on_failure=self._failed,
            key=f"{self.key}.job-output",
            progress_text="Reading job output…",
        )

    def _arrived(self, job_id: uuid.UUID | None, offset: int, job: JobInfo | None, text: str) -> None:
        self._busy = False
        if job is None or job_id != self.job_id or offset != self.offset:
            return
        if self.job_id is None:  # found the subject's job
            self.job_id, self._subject = job.id, None
        if text:
            self.output.append_text(text)
            self.offset += len(text)
        self.job = job
        self.jobs_button.setEnabled(True)
        color = STATE_COLORS.get(job.state, "")
        error = f" · {job.error}" if job.error else ""
        self.title.setText(
            f"{job.title or job.kind}: <span style='color:{color}'>{job.state.value}</span>{error}"
        )
        if job.state.finished:
            self.poll.stop()
            self.job_finished.emit(job)

    def _failed(self, _error: BaseException) -> bool:
        self._busy = False
        return False

    def _open_in_jobs(self) -> None:
        if self.job_id is not None:
            self.open_job_requested.emit(self.job_id)
