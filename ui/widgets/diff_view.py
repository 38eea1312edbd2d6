"""A read-only, monospaced text view that colours unified-diff lines (+ green, - red, @@ blue)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit, QWidget


def _format(color: str) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    return fmt


class DiffHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.added, self.removed = _format("#26a269"), _format("#c01c28")
        self.hunk, self.header = _format("#1a5fb4"), _format("#5e5c64")

    def highlightBlock(self, text: str) -> None:
        if text.startswith(("+++", "---")):
            fmt = self.header
        elif text.startswith("+"):
            fmt = self.added
        elif text.startswith("-"):
            fmt = self.removed
        elif text.startswith("@@"):
            fmt = self.hunk
        else:
            return
        self.setFormat(0, len(text), fmt)


class DiffView(QPlainTextEdit):
    def __init__(self, name: str = "diff", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.highlighter = DiffHighlighter(self.document())
