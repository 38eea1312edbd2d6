"""Confirm a deletion after showing what it would touch (an engine ``AffectedPreview``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QVBoxLayout, QWidget

from podwarden.engine.services.clusters import AffectedPreview

KIND_TITLES = {"deployment": "Deployment", "host": "Host", "ingress_rule": "Ingress rule", "secret": "Secret"}


class AffectedPreviewDialog(QDialog):
    """Lists what deleting ``preview``'s subject touches; Delete runs ``on_yes``.

    A blocked deletion (protected) shows why, and its Delete button stays disabled.
    """

    def __init__(self, preview: AffectedPreview, on_yes: Callable[[], object], parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("affected-preview")
        self.setWindowTitle(f"Delete {preview.kind} {preview.name}")
        self.preview = preview
        self.on_yes = on_yes
        self.summary = QLabel(
            f"Deleting the {preview.kind} <b>{preview.name}</b> touches "
            + (f"{len(preview.items)} item(s):" if preview.items else "nothing else.")
        )
        self.summary.setObjectName("affected-summary")
        self.items = QListWidget()
        self.items.setObjectName("affected-items")
        for item in preview.items:
            self.items.addItem(f"{KIND_TITLES.get(item.kind, item.kind)} {item.name}: {item.effect}")
        self.blocked = QLabel(preview.blocked_by or "")
        self.blocked.setObjectName("affected-blocked")
        self.blocked.setStyleSheet("color: #c01c28;")
        self.blocked.setWordWrap(True)
        self.blocked.setVisible(preview.blocked)
        self.buttons = QDialogButtonBox()
        self.yes = self.buttons.addButton(
            f"Delete {preview.name}", QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.yes.setObjectName("confirm-yes")
        self.yes.setEnabled(not preview.blocked)
        if preview.blocked_by:
            self.yes.setToolTip(preview.blocked_by)
        self.no = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.no.setObjectName("confirm-no")
        self.no.setDefault(True)
        self.yes.clicked.connect(self._yes)
        self.no.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.items, 1)
        layout.addWidget(self.blocked)
        layout.addWidget(self.buttons)
        self.resize(520, 320)

    def _yes(self) -> None:
        self.accept()
        self.on_yes()
