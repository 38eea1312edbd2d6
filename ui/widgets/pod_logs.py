"""A pods table with a log viewer: the last lines of the selected pod's log, or follow it.

Shared by the Clusters view (every pod of a cluster) and the Deployments view (the
pods of one deployment, by label selector). Everything runs through the op helper;
following is a task of its own (it never ends by itself) that stops when the widget
hides, the pod changes or Follow is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
import uuid
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QHideEvent, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import PodWardenError
from podwarden.engine.schemas.kube import PodInfo, PodPage
from podwarden.ui.models.clusters import POD_PAGE, PodsModel
from podwarden.ui.ops import run_op, runner_for
from podwarden.ui.widgets.table import table_view

LOG_TAIL = 200
MAX_LOG_LINES = 20000


class LogPane(QPlainTextEdit):
    """Read-only, monospaced; stays at the end while the reader is at the end."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pod-log")
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LOG_LINES)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("Select a pod and press Show log.")

    def add_lines(self, lines: list[str]) -> None:
        bar = self.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText("".join(f"{line}\n" for line in lines))
        if at_end:
            bar.setValue(bar.maximum())


@dataclass(frozen=True)
class PodSource:
    """Which pods to list: a cluster, optionally one namespace and a label selector."""

    cluster_id: uuid.UUID
    namespace: str | None = None
    label_selector: str | None = None


class PodLogViewer(QWidget):
    def __init__(self, engine: Engine, actor: Actor, *, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{key}-pod-logs")
        self.engine, self.actor, self.key = engine, actor, key
        self.source: PodSource | None = None
        self.follow_task: asyncio.Task[None] | None = None
        self.pods = PodsModel(self, op_key=f"{key}.pods")
        self.pods_table = table_view(self.pods, "pods-table", stretch=6)
        self.pods_label = QLabel()
        self.pods_label.setObjectName("pods-count")
        self.log_button = QPushButton("Show log")
        self.log_button.setObjectName("show-log")
        self.log_button.clicked.connect(self.show_log)
        self.follow = QCheckBox("Follow")
        self.follow.setObjectName("follow-log")
        self.follow.toggled.connect(self._follow_toggled)
        self.log = LogPane()
        self.log_title = QLabel()
        self.log_title.setObjectName("log-title")

        bar = QHBoxLayout()
        bar.addWidget(self.pods_label, 1)
        bar.addWidget(self.log_button)
        bar.addWidget(self.follow)
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(self.log_title)
        log_layout.addWidget(self.log, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.pods_table)
        split.addWidget(log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.pods.modelReset.connect(self._show_pod_count)
        self.pods.rowsInserted.connect(lambda *_: self._show_pod_count())
        self.pods_table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self._update_actions()

    # -- the pods ---------------------------------------------------------------------------
    def show_pods(self, source: PodSource | None) -> None:
        """List the pods of ``source`` from the first page (None: show nothing)."""
        self.stop_follow()
        self.source = source
        self.log.clear()
        self.log_title.clear()
        self.pods.start(None if source is None else lambda token: self._pod_page(source, token))
        self._update_actions()

    async def _pod_page(self, source: PodSource, token: str | None) -> PodPage:
        return await self.engine.clusters.list_pods_page(
            self.actor,
            source.cluster_id,
            namespace=source.namespace,
            limit=POD_PAGE,
            continue_token=token,
            label_selector=source.label_selector,
        )

    def _show_pod_count(self) -> None:
        more = f" (+{self.pods.remaining} more: scroll)" if self.pods.remaining else ""
        self.pods_label.setText(f"{self.pods.rowCount()} pods{more}")

    def _update_actions(self) -> None:
        pod_chosen = bool(self.pods_table.selectionModel().selectedRows())
        self.log_button.setEnabled(pod_chosen)
        self.follow.setEnabled(pod_chosen or self.follow.isChecked())

    @property
    def selected_pod(self) -> PodInfo | None:
        rows = self.pods_table.selectionModel().selectedRows()
        return self.pods.row_at(rows[0].row()) if rows else None

    def select_pod(self, namespace: str, name: str) -> bool:
        row = self.pods.row_of((namespace, name))
        if row is None:
            return False
        self.pods_table.selectRow(row)
        return True

    # -- logs -------------------------------------------------------------------------------
    def show_log(self) -> None:
        pod, source = self.selected_pod, self.source
        if pod is None or source is None:
            return
        if self.follow.isChecked():
            self.start_follow()
            return
        self.log.clear()
        self.log_title.setText(f"{pod.namespace}/{pod.name}: last {LOG_TAIL} lines")
        run_op(
            self,
            lambda: self.engine.clusters.pod_logs(
                self.actor, source.cluster_id, pod.namespace, pod.name, tail_lines=LOG_TAIL
            ),
            on_success=self.log.add_lines,
            key=f"{self.key}.log",
            progress_text=f"Reading the log of {pod.name}…",
        )

    def _follow_toggled(self, on: bool) -> None:
        if on:
            self.start_follow()
        else:
            self.stop_follow()
        self._update_actions()

    def start_follow(self) -> None:
        """Stream the selected pod's log into the pane until stopped (not an op: it never ends)."""
        pod, source = self.selected_pod, self.source
        self.stop_follow()
        if pod is None or source is None:
            return
        self.log.clear()
        self.log_title.setText(f"{pod.namespace}/{pod.name}: following")
        self.follow_task = asyncio.ensure_future(self._follow(source.cluster_id, pod.namespace, pod.name))

    async def _follow(self, cluster_id: uuid.UUID, namespace: str, pod: str) -> None:
        try:
            stream = await self.engine.clusters.follow_pod_logs(self.actor, cluster_id, namespace, pod)
            try:
                async for line in stream:
                    self.log.add_lines([line])
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
            self.log_title.setText(f"{namespace}/{pod}: the log ended")
        except asyncio.CancelledError:
            raise
        except PodWardenError as exc:
            runner_for(self).errors.report(exc)
        except Exception as exc:
            runner_for(self).errors.report(exc, traceback.format_exc())

    def stop_follow(self) -> None:
        task, self.follow_task = self.follow_task, None
        if task is not None and not task.done():
            task.cancel()

    def hideEvent(self, event: QHideEvent) -> None:
        self.stop_follow()  # closing the window or leaving the view ends the stream
        if self.follow.isChecked():
            self.follow.blockSignals(True)
            self.follow.setChecked(False)
            self.follow.blockSignals(False)
        super().hideEvent(event)
