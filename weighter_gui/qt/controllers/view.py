"""How the current file is looked at and listened to: the spectrogram (scale, colours,
dB range), zoom and pan, the playhead, playback speed and loop, weaker tracks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup

from weighter_gui.core.segments import complement_segments, union_segments
from weighter_gui.qt.state.analysis_service import AnalysisService
from weighter_gui.qt.state.player import SPEEDS, Player
from weighter_gui.qt.state.settings import SettingsStore, ViewChoices
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.speaker_panel import SpeakerPanel
from weighter_gui.qt.views.spectrogram_layer import COLOUR_MAPS
from weighter_gui.qt.views.timeline_view import TimelineView, format_clock
from weighter_gui.qt.views.toolbar_view import ToolbarView


class ViewController(QObject):
    spectrogram_shown = Signal(object)  # Path whose spectrogram is now drawn
    tracks_look_changed = Signal()  # weaker tracks shown or hidden: the tracks are drawn again

    def __init__(self, workspace: Workspace, analysis: AnalysisService, player: Player,
                 timeline: TimelineView, speaker_panel: SpeakerPanel, toolbar: ToolbarView,
                 actions: Mapping[str, QAction], dialogs: Dialogs, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.analysis = analysis
        self.player = player
        self.timeline = timeline
        self.speaker_panel = speaker_panel
        self.toolbar = toolbar
        self.actions = actions
        self.dialogs = dialogs
        self.shown_spectrogram: tuple[Path, str] | None = None
        self.only: tuple[str, bool] | None = None  # (speaker, True: only them / False: all but them)

        workspace.current_changed.connect(self._on_workspace_current_changed)
        analysis.spectrogram_ready.connect(self._on_analysis_spectrogram_ready)
        analysis.spectrogram_failed.connect(self._on_analysis_spectrogram_failed)
        toolbar.speed_combo.currentIndexChanged.connect(self._on_speed_combo_changed)
        toolbar.scale_combo.currentIndexChanged.connect(self._on_scale_combo_changed)
        toolbar.colour_combo.currentIndexChanged.connect(self._on_colour_combo_changed)
        toolbar.db_floor_spin.valueChanged.connect(self._on_db_spin_changed)
        toolbar.db_ceiling_spin.valueChanged.connect(self._on_db_spin_changed)
        speaker_panel.show_weak_changed.connect(self.set_show_weak)
        timeline.seek_requested.connect(self._on_timeline_seek_requested)
        timeline.selection_changed.connect(self._on_timeline_selection_changed)
        player.position_changed.connect(self._on_player_position_changed)
        player.playing_changed.connect(self._on_player_playing_changed)
        player.loop_changed.connect(self._on_player_loop_changed)
        player.rate_changed.connect(self._on_player_rate_changed)
        player.error.connect(self._on_player_error)
        self.speed_group = QActionGroup(self)
        self.speed_actions: dict[float, QAction] = {}
        for speed in SPEEDS:
            action = QAction(f"{speed:g}\u00d7", self, checkable=True)
            action.setChecked(speed == 1.0)
            action.triggered.connect(lambda _=False, s=speed: self.player.set_rate(s))
            self.speed_group.addAction(action)
            self.speed_actions[speed] = action

    @property
    def scale(self) -> str:
        return "mel" if self.actions["mel"].isChecked() else "linear"

    @property
    def spectrogram_path(self) -> Path | None:
        """The file whose spectrogram is drawn now (None while it is being computed)."""
        return self.shown_spectrogram[0] if self.shown_spectrogram else None

    # ============================================================ the spectrogram

    def show_spectrogram(self, path: Path) -> None:
        self.shown_spectrogram = None
        pyramid = self.analysis.spectrogram(path, self.scale)
        if pyramid is not None:
            self._draw_spectrogram(path, pyramid)
            return
        failure = self.analysis.spectrogram_failure(path)
        self.timeline.show_message(f"No spectrogram: {failure}" if failure else "Computing the spectrogram…")

    def _draw_spectrogram(self, path: Path, pyramid) -> None:
        record = self.workspace.get(path)
        if record is not None and record.duration is None:
            self.workspace.set_duration(path, pyramid.duration)
        if self.timeline.duration is None:
            self.timeline.set_duration(pyramid.duration)
            if record is None or record.view_range is None:
                self.timeline.fit_all()
        self.timeline.show_message("")
        if self.actions["auto_db"].isChecked():
            self._set_db_range(*pyramid.suggested_db_range)
        self.timeline.spectrogram.set_pyramid(pyramid)
        self.update_position_label()
        self.shown_spectrogram = (path, pyramid.scale)
        self.spectrogram_shown.emit(path)

    def _on_analysis_spectrogram_ready(self, pyramid) -> None:
        if pyramid.path == self.workspace.current and pyramid.scale == self.scale:
            self._draw_spectrogram(pyramid.path, pyramid)

    def _on_analysis_spectrogram_failed(self, path: Path, reason: str) -> None:
        if path == self.workspace.current:
            self.timeline.show_message(f"No spectrogram: {reason}")

    def set_mel(self, checked: bool) -> None:
        self.toolbar.show_quietly(self.toolbar.scale_combo, 0 if checked else 1)
        if self.workspace.current is not None:
            self.show_spectrogram(self.workspace.current)

    def _on_scale_combo_changed(self, index: int) -> None:
        self.actions["mel"].setChecked(index == 0)
        self.set_mel(index == 0)

    def _on_colour_combo_changed(self, index: int) -> None:
        self.timeline.spectrogram.set_colour_map(self.toolbar.colour_combo.itemData(index))

    def _on_db_spin_changed(self) -> None:
        self.actions["auto_db"].setChecked(False)  # the user chose a range
        self.timeline.spectrogram.set_db_range(self.toolbar.db_floor_spin.value(),
                                               self.toolbar.db_ceiling_spin.value())

    def set_auto_db(self, checked: bool) -> None:
        pyramid = self.timeline.spectrogram.pyramid
        if checked and pyramid is not None:
            self._set_db_range(*pyramid.suggested_db_range)

    def _set_db_range(self, floor_db: float, ceiling_db: float) -> None:
        self.toolbar.show_db_range(floor_db, ceiling_db)
        self.timeline.spectrogram.set_db_range(floor_db, ceiling_db)

    # ============================================================ time

    def zoom(self, factor: float) -> None:
        self.timeline.zoom(factor, centre=self.timeline.playhead())

    def fit(self) -> None:
        self.timeline.fit_all()

    def pan(self, fraction: float) -> None:
        self.timeline.pan(fraction)

    def set_follow(self, checked: bool) -> None:
        self.timeline.follow_playhead = checked

    def set_show_weak(self, checked: bool) -> None:
        self.actions["weak"].setChecked(checked)
        check = self.speaker_panel.show_weak_check
        check.blockSignals(True)
        check.setChecked(checked)
        check.blockSignals(False)
        self.timeline.show_weak_tracks = checked
        self.tracks_look_changed.emit()

    # ============================================================ playback

    def fill_speed_menu(self, menu) -> None:
        speed_menu = menu.addMenu("Speed")
        speed_menu.addAction(self.actions["slower"])
        speed_menu.addAction(self.actions["faster"])
        speed_menu.addSeparator()
        for action in self.speed_actions.values():
            speed_menu.addAction(action)

    def toggle_play(self) -> None:
        self.player.toggle()

    def seek(self, seconds: float) -> None:
        self.player.seek(seconds)

    def skip(self, seconds: float) -> None:
        self.player.seek(self.player.position + seconds)

    def step_speed(self, step: int) -> None:
        index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.player.rate))
        self.player.set_rate(SPEEDS[max(0, min(len(SPEEDS) - 1, index + step))])

    def set_looping(self, checked: bool) -> None:
        on = self.player.set_looping(checked)
        if checked and not on:
            self.dialogs.status("Shift-drag on the plots to select a range to loop")

    def solo(self) -> None:
        """Play only the selected slot's speaker (again: everyone)."""
        self._play_only(keep=True)

    def mute(self) -> None:
        """Play everything but the selected slot's speaker (again: everyone)."""
        self._play_only(keep=False)

    def _play_only(self, keep: bool) -> None:
        current, label = self.workspace.current, self.workspace.selected_slot
        speaker = next(((name, turns) for name, slots, turns in self.workspace.speakers(current) if label in slots),
                       None) if current is not None else None
        if speaker is None:
            self.dialogs.status("Pick a speaker first: click their row in the speaker panel or their curve")
            return
        name, turns = speaker
        if self.only == (name, keep):
            self.player.set_only(None)
            self.only = None
            self.dialogs.status("Playing everyone")
            return
        duration = self.workspace.get(current).duration or self.timeline.duration or 0.0
        self.player.set_only(union_segments(turns) if keep else complement_segments(turns, duration))
        self.only = (name, keep)
        self.dialogs.status(f"Playing {'only' if keep else 'all but'} {name} (press again for everyone)")

    def _on_workspace_current_changed(self, path) -> None:
        """Another file: its audio in the player, no loop, no solo; its spectrogram is asked
        for when the display shows the file."""
        self.actions["loop"].setChecked(False)
        self.player.set_loop_range(None)
        self.player.set_file(path)
        self.only = None  # the player forgot it with its file
        self.shown_spectrogram = None

    def _on_speed_combo_changed(self, index: int) -> None:
        self.player.set_rate(self.toolbar.speed_combo.itemData(index))

    def _on_timeline_seek_requested(self, seconds: float) -> None:
        if self.workspace.current is not None:
            self.player.seek(seconds)

    def _on_timeline_selection_changed(self, selection) -> None:
        self.player.set_loop_range(selection)
        if selection is None:
            self.actions["loop"].setChecked(False)

    def _on_player_position_changed(self, seconds: float) -> None:
        self.timeline.set_playhead(seconds, follow=self.actions["follow"].isChecked() and self.player.is_playing)
        self.update_position_label(seconds)

    def update_position_label(self, seconds: float | None = None) -> None:
        seconds = self.timeline.playhead() if seconds is None else seconds
        total = self.timeline.duration
        self.toolbar.position_label.setText(f" {format_clock(seconds, 1)} / {format_clock(total) if total else '–'} ")

    def _on_player_playing_changed(self, playing: bool) -> None:
        self.actions["play"].setIconText("Pause" if playing else "Play")  # the toolbar button; menus keep the text

    def _on_player_loop_changed(self, loop) -> None:
        self.actions["loop"].setChecked(loop is not None)
        self.timeline.set_loop_active(loop is not None)

    def _on_player_rate_changed(self, rate: float) -> None:
        if rate in SPEEDS:
            self.toolbar.show_quietly(self.toolbar.speed_combo, SPEEDS.index(rate))
            self.speed_actions[rate].setChecked(True)
        self.dialogs.status(f"Playback speed {rate:g}\u00d7", 2000)

    def _on_player_error(self, message: str) -> None:
        self.dialogs.status(f"Playback: {message}")

    # ============================================================ remembered between runs

    def restore(self, choices: ViewChoices) -> None:
        if choices.colour_map in COLOUR_MAPS:
            self.toolbar.colour_combo.setCurrentIndex(COLOUR_MAPS.index(choices.colour_map))
        self.toolbar.scale_combo.setCurrentIndex(0 if choices.mel_scale else 1)
        self.actions["follow"].setChecked(choices.follow_playhead)
        self.set_follow(choices.follow_playhead)
        self.set_show_weak(choices.show_weak_tracks)
        if choices.show_waveform:
            self.actions["waveform"].trigger()  # (its handler shows it)

    def save(self, store: SettingsStore) -> None:
        store.save_view_choices(ViewChoices(
            colour_map=self.timeline.spectrogram.colour_map,
            mel_scale=self.actions["mel"].isChecked(),
            follow_playhead=self.actions["follow"].isChecked(),
            show_weak_tracks=self.actions["weak"].isChecked(),
            show_waveform=self.actions["waveform"].isChecked(),
        ))
