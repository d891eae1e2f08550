"""The main window: it makes the parts and lays them out, and keeps what is the window's
own (docks, menus, toolbar, status bar, drag and drop, closing).

The parts, and who talks to whom:

* ``Workspace`` (state): the open files, the project, the current file and slot. Views
  listen to it; controllers write through it.
* ``AnalysisService`` (state): the two long-lived workers (one owns the model and the
  device, one computes spectrograms), job ids, stale answers dropped.
* Controllers, one per feature (``controllers/``), each given what it needs.
* Commands are declared as data in ``actions.py``; this window builds them and enables
  them by their conditions.

The GUI thread only draws and routes messages: other long work (importing torch to
name the device, retraining, finding moved audio) runs in a ``BackgroundTask``.
"""

from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from weighter_gui import __version__
from weighter_gui.core.model.device import describe_compute_device
from weighter_gui.qt.actions import APP_NAME, NAME_KEYS, REANALYSE_TIP, build_actions, build_menus, update_actions
from weighter_gui.qt.controllers.display import DisplayController, StatusWidgets
from weighter_gui.qt.controllers.files import FilesController
from weighter_gui.qt.controllers.labelling import LabellingController
from weighter_gui.qt.controllers.navigation import NavigationController
from weighter_gui.qt.controllers.project import ProjectController
from weighter_gui.qt.controllers.relink import RelinkController
from weighter_gui.qt.controllers.reports import ReportsController
from weighter_gui.qt.controllers.retrain import RetrainController
from weighter_gui.qt.controllers.turns import TurnsController
from weighter_gui.qt.controllers.view import ViewController
from weighter_gui.qt.controllers.waveform import WaveformController
from weighter_gui.qt.state.analysis_service import AnalysisService
from weighter_gui.qt.state.player import Player
from weighter_gui.qt.state.settings import Preferences, SettingsStore
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.file_list_panel import MISSING_AUDIO_TIP, FileListPanel
from weighter_gui.qt.views.project_dialogs import RankPanel
from weighter_gui.qt.views.shortcuts_dialog import ShortcutsDialog
from weighter_gui.qt.views.speaker_panel import SpeakerPanel
from weighter_gui.qt.views.timeline_view import TimelineView
from weighter_gui.qt.views.toolbar_view import ToolbarView
from weighter_gui.qt.workers.task import BackgroundTask

EMPTY_HTML = f"""
<div style="margin: 24px;">
<h2>{APP_NAME} {__version__}</h2>
<p>Open a recording to see <b>who speaks when</b>: its spectrogram, one weighting
curve per speaker the model finds, and each speaker's confidence.</p>
<ul>
  <li><b>File \u203a Open files\u2026</b> (Ctrl+O) or <b>Open folder\u2026</b> (Ctrl+Shift+O)</li>
  <li>or drop audio files or folders on this window</li>
  <li>or start with <code>weighter-gui recording.flac</code></li>
</ul>
<p>WAV, FLAC, OGG, MP3 and other formats libsndfile reads. Press <b>F1</b> for the
keyboard shortcuts; <b>File \u203a Settings</b> picks the device and the model checkpoint.</p>
</div>
"""

_garbage_collector = None


def collect_garbage_on_the_gui_thread() -> None:
    """Run Python's cycle collector on a GUI-thread timer, not wherever memory is taken.

    A collection frees Python-made QObjects caught in reference cycles, so it must
    not run in a worker thread or in the middle of delivering a Qt event to one of
    them: it did, and crashed in ``QObject::event`` while a retrain ran (about one
    test run in ten under load). pyqtgraph's collector disables automatic collection
    and collects from a timer instead.
    """
    global _garbage_collector
    if _garbage_collector is None:
        _garbage_collector = GarbageCollector(interval=1.0)


