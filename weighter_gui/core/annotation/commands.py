"""Every change to a project is a ``Command`` that can be undone and redone; the
``UndoStack`` keeps them.

* ``RemoveLike`` removes a name from a file: hand-added and slot names alike.
* ``RenameSpeaker`` renames in every file; renaming to an existing name joins the
  two speakers.
* ``SetAnalysis`` on a file that has one carries its labels over (``remap_labels``).
  A file's *first* analysis is not an undo step: it fills a blank, and no label
  refers to its slots yet.
* Threshold changes close together in time merge into one step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from weighter_gui.core.annotation.analysis import Analysis, Slot
from weighter_gui.core.annotation.labels import (
    LabelError,
    Labels,
    Reference,
    check_name,
    remap_labels,
)
from weighter_gui.core.annotation.project import Project, ProjectFile
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.annotation.turns import Turn, TurnEdit, check_turns
from weighter_gui.core.segments import union_segments

THRESHOLD_MERGE_SECONDS = 2.0  # threshold changes this close together are one undo step


class Command:
    """One undoable change to a project.

    ``do`` applies it the first time and returns False when it changed nothing (it
    is then not recorded); it raises ``LabelError`` before changing anything when
    the action does not fit. ``undo``/``redo`` restore the states captured around
    it. ``text`` is what Edit > Undo shows; ``keys`` the files touched (``()``: any).
    """

    text: str = ""
    keys: tuple[str, ...] = ()

    def do(self, project: Project) -> bool:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError

    def redo(self, project: Project) -> None:
        raise NotImplementedError

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (just done after this one) into this step; False: keep apart."""
        return False


def _pin(value) -> None:
    if isinstance(value, Analysis):
        value.pin()
    elif isinstance(value, ProjectFile) and value.analysis is not None:
        value.analysis.pin()


class _FieldCommand(Command):
    """Changes some fields of existing files; undo puts the old values back."""

    FIELDS: tuple[str, ...] = ("labels",)

    def _plan(self, project: Project) -> dict[str, dict[str, object]]:
        """key -> {field: new value}; validates, changes nothing."""
        raise NotImplementedError

    def _capture(self, project: Project, keys) -> dict[str, tuple]:
        state = {}
        for k in keys:
            values = tuple(getattr(project.file(k), name) for name in self.FIELDS)
            for v in values:
                _pin(v)
            state[k] = values
        return state

    def _restore(self, project: Project, state: dict[str, tuple]) -> None:
        for k, values in state.items():
            pf = project.files.get(k)
            if pf is None:
                raise ProjectError(f"undo history is out of step: file {k!r} is gone")
            for name, v in zip(self.FIELDS, values):
                setattr(pf, name, v)

    def do(self, project: Project) -> bool:
        plan = self._plan(project)
        before = self._capture(project, plan)
        for k, changes in plan.items():
            for name, v in changes.items():
                setattr(project.files[k], name, v)
        after = self._capture(project, plan)
        if all(_same(before[k], after[k]) for k in plan):
            return False
        self._before, self._after = before, after
        if not self.keys:
            self.keys = tuple(plan)
        return True

    def undo(self, project: Project) -> None:
        self._after = self._capture(project, self._before)
        self._restore(project, self._before)

    def redo(self, project: Project) -> None:
        self._before = self._capture(project, self._after)
        self._restore(project, self._after)


def _same(a: tuple, b: tuple) -> bool:
    return all(x is y or (not isinstance(x, Analysis) and x == y) for x, y in zip(a, b))


def _require_slot(pf: ProjectFile, label: str) -> Slot:
    if pf.analysis is None:
        raise LabelError(f"{pf.key} has not been analysed yet; analyse it before labelling its slots")
    slot = pf.analysis.slot(label)
    if slot is None:
        raise LabelError(f"{pf.key} has no slot {label!r} (it has {', '.join(pf.analysis.labels) or 'none'})")
    return slot


