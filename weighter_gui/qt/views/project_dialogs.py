"""Widgets of the labelling loop: the name dialog, the "label next" list and the
evaluation report.

They read a ``core.project.ProjectSession`` and say what the user chose; the main
window makes the change (one undo step each) through the session.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QStyle,
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


class TableText(QPlainTextEdit):
    """Read-only text in the system's fixed-width font, never wrapped: columns line up.

    It asks for room for all of its text and gets at least ``LEAST_ROOM`` of it;
    beyond that it scrolls (scroll bars only where the text can be larger than that)."""

    LEAST_ROOM = QSize(800, 300)
    MAX_SIZE = QSize(1000, 600)

    def __init__(self, text: str, parent=None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlainText(text)
        natural = self.natural_size()
        self.setMinimumSize(natural.boundedTo(self.LEAST_ROOM))
        if natural.width() <= self.LEAST_ROOM.width():
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        if natural.height() <= self.LEAST_ROOM.height():
            self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def natural_size(self) -> QSize:
        """Room for every line, whole, without scroll bars."""
        metrics = self.fontMetrics()
        lines = self.toPlainText().splitlines() or [""]
        margin = 2 * (self.frameWidth() + round(self.document().documentMargin())) + 8  # + the cursor, slack
        width = max(metrics.horizontalAdvance(line) for line in lines) + margin
        height = metrics.lineSpacing() * (len(lines) + 1) + margin  # a spare line
        return QSize(width, height)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        natural = self.natural_size()
        scroll_bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        width, height = natural.width(), natural.height()
        if width > self.MAX_SIZE.width():
            height += scroll_bar
        if height > self.MAX_SIZE.height():
            width += scroll_bar
        return QSize(width, height).boundedTo(self.MAX_SIZE)


class ReportDialog(QDialog):
    """A report with a table (Export \u203a Evaluate): the summary in the usual font, the
    table in a fixed-width font without wrapping, so its columns line up."""

    def __init__(self, title: str, summary: str, table: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.summary = QLabel(summary)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = TableText(table)  # (its minimum size: adjustSize() would keep the dialog
        # within 2/3 of a small screen and cut the table's last columns off)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def text(self) -> str:
        return f"{self.summary.text()}\n\n{self.table.toPlainText()}"
