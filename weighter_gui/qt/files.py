"""The open files and what is known about each: the app's one piece of state.

``FileStore`` changes a ``FileRecord`` only through its methods, and each method
announces the change by signal (``state_changed`` for the file list,
``tracks_changed`` for the plots and speaker panel). Views re-read the record;
they never write to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from weighter_gui.qt.tracks import LiveTracks, TrackView, final_views

DEFAULT_THRESHOLD = 0.5  # until a FileDiarization says otherwise


class FileState(Enum):
    WAITING = "waiting"
    ANALYSING = "analysing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class FileRecord:
    path: Path
    state: FileState = FileState.WAITING
    job_id: int | None = None  # the analysis whose answers count; others are stale
    percent: int = 0
    device: str = ""
    message: str = ""  # full error text (tooltip, status bar)
    reason: str = ""  # short error text (file list)
    error_kind: str = ""
    live: LiveTracks | None = None
    diarization: object | None = None  # FileDiarization
    tracks: list[TrackView] = field(default_factory=list)
    threshold: float | None = None  # None: the diarization's own threshold
    duration: float | None = None
    view_range: tuple[float, float] | None = None  # the range the user left it at (None: whole file)
    speakers: int | None = None  # as the project counts them (None: tracks above the threshold)

    @property
    def effective_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        if self.diarization is not None:
            return float(self.diarization.threshold)
        return DEFAULT_THRESHOLD

    @property
    def speaker_count(self) -> int:
        """Speakers in the file: the project's count where it gave one (a merged group is
        one speaker, a named slot counts, "not a speaker" does not), else tracks above
        the threshold."""
        if self.speakers is not None:
            return self.speakers
        return sum(t.confidence >= self.effective_threshold for t in self.tracks)

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

    def status_text(self) -> str:
        """What the file list shows, in plain words."""
        if self.state is FileState.ANALYSING:
            return f"analysing {self.percent}%"
        if self.state is FileState.DONE:
            n = self.speaker_count
            return f"done ({n} speaker{'s' if n != 1 else ''})"
        if self.state is FileState.FAILED:
            if self.error_kind == "missing":
                return "missing audio"
            return f"failed: {self.reason}"
        return self.state.value


class FileStore(QObject):
    """Ordered open files. Every change goes through a method that emits a signal."""

    added = Signal(object)  # Path
    removed = Signal(object)  # Path
    state_changed = Signal(object)  # Path: state, percent, error
    tracks_changed = Signal(object)  # Path: curves, confidences, threshold

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._records: dict[Path, FileRecord] = {}

    # -- reading -----------------------------------------------------------------------

    def __contains__(self, path) -> bool:
        return Path(path) in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, path) -> FileRecord | None:
        return self._records.get(Path(path))

    def paths(self) -> list[Path]:
        return list(self._records)

    def by_job(self, job_id: int) -> FileRecord | None:
        """The record still waiting for ``job_id``'s answers, or None if it is stale."""
        for record in self._records.values():
            if record.job_id == job_id:
                return record
        return None

    def busy(self) -> list[FileRecord]:
        return [r for r in self._records.values() if r.busy]

    # -- changing ----------------------------------------------------------------------

    def add(self, path: Path) -> FileRecord | None:
        path = Path(path)
        if path in self._records:
            return None
        record = self._records[path] = FileRecord(path)
        self.added.emit(path)
        return record

    def remove(self, path: Path) -> FileRecord | None:
        record = self._records.pop(Path(path), None)
        if record is not None:
            self.removed.emit(record.path)
        return record

    def queue(self, path: Path, job_id: int) -> None:
        """A new analysis was requested: forget the old results."""
        record = self._records[Path(path)]
        had_tracks = bool(record.tracks)
        record.state, record.job_id, record.percent = FileState.WAITING, job_id, 0
        record.message = record.reason = record.error_kind = ""
        record.live, record.diarization, record.tracks = None, None, []
        record.speakers = None
        self.state_changed.emit(record.path)
        if had_tracks:
            self.tracks_changed.emit(record.path)

    def start(self, record: FileRecord, device: str) -> None:
        """The worker began (or began again, e.g. on the CPU after CUDA ran out of memory)."""
        had_tracks = bool(record.tracks)
        record.state, record.percent, record.device = FileState.ANALYSING, 0, device
        record.live, record.tracks = LiveTracks(), []
        self.state_changed.emit(record.path)
        if had_tracks:
            self.tracks_changed.emit(record.path)

    def add_window(self, record: FileRecord, window, hop: float, percent: int) -> None:
        if record.live is None:
            record.live = LiveTracks()
        record.live.add(window, hop)
        record.state, record.percent = FileState.ANALYSING, percent
        record.tracks = record.live.views()
        if record.duration is None and window.index + 1 == window.count:
            record.duration = float(window.end)
        self.state_changed.emit(record.path)
        self.tracks_changed.emit(record.path)

    def finish(self, record: FileRecord, diarization) -> None:
        keys = None
        if record.live is not None and len(record.live):
            keys = record.live.match_keys([t.curve for t in diarization.tracks])
        record.diarization = diarization
        record.tracks = final_views(diarization, keys)
        record.state, record.percent, record.job_id = FileState.DONE, 100, None
        record.duration = float(diarization.duration)
        record.live = None  # the final curves replace the live ones
        record.speakers = None  # until the project counts this analysis
        self.state_changed.emit(record.path)
        self.tracks_changed.emit(record.path)

    def fail(self, record: FileRecord, message: str, reason: str, kind: str) -> None:
        record.state, record.job_id = FileState.FAILED, None
        record.message, record.reason, record.error_kind = message, reason, kind
        self.state_changed.emit(record.path)

    def cancel(self, record: FileRecord) -> None:
        """Stop waiting for this record's job: later answers to it are stale."""
        record.state, record.job_id = FileState.CANCELLED, None
        self.state_changed.emit(record.path)

    def set_threshold(self, path: Path, threshold: float | None) -> None:
        record = self._records[Path(path)]
        if record.threshold == threshold:
            return
        record.threshold = threshold
        self.tracks_changed.emit(record.path)
        self.state_changed.emit(record.path)  # "done (N speakers)" follows the threshold

    def set_speakers(self, path: Path, speakers: int | None) -> None:
        """The project's count of the file's speakers (None: count tracks above the threshold)."""
        record = self._records.get(Path(path))
        if record is None or record.speakers == speakers:
            return
        record.speakers = speakers
        self.state_changed.emit(record.path)  # "done (N speakers)" and the panel's summary

    def set_duration(self, path: Path, duration: float) -> None:
        record = self._records.get(Path(path))
        if record is not None and record.duration is None:
            record.duration = float(duration)

    def set_view_range(self, path: Path, view_range: tuple[float, float]) -> None:
        record = self._records.get(Path(path))
        if record is not None:
            record.view_range = view_range