class NameSlots(_FieldCommand):
    """Name slots of one file (``None`` removes the name). Naming a merged slot names its group."""

    def __init__(self, key: str, names: Mapping[str, str | None]) -> None:
        self.key = key
        self.names = dict(names)
        if len(self.names) == 1:
            ((label, name),) = self.names.items()
            self.text = (
                f"Name {label} in {key} {name!r}"
                if name is not None
                else f"Clear the name of {label} in {key}"
            )
        else:
            self.text = f"Name {len(self.names)} slots in {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        lab = pf.labels
        names, not_speaker, merges = dict(lab.names), set(lab.not_speaker), dict(lab.merges)
        for label, name in self.names.items():
            _require_slot(pf, label)
            name = check_name(name) if name is not None else None
            root = merges.get(label, label)
            if name is None:
                names.pop(root, None)
            else:
                names[root] = name
                not_speaker.discard(root)
        return {self.key: {"labels": Labels(names, frozenset(not_speaker), merges, lab.likes)}}


class NameSlot(NameSlots):
    """Name one slot (``None``: clear its name)."""

    def __init__(self, key: str, label: str, name: str | None) -> None:
        super().__init__(key, {label: name})


class MarkNotSpeaker(_FieldCommand):
    """Mark a slot "not a speaker" (or clear the mark). A group root takes its group along."""

    def __init__(self, key: str, label: str, not_speaker: bool = True) -> None:
        self.key, self.label, self.flag = key, label, not_speaker
        self.text = f"Mark {label} in {key} not a speaker" if not_speaker else f"Unmark {label} in {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        _require_slot(pf, self.label)
        lab = pf.labels
        names, not_speaker, merges = dict(lab.names), set(lab.not_speaker), dict(lab.merges)
        if self.flag:
            if self.label in merges:  # a merged slot: take it out of its group
                members = [self.label]
                del merges[self.label]
            else:  # a root: the whole group
                members = lab.members(self.label)
                for m in members[1:]:
                    del merges[m]
                names.pop(self.label, None)
            not_speaker |= set(members)
        else:
            not_speaker.discard(self.label)
        return {self.key: {"labels": Labels(names, frozenset(not_speaker), merges, lab.likes)}}


class MergeSlots(_FieldCommand):
    """Join ``source``'s group to ``target``'s: one speaker. The target's name wins."""

    def __init__(self, key: str, source: str, target: str) -> None:
        self.key, self.source, self.target = key, source, target
        self.text = f"Merge {source} into {target} in {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        _require_slot(pf, self.source)
        _require_slot(pf, self.target)
        lab = pf.labels
        rs, rt = lab.root(self.source), lab.root(self.target)
        if rs == rt:
            raise LabelError(f"{self.source} and {self.target} in {self.key} are one speaker already")
        if rt in lab.not_speaker:
            raise LabelError(f"{self.target} in {self.key} is marked not a speaker; clear that mark first")
        names, not_speaker, merges = dict(lab.names), set(lab.not_speaker), dict(lab.merges)
        name = names.get(rt) or names.get(rs)
        for m in lab.members(rs):
            merges[m] = rt
            not_speaker.discard(m)
        names.pop(rs, None)
        if name is not None:
            names[rt] = name
        return {self.key: {"labels": Labels(names, frozenset(not_speaker), merges, lab.likes)}}


class UnmergeSlot(_FieldCommand):
    """Take a slot out of its group (it keeps no name); a root lets its whole group go."""

    def __init__(self, key: str, label: str) -> None:
        self.key, self.label = key, label
        self.text = f"Unmerge {label} in {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        _require_slot(pf, self.label)
        lab = pf.labels
        merges = dict(lab.merges)
        if self.label in merges:
            del merges[self.label]
        else:
            for m in lab.members(self.label)[1:]:
                del merges[m]
        return {self.key: {"labels": replace(lab, merges=merges)}}


