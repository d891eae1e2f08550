"""The window's questions and messages, in one place: the controllers ask through here.

Modal questions (``ask_*``) are methods so tests can replace them; messages (``status``,
``error``, ``report``) are non-modal and keep the last box open, so a test (or a user)
can read it. Everything is parented to the main window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QStatusBar, QWidget

from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.qt.views.project_dialogs import NameDialog, ReportDialog

STATUS_MESSAGE_MS = 10_000
NO_PROJECT_HINT = ("Open a recording first (File \u203a Open files\u2026); labels and turn edits then go into a "
                   "project, untitled until you save it")


class Dialogs:
    """Questions to the user and messages for them, parented to ``parent``."""

    def __init__(self, parent: QWidget, status_bar: QStatusBar) -> None:
        self.parent = parent
        self.status_bar = status_bar
        self.report_box: QMessageBox | ReportDialog | None = None
        self.error_box: QMessageBox | None = None
        self.name_dialog: NameDialog | None = None
        self.last_report = ""

    # -- messages ----------------------------------------------------------------------

    def status(self, text: str, ms: int = STATUS_MESSAGE_MS) -> None:
        self.status_bar.showMessage(text, ms)

    def require_project(self, session) -> bool:
        """Whether a project is open; if not, the status bar says how to make one."""
        if session is None:
            self.status(NO_PROJECT_HINT)
            return False
        return True

    def attempt(self, change, *args) -> bool:
        """Run one project change; a refused one (a label that does not fit) is a status
        message, not an error box."""
        try:
            change(*args)
        except (ProjectError, ValueError) as exc:
            self.status(str(exc))
            return False
        return True

    def error(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Close, self.parent)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.error_box = box

    def report(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self.parent)
        self._show_report(box, text)

    def report_table(self, title: str, summary: str, table: str) -> None:
        """A summary over a fixed-width table the user can select and copy."""
        self._show_report(ReportDialog(title, summary, table, self.parent), f"{summary}\n\n{table}")

    def _show_report(self, box, text: str) -> None:
        self.last_report = text
        if self.report_box is not None:
            self.report_box.close()
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.report_box = box

    def close_all(self) -> None:
        for box in (self.report_box, self.error_box):
            if box is not None:
                box.close()

    # -- questions (modal: tests replace these) ----------------------------------------

    def ask_save_path(self, title: str, start: str, filter_: str) -> str | None:
        """A file to write."""
        path, _ = QFileDialog.getSaveFileName(self.parent, title, start, filter_)
        return path or None

    def ask_open_path(self, title: str, start: str, filter_: str) -> str | None:
        """An existing file."""
        path, _ = QFileDialog.getOpenFileName(self.parent, title, start, filter_)
        return path or None

    def ask_open_paths(self, title: str, start: str, filter_: str) -> list[str]:
        """Existing files (none: cancelled)."""
        paths, _ = QFileDialog.getOpenFileNames(self.parent, title, start, filter_)
        return paths

    def ask_folder(self, title: str, start: str) -> str | None:
        """An existing folder."""
        return QFileDialog.getExistingDirectory(self.parent, title, start) or None

    def ask_yes_no(self, title: str, text: str) -> bool:
        return QMessageBox.question(self.parent, title, text) == QMessageBox.StandardButton.Yes

    def ask_recover(self, what: str) -> str:
        """Reopen an untitled project a crash left behind? "recover", "discard" or "later"."""
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work",
                          f"Weighter Studio found work that was never saved under a name:\n\n{what}\n\n"
                          "Recover it now, discard it for good, or decide next time?", parent=self.parent)
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        return {recover: "recover", discard: "discard"}.get(box.clickedButton(), "later")

    def ask_name(self, title: str, prompt: str, known: list[str], current: str = "") -> str | None:
        """A speaker name, typed or picked from ``known``; None when cancelled or empty."""
        dialog = NameDialog(title, prompt, known, current, self.parent)
        self.name_dialog = dialog
        ok = dialog.exec() == NameDialog.DialogCode.Accepted
        self.name_dialog = None
        return dialog.name() or None if ok else None

    def ask_item(self, title: str, prompt: str, items: list[str]) -> str | None:
        if not items:
            return None
        item, ok = QInputDialog.getItem(self.parent, title, prompt, items, 0, False)
        return item if ok else None
