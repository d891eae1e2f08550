"""The main window: menus, toolbar, docks and the timeline, wired to the file
store, the analysis session and playback.

Threads: the GUI thread only draws and routes messages. The ``AnalysisSession``
(session.py) runs the long-lived workers: one owns the model and the device, one
computes spectrograms. ``DeviceProbeThread`` imports torch once at start-up to
name the device. A ``RelinkTask`` (relink.py) searches folders and hashes audio
for Locate / Find missing files, behind a progress dialog that can cancel it.
Selecting a file never waits for anything: analyses queue, results are kept per
file, and switching files only redraws.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from weighter_gui import __version__
from weighter_gui.qt.file_list import MISSING_AUDIO_TIP, FileListPanel
from weighter_gui.qt.files import FileRecord, FileState, FileStore
from weighter_gui.qt.help import ShortcutsDialog
from weighter_gui.qt.player import SPEEDS, PlaybackController
from weighter_gui.qt.plots import TimelineView, format_clock
from weighter_gui.qt.project_ui import NameDialog, RankPanel, ReportDialog
from weighter_gui.qt.relink import MissingFile, RelinkTask
from weighter_gui.qt.relink import find as find_moved_files
from weighter_gui.qt.relink import locate as compare_located_file
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
from weighter_gui.qt.workers import DeviceProbeThread

APP_NAME = "Weighter Studio"
PROJECT_FILTER = "Weighter projects (*.weighter);;All files (*)"
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff *.au *.w64 *.caf);;All files (*)"
RECENT_PROJECTS_KEY = "recent/projects"
MAX_RECENT_PROJECTS = 8
NAME_KEYS = 9  # keys 1-9 name the selected slot after the first nine known speakers
STATUS_MESSAGE_MS = 10_000
SKIP_SECONDS = 5.0
ZOOM_STEP = 0.5  # + halves the visible time, - doubles it
RELINK_DIALOG_DELAY_MS = 500  # the relink progress dialog shows only if the work takes longer
REANALYSE_TIP = "Analyse the selected file again with the current settings"

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
    spectrogram_shown = Signal(object)  # Path whose spectrogram is now drawn
    relink_finished = Signal(int)  # Locate / Find missing files ended: files relinked (0: none or cancelled)

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
        collect_garbage_on_the_gui_thread()
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
        # The project (labels, undo, autosave), when one is open: core.project.ProjectSession.
        self.project = None
        self._stored: dict[Path, object] = {}  # path -> the project's Analysis shown in the store
        self._analysed_from: dict[Path, object] = {}  # path -> the worker's FileDiarization stored
        self._file_keys: dict[Path, str] = {}  # path -> project key at the last sync (to follow relinks)
        self._syncing = False
        self.retrain_dialog = None
        self.report_box: QMessageBox | ReportDialog | None = None
        self.relink_progress: QProgressDialog | None = None  # while a relink task runs
        self._relink_task: RelinkTask | None = None  # the one whose answer counts
        self._relink_tasks: list[RelinkTask] = []  # every one still running (a cancelled one winds down)
        self.error_box: QMessageBox | None = None
        self.name_dialog = None
        self.last_report: str = ""
        self.der: float | None = None  # the selected file's DER vs its reference

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
        self.resizeDocks([self.files_dock, self.speakers_dock], [260, 360], Qt.Orientation.Horizontal)

        self.rank_panel = RankPanel()
        self.rank_dock = QDockWidget("Label next", self)
        self.rank_dock.setObjectName("RankDock")
        self.rank_dock.setWidget(self.rank_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.rank_dock)
        self.rank_panel.file_chosen.connect(self._on_rank_file_chosen)

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
        self.new_project_action = a("&New project…", self._on_new_project_triggered, ["Ctrl+Shift+N"],
                                    tip="Start a project: labels, undo and exports; open files join it")
        self.open_project_action = a("Open pro&ject…", self._on_open_project_triggered, ["Ctrl+Shift+P"])
        self.save_project_as_action = a(
            "Save project &as…", self._on_save_project_as_triggered, ["Ctrl+Shift+S"],
            tip="Save the project under a new name; autosave goes there from now on, the old file stays as it was")
        self.locate_missing_action = a("&Locate missing file…", self._on_locate_missing_triggered,
                                       tip="Say where the selected file's audio went (it was moved or renamed)")
        self.find_missing_action = a("Find missing files in fol&der…", self._on_find_missing_triggered,
                                     tip="Look in a folder and its subfolders for every missing audio file")
        self.clear_recent_projects_action = QAction("Clear recent projects", self)
        self.clear_recent_projects_action.triggered.connect(
            lambda: self.settings_store.qsettings.setValue(RECENT_PROJECTS_KEY, []))
        # Edit
        self.undo_action = a("&Undo", self._on_undo_triggered, [std.Undo, "Ctrl+Z"])
        self.redo_action = a("&Redo", self._on_redo_triggered, [std.Redo, "Ctrl+Shift+Z"])
        # Label (the selected slot of the selected file)
        self.name_action = a("&Name slot…", self._on_name_triggered, ["N"],
                             tip="Name the selected slot (a known speaker or a new name)")
        self.name_key_actions = []
        for i in range(NAME_KEYS):
            action = a(f"Name as known speaker {i + 1}", lambda _=False, i=i: self._name_by_index(i), [str(i + 1)],
                       tip="The project's speaker names, sorted; see the Label menu")
            self.name_key_actions.append(action)
        self.accept_action = a("&Accept suggestion", self._on_accept_triggered, ["A"],
                               tip="Name the selected slot as the gallery suggests")
        self.accept_all_action = a("Accept all su&ggestions", self._on_accept_all_triggered, ["Shift+A"])
        self.not_speaker_action = a("Not a &speaker", self._on_not_speaker_triggered, ["X"],
                                    tip="Mark the selected slot as not a speaker (again: undo the mark)")
        self.merge_action = a("&Merge into…", self._on_merge_triggered, ["M"],
                              tip="Merge the selected slot into another slot of this file")
        self.unmerge_action = a("&Unmerge", self._on_unmerge_triggered, ["U"])
        self.add_like_action = a("Add &like…", self._on_add_like_triggered, ["Shift+L"],
                                 tip="Say a speaker is in this file although the model missed them")
        self.rename_action = a("&Rename speaker…", self._on_rename_triggered, ["F2"],
                               tip="Rename a speaker in every file of the project")
        self.import_reference_action = a("Import &reference RTTM…", self._on_import_reference_triggered,
                                         tip="A reference diarization for the selected file: drawn under the curves, scored (DER)")
        # Export
        self.export_manifest_action = a("Training &manifest…", lambda: self._on_export_triggered("manifest"))
        self.export_rttm_action = a("&RTTM…", lambda: self._on_export_triggered("rttm"))
        self.export_audacity_action = a("&Audacity labels…", lambda: self._on_export_triggered("audacity"))
        self.export_textgrid_action = a("Praat &TextGrid…", lambda: self._on_export_triggered("textgrid"))
        self.evaluate_action = a("&Evaluate against references", self._on_evaluate_triggered)
        # Model
        self.retrain_action = a("&Retrain on project labels…", self._on_retrain_triggered)
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
        self.mel_action = a("&Mel frequency scale", self._on_mel_toggled, ["Shift+M"], checkable=True)
        self.mel_action.setChecked(True)
        self.weak_action = a("Show &weaker tracks", self._on_weak_toggled, ["W"], checkable=True)
        self.auto_db_action = a(
            "&Automatic dB range", self._on_auto_db_toggled, ["D"], checkable=True,
            tip="Pick the spectrogram's dB range from each file's levels",
        )
        self.auto_db_action.setChecked(True)
        # Analysis
        self.cancel_action = a(
            "&Cancel analysis", self._on_cancel_triggered, ["Ctrl+."], tip="Stop analysing the selected file"
        )
        self.cancel_all_action = a("Cancel &all analyses", self._on_cancel_all_triggered, ["Ctrl+Shift+."])
        self.reanalyse_action = a("&Re-analyse", self._on_reanalyse_triggered, ["Ctrl+R"], tip=REANALYSE_TIP)
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
        file_menu.addAction(self.new_project_action)
        file_menu.addAction(self.open_project_action)
        self.recent_projects_menu = file_menu.addMenu("Recent projec&ts")
        self.recent_projects_menu.aboutToShow.connect(self._rebuild_recent_projects_menu)
        self._rebuild_recent_projects_menu()
        file_menu.addAction(self.save_project_as_action)
        file_menu.addAction(self.locate_missing_action)
        file_menu.addAction(self.find_missing_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

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
        view_menu.addAction(self.rank_dock.toggleViewAction())

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
        analysis_menu.aboutToShow.connect(self._update_actions)  # a missing file may be back

        label_menu = bar.addMenu("&Label")
        for action in (self.name_action, self.accept_action, self.accept_all_action, self.not_speaker_action,
                       self.merge_action, self.unmerge_action, self.add_like_action, self.rename_action):
            label_menu.addAction(action)
        self.known_names_menu = label_menu.addMenu("Name as &known speaker")
        for action in self.name_key_actions:
            self.known_names_menu.addAction(action)
        self.known_names_menu.aboutToShow.connect(self._update_label_actions)
        label_menu.addSeparator()
        label_menu.addAction(self.import_reference_action)

        export_menu = bar.addMenu("E&xport")
        for action in (self.export_manifest_action, self.export_rttm_action, self.export_audacity_action,
                       self.export_textgrid_action):
            export_menu.addAction(action)
        export_menu.addSeparator()
        export_menu.addAction(self.evaluate_action)

        model_menu = bar.addMenu("&Model")
        model_menu.addAction(self.retrain_action)

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
        self.save_error_label = QLabel()
        self.save_error_label.setStyleSheet("color: #e05a4f;")
        self.save_error_label.hide()
        status.addPermanentWidget(self.save_error_label)
        self.der_label = QLabel()
        self.der_label.hide()
        status.addPermanentWidget(self.der_label)
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
        self.file_list.reanalyse_requested.connect(self.reanalyse)
        self.file_list.locate_requested.connect(self.locate_missing)
        self.file_list.find_missing_requested.connect(self._on_find_missing_triggered)
        self.speaker_panel.threshold_changed.connect(self._on_speaker_panel_threshold_changed)
        self.speaker_panel.slot_selected.connect(self._on_slot_selected)
        self.speaker_panel.slot_activated.connect(self._on_slot_activated)
        self.timeline.track_clicked.connect(self._on_timeline_track_clicked)
        self.store.state_changed.connect(self._on_store_state_changed_for_project)
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
        self._probe_thread = DeviceProbeThread(self)
        self._probe_thread.device_found.connect(self._on_probe_device_found)
        self._probe_thread.failed.connect(self._on_probe_failed)
        self._probe_thread.start()

    def stop_workers(self) -> None:
        """End the background threads. A running model window cannot be interrupted,
        so this waits for it (seconds at most); everything queued is dropped."""
        self.session.shutdown()
        self._stop_relink_tasks()
        if self._probe_thread.isRunning():
            self._probe_thread.wait()  # (importing torch cannot be interrupted: seconds at most)

    def is_busy(self) -> bool:
        """Whether any background thread still runs."""
        training = self.retrain_dialog is not None and self.retrain_dialog.running
        relinking = any(task.isRunning() for task in self._relink_tasks)
        return self._probe_thread.isRunning() or self.session.is_running() or training or relinking

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
        if self.project is not None and added:
            self.project.add_files(added)  # one undo step; autosaved
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
        key = self._key_for(path)
        self.session.remove(path)
        if key is not None:
            self.project.remove_file(key)

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
            self.store.set_view_range(self._current, self._view_to_remember())
        self._current = path
        self._shown_spectrogram = None
        self.speaker_panel.select_label(None)
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
        self._show_reference()
        self._show_spectrogram(path)
        self._update_actions()

    def _view_to_remember(self) -> tuple[float, float] | None:
        """The time range to show when the current file is selected again; None: fit the
        whole file. Only a range the user chose counts: before the file's length is known
        the plots show a placeholder range (0-10 s, or the last file's), and a view of
        the whole file stays "the whole file" however long the file turns out to be."""
        duration = self.timeline.duration
        if not duration:
            return None
        start, end = self.timeline.visible_range()
        tolerance = 1e-3 * duration
        if start <= tolerance and end >= duration - tolerance:
            return None
        return start, end

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
        self.timeline.set_speech(*_speech_lane(record))
        self.speaker_panel.set_threshold(threshold)
        states, suggestions = {}, {}
        key = self._key_for(record.path)
        if key is not None and record.state is FileState.DONE:
            pf = self.project.project.file(key)
            states = {state.label: state for state in pf.slot_states()}
            if not set(t.label for t in record.tracks) <= set(states):
                states = {}  # the store shows another analysis than the project's
            else:
                try:
                    suggestions = self.project.suggestions(key)
                except Exception as exc:  # the gallery must never break drawing
                    self._show_status(f"No suggestions: {exc}")
        self.speaker_panel.set_labels(states, suggestions)
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
        # A record made again for this path (undoing a relink or a removal) shows nothing yet.
        self._stored.pop(path, None)
        self._analysed_from.pop(path, None)
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
        files, _ = QFileDialog.getOpenFileNames(self, "Open audio files", self._last_folder(), AUDIO_FILTER)
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
            self.reanalyse(self._current)

    def reanalyse(self, path: Path) -> int | None:
        """Analyse an open file again (Analysis › Re-analyse, the file list's menu); a file
        whose audio is missing is refused with the reason (it could only fail, and would
        lose its "missing" flag). Returns the job id, or None."""
        record = self.store.get(path)
        if record is None:
            return None
        if record.audio_missing:
            self._show_status(f"{Path(path).name}: " + MISSING_AUDIO_TIP[0].lower() + MISSING_AUDIO_TIP[1:])
            self._update_actions()
            return None
        return self.analyse(path)

    @Slot(float)
    def _on_speaker_panel_threshold_changed(self, value: float) -> None:
        if self._current is not None:
            self.store.set_threshold(self._current, value)
            key = self._key_for(self._current)
            if key is not None and not self._syncing:
                self.project.set_threshold(key, value)

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


    # ============================================================ projects

    def new_project(self, path: str | Path) -> bool:
        """Create a project at ``path`` (replacing a file there) holding the open files."""
        from weighter_gui.core.annotation.session import ProjectSession
        from weighter_gui.core.annotation.storage import ProjectError

        path = Path(path)
        if path.suffix != ".weighter":
            path = path.with_name(path.name + ".weighter")
        try:
            session = ProjectSession.create(path, overwrite=True)
        except (ProjectError, OSError) as exc:
            self._error_box("Could not create the project", str(exc))
            return False
        for path_ in [p for p in self.store.paths() if self.store.get(p).error_kind == "missing"]:
            self.session.remove(path_)
        open_files = self.store.paths()
        if open_files:
            session.add_files(open_files)
            session.stack.clear()  # the project starts here: nothing to undo
        self._set_project(session, keep_files=True)
        for path_ in open_files:
            self._store_analysis(path_)
        self._refresh_project_views()
        return True

    def open_project(self, path: str | Path) -> bool:
        """Open a project: its files, analyses (curves from its cache) and labels.

        A malformed file or a newer format shows the core's message and changes nothing."""
        from weighter_gui.core.annotation.session import ProjectSession
        from weighter_gui.core.annotation.storage import ProjectError

        try:
            session = ProjectSession.open(path)
        except (ProjectError, OSError, ValueError) as exc:
            self._error_box("Could not open the project", str(exc))
            return False
        self._set_project(session, keep_files=False)
        return True

    def _set_project(self, session, keep_files: bool) -> None:
        if self.project is not None:
            self.project.remove_listener(self._on_project_change)
        if not keep_files:
            for path in self.store.paths():
                self.session.remove(path)
        self._stored.clear()
        self._analysed_from.clear()
        self._file_keys.clear()
        self.project = session
        session.add_listener(self._on_project_change)
        self._add_recent_project(session.project.path)
        self._sync_store_with_project()
        first = next(iter(self.store.paths()), None)
        if first is not None and self._current is None:
            self.central_stack.setCurrentWidget(self.timeline)
            self.file_list.select(first)
        self._refresh_project_views()
        self._show_status(f"Project {session.project.path.name}: {len(session.project)} file(s)")

    @property
    def project_path(self) -> Path | None:
        return self.project.project.path if self.project is not None else None

    def _key_for(self, path: Path | None) -> str | None:
        if self.project is None or path is None:
            return None
        return self.project.project.key_for(path)

    def _path_for(self, key: str) -> Path | None:
        pf = self.project.project.files.get(key) if self.project is not None else None
        if pf is None:
            return None
        for path in self.store.paths():
            if self._key_for(path) == key:
                return path
        return None

    def _sync_store_with_project(self) -> None:
        """Make the open files follow the project (after opening it, undo, redo, relink)."""
        if self.project is None:
            return
        self._syncing = True
        try:
            files = self.project.project.files
            keys = {path: self._key_for(path) for path in self.store.paths()}
            stale = [path for path, key in keys.items() if key is None]
            present = set(keys.values())
            added = False
            for key, pf in files.items():
                path = self._path_for(key) if key in present else None
                if path is None:
                    path = Path(pf.audio)
                    record = self.store.add(path)
                    if record is None:
                        continue
                    added = True
                    if not pf.exists:
                        self.store.fail(record, f"{path}: the audio file is missing (moved or deleted?). "
                                        "Right-click it › Locate missing file…, or File › "
                                        "Find missing files in folder…",
                                        "audio file missing", "missing")
                        continue
                    if pf.analysis is None or not pf.analysis.curves_available:
                        self.analyse(path)
                        continue
                record = self.store.get(path)
                analysis = pf.analysis
                idle = record.job_id is None  # not being analysed (a fresh record waits for nothing)
                if (analysis is not None and idle and self._stored.get(path) is not analysis
                        and analysis.curves_available):
                    self._stored[path] = analysis
                    self.store.finish(record, analysis)
                if record.threshold != pf.threshold:
                    self.store.set_threshold(path, pf.threshold)
            paths = self._paths_by_key()
            # A relinked file's new place takes over its row and, if it was shown, the selection.
            moved_to = paths.get(self._file_keys.get(self._current)) if self._current in stale else None
            if moved_to is not None:
                self.file_list.select(moved_to)
            for path in stale:
                self.session.remove(path)
            if added:
                self.file_list.set_order(paths.values())
            self._file_keys = {path: key for key, path in paths.items()}
        finally:
            self._syncing = False

    def _paths_by_key(self) -> dict[str, Path]:
        """The project's files that are open: key -> path in the store, in project order."""
        open_paths = {os.path.normcase(os.path.abspath(p)): p for p in self.store.paths()}
        out = {}
        for key, pf in self.project.project.files.items():
            path = open_paths.get(os.path.normcase(str(pf.audio)))
            if path is not None:
                out[key] = path
        return out

    @Slot(object)
    def _on_store_state_changed_for_project(self, path: Path) -> None:
        if self.project is not None and not self._syncing:
            self._store_analysis(path)

    def _store_analysis(self, path: Path) -> None:
        """A finished analysis goes into the project (re-analysis moves the labels)."""
        record = self.store.get(path)
        key = self._key_for(path)
        if key is None or record is None or record.state is not FileState.DONE:
            return
        diarization = record.diarization
        if diarization is None or diarization is self._stored.get(path) or diarization is self._analysed_from.get(path):
            return
        self._analysed_from[path] = diarization
        try:
            self.project.set_analysis(key, diarization)
        except Exception as exc:
            self._show_status(f"Could not store the analysis of {path.name}: {exc}")
            return
        self._stored[path] = self.project.project.file(key).analysis
        if path == self._current:
            self._redraw_tracks(record)

    def _on_project_change(self, change) -> None:
        """Every project change (the core calls this at once, on this thread)."""
        if change.kind in ("undo", "redo", "do"):
            self._sync_store_with_project()
        self._refresh_project_views(change)

    def _refresh_project_views(self, change=None) -> None:
        session = self.project
        if session is None:
            return
        self._update_label_actions()
        error = session.save_error
        self.save_error_label.setVisible(bool(error))
        if error:
            self.save_error_label.setText("Autosave failed")
            self.save_error_label.setToolTip(error)
            self.statusBar().showMessage(f"Autosave failed: {error}", STATUS_MESSAGE_MS)
        elif change is not None and change.kind in ("do", "undo", "redo"):
            verb = {"do": "", "undo": "Undone: ", "redo": "Redone: "}[change.kind]
            self.statusBar().showMessage(f"{verb}{change.text}", STATUS_MESSAGE_MS)
        name = session.project.path.name if session.project.path else "project"
        file_part = f"{self._current.name} \u2014 " if self._current is not None else ""
        self.setWindowTitle(f"{file_part}{name} \u2014 {APP_NAME}")
        self._count_speakers()
        if self._current is not None and self._current in self.store:
            self._redraw_tracks(self.store.get(self._current))
            self._show_reference()
        try:
            self.rank_panel.set_ranks(session.rank())
        except Exception as exc:
            self._show_status(f"Could not rank the files: {exc}")

    def _count_speakers(self) -> None:
        """Count each project file's speakers as the exports do (``ProjectFile.speakers()``:
        a merged group is one speaker, a named slot counts even below the threshold, "not
        a speaker" does not) for the file list and the speaker panel's summary."""
        counted = {}
        for key, path in self._paths_by_key().items():
            record, pf = self.store.get(path), self.project.project.file(key)
            if (record.state is FileState.DONE and pf.analysis is not None
                    and {t.label for t in record.tracks} <= set(pf.analysis.labels)):
                counted[path] = len(pf.speakers())
        for path in self.store.paths():
            self.store.set_speakers(path, counted.get(path))

    def _add_recent_project(self, path: Path | None) -> None:
        if path is None:
            return
        entry = str(Path(path).resolve())
        recent = [entry] + [p for p in self.recent_projects() if p != entry]
        self.settings_store.qsettings.setValue(RECENT_PROJECTS_KEY, recent[:MAX_RECENT_PROJECTS])

    def recent_projects(self) -> list[str]:
        value = self.settings_store.qsettings.value(RECENT_PROJECTS_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def _rebuild_recent_projects_menu(self) -> None:
        menu = self.recent_projects_menu
        menu.clear()
        recent = self.recent_projects()
        for entry in recent:
            action = menu.addAction(entry)
            action.triggered.connect(lambda _=False, p=entry: self.open_project(p))
        if not recent:
            menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.clear_recent_projects_action)

    @Slot()
    def _on_new_project_triggered(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", self._last_folder(), PROJECT_FILTER)
        if path:
            self.new_project(path)

    @Slot()
    def _on_open_project_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_folder(), PROJECT_FILTER)
        if path:
            self.open_project(path)

    @Slot()
    def _on_save_project_as_triggered(self) -> None:
        start = str(self.project_path) if self.project_path is not None else self._last_folder()
        path = self.ask_save_path("Save project as", start, PROJECT_FILTER)
        if path:
            self.save_project_as(path)

    def save_project_as(self, path: str | Path) -> bool:
        """Save the project at ``path``; autosave goes there from now on, the old file
        is left as it was. Paths are stored relative to the new file's folder and the
        curves cache is copied beside it. Without a project: a new one of the open files."""
        from weighter_gui.core.annotation.storage import PROJECT_SUFFIX, ProjectError

        if self.project is None:
            return self.new_project(path)
        path = Path(path)
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_name(path.name + PROJECT_SUFFIX)
        try:
            target = self.project.save(path)
        except (ProjectError, OSError) as exc:
            self._error_box("Could not save the project", str(exc))
            return False
        self._add_recent_project(target)
        self._show_status(f"Saved as {target}; changes are saved there from now on")
        return True

    # ============================================================ missing audio

    def ask_save_path(self, title: str, start: str, filter_: str) -> str | None:
        """A file to write (a modal dialog: tests replace this method)."""
        path, _ = QFileDialog.getSaveFileName(self, title, start, filter_)
        return path or None

    def ask_open_path(self, title: str, start: str, filter_: str) -> str | None:
        """An existing file (a modal dialog: tests replace this method)."""
        path, _ = QFileDialog.getOpenFileName(self, title, start, filter_)
        return path or None

    def ask_folder(self, title: str, start: str) -> str | None:
        """An existing folder (a modal dialog: tests replace this method)."""
        return QFileDialog.getExistingDirectory(self, title, start) or None

    def missing_keys(self) -> list[str]:
        """Keys of the project's files whose audio is missing (flagged in the file list)."""
        return self.project.project.missing_files() if self.project is not None else []

    @Slot()
    def _on_locate_missing_triggered(self) -> None:
        self.locate_missing(self._current)

    def locate_missing(self, path: Path | None = None) -> bool:
        """Ask where a missing file's audio went and relink it (default: the selected file).

        True when a file was picked: it is checked in the background and relinked when
        that ends (``relink_finished``)."""
        path = path if path is not None else self._current
        key = self._key_for(path)
        if key is None or self.project.project.file(key).exists:
            self._show_status("Select a file of the project whose audio is missing")
            return False
        folder = next((p for p in Path(path).parents if p.is_dir()), None)
        start = str(folder / Path(path).name) if folder is not None else self._last_folder()
        new = self.ask_open_path(f"Where is {Path(path).name} now?", start, AUDIO_FILTER)
        return bool(new) and self.relink_file(path, new)

    def relink_file(self, path: Path, new_path: str | Path) -> bool:
        """Point the project's file at ``path`` to its audio at ``new_path`` (one undo step).

        Where the project knows the audio's sha256 (or length), a file that differs is
        relinked only if the user says so: its labels were made for other audio. The
        comparison reads the whole file, so it runs in a worker thread (a progress
        dialog can cancel it); returns whether it started, and ``relink_finished``
        says how it ended."""
        key = self._key_for(path)
        if key is None:
            self._show_status(f"{Path(path).name} is not in the project")
            return False
        new = Path(os.path.abspath(new_path))
        if not new.is_file():
            self._show_status(f"{new} is not a file")
            return False
        pf = self.project.project.file(key)
        other = self.project.project.key_for(new)
        if other is not None and other != key:
            self._show_status(f"{new} is in the project already, as {other}")
            return False
        missing = MissingFile(key, pf.audio, pf.facts)
        return self._start_relink(
            f"Checking {new.name}", partial(compare_located_file, missing, new), self._on_located)

    def _on_located(self, answer) -> int:
        """The picked file was compared (``relink.LocateAnswer``): relink it, asking first
        if it differs from the audio the project had. Returns the files relinked."""
        key, new = answer.missing.key, answer.new
        pf = self._unchanged_file(answer.missing)
        if pf is None:
            self._show_status(f"{key} changed while {new.name} was being checked; nothing relinked")
            return 0
        if answer.difference and not self.ask_yes_no(
                "Relink to different audio?",
                f"{new.name} {answer.difference}.\n\nRelink {key} to it anyway? Its analysis and labels were made "
                "for the old audio and stay as they are."):
            return 0
        if not self._apply(self.project.relink_file, key, new):
            return 0
        _record_facts(pf, answer.facts)
        self._show_status(f"Relinked {key} to {new}")
        return 1

    @Slot()
    def _on_find_missing_triggered(self) -> None:
        if not self._need_project():
            return
        if not self.missing_keys():
            self._show_status("No audio file of the project is missing")
            return
        folder = self.ask_folder("Find missing files in folder", str(self.project_path.parent))
        if folder:
            self.find_missing_files(folder)

    def find_missing_files(self, folder: str | Path) -> bool:
        """Look in ``folder`` and below for every missing file (same name, and same
        sha256 where the project knows it) and relink those found, as one undo step,
        then report what was found.

        The search and the hashing run in a worker thread (a progress dialog can
        cancel them); returns whether it started, and ``relink_finished`` says how
        many files were relinked."""
        if not self._need_project():
            return False
        project = self.project.project
        missing = [MissingFile(k, project.file(k).audio, project.file(k).facts) for k in self.missing_keys()]
        if not missing:
            self._show_status("No audio file of the project is missing")
            return False
        folder = Path(os.path.abspath(folder))
        taken = {os.path.normcase(str(pf.audio)) for pf in project.files.values()}
        return self._start_relink(
            "Finding missing files", partial(find_moved_files, folder, missing, taken), self._on_found)

    def _on_found(self, answer) -> int:
        """The folder was searched (``relink.FindAnswer``): relink what was found, as one
        undo step, and report. Returns the files relinked."""
        from weighter_gui.core.annotation.commands import Batch, RelinkFile

        missing = len(answer.missing)
        found: dict[str, tuple[Path, object]] = {}
        problems = list(answer.problems)
        snapshots = {m.key: m for m in answer.missing}
        for key, (new, facts) in answer.found.items():
            pf = self._unchanged_file(snapshots[key])
            if pf is None or pf.exists or self.project.project.key_for(new) is not None:
                problems.append(f"{key}: changed while the folder was searched")
            else:
                found[key] = (new, facts)
        if found:
            commands = [RelinkFile(key, new) for key, (new, _) in found.items()]
            cmd = commands[0] if len(commands) == 1 else Batch(f"Relink {len(commands)} files", commands)
            if not self._apply(self.project.push, cmd):
                return 0
            for key, (_, facts) in found.items():
                _record_facts(self.project.project.file(key), facts)
        lines = [f"Found {len(found)} of {missing} missing file{'s' if missing != 1 else ''} "
                 f"in {answer.folder}" + (" and relinked them (one undo step)." if found else ".")]
        if problems:
            lines += ["", "Not relinked:"] + problems
        self._report("Find missing files", "\n".join(lines))
        self._show_status(lines[0])
        return len(found)

    def _unchanged_file(self, missing: MissingFile):
        """The project file ``missing`` was taken from, if it still points where it did
        (the project may change while a relink task runs); else None."""
        pf = self.project.project.files.get(missing.key) if self.project is not None else None
        if pf is None or pf.audio != missing.audio:
            return None
        return pf

    # -- the relink task (worker thread) and its progress dialog

    def _start_relink(self, title: str, work: Callable, on_answer: Callable[[object], int]) -> bool:
        """Run ``work(progress)`` in a ``RelinkTask``; ``on_answer(result)`` applies it on
        this thread and returns the files relinked. One at a time."""
        if self._relink_task is not None:
            self._show_status("Still looking for missing audio: wait for it, or cancel it")
            return False
        task = RelinkTask(work, self)
        task.on_answer, task.session = on_answer, self.project  # read back when it answers
        # Bound slots of this window (not lambdas): answers from the task's thread are
        # queued to this thread, and ``sender()`` names the task.
        task.progress.connect(self._on_relink_progress)
        task.answered.connect(self._on_relink_answered)
        task.failed.connect(self._on_relink_failed)
        task.finished.connect(self._on_relink_thread_finished)
        dialog = QProgressDialog(f"{title}\u2026", "Cancel", 0, 0, self)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(RELINK_DIALOG_DELAY_MS)  # quick work never shows it
        dialog.setMinimumWidth(420)
        dialog.canceled.connect(self._on_relink_progress_canceled)
        dialog.setValue(0)  # starts the dialog's clock
        self._relink_task, self.relink_progress = task, dialog
        self._relink_tasks.append(task)
        self._update_label_actions()
        task.start()
        return True

    def relink_running(self) -> bool:
        """Whether a Locate / Find missing files task is running (its answer pending)."""
        return self._relink_task is not None

    @Slot(str, int, int)
    def _on_relink_progress(self, text: str, done: int, total: int) -> None:
        dialog = self.relink_progress
        if dialog is None or self.sender() is not self._relink_task:
            return
        dialog.setLabelText(text)
        if total > 0:
            dialog.setMaximum(1000)  # bytes would overflow the dialog's int
            dialog.setValue(min(1000, done * 1000 // total))
        else:
            dialog.setMaximum(0)  # busy: how far is unknown
            dialog.setValue(0)

    def _close_relink_dialog(self) -> None:
        dialog, self.relink_progress = self.relink_progress, None
        if dialog is not None:
            dialog.canceled.disconnect(self._on_relink_progress_canceled)  # closing it says "canceled"
            dialog.reset()  # (and stops its clock: it will not show up later)
            dialog.hide()
            dialog.deleteLater()

    def _end_relink(self, relinked: int) -> None:
        self._relink_task = None
        self._close_relink_dialog()
        self._update_label_actions()
        self.relink_finished.emit(relinked)

    @Slot()
    def _on_relink_progress_canceled(self) -> None:
        """The progress dialog's Cancel (or Escape): stop at once; nothing is relinked."""
        task = self._relink_task
        if task is None:
            return
        task.cancel()  # it stops at its next chunk or folder; anything it says now is dropped
        self._show_status("Cancelled: nothing was relinked")
        self._end_relink(0)

    @Slot(object)
    def _on_relink_answered(self, answer) -> None:
        task = self.sender()
        if task is not self._relink_task or task.cancelled:
            return
        self._close_relink_dialog()  # before any question about the answer
        relinked = 0
        try:
            if self.project is task.session:
                relinked = task.on_answer(answer)
            else:
                self._show_status("The project changed while looking for its audio; nothing relinked")
        finally:
            self._end_relink(relinked)

    @Slot(str)
    def _on_relink_failed(self, reason: str) -> None:
        if self.sender() is not self._relink_task:
            return
        self._end_relink(0)
        self._error_box("Could not look for the audio", reason)

    @Slot()
    def _on_relink_thread_finished(self) -> None:
        task = self.sender()
        if task in self._relink_tasks:
            self._relink_tasks.remove(task)
        if task is self._relink_task:  # ended without an answer (the work always answers; be safe)
            self._end_relink(0)
        task.deleteLater()

    def _stop_relink_tasks(self) -> None:
        self._on_relink_progress_canceled()
        for task in list(self._relink_tasks):
            task.cancel()
            task.wait()

    def _error_box(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Close, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.error_box = box

    # ============================================================ labelling

    def _need_project(self) -> bool:
        if self.project is None:
            self._show_status("Labels live in a project: File \u203a New project\u2026 first")
            return False
        return True

    def selected_slot(self) -> tuple[str, str] | None:
        """(file key, slot label) picked for labelling, or None (with a hint)."""
        if not self._need_project():
            return None
        key = self._key_for(self._current)
        label = self.speaker_panel.selected_label()
        if key is None or label is None:
            self._show_status("Pick a slot first: click its row in the speaker panel or its curve")
            return None
        pf = self.project.project.file(key)
        if pf.analysis is None or pf.analysis.slot(label) is None:
            self._show_status("Wait for the analysis to finish before labelling")
            return None
        return key, label

    def select_slot(self, label: str | None) -> None:
        self.speaker_panel.select_label(label)

    @Slot(object)
    def _on_slot_selected(self, label) -> None:
        self.timeline.select_track(label)
        self._update_label_actions()

    @Slot(str)
    def _on_slot_activated(self, label: str) -> None:
        self.select_slot(label)
        self._on_name_triggered()

    @Slot(str)
    def _on_timeline_track_clicked(self, label: str) -> None:
        self.select_slot(label)

    def _apply(self, what, *args) -> bool:
        """Run one session action; a refused label change is a status message."""
        from weighter_gui.core.annotation.storage import ProjectError

        try:
            what(*args)
        except (ProjectError, ValueError) as exc:
            self._show_status(str(exc))
            return False
        return True

    def known_names(self) -> list[str]:
        return self.project.project.speaker_names() if self.project is not None else []

    def ask_name(self, title: str, prompt: str, current: str = "") -> str | None:
        """The name dialog; None when cancelled or empty."""
        dialog = NameDialog(title, prompt, self.known_names(), current, self)
        self.name_dialog = dialog
        ok = dialog.exec() == NameDialog.DialogCode.Accepted
        self.name_dialog = None
        return dialog.name() or None if ok else None

    def ask_item(self, title: str, prompt: str, items: list[str]) -> str | None:
        if not items:
            return None
        item, ok = QInputDialog.getItem(self, title, prompt, items, 0, False)
        return item if ok else None

    def name_selected(self, name: str | None) -> bool:
        picked = self.selected_slot()
        return picked is not None and self._apply(self.project.name_slot, *picked, name)

    @Slot()
    def _on_name_triggered(self) -> None:
        picked = self.selected_slot()
        if picked is None:
            return
        key, label = picked
        current = self.project.project.file(key).name_of(label) or ""
        name = self.ask_name("Name slot", f"Who is {label} in {key}?", current)
        if name:
            self._apply(self.project.name_slot, key, label, name)

    def _name_by_index(self, index: int) -> None:
        names = self.known_names()
        if index >= len(names):
            self._show_status(f"There is no known speaker {index + 1} yet (names: {', '.join(names) or 'none'})")
            return
        self.name_selected(names[index])

    @Slot()
    def _on_accept_triggered(self) -> None:
        picked = self.selected_slot()
        if picked is None:
            return
        key, label = picked
        suggestion = self.project.suggestions(key).get(label)
        if suggestion is None:
            self._show_status(f"No suggestion for {label}: name the speaker in another file first")
            return
        self._apply(self.project.name_slot, key, label, suggestion.name)

    @Slot()
    def _on_accept_all_triggered(self) -> None:
        if not self._need_project():
            return
        key = self._key_for(self._current)
        if key is None:
            return
        pf = self.project.project.file(key)
        open_slots = {s.label for s in pf.slot_states() if s.name is None and not s.not_speaker and s.kept}
        names = {label: s.name for label, s in self.project.suggestions(key).items() if label in open_slots}
        if not names:
            self._show_status("No suggestions to accept")
            return
        self._apply(self.project.accept_suggestions, key, names)

    @Slot()
    def _on_not_speaker_triggered(self) -> None:
        picked = self.selected_slot()
        if picked is None:
            return
        key, label = picked
        marked = label in self.project.project.file(key).labels.not_speaker
        self._apply(self.project.mark_not_speaker, key, label, not marked)

    @Slot()
    def _on_merge_triggered(self) -> None:
        picked = self.selected_slot()
        if picked is None:
            return
        key, label = picked
        pf = self.project.project.file(key)
        others = {f"{s.label} ({s.name})" if s.name else s.label: s.label
                  for s in pf.slot_states() if s.label != label and not s.not_speaker}
        choice = self.ask_item("Merge slot", f"Merge {label} into:", list(others))
        if choice is not None:
            self._apply(self.project.merge_slots, key, label, others[choice])

    @Slot()
    def _on_unmerge_triggered(self) -> None:
        picked = self.selected_slot()
        if picked is not None:
            self._apply(self.project.unmerge_slot, *picked)

    @Slot()
    def _on_add_like_triggered(self) -> None:
        if not self._need_project():
            return
        key = self._key_for(self._current)
        if key is None:
            self._show_status("Select a file of the project first")
            return
        name = self.ask_name("Add like", f"A speaker in {key} the model missed:")
        if name:
            self._apply(self.project.add_like, key, name)

    @Slot()
    def _on_rename_triggered(self) -> None:
        if not self._need_project():
            return
        names = self.known_names()
        if not names:
            self._show_status("No speaker named yet")
            return
        current = None
        picked = self.speaker_panel.selected_label()
        key = self._key_for(self._current)
        if key is not None and picked is not None:
            current = self.project.project.file(key).name_of(picked)
        old = current or self.ask_item("Rename speaker", "Speaker to rename:", names)
        if old is None:
            return
        new = self.ask_name("Rename speaker", f"New name for {old} (in every file):", old)
        if new and new != old:
            self._apply(self.project.rename_speaker, old, new)

    @Slot()
    def _on_undo_triggered(self) -> None:
        if self.project is not None and self.project.can_undo:
            self.project.undo()

    @Slot()
    def _on_redo_triggered(self) -> None:
        if self.project is not None and self.project.can_redo:
            self.project.redo()

    def _update_label_actions(self) -> None:
        session = self.project
        has_project = session is not None
        self.undo_action.setEnabled(bool(has_project and session.can_undo))
        self.redo_action.setEnabled(bool(has_project and session.can_redo))
        self.undo_action.setText(f"&Undo {session.undo_text}" if has_project and session.can_undo else "&Undo")
        self.redo_action.setText(f"&Redo {session.redo_text}" if has_project and session.can_redo else "&Redo")
        names = self.known_names()
        for i, action in enumerate(self.name_key_actions):
            action.setText(f"{names[i]}" if i < len(names) else f"Name as known speaker {i + 1}")
        for action in (self.export_manifest_action, self.export_rttm_action, self.export_audacity_action,
                       self.export_textgrid_action, self.evaluate_action, self.retrain_action,
                       self.add_like_action, self.rename_action, self.accept_all_action):
            action.setEnabled(has_project)
        has_file = has_project and self._key_for(self._current) is not None
        self.import_reference_action.setEnabled(has_file)
        # From the store, not the disk: this runs after every click.
        missing = [r.path for r in map(self.store.get, self.store.paths()) if r.error_kind == "missing"]
        idle = not self.relink_running()
        self.locate_missing_action.setEnabled(idle and has_file and self._current in missing)
        self.find_missing_action.setEnabled(idle and has_project and bool(missing))

    # ============================================================ references and exports

    @Slot()
    def _on_import_reference_triggered(self) -> None:
        if self._key_for(self._current) is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a reference", self._last_folder(),
            "Reference (*.rttm *.TextGrid *.txt);;All files (*)")
        if path:
            self.import_reference(path)

    def import_reference(self, path: str | Path) -> bool:
        key = self._key_for(self._current)
        if key is None:
            return False
        return self._apply(self.project.import_reference, key, path)

    def _show_reference(self) -> None:
        """The selected file's reference lane and DER (status bar)."""
        key = self._key_for(self._current)
        pf = self.project.project.file(key) if key is not None else None
        reference = pf.reference if pf is not None else None
        self.timeline.set_reference(reference.segments if reference is not None else None)
        self.der = None
        self.der_label.hide()
        if reference is None or pf.analysis is None:
            return
        from weighter_gui.core.annotation.exports import evaluate

        try:
            report = evaluate(self.project.project, keys=[key])
        except Exception as exc:
            self.der_label.setText("DER: \u2013")
            self.der_label.setToolTip(str(exc))
            self.der_label.show()
            return
        self.der = float(report.der)
        self.der_label.setText(f"DER {self.der:.1%} vs {Path(reference.source).name}")
        self.der_label.setToolTip(f"<pre>{html.escape(report.table())}</pre>")  # a table: fixed-width font
        self.der_label.show()

    EXPORTS = {
        "manifest": ("Export the training manifest", "file", "Manifest (*.jsonl);;All files (*)", ".jsonl"),
        "rttm": ("Export RTTM", "file", "RTTM (*.rttm);;All files (*)", ".rttm"),
        "audacity": ("Export Audacity labels into a folder", "folder", "", ""),
        "textgrid": ("Export Praat TextGrids into a folder", "folder", "", ""),
    }

    def _on_export_triggered(self, kind: str) -> None:
        if not self._need_project():
            return
        title, target, filter_, suffix = self.EXPORTS[kind]
        folder = str(self.project_path.parent)
        if target == "file":
            path, _ = QFileDialog.getSaveFileName(self, title, str(Path(folder) / (self.project_path.stem + suffix)),
                                                  filter_)
        else:
            path = QFileDialog.getExistingDirectory(self, title, folder)
        if path:
            self.export(kind, path)

    def export(self, kind: str, path: str | Path):
        """Write an export; shows (and returns) the report's summary, or None on failure."""
        from weighter_gui.core.annotation import exports

        writer = {"manifest": exports.export_manifest, "rttm": exports.export_rttm,
                  "audacity": exports.export_audacity, "textgrid": exports.export_textgrid}[kind]
        try:
            report = writer(self.project.project, Path(path))
        except Exception as exc:
            self._error_box("Export failed", str(exc))
            return None
        self._report("Export", report.summary())
        return report

    def _report(self, title: str, text: str) -> None:
        self.last_report = text
        if self.report_box is not None:
            self.report_box.close()
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.report_box = box

    @Slot()
    def _on_evaluate_triggered(self) -> None:
        from weighter_gui.core.annotation.exports import evaluate

        if not self._need_project():
            return
        try:
            corrected = evaluate(self.project.project)
            model = evaluate(self.project.project, which="model")
        except Exception as exc:
            self._error_box("Evaluation", str(exc))
            return
        summary = f"Corrected labels: DER {corrected.der:.1%}\nModel as is: DER {model.der:.1%}"
        table = corrected.table()
        self.last_report = f"{summary}\n\n{table}"
        if self.report_box is not None:
            self.report_box.close()
        dialog = ReportDialog("Evaluation", summary, table, self)
        dialog.show()
        self.report_box = dialog

    @Slot(str)
    def _on_rank_file_chosen(self, key: str) -> None:
        path = self._path_for(key)
        if path is not None:
            self.select_file(path)

    # ============================================================ retraining

    def current_checkpoint(self) -> str | None:
        from weighter_gui.core.io.resources import default_checkpoint

        chosen = self.effective_settings().checkpoint_or_none
        if chosen:
            return chosen
        default = default_checkpoint()
        return str(default) if default.exists() else None

    @Slot()
    def _on_retrain_triggered(self) -> None:
        if self._need_project():
            self.open_retrain_dialog().show()

    def open_retrain_dialog(self):
        from weighter_gui.qt.retrain import RetrainDialog

        if self.retrain_dialog is not None and self.retrain_dialog.running:
            return self.retrain_dialog
        if self.retrain_dialog is not None:
            self.retrain_dialog.close()
        dialog = RetrainDialog(self.project, self.current_checkpoint(), self.effective_settings().device, self)
        dialog.trained.connect(self._on_retrained)
        self.retrain_dialog = dialog
        return dialog

    def ask_yes_no(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    @Slot(object)
    def _on_retrained(self, checkpoint: Path) -> None:
        if self.ask_yes_no("Use the new model?",
                           f"Training wrote {checkpoint}.\n\nSwitch to it and re-analyse the project's files? "
                           "Labels move to the new slots."):
            self.use_checkpoint(checkpoint, reanalyse=True)

    def use_checkpoint(self, checkpoint: Path, reanalyse: bool = True) -> None:
        self.apply_settings(replace(self.settings, checkpoint=str(checkpoint)))
        if reanalyse:
            for path in self.store.paths():
                if self.store.get(path).error_kind != "missing":
                    self.analyse(path)

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
        for action in (self.play_action, self.remove_action, self.skip_back_action,
                       self.skip_forward_action, self.to_start_action, self.loop_action):
            action.setEnabled(has_file)
        missing = has_file and record.audio_missing
        self.reanalyse_action.setEnabled(has_file and not missing)
        tip = MISSING_AUDIO_TIP if missing else REANALYSE_TIP
        self.reanalyse_action.setToolTip(tip)
        self.reanalyse_action.setStatusTip(tip)
        self.cancel_action.setEnabled(bool(record and record.busy))
        self._update_label_actions()

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
        if self.retrain_dialog is not None:
            self.retrain_dialog.stop()
            self.retrain_dialog.close()
        for box in (self.report_box, self.error_box):
            if box is not None:
                box.close()
        self.player.shutdown()
        self.stop_workers()
        if self.checkpoint_error_box is not None:
            self.checkpoint_error_box.close()
        super().closeEvent(event)


def _record_facts(pf, facts) -> None:
    """Record the relinked audio's facts (worked out by the relink task), so the next
    move can be checked too: a cache beside the undo step (``RelinkFile`` clears it),
    saved with the next change; only if the file is still as it was then."""
    if pf.facts is not None or facts is None:
        return
    try:
        st = pf.audio.stat()
    except OSError:
        return
    if (st.st_size, st.st_mtime_ns) == (facts.size, facts.mtime_ns):
        pf.facts = facts


def _audio_files_in(folder: Path) -> list[Path]:
    """Audio files directly inside ``folder``, by name."""
    from weighter_gui.core.io.audio import (
        AUDIO_EXTENSIONS,  # scipy import: only when needed
    )

    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return []
    return [p for p in entries if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS]


def _speech_lane(record: FileRecord) -> tuple[object, float]:
    """What the speech lane shows for ``record``: the finished analysis's speech, else
    the live windows' so far; (None, hop) when neither detected speech."""
    done = getattr(record.diarization, "speech", None)
    if done is not None:
        return done, float(record.diarization.hop)
    if record.live is not None and record.live.hop is not None:
        return record.live.speech(), record.live.hop
    return None, 0.15
