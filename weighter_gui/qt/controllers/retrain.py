"""Model › Retrain: the dialog, and switching to the model it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from weighter_gui.qt.controllers.files import FilesController
from weighter_gui.qt.state.settings import Preferences
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.retrain_dialog import RetrainDialog


class RetrainController:
    def __init__(self, workspace: Workspace, preferences: Preferences, files: FilesController,
                 dialogs: Dialogs, name_untitled: Callable[[], bool]) -> None:
        self.workspace = workspace
        self.preferences = preferences
        self.files = files
        self.dialogs = dialogs
        self.name_untitled = name_untitled  # True when the project has a name (asking for one if untitled)
        self.dialog: RetrainDialog | None = None

    @property
    def running(self) -> bool:
        return self.dialog is not None and self.dialog.running

    def open(self) -> None:
        # a retrain writes its manifest and model beside the project: an untitled one is named first
        if self.dialogs.require_project(self.workspace.session) and self.name_untitled():
            self.open_dialog().show()

    def open_dialog(self) -> RetrainDialog:
        """The retrain dialog for the open project (the running one, if training)."""
        if self.running:
            return self.dialog
        if self.dialog is not None:
            self.dialog.close()
        dialog = RetrainDialog(self.workspace.session, self.preferences.checkpoint(),
                               self.preferences.effective().device, self.dialogs.parent)
        dialog.trained.connect(self._on_trained)
        self.dialog = dialog
        return dialog

    def _on_trained(self, checkpoint: Path) -> None:
        if self.dialogs.ask_yes_no("Use the new model?",
                                   f"Training wrote {checkpoint}.\n\nSwitch to it and re-analyse the project's "
                                   "files? Labels move to the new slots."):
            self.use_checkpoint(checkpoint, reanalyse=True)

    def use_checkpoint(self, checkpoint: Path, reanalyse: bool = True) -> None:
        self.files.apply_settings(replace(self.preferences.saved, checkpoint=str(checkpoint)))
        if reanalyse:
            self.files.reanalyse_all()

    def stop(self) -> None:
        """Cancel a running retrain and close the dialog (the app is closing)."""
        if self.dialog is not None:
            self.dialog.stop()
            self.dialog.close()
