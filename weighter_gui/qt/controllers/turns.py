"""Editing the current file's turns: select, drag edges, split, join, give to another
speaker, draw, erase, delete (``core.annotation.turns``), each one undo step on the
project session, autosaved. Work without a project goes into an untitled one.

The turns lane shows one row per speaker, in the order of ``ProjectFile.speakers``;
keys 1-9 mean those rows. A row's speaker is a slot's (its turns follow the slot's
name and merges) or a name drawn by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from weighter_gui.core.annotation.labels import LabelError
from weighter_gui.core.annotation.turns import (
    AddTurn,
    DeleteTurn,
    EraseRange,
    GiveRange,
    JoinNext,
    MoveEdge,
    Reassign,
    Split,
    Turn,
    TurnEdit,
    turn_at,
)
from weighter_gui.qt.state.player import Player
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.timeline_view import TimelineView


class TurnsController:
    def __init__(self, workspace: Workspace, timeline: TimelineView, player: Player, dialogs: Dialogs,
                 ensure_project: Callable[[], bool], name_slot_by_index: Callable[[int], None]) -> None:
        self.workspace = workspace
        self.timeline = timeline
        self.player = player
        self.dialogs = dialogs
        self.ensure_project = ensure_project
        self.name_slot_by_index = name_slot_by_index
        timeline.turn_clicked.connect(self.select_at)
        timeline.turn_edge_moved.connect(self.move_edge)
        timeline.turn_dropped.connect(self.drop)
        timeline.turn_drawn.connect(self.draw)

    # ============================================================ reading

    def _file(self, quiet: bool = False):
        """(key, ProjectFile) of the current file, making the untitled project if needed;
        None (with a hint) when its turns cannot be edited yet."""
        path = self.workspace.current
        record = self.workspace.get(path)
        if record is None or record.diarization is None:
            if not quiet:
                self.dialogs.status("Wait for the analysis to finish before editing turns")
            return None
        if not self.ensure_project():
            return None
        key = self.workspace.key_for(path)
        if key is None or not self.workspace.shows_project_analysis(path):
            if not quiet:
                self.dialogs.status("Wait for the analysis to finish before editing turns")
            return None
        return key, self.workspace.session.file(key)

    def _who(self, pf, row: str) -> tuple[str, str]:
        """The speaker reference of a turns-lane row."""
        for sp in pf.speakers():
            if sp.label == row:
                return ("slot", pf.root(sp.slots[0])) if sp.slots else ("name", sp.name or row)
        return ("name", row)

    def _turn(self, pf, row: str, seconds: float) -> Turn | None:
        """The turn of row ``row`` under ``seconds``."""
        mine = [t for t in pf.current_turns() if pf.turn_speaker(t) == row]
        return turn_at(mine, seconds)

    def row_of(self, index: int) -> str | None:
        rows = self.timeline.turn_speakers
        return rows[index] if 0 <= index < len(rows) else None

    # ============================================================ editing

    def edit(self, edit: TurnEdit) -> bool:
        """Apply one edit to the current file (one undo step); select what it leaves."""
        found = self._file()
        if found is None:
            return False
        key, _ = found
        try:
            selected = self.workspace.session.edit_turns(key, edit)
        except (LabelError, ValueError) as exc:
            self.dialogs.status(str(exc))
            return False
        self.workspace.select_turn(selected)
        return True

    def select_at(self, row: str, seconds: float) -> None:
        """A click on a turn: select it, put the playhead there, and select its span (so
        Loop plays it and Mark reviewed marks it)."""
        self.player.seek(seconds)
        self.timeline.set_playhead(seconds, follow=False)
        found = self._file(quiet=True)
        turn = self._turn(found[1], row, seconds) if found is not None else None
        self.workspace.select_turn(turn)
        if turn is not None:
            self.timeline.set_selection((turn.start, turn.end))
            self.player.set_loop_range((turn.start, turn.end))

    def move_edge(self, row: str, start: float, end: float, side: str, to: float) -> None:
        found = self._file()
        if found is not None:
            turn = self._turn(found[1], row, (start + end) / 2)
            if turn is not None:
                self.edit(MoveEdge(turn, side, to))

    def drop(self, row: str, start: float, end: float, to_row: str) -> None:
        found = self._file()
        if found is not None:
            turn = self._turn(found[1], row, (start + end) / 2)
            if turn is not None:
                self.edit(Reassign(turn, self._who(found[1], to_row)))

    def draw(self, row: str, start: float, end: float) -> None:
        found = self._file()
        if found is not None:
            self.edit(AddTurn(start, end, self._who(found[1], row)))

    def split(self) -> None:
        """Cut the selected turn (or the turn under the playhead) at the playhead."""
        found = self._file()
        if found is None:
            return
        at = self.player.position
        turn = self.workspace.selected_turn
        if turn is None or not turn.start < at < turn.end:
            turn = turn_at(found[1].current_turns(), at)
        if turn is None:
            self.dialogs.status("Put the playhead inside a turn to split it (click the turn where to cut)")
            return
        self.edit(Split(turn, at))

    def join_next(self) -> None:
        if self._need_selected():
            self.edit(JoinNext(self.workspace.selected_turn))

    def delete(self) -> None:
        if self._need_selected():
            self.edit(DeleteTurn(self.workspace.selected_turn))

    def erase(self) -> None:
        """Nobody speaks in the selected range."""
        span = self.timeline.selection()
        if span is None:
            self.dialogs.status("Shift-drag over the range where nobody speaks first")
            return
        self.edit(EraseRange(*span))

    def number_key(self, index: int) -> None:
        """Keys 1-9: give the selected turn to speaker row N; with no turn but a range
        selected (and no slot), give the range to row N; else name the selected slot."""
        turn, span = self.workspace.selected_turn, self.timeline.selection()
        if turn is None and (span is None or self.workspace.selected_slot is not None):
            self.name_slot_by_index(index)
            return
        found = self._file()
        row = self.row_of(index)
        if found is None or row is None:
            self.dialogs.status(f"This file has no speaker row {index + 1}")
            return
        who = self._who(found[1], row)
        self.edit(Reassign(turn, who) if turn is not None else GiveRange(*span, who))

    def add_for(self, index: int) -> None:
        """Ctrl+1-9: a turn for speaker row N over the selected range, beside the others."""
        span = self.timeline.selection()
        row = self.row_of(index)
        if span is None or row is None:
            self.dialogs.status("Shift-drag over the missed speech, then Ctrl+1-9 for whose it is")
            return
        found = self._file()
        if found is not None:
            self.edit(AddTurn(*span, self._who(found[1], row)))

    def ask_add(self) -> None:
        """Enter: a turn over the selected range for a speaker picked or typed by name."""
        span = self.timeline.selection()
        if span is None:
            self.dialogs.status("Shift-drag over the missed speech first")
            return
        found = self._file()
        if found is None:
            return
        rows = self.timeline.turn_speakers
        known = rows + [n for n in self.workspace.session.speaker_names() if n not in rows]
        name = self.dialogs.ask_name("Add a turn", f"Who speaks from {span[0]:.2f} to {span[1]:.2f} s?", known)
        if name:
            who = self._who(found[1], name) if name in rows else ("name", name)
            self.edit(AddTurn(*span, who))

    def play(self) -> None:
        """Play the selected turn, looping."""
        if not self._need_selected():
            return
        turn = self.workspace.selected_turn
        self.timeline.set_selection((turn.start, turn.end))
        self.player.set_loop_range((turn.start, turn.end))
        self.player.set_looping(True)
        self.player.seek(turn.start)
        self.player.play()

    def _need_selected(self) -> bool:
        if self.workspace.selected_turn is None:
            self.dialogs.status("Click a turn in the turns lane first")
            return False
        return True
