"""The main window: menus, an honest description of this build, the compute device."""

from __future__ import annotations

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from weighter_gui import __version__
from weighter_gui.qt.workers import DeviceProbeWorker

APP_NAME = "Weighter Studio"

INTRO_HTML = f"""
<h2>{APP_NAME} {__version__}</h2>
<p>This build contains the <b>Weighter</b> speaker-diarization model, its
checkpoints and the simulation study. Use them from the command line:</p>
<ul>
  <li><code>weighter info CHECKPOINT</code> &mdash; what a checkpoint says about itself</li>
  <li><code>weighter simulate</code> &mdash; run the simulation study</li>
</ul>
<p>Opening and analysing audio in this window comes in a later version.</p>
"""


class MainWindow(QMainWindow):
    """Top-level window. Detects the compute device in a background thread."""

    device_ready = Signal(object)  # str shown in the status bar, once known

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.resize(720, 420)

        intro = QLabel(INTRO_HTML)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        intro.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        intro.setContentsMargins(24, 16, 24, 16)
        self.setCentralWidget(intro)

        self._build_menus()

        self.device: str | None = None  # "CPU", "CUDA: <name>" or "unavailable (...)"
        self.device_label = QLabel("Device: detecting…")
        self.statusBar().addPermanentWidget(self.device_label)

        self._start_device_probe()

    # -- construction -------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self._on_quit_triggered)
        file_menu.addAction(quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction(f"&About {APP_NAME}", self)
        about_action.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about_action)

    def _start_device_probe(self) -> None:
        self._probe_thread = QThread(self)
        self._probe_thread.setObjectName("DeviceProbe")
        self._probe_worker = DeviceProbeWorker()
        self._probe_worker.moveToThread(self._probe_thread)
        self._probe_thread.started.connect(self._probe_worker.run)
        self._probe_worker.device_found.connect(self._on_probe_device_found)
        self._probe_worker.failed.connect(self._on_probe_failed)
        self._probe_worker.finished.connect(self._probe_thread.quit)
        self._probe_thread.finished.connect(self._probe_worker.deleteLater)
        self._probe_thread.start()

    def stop_workers(self) -> None:
        """Wait for background threads to end (the torch import cannot be interrupted)."""
        if self._probe_thread.isRunning():
            self._probe_thread.quit()
            self._probe_thread.wait()

    def is_busy(self) -> bool:
        return self._probe_thread.isRunning()

    # -- slots ----------------------------------------------------------------------

    @Slot(object)
    def _on_probe_device_found(self, device: str) -> None:
        self.device = device
        self.device_label.setText(f"Device: {device}")
        self.device_ready.emit(device)

    @Slot(object)
    def _on_probe_failed(self, reason: str) -> None:
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(reason)
        self.device = f"unavailable ({reason})"
        self.device_ready.emit(self.device)

    @Slot()
    def _on_quit_triggered(self) -> None:
        self.close()

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>"
            "Look at, correct and retrain a Weighter speaker-diarization model.",
        )

    # -- Qt events --------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self.stop_workers()
        super().closeEvent(event)
