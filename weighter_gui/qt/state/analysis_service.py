"""The analysis service: background workers, job ids, and the answers they bring.

``AnalysisService`` sits between the ``Workspace`` (what is known about each
file) and the two serving workers. It hands out job ids, turns worker answers
into workspace updates, drops answers whose job id no file waits for any more
(removed, cancelled or re-analysed: *stale*), and keeps the last few
spectrogram pyramids. It draws nothing; views listen to the workspace and to the
signals here.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from weighter_gui.qt.state.settings import AppSettings
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.workers.messages import (
    AnalysisCancelled,
    AnalysisDone,
    AnalysisFailed,
    AnalysisProgress,
    AnalysisRequest,
    AnalysisStarted,
    SpectrogramDone,
    SpectrogramFailed,
    SpectrogramRequest,
)
from weighter_gui.qt.workers.serving import (
    AnalysisWorker,
    ForegroundGate,
    ServiceThread,
    SpectrogramWorker,
)

SPECTROGRAM_CACHE_SIZE = 4  # pyramids kept (an hour: 38 MB mel, 123 MB linear)


class AnalysisService(QObject):
    device_used = Signal(str)  # the device an analysis now runs on ("CPU", "CUDA: ...")
    message = Signal(str)  # one line for the status bar
    checkpoint_failed = Signal(str)  # the model would not load: the whole story
    spectrogram_ready = Signal(object)  # SpectrogramPyramid
    spectrogram_failed = Signal(object, str)  # Path, reason

    def __init__(self, workspace: Workspace, diarizer_factory=None, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.stale_results_dropped = 0
        self._job_ids = itertools.count(1)
        self._spectrograms: OrderedDict[tuple[Path, str], object] = OrderedDict()
        self._spectrogram_job: tuple[int, Path, str] | None = None  # the one pending
        self._spectrogram_failures: dict[Path, str] = {}
        self._jobs: dict[Path, int] = {}  # each open file's latest analysis job (cancelled if it closes)
        workspace.removed.connect(self._on_workspace_removed)

        gate = ForegroundGate()  # spectrograms go before analysis windows (see workers)
        self.analysis_worker = AnalysisWorker(diarizer_factory, gate)
        worker = self.analysis_worker
        worker.started.connect(self._on_analysis_started)
        worker.progress.connect(self._on_analysis_progress)
        worker.done.connect(self._on_analysis_done)
        worker.failed.connect(self._on_analysis_failed)
        worker.cancelled.connect(self._on_analysis_cancelled)
        self.spectrogram_worker = SpectrogramWorker(gate)
        self.spectrogram_worker.done.connect(self._on_spectrogram_done)
        self.spectrogram_worker.failed.connect(self._on_spectrogram_failed)
        self._threads = [
            ServiceThread(self.analysis_worker, "AnalysisWorker", self),
            ServiceThread(self.spectrogram_worker, "SpectrogramWorker", self),
        ]
        for thread in self._threads:
            thread.start()

    # ============================================================ lifetime

    def shutdown(self) -> None:
        """Stop both workers: queued jobs are dropped; a running model window is
        waited for (it cannot be interrupted), which takes seconds at most."""
        for record in self.workspace.busy():
            if record.job_id is not None:
                self.analysis_worker.cancel(record.job_id)
        for thread in self._threads:
            thread.shutdown()

    def is_running(self) -> bool:
        return any(thread.isRunning() for thread in self._threads)

    # ============================================================ analysis

    def analyse(self, path: Path, settings: AppSettings) -> int:
        """Queue an analysis of an open file (forgetting older results); returns the job id."""
        record = self.workspace.get(path)
        if record is not None and record.busy and record.job_id is not None:
            self.analysis_worker.cancel(record.job_id)
        job_id = next(self._job_ids)
        self.workspace.queue(path, job_id)
        self._jobs[Path(path)] = job_id
        record = self.workspace.get(path)
        channel, speakers = (record.channel, record.speakers) if record is not None else (None, None)
        self.analysis_worker.submit(
            AnalysisRequest(job_id, Path(path), settings.checkpoint_or_none, settings.device, channel, speakers)
        )
        return job_id

    def cancel(self, path: Path) -> bool:
        """Stop analysing ``path``; its later answers are stale. False if it was not busy."""
        record = self.workspace.get(path)
        if record is None or not record.busy:
            return False
        if record.job_id is not None:
            self.analysis_worker.cancel(record.job_id)
        self.workspace.cancel(record)
        return True

    def remove(self, path: Path) -> None:
        """Close a file; its jobs end and what was computed for it is forgotten."""
        self.workspace.remove(Path(path))

    @Slot(object)
    def _on_workspace_removed(self, path: Path) -> None:
        """A file left the workspace (closed, or gone from the project by an undo)."""
        job_id = self._jobs.pop(path, None)
        if job_id is not None:
            self.analysis_worker.cancel(job_id)
        if self._spectrogram_job is not None and self._spectrogram_job[1] == path:
            self.spectrogram_worker.cancel(self._spectrogram_job[0])
            self._spectrogram_job = None
        for key in [k for k in self._spectrograms if k[0] == path]:
            del self._spectrograms[key]
        self._spectrogram_failures.pop(path, None)

    def _record_for(self, answer):
        record = self.workspace.by_job(answer.job_id)
        if record is None:
            self.stale_results_dropped += 1
        return record

    @Slot(object)
    def _on_analysis_started(self, answer: AnalysisStarted) -> None:
        record = self._record_for(answer)
        if record is None:
            return
        self.workspace.start(record, answer.device)
        self.device_used.emit(answer.device)
        if answer.note:
            self.message.emit(f"{record.path.name}: {answer.note}")

    @Slot(object)
    def _on_analysis_progress(self, answer: AnalysisProgress) -> None:
        record = self._record_for(answer)
        if record is not None:
            self.workspace.add_window(record, answer.window, answer.hop, answer.percent)

    @Slot(object)
    def _on_analysis_done(self, answer: AnalysisDone) -> None:
        record = self._record_for(answer)
        if record is None:
            return
        self._jobs.pop(record.path, None)
        error = self.workspace.finish(record, answer.diarization)
        n = self.workspace.speaker_count(record.path)
        self.message.emit(error or f"{record.path.name}: {n} speaker{'s' if n != 1 else ''} ({answer.device})")

    @Slot(object)
    def _on_analysis_failed(self, answer: AnalysisFailed) -> None:
        record = self._record_for(answer)
        if record is None:
            return
        self._jobs.pop(record.path, None)
        self.workspace.fail(record, answer.message, answer.reason, answer.kind)
        self.message.emit(f"Analysis failed: {answer.message.splitlines()[0]}")
        if answer.kind == "checkpoint":
            self.checkpoint_failed.emit(answer.message)

    @Slot(object)
    def _on_analysis_cancelled(self, answer: AnalysisCancelled) -> None:
        record = self.workspace.by_job(answer.job_id)
        if record is not None:  # cancelled by the worker itself (e.g. while stopping)
            self.workspace.cancel(record)

    # ============================================================ spectrograms

    def spectrogram(self, path: Path, scale: str):
        """The cached pyramid, or None after asking the worker for it (``spectrogram_ready``
        follows). Only the latest request matters: an older pending one is cancelled."""
        key = (Path(path), scale)
        pyramid = self._spectrograms.get(key)
        if pyramid is not None:
            self._spectrograms.move_to_end(key)
            return pyramid
        if path in self._spectrogram_failures:
            return None
        if self._spectrogram_job is not None:
            job_id, pending_path, pending_scale = self._spectrogram_job
            if (pending_path, pending_scale) == key:
                return None  # already on its way
            self.spectrogram_worker.cancel(job_id)
        job_id = next(self._job_ids)
        self._spectrogram_job = (job_id, Path(path), scale)
        self.spectrogram_worker.submit(SpectrogramRequest(job_id, Path(path), scale))
        return None

    def spectrogram_failure(self, path: Path) -> str | None:
        return self._spectrogram_failures.get(Path(path))

    def _finish_spectrogram_job(self, job_id: int) -> None:
        if self._spectrogram_job is not None and self._spectrogram_job[0] == job_id:
            self._spectrogram_job = None

    @Slot(object)
    def _on_spectrogram_done(self, answer: SpectrogramDone) -> None:
        self._finish_spectrogram_job(answer.job_id)
        pyramid = answer.pyramid
        if answer.path not in self.workspace:
            self.stale_results_dropped += 1
            return
        # Kept even if the user moved on: it is done, and they may come back.
        key = (answer.path, pyramid.scale)
        self._spectrograms[key] = pyramid
        self._spectrograms.move_to_end(key)
        while len(self._spectrograms) > SPECTROGRAM_CACHE_SIZE:
            self._spectrograms.popitem(last=False)
        self.spectrogram_ready.emit(pyramid)

    @Slot(object)
    def _on_spectrogram_failed(self, answer: SpectrogramFailed) -> None:
        self._finish_spectrogram_job(answer.job_id)
        if answer.path not in self.workspace:
            return
        reason = answer.message.split(": ", 1)[-1]  # the path is shown elsewhere
        self._spectrogram_failures[answer.path] = reason
        self.spectrogram_failed.emit(answer.path, reason)
