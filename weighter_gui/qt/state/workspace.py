"""The workspace: the app's one model of its files, the project they belong to, and what
the user has selected. Views listen to it and re-read; controllers write through it.

Two kinds of state, each kept once:

* **What the project says** (labels, the stored analysis, a file's threshold, its
  reference) lives in the core ``ProjectSession`` when a project is open, and is read
  from it: ``threshold(path)``, ``speaker_count(path)`` and ``status_text(path)`` derive
  from the project for its files. Outside a project a file keeps its own threshold.
* **What only this run knows** (an analysis queued or running, its job id, the live
  curves, the spectrogram's view range) lives in a ``FileRecord`` per open file, changed
  only by the methods here, each announcing the change by signal.

When an analysis finishes, the result goes into the project first (a re-analysis moves
the labels) and the file is announced once. When the project changes under the files
(opened, undo, redo, relink, a file added or removed), ``_follow_project`` makes the open
files follow it: each record remembers the analysis its curves were built from
(``record.source``), so a stored analysis is shown again only when it is another one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from weighter_gui.core.diarize.live_tracks import LiveTracks, TrackView, final_views

DEFAULT_THRESHOLD = 0.5  # until an analysis says otherwise
MISSING_AUDIO_MESSAGE = (
    "{path}: the audio file is missing (moved or deleted?). Right-click it › Locate missing file…, "
    "or File › Find missing files in folder…"
)


class FileState(Enum):
    WAITING = "waiting"
    ANALYSING = "analysing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class FileRecord:
    """What this run knows of one open file (the project's part is read from the project)."""

    path: Path
    state: FileState = FileState.WAITING
    job_id: int | None = None  # the analysis whose answers count; others are stale
    percent: int = 0
    device: str = ""
    message: str = ""  # full error text (tooltip, status bar)
    reason: str = ""  # short error text (file list)
    error_kind: str = ""
    live: LiveTracks | None = None
    diarization: object | None = None  # what the curves show: a FileDiarization or the project's Analysis
    source: object | None = None  # the object ``tracks`` were built from (the project's Analysis once stored)
    tracks: list[TrackView] = field(default_factory=list)
    threshold: float | None = None  # outside a project: the user's; None: the analysis's own
    duration: float | None = None
    view_range: tuple[float, float] | None = None  # the range the user left it at (None: whole file)
    channel: int | str | None = None  # what is analysed: None the downmix, 0, 1, ... a channel, "each" every one
    speakers: int | None = None  # how many speakers the user says it holds; None: estimated

    @property
    def audio_missing(self) -> bool:
        """The audio file is not there: flagged by the project, or the analysis failed
        because the file was not found and it is still not there."""
        if self.error_kind == "missing":
            return True
        return self.state is FileState.FAILED and self.error_kind == "audio" and not self.path.exists()

    @property
    def busy(self) -> bool:
        return self.state in (FileState.WAITING, FileState.ANALYSING)


class Workspace(QObject):
    """Ordered open files, the project (or None), the current file and the selected slot."""

    added = Signal(object)  # Path
    removed = Signal(object)  # Path
    state_changed = Signal(object)  # Path: state, percent, error, speaker count
    tracks_changed = Signal(object)  # Path: curves, confidences, threshold, labels
    order_changed = Signal()  # the project's order of its files (after a relink or an undo)
    project_changed = Signal(object)  # the ProjectSession now open, or None
    project_edited = Signal(object)  # a core ``Change`` of the open project (after the files follow it)
    current_changed = Signal(object)  # Path or None
    selection_changed = Signal(object)  # slot label or None
    turn_selection_changed = Signal(object)  # the selected Turn of the current file, or None
    analysis_needed = Signal(object)  # Path: a project file shown again has no usable analysis

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._records: dict[Path, FileRecord] = {}
        self.session = None  # core ProjectSession, when a project is open
        self.current: Path | None = None
        self.selected_slot: str | None = None
        self.selected_turn = None  # a core ``Turn`` of the current file's project turns
        self._keys: dict[Path, str] = {}  # path -> project key at the last follow (to follow relinks)
        self._storing: Path | None = None  # the file whose finished analysis goes into the project now

    # ============================================================ reading

    def __contains__(self, path) -> bool:
        return Path(path) in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, path) -> FileRecord | None:
        return self._records.get(Path(path)) if path is not None else None

    def paths(self) -> list[Path]:
        return list(self._records)

    def by_job(self, job_id: int) -> FileRecord | None:
        """The record still waiting for ``job_id``'s answers, or None if it is stale."""
        return next((r for r in self._records.values() if r.job_id == job_id), None)

    def busy(self) -> list[FileRecord]:
        return [r for r in self._records.values() if r.busy]

    def missing(self) -> list[Path]:
        """Open files whose audio the project flags as missing."""
        return [r.path for r in self._records.values() if r.error_kind == "missing"]

    def key_for(self, path: Path | None) -> str | None:
        """The project key of an open file (None: no project, or not one of its files)."""
        if self.session is None or path is None:
            return None
        return self.session.key_for(path)

    def project_file(self, path: Path | None):
        """The project's ``ProjectFile`` for an open file, or None."""
        key = self.key_for(path)
        return self.session.file(key) if key is not None else None

    def path_for(self, key: str) -> Path | None:
        return self.paths_by_key().get(key)

    def paths_by_key(self) -> dict[str, Path]:
        """The project's files that are open: key -> path, in project order."""
        if self.session is None:
            return {}
        open_paths = {os.path.normcase(os.path.abspath(p)): p for p in self._records}
        out = {}
        for key, pf in self.session.files.items():
            path = open_paths.get(os.path.normcase(str(pf.audio)))
            if path is not None:
                out[key] = path
        return out

    def threshold(self, path: Path) -> float:
        """The claim threshold the file is shown at: the project's override for its files,
        else the user's for this run, else the analysis's own."""
        record = self._records[Path(path)]
        pf = self.project_file(path)
        chosen = pf.threshold if pf is not None else record.threshold
        if chosen is not None:
            return float(chosen)
        if record.diarization is not None:
            return float(record.diarization.threshold)
        return DEFAULT_THRESHOLD

    def shows_project_analysis(self, path: Path) -> bool:
        """Whether the curves shown are the project's stored analysis (labels apply to them)."""
        record, pf = self.get(path), self.project_file(path)
        return (record is not None and pf is not None and pf.analysis is not None
                and record.state is FileState.DONE and {t.label for t in record.tracks} <= set(pf.analysis.labels))

    def speaker_count(self, path: Path) -> int:
        """Speakers in the file as the exports count them where the project has its
        analysis (a merged group is one, a named slot counts, "not a speaker" does not),
        else the tracks above the threshold."""
        if self.shows_project_analysis(path):
            return len(self.project_file(path).speakers())
        threshold = self.threshold(path)
        return sum(t.confidence >= threshold for t in self._records[Path(path)].tracks)

    def speakers(self, path: Path) -> list[tuple[str, tuple[str, ...], tuple[tuple[float, float], ...]]]:
        """The file's speakers as the exports write them: (name, their slots, turns). In a
        project with the file's analysis, names, merges and "not a speaker" apply; else
        each track above the threshold is a speaker."""
        record = self.get(path)
        if record is None or record.state is not FileState.DONE or record.diarization is None:
            return []
        if self.shows_project_analysis(path):
            return [(sp.label, sp.slots, sp.segments) for sp in self.project_file(path).speakers()]
        threshold = self.threshold(path)
        return [(t.label, (t.label,), tuple(t.segments)) for t in record.diarization.tracks
                if t.confidence >= threshold]

    def status_text(self, path: Path) -> str:
        """What the file list shows, in plain words."""
        record = self._records[Path(path)]
        if record.state is FileState.ANALYSING:
            return f"analysing {record.percent}%"
        if record.state is FileState.DONE:
            n = self.speaker_count(path)
            pf = self.project_file(path)
            reviewed = f", {pf.reviewed_share:.0%} reviewed" if pf is not None and pf.reviewed else ""
            return f"done ({n} speaker{'s' if n != 1 else ''}{reviewed})"
        if record.state is FileState.FAILED:
            return "missing audio" if record.error_kind == "missing" else f"failed: {record.reason}"
        return record.state.value

    # ============================================================ current file and selection

    def set_current(self, path: Path | None) -> None:
        path = Path(path) if path is not None and Path(path) in self._records else None
        if path == self.current:
            return
        self.current = path
        had_slot, self.selected_slot = self.selected_slot, None  # a slot belongs to its file
        self.select_turn(None)
        self.current_changed.emit(path)
        if had_slot is not None:
            self.selection_changed.emit(None)

    def select_slot(self, label: str | None) -> None:
        """Select a slot of the current file (None: none); announced once per change."""
        record = self.get(self.current)
        if label is not None and (record is None or label not in {t.label for t in record.tracks}):
            label = None
        if label != self.selected_slot:
            self.selected_slot = label
            self.selection_changed.emit(label)

    def turns(self, path: Path | None) -> tuple:
        """The file's turns as the user may edit them (``ProjectFile.current_turns``); () for
        a file outside the project or not yet analysed."""
        if path is None or not self.shows_project_analysis(path):
            return ()
        return self.project_file(path).current_turns()

    def select_turn(self, turn) -> None:
        """Select a turn of the current file (None: none); announced once per change."""
        if turn is not None and turn not in self.turns(self.current):
            turn = None
        if turn != self.selected_turn:
            self.selected_turn = turn
            self.turn_selection_changed.emit(turn)

    # ============================================================ the run's analyses

    def _tracks_changed(self, path: Path) -> None:
        self.tracks_changed.emit(path)
        if path == self.current and self.selected_slot is not None:
            self.select_slot(self.selected_slot)  # (dropped if the slot is gone)

    def add(self, path: Path) -> FileRecord | None:
        path = Path(path)
        if path in self._records:
            return None
        record = self._records[path] = FileRecord(path)
        self.added.emit(path)
        return record

    def remove(self, path: Path) -> FileRecord | None:
        record = self._records.pop(Path(path), None)
        if record is None:
            return None
        self._keys.pop(record.path, None)
        if record.path == self.current:
            self.set_current(None)
        self.removed.emit(record.path)
        return record

    def queue(self, path: Path, job_id: int) -> None:
        """A new analysis was requested: forget the old results."""
        record = self._records[Path(path)]
        had_tracks = bool(record.tracks)
        record.state, record.job_id, record.percent = FileState.WAITING, job_id, 0
        record.message = record.reason = record.error_kind = ""
        record.live, record.diarization, record.source, record.tracks = None, None, None, []
        self.state_changed.emit(record.path)
        if had_tracks:
            self._tracks_changed(record.path)

    def start(self, record: FileRecord, device: str) -> None:
        """The worker began (or began again, e.g. on the CPU after CUDA ran out of memory)."""
        had_tracks = bool(record.tracks)
        record.state, record.percent, record.device = FileState.ANALYSING, 0, device
        record.live, record.tracks = LiveTracks(), []
        self.state_changed.emit(record.path)
        if had_tracks:
            self._tracks_changed(record.path)

    def add_window(self, record: FileRecord, window, hop: float, percent: int) -> None:
        if record.live is None:
            record.live = LiveTracks()
        record.live.add(window, hop)
        record.state, record.percent = FileState.ANALYSING, percent
        record.tracks = record.live.views()
        if record.duration is None and window.index + 1 == window.count:
            record.duration = float(window.end)
        self.state_changed.emit(record.path)
        self._tracks_changed(record.path)

    def finish(self, record: FileRecord, diarization) -> str | None:
        """An analysis finished: show it, and store it in the project (a re-analysis moves
        the labels: one undo step). Returns why it could not be stored, or None."""
        self._show(record, diarization)
        error = None
        key = self.key_for(record.path)
        if key is not None:
            self._storing = record.path  # its announcement below is the only one
            try:
                self.session.set_analysis(key, diarization)
                record.source = self.session.file(key).analysis
            except Exception as exc:  # a damaged analysis must not lose the run's result
                error = f"Could not store the analysis of {record.path.name}: {exc}"
            finally:
                self._storing = None
        self.state_changed.emit(record.path)
        self._tracks_changed(record.path)
        return error

    def _show(self, record: FileRecord, analysis) -> None:
        """Build the curves from a finished analysis (the worker's, or the project's)."""
        keys = None
        if record.live is not None and len(record.live):
            keys = record.live.match_keys([t.curve for t in analysis.tracks])
        record.diarization = record.source = analysis
        record.tracks = final_views(analysis, keys)
        record.state, record.percent, record.job_id = FileState.DONE, 100, None
        record.duration = float(analysis.duration)
        record.live = None  # the final curves replace the live ones

    def fail(self, record: FileRecord, message: str, reason: str, kind: str) -> None:
        record.state, record.job_id = FileState.FAILED, None
        record.message, record.reason, record.error_kind = message, reason, kind
        self.state_changed.emit(record.path)

    def cancel(self, record: FileRecord) -> None:
        """Stop waiting for this record's job: later answers to it are stale."""
        record.state, record.job_id = FileState.CANCELLED, None
        self.state_changed.emit(record.path)

    def set_threshold(self, path: Path, threshold: float | None) -> None:
        """The user moved the threshold: into the project for its files (one undo step,
        merged while dragging), else this run's."""
        path = Path(path)
        key = self.key_for(path)
        if key is not None:
            if self.session.file(key).threshold != threshold:
                self.session.set_threshold(key, threshold)  # announced: _on_project_change
            return
        record = self._records[path]
        if record.threshold != threshold:
            record.threshold = threshold
            self._tracks_changed(path)
            self.state_changed.emit(path)  # "done (N speakers)" follows the threshold

    def set_duration(self, path: Path, duration: float) -> None:
        record = self.get(path)
        if record is not None and record.duration is None:
            record.duration = float(duration)

    def set_view_range(self, path: Path, view_range: tuple[float, float] | None) -> None:
        record = self.get(path)
        if record is not None:
            record.view_range = view_range

    # ============================================================ the project

    def set_project(self, session, keep_files: bool) -> None:
        """Open ``session`` (None: close the project). Without ``keep_files`` the open files
        are closed first; files without a usable analysis are announced (``analysis_needed``)."""
        if self.session is not None:
            self.session.remove_listener(self._on_project_change)
        if not keep_files:
            for path in self.paths():
                self.remove(path)
        self.session = session
        self._keys.clear()
        if session is not None:
            session.add_listener(self._on_project_change)
            self._follow_project()
            self._store_finished_analyses()
        self.project_changed.emit(session)

    def _store_finished_analyses(self) -> None:
        """Files analysed before they joined the project give it their analyses."""
        for key, path in self.paths_by_key().items():
            record = self._records[path]
            if record.state is FileState.DONE and self.session.file(key).analysis is None:
                self._storing = path
                try:
                    self.session.set_analysis(key, record.diarization)
                    record.source = self.session.file(key).analysis
                finally:
                    self._storing = None

    def _on_project_change(self, change) -> None:
        """Every project change (the core calls this at once, on this thread)."""
        if change.kind in ("undo", "redo", "do"):
            self._follow_project()
        if self.selected_turn is not None:
            self.select_turn(self.selected_turn)  # (dropped if an undo took it away)
        if self._storing is None:  # (a finished analysis is announced by ``finish``)
            for path in self.paths_by_key().values():
                self.state_changed.emit(path)  # counts follow names and merges
            if self.current is not None and self.key_for(self.current) is not None:
                self._tracks_changed(self.current)  # labels, threshold, reference
        self.project_edited.emit(change)

    def _follow_project(self) -> None:
        """Make the open files follow the project (after opening it, undo, redo, relink)."""
        open_keys = {path: self.key_for(path) for path in self.paths()}
        stale = [path for path, key in open_keys.items() if key is None]
        present = set(open_keys.values())
        added = False
        for key, pf in self.session.files.items():
            path = self.path_for(key) if key in present else None
            if path is None:
                path = Path(pf.audio)
                record = self.add(path)
                if record is None:
                    continue
                added = True
                if not pf.exists:
                    self.fail(record, MISSING_AUDIO_MESSAGE.format(path=path), "audio file missing", "missing")
                    continue
                if pf.analysis is None or not pf.analysis.curves_available:
                    self.analysis_needed.emit(path)
                    continue
            record = self._records[path]
            analysis = pf.analysis
            if (analysis is not None and record.job_id is None and record.source is not analysis
                    and analysis.curves_available and path != self._storing):
                self._show(record, analysis)
                self.state_changed.emit(path)
                self._tracks_changed(path)
        paths = self.paths_by_key()
        # A relinked file's new place takes over its row and, if it was shown, the selection.
        moved_to = paths.get(self._keys.get(self.current)) if self.current in stale else None
        if moved_to is not None:
            self.set_current(moved_to)
        for path in stale:
            self.remove(path)
        self._keys = {path: key for key, path in paths.items()}
        if added:
            self.order_changed.emit()
