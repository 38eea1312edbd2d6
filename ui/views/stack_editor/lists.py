"""The stack's list fields as editable tables: ports, fixed env, env schema, node selector,
config file slots (with a plain-text editor for the default content) and volumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from podwarden.engine.schemas.stacks import VOLUME_TYPES, FileType
from podwarden.ui.views.stack_editor.rows import FieldSpec, Row
from podwarden.ui.views.stack_editor.table import RowsEditor


def _types(*names: str) -> Any:
    return lambda row: row.get("type") in names


_MOUNTED = _types("emptyDir", "hostPath", "pvc", "nfs", "configMap", "secret")

PORT_FIELDS = [
    FieldSpec("name", "Name", width=14, tooltip="Also the Service port name (lowercase, ≤ 15 chars)"),
    FieldSpec("container_port", "Container port", kind="int", width=14),
    FieldSpec("protocol", "Protocol", kind="choice", choices=("TCP", "UDP", "SCTP"), default="TCP", width=9),
]

ENV_FIELDS = [
    FieldSpec("name", "Name", width=24),
    FieldSpec("value", "Value", width=40, tooltip="$(OTHER) references another variable"),
]

ENV_SCHEMA_FIELDS = [
    FieldSpec("name", "Name", width=22),
    FieldSpec("required", "Required", kind="bool", default=False, width=8),
    FieldSpec("default_value", "Default", width=18),
    FieldSpec("description", "Description", width=28),
    FieldSpec(
        "generate",
        "Generate",
        kind="bool",
        default=False,
        width=8,
        tooltip="Fill a random secret at deploy time and keep it",
    ),
    FieldSpec(
        "secret",
        "Secret",
        kind="bool",
        default=False,
        width=7,
        tooltip="Keep the value in a Kubernetes Secret, not in the pod spec",
    ),
]

NODE_SELECTOR_FIELDS = [
    FieldSpec("key", "Label", width=30, tooltip="e.g. kubernetes.io/arch or nvidia.com/gpu.present"),
    FieldSpec("value", "Value", width=20),
]

CONFIG_SLOT_FIELDS = [
    FieldSpec("name", "Name", width=16),
    FieldSpec("key", "Key (file name)", width=16),
    FieldSpec("mount_path", "Mount path", width=28, tooltip="The full path of the file in the container"),
    FieldSpec("file_type", "File type", kind="choice", choices=get_args(FileType), default="text", width=10),
    FieldSpec("required", "Required", kind="bool", default=False, width=8),
    FieldSpec("description", "Description", width=24),
]

VOLUME_FIELDS = [
    FieldSpec("type", "Type", kind="choice", choices=VOLUME_TYPES, default="emptyDir", width=10),
    FieldSpec("name", "Name", width=12),
    FieldSpec("mount_path", "Mount path", applies=_MOUNTED, width=18),
    FieldSpec("size", "Size", applies=_types("pvc"), width=7, tooltip="e.g. 10Gi"),
    FieldSpec(
        "access_mode",
        "Access",
        kind="choice",
        choices=("RWO", "ROX", "RWX", "RWOP"),
        default="RWO",
        applies=_types("pvc"),
        width=6,
    ),
    FieldSpec("storage_class", "Storage class", applies=_types("pvc"), width=12),
    FieldSpec(
        "retain_on_undeploy",
        "Retain",
        kind="bool",
        default=True,
        applies=_types("pvc"),
        width=6,
        tooltip="Keep the claim (and its data) when the deployment is removed",
    ),
    FieldSpec(
        "claim_name", "Claim name", applies=_types("pvc"), width=12, tooltip="An existing/shared claim"
    ),
    FieldSpec("path", "Host path", applies=_types("hostPath"), width=16),
    FieldSpec(
        "host_path_type",
        "Host path type",
        kind="choice",
        default="DirectoryOrCreate",
        choices=(
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ),
        applies=_types("hostPath"),
        width=14,
    ),
    FieldSpec(
        "medium",
        "Medium",
        kind="choice",
        choices=("", "Memory", "HugePages"),
        applies=_types("emptyDir"),
        width=8,
    ),
    FieldSpec("size_limit", "Size limit", applies=_types("emptyDir"), width=8),
    FieldSpec(
        "storage_connection",
        "Storage connection",
        applies=_types("nfs", "s3"),
        width=16,
        tooltip="The name of an NFS or S3 storage connection",
    ),
    FieldSpec("sub_path", "Sub path", applies=_types("nfs"), width=10),
    FieldSpec("env_prefix", "Env prefix", default="S3_", applies=_types("s3"), width=8),
    FieldSpec(
        "source",
        "Source",
        applies=_types("configMap", "secret"),
        width=12,
        tooltip="The ConfigMap or Secret to mount",
    ),
    FieldSpec(
        "read_only",
        "Read-only",
        kind="bool",
        default=False,
        applies=_types("hostPath", "pvc", "nfs"),
        width=8,
    ),
]


class NodeSelectorEditor(RowsEditor):
    """The node selector is a mapping: its errors name the label key, not a row number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "node-selector",
            NODE_SELECTOR_FIELDS,
            add_text="Add label",
            hint="Only nodes with all these labels run the workload.",
            parent=parent,
        )

    def set_mapping(self, mapping: Mapping[str, str]) -> None:
        self.model.set_items([{"key": k, "value": v} for k, v in mapping.items()])

    def mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.model.rows:
            out[str(row.get("key", ""))] = str(row.get("value", ""))
        return out

    def locate(self, rest: str) -> tuple[int, str] | None:
        for index, row in enumerate(self.model.rows):
            if row.get("key") == rest:
                return index, "key"
        return None


