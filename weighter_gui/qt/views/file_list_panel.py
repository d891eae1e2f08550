"""The file list (left dock): each open file and the state of its analysis.

Reads the ``Workspace`` on its signals and shows its current file; says which file the
user picked (``file_selected``) or wants closed (``remove_requested``). A file
whose audio is missing offers "Locate missing file…" (``locate_requested``) and
"Find missing files in folder…" (``find_missing_requested``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
)

from weighter_gui.qt.state.workspace import FileState, Workspace

PATH_ROLE = Qt.ItemDataRole.UserRole
MISSING_AUDIO_TIP = ("The audio file is missing, so it cannot be analysed: put it back, or relink it "
                     "(Locate missing file\u2026)")
STATE_COLOURS = {
    FileState.FAILED: QColor("#e05a4f"),
    FileState.DONE: QColor("#4caf50"),
    FileState.ANALYSING: QColor("#e0a030"),
}


class FileListPanel(QTreeWidget):
    file_selected = Signal(object)  # Path or None
    remove_requested = Signal(object)  # Path
    cancel_requested = Signal(object)  # Path
    reanalyse_requested = Signal(object)  # Path
    locate_requested = Signal(object)  # Path of a file whose audio is missing
    find_missing_requested = Signal()

    def __init__(self, workspace: Workspace, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.setColumnCount(2)
        self.setHeaderLabels(["File", "State"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.header()
        # Names get the room; the state column fits "done (10 speakers)", and a long
        # failure reason is elided there (whole in the tooltip and the speaker panel).
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(60)
        self.setColumnWidth(1, self.fontMetrics().horizontalAdvance("done (10 speakers)") + 16)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._items: dict[Path, QTreeWidgetItem] = {}

        workspace.added.connect(self._on_workspace_added)
        workspace.removed.connect(self._on_workspace_removed)
        workspace.state_changed.connect(self._on_workspace_state_changed)
        workspace.current_changed.connect(self._on_workspace_current_changed)
        workspace.order_changed.connect(self._on_workspace_order_changed)
        self.currentItemChanged.connect(self._on_current_item_changed)
        self.customContextMenuRequested.connect(self._on_context_menu_requested)

        self.remove_action = QAction("Remove from list", self)
        self.remove_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self._on_remove_triggered)
        self.addAction(self.remove_action)

    # -- reading -----------------------------------------------------------------------

    def selected_path(self) -> Path | None:
        item = self.currentItem()
        return item.data(0, PATH_ROLE) if item is not None else None

    def select(self, path: Path | None) -> None:
        """Pick a file as the user would (``file_selected`` follows)."""
        item = self._items.get(Path(path)) if path is not None else None
        self.setCurrentItem(item)

    def state_text(self, path: Path) -> str:
        return self._items[Path(path)].text(1)

    def paths(self) -> list[Path]:
        """The files in the order shown."""
        return [self.topLevelItem(i).data(0, PATH_ROLE) for i in range(self.topLevelItemCount())]

    def set_order(self, paths) -> None:
        """Show ``paths`` first, in this order (a relinked file keeps its row, not the
        end of the list). The current file stays current and no selection is announced."""
        items = [self._items[Path(p)] for p in paths if Path(p) in self._items]
        if all(self.topLevelItem(i) is item for i, item in enumerate(items)):
            return
        current = self.currentItem()
        self.blockSignals(True)
        try:
            for i, item in enumerate(items):
                index = self.indexOfTopLevelItem(item)
                if index != i:
                    self.takeTopLevelItem(index)
                    self.insertTopLevelItem(i, item)
            self.setCurrentItem(current)
        finally:
            self.blockSignals(False)

    # -- workspace signals -------------------------------------------------------------

    def _on_workspace_current_changed(self, path: Path | None) -> None:
        item = self._items.get(path) if path is not None else None
        if item is not self.currentItem() and item is not None:
            self.setCurrentItem(item)  # (announces it again: the workspace ignores no change)

    def _on_workspace_order_changed(self) -> None:
        self.set_order(self.workspace.paths_by_key().values())

    def _on_workspace_added(self, path: Path) -> None:
        item = QTreeWidgetItem([path.name, ""])
        item.setData(0, PATH_ROLE, path)
        item.setToolTip(0, str(path))
        self._items[path] = item
        self.addTopLevelItem(item)
        self._on_workspace_state_changed(path)

    def _on_workspace_removed(self, path: Path) -> None:
        item = self._items.pop(path, None)
        if item is not None:
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))

    def _on_workspace_state_changed(self, path: Path) -> None:
        record, item = self.workspace.get(path), self._items.get(path)
        if record is None or item is None:
            return
        status = self.workspace.status_text(path)
        item.setText(1, status)
        tooltip = record.message or f"{path}\n{status}"
        if record.device and record.state in (FileState.ANALYSING, FileState.DONE):
            tooltip += f"\nran on {record.device}"
        item.setToolTip(1, tooltip)
        colour = STATE_COLOURS.get(record.state)
        item.setForeground(1, colour if colour is not None else self.palette().text())

    # -- user --------------------------------------------------------------------------

    def _on_current_item_changed(self, current, previous) -> None:
        self.file_selected.emit(current.data(0, PATH_ROLE) if current is not None else None)

    def _on_remove_triggered(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.remove_requested.emit(path)

    def _on_context_menu_requested(self, position) -> None:
        item = self.itemAt(position)
        if item is None:
            return
        path = item.data(0, PATH_ROLE)
        record = self.workspace.get(path)
        menu = QMenu(self)
        locate = find = None
        if record is not None and record.error_kind == "missing":
            locate = menu.addAction("Locate missing file…")
            find = menu.addAction("Find missing files in folder…")
            menu.addSeparator()
        cancel = menu.addAction("Cancel analysis")
        cancel.setEnabled(record is not None and record.busy)
        reanalyse = menu.addAction("Re-analyse")
        if record is not None and record.audio_missing:
            reanalyse.setEnabled(False)  # it would only fail: the file is not there
            reanalyse.setToolTip(MISSING_AUDIO_TIP)
            menu.setToolTipsVisible(True)
        menu.addSeparator()
        remove = menu.addAction("Remove from list")
        chosen = menu.exec(self.viewport().mapToGlobal(position))
        if chosen is None:
            return
        if chosen is find:
            self.find_missing_requested.emit()
            return
        signal = {cancel: self.cancel_requested, reanalyse: self.reanalyse_requested, remove: self.remove_requested}
        if locate is not None:
            signal[locate] = self.locate_requested
        if chosen in signal:
            signal[chosen].emit(path)
