"""The page shape the list views share: toolbars above a table over a detail pane."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLayout, QSplitter, QVBoxLayout, QWidget

Item = QWidget | QLayout


def toolbar(left: Sequence[QWidget], right: Sequence[QWidget] = ()) -> QHBoxLayout:
    """Buttons on the left, a stretch, then the ones on the right."""
    bar = QHBoxLayout()
    for widget in left:
        bar.addWidget(widget)
    bar.addStretch(1)
    for widget in right:
        bar.addWidget(widget)
    return bar


def master_detail(
    page: QWidget,
    bars: Sequence[QLayout],
    table: QWidget,
    detail: Sequence[Item],
    *,
    stretch: tuple[int, int] = (1, 3),
    expand: int = -1,
) -> QSplitter:
    """Lay ``page`` out as ``bars`` over a vertical splitter of ``table`` and a pane
    stacking ``detail``; ``detail[expand]`` takes the spare height."""
    pane = QWidget()
    column = QVBoxLayout(pane)
    column.setContentsMargins(0, 0, 0, 0)
    grows = expand % len(detail) if detail else 0
    for index, item in enumerate(detail):
        grow = 1 if index == grows else 0
        if isinstance(item, QLayout):
            column.addLayout(item, grow)
        else:
            column.addWidget(item, grow)
    splitter = QSplitter(Qt.Orientation.Vertical)
    splitter.addWidget(table)
    splitter.addWidget(pane)
    splitter.setStretchFactor(0, stretch[0])
    splitter.setStretchFactor(1, stretch[1])
    layout = QVBoxLayout(page)
    for bar in bars:
        layout.addLayout(bar)
    layout.addWidget(splitter, 1)
    return splitter
