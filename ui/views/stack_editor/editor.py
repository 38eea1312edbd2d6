"""The stack editor: every field of a stack in tabs, the document it stands for, and the
engine's ValidationError shown at the fields (a message under each field or in the
table's cell, a red border, a ⚠ on the tab, and a summary on top).

The editor never validates by itself: :meth:`StackEditor.document` hands the engine what
was typed, and :meth:`StackEditor.show_error` puts the engine's verdict at the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import Stack
from podwarden.ui.views.stack_editor.forms import GeneralForm, NetworkForm, ResourcesForm
from podwarden.ui.views.stack_editor.lists import (
    ConfigSlotsEditor,
    NodeSelectorEditor,
    env_editor,
    env_schema_editor,
    ports_editor,
    volumes_editor,
)
from podwarden.ui.views.stack_editor.table import RowsEditor
from podwarden.ui.widgets.form import Form, error_label

LIST_FIELDS = ("tags", "command", "args", "required_network_types")
BORDER = "border: 1px solid #c01c28;"


def _page(*widgets: QWidget, scroll: bool = False) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    for widget in widgets:
        layout.addWidget(widget, 0 if isinstance(widget, Form | QLabel) else 1)
    if all(isinstance(widget, Form | QLabel) for widget in widgets):
        layout.addStretch(1)
    if not scroll:
        return page
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(page)
    return area


class StackEditor(QWidget):
    """Edits one stack document; ``edited`` fires on every change the person makes."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stack-editor")
        self._loading = False
        self.summary = error_label("stack-errors")

        self.general = GeneralForm()
        self.ports = ports_editor()
        self.resources = ResourcesForm()
        self.env = env_editor()
        self.env_schema = env_schema_editor()
        self.config_slots = ConfigSlotsEditor()
        self.volumes = volumes_editor()
        self.node_selector = NodeSelectorEditor()
        self.network = NetworkForm()

        self.lists: dict[str, RowsEditor] = {
            "ports": self.ports,
            "env": self.env,
            "env_schema": self.env_schema,
            "config_slots": self.config_slots.rows,
            "volumes": self.volumes,
            "node_selector": self.node_selector,
        }
        self.tabs = QTabWidget()
        self.tabs.setObjectName("stack-tabs")
        env_label = QLabel("Env schema")
        env_label.setStyleSheet("font-weight: bold;")
        pages: list[tuple[str, QWidget, tuple[QWidget, ...]]] = [
            ("General", _page(self.general, scroll=True), (self.general,)),
            ("Ports && resources", _page(self.ports, self.resources), (self.ports, self.resources)),
            ("Environment", _page(self.env, env_label, self.env_schema), (self.env, self.env_schema)),
            ("Config files", _page(self.config_slots), (self.config_slots.rows,)),
            ("Volumes", _page(self.volumes), (self.volumes,)),
            (
                "Placement && network",
                _page(self.node_selector, self.network),
                (self.node_selector, self.network),
            ),
        ]
        self._tab_parts: list[tuple[str, tuple[QWidget, ...]]] = []
        for title, page, parts in pages:
            self.tabs.addTab(page, title)
            self._tab_parts.append((title, parts))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

        for form in (self.general, self.resources, self.network):
            form.watch(self._edited)
        for editor in self.lists.values():
            editor.model.changed.connect(self._edited)
        self.load(None)

    def _edited(self, *_args: object) -> None:
        if not self._loading:
            self.edited.emit()

    # -- document <-> widgets ---------------------------------------------------------------
    def load(self, stack: Stack | None) -> None:
        """Show ``stack`` (None: a new, empty stack)."""
        doc: dict[str, Any] = {} if stack is None else stack.model_dump(mode="json")
        self._loading = True
        try:
            for form in (self.general, self.resources, self.network):
                form.load(doc)
            for key in ("ports", "env", "env_schema", "config_slots", "volumes"):
                self.lists[key].model.set_items(doc.get(key, []))
            self.node_selector.set_mapping(doc.get("node_selector", {}))
        finally:
            self._loading = False
        self.clear_errors()

    def document(self) -> dict[str, Any]:
        """What was typed, as a stack document for the engine to validate."""
        doc: dict[str, Any] = {}
        self.general.write(doc)
        self.resources.write(doc)
        for key in ("ports", "env", "env_schema", "config_slots", "volumes"):
            items = self.lists[key].model.items()
            if items:
                doc[key] = items
        selector = self.node_selector.mapping()
        if selector:
            doc["node_selector"] = selector
        self.network.write(doc)
        return doc

    def set_read_only(self, read_only: bool) -> None:
        for form in (self.general, self.resources):
            for widget in form.fields.values():
                if isinstance(widget, QLineEdit | QPlainTextEdit | QSpinBox):
                    widget.setReadOnly(read_only)
                else:
                    widget.setEnabled(not read_only)
        self.network.set_read_only(read_only)
        for editor in self.lists.values():
            editor.set_read_only(read_only)
        self.config_slots.set_read_only(read_only)

    # -- errors -----------------------------------------------------------------------------
    def show_error(self, error: BaseException) -> bool:
        """Show a ValidationError at its fields (True); anything else only in the summary."""
        if isinstance(error, ValidationError):
            self.show_errors(error.errors, str(error))
            return True
        self.clear_errors()
        self.summary.setText(str(error))
        self.summary.setVisible(True)
        return False

    def show_errors(self, errors: Mapping[str, str], message: str = "") -> None:
        general: dict[str, str] = {}
        resources: dict[str, str] = {}
        network: dict[str, str] = {}
        lists: dict[str, dict[str, str]] = {key: {} for key in self.lists}
        leftovers: list[str] = []
        for path, text in errors.items():
            head, _, rest = path.partition(".")
            if head in lists:
                lists[head][rest] = text
            elif head == "resources":
                resources[path] = text
            elif head in self.network.fields:
                network[head] = text
            elif head in self.general.fields:
                key = head if head in LIST_FIELDS or not rest else path
                general[key] = f"{general[key]}; {text}" if key in general else text
            else:
                leftovers.append(f"{path}: {text}" if path else text)
        self.general.set_errors(general)
        self.resources.set_errors(resources)
        self.network.set_errors(network)
        for key, editor in self.lists.items():
            editor.show_errors(lists[key])
        self._mark_fields()
        lines = [message] if message else []
        lines += leftovers
        self.summary.setText("\n".join(lines))
        self.summary.setVisible(bool(lines))

    def clear_errors(self) -> None:
        self.show_errors({})

    def field_error(self, path: str) -> str:
        """The message shown at a field (``"image"``, ``"resources.cpu_limit"``,
        ``"ports.1.container_port"``); '' when none (tests read this)."""
        head, _, rest = path.partition(".")
        if head in self.lists:
            where = self.lists[head].locate(rest)
            return "" if where is None else self.lists[head].model.error(*where)
        if head == "resources":
            return self.resources.error(rest)
        if head in self.network.fields:
            return self.network.error(head)
        return self.general.error(head) if head in self.general.fields else ""

    def _mark_fields(self) -> None:
        for form in (self.general, self.resources, self.network):
            for name, widget in form.fields.items():
                bad = bool(form.error(name))
                widget.setStyleSheet(f"{type(widget).__name__} {{ {BORDER} }}" if bad else "")
        for index, (title, parts) in enumerate(self._tab_parts):
            bad = any(self._has_errors(part) for part in parts)
            self.tabs.setTabText(index, f"⚠ {title}" if bad else title)

    @staticmethod
    def _has_errors(part: QWidget) -> bool:
        if isinstance(part, Form):
            return any(part.error(name) for name in part.fields)
        if isinstance(part, RowsEditor):
            return part.error_label.isVisible() or bool(part.error_label.text())
        return False
