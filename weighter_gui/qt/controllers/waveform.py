"""The waveform overview (View > Waveform): one band per channel over the spectrogram,
read in a background task (blocks of the file, so memory stays bounded) and kept for
the files seen this run."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from weighter_gui.core.io.audio import waveform_envelope
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.timeline_view import TimelineView
from weighter_gui.qt.workers.task import BackgroundTask

KEPT_ENVELOPES = 64  # envelopes of this many files stay in memory (64 kB per channel each)


class WaveformController:
    def __init__(self, workspace: Workspace, timeline: TimelineView, dialogs: Dialogs, parent=None) -> None:
        self.workspace = workspace
        self.timeline = timeline
        self.dialogs = dialogs
        self.parent = parent
        self.shown = False
        self.envelopes: OrderedDict[Path, object] = OrderedDict()
        self.tasks: dict[Path, BackgroundTask] = {}  # running, by file
        workspace.current_changed.connect(self._on_current_changed)

    def set_shown(self, shown: bool) -> None:
        self.shown = shown
        self.timeline.show_waveform(shown)
        self._on_current_changed(self.workspace.current)

    def _on_current_changed(self, path: Path | None) -> None:
        if not self.shown or path is None:
            return
        if path in self.envelopes:
            self.envelopes.move_to_end(path)
            self.timeline.set_waveform(self.envelopes[path])
            return
        self.timeline.set_waveform(None)
        for other, task in self.tasks.items():  # files left behind: their reading stops
            if other != path:
                task.cancel()
        if path in self.tasks and not self.tasks[path].was_cancelled:  # already being read
            return
        task = BackgroundTask("Waveform", lambda hook: waveform_envelope(path, cancelled=lambda: hook.cancelled),
                              self.parent)
        task.done.connect(lambda envelope, p=path: self._on_done(p, envelope))
        task.failed.connect(lambda reason, p=path: self.dialogs.status(f"No waveform for {p.name}: {reason}"))
        task.finished.connect(lambda p=path, t=task: self.tasks.pop(p, None) if self.tasks.get(p) is t else None)
        self.tasks[path] = task
        task.start()

    def _on_done(self, path: Path, envelope) -> None:
        if envelope is None:
            return
        self.envelopes[path] = envelope
        while len(self.envelopes) > KEPT_ENVELOPES:
            self.envelopes.popitem(last=False)
        if path == self.workspace.current and self.shown:
            self.timeline.set_waveform(envelope)

    def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
            task.wait()

    def busy(self) -> bool:
        return any(task.isRunning() for task in self.tasks.values())

