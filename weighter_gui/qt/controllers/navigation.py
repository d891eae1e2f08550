"""Go: from the playhead to the next or previous place that needs attention in the
current file: a speaker starting a turn, a stretch the model is unsure of, a
disagreement with the file's reference (``core.annotation.attention``)."""

from __future__ import annotations

import numpy as np

from weighter_gui.core.annotation.attention import disagreements, speaker_starts, step, unsure_stretches
from weighter_gui.qt.state.player import Player
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.timeline_view import TimelineView, format_clock


class NavigationController:
    def __init__(self, workspace: Workspace, player: Player, timeline: TimelineView, dialogs: Dialogs) -> None:
        self.workspace = workspace
        self.player = player
        self.timeline = timeline
        self.dialogs = dialogs

    def speaker_change(self, forward: bool = True) -> float | None:
        turns = self._turns()
        return self._go(speaker_starts(turns), forward, "speaker change")

    def unsure(self, forward: bool = True) -> float | None:
        record = self.workspace.get(self.workspace.current)
        if record is None or record.diarization is None:
            return self._go([], forward, "unsure stretch")
        kept = {slot for _, slots, _ in self.workspace.speakers(record.path) for slot in slots}
        curves = [t.curve for t in record.tracks if t.label in kept]
        hop = record.tracks[0].hop if record.tracks else 0.15
        length = min((len(c) for c in curves), default=0)
        stretches = unsure_stretches(np.stack([c[:length] for c in curves]) if curves else np.zeros((0, 0)),
                                     hop, getattr(record.diarization, "speech", None))
        return self._go([a for a, _ in stretches], forward, "unsure stretch")

    def disagreement(self, forward: bool = True) -> float | None:
        pf = self.workspace.project_file(self.workspace.current)
        record = self.workspace.get(self.workspace.current)
        if pf is None or pf.reference is None or record is None or record.duration is None:
            self.dialogs.status("Import a reference for this file first (Label \u203a Import reference)")
            return None
        found = disagreements(pf.reference.segments, self._turns(), record.duration)
        return self._go([a for a, _, _ in found], forward, "disagreement with the reference")

    def _turns(self) -> list[tuple[float, float, str]]:
        if self.workspace.current is None:
            return []
        return [(a, b, name) for name, _, turns in self.workspace.speakers(self.workspace.current) for a, b in turns]

    def _go(self, points: list[float], forward: bool, what: str) -> float | None:
        """Move the playhead (and the view) to the next or previous point; say where."""
        if self.workspace.current is None:
            return None
        target = step(points, self.player.position, forward)
        if target is None:
            self.dialogs.status(f"No {'later' if forward else 'earlier'} {what}")
            return None
        self.player.seek(target)
        self.timeline.set_playhead(target, follow=True)
        self.dialogs.status(f"{what.capitalize()} at {format_clock(target, 1)}", 3000)
        return target
