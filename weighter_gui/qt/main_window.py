"""The main window: menus, toolbar, docks and the timeline, wired to the file
store, the analysis session and playback.

Threads: the GUI thread only draws and routes messages. The ``AnalysisSession``
(session.py) runs the long-lived workers: one owns the model and the device, one
computes spectrograms. ``DeviceProbeWorker`` imports torch once at start-up to
name the device. Selecting a file never waits for anything: analyses queue,
results are kept per file, and switching files only redraws.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from weighter_gui import __version__
from weighter_gui.qt.file_list import FileListPanel
from weighter_gui.qt.files import FileRecord, FileState, FileStore
from weighter_gui.qt.help import ShortcutsDialog
from weighter_gui.qt.player import SPEEDS, PlaybackController
from weighter_gui.qt.plots import TimelineView, format_clock
from weighter_gui.qt.session import AnalysisSession
from weighter_gui.qt.settings import (
    AppSettings,
    SettingsDialog,
    SettingsStore,
    ViewChoices,
)
from weighter_gui.qt.speaker_panel import SpeakerPanel
from weighter_gui.qt.spectrogram import (
    COLOUR_MAPS,
    DEFAULT_COLOUR_MAP,
    DEFAULT_DB_RANGE,
)
from weighter_gui.qt.workers import DeviceProbeWorker

APP_NAME = "Weighter Studio"
STATUS_MESSAGE_MS = 10_000
SKIP_SECONDS = 5.0
ZOOM_STEP = 0.5  # + halves the visible time, - doubles it

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


class MainWindow(QMainWindow):
    """Top-level window. Opens files, runs analyses in the background, shows results."""

    device_ready = Signal(object)  # str shown in the status bar, once known
    spectrogram_shown = Signal(object)  # Path whose spectrogram is now drawn

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        settings_store: SettingsStore | None = None,
        checkpoint: str | None = None,
        device: str | None = None,
        diarizer_factory=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.setObjectName("MainWindow")
        self.resize(1280, 780)
        self.setAcceptDrops(True)

        self.settings_store = settings_store or SettingsStore()
        self.settings = self.settings_store.load()
        self._overrides = {"checkpoint": checkpoint, "device": device}  # this run only (CLI)

        self.store = FileStore(self)
        self.session = AnalysisSession(self.store, diarizer_factory, self)
        self.player = PlaybackController(self)
        self._current: Path | None = None
        self._shown_spectrogram: tuple[Path, str] | None = None
        self._checkpoint_error_shown = False
        self.checkpoint_error_box: QMessageBox | None = None
        self.device: str | None = None  # "CPU", "CUDA: <name>" or "unavailable (...)"
        self._hardware: str | None = None

        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect_model()
        self._restore_layout()

        self._start_device_probe()
        self._update_actions()

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

    def _build_docks(self) -> None:
        self.file_list = FileListPanel(self.store)
        self.files_dock = QDockWidget("Files", self)
        self.files_dock.setObjectName("FilesDock")
        self.files_dock.setWidget(self.file_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.files_dock)

        self.speaker_panel = SpeakerPanel()
        self.speakers_dock = QDockWidget("Speakers", self)
        self.speakers_dock.setObjectName("SpeakersDock")
        self.speakers_dock.setWidget(self.speaker_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.speakers_dock)
        self.resizeDocks([self.files_dock, self.speakers_dock], [260, 300], Qt.Orientation.Horizontal)

    def _action(self, text: str, slot, shortcuts=(), checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        sequences: list[QKeySequence] = []
        for shortcut in shortcuts:
            for sequence in (QKeySequence.keyBindings(shortcut) if isinstance(shortcut, QKeySequence.StandardKey)
                             else [QKeySequence(shortcut)]):
                # A standard key may equal one listed too (HelpContents is F1 here):
                # twice the same key makes Qt call the shortcut ambiguous.
                if not sequence.isEmpty() and sequence not in sequences:
                    sequences.append(sequence)
        if sequences:
            action.setShortcuts(sequences)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even while menus and toolbar are hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        std = QKeySequence.StandardKey
        # File
        self.open_files_action = a("&Open files…", self._on_open_files_triggered, [std.Open])
        self.open_folder_action = a("Open &folder…", self._on_open_folder_triggered, ["Ctrl+Shift+O"])
        self.remove_action = a("&Remove file from list", self._on_remove_triggered, ["Ctrl+W"])
        self.settings_action = a("&Settings…", self._on_settings_triggered, ["Ctrl+,"])
        self.quit_action = a("&Quit", self._on_quit_triggered, [std.Quit])
        self.clear_recent_action = QAction("Clear recent files", self)
        self.clear_recent_action.triggered.connect(self._on_clear_recent_triggered)
        # Playback
        self.play_action = a("&Play / pause", self._on_play_triggered, ["Space"], tip="Play or pause (Space)")
        self.loop_action = a(
            "&Loop selection", self._on_loop_toggled, ["L"], checkable=True,
            tip="Loop the selected range (shift-drag on the plots to select)",
        )
        self.skip_back_action = a("Skip &back 5 s", lambda: self._skip(-SKIP_SECONDS), ["Left"])
        self.skip_forward_action = a("Skip &forward 5 s", lambda: self._skip(SKIP_SECONDS), ["Right"])
        self.to_start_action = a("Go to &start", lambda: self.player.seek(0.0), ["Ctrl+Home"])
        self.slower_action = a("&Slower", lambda: self._step_speed(-1), ["["])
        self.faster_action = a("F&aster", lambda: self._step_speed(+1), ["]"])
        self.speed_group = QActionGroup(self)
        self.speed_actions: dict[float, QAction] = {}
        for speed in SPEEDS:
            action = QAction(f"{speed:g}\u00d7", self, checkable=True)
            action.setChecked(speed == 1.0)
            action.triggered.connect(lambda _=False, s=speed: self.player.set_rate(s))
            self.speed_group.addAction(action)
            self.speed_actions[speed] = action
        # View
        self.zoom_in_action = a("Zoom &in", lambda: self._zoom(ZOOM_STEP), ["+", "=", std.ZoomIn])
        self.zoom_out_action = a("Zoom &out", lambda: self._zoom(1 / ZOOM_STEP), ["-", std.ZoomOut])
        self.fit_action = a("&Fit whole file", self._on_fit_triggered, ["F", "Home"])
        self.pan_left_action = a("Pan &left", lambda: self.timeline.pan(-0.25), ["Ctrl+Left"])
        self.pan_right_action = a("Pan &right", lambda: self.timeline.pan(0.25), ["Ctrl+Right"])
        self.follow_action = a(
            "Follow &playhead", self._on_follow_toggled, ["P"], checkable=True,
            tip="Scroll the view to keep the playhead visible",
        )
        self.follow_action.setChecked(True)
        self.mel_action = a("&Mel frequency scale", self._on_mel_toggled, ["M"], checkable=True)
        self.mel_action.setChecked(True)
        self.weak_action = a("Show &weaker tracks", self._on_weak_toggled, ["W"], checkable=True)
        self.auto_db_action = a(
            "&Automatic dB range", self._on_auto_db_toggled, ["A"], checkable=True,
            tip="Pick the spectrogram's dB range from each file's levels",
        )
        self.auto_db_action.setChecked(True)
        # Analysis
        self.cancel_action = a(
            "&Cancel analysis", self._on_cancel_triggered, ["Ctrl+."], tip="Stop analysing the selected file"
        )
        self.cancel_all_action = a("Cancel &all analyses", self._on_cancel_all_triggered, ["Ctrl+Shift+."])
        self.reanalyse_action = a("&Re-analyse", self._on_reanalyse_triggered, ["Ctrl+R"])
        # Help
        self.shortcuts_action = a("&Keyboard shortcuts", self._on_shortcuts_triggered, [std.HelpContents, "F1"])
        self.about_action = a(f"&About {APP_NAME}", self._on_about_triggered)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_files_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self._rebuild_recent_menu()
        file_menu.addAction(self.remove_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu("&View")
        for action in (self.zoom_in_action, self.zoom_out_action, self.fit_action,
                       self.pan_left_action, self.pan_right_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.follow_action)
        view_menu.addAction(self.mel_action)
        view_menu.addAction(self.auto_db_action)
        view_menu.addAction(self.weak_action)
        view_menu.addSeparator()
        view_menu.addAction(self.files_dock.toggleViewAction())
        view_menu.addAction(self.speakers_dock.toggleViewAction())

        playback_menu = bar.addMenu("&Playback")
        for action in (self.play_action, self.skip_back_action, self.skip_forward_action,
                       self.to_start_action, self.loop_action):
            playback_menu.addAction(action)
        speed_menu = playback_menu.addMenu("Speed")
        speed_menu.addAction(self.slower_action)
        speed_menu.addAction(self.faster_action)
        speed_menu.addSeparator()
        for action in self.speed_actions.values():
            speed_menu.addAction(action)

        analysis_menu = bar.addMenu("&Analysis")
        analysis_menu.addAction(self.cancel_action)
        analysis_menu.addAction(self.cancel_all_action)
        analysis_menu.addAction(self.reanalyse_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Playback and view")
        bar.setObjectName("MainToolBar")
        bar.setMovable(False)
        self.play_action.setIconText("Play")
        bar.addAction(self.play_action)
        self.position_label = QLabel(" 0:00:00.0 / \u2013 ")
        self.position_label.setMinimumWidth(150)
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar.addWidget(self.position_label)
        self.speed_combo = QComboBox()
        self.speed_combo.setToolTip("Playback speed ([ slower, ] faster)")
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed:g}\u00d7", speed)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.currentIndexChanged.connect(self._on_speed_combo_changed)
        bar.addWidget(self.speed_combo)
        bar.addAction(self.loop_action)
        bar.addAction(self.follow_action)
        bar.addSeparator()
        bar.addAction(self.zoom_out_action)
        bar.addAction(self.zoom_in_action)
        bar.addAction(self.fit_action)
        bar.addSeparator()

        self.scale_combo = QComboBox()
        self.scale_combo.addItem("Mel", "mel")
        self.scale_combo.addItem("Linear", "linear")
        self.scale_combo.setToolTip("Frequency scale of the spectrogram (M)")
        self.scale_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scale_combo.currentIndexChanged.connect(self._on_scale_combo_changed)
        bar.addWidget(QLabel(" Frequency "))
        bar.addWidget(self.scale_combo)
        self.colour_combo = QComboBox()
        for name in COLOUR_MAPS:
            self.colour_combo.addItem(name, name)
        self.colour_combo.setCurrentIndex(COLOUR_MAPS.index(DEFAULT_COLOUR_MAP))
        self.colour_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.colour_combo.currentIndexChanged.connect(self._on_colour_combo_changed)
        bar.addWidget(QLabel(" Colours "))
        bar.addWidget(self.colour_combo)
        self.db_floor_spin = self._db_spin(DEFAULT_DB_RANGE[0], "Quietest level shown (dB; full-scale sine = 0 dB)")
        self.db_ceiling_spin = self._db_spin(DEFAULT_DB_RANGE[1], "Loudest level shown (dB)")
        bar.addWidget(QLabel(" dB "))
        bar.addWidget(self.db_floor_spin)
        bar.addWidget(QLabel(" to "))
        bar.addWidget(self.db_ceiling_spin)
        self.auto_db_action.setIconText("Auto")
        bar.addAction(self.auto_db_action)
        self.toolbar = bar

    def _db_spin(self, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(-130.0, 0.0)
        spin.setDecimals(0)
        spin.setSingleStep(5.0)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_db_range_changed)
        return spin

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setMaximumHeight(16)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running analysis")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            status.addPermanentWidget(widget)
            widget.hide()
        self.device_label = QLabel("Device: detecting…")
        status.addPermanentWidget(self.device_label)

    def _connect_model(self) -> None:
        session = self.session
        session.device_used.connect(self._set_device_text)
        session.message.connect(self._show_status)
        session.checkpoint_failed.connect(self._show_checkpoint_error)
        session.spectrogram_ready.connect(self._on_session_spectrogram_ready)
        session.spectrogram_failed.connect(self._on_session_spectrogram_failed)
        self.store.state_changed.connect(self._on_store_state_changed)
        self.store.tracks_changed.connect(self._on_store_tracks_changed)
        self.store.removed.connect(self._on_store_removed)
        self.file_list.file_selected.connect(self._on_file_list_file_selected)
        self.file_list.remove_requested.connect(self.remove_file)
        self.file_list.cancel_requested.connect(self.cancel_analysis)
        self.file_list.reanalyse_requested.connect(self.analyse)
        self.speaker_panel.threshold_changed.connect(self._on_speaker_panel_threshold_changed)
        self.speaker_panel.show_weak_changed.connect(self.weak_action.setChecked)
        self.speaker_panel.show_weak_changed.connect(self._on_weak_toggled)
        self.timeline.seek_requested.connect(self._on_timeline_seek_requested)
        self.timeline.selection_changed.connect(self._on_timeline_selection_changed)
        self.player.position_changed.connect(self._on_player_position_changed)
        self.player.playing_changed.connect(self._on_player_playing_changed)
        self.player.loop_changed.connect(self._on_player_loop_changed)
        self.player.rate_changed.connect(self._on_player_rate_changed)
        self.player.error.connect(self._on_player_error)

    def _restore_layout(self) -> None:
        geometry, state = self.settings_store.window_layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        choices = self.settings_store.view_choices()
        if choices.colour_map in COLOUR_MAPS:
            self.colour_combo.setCurrentIndex(COLOUR_MAPS.index(choices.colour_map))
        self.scale_combo.setCurrentIndex(0 if choices.mel_scale else 1)
        self.follow_action.setChecked(choices.follow_playhead)
        self._on_follow_toggled(choices.follow_playhead)
        self.weak_action.setChecked(choices.show_weak_tracks)
        self._on_weak_toggled(choices.show_weak_tracks)

    def _save_layout(self) -> None:
        self.settings_store.save_window_layout(self.saveGeometry(), self.saveState())
        self.settings_store.save_view_choices(
            ViewChoices(
                colour_map=self.timeline.spectrogram.colour_map,
                mel_scale=self.mel_action.isChecked(),
                follow_playhead=self.follow_action.isChecked(),
                show_weak_tracks=self.weak_action.isChecked(),
            )
        )

    # ============================================================ background work

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
        """End the background threads. A running model window cannot be interrupted,
        so this waits for it (seconds at most); everything queued is dropped."""
        self.session.shutdown()
        if self._probe_thread.isRunning():
            self._probe_thread.quit()
            self._probe_thread.wait()

    def is_busy(self) -> bool:
        """Whether any background thread still runs."""
        return self._probe_thread.isRunning() or self.session.is_running()

    def is_settled(self) -> bool:
        """No analysis waiting or running, and the selected file's spectrogram is drawn
        (or could not be made). The --screenshot option waits for this."""
        if self.store.busy():
            return False
        if self._current is None:
            return True
        return self._shown_spectrogram is not None or self.session.spectrogram_failure(self._current) is not None

    def effective_settings(self) -> AppSettings:
        return self.settings.with_overrides(**self._overrides)

    @property
    def analysis_worker(self):
        return self.session.analysis_worker

    @property
    def stale_results_dropped(self) -> int:
        return self.session.stale_results_dropped

    # ============================================================ files

    def open_paths(self, paths: Iterable[str | Path], select: bool = True) -> list[Path]:
        """Open files, and the audio files inside folders; start analysing them.

        Returns the files newly added (already open ones are only selected)."""
        added: list[Path] = []
        first: Path | None = None
        for given in paths:
            path = Path(given).expanduser()
            path = path.resolve() if path.exists() else path.absolute()
            files = _audio_files_in(path) if path.is_dir() else [path]
            if path.is_dir() and not files:
                self.statusBar().showMessage(f"No audio files in {path}", STATUS_MESSAGE_MS)
            if path.exists():
                self.settings_store.add_recent(path)
            for file in files:
                first = first or file
                if self.store.add(file) is not None:
                    added.append(file)
                    self.analyse(file)
        if first is not None:
            self.central_stack.setCurrentWidget(self.timeline)
            if select:
                self.file_list.select(first)
        self._update_actions()
        return added

    def analyse(self, path: Path) -> int:
        """Queue an analysis of an open file with the current settings; returns its job id."""
        return self.session.analyse(path, self.effective_settings())

    def cancel_analysis(self, path: Path | None = None) -> bool:
        """Cancel the analysis of ``path`` (default: the selected file)."""
        path = path or self._current
        if path is None or not self.session.cancel(path):
            return False
        self._show_status(f"Cancelled the analysis of {Path(path).name}")
        return True

    def remove_file(self, path: Path) -> None:
        self.session.remove(path)

    def select_file(self, path: Path | None) -> None:
        self.file_list.select(path)

    @property
    def current_path(self) -> Path | None:
        return self._current

    @property
    def spectrogram_path(self) -> Path | None:
        """The file whose spectrogram is drawn now (None while it is being computed)."""
        return self._shown_spectrogram[0] if self._shown_spectrogram else None

    @property
    def scale(self) -> str:
        return "mel" if self.mel_action.isChecked() else "linear"

    # ============================================================ showing a file

    def _show_file(self, path: Path | None) -> None:
        if self._current is not None and self._current in self.store:
            self.store.set_view_range(self._current, self.timeline.visible_range())
        self._current = path
        self._shown_spectrogram = None
        self.loop_action.setChecked(False)
        self.player.set_loop_range(None)
        self.timeline.reset()
        self.player.set_file(path)
        record = self.store.get(path) if path is not None else None
        if record is None:
            self.central_stack.setCurrentWidget(self.empty_label if not len(self.store) else self.timeline)
            self.timeline.set_duration(None)
            self.speaker_panel.set_tracks([], "No file selected.")
            self.setWindowTitle(APP_NAME)
            self._update_actions()
            return
        self.central_stack.setCurrentWidget(self.timeline)
        self.setWindowTitle(f"{path.name} \u2014 {APP_NAME}")
        self.timeline.set_duration(record.duration)
        self._update_position_label(0.0)
        if record.view_range is not None:
            self.timeline.set_visible_range(*record.view_range)
        elif record.duration:
            self.timeline.fit_all()
        self._redraw_tracks(record)
        self._show_spectrogram(path)
        self._update_actions()

    def _show_spectrogram(self, path: Path) -> None:
        pyramid = self.session.spectrogram(path, self.scale)
        if pyramid is not None:
            self._draw_spectrogram(path, pyramid)
            return
        failure = self.session.spectrogram_failure(path)
        self.timeline.show_message(f"No spectrogram: {failure}" if failure else "Computing the spectrogram…")

    def _draw_spectrogram(self, path: Path, pyramid) -> None:
        record = self.store.get(path)
        if record is not None and record.duration is None:
            self.store.set_duration(path, pyramid.duration)
        if self.timeline.duration is None:
            self.timeline.set_duration(pyramid.duration)
            if record is None or record.view_range is None:
                self.timeline.fit_all()
        self.timeline.show_message("")
        if self.auto_db_action.isChecked():
            self._set_db_range(*pyramid.suggested_db_range)
        self.timeline.spectrogram.set_pyramid(pyramid)
        self._update_position_label()
        self._shown_spectrogram = (path, pyramid.scale)
        self.spectrogram_shown.emit(path)

    def _redraw_tracks(self, record: FileRecord) -> None:
        threshold = record.effective_threshold
        self.timeline.set_tracks(record.tracks, threshold)
        self.speaker_panel.set_threshold(threshold)
        self.speaker_panel.set_tracks(record.tracks, self._speaker_summary(record))
        if record.duration and self.timeline.duration is None:
            self.timeline.set_duration(record.duration)
            if record.view_range is None:
                self.timeline.fit_all()
            self._update_position_label()

    @staticmethod
    def _speaker_summary(record: FileRecord) -> str:
        state = record.state
        if state is FileState.DONE:
            n = record.speaker_count
            return f"<b>{n} speaker{'s' if n != 1 else ''}</b> among {len(record.tracks)} tracks"
        if state is FileState.ANALYSING:
            return f"Analysing… {record.percent}% ({len(record.tracks)} tracks so far)"
        if state is FileState.WAITING:
            return "Waiting for the model…"
        if state is FileState.FAILED:
            return f"<span style='color:#e05a4f'>Analysis failed:</span> {record.reason}"
        return "Analysis cancelled (Analysis \u203a Re-analyse to run it)."

    # ============================================================ session answers

    def _show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_MESSAGE_MS)

    def _show_checkpoint_error(self, text: str) -> None:
        """One dialog per settings change, not one per queued file."""
        if self._checkpoint_error_shown:
            return
        self._checkpoint_error_shown = True
        box = QMessageBox(QMessageBox.Icon.Warning, "The model could not be loaded", text,
                          QMessageBox.StandardButton.Close, self)
        settings_button = box.addButton("Settings…", QMessageBox.ButtonRole.ActionRole)
        settings_button.clicked.connect(self._on_settings_triggered)
        box.setInformativeText("The spectrogram and playback still work.")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.checkpoint_error_box = box

    @Slot(object)
    def _on_session_spectrogram_ready(self, pyramid) -> None:
        if pyramid.path == self._current and pyramid.scale == self.scale:
            self._draw_spectrogram(pyramid.path, pyramid)

    @Slot(object, str)
    def _on_session_spectrogram_failed(self, path: Path, reason: str) -> None:
        if path == self._current:
            self.timeline.show_message(f"No spectrogram: {reason}")

    # ============================================================ store signals

    @Slot(object)
    def _on_store_state_changed(self, path: Path) -> None:
        self._update_progress_widgets()
        if path == self._current:
            record = self.store.get(path)
            self.speaker_panel.summary.setText(self._speaker_summary(record))
            self._update_actions()

    @Slot(object)
    def _on_store_tracks_changed(self, path: Path) -> None:
        if path == self._current:
            self._redraw_tracks(self.store.get(path))

    @Slot(object)
    def _on_store_removed(self, path: Path) -> None:
        self._update_progress_widgets()
        if not len(self.store):
            self._show_file(None)

    def _update_progress_widgets(self) -> None:
        running = next((r for r in self.store.busy() if r.state is FileState.ANALYSING), None)
        waiting = sum(r.state is FileState.WAITING for r in self.store.busy())
        if running is None and not waiting:
            for widget in (self.progress_label, self.progress_bar, self.cancel_button):
                widget.hide()
            return
        text = f"Analysing {running.path.name}" if running else "Loading the model…"
        if waiting and running:
            text += f" (+{waiting} waiting)"
        self.progress_label.setText(text)
        self.progress_bar.setValue(running.percent if running else 0)
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            widget.show()

    # ============================================================ user actions

    @Slot(object)
    def _on_file_list_file_selected(self, path) -> None:
        self._show_file(path)

    @Slot()
    def _on_open_files_triggered(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open audio files", self._last_folder(),
            "Audio (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff *.au *.w64 *.caf);;All files (*)",
        )
        if files:
            self.open_paths(files)

    @Slot()
    def _on_open_folder_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of audio files", self._last_folder())
        if folder:
            self.open_paths([folder])

    def _last_folder(self) -> str:
        recent = self.settings_store.recent_files()
        if recent:
            last = Path(recent[0])
            return str(last if last.is_dir() else last.parent)
        return ""

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.settings_store.recent_files()
        for entry in recent:
            action = menu.addAction(entry)
            action.triggered.connect(lambda _=False, p=entry: self.open_paths([p]))
        if not recent:
            menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.clear_recent_action)

    @Slot()
    def _on_clear_recent_triggered(self) -> None:
        self.settings_store.clear_recent()

    @Slot()
    def _on_remove_triggered(self) -> None:
        if self._current is not None:
            self.remove_file(self._current)

    @Slot()
    def _on_settings_triggered(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.settings())

    def apply_settings(self, settings: AppSettings) -> None:
        """Save new settings; files whose model failed to load are analysed again."""
        self.settings = settings
        self.settings_store.save(settings)
        self._overrides = {"checkpoint": None, "device": None}  # the user chose now
        self._checkpoint_error_shown = False
        self._set_device_text(self._expected_device())
        for path in self.store.paths():
            record = self.store.get(path)
            if record.state is FileState.FAILED and record.error_kind == "checkpoint":
                self.analyse(path)
        self.statusBar().showMessage("Settings saved; they apply to the next analysis", STATUS_MESSAGE_MS)

    @Slot()
    def _on_quit_triggered(self) -> None:
        self.close()

    @Slot()
    def _on_play_triggered(self) -> None:
        self.player.toggle()

    def _skip(self, seconds: float) -> None:
        self.player.seek(self.player.position + seconds)

    def _step_speed(self, step: int) -> None:
        index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.player.rate))
        self.player.set_rate(SPEEDS[max(0, min(len(SPEEDS) - 1, index + step))])

    @Slot(bool)
    def _on_loop_toggled(self, checked: bool) -> None:
        on = self.player.set_looping(checked)
        if checked and not on:
            self.statusBar().showMessage("Shift-drag on the plots to select a range to loop", STATUS_MESSAGE_MS)

    def _zoom(self, factor: float) -> None:
        playhead = self.timeline.playhead()
        self.timeline.zoom(factor, centre=playhead)

    @Slot()
    def _on_fit_triggered(self) -> None:
        self.timeline.fit_all()

    @Slot(bool)
    def _on_follow_toggled(self, checked: bool) -> None:
        self.timeline.follow_playhead = checked

    @Slot(bool)
    def _on_mel_toggled(self, checked: bool) -> None:
        self.scale_combo.blockSignals(True)
        self.scale_combo.setCurrentIndex(0 if checked else 1)
        self.scale_combo.blockSignals(False)
        if self._current is not None:
            self._shown_spectrogram = None
            self._show_spectrogram(self._current)

    @Slot(int)
    def _on_scale_combo_changed(self, index: int) -> None:
        self.mel_action.setChecked(index == 0)
        self._on_mel_toggled(index == 0)

    @Slot(int)
    def _on_colour_combo_changed(self, index: int) -> None:
        self.timeline.spectrogram.set_colour_map(self.colour_combo.itemData(index))

    @Slot()
    def _on_db_range_changed(self) -> None:
        self.auto_db_action.setChecked(False)  # the user chose a range
        self.timeline.spectrogram.set_db_range(self.db_floor_spin.value(), self.db_ceiling_spin.value())

    @Slot(bool)
    def _on_auto_db_toggled(self, checked: bool) -> None:
        pyramid = self.timeline.spectrogram.pyramid
        if checked and pyramid is not None:
            self._set_db_range(*pyramid.suggested_db_range)

    def _set_db_range(self, floor_db: float, ceiling_db: float) -> None:
        for spin, value in ((self.db_floor_spin, floor_db), (self.db_ceiling_spin, ceiling_db)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.timeline.spectrogram.set_db_range(floor_db, ceiling_db)

    @Slot(bool)
    def _on_weak_toggled(self, checked: bool) -> None:
        self.speaker_panel.show_weak_check.blockSignals(True)
        self.speaker_panel.show_weak_check.setChecked(checked)
        self.speaker_panel.show_weak_check.blockSignals(False)
        self.timeline.show_weak_tracks = checked
        if self._current is not None:
            self._redraw_tracks(self.store.get(self._current))

    @Slot()
    def _on_cancel_triggered(self) -> None:
        if not self.cancel_analysis():
            self.statusBar().showMessage("The selected file is not being analysed", STATUS_MESSAGE_MS)

    @Slot()
    def _on_cancel_all_triggered(self) -> None:
        for record in self.store.busy():
            self.cancel_analysis(record.path)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        running = next((r for r in self.store.busy() if r.state is FileState.ANALYSING), None)
        target = running or next(iter(self.store.busy()), None)
        if target is not None:
            self.cancel_analysis(target.path)

    @Slot()
    def _on_reanalyse_triggered(self) -> None:
        if self._current is not None:
            self.analyse(self._current)

    @Slot(float)
    def _on_speaker_panel_threshold_changed(self, value: float) -> None:
        if self._current is not None:
            self.store.set_threshold(self._current, value)

    @Slot()
    def _on_shortcuts_triggered(self) -> None:
        self.shortcuts_dialog = ShortcutsDialog(self._listed_actions(), self)
        self.shortcuts_dialog.show()

    def _listed_actions(self) -> list[QAction]:
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

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<br>"
            "Look at, correct and retrain a Weighter speaker-diarization model.",
        )

    # ============================================================ timeline and player

    @Slot(float)
    def _on_timeline_seek_requested(self, seconds: float) -> None:
        if self._current is not None:
            self.player.seek(seconds)

    @Slot(object)
    def _on_timeline_selection_changed(self, selection) -> None:
        self.player.set_loop_range(selection)
        if selection is None:
            self.loop_action.setChecked(False)

    @Slot(float)
    def _on_player_position_changed(self, seconds: float) -> None:
        self.timeline.set_playhead(seconds, follow=self.follow_action.isChecked() and self.player.is_playing)
        self._update_position_label(seconds)

    def _update_position_label(self, seconds: float | None = None) -> None:
        seconds = self.timeline.playhead() if seconds is None else seconds
        total = self.timeline.duration
        self.position_label.setText(f" {format_clock(seconds, 1)} / {format_clock(total) if total else '–'} ")

    @Slot(bool)
    def _on_player_playing_changed(self, playing: bool) -> None:
        self.play_action.setIconText("Pause" if playing else "Play")  # the toolbar button; menus keep the text

    @Slot(object)
    def _on_player_loop_changed(self, loop) -> None:
        self.loop_action.setChecked(loop is not None)
        self.timeline.set_loop_active(loop is not None)

    @Slot(float)
    def _on_player_rate_changed(self, rate: float) -> None:
        if rate in SPEEDS:
            self.speed_combo.blockSignals(True)
            self.speed_combo.setCurrentIndex(SPEEDS.index(rate))
            self.speed_combo.blockSignals(False)
            self.speed_actions[rate].setChecked(True)
        self.statusBar().showMessage(f"Playback speed {rate:g}\u00d7", 2000)

    @Slot(int)
    def _on_speed_combo_changed(self, index: int) -> None:
        self.player.set_rate(self.speed_combo.itemData(index))

    @Slot(str)
    def _on_player_error(self, message: str) -> None:
        self.statusBar().showMessage(f"Playback: {message}", STATUS_MESSAGE_MS)

    def _update_actions(self) -> None:
        record = self.store.get(self._current) if self._current is not None else None
        has_file = record is not None
        for action in (self.play_action, self.remove_action, self.reanalyse_action, self.skip_back_action,
                       self.skip_forward_action, self.to_start_action, self.loop_action):
            action.setEnabled(has_file)
        self.cancel_action.setEnabled(bool(record and record.busy))

    # ============================================================ device

    @Slot(object)
    def _on_probe_device_found(self, device: str) -> None:
        self._hardware = device
        self._set_device_text(self._expected_device())
        self.device_ready.emit(self.device)

    @Slot(object)
    def _on_probe_failed(self, reason: str) -> None:
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(reason)
        self.device = f"unavailable ({reason})"
        self.device_ready.emit(self.device)

    def _expected_device(self) -> str | None:
        """The device the model will run on, as far as the probe and settings tell."""
        if self._hardware is None:
            return self.device
        if self.effective_settings().device == "cpu" or not self._hardware.startswith("CUDA"):
            return "CPU"
        return self._hardware

    def _set_device_text(self, device: str | None) -> None:
        if device is None:
            return
        self.device = device
        self.device_label.setText(f"Device: {device}")
        self.device_label.setToolTip(f"The model runs on {device}" + (f"; found: {self._hardware}" if self._hardware else ""))

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
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self._save_layout()
        self.player.shutdown()
        self.stop_workers()
        if self.checkpoint_error_box is not None:
            self.checkpoint_error_box.close()
        super().closeEvent(event)


def _audio_files_in(folder: Path) -> list[Path]:
    """Audio files directly inside ``folder``, by name."""
    from weighter_gui.core.audio import (
        AUDIO_EXTENSIONS,  # scipy import: only when needed
    )

    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return []
    return [p for p in entries if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS]