class AddLike(_FieldCommand):
    """Say a speaker is in the file without a slot (one the model missed)."""

    def __init__(self, key: str, name: str) -> None:
        self.key, self.name = key, check_name(name)
        self.text = f"Add {self.name!r} to {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        if self.name in pf.likes:
            return {self.key: {}}  # a like already: nothing to do
        return {self.key: {"labels": replace(pf.labels, likes=pf.labels.likes | {self.name})}}


class RemoveLike(_FieldCommand):
    """Say a speaker is not in the file: drops the hand-added like and unnames its slots."""

    def __init__(self, key: str, name: str) -> None:
        self.key, self.name = key, check_name(name)
        self.text = f"Remove {self.name!r} from {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        lab = pf.labels
        names = {k: v for k, v in lab.names.items() if v != self.name}
        return {self.key: {"labels": replace(lab, names=names, likes=lab.likes - {self.name})}}


class RenameSpeaker(_FieldCommand):
    """Rename a speaker in every file (to an existing name: the two become one)."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = check_name(old), check_name(new)
        self.text = f"Rename {self.old!r} to {self.new!r}"

    def _plan(self, project):
        plan = {}
        for key, pf in project.files.items():
            lab = pf.labels
            if self.old not in lab.names.values() and self.old not in lab.likes:
                continue
            names = {k: (self.new if v == self.old else v) for k, v in lab.names.items()}
            likes = (lab.likes - {self.old}) | ({self.new} if self.old in lab.likes else set())
            plan[key] = {"labels": replace(lab, names=names, likes=likes)}
        if not plan:
            raise LabelError(f"no file has a speaker named {self.old!r}")
        return plan


class SetThreshold(_FieldCommand):
    """Override a file's confidence threshold (``None``: the analysis's own)."""

    FIELDS = ("threshold",)

    def __init__(self, key: str, threshold: float | None) -> None:
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
            raise LabelError(f"a threshold is a number from 0 to 1, got {threshold!r}")
        self.key = key
        self.threshold = None if threshold is None else float(threshold)
        self.text = f"Set the threshold of {key}"
        self.keys = (key,)
        self._time = time.monotonic()

    def _plan(self, project):
        project.file(self.key)
        return {self.key: {"threshold": self.threshold}}

    def merge_with(self, other: Command) -> bool:
        if (
            isinstance(other, SetThreshold)
            and other.key == self.key
            and other._time - self._time <= THRESHOLD_MERGE_SECONDS
        ):
            self._time = other._time
            return True
        return False


class SetReference(_FieldCommand):
    """Store (or with ``None`` drop) a reference diarization for a file."""

    FIELDS = ("reference",)

    def __init__(self, key: str, reference: Reference | None) -> None:
        self.key, self.reference = key, reference
        self.text = (
            f"Import the reference of {key}" if reference is not None else f"Remove the reference of {key}"
        )
        self.keys = (key,)

    def _plan(self, project):
        project.file(self.key)
        return {self.key: {"reference": self.reference}}


class MarkReviewed(_FieldCommand):
    """Mark a time range of a file as checked by a person (or, with ``reviewed=False``, no
    longer): its turns there are human timings, and exports write the ranges as UEM."""

    FIELDS = ("reviewed",)

    def __init__(self, key: str, start: float, end: float, reviewed: bool = True) -> None:
        self.key, self.start, self.end, self.reviewed = key, float(start), float(end), reviewed
        span = f"{self.start:.1f}-{self.end:.1f} s"
        self.text = f"Mark {span} of {key} reviewed" if reviewed else f"Unmark {span} of {key}"
        self.keys = (key,)

    def _plan(self, project):
        pf = project.file(self.key)
        if not self.end > self.start >= 0:
            raise LabelError(f"nothing to mark: {self.start:.2f}-{self.end:.2f} s is not a time range")
        end = min(self.end, pf.duration) if pf.duration else self.end
        if self.reviewed:
            ranges = union_segments([*pf.reviewed, (self.start, end)])
        else:
            ranges = tuple(r for a, b in pf.reviewed for r in ((a, min(b, self.start)), (max(a, end), b)) if r[1] > r[0])
        return {self.key: {"reviewed": tuple((round(a, 3), round(b, 3)) for a, b in ranges)}}


class EditTurns(_FieldCommand):
    """One edit of a file's turns (``turns.TurnEdit``). The first edit starts from the
    model's turns as labelled (``ProjectFile.current_turns``); from then on the file's
    turns are the user's. ``selected`` is the turn the edit leaves selected."""

    FIELDS = ("turns",)

    def __init__(self, key: str, edit: TurnEdit) -> None:
        self.key, self.edit = key, edit
        self.text = f"{edit.text} in {key}"
        self.keys = (key,)
        self.selected: Turn | None = None

    def _plan(self, project):
        pf = project.file(self.key)
        result = self.edit.apply(pf.current_turns(), pf.duration)
        for t in result.turns:
            if t.slot is not None and (pf.analysis is None or pf.analysis.slot(t.slot) is None):
                raise LabelError(f"{self.key} has no slot {t.slot!r}")
        check_turns(result.turns, pf.duration)
        self.selected = result.selected
        if pf.turns is None and result.turns == pf.current_turns():
            return {self.key: {}}
        return {self.key: {"turns": result.turns}}