class ConfigSlotsEditor(QWidget):
    """Config file slots: the table and, below, the selected slot's default content."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = RowsEditor(
            "config-slots",
            CONFIG_SLOT_FIELDS,
            add_text="Add config file",
            hint="Files the operator fills per deployment (one ConfigMap each, mounted with subPath).",
            extra=("default_content",),
        )
        self.model = self.rows.model
        self.content_label = QLabel("Default content (select a config file)")
        self.content = QPlainTextEdit()
        self.content.setObjectName("config-default-content")
        self.content.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.content.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.content.setPlaceholderText("Empty: no default content")
        self.content.setEnabled(False)
        self.content.textChanged.connect(self._content_edited)
        self.rows.table.selectionModel().selectionChanged.connect(lambda *_: self._show_content())
        self.model.modelReset.connect(self._show_content)
        self.model.rowsRemoved.connect(lambda *_: self._show_content())
        self.read_only = False
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.content_label)
        bottom_layout.addWidget(self.content, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.rows)
        split.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    def _show_content(self) -> None:
        row = self.rows.selected_row()
        self.content.blockSignals(True)
        if row is None or row >= len(self.model.rows):
            self.content.clear()
            self.content.setEnabled(False)
            self.content_label.setText("Default content (select a config file)")
        else:
            slot: Row = self.model.rows[row]
            self.content.setPlainText(slot.get("default_content") or "")
            self.content.setEnabled(True)
            self.content.setReadOnly(self.read_only)
            self.content_label.setText(f"Default content of {slot.get('name') or f'row {row + 1}'}")
        self.content.blockSignals(False)

    def _content_edited(self) -> None:
        row = self.rows.selected_row()
        if row is None or self.read_only:
            return
        text = self.content.toPlainText()
        self.model.rows[row]["default_content"] = text or None
        self.model.changed.emit()

    def select(self, row: int) -> None:
        self.rows.table.selectRow(row)

    def set_read_only(self, read_only: bool) -> None:
        self.read_only = read_only
        self.rows.set_read_only(read_only)
        self.content.setReadOnly(read_only)


def ports_editor() -> RowsEditor:
    return RowsEditor("ports", PORT_FIELDS, add_text="Add port")


def env_editor() -> RowsEditor:
    return RowsEditor("env", ENV_FIELDS, add_text="Add variable", hint="Fixed environment variables.")


def env_schema_editor() -> RowsEditor:
    return RowsEditor(
        "env-schema",
        ENV_SCHEMA_FIELDS,
        add_text="Add variable",
        hint="Variables whose values are chosen when deploying.",
    )


def volumes_editor() -> RowsEditor:
    return RowsEditor(
        "volumes",
        VOLUME_FIELDS,
        add_text="Add volume",
        hint="Greyed cells do not apply to the row's type. NFS and S3 need a storage connection.",
    )
