"""Retraining on the project's labels: the dialog and the work it runs.

The work runs ``core.training.train`` (a generator) in a ``BackgroundTask``: torch is
imported there, never on the GUI thread. Cancelling is checked between steps (and
between files while features are cached); the task's thread then closes the generator
itself (a generator can only be closed by the thread that runs it).

``RetrainDialog`` exports the manifest into the project's folder, starts the
task, and shows step/total, a live curve of the naming (classification) loss, the
part of the loss the head learns from, and Cancel. The new checkpoint
goes to ``<project folder>/models/<timestamp>.safetensors``: the shipped model is
never overwritten.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
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

from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.io.manifest import read_manifest
from weighter_gui.qt.workers.task import BackgroundTask

DEFAULT_STEPS = 400
DEFAULT_BATCH = 4


def _train(items, steps: int, batch_size: int, out: Path, cache_dir: Path, init: str | None, device: str,
           hook) -> Path:
    """The work of a retrain, run by a ``BackgroundTask``: reports ("preparing", done,
    total) while features are cached, then each ``TrainProgress``; returns the checkpoint."""
    # Imported here, in the task's thread: importing torch never blocks the window.
    from weighter_gui.core.training.train import TrainProgress, TrainResult, fine_tune_config, train

    def features(done: int, total: int, _path: str) -> None:
        hook.report(("preparing", done, total))

    reviewed = any(item.extra.get("reviewed") for item in items)
    generator = train(items, fine_tune_config(steps, batch_size, reviewed=reviewed), out=out, cache_dir=cache_dir,
                      init=init, device=device, feature_hook=features)
    try:  # the generator is closed by the thread that runs it
        for event in generator:
            hook.check()
            if isinstance(event, TrainProgress):
                hook.report(event)
            elif isinstance(event, TrainResult):
                return Path(event.checkpoint or out)
    finally:
        generator.close()
    raise RuntimeError("training ended without a result")


class RetrainDialog(QDialog):
    """Set the steps, start, watch the loss, cancel; ``trained(Path)`` when done."""

    trained = Signal(object)  # Path of the new checkpoint

    def __init__(self, project_session, init: str | None, device: str = "auto", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain on project labels")
        self.setMinimumWidth(520)
        self.session = project_session
        self.init = init
        self.device = device
        self.thread: BackgroundTask | None = None
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

        reviewed = any(pf.reviewed for pf in project_session.files.values())
        self.status = QLabel(
            "Exports the labels as a manifest next to the project, then teaches the model "
            + ("the project's names, and its curves the turns you corrected in the ranges marked reviewed."
               if reviewed else "'s speaker head the project's names. The curves stay as they are (mark ranges "
               "reviewed, R, and their corrected turns teach the curves too).")
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
        if self.running:
            return False
        # Here, not at the top: the exports bring pyannote, which the window must not wait
        # for at start-up.
        from weighter_gui.core.annotation.exports import export_manifest

        if steps is not None:
            self.steps_spin.setValue(steps)
        if batch_size is not None:
            self.batch_spin.setValue(batch_size)
        project = self.session.project
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
        work = partial(_train, items, steps, self.batch_spin.value(), out, folder / "feature_cache", self.init,
                       self.device)
        self.thread = BackgroundTask("TrainTask", work, self)
        self.thread.progress.connect(self._on_progress)
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

    def _on_progress(self, event) -> None:
        if isinstance(event, tuple):  # ("preparing", done, total)
            self.status.setText(f"Caching features: {event[1]}/{event[2]} file(s)…")
            return
        step, total, loss = event.step, event.total, float(event.classification)
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