class RelinkFile(_FieldCommand):
    """Point a file at its audio's new place (after a move)."""

    FIELDS = ("audio", "facts")

    def __init__(self, key: str, audio: str | os.PathLike[str]) -> None:
        self.key, self.audio = key, Path(os.path.abspath(audio))
        self.text = f"Relink {key} to {self.audio.name}"
        self.keys = (key,)

    def _plan(self, project):
        project.file(self.key)
        other = project.key_for(self.audio)
        if other is not None and other != self.key:
            raise LabelError(f"{self.audio} is in the project already, as {other}")
        return {self.key: {"audio": self.audio, "facts": None}}


class SetAnalysis(_FieldCommand):
    """Replace a file's analysis; its labels move to the new slots (``remap_labels``)."""

    FIELDS = ("analysis", "labels", "turns")

    def __init__(self, key: str, analysis: Analysis) -> None:
        self.key, self.analysis = key, analysis
        self.text = f"Re-analyse {key}"
        self.keys = (key,)
        self.mapping: dict[str, str] = {}
        self.lost: list[str] = []

    def _plan(self, project):
        pf = project.file(self.key)
        labels, self.mapping, self.lost = remap_labels(pf.analysis, pf.labels, self.analysis)
        return {self.key: {"analysis": self.analysis, "labels": labels, "turns": self._turns(pf)}}

    def _turns(self, pf: ProjectFile) -> tuple[Turn, ...] | None:
        """The user's turns follow the slots: a named slot's turns keep the name, an
        unnamed one's go to the slot it became; a slot with no successor leaves its
        turns under its old label as a name, so no corrected timing is lost."""
        if pf.turns is None:
            return None
        out = []
        for t in pf.turns:
            if t.slot is None:
                out.append(t)
            elif pf.name_of(t.slot) is not None:
                out.append(Turn(t.start, t.end, None, pf.name_of(t.slot)))
            elif self.mapping.get(pf.root(t.slot), self.mapping.get(t.slot)) is not None:
                out.append(Turn(t.start, t.end, self.mapping.get(pf.root(t.slot), self.mapping.get(t.slot))))
            else:
                out.append(Turn(t.start, t.end, None, t.slot))
        merged: list[Turn] = []  # two old slots may map onto one new one: join their overlaps
        for t in sorted(out):
            same = [m for m in merged if m.who == t.who and m.end > t.start]
            if same:
                merged.remove(same[-1])
                t = same[-1].with_span(same[-1].start, max(same[-1].end, t.end))
            merged.append(t)
        return tuple(sorted(merged))


