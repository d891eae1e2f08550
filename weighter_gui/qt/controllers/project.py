"""Projects: new, open, save as, and the recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMenu

from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.annotation.storage import PROJECT_SUFFIX, ProjectError
from weighter_gui.qt.controllers.files import FilesController
from weighter_gui.qt.state.analysis_service import AnalysisService
from weighter_gui.qt.state.settings import SettingsStore
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs

PROJECT_FILTER = f"Weighter projects (*{PROJECT_SUFFIX});;All files (*)"


class ProjectController:
    def __init__(self, workspace: Workspace, analysis: AnalysisService, files: FilesController,
                 settings_store: SettingsStore, dialogs: Dialogs) -> None:
        self.workspace = workspace
        self.analysis = analysis
        self.files = files
        self.settings_store = settings_store
        self.dialogs = dialogs

    @property
    def path(self) -> Path | None:
        project = self.workspace.session
        return project.path if project is not None else None

    def new_project(self, path: str | Path) -> bool:
        """Create a project at ``path`` (replacing a file there) holding the open files."""
        path = _with_suffix(path)
        try:
            session = ProjectSession.create(path, overwrite=True)
        except (ProjectError, OSError) as exc:
            self.dialogs.error("Could not create the project", str(exc))
            return False
        for missing in self.workspace.missing():
            self.analysis.remove(missing)
        open_files = self.workspace.paths()
        if open_files:
            session.add_files(open_files)
            session.stack.clear()  # the project starts here: nothing to undo
        self._set(session, keep_files=True)
        return True

    def open_project(self, path: str | Path) -> bool:
        """Open a project: its files, analyses (curves from its cache) and labels.

        A malformed file or a newer format shows the core's message and changes nothing."""
        try:
            session = ProjectSession.open(path)
        except (ProjectError, OSError, ValueError) as exc:
            self.dialogs.error("Could not open the project", str(exc))
            return False
        for open_path in self.workspace.paths():
            self.analysis.remove(open_path)  # the project's files replace them; their jobs end
        self._set(session, keep_files=False)
        return True

    def _set(self, session: ProjectSession, keep_files: bool) -> None:
        self.workspace.set_project(session, keep_files=keep_files)
        self.settings_store.add_recent_project(session.path)
        first = next(iter(self.workspace.paths()), None)
        if first is not None and self.workspace.current is None:
            self.workspace.set_current(first)
        self.dialogs.status(f"Project {session.path.name}: {len(session.files)} file(s)")

    def save_project_as(self, path: str | Path) -> bool:
        """Save the project at ``path``; autosave goes there from now on, the old file
        is left as it was. Paths are stored relative to the new file's folder and the
        curves cache is copied beside it. Without a project: a new one of the open files."""
        if self.workspace.session is None:
            return self.new_project(path)
        try:
            target = self.workspace.session.save(_with_suffix(path))
        except (ProjectError, OSError) as exc:
            self.dialogs.error("Could not save the project", str(exc))
            return False
        self.settings_store.add_recent_project(target)
        self.dialogs.status(f"Saved as {target}; changes are saved there from now on")
        return True

    # ============================================================ asking

    def ask_new(self) -> None:
        path = self.dialogs.ask_save_path("New project", self.files.last_folder(), PROJECT_FILTER)
        if path:
            self.new_project(path)

    def ask_open(self) -> None:
        path = self.dialogs.ask_open_path("Open project", self.files.last_folder(), PROJECT_FILTER)
        if path:
            self.open_project(path)

    def ask_save_as(self) -> None:
        start = str(self.path) if self.path is not None else self.files.last_folder()
        path = self.dialogs.ask_save_path("Save project as", start, PROJECT_FILTER)
        if path:
            self.save_project_as(path)

    def fill_recent_menu(self, menu: QMenu) -> None:
        """The "Recent projects" submenu, read again each time it opens."""
        recent = self.recent_menu = menu.addMenu("Recent projec&ts")

        def rebuild() -> None:
            recent.clear()
            entries = self.settings_store.recent_projects()
            for entry in entries:
                recent.addAction(entry).triggered.connect(lambda _=False, p=entry: self.open_project(p))
            if not entries:
                recent.addAction("(none)").setEnabled(False)
            recent.addSeparator()
            recent.addAction("Clear recent projects").triggered.connect(self.settings_store.clear_recent_projects)

        recent.aboutToShow.connect(rebuild)
        rebuild()


def _with_suffix(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)
