"""Add a cluster: paste a kubeconfig, or pick a context of a local kubeconfig file.

Nothing is contacted: the engine checks the kubeconfig and stores it encrypted.
Errors show at their fields; a refused form saves nothing.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine import Actor, Engine
from podwarden.engine.parsers.kubeconfig import ContextChoice
from podwarden.engine.services.clusters import ClusterInfo
from podwarden.ui.dialogs.common import Buttons, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form

PASTE, PICK = 0, 1


class AddClusterDialog(QDialog):
    created = Signal(object)  # ClusterInfo

    def __init__(self, engine: Engine, actor: Actor, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("add-cluster")
        self.setWindowTitle("Add cluster")
        self.engine, self.actor = engine, actor
        self.created_cluster: ClusterInfo | None = None
        self.form = Form()
        self.name = text_field("name", "home lab")
        self.description = text_field("description", "optional")
        self.form.add("name", "Name", self.name)
        self.form.add("description", "Description", self.description)

        self.kubeconfig = QPlainTextEdit()
        self.kubeconfig.setObjectName("kubeconfig")
        self.kubeconfig.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.kubeconfig.setPlaceholderText("Paste a kubeconfig (YAML). It is stored encrypted.")
        self.paste_form = Form()
        self.paste_form.add("kubeconfig", "Kubeconfig", self.kubeconfig)
        self.paste_context = text_field("context", "optional: the current context")
        self.paste_form.add("context", "Context", self.paste_context)

        self.path = text_field("path", "default: $KUBECONFIG or ~/.kube/config")
        self.load_button = QPushButton("Read contexts")
        self.load_button.setObjectName("read-contexts")
        self.load_button.clicked.connect(self.load_contexts)
        path_row = QWidget()
        path_layout = QHBoxLayout(path_row)
        path_layout.setContentsMargins(0, 0, 0, 0)
        path_layout.addWidget(self.path, 1)
        path_layout.addWidget(self.load_button)
        self.contexts = QComboBox()
        self.contexts.setObjectName("contexts")
        self.pick_form = Form()
        self.pick_form.add("path", "Kubeconfig file", path_row)
        self.pick_form.add("context", "Context", self.contexts)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.paste_form, "Paste a kubeconfig")
        self.tabs.addTab(self.pick_form, "Pick a context")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.buttons = Buttons(self, "Add cluster")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)
        self.resize(620, 480)

    # -- contexts of a local file ---------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if index == PICK and self.contexts.count() == 0:
            self.load_contexts()

    def load_contexts(self) -> None:
        path = self.path.text().strip() or None
        self.pick_form.clear_errors()
        run_op(
            self,
            lambda: self.engine.clusters.list_kube_contexts(self.actor, path),
            on_success=self._contexts_loaded,
            on_failure=self.pick_form.show_error,
            key="clusters.contexts",
            progress_text="Reading kubeconfig contexts…",
        )

    def _contexts_loaded(self, choices: list[ContextChoice]) -> None:
        self.contexts.clear()
        for choice in choices:
            label = f"{choice.name} ({choice.server or '?'})" + (" – current" if choice.current else "")
            if choice.problem:
                label += f" – unusable: {choice.problem}"
            self.contexts.addItem(label, choice.name)
            if choice.current:
                self.contexts.setCurrentIndex(self.contexts.count() - 1)
        if not choices:
            self.pick_form.set_errors({"context": "The file has no contexts."})

    # -- adding -----------------------------------------------------------------------------
    def _forms(self) -> list[Form]:
        return [self.form, self.paste_form if self.tabs.currentIndex() == PASTE else self.pick_form]

    def submit(self) -> None:
        for form in (self.form, self.paste_form, self.pick_form):
            form.clear_errors()
        name, description = self.name.text().strip(), self.description.text().strip()
        if self.tabs.currentIndex() == PASTE:
            text, context = self.kubeconfig.toPlainText(), self.paste_context.text().strip() or None
            if not text.strip():
                self.paste_form.set_errors({"kubeconfig": "Paste a kubeconfig."})
                return
            call = lambda: self.engine.clusters.create_from_kubeconfig(  # noqa: E731
                self.actor, name, text, context=context, description=description
            )
        else:
            picked = self.contexts.currentData()
            if picked is None:
                self.pick_form.set_errors({"context": "Read the file's contexts and pick one."})
                return
            path = self.path.text().strip() or None
            call = lambda: self.engine.clusters.create_from_context(  # noqa: E731
                self.actor, name, str(picked), path, description=description
            )
        self.buttons.set_busy(True)
        run_op(
            self,
            call,
            on_success=self._created,
            on_failure=self._failed,
            key="clusters.add",
            progress_text=f"Adding cluster {name}…",
        )

    def _created(self, cluster: ClusterInfo) -> None:
        self.kubeconfig.clear()
        self.buttons.set_busy(False)
        self.created_cluster = cluster
        self.created.emit(cluster)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        from podwarden.engine.errors import ValidationError

        if isinstance(error, ValidationError) and error.errors:
            top = {k: v for k, v in error.errors.items() if k in ("name", "description")}
            rest = {k: v for k, v in error.errors.items() if k not in top}
            if top:
                self.form.set_errors(top)
            if rest:
                self._forms()[1].set_errors(
                    rest, "" if any(k in ("kubeconfig", "context", "path") for k in rest) else str(error)
                )
            return True
        return self._forms()[1].show_error(error)

    def done(self, result: int) -> None:
        self.kubeconfig.clear()
        super().done(result)