class AddFiles(Command):
    """Add audio files (ones already in the project are skipped). ``added``: the new keys."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.paths = [Path(os.path.abspath(p)) for p in paths]
        self.added: list[str] = []
        self._files: list[ProjectFile] = []

    def do(self, project: Project) -> bool:
        new: list[ProjectFile] = []
        seen: set[str] = set()
        for p in self.paths:
            norm = os.path.normcase(str(p))
            if project.key_for(p) is not None or norm in seen:
                continue
            seen.add(norm)
            key = project.new_key(p, taken=[f.key for f in new])
            new.append(ProjectFile(key, p))
        if not new:
            return False
        for pf in new:
            project.files[pf.key] = pf
        self._files = new
        self.added = [pf.key for pf in new]
        self.keys = tuple(self.added)
        self.text = f"Add {new[0].audio.name}" if len(new) == 1 else f"Add {len(new)} files"
        return True

    def undo(self, project: Project) -> None:
        self._files = [project.files.pop(k) for k in self.added]
        for pf in self._files:
            _pin(pf)

    def redo(self, project: Project) -> None:
        for pf in self._files:
            project.files[pf.key] = pf


class RemoveFile(Command):
    """Take a file (and its labels) out of the project; the audio file is not touched."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.text = f"Remove {key}"
        self.keys = (key,)

    def do(self, project: Project) -> bool:
        project.file(self.key)
        self.redo(project)
        return True

    def undo(self, project: Project) -> None:
        project._insert(self._file, self._index)

    def redo(self, project: Project) -> None:
        self._index = list(project.files).index(self.key)
        self._file = project.files.pop(self.key)
        _pin(self._file)


class Batch(Command):
    """Several commands as one undo step (all or nothing)."""

    def __init__(self, text: str, commands: Iterable[Command]) -> None:
        self.text = text
        self.commands = list(commands)

    def do(self, project: Project) -> bool:
        done: list[Command] = []
        try:
            for c in self.commands:
                if c.do(project):
                    done.append(c)
        except BaseException:
            for c in reversed(done):
                c.undo(project)
            raise
        self.commands = done
        keys: list[str] = []
        for c in done:
            if not c.keys:
                keys = []
                break
            keys += [k for k in c.keys if k not in keys]
        self.keys = tuple(keys)
        return bool(done)

    def undo(self, project: Project) -> None:
        for c in reversed(self.commands):
            c.undo(project)

    def redo(self, project: Project) -> None:
        for c in self.commands:
            c.redo(project)


class UndoStack:
    """Done and undone commands. ``add_listener(fn)``: ``fn(event, command)`` after each.

    ``event`` is ``"do"``, ``"undo"`` or ``"redo"``. Pushing clears the redo side.
    At most ``limit`` steps are kept (the oldest are forgotten).
    """

    def __init__(self, project: Project, limit: int = 1000) -> None:
        self.project = project
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._listeners: list[Callable[[str, Command], None]] = []

    def add_listener(self, fn: Callable[[str, Command], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str, Command], None]) -> None:
        self._listeners.remove(fn)

    def _notify(self, event: str, cmd: Command) -> None:
        for fn in list(self._listeners):
            fn(event, cmd)

    def push(self, cmd: Command) -> Command | None:
        """Do ``cmd``; returns the step recorded (None when nothing changed)."""
        if not cmd.do(self.project):
            return None
        self._undone.clear()
        if self._done and self._done[-1].merge_with(cmd):
            self._notify("do", self._done[-1])
            return self._done[-1]
        self._done.append(cmd)
        del self._done[: max(0, len(self._done) - self.limit)]
        self._notify("do", cmd)
        return cmd

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def undo(self) -> Command | None:
        if not self._done:
            return None
        cmd = self._done.pop()
        cmd.undo(self.project)
        self._undone.append(cmd)
        self._notify("undo", cmd)
        return cmd

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        cmd = self._undone.pop()
        cmd.redo(self.project)
        self._done.append(cmd)
        self._notify("redo", cmd)
        return cmd

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()

