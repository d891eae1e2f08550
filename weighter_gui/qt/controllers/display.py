"""Showing the current file: its curves, speakers and labels, its reference and DER, the
analysis progress in the status bar, and the window's title.

It only listens: to the workspace (the current file changed, its tracks changed, the
project changed) and draws once per change. ``redraws`` counts the times the current
file's tracks were drawn, so a test can check one analysis result draws them once.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QStackedWidget, QToolButton, QWidget

from weighter_gui.core.annotation.attention import speech_edges
from weighter_gui.core.annotation.gallery import Suggestion
from weighter_gui.core.annotation.recovery import is_untitled
from weighter_gui.qt.actions import APP_NAME
from weighter_gui.qt.controllers.view import ViewController
from weighter_gui.qt.state.workspace import FileRecord, FileState, Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.project_dialogs import RankPanel
from weighter_gui.qt.views.speaker_panel import SpeakerPanel
from weighter_gui.qt.views.timeline_view import TimelineView


@dataclass
class StatusWidgets:
    """The status bar's permanent widgets this controller fills."""

    progress_label: QLabel
    progress_bar: QProgressBar
    cancel_button: QToolButton
    der_label: QLabel
    save_error_label: QLabel


# Speakers with turns but no slot (drawn by hand, or imported from another tool): muted
# colours of their own, unlike the curves' (those belong to the model's slots).
NAME_ONLY_COLOURS = ("#b0b0b0", "#c9a66b", "#8fb3c9", "#b98fc9", "#8fc9a0", "#c98f8f")