class MainWindow(QMainWindow):
    """Top-level window. Opens files, runs analyses in the background, shows results."""

    device_ready = Signal(object)  # str shown in the status bar, once known

    def __init__(self, parent: QWidget | None = None, *, settings_store: SettingsStore | None = None,
                 checkpoint: str | None = None, device: str | None = None, diarizer_factory=None) -> None:
        super().__init__(parent)
        collect_garbage_on_the_gui_thread()
        self.setWindowTitle(APP_NAME)
        self.setObjectName("MainWindow")
        self.resize(1280, 780)
        self.setAcceptDrops(True)
        self.device: str | None = None  # "CPU", "CUDA: <name>" or "unavailable (...)"
        self._hardware: str | None = None
        self.checkpoint_error_box: QMessageBox | None = None
        self._checkpoint_error_shown = False  # one box per settings change, not one per queued file
        self.shortcuts_dialog: ShortcutsDialog | None = None

        self.preferences = Preferences(settings_store or SettingsStore(), checkpoint, device, self)
        self.workspace = Workspace(self)
        self.analysis = AnalysisService(self.workspace, diarizer_factory, self)
        self.player = Player(self)
        self.dialogs = Dialogs(self, self.statusBar())

        self._build_central()
        self._build_docks()
        controllers: dict[str, object] = {"window": self}
        self.actions_by_id = build_actions(self, controllers)
        self.toolbar = ToolbarView(self.actions_by_id, self)
        self.addToolBar(self.toolbar)
        status = self._build_status_bar()
        self._make_controllers(controllers, status)
        self.menus = build_menus(self.menuBar(), self.actions_by_id, {
            "recent_files": self.files.fill_recent_menu,
            "recent_projects": self.projects.fill_recent_menu,
            "docks": self._fill_docks_menu,
            "speed": self.view.fill_speed_menu,
            "channels": self.files.fill_channel_menu,
            "speaker_count": self.files.fill_speaker_count_menu,
            "known_names": self._fill_known_names_menu,
        })
        self._connect()
        self._restore_layout()
        self._start_device_probe()
        self.update_actions()

    # ============================================================ construction

    def _build_central(self) -> None:
        self.empty_label = QLabel(EMPTY_HTML)
        self.empty_label.setTextFormat(Qt.TextFormat.RichText)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timeline = TimelineView()
        self.central_stack = QStackedWidget()
        self.central_stack.addWidget(self.empty_label)
        self.central_stack.addWidget(self.timeline)
        self.setCentralWidget(self.central_stack)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.file_list = FileListPanel(self.workspace)
        self.files_dock = self._dock("Files", "FilesDock", self.file_list, left)
        self.speaker_panel = SpeakerPanel()
        self.speakers_dock = self._dock("Speakers", "SpeakersDock", self.speaker_panel, right)
        self.resizeDocks([self.files_dock, self.speakers_dock], [260, 360], Qt.Orientation.Horizontal)
        self.rank_panel = RankPanel()
        self.rank_dock = self._dock("Label next", "RankDock", self.rank_panel, left)

    def _build_status_bar(self) -> StatusWidgets:
        bar = self.statusBar()
        progress_bar = QProgressBar()
        progress_bar.setRange(0, 100)
        progress_bar.setMaximumWidth(160)
        progress_bar.setMaximumHeight(16)
        cancel_button = QToolButton()
        cancel_button.setText("Cancel")
        cancel_button.setToolTip("Stop the running analysis")
        status = StatusWidgets(QLabel(), progress_bar, cancel_button, QLabel(), QLabel())
        for widget in (status.progress_label, progress_bar, cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()
        status.save_error_label.setStyleSheet("color: #e05a4f;")
        for widget in (status.save_error_label, status.der_label):
            widget.hide()
            bar.addPermanentWidget(widget)
        self.device_label = QLabel("Device: detecting…")
        bar.addPermanentWidget(self.device_label)
        self.status_widgets = status
        return status

    def _make_controllers(self, controllers: dict[str, object], status: StatusWidgets) -> None:
        w, d = self.workspace, self.dialogs
        self.files = FilesController(w, self.analysis, self.preferences, d)
        self.projects = ProjectController(w, self.analysis, self.files, self.preferences.store, d)
        self.labelling = LabellingController(w, d, self.timeline.selection, self.projects.ensure_project)
        self.waveform = WaveformController(w, self.timeline, d, self)
        self.turns = TurnsController(w, self.timeline, self.player, d, self.projects.ensure_project,
                                     self.labelling.name_by_index)
        self.relink = RelinkController(w, self.files, d, self)
        self.reports = ReportsController(w, self.files, d, self.projects.ensure_project)
        self.retrain = RetrainController(w, self.preferences, self.files, d, self.projects.ensure_named)
        self.go = NavigationController(w, self.player, self.timeline, d)
        self.view = ViewController(w, self.analysis, self.player, self.timeline, self.speaker_panel, self.toolbar,
                                   self.actions_by_id, d, self)
        self.display = DisplayController(w, self.view, self.timeline, self.speaker_panel,
                                         self.rank_panel, self.central_stack, self.empty_label, status, d,
                                         self.setWindowTitle)
        controllers.update(files=self.files, project=self.projects, labelling=self.labelling, relink=self.relink,
                           reports=self.reports, retrain=self.retrain, view=self.view, go=self.go,
                           turns=self.turns, waveform=self.waveform)

    def _fill_docks_menu(self, menu: QMenu) -> None:
        for dock in (self.files_dock, self.speakers_dock, self.rank_dock):
            menu.addAction(dock.toggleViewAction())

    def _fill_known_names_menu(self, menu: QMenu) -> None:
        known = menu.addMenu("Name as &known speaker")
        for i in range(NAME_KEYS):
            known.addAction(self.action(f"name_known_{i + 1}"))
        known.aboutToShow.connect(lambda: self.labelling.update_texts(self.actions_by_id))

    def _connect(self) -> None:
        w = self.workspace
        for signal in (w.state_changed, w.current_changed, w.selection_changed, w.removed, w.project_changed,
                       w.project_edited, self.relink.running_changed):
            signal.connect(self.update_actions)
        self.file_list.file_selected.connect(w.set_current)
        self.file_list.remove_requested.connect(self.files.remove)
        self.file_list.cancel_requested.connect(self.files.cancel)
        self.file_list.reanalyse_requested.connect(self.files.reanalyse)
        self.file_list.locate_requested.connect(self.relink.locate)
        self.file_list.find_missing_requested.connect(self.relink.ask_find_missing)
        self.speaker_panel.threshold_changed.connect(self.labelling.set_threshold)
        self.speaker_panel.slot_clicked.connect(self.labelling.select_slot)
        self.speaker_panel.slot_activated.connect(self.labelling.name_activated)
        self.timeline.track_clicked.connect(self.labelling.select_slot)
        self.rank_panel.file_chosen.connect(self.reports.open_ranked)
        self.status_widgets.cancel_button.clicked.connect(self.files.cancel_running)
        self.analysis.device_used.connect(self._set_device_text)
        self.analysis.message.connect(self.dialogs.status)
        self.analysis.checkpoint_failed.connect(self._show_checkpoint_error)
        self.preferences.changed.connect(self._on_preferences_changed)
        self.menus["&Analysis"].aboutToShow.connect(self.update_actions)  # a missing file may be back

    def action(self, action_id: str) -> QAction:
        return self.actions_by_id[action_id]

    def update_actions(self, *_) -> None:
        """Enable each command by its condition (``actions.ACTIONS``)."""
        w = self.workspace
        record = w.get(w.current)
        present = record is not None and not record.audio_missing
        update_actions(self.actions_by_id, {
            "file": lambda: record is not None,
            "file_present": lambda: present,
            "file_busy": lambda: record is not None and record.busy,
            "project": lambda: w.session is not None,
            "project_file": lambda: w.key_for(w.current) is not None,
            "can_undo": self.labelling.can_undo,
            "can_redo": self.labelling.can_redo,
            "locate": self.relink.can_locate,
            "find_missing": self.relink.can_find,
        })
        tip = REANALYSE_TIP if present or record is None else MISSING_AUDIO_TIP
        self.action("reanalyse").setToolTip(tip)
        self.action("reanalyse").setStatusTip(tip)
        self.labelling.update_texts(self.actions_by_id)

    # ============================================================ layout

    def _restore_layout(self) -> None:
        geometry, state = self.preferences.store.window_layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.view.restore(self.preferences.store.view_choices())

    def _save_layout(self) -> None:
        self.preferences.store.save_window_layout(self.saveGeometry(), self.saveState())
        self.view.save(self.preferences.store)

    # ============================================================ background work and the device

    def _start_device_probe(self) -> None:
        """Name the device: importing torch takes seconds, so never on this thread."""
        self._probe = BackgroundTask("DeviceProbe", lambda _hook: describe_compute_device(), self)
        self._probe.done.connect(self._on_probe_done)
        self._probe.failed.connect(self._on_probe_failed)
        self._probe.start()

    def stop_workers(self) -> None:
        """End the background threads. A running model window cannot be interrupted,
        so this waits for it (seconds at most); everything queued is dropped."""
        self.analysis.shutdown()
        self.relink.stop()
        self.waveform.stop()
        self._probe.wait()  # (importing torch cannot be interrupted: seconds at most)

    def is_busy(self) -> bool:
        """Whether any background thread still runs."""
        relinking = any(task.isRunning() for task in self.relink.tasks)
        return (self._probe.isRunning() or self.analysis.is_running() or self.retrain.running or relinking
                or self.waveform.busy())

    def is_settled(self) -> bool:
        """No analysis waiting or running, and the current file's spectrogram is drawn (or
        could not be made). The --screenshot option waits for this."""
        if self.workspace.busy():
            return False
        current = self.workspace.current
        if current is None:
            return True
        return self.view.shown_spectrogram is not None or self.analysis.spectrogram_failure(current) is not None

    def _on_probe_done(self, device: str) -> None:
        self._hardware = device
        self._set_device_text(self._expected_device())
        self.device_ready.emit(self.device)

    def _on_probe_failed(self, reason: str) -> None:
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(reason)
        self.device = f"unavailable ({reason})"
        self.device_ready.emit(self.device)

    def _expected_device(self) -> str | None:
        """The device the model will run on, as far as the probe and settings tell."""
        if self._hardware is None:
            return self.device
        if self.preferences.effective().device == "cpu" or not self._hardware.startswith("CUDA"):
            return "CPU"
        return self._hardware

    def _set_device_text(self, device: str | None) -> None:
        if device is None:
            return
        self.device = device
        self.device_label.setText(f"Device: {device}")
        found = f"; found: {self._hardware}" if self._hardware else ""
        self.device_label.setToolTip(f"The model runs on {device}{found}")

    def _on_preferences_changed(self, _settings) -> None:
        self._checkpoint_error_shown = False  # a new checkpoint may fail again: say so again
        self._set_device_text(self._expected_device())

    def _show_checkpoint_error(self, text: str) -> None:
        """One dialog per settings change, not one per queued file."""
        if self._checkpoint_error_shown:
            return
        self._checkpoint_error_shown = True
        box = QMessageBox(QMessageBox.Icon.Warning, "The model could not be loaded", text,
                          QMessageBox.StandardButton.Close, self)
        box.addButton("Settings…", QMessageBox.ButtonRole.ActionRole).clicked.connect(self.files.ask_settings)
        box.setInformativeText("The spectrogram and playback still work.")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.checkpoint_error_box = box

    # ============================================================ help

    def show_shortcuts(self) -> None:
        self.shortcuts_dialog = ShortcutsDialog(self.listed_actions(), self)
        self.shortcuts_dialog.show()

    def listed_actions(self) -> list[QAction]:
        """Actions in menu order, for the shortcuts dialog."""
        actions: list[QAction] = []

        def walk(menu) -> None:
            for action in menu.actions():
                if action.menu() is not None:
                    walk(action.menu())
                elif action not in actions:
                    actions.append(action)

        for top in self.menuBar().actions():
            walk(top.menu())
        return actions

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", f"<b>{APP_NAME}</b> {__version__}<br>"
                          "Look at, correct and retrain a Weighter speaker-diarization model.")

    # ============================================================ Qt events

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self._save_layout()
        self.retrain.stop()
        self.dialogs.close_all()
        self.player.shutdown()
        self.stop_workers()
        self.projects.close()
        if self.checkpoint_error_box is not None:
            self.checkpoint_error_box.close()
        super().closeEvent(event)
