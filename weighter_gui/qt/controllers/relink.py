"""Audio that moved: Locate missing file… and Find missing files in folder….

The search and the hashing (``core.annotation.relink``) run in a ``BackgroundTask``
behind a progress dialog that can cancel them; the answer is applied here, on the GUI
thread, as one undo step, only if the project still is as it was when the work began.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from weighter_gui.core.annotation.commands import Batch, RelinkFile
from weighter_gui.core.annotation.relink import MissingFile, Progress
from weighter_gui.core.annotation.relink import find as find_moved_files
from weighter_gui.core.annotation.relink import locate as compare_located_file
from weighter_gui.qt.controllers.files import AUDIO_FILTER, FilesController
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.workers.task import BackgroundTask

RELINK_DIALOG_DELAY_MS = 500  # the progress dialog shows only if the work takes longer


class RelinkController(QObject):
    finished = Signal(int)  # Locate / Find missing files ended: files relinked (0: none or cancelled)
    running_changed = Signal()  # a task started or ended (what the menus offer changes)

    def __init__(self, workspace: Workspace, files: FilesController, dialogs: Dialogs, parent: QWidget) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.files = files
        self.dialogs = dialogs
        self.progress_dialog: QProgressDialog | None = None  # while a task runs
        self._task: BackgroundTask | None = None  # the one whose answer counts
        self._apply_answer: Callable[[object], int] | None = None
        self._started_for = None  # the project session the task was started for
        self.tasks: list[BackgroundTask] = []  # every one still running (a cancelled one winds down)

    def running(self) -> bool:
        """Whether a Locate / Find task is running (its answer pending)."""
        return self._task is not None

    def can_locate(self) -> bool:
        current = self.workspace.current
        return (not self.running() and self.workspace.key_for(current) is not None
                and current in self.workspace.missing())

    def can_find(self) -> bool:
        return not self.running() and self.workspace.session is not None and bool(self.workspace.missing())

    # ============================================================ locate one file

    def locate_current(self) -> None:
        self.locate(self.workspace.current)

    def locate(self, path: Path | None = None) -> bool:
        """Ask where a missing file's audio went and relink it (default: the selected file).

        True when a file was picked: it is checked in the background and relinked when
        that ends (``finished``)."""
        path = path if path is not None else self.workspace.current
        pf = self.workspace.project_file(path)
        if pf is None or pf.exists:
            self.dialogs.status("Select a file of the project whose audio is missing")
            return False
        folder = next((p for p in Path(path).parents if p.is_dir()), None)
        start = str(folder / Path(path).name) if folder is not None else self.files.last_folder()
        new = self.dialogs.ask_open_path(f"Where is {Path(path).name} now?", start, AUDIO_FILTER)
        return bool(new) and self.relink_file(path, new)

    def relink_file(self, path: Path, new_path: str | Path) -> bool:
        """Point the project's file at ``path`` to its audio at ``new_path`` (one undo step).

        Where the project knows the audio's sha256 (or length), a file that differs is
        relinked only if the user says so: its labels were made for other audio. The
        comparison reads the whole file, so it runs in the background (a progress dialog
        can cancel it); returns whether it started, and ``finished`` says how it ended."""
        key = self.workspace.key_for(path)
        if key is None:
            self.dialogs.status(f"{Path(path).name} is not in the project")
            return False
        new = Path(os.path.abspath(new_path))
        if not new.is_file():
            self.dialogs.status(f"{new} is not a file")
            return False
        project = self.workspace.session
        pf, other = project.file(key), project.key_for(new)
        if other is not None and other != key:
            self.dialogs.status(f"{new} is in the project already, as {other}")
            return False
        missing = MissingFile(key, pf.audio, pf.facts)
        return self._start(f"Checking {new.name}", partial(compare_located_file, missing, new), self._on_located)

    def _on_located(self, answer) -> int:
        """The picked file was compared (``LocateAnswer``): relink it, asking first if it
        differs from the audio the project had. Returns the files relinked."""
        key, new = answer.missing.key, answer.new
        pf = self._unchanged_file(answer.missing)
        if pf is None:
            self.dialogs.status(f"{key} changed while {new.name} was being checked; nothing relinked")
            return 0
        if answer.difference and not self.dialogs.ask_yes_no(
                "Relink to different audio?",
                f"{new.name} {answer.difference}.\n\nRelink {key} to it anyway? Its analysis and labels were made "
                "for the old audio and stay as they are."):
            return 0
        if not self.dialogs.attempt(self.workspace.session.relink_file, key, new):
            return 0
        _record_facts(pf, answer.facts)
        self.dialogs.status(f"Relinked {key} to {new}")
        return 1

    # ============================================================ find in a folder

    def ask_find_missing(self) -> None:
        project = self.workspace.session
        if not self.dialogs.require_project(project):
            return
        if not project.missing_files():
            self.dialogs.status("No audio file of the project is missing")
            return
        folder = self.dialogs.ask_folder("Find missing files in folder", str(project.path.parent))
        if folder:
            self.find_missing(folder)

    def find_missing(self, folder: str | Path) -> bool:
        """Look in ``folder`` and below for every missing file (same name, and same
        sha256 where the project knows it) and relink those found, as one undo step,
        then report what was found.

        The search and the hashing run in the background (a progress dialog can cancel
        them); returns whether it started, and ``finished`` says how many files were
        relinked."""
        project = self.workspace.session
        if project is None:
            return False
        missing = [MissingFile(k, project.file(k).audio, project.file(k).facts) for k in project.missing_files()]
        if not missing:
            self.dialogs.status("No audio file of the project is missing")
            return False
        folder = Path(os.path.abspath(folder))
        taken = {os.path.normcase(str(pf.audio)) for pf in project.files.values()}
        return self._start("Finding missing files", partial(find_moved_files, folder, missing, taken),
                           self._on_found)

    def _on_found(self, answer) -> int:
        """The folder was searched (``FindAnswer``): relink what was found, as one undo
        step, and report. Returns the files relinked."""
        project = self.workspace.session
        found: dict[str, tuple[Path, object]] = {}
        problems = list(answer.problems)
        snapshots = {m.key: m for m in answer.missing}
        for key, (new, facts) in answer.found.items():
            pf = self._unchanged_file(snapshots[key])
            if pf is None or pf.exists or project.key_for(new) is not None:
                problems.append(f"{key}: changed while the folder was searched")
            else:
                found[key] = (new, facts)
        if found:
            commands = [RelinkFile(key, new) for key, (new, _) in found.items()]
            cmd = commands[0] if len(commands) == 1 else Batch(f"Relink {len(commands)} files", commands)
            if not self.dialogs.attempt(project.push, cmd):
                return 0
            for key, (_, facts) in found.items():
                _record_facts(project.file(key), facts)
        missing = len(answer.missing)
        lines = [f"Found {len(found)} of {missing} missing file{'s' if missing != 1 else ''} "
                 f"in {answer.folder}" + (" and relinked them (one undo step)." if found else ".")]
        if problems:
            lines += ["", "Not relinked:"] + problems
        self.dialogs.report("Find missing files", "\n".join(lines))
        self.dialogs.status(lines[0])
        return len(found)

    def _unchanged_file(self, missing: MissingFile):
        """The project file ``missing`` was taken from, if it still points where it did
        (the project may change while a task runs); else None."""
        project = self.workspace.session
        pf = project.files.get(missing.key) if project is not None else None
        if pf is None or pf.audio != missing.audio:
            return None
        return pf

    # ============================================================ the task and its dialog

    def _start(self, title: str, work: Callable[[Progress], object], apply_answer: Callable[[object], int]) -> bool:
        """Run ``work(progress)`` in a background task; ``apply_answer(result)`` applies it
        on this thread and returns the files relinked. One at a time."""
        if self._task is not None:
            self.dialogs.status("Still looking for missing audio: wait for it, or cancel it")
            return False

        def run(hook):
            return work(Progress(lambda *said: hook.report(said), lambda: hook.cancelled))

        task = BackgroundTask("RelinkTask", run, self)
        # Bound slots (not lambdas): answers from the task's thread are queued to this
        # thread, and ``sender()`` names the task.
        task.progress.connect(self._on_task_progress)
        task.done.connect(self._on_task_done)
        task.failed.connect(self._on_task_failed)
        task.finished.connect(self._on_task_thread_finished)
        dialog = QProgressDialog(f"{title}\u2026", "Cancel", 0, 0, self.parent())
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(RELINK_DIALOG_DELAY_MS)  # quick work never shows it
        dialog.setMinimumWidth(420)
        dialog.canceled.connect(self.cancel)
        dialog.setValue(0)  # starts the dialog's clock
        self._task, self.progress_dialog = task, dialog
        self._apply_answer, self._started_for = apply_answer, self.workspace.session
        self.tasks.append(task)
        self.running_changed.emit()
        task.start()
        return True

    @Slot(object)
    def _on_task_progress(self, said) -> None:
        dialog = self.progress_dialog
        if dialog is None or self.sender() is not self._task:
            return
        text, done, total = said
        dialog.setLabelText(text)
        if total > 0:
            dialog.setMaximum(1000)  # bytes would overflow the dialog's int
            dialog.setValue(min(1000, done * 1000 // total))
        else:
            dialog.setMaximum(0)  # busy: how far is unknown
            dialog.setValue(0)

    def _close_dialog(self) -> None:
        dialog, self.progress_dialog = self.progress_dialog, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)  # closing it says "canceled"
            dialog.reset()  # (and stops its clock: it will not show up later)
            dialog.hide()
            dialog.deleteLater()

    def _end(self, relinked: int) -> None:
        self._task = self._apply_answer = self._started_for = None
        self._close_dialog()
        self.running_changed.emit()
        self.finished.emit(relinked)

    @Slot()
    def cancel(self) -> None:
        """The progress dialog's Cancel (or Escape): stop at once; nothing is relinked."""
        task = self._task
        if task is None:
            return
        task.cancel()  # it stops at its next chunk or folder; anything it says now is dropped
        self.dialogs.status("Cancelled: nothing was relinked")
        self._end(0)

    @Slot(object)
    def _on_task_done(self, answer) -> None:
        task = self.sender()
        if task is not self._task or task.was_cancelled:
            return
        self._close_dialog()  # before any question about the answer
        relinked = 0
        try:
            if self.workspace.session is self._started_for:
                relinked = self._apply_answer(answer)
            else:
                self.dialogs.status("The project changed while looking for its audio; nothing relinked")
        finally:
            self._end(relinked)

    @Slot(str)
    def _on_task_failed(self, reason: str) -> None:
        if self.sender() is not self._task:
            return
        self._end(0)
        self.dialogs.error("Could not look for the audio", reason)

    @Slot()
    def _on_task_thread_finished(self) -> None:
        task = self.sender()
        if task in self.tasks:
            self.tasks.remove(task)
        if task is self._task:  # ended without an answer (the work always answers; be safe)
            self._end(0)
        task.deleteLater()

    def stop(self) -> None:
        self.cancel()
        for task in list(self.tasks):
            task.cancel()
            task.wait()


def _record_facts(pf, facts) -> None:
    """Record the relinked audio's facts (worked out by the task), so the next move can be
    checked too: a cache beside the undo step (``RelinkFile`` clears it), saved with the
    next change; only if the file is still as it was then."""
    if pf.facts is not None or facts is None:
        return
    try:
        st = pf.audio.stat()
    except OSError:
        return
    if (st.st_size, st.st_mtime_ns) == (facts.size, facts.mtime_ns):
        pf.facts = facts
