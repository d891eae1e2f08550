"""The keyboard-shortcuts dialog (F1). Built from the window's own actions, so it
lists exactly the shortcuts that work, plus the mouse gestures of the plots."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

MOUSE_GESTURES = (
    ("Click on the plots", "Move the playhead there (seek)"),
    ("Drag", "Pan in time"),
    ("Mouse wheel", "Zoom in time around the pointer"),
    ("Shift + drag", "Select a range (then L loops it)"),
    ("Drag a range's edge", "Resize the selected range"),
    ("Click a turn (turns lane)", "Select it and put the playhead there"),
    ("Drag a turn's edge", "Move the boundary (snaps to speech onsets and other turns; Alt: no snapping)"),
    ("Drag a turn onto another row", "Give it to that speaker"),
    ("Drag over free space in a row", "Draw a turn for that speaker"),
    ("Drop files or folders on the window", "Open them"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(keys, what it does) for every action that has a shortcut, in menu order."""
    rows = []
    for action in actions:
        keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        keys = [k for k in keys if k]
        if keys:
            rows.append((" or ".join(keys), action.text().replace("&", "").rstrip("…").rstrip(".")))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, actions: list[QAction], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 560)
        rows = shortcut_rows(actions) + [(k, v) for k, v in MOUSE_GESTURES]
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys / mouse", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, (keys, meaning) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(meaning))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]
