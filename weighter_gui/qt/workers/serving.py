"""Background workers. Nothing here touches widgets; results travel by signal.

- ``AnalysisWorker`` is the one long-lived owner of the ``Diarizer`` (model +
  device). It serves ``AnalysisRequest``s one after another from a queue.
- ``SpectrogramWorker`` computes spectrogram pyramids, in its own thread so a
  file's picture appears while the model is still busy with another file.

The spectrogram goes first: while ``SpectrogramWorker`` computes a picture it
holds a ``ForegroundGate``, and the analysis worker waits at its next window
boundary (bounded, so analysis never starves). On a 2-core machine this halves
the time until a long file's spectrogram appears.

The two serving workers run a plain blocking loop over a thread-safe queue inside
a ``ServiceThread`` (no Qt event loop in the thread), so ``submit`` and
``cancel`` work from the GUI thread while a job runs, and ``stop`` never needs
the GUI's event loop (no deadlock when the GUI thread waits for them).
Signals emitted from the loop reach GUI slots as queued calls.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from weighter_gui.core.model.device import describe_compute_device, resolve_device
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

# ----------------------------------------------------------------------------- serving


class ForegroundGate:
    """Lets the work the user is waiting to see (a spectrogram) go before background work.

    ``held()`` marks foreground work; ``wait_until_free`` blocks background work
    while it runs, for at most ``limit_s`` and never past ``give_up()``.
    """

    POLL_S = 0.02

    def __init__(self) -> None:
        self._holders = 0
        self._lock = threading.Lock()

    @contextmanager
    def held(self):
        with self._lock:
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._holders > 0

    def wait_until_free(self, limit_s: float, give_up: Callable[[], bool] = lambda: False) -> None:
        deadline = time.monotonic() + limit_s
        while self.busy and time.monotonic() < deadline and not give_up():
            time.sleep(self.POLL_S)


class QueueWorker(QObject):
    """Serves requests (each with a ``job_id``) one at a time from a queue.

    ``submit``, ``cancel`` and ``stop`` are thread-safe. A cancelled job that has not
    started is skipped; a running one sees ``is_cancelled(job_id)`` turn True.
    """

    def __init__(self) -> None:
        super().__init__()
        self._requests: queue.Queue = queue.Queue()
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def submit(self, request) -> None:
        self._requests.put(request)

    def cancel(self, job_id: int) -> None:
        with self._lock:
            self._cancelled.add(job_id)

    def is_cancelled(self, job_id: int) -> bool:
        if self._stopping.is_set():
            return True
        with self._lock:
            return job_id in self._cancelled

    def stop(self) -> None:
        """Ask the loop to end after the current step of the current job."""
        self._stopping.set()
        self._requests.put(None)

    def serve(self) -> None:
        """The loop; runs in the worker's thread until ``stop``."""
        while not self._stopping.is_set():
            request = self._requests.get()
            if request is None:
                break
            if self.is_cancelled(request.job_id):
                self.skip(request)
                continue
            try:
                self.handle(request)
            finally:
                with self._lock:
                    self._cancelled.discard(request.job_id)

    def handle(self, request) -> None:
        raise NotImplementedError

    def skip(self, request) -> None:
        """A request cancelled before it started."""


