"""Widgets of the labelling loop: the name dialog and the "label next" list.

They read a ``core.project.ProjectSession`` and say what the user chose; the main
window makes the change (one undo step each) through the session.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

KEY_ROLE = Qt.ItemDataRole.UserRole


class NameDialog(QDialog):
    """An editable combo box: pick a known speaker name or type a new one."""

    def __init__(self, title: str, prompt: str, names: list[str], current: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(names)
        self.combo.setEditText(current)
        self.combo.lineEdit().selectAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(prompt))
        layout.addWidget(self.combo)
        layout.addWidget(buttons)
        self.combo.setFocus()

    def name(self) -> str:
        return self.combo.currentText().strip()


class RankPanel(QTreeWidget):
    """``project.rank()``: files most worth labelling next first, with the reasons."""

    file_chosen = Signal(str)  # the file's key (double-click)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["File", "Score", "Why"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.itemDoubleClicked.connect(self._on_item_double_clicked)

    def set_ranks(self, ranks) -> None:
        self.clear()
        for rank in ranks:
            item = QTreeWidgetItem([rank.key, f"{rank.score:.2f}", rank.reason()])
            item.setData(0, KEY_ROLE, rank.key)
            item.setToolTip(2, rank.reason())
            self.addTopLevelItem(item)

    def keys(self) -> list[str]:
        return [self.topLevelItem(i).data(0, KEY_ROLE) for i in range(self.topLevelItemCount())]

    def _on_item_double_clicked(self, item, _column) -> None:
        self.file_chosen.emit(item.data(0, KEY_ROLE))
