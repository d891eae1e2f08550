"""Labelling the selected slot of the current file, the threshold, undo and redo.

A click on a curve or on a speaker row selects that slot in the workspace (one hop:
view signal -> ``select_slot`` -> workspace); every label change is one call on the
project session, one undo step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtGui import QAction

from weighter_gui.qt.actions import NAME_KEYS
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs


class LabellingController:
    def __init__(self, workspace: Workspace, dialogs: Dialogs,
                 selected_range: Callable[[], tuple[float, float] | None],
                 ensure_project: Callable[[], bool]) -> None:
        self.workspace = workspace
        self.dialogs = dialogs
        self.selected_range = selected_range  # the time range shift-dragged on the plots, if any
        self.ensure_project = ensure_project  # the open project, or a new untitled one

    @property
    def session(self):
        return self.workspace.session

    # ============================================================ selection

    def select_slot(self, label: str | None) -> None:
        self.workspace.select_slot(label)

    def name_activated(self, label: str) -> None:
        """A double-clicked speaker row: select it and ask its name."""
        self.select_slot(label)
        self.ask_name_selected()

    def set_threshold(self, value: float) -> None:
        if self.workspace.current is not None:
            self.workspace.set_threshold(self.workspace.current, value)

    def need_project(self) -> bool:
        """A project to label in: with a file open, an untitled one is made if needed."""
        if self.session is None and self.workspace.current is None:
            return self.dialogs.require_project(None)
        return self.ensure_project()

    def selected(self) -> tuple[str, str] | None:
        """(file key, slot label) picked for labelling, or None (with a hint)."""
        if not self.need_project():
            return None
        key = self.workspace.key_for(self.workspace.current)
        label = self.workspace.selected_slot
        if key is None or label is None:
            self.dialogs.status("Pick a slot first: click its row in the speaker panel or its curve")
            return None
        pf = self.session.file(key)
        if pf.analysis is None or pf.analysis.slot(label) is None:
            self.dialogs.status("Wait for the analysis to finish before labelling")
            return None
        return key, label

    def known_names(self) -> list[str]:
        return self.session.speaker_names() if self.session is not None else []

    def ask_name(self, title: str, prompt: str, current: str = "") -> str | None:
        return self.dialogs.ask_name(title, prompt, self.known_names(), current)

    # ============================================================ labels

    def name_selected(self, name: str | None) -> bool:
        picked = self.selected()
        return picked is not None and self.dialogs.attempt(self.session.name_slot, *picked, name)

    def ask_name_selected(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        key, label = picked
        current = self.session.file(key).name_of(label) or ""
        name = self.ask_name("Name slot", f"Who is {label} in {key}?", current)
        if name:
            self.dialogs.attempt(self.session.name_slot, key, label, name)

    def name_by_index(self, index: int) -> None:
        names = self.known_names()
        if index >= len(names):
            self.dialogs.status(f"There is no known speaker {index + 1} yet (names: {', '.join(names) or 'none'})")
            return
        self.name_selected(names[index])

    def accept_suggestion(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        key, label = picked
        suggestion = self.session.suggestions(key).get(label)
        if suggestion is None:
            self.dialogs.status(f"No suggestion for {label}: name the speaker in another file first")
            return
        self.dialogs.attempt(self.session.name_slot, key, label, suggestion.name)

    def accept_all_suggestions(self) -> None:
        if not self.need_project():
            return
        key = self.workspace.key_for(self.workspace.current)
        if key is None:
            return
        pf = self.session.file(key)
        open_slots = {s.label for s in pf.slot_states() if s.name is None and not s.not_speaker and s.kept}
        names = {label: s.name for label, s in self.session.suggestions(key).items() if label in open_slots}
        if not names:
            self.dialogs.status("No suggestions to accept")
            return
        self.dialogs.attempt(self.session.accept_suggestions, key, names)

    def toggle_not_speaker(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        key, label = picked
        marked = label in self.session.file(key).labels.not_speaker
        self.dialogs.attempt(self.session.mark_not_speaker, key, label, not marked)

    def ask_merge(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        key, label = picked
        others = {f"{s.label} ({s.name})" if s.name else s.label: s.label
                  for s in self.session.file(key).slot_states() if s.label != label and not s.not_speaker}
        choice = self.dialogs.ask_item("Merge slot", f"Merge {label} into:", list(others))
        if choice is not None:
            self.dialogs.attempt(self.session.merge_slots, key, label, others[choice])

    def unmerge(self) -> None:
        picked = self.selected()
        if picked is not None:
            self.dialogs.attempt(self.session.unmerge_slot, *picked)

    def ask_add_like(self) -> None:
        if not self.need_project():
            return
        key = self.workspace.key_for(self.workspace.current)
        if key is None:
            self.dialogs.status("Select a file of the project first")
            return
        name = self.ask_name("Add like", f"A speaker in {key} the model missed:")
        if name:
            self.dialogs.attempt(self.session.add_like, key, name)

    def ask_rename(self) -> None:
        if not self.need_project():
            return
        names = self.known_names()
        if not names:
            self.dialogs.status("No speaker named yet")
            return
        current = None
        key, label = self.workspace.key_for(self.workspace.current), self.workspace.selected_slot
        if key is not None and label is not None:
            current = self.session.file(key).name_of(label)
        old = current or self.dialogs.ask_item("Rename speaker", "Speaker to rename:", names)
        if old is None:
            return
        new = self.ask_name("Rename speaker", f"New name for {old} (in every file):", old)
        if new and new != old:
            self.dialogs.attempt(self.session.rename_speaker, old, new)

    def mark_reviewed(self, reviewed: bool = True) -> bool:
        """The selected time range (with none, the whole file) checked by you, or not."""
        if not self.need_project():
            return False
        path = self.workspace.current
        key = self.workspace.key_for(path)
        record = self.workspace.get(path)
        if key is None or record is None or not record.duration:
            self.dialogs.status("Select an analysed file of the project first")
            return False
        start, end = self.selected_range() or (0.0, record.duration)
        return self.dialogs.attempt(self.session.mark_reviewed, key, start, end, reviewed)

    # ============================================================ undo

    def undo(self) -> None:
        if self.session is not None and self.session.can_undo:
            self.session.undo()

    def redo(self) -> None:
        if self.session is not None and self.session.can_redo:
            self.session.redo()

    def can_undo(self) -> bool:
        return self.session is not None and self.session.can_undo

    def can_redo(self) -> bool:
        return self.session is not None and self.session.can_redo

    def update_texts(self, actions: Mapping[str, QAction]) -> None:
        """Undo and redo say what they would do; keys 1-9 say whose name they give."""
        project = self.session
        actions["undo"].setText(f"&Undo {project.undo_text}" if self.can_undo() else "&Undo")
        actions["redo"].setText(f"&Redo {project.redo_text}" if self.can_redo() else "&Redo")
        names = self.known_names()
        for i in range(NAME_KEYS):
            actions[f"name_known_{i + 1}"].setText(names[i] if i < len(names) else f"Name as known speaker {i + 1}")