class ServiceThread(QThread):
    """Runs one ``QueueWorker.serve`` loop; ``shutdown`` stops and joins it."""

    def __init__(self, worker: QueueWorker, name: str, parent=None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.setObjectName(name)

    def run(self) -> None:
        self.worker.serve()

    def shutdown(self) -> None:
        self.worker.stop()
        if self.isRunning():
            self.wait()


# ----------------------------------------------------------------------------- analysis


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _default_diarizer_factory(checkpoint: str | None, device: str):
    from weighter_gui.core.diarize.diarizer import Diarizer  # imports torch: worker thread only

    return Diarizer(checkpoint, device=device)


class AnalysisWorker(QueueWorker):
    """Owns the Diarizer and the device; diarizes one requested file at a time.

    A bad file, a checkpoint that will not load or any other error becomes an
    ``AnalysisFailed`` and the loop goes on with the next request. CUDA running out
    of memory reruns the job on the CPU (``AnalysisStarted.note`` says so).
    """

    started = Signal(object)  # AnalysisStarted
    progress = Signal(object)  # AnalysisProgress
    done = Signal(object)  # AnalysisDone
    failed = Signal(object)  # AnalysisFailed
    cancelled = Signal(object)  # AnalysisCancelled

    MAX_YIELD_S = 10.0  # the longest one window boundary waits for a spectrogram

    def __init__(
        self,
        diarizer_factory: Callable[[str | None, str], object] | None = None,
        gate: ForegroundGate | None = None,
    ) -> None:
        super().__init__()
        self._factory = diarizer_factory or _default_diarizer_factory
        self._gate = gate or ForegroundGate()
        self._diarizer = None
        self._diarizer_key: tuple[str | None, str] | None = None
        self._threads_set = False

    # -- device ----------------------------------------------------------------------

    @staticmethod
    def resolve_device(choice: str) -> str:
        """"auto" or "cuda" -> "cuda" when a GPU is there, else "cpu" (the app says so)."""
        return str(resolve_device(choice, fallback_to_cpu=True))

    @staticmethod
    def describe(device: str) -> str:
        return describe_compute_device(device)

    def _limit_cpu_threads(self) -> None:
        # Leave one core to the GUI thread (drawing, playback), or pan/zoom stutters
        # while the model runs on the CPU.
        if not self._threads_set:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
            self._threads_set = True

    def _diarizer_for(self, checkpoint: str | None, device: str):
        key = (checkpoint, device)
        if self._diarizer is None or self._diarizer_key != key:
            self._diarizer = None  # free the old model (and its GPU memory) first
            self._limit_cpu_threads()
            self._diarizer = self._factory(checkpoint, device)
            self._diarizer_key = key
        return self._diarizer

    # -- jobs ------------------------------------------------------------------------

    def skip(self, request: AnalysisRequest) -> None:
        self.cancelled.emit(AnalysisCancelled(request.job_id, request.path))

    def handle(self, request: AnalysisRequest) -> None:
        from weighter_gui.core.io.audio import AudioError

        device = "cpu"
        try:
            device = self.resolve_device(request.device)
            note = ""
            if request.device == "cuda" and device == "cpu":
                note = "CUDA is not available here; running on the CPU"
            self._run(request, device, note)
        except AudioError as exc:
            self.failed.emit(AnalysisFailed(request.job_id, request.path, str(exc), exc.problem, "audio"))
        except _CheckpointLoadError as exc:
            self.failed.emit(
                AnalysisFailed(request.job_id, request.path, str(exc), "the model could not be loaded", "checkpoint")
            )
        except Exception as exc:
            if device != "cpu" and _is_out_of_memory(exc):
                self._retry_on_cpu(request)
            else:
                self.failed.emit(
                    AnalysisFailed(
                        request.job_id, request.path, f"{type(exc).__name__}: {exc}",
                        _short_reason(exc), "error",
                    )
                )

    def _retry_on_cpu(self, request: AnalysisRequest) -> None:
        from weighter_gui.core.io.audio import AudioError

        self._diarizer = None
        _empty_cuda_cache()
        try:
            self._run(request, "cpu", "CUDA ran out of memory; analysing this file on the CPU instead")
        except AudioError as exc:
            self.failed.emit(AnalysisFailed(request.job_id, request.path, str(exc), exc.problem, "audio"))
        except Exception as exc:
            self.failed.emit(
                AnalysisFailed(request.job_id, request.path, f"{type(exc).__name__}: {exc}", _short_reason(exc))
            )

    def _should_stop(self, job_id: int) -> bool:
        """Diarizer.run polls this between windows: a place to yield to the spectrogram too."""
        self._gate.wait_until_free(self.MAX_YIELD_S, lambda: self.is_cancelled(job_id))
        return self.is_cancelled(job_id)

    def _run(self, request: AnalysisRequest, device: str, note: str) -> None:
        from weighter_gui.core.diarize.diarizer import WindowResult

        job = request.job_id
        if self._should_stop(job):  # (loading a model is heavy work too: yield first)
            self.cancelled.emit(AnalysisCancelled(job, request.path))
            return
        try:
            diarizer = self._diarizer_for(request.checkpoint, device)
        except Exception as exc:  # CheckpointError, a file that is not a model, ...
            if device != "cpu" and _is_out_of_memory(exc):
                raise
            raise _CheckpointLoadError(_checkpoint_message(request.checkpoint, exc)) from exc
        self.started.emit(AnalysisStarted(request.job_id, request.path, self.describe(device), note))
        hop = _curve_hop(diarizer)
        if request.channel == "each":  # a side per channel: each on its own, then joined
            from weighter_gui.core.io.audio import probe

            channels = list(range(probe(request.path).channels))
        else:
            channels = [request.channel]
        results = []
        for channel in channels:
            configured = _configured(diarizer, channel, request.speakers)
            for result in configured.run(request.path, cancelled=lambda: self._should_stop(job)):
                if self.is_cancelled(job):
                    break
                if isinstance(result, WindowResult):
                    if channel == channels[0]:  # (the live view follows one channel's windows)
                        self.progress.emit(AnalysisProgress(job, request.path, result, hop))
                else:  # the FileDiarization, always last
                    results.append(result)
            if self.is_cancelled(job) or len(results) < channels.index(channel) + 1:
                self.cancelled.emit(AnalysisCancelled(job, request.path))
                return
        final = results[0] if request.channel != "each" else type(results[0]).join_channels(results)
        self.done.emit(AnalysisDone(job, request.path, final, self.describe(device)))


class _CheckpointLoadError(Exception):
    """The model could not be loaded; str() says why and what to do."""


def _configured(diarizer, channel: int | None, speakers: int | None):
    """The diarizer reading ``channel`` (None: the downmix), told the file holds
    ``speakers`` (None: estimated); the same model, another config."""
    config = getattr(diarizer, "config", None)
    if config is None or (config.channel, config.min_speakers, config.max_speakers) == (channel, speakers, speakers):
        return diarizer
    import copy
    from dataclasses import replace

    other = copy.copy(diarizer)
    other.config = replace(config, channel=channel, min_speakers=speakers, max_speakers=speakers)
    return other


def _checkpoint_message(checkpoint: str | None, exc: BaseException) -> str:
    from weighter_gui.core.io.resources import WeightsFileError
    from weighter_gui.core.model.checkpoint import CheckpointError

    if isinstance(exc, WeightsFileError):  # the installation's files, not the model
        return str(exc)
    text = str(exc) if isinstance(exc, CheckpointError) else f"{checkpoint}: {type(exc).__name__}: {exc}"
    return f"{text}\n\nChoose a checkpoint in File \u203a Settings."


def _curve_hop(diarizer) -> float:
    from weighter_gui.core.model.frontend import FRAME_HOP_S

    return diarizer.stride * FRAME_HOP_S


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- spectrogram


class SpectrogramWorker(QueueWorker):
    """Computes a file's spectrogram pyramid (see ``spectrogram_data``)."""

    done = Signal(object)  # SpectrogramDone
    failed = Signal(object)  # SpectrogramFailed

    def __init__(self, gate: ForegroundGate | None = None) -> None:
        super().__init__()
        self._gate = gate or ForegroundGate()

    def serve(self) -> None:
        # Import scipy & co. here, at start-up, not when the first picture is wanted.

        super().serve()

    def handle(self, request: SpectrogramRequest) -> None:
        from weighter_gui.core.io.audio import AudioError
        from weighter_gui.core.spectrogram import (
            SpectrogramCancelled,
            compute_pyramid,
        )

        began = time.perf_counter()
        try:
            with self._gate.held():
                pyramid = compute_pyramid(
                    request.path, request.scale, cancelled=lambda: self.is_cancelled(request.job_id)
                )
        except SpectrogramCancelled:
            return
        except AudioError as exc:
            self.failed.emit(SpectrogramFailed(request.job_id, Path(request.path), str(exc)))
            return
        except Exception as exc:  # keep serving whatever happened
            self.failed.emit(SpectrogramFailed(request.job_id, Path(request.path), f"{type(exc).__name__}: {exc}"))
            return
        self.done.emit(SpectrogramDone(request.job_id, Path(request.path), pyramid, time.perf_counter() - began))
