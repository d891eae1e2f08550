"""Retraining on the project's labels: a worker thread and its progress dialog.

``TrainThread`` runs ``core.training.train`` (a generator) in its own QThread:
torch is imported there, never on the GUI thread. Cancelling sets a flag the
thread checks between steps (and between files while features are cached); the
thread then closes the generator itself (a generator can only be closed by the
thread that runs it).

``RetrainDialog`` exports the manifest into the project's folder, starts the
thread, and shows step/total, a live curve of the naming (classification) loss, the
part of the loss the head learns from, and Cancel. The new checkpoint
goes to ``<project folder>/models/<timestamp>.safetensors``: the shipped model is
never overwritten.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

DEFAULT_STEPS = 400
DEFAULT_BATCH = 4


class _Cancelled(Exception):
    pass


class TrainThread(QThread):
    """Runs ``train(...)``; reports by signal (queued to the GUI thread)."""

    progress = Signal(int, int, float)  # step, total, classification loss
    preparing = Signal(int, int)  # features cached: done, total
    done = Signal(object)  # Path of the checkpoint written
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, items, *, steps: int, batch_size: int, out: Path, cache_dir: Path, init: str | None,
                 device: str = "auto", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("TrainThread")
        self.items = list(items)
        self.steps, self.batch_size = steps, batch_size
        self.out, self.cache_dir, self.init, self.device = Path(out), Path(cache_dir), init, device
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            import torch  # noqa: F401  (here, in the worker thread)

            from weighter_gui.core.training.train import TrainProgress, TrainResult, fine_tune_config, train

            def hook(done: int, total: int, _path: str) -> None:
                if self._stop.is_set():
                    raise _Cancelled
                self.preparing.emit(done, total)

            config = fine_tune_config(self.steps, self.batch_size)
            generator = train(self.items, config, out=self.out, cache_dir=self.cache_dir, init=self.init,
                              device=self.device, feature_hook=hook)
            try:
                for event in generator:
                    if self._stop.is_set():
                        raise _Cancelled
                    if isinstance(event, TrainProgress):
                        self.progress.emit(event.step, event.total, float(event.classification))
                    elif isinstance(event, TrainResult):
                        self.done.emit(Path(event.checkpoint or self.out))
                        return
            finally:
                generator.close()
            self.failed.emit("training ended without a result")
        except _Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # TrainError, a bad file, ...: say it, keep the app up
            self.failed.emit(f"{type(exc).__name__}: {exc}")


class RetrainDialog(QDialog):
    """Set the steps, start, watch the loss, cancel; ``trained(Path)`` when done."""

    trained = Signal(object)  # Path of the new checkpoint

    def __init__(self, project_session, init: str | None, device: str = "auto", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain on project labels")
        self.setMinimumWidth(520)
        self.project = project_session
        self.init = init
        self.device = device
        self.thread: TrainThread | None = None
        self._answers_pending = False  # the thread's last answers (done, cancelled) not shown yet
        self.checkpoint: Path | None = None
        self.losses: list[float] = []

        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 100_000)
        self.steps_spin.setValue(DEFAULT_STEPS)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 64)
        self.batch_spin.setValue(DEFAULT_BATCH)
        form = QFormLayout()
        form.addRow("Starting model", QLabel(Path(init).name if init else "(none)"))
        form.addRow("Steps", self.steps_spin)
        form.addRow("Batch size", self.batch_spin)

        self.status = QLabel(
            "Exports the labels as a manifest next to the project, then teaches the model's "
            "speaker head the project's names. The curves stay as they are."
        )
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setMinimumHeight(160)
        self.loss_plot.setLabel("left", "naming loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#56b4e9", width=2))

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        buttons = QDialogButtonBox()
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(buttons)

    # -- running -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        # Until its answers are shown, not only while the thread runs: the thread ends
        # before its queued "done" or "cancelled" reaches this dialog.
        return self.thread is not None and (self.thread.isRunning() or self._answers_pending)

    def start(self, steps: int | None = None, batch_size: int | None = None) -> bool:
        """Export the manifest and start training; False (and a message) if it cannot."""
        from weighter_gui.core.annotation.exports import export_manifest
        from weighter_gui.core.annotation.storage import ProjectError
        from weighter_gui.core.io.manifest import read_manifest

        if self.running:
            return False
        if steps is not None:
            self.steps_spin.setValue(steps)
        if batch_size is not None:
            self.batch_spin.setValue(batch_size)
        project = self.project.project
        folder = project.path.parent
        manifest = folder / f"{project.path.stem}-manifest.jsonl"
        try:
            report = export_manifest(project, manifest)
            items = read_manifest(manifest)
        except (ProjectError, ValueError, OSError) as exc:
            self.status.setText(f"<span style='color:#e05a4f'>Cannot train:</span> {exc}")
            return False
        if not items:
            self.status.setText("No labelled file to train on: name some slots first.")
            return False
        steps = self.steps_spin.value()
        out = folder / "models" / f"{time.strftime('%Y%m%d-%H%M%S')}.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.losses = []
        self.loss_curve.setData([], [])
        self.bar.setRange(0, steps)
        self.bar.setValue(0)
        self.status.setText(
            f"{len(items)} file(s), trained on their labels; caching features… "
            f"({report.summary().splitlines()[0]})"
        )
        self.thread = TrainThread(items, steps=steps, batch_size=self.batch_spin.value(), out=out,
                                  cache_dir=folder / "feature_cache", init=self.init,
                                  device=self.device, parent=self)
        self.thread.progress.connect(self._on_progress)
        self.thread.preparing.connect(self._on_preparing)
        self.thread.done.connect(self._on_done)
        self.thread.failed.connect(self._on_failed)
        self.thread.cancelled.connect(self._on_cancelled)
        self.thread.finished.connect(self._on_thread_finished)
        self.start_button.setEnabled(False)
        self.steps_spin.setEnabled(False)
        self.batch_spin.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._answers_pending = True
        self.thread.start()
        return True

    def cancel(self) -> None:
        if self.thread is not None and self.thread.isRunning():
            self.thread.cancel()
            self.status.setText("Cancelling…")

    def stop(self) -> None:
        """Cancel and wait for the thread (closing the window or the app)."""
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait()
            self._answers_pending = False  # whatever it still says is not waited for

    # -- thread answers ------------------------------------------------------------------

    def _on_preparing(self, done: int, total: int) -> None:
        self.status.setText(f"Caching features: {done}/{total} file(s)…")

    def _on_progress(self, step: int, total: int, loss: float) -> None:
        self.losses.append(loss)
        self.bar.setRange(0, total)
        self.bar.setValue(step)
        self.status.setText(f"Step {step}/{total}, naming loss {loss:.3f}")
        self.loss_curve.setData(list(range(1, len(self.losses) + 1)), self.losses)

    def _on_done(self, checkpoint: Path) -> None:
        self.checkpoint = Path(checkpoint)
        self.status.setText(f"Done: {self.checkpoint}")
        self.trained.emit(self.checkpoint)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#e05a4f'>Training failed:</span> {message}")

    def _on_cancelled(self) -> None:
        self.status.setText("Cancelled; no model was written.")

    def _on_thread_finished(self) -> None:
        self._answers_pending = False  # (queued after the thread's other answers)
        self.start_button.setEnabled(True)
        self.steps_spin.setEnabled(True)
        self.batch_spin.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.stop()
        super().closeEvent(event)
