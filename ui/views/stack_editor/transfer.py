"""Import and export for the stacks view: a docker-compose file, a stack's YAML, the YAML
of the stored stack. File dialogs (non-blocking, ``open()``) only pick a path; the
methods taking a path do the work (tests call them directly). Files are read and written
in a thread inside the op; a file that cannot be read or written is a ValidationError.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QWidget

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import normalise_dns_label
from podwarden.engine.services.stacks import ComposeImportResult, StackInfo
from podwarden.ui.context import UiContext
from podwarden.ui.ops import run_op
from podwarden.ui.views.base import View
from podwarden.ui.views.stack_editor.editor import StackEditor
from podwarden.ui.views.stack_editor.models import StacksModel
from podwarden.ui.widgets.form import NOTE_STYLE

YAML_FILTER = "Stack YAML (*.yaml *.yml);;All files (*)"
COMPOSE_FILTER = (
    "Compose files (compose*.yaml compose*.yml docker-compose*.yaml docker-compose*.yml *.yaml *.yml)"
)


async def _read(path: Path) -> str:
    try:
        return await asyncio.to_thread(path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(f"Cannot read {path}: {reason}.", {"path": reason}) from exc


async def _write(path: Path, text: str) -> Path:
    try:
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"Cannot write {path}: {exc.strerror or exc}.", {"path": str(exc)}) from exc
    return path


class StackFilesView(View):
    """The import/export half of :class:`podwarden.ui.views.stacks.StacksView`."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.model = StacksModel(self)
        self.editor = StackEditor()
        self.current: StackInfo | None = None  # the stored stack the editor shows (None: new)
        self.last_import: ComposeImportResult | None = None
        self.file_dialog: QFileDialog | None = None
        self.note = QLabel()
        self.note.setObjectName("stack-note")
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setWordWrap(True)
        self.note.setVisible(False)

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def select_stack(self, stack_id: uuid.UUID) -> bool:
        raise NotImplementedError

    def open_stack(self, info: StackInfo | None) -> object:
        raise NotImplementedError

    # -- import and export ------------------------------------------------------------------
    def _pick(
        self, name: str, title: str, filter_: str, on_path: Callable[[Path], object], *, save: bool = False
    ) -> QFileDialog:
        dialog = QFileDialog(self, title, "", filter_)
        dialog.setObjectName(name)
        if save:
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setDefaultSuffix("yaml")
            if self.current is not None:
                dialog.selectFile(f"{self.current.name}.yaml")
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda path: on_path(Path(path)))
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        self.file_dialog = dialog
        return dialog

    def ask_compose_file(self) -> QFileDialog:
        return self._pick(
            "compose-file", "Import a docker-compose file", COMPOSE_FILTER, self.ask_project_name
        )

    def ask_project_name(self, path: Path) -> QInputDialog:
        dialog = QInputDialog(self)
        dialog.setObjectName("compose-project")
        dialog.setWindowTitle("Compose project name")
        dialog.setLabelText(f"Stacks from {path.name} are named <project>-<service>. Project name:")
        dialog.setTextValue(normalise_dns_label(path.resolve().parent.name, fallback="compose"))
        dialog.textValueSelected.connect(lambda name: self.import_compose_file(path, name.strip()))
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        return dialog

    def import_compose_file(self, path: Path, project_name: str) -> None:
        async def work() -> ComposeImportResult:
            text = await _read(path)
            return await self.engine.stacks.import_compose(self.actor, text, project_name)

        run_op(
            self,
            work,
            on_success=self._compose_imported,
            on_failure=self._import_failed,
            key="stacks.import",
            progress_text=f"Importing {path.name}…",
        )

    def _compose_imported(self, result: ComposeImportResult) -> None:
        self.last_import = result
        self.model.append(result.stacks)
        if result.stacks:
            self.open_stack(result.stacks[0])
        names = ", ".join(info.name for info in result.stacks)
        lines = [
            f"Imported {len(result.stacks)} stack(s) from compose project {result.project_name}: {names}."
        ]
        lines += [f"⚠ {warning}" for warning in result.warnings]
        self.show_note("\n".join(lines))
        self.reload()

    def _import_failed(self, error: BaseException) -> bool:
        self.show_note("")
        if isinstance(error, ValidationError):
            self.editor.show_errors({}, str(error))  # the editor's fields are not what failed
        return False  # the error panel shows it

    def ask_yaml_file(self) -> QFileDialog:
        return self._pick("yaml-file", "Import a stack YAML file", YAML_FILTER, self.import_yaml_file)

    def import_yaml_file(self, path: Path) -> None:
        async def work() -> StackInfo:
            return await self.engine.stacks.import_yaml(self.actor, await _read(path))

        run_op(
            self,
            work,
            on_success=self._yaml_imported,
            on_failure=self._import_failed,
            key="stacks.import",
            progress_text=f"Importing {path.name}…",
        )

    def _yaml_imported(self, info: StackInfo) -> None:
        self.model.append([info])
        self.open_stack(info)
        self.show_note(f"Imported {info.name}.")
        self.reload()

    def ask_export_path(self) -> QFileDialog | None:
        if self.current is None:
            return None
        return self._pick(
            "export-file", "Export the stack as YAML", YAML_FILTER, self.export_yaml_to, save=True
        )

    def export_yaml_to(self, path: Path) -> None:
        current = self.current
        if current is None:
            return

        async def work() -> Path:
            return await _write(path, await self.engine.stacks.export_yaml(self.actor, current.id))

        run_op(
            self,
            work,
            on_success=lambda written: self.show_note(f"Exported {current.name} to {written}."),
            key="stacks.export",
            progress_text=f"Exporting {current.name}…",
        )
