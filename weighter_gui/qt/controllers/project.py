"""Projects: new, open, save as, the recent projects, and the untitled project that
work goes into before the user names one (``core.annotation.recovery``): it is locked
while open (``QLockFile``), so a second running app never offers it for recovery."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLockFile
from PySide6.QtWidgets import QMenu

from weighter_gui.core.annotation import recovery
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
        self.recovery_dir = settings_store.recovery_dir()
        self._lock: QLockFile | None = None  # held on the open untitled project

    @property
    def untitled(self) -> bool:
        session = self.workspace.session
        return session is not None and recovery.is_untitled(session.project)

    def ensure_project(self) -> bool:
        """A project to put work in: the open one, or a new untitled one holding the open
        files (autosaved in the recovery folder until it is named)."""
        if self.workspace.session is not None:
            return True
        try:
            session = recovery.create_untitled(self.recovery_dir)
        except (ProjectError, OSError) as exc:
            self.dialogs.error("Could not start an untitled project", str(exc))
            return False
        for missing in self.workspace.missing():
            self.analysis.remove(missing)
        if self.workspace.paths():
            session.add_files(self.workspace.paths())
            session.stack.clear()
        self._set(session, keep_files=True)
        self.dialogs.status("Your work is autosaved in an untitled project; File › Save project as… names it")
        return True

    def ensure_named(self) -> bool:
        """The open project has a name; an untitled one is saved under one the user picks
        (False when they cancel)."""
        if not self.untitled:
            return self.workspace.session is not None
        self.dialogs.status("Name the project first: the retrained model and its manifest are saved beside it")
        self.ask_save_as()
        return not self.untitled

    def offer_recovery(self) -> bool:
        """At start: offer the untitled projects a crash (or closing without naming
        them) left behind; True when one was reopened."""
        found = recovery.recoverable(self.recovery_dir, in_use=_locked_elsewhere)
        for path in found:
            answer = self.dialogs.ask_recover(recovery.describe(path))
            if answer == "recover":
                return self.open_project(path)
            if answer == "discard":
                recovery.discard(path)
            else:  # later: ask again next time
                return False
        return False

    @property
    def path(self) -> Path | None:
        project = self.workspace.session
        return project.path if project is not None else None

    def new_project(self, path: str | Path) -> bool:
        """Create a project at ``path`` (replacing a file there) holding the open files.
        With an untitled project open, that one is named (its labels and turns go along)."""
        if self.untitled:
            return self.save_project_as(path)
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
        self._release()
        self.workspace.set_project(session, keep_files=keep_files)
        if recovery.is_untitled(session.project):
            self._lock = QLockFile(str(session.path) + ".lock")
            self._lock.setStaleLockTime(0)  # only a dead process's lock is stale, however old
            self._lock.tryLock(0)
        else:
            self.settings_store.add_recent_project(session.path)
        first = next(iter(self.workspace.paths()), None)
        if first is not None and self.workspace.current is None:
            self.workspace.set_current(first)
        self.dialogs.status(f"Project {session.path.name}: {len(session.files)} file(s)")

    def close(self) -> None:
        """The window closes: an untitled project stays in the recovery folder, unlocked,
        to be offered at the next start."""
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def save_project_as(self, path: str | Path) -> bool:
        """Save the project at ``path``; autosave goes there from now on, the old file
        is left as it was. Paths are stored relative to the new file's folder and the
        curves cache is copied beside it. Without a project: a new one of the open files."""
        if self.workspace.session is None:
            return self.new_project(path)
        session, was_untitled = self.workspace.session, self.untitled
        try:
            target = recovery.name_project(session, _with_suffix(path)) if was_untitled else session.save(
                _with_suffix(path))
        except (ProjectError, OSError) as exc:
            self.dialogs.error("Could not save the project", str(exc))
            return False
        if was_untitled:
            self._release()
            self.workspace.project_changed.emit(session)  # (the title names it now)
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


def _locked_elsewhere(path: Path) -> bool:
    """Whether a running Weighter Studio holds ``path`` open (its lock is live)."""
    lock = QLockFile(str(path) + ".lock")
    lock.setStaleLockTime(0)
    if lock.tryLock(0):
        lock.unlock()
        return False
    return True


def _with_suffix(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)
