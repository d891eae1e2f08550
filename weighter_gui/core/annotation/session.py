"""What the GUI holds: the project, its undo stack, the speaker gallery and autosave,
with one method per user action. Each change is announced as a ``Change``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from weighter_gui.core.annotation.analysis import Analysis
from weighter_gui.core.annotation.commands import (
    AddFiles,
    AddLike,
    Command,
    EditTurns,
    MarkNotSpeaker,
    MarkReviewed,
    MergeSlots,
    NameSlots,
    RelinkFile,
    RemoveFile,
    RemoveLike,
    RenameSpeaker,
    SetAnalysis,
    SetReference,
    SetThreshold,
    UndoStack,
    UnmergeSlot,
)
from weighter_gui.core.annotation.gallery import (
    FileRank,
    Gallery,
    Suggestion,
    rank_files,
)
from weighter_gui.core.annotation.labels import Reference
from weighter_gui.core.annotation.project import Project, ProjectFile, key_base
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.annotation.turns import ReplaceAll, Turn, TurnEdit
from weighter_gui.core.io.label_files import LabelFileError, read_turns, read_uem
from weighter_gui.core.model.speaker_space import shipped_space


@dataclass(frozen=True)


class Change:
    """What a ``ProjectSession`` listener hears after every change."""

    kind: str  # "do", "undo", "redo", "analysis" (a first analysis), "save"
    text: str  # the step's text, e.g. "Name S1 in conv1 'anna'"
    keys: tuple[str, ...]  # files touched; () means any file may have changed
    saved: bool  # the change is on disk
    save_error: str | None = None  # why autosave failed (the change is still in memory)


class ProjectSession:
    """A project being labelled: project + undo stack + gallery + autosave.

    The GUI holds one and calls its methods; each user action is one undo step.
    After every change the project is saved (when ``autosave`` and it has a path)
    and listeners get a ``Change``. A failed autosave does not raise: the change
    stays in memory, ``save_error`` says why, and the next change tries again.
    """

    def __init__(self, project: Project, *, autosave: bool = True, undo_limit: int = 1000) -> None:
        self.project = project
        self.stack = UndoStack(project, undo_limit)
        self.autosave = autosave
        self.save_error: str | None = None
        self.dirty = False
        self._gallery: Gallery | None = None
        self._listeners: list[Callable[[Change], None]] = []
        self.stack.add_listener(self._on_stack)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs) -> ProjectSession:
        return cls(Project.load(path), **kwargs)

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, overwrite: bool = False, **kwargs) -> ProjectSession:
        return cls(Project.create(path, overwrite=overwrite), **kwargs)

    # -- listening and saving ---------------------------------------------------------

    def add_listener(self, fn: Callable[[Change], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Change], None]) -> None:
        self._listeners.remove(fn)

    def _on_stack(self, event: str, cmd: Command) -> None:
        self._changed(event, cmd.text, cmd.keys)

    def _changed(self, kind: str, text: str, keys: tuple[str, ...]) -> None:
        self._gallery = None
        self.dirty = True
        saved = False
        if self.autosave and self.project.path is not None:
            saved = self._try_save()
        for fn in list(self._listeners):
            fn(Change(kind, text, tuple(keys), saved, self.save_error))

    def _try_save(self) -> bool:
        try:
            self.project.save()
        except ProjectError as e:
            self.save_error = str(e)
            return False
        self.save_error = None
        self.dirty = False
        return True

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save now (``path``: save as). Raises ``ProjectError``."""
        target = self.project.save(path)
        self.save_error = None
        self.dirty = False
        for fn in list(self._listeners):
            fn(Change("save", f"Saved {target.name}", (), True))
        return target

    # -- reading ----------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """Where the project is saved."""
        return self.project.path

    @property
    def files(self) -> Mapping[str, ProjectFile]:
        """Key -> file, in project order."""
        return self.project.files

    def file(self, key: str) -> ProjectFile:
        return self.project.file(key)

    def key_for(self, audio: str | os.PathLike[str]) -> str | None:
        return self.project.key_for(audio)

    def speaker_names(self) -> list[str]:
        return self.project.speaker_names()

    def missing_files(self) -> list[str]:
        return self.project.missing_files()

    @property
    def gallery(self) -> Gallery:
        """The speaker gallery, rebuilt from the labels after any change."""
        if self._gallery is None:
            self._gallery = Gallery.from_project(self.project, space=shipped_space())
        return self._gallery

    def suggestions(self, key: str, min_similarity: float = -1.0) -> dict[str, Suggestion]:
        """Slot label -> suggested name and similarity, from the other files' labels."""
        return self.gallery.suggest_file(self.project.file(key), min_similarity=min_similarity)

    def rank(self) -> list[FileRank]:
        """Files, most worth labelling next first (``gallery.rank_files``)."""
        return rank_files(self.project, self.gallery)

    @property
    def can_undo(self) -> bool:
        return self.stack.can_undo

    @property
    def can_redo(self) -> bool:
        return self.stack.can_redo

    @property
    def undo_text(self) -> str:
        return self.stack.undo_text

    @property
    def redo_text(self) -> str:
        return self.stack.redo_text

    # -- actions (one undo step each) -------------------------------------------------

    def push(self, cmd: Command) -> Command | None:
        return self.stack.push(cmd)

    def undo(self) -> Command | None:
        return self.stack.undo()

    def redo(self) -> Command | None:
        return self.stack.redo()

    def add_files(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Add audio files; returns the new keys (files already there are skipped)."""
        cmd = AddFiles(paths)
        self.stack.push(cmd)
        return cmd.added

    def remove_file(self, key: str) -> None:
        self.stack.push(RemoveFile(key))

    def relink_file(self, key: str, audio: str | os.PathLike[str]) -> None:
        self.stack.push(RelinkFile(key, audio))

    def name_slot(self, key: str, label: str, name: str | None) -> None:
        self.stack.push(NameSlots(key, {label: name}))

    def accept_suggestions(self, key: str, names: Mapping[str, str]) -> None:
        """Name several slots at once (one undo step)."""
        self.stack.push(NameSlots(key, names))

    def mark_not_speaker(self, key: str, label: str, not_speaker: bool = True) -> None:
        self.stack.push(MarkNotSpeaker(key, label, not_speaker))

    def merge_slots(self, key: str, source: str, target: str) -> None:
        self.stack.push(MergeSlots(key, source, target))

    def unmerge_slot(self, key: str, label: str) -> None:
        self.stack.push(UnmergeSlot(key, label))

    def add_like(self, key: str, name: str) -> None:
        self.stack.push(AddLike(key, name))

    def remove_like(self, key: str, name: str) -> None:
        self.stack.push(RemoveLike(key, name))

    def rename_speaker(self, old: str, new: str) -> None:
        self.stack.push(RenameSpeaker(old, new))

    def mark_reviewed(self, key: str, start: float, end: float, reviewed: bool = True) -> None:
        self.stack.push(MarkReviewed(key, start, end, reviewed))

    def edit_turns(self, key: str, edit: TurnEdit) -> Turn | None:
        """One edit of a file's turns (one undo step); returns the turn to select."""
        cmd = EditTurns(key, edit)
        self.stack.push(cmd)
        return cmd.selected

    def set_threshold(self, key: str, threshold: float | None) -> None:
        self.stack.push(SetThreshold(key, threshold))

    def set_analysis(self, key: str, diarization) -> SetAnalysis | None:
        """Store a file's analysis (a ``FileDiarization`` or an ``Analysis``).

        A first analysis just fills the file in (no undo step; listeners hear
        ``"analysis"``). Replacing one is an undo step whose labels follow the slots;
        the returned ``SetAnalysis`` has ``mapping`` (old -> new slot) and ``lost``.
        """
        analysis = (
            diarization if isinstance(diarization, Analysis) else Analysis.from_diarization(diarization)
        )
        pf = self.project.file(key)
        if pf.analysis is None:
            pf.analysis = analysis
            self._changed("analysis", f"Analyse {key}", (key,))
            return None
        cmd = SetAnalysis(key, analysis)
        self.stack.push(cmd)
        return cmd

    def import_reference(self, key: str, path: str | os.PathLike[str]) -> Reference:
        """Read an RTTM, TextGrid or Audacity label file as ``key``'s reference."""
        pf = self.project.file(key)
        try:
            segments = read_turns(path, uris=(key, key_base(pf.audio)))
        except LabelFileError as e:
            raise ProjectError(str(e)) from None
        ref = Reference(tuple(segments), str(Path(path)))
        self.stack.push(SetReference(key, ref))
        return ref

    def import_turns(self, key: str, path: str | os.PathLike[str], tier: str | None = None,
                     uem: str | os.PathLike[str] | None = None) -> int:
        """Another system's diarization of ``key`` (any ``core.io.label_files`` format) as
        its turns, to correct (one undo step). Its speakers are names, so a name the
        project knows is that speaker. With a UEM (given, or ``NAME.uem`` beside an RTTM)
        only the turns inside its ranges are taken. Returns the number of turns. A file
        that cannot be read raises ``ProjectError`` and changes nothing."""
        pf = self.project.file(key)
        uris = (key, key_base(pf.audio))
        path = Path(path)
        if uem is None and path.suffix.lower() == ".rttm" and path.with_suffix(".uem").is_file():
            uem = path.with_suffix(".uem")
        try:
            segments = read_turns(path, uris=uris, tier=tier)
            ranges = read_uem(uem, uris=uris) if uem is not None else None
        except LabelFileError as e:
            raise ProjectError(str(e)) from None
        if ranges is not None:
            segments = [(max(a, x), min(b, y), s) for a, b, s in segments for x, y in ranges if min(b, y) > max(a, x)]
        turns = tuple(Turn(round(a, 3), round(b, 3), None, s) for a, b, s in segments)
        self.stack.push(EditTurns(key, ReplaceAll(turns, f"Import turns from {path.name}")))
        return len(self.project.file(key).current_turns())

    def clear_reference(self, key: str) -> None:
        self.stack.push(SetReference(key, None))

