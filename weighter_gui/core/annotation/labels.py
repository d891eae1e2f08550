"""What the user says about a file: slot names, "not a speaker" marks, merges and likes,
the reference diarization, and what the project remembers about the audio.

Vocabulary
----------
*Key*: a file's id in the project, made from the audio file's name (``conv 1.wav``
-> ``conv_1``; ``-2``, ``-3`` for repeats). It is also the RTTM uri and the
manifest id. *Slot*: one track of the file's analysis, by its label (``S1``).
*Like*: a speaker the user says is in the file: the name of a named slot, or a name
added by hand for a speaker the model missed.

Label rules
-----------
* Naming a slot makes its name a like. Names live on a merge group's root slot:
  naming a merged slot names its group.
* ``merges`` maps a slot to the slot it joined (always a root: chains are
  flattened). The group's name is the target's, else the source's.
* A slot marked "not a speaker" has no name and is in no group. Marking a group's
  root marks the whole group.
* A slot is *kept* (a speaker in the exports) if it is not marked "not a speaker"
  and its group is named or its group's best confidence reaches the file's
  threshold. Two groups with the same name are one speaker in the exports.

Re-analysing a file carries the labels over to the new slots by time overlap of their
segments (``remap_labels``: Hungarian matching, IoU >= 0.3; time overlap, not
embeddings, because a retrained model's embeddings live in another space). A named
slot with no counterpart becomes a hand-added like, so the file keeps its speakers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from weighter_gui.core.annotation.analysis import Analysis
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.segments import overlap_seconds, union_segments

REMAP_MIN_OVERLAP = 0.3  # IoU of speech time for a new slot to inherit an old slot's labels
MAX_NAME_LENGTH = 100


class LabelError(ProjectError, ValueError):
    """A labelling action that does not fit the file (unknown slot, bad name, ...)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(name: object) -> str:
    """A speaker name as stored: stripped; raises ``LabelError`` for an unusable one."""
    if not isinstance(name, str):
        raise LabelError(f"a speaker name must be text, not {type(name).__name__}")
    name = name.strip()
    if not name:
        raise LabelError("a speaker name cannot be empty")
    if _CONTROL.search(name):
        raise LabelError(
            f"speaker name {name!r} holds a tab, line break or control character; type it on one line"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise LabelError(f"speaker name is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    return name


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)


class Labels:
    """What the user said about one file. Immutable: every change builds a new one."""

    names: Mapping[str, str] = field(default_factory=dict)  # root slot -> speaker name
    not_speaker: frozenset[str] = frozenset()  # slots that are no speaker
    merges: Mapping[str, str] = field(default_factory=dict)  # slot -> the root slot it joined
    likes: frozenset[str] = frozenset()  # names added by hand (speakers without a slot)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _frozen(self.names))
        object.__setattr__(self, "merges", _frozen(self.merges))
        object.__setattr__(self, "not_speaker", frozenset(self.not_speaker))
        object.__setattr__(self, "likes", frozenset(self.likes))

    @property
    def touched(self) -> frozenset[str]:
        """Slots the user has settled: named, merged (either end) or marked not a speaker."""
        return (
            frozenset(self.names)
            | self.not_speaker
            | frozenset(self.merges)
            | frozenset(self.merges.values())
        )

    @property
    def empty(self) -> bool:
        return not (self.names or self.not_speaker or self.merges or self.likes)

    def root(self, label: str) -> str:
        return self.merges.get(label, label)

    def members(self, root: str) -> list[str]:
        return [root] + sorted(s for s, t in self.merges.items() if t == root)

    def to_json(self) -> dict:
        return {
            "names": dict(self.names),
            "not_speaker": sorted(self.not_speaker),
            "merges": dict(self.merges),
            "likes": sorted(self.likes),
        }


@dataclass(frozen=True)


class Reference:
    """A reference diarization for one file (imported RTTM, TextGrid or Audacity labels)."""

    segments: tuple[tuple[float, float, str], ...]
    source: str = ""  # the file it came from, as the user picked it


@dataclass(frozen=True)


class AudioFacts:
    """Facts about the audio file, cached against its size and modification time."""

    size: int
    mtime_ns: int
    sha256: str | None = None
    sample_rate: int | None = None
    duration: float | None = None


@dataclass(frozen=True)


class SlotState:
    """One slot as the speaker panel shows it."""

    label: str
    confidence: float
    speech_seconds: float
    name: str | None  # the group's name
    root: str  # the group's root slot (itself when not merged)
    merged_into: str | None
    not_speaker: bool
    kept: bool  # a speaker in the corrected diarization


@dataclass(frozen=True)


class Speaker:
    """One speaker of the corrected diarization of a file."""

    label: str  # the name, or the unnamed root slot's label
    name: str | None
    slots: tuple[str, ...]
    segments: tuple[tuple[float, float], ...]  # sorted, non-overlapping


def labels_from_json(d: object, analysis: Analysis | None, fail) -> Labels:
    if not isinstance(d, dict):
        raise fail('"labels" must be an object')
    names, not_speaker, merges, likes = (
        d.get("names", {}),
        d.get("not_speaker", []),
        d.get("merges", {}),
        d.get("likes", []),
    )
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise fail('"labels.names" must map slot labels to speaker names')
    if not isinstance(merges, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in merges.items()
    ):
        raise fail('"labels.merges" must map slot labels to slot labels')
    if not isinstance(not_speaker, list) or not all(isinstance(s, str) for s in not_speaker):
        raise fail('"labels.not_speaker" must be a list of slot labels')
    if not isinstance(likes, list) or not all(isinstance(s, str) for s in likes):
        raise fail('"labels.likes" must be a list of speaker names')
    try:
        names = {k: check_name(v) for k, v in names.items()}
        likes = {check_name(v) for v in likes}
    except LabelError as e:
        raise fail(str(e)) from None
    slots = set(analysis.labels) if analysis is not None else set()
    for what, used in (
        ("names", names),
        ("merges", set(merges) | set(merges.values())),
        ("not_speaker", not_speaker),
    ):
        unknown = sorted(set(used) - slots)
        if unknown:
            where = "the analysis has no such slot" if analysis is not None else "the file has no analysis"
            raise fail(f'"labels.{what}" names slot(s) {", ".join(unknown)}, but {where}')
    for source, target in merges.items():
        if source == target or target in merges:
            raise fail(
                f'"labels.merges": {source} -> {target} must point at a slot that is merged into nothing'
            )
        if source in names or source in not_speaker or target in not_speaker:
            raise fail(
                f'"labels.merges": {source} -> {target} conflicts with a name or a "not a speaker" mark'
            )
    both = sorted(set(names) & set(not_speaker))
    if both:
        raise fail(f"slot(s) {', '.join(both)} are both named and marked not a speaker")
    return Labels(names, frozenset(not_speaker), merges, frozenset(likes))


def match_slots(old: Analysis, new: Analysis, min_overlap: float = REMAP_MIN_OVERLAP) -> dict[str, str]:
    """Old slot -> new slot, one-to-one by the IoU of their speech time (Hungarian)."""
    if not (old.slots and new.slots):
        return {}
    from scipy.optimize import linear_sum_assignment

    iou = np.zeros((len(old.slots), len(new.slots)))
    for i, a in enumerate(old.slots):
        sa = union_segments(a.segments)
        for j, b in enumerate(new.slots):
            sb = union_segments(b.segments)
            inter = overlap_seconds(sa, sb)
            union = sum(y - x for x, y in sa) + sum(y - x for x, y in sb) - inter
            iou[i, j] = inter / union if union > 0 else 0.0
    rows, cols = linear_sum_assignment(-iou)
    return {old.slots[r].label: new.slots[c].label for r, c in zip(rows, cols) if iou[r, c] >= min_overlap}


def remap_labels(
    old: Analysis | None, labels: Labels, new: Analysis, min_overlap: float = REMAP_MIN_OVERLAP
) -> tuple[Labels, dict[str, str], list[str]]:
    """Carry ``labels`` from ``old``'s slots to ``new``'s: (labels, old->new slot, lost).

    Slots are matched one-to-one by the IoU of their speech time (Hungarian). A named
    group none of whose slots has a match becomes a hand-added like; ``lost`` says,
    in words, which marks could not be carried.
    """
    if old is None:
        return Labels(likes=labels.likes), {}, []
    mapping = match_slots(old, new, min_overlap)
    if not labels.touched:
        return Labels(likes=labels.likes), mapping, []
    names: dict[str, str] = {}
    merges: dict[str, str] = {}
    not_speaker: set[str] = set()
    likes = set(labels.likes)
    lost: list[str] = []
    roots = [s.label for s in old.slots if s.label in labels.names or s.label in labels.merges.values()]
    for root in roots:
        group = labels.members(root)
        mapped = [mapping[x] for x in group if x in mapping]
        name = labels.names.get(root)
        if not mapped:
            if name is not None:
                likes.add(name)
                lost.append(f"{root} ({name}): no matching slot; kept as a like without timings")
            continue
        new_root = mapping.get(root, mapped[0])
        if name is not None:
            names[new_root] = name
        for m in mapped:
            if m != new_root:
                merges[m] = new_root
    for x in sorted(labels.not_speaker):
        if x in mapping:
            not_speaker.add(mapping[x])
        else:
            lost.append(f"{x} (not a speaker): no matching slot")
    return Labels(names, frozenset(not_speaker), merges, frozenset(likes)), mapping, lost