class DisplayController:
    def __init__(self, workspace: Workspace, view: ViewController,
                 timeline: TimelineView, speaker_panel: SpeakerPanel, rank_panel: RankPanel,
                 central: QStackedWidget, empty: QWidget, status: StatusWidgets, dialogs: Dialogs,
                 set_title: Callable[[str], None]) -> None:
        self.workspace = workspace
        self.view = view
        self.timeline = timeline
        self.speaker_panel = speaker_panel
        self.rank_panel = rank_panel
        self.central = central
        self.empty = empty
        self.status = status
        self.dialogs = dialogs
        self.set_title = set_title
        self.redraws = 0
        self.der: float | None = None  # the current file's DER against its reference
        self._shown: Path | None = None  # the file the timeline shows

        workspace.added.connect(self._on_workspace_added)
        workspace.removed.connect(self._on_workspace_removed)
        workspace.state_changed.connect(self._on_workspace_state_changed)
        workspace.tracks_changed.connect(self._on_workspace_tracks_changed)
        workspace.current_changed.connect(self.show_file)
        workspace.selection_changed.connect(self._on_workspace_selection_changed)
        workspace.turn_selection_changed.connect(self._show_selected_turn)
        workspace.project_changed.connect(self._on_workspace_project_changed)
        workspace.project_edited.connect(self._on_workspace_project_edited)
        view.tracks_look_changed.connect(self._on_view_tracks_look_changed)

    # ============================================================ the current file

    def show_file(self, path: Path | None) -> None:
        if self._shown is not None and self._shown in self.workspace:
            self.workspace.set_view_range(self._shown, self._view_to_remember())
        self._shown = path
        self.speaker_panel.select_label(None)
        self.timeline.select_track(None)
        self.timeline.reset()
        record = self.workspace.get(path)
        self._update_title()
        if record is None:
            self.central.setCurrentWidget(self.empty if not len(self.workspace) else self.timeline)
            self.timeline.set_duration(None)
            self.speaker_panel.set_tracks([], "No file selected.")
            return
        self.central.setCurrentWidget(self.timeline)
        self.timeline.set_duration(record.duration)
        self.view.update_position_label(0.0)
        if record.view_range is not None:
            self.timeline.set_visible_range(*record.view_range)
        elif record.duration:
            self.timeline.fit_all()
        self.redraw(record)
        self.view.show_spectrogram(path)

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

    def redraw(self, record: FileRecord) -> None:
        """The current file's tracks, labels, speech lane, reference and summary."""
        self.redraws += 1
        path = record.path
        threshold = self.workspace.threshold(path)
        self.timeline.set_tracks(record.tracks, threshold)
        self.timeline.set_speech(*_speech_lane(record))
        self.speaker_panel.set_threshold(threshold)
        states, suggestions = {}, {}
        if self.workspace.shows_project_analysis(path):
            key = self.workspace.key_for(path)
            states = {state.label: state for state in self.workspace.session.file(key).slot_states()}
            try:
                suggestions = self.workspace.session.suggestions(key)
            except Exception as exc:  # the gallery must never break drawing
                self.dialogs.status(f"No suggestions: {exc}")
        elif record.state is FileState.DONE:
            # no project yet: the names a retrained model gave its voices, as a project offers them (A accepts,
            # making an untitled project)
            suggestions = {t.label: Suggestion(t.name, t.name_probability, 0, source="model")
                           for t in getattr(record.diarization, "tracks", ()) if getattr(t, "name", None)}
        self.speaker_panel.set_labels(states, suggestions)
        self.speaker_panel.set_tracks(record.tracks, self.summary(record))
        self.speaker_panel.select_label(self.workspace.selected_slot)
        self.timeline.select_track(self.workspace.selected_slot)
        if record.duration and self.timeline.duration is None:
            self.timeline.set_duration(record.duration)
            if record.view_range is None:
                self.timeline.fit_all()
            self.view.update_position_label()
        self._show_turns(record)
        self._show_reference(path)

    def summary(self, record: FileRecord) -> str:
        state = record.state
        if state is FileState.DONE:
            n = self.workspace.speaker_count(record.path)
            given = f" (count given: {record.speakers})" if record.speakers is not None else ""
            return f"<b>{n} speaker{'s' if n != 1 else ''}</b> among {len(record.tracks)} tracks{given}"
        if state is FileState.ANALYSING:
            return f"Analysing… {record.percent}% ({len(record.tracks)} tracks so far)"
        if state is FileState.WAITING:
            return "Waiting for the model…"
        if state is FileState.FAILED:
            return f"<span style='color:#e05a4f'>Analysis failed:</span> {record.reason}"
        return "Analysis cancelled (Analysis \u203a Re-analyse to run it)."

    def _show_turns(self, record: FileRecord) -> None:
        """The turns lane: each speaker's turns in the colour of their first slot's curve
        (a muted colour for a speaker with no slot), the selected turn framed; dragged
        edges snap to where the speech detector hears speech start and stop."""
        colour_of = {t.label: t.colour for t in record.tracks}
        speakers = self.workspace.speakers(record.path)
        pf = self.workspace.project_file(record.path)
        turns = self.workspace.turns(record.path)
        if turns:  # one bar per turn (a split shows), not their union
            segments = [(t.start, t.end, pf.turn_speaker(t)) for t in turns if pf.turn_speaker(t) is not None]
        else:
            segments = [(a, b, name) for name, _, spans in speakers for a, b in spans]
        name_only = [name for name, slots, _ in speakers if not slots or slots[0] not in colour_of]
        colours = {name: colour_of[slots[0]] if name not in name_only
                   else NAME_ONLY_COLOURS[name_only.index(name) % len(NAME_ONLY_COLOURS)]
                   for name, slots, _ in speakers}
        self.timeline.set_turns(segments, colours,
                                reviewed=pf.reviewed if pf is not None and speakers else (), numbered=True)
        self.timeline.set_snap_points(speech_edges(*_speech_lane(record)))
        self._show_selected_turn()

    def _show_selected_turn(self, *_) -> None:
        turn, path = self.workspace.selected_turn, self.workspace.current
        pf = self.workspace.project_file(path)
        if turn is None or pf is None:
            self.timeline.set_selected_turn(None)
        else:
            self.timeline.set_selected_turn(pf.turn_speaker(turn), turn.start, turn.end)

    def _show_reference(self, path: Path) -> None:
        """The file's reference lane and its DER (status bar)."""
        pf = self.workspace.project_file(path)
        reference = pf.reference if pf is not None else None
        self.timeline.set_reference(reference.segments if reference is not None else None)
        self.der = None
        label = self.status.der_label
        label.hide()
        if reference is None or pf.analysis is None:
            return
        # Here, not at the top: pyannote takes about a second to import, and the window
        # must show at once (benchmarks/gui_responsiveness.py).
        from weighter_gui.core.annotation.exports import evaluate

        try:
            report = evaluate(self.workspace.session.project, keys=[pf.key])
        except Exception as exc:  # a reference that cannot be scored: say so, draw on
            label.setText("DER: \u2013")
            label.setToolTip(str(exc))
            label.show()
            return
        self.der = float(report.der)
        label.setText(f"DER {self.der:.1%} vs {Path(reference.source).name}")
        label.setToolTip(f"<pre>{html.escape(report.table())}</pre>")  # a table: fixed-width font
        label.show()

    def _update_title(self) -> None:
        session, current = self.workspace.session, self.workspace.current
        parts = [current.name] if current is not None else []
        if session is not None:
            parts.append("untitled project" if is_untitled(session.project) else session.path.name)
        self.set_title(" \u2014 ".join(parts + [APP_NAME]))

    # ============================================================ workspace signals

    def _on_workspace_added(self, _path: Path) -> None:
        self.central.setCurrentWidget(self.timeline)

    def _on_workspace_removed(self, _path: Path) -> None:
        self._update_progress()
        if not len(self.workspace):
            self.show_file(None)

    def _on_workspace_state_changed(self, path: Path) -> None:
        self._update_progress()
        if path == self.workspace.current:
            self.speaker_panel.summary.setText(self.summary(self.workspace.get(path)))

    def _on_workspace_tracks_changed(self, path: Path) -> None:
        if path == self.workspace.current:
            self.redraw(self.workspace.get(path))

    def _on_workspace_selection_changed(self, label: str | None) -> None:
        self.speaker_panel.select_label(label)
        self.timeline.select_track(label)

    def _on_view_tracks_look_changed(self) -> None:
        record = self.workspace.get(self.workspace.current)
        if record is not None:
            self.redraw(record)

    def _on_workspace_project_changed(self, _session) -> None:
        self._on_workspace_project_edited(None)
        record = self.workspace.get(self.workspace.current)
        if record is not None:
            self.redraw(record)

    def _on_workspace_project_edited(self, change) -> None:
        """Autosave trouble, what was done or undone, the title, the "label next" list."""
        session = self.workspace.session
        if session is None:
            return
        error = session.save_error
        self.status.save_error_label.setVisible(bool(error))
        if error:
            self.status.save_error_label.setText("Autosave failed")
            self.status.save_error_label.setToolTip(error)
            self.dialogs.status(f"Autosave failed: {error}")
        elif change is not None and change.kind in ("do", "undo", "redo"):
            verb = {"do": "", "undo": "Undone: ", "redo": "Redone: "}[change.kind]
            self.dialogs.status(f"{verb}{change.text}")
        self._update_title()
        try:
            self.rank_panel.set_ranks(session.rank())
        except Exception as exc:  # ranking is advice: never break the window over it
            self.dialogs.status(f"Could not rank the files: {exc}")

    def _update_progress(self) -> None:
        busy = self.workspace.busy()
        running = next((r for r in busy if r.state is FileState.ANALYSING), None)
        waiting = sum(r.state is FileState.WAITING for r in busy)
        widgets = (self.status.progress_label, self.status.progress_bar, self.status.cancel_button)
        if running is None and not waiting:
            for widget in widgets:
                widget.hide()
            return
        text = f"Analysing {running.path.name}" if running else "Loading the model…"
        if waiting and running:
            text += f" (+{waiting} waiting)"
        self.status.progress_label.setText(text)
        self.status.progress_bar.setValue(running.percent if running else 0)
        for widget in widgets:
            widget.show()


def _speech_lane(record: FileRecord) -> tuple[object, float]:
    """What the speech lane shows: the finished analysis's speech, else the live windows'
    so far; (None, hop) when neither detected speech."""
    done = getattr(record.diarization, "speech", None)
    if done is not None:
        return done, float(record.diarization.hop)
    if record.live is not None and record.live.hop is not None:
        return record.live.speech(), record.live.hop
    return None, 0.15
