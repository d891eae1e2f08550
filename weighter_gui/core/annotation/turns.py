"""Turns: a file's diarization as the user corrects it, one ``Turn`` per stretch of one
speaker's speech, and the edits that change them.

A turn's speaker is a slot of the model's analysis (``slot``: the slot's speaker, so a
name or a merge given to the slot later applies to its turns) or, for speech the model
gave no slot, a name (``name``). Each edit is a pure function of the turns before it
(``TurnEdit.apply``): the project stores its result with one undoable command
(``commands.EditTurns``), and the app and the correction-effort benchmark use the same
edits.

Invariants every edit keeps (``check_turns``): each turn lies inside the file and is at
least ``MIN_TURN_SECONDS`` long, and one speaker's turns never overlap one another (two
speakers' may: people talk at once). One speaker's turns may touch: a split leaves two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from weighter_gui.core.annotation.labels import LabelError, check_name

MIN_TURN_SECONDS = 0.05  # shorter pieces are dropped (a stray drag, a cut's sliver)
TIME_DECIMALS = 3  # turns are stored to the millisecond


@dataclass(frozen=True, order=True)
class Turn:
    start: float
    end: float
    slot: str | None = None  # the model's slot whose speaker this is
    name: str | None = None  # a speaker with no slot, by name

    @property
    def who(self) -> tuple[str, str]:
        """The speaker reference as one value: ("slot", label) or ("name", name)."""
        return ("slot", self.slot) if self.slot is not None else ("name", self.name)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def with_span(self, start: float, end: float) -> Turn:
        return Turn(_t(start), _t(end), self.slot, self.name)

    def to_json(self) -> dict:
        d = {"start": self.start, "end": self.end}
        d.update({"slot": self.slot} if self.slot is not None else {"name": self.name})
        return d


def speaker_turn(start: float, end: float, who: tuple[str, str]) -> Turn:
    kind, value = who
    return Turn(_t(start), _t(end), value, None) if kind == "slot" else Turn(_t(start), _t(end), None, value)


def _t(seconds: float) -> float:
    return round(float(seconds), TIME_DECIMALS)


def _same_speaker(turns: Iterable[Turn], who) -> list[Turn]:
    return sorted(t for t in turns if t.who == who)


def check_turns(turns: Sequence[Turn], duration: float | None) -> None:
    """Raise ``LabelError`` unless ``turns`` keep the invariants (see the module)."""
    last_end: dict[tuple[str, str], float] = {}
    for t in sorted(turns):
        if not (math.isfinite(t.start) and math.isfinite(t.end)) or t.start < 0:
            raise LabelError(f"a turn cannot start before the file: {t.start:.3f}-{t.end:.3f} s")
        if duration is not None and t.end > duration + 0.5 * 10**-TIME_DECIMALS + 1e-9:  # (stored to the ms)
            raise LabelError(f"a turn cannot run past the file's end ({duration:.3f} s): {t.start:.3f}-{t.end:.3f} s")
        if t.end - t.start < MIN_TURN_SECONDS - 1e-9:
            raise LabelError(f"a turn must last at least {MIN_TURN_SECONDS} s: {t.start:.3f}-{t.end:.3f} s")
        if (t.slot is None) == (t.name is None):
            raise LabelError("a turn belongs to a slot or to a name, not both or neither")
        if t.name is not None:
            check_name(t.name)
        if t.start < last_end.get(t.who, -1.0) - 1e-9:
            raise LabelError(f"one speaker's turns cannot overlap: {t.start:.3f} s is inside their previous turn")
        last_end[t.who] = t.end


def _clip(turns: Iterable[Turn], duration: float | None) -> tuple[Turn, ...]:
    """Sorted; cut to the file; slivers dropped."""
    out = []
    for t in turns:
        start, end = max(0.0, t.start), t.end if duration is None else min(duration, t.end)
        if end - start >= MIN_TURN_SECONDS - 1e-9:
            out.append(t.with_span(start, end))
    return tuple(sorted(out))


def _absorb(turns: Iterable[Turn], new: Turn) -> tuple[list[Turn], Turn]:
    """``new`` joined with its speaker's turns it overlaps or touches."""
    rest, start, end = [], new.start, new.end
    for t in sorted(turns):
        if t.who == new.who and t.start <= end and t.end >= start:
            start, end = min(start, t.start), max(end, t.end)
        else:
            rest.append(t)
    return rest, new.with_span(start, end)


def _cut(turns: Iterable[Turn], start: float, end: float, keep=lambda t: False) -> list[Turn]:
    """Turns with ``start``-``end`` taken out (except those ``keep`` says to leave)."""
    out = []
    for t in turns:
        if keep(t) or t.end <= start or t.start >= end:
            out.append(t)
            continue
        if t.start < start:
            out.append(t.with_span(t.start, start))
        if t.end > end:
            out.append(t.with_span(end, t.end))
    return out


def _find(turns: Sequence[Turn], turn: Turn) -> Turn:
    if turn not in turns:
        raise LabelError(f"no turn {turn.start:.2f}-{turn.end:.2f} s here any more; select it again")
    return turn


@dataclass(frozen=True)
class Result:
    turns: tuple[Turn, ...]
    selected: Turn | None  # the turn to select after the edit


class TurnEdit:
    """One edit; ``apply(turns, duration)`` returns the new turns or raises ``LabelError``."""

    text = ""

    def apply(self, turns: Sequence[Turn], duration: float | None) -> Result:
        raise NotImplementedError


@dataclass(frozen=True)
class MoveEdge(TurnEdit):
    """Move a turn's start or end to ``to`` (held inside the file, away from the speaker's
    neighbouring turns and at least ``MIN_TURN_SECONDS`` from its other edge)."""

    turn: Turn
    side: str  # "start" or "end"
    to: float

    @property
    def text(self) -> str:
        return f"Move a turn's {self.side} to {self.to:.2f} s"

    def apply(self, turns, duration):
        t = _find(turns, self.turn)
        own = _same_speaker(turns, t.who)
        i = own.index(t)
        if self.side == "start":
            low = own[i - 1].end if i > 0 else 0.0
            start = min(max(self.to, low), t.end - MIN_TURN_SECONDS)
            new = t.with_span(start, t.end)
        elif self.side == "end":
            high = own[i + 1].start if i + 1 < len(own) else (duration if duration is not None else math.inf)
            end = max(min(self.to, high), t.start + MIN_TURN_SECONDS)
            new = t.with_span(t.start, end)
        else:
            raise ValueError(f"side must be 'start' or 'end', not {self.side!r}")
        rest = [x for x in turns if x != t]
        return Result(_clip([*rest, new], duration), new)


@dataclass(frozen=True)
class Split(TurnEdit):
    """Cut a turn in two at ``at``."""

    turn: Turn
    at: float
    text = "Split a turn"

    def apply(self, turns, duration):
        t = _find(turns, self.turn)
        at = _t(self.at)
        if not (t.start + MIN_TURN_SECONDS <= at <= t.end - MIN_TURN_SECONDS):
            raise LabelError(f"split inside the turn: {at:.2f} s is not within {t.start:.2f}-{t.end:.2f} s")
        rest = [x for x in turns if x != t]
        second = t.with_span(at, t.end)
        return Result(_clip([*rest, t.with_span(t.start, at), second], duration), second)


@dataclass(frozen=True)
class JoinNext(TurnEdit):
    """Join a turn with the same speaker's next turn (the gap between becomes theirs)."""

    turn: Turn
    text = "Join a turn with the next"

    def apply(self, turns, duration):
        t = _find(turns, self.turn)
        own = _same_speaker(turns, t.who)
        i = own.index(t)
        if i + 1 >= len(own):
            raise LabelError("this speaker has no later turn to join")
        nxt = own[i + 1]
        new = t.with_span(t.start, nxt.end)
        rest = [x for x in turns if x not in (t, nxt)]
        return Result(_clip([*rest, new], duration), new)


@dataclass(frozen=True)
class Reassign(TurnEdit):
    """Give a turn to another speaker (joined with that speaker's turns it overlaps)."""

    turn: Turn
    to: tuple[str, str]  # ("slot", label) or ("name", name)
    text = "Give a turn to another speaker"

    def apply(self, turns, duration):
        t = _find(turns, self.turn)
        if t.who == self.to:
            return Result(tuple(turns), t)
        rest, new = _absorb([x for x in turns if x != t], speaker_turn(t.start, t.end, self.to))
        return Result(_clip([*rest, new], duration), new)


@dataclass(frozen=True)
class GiveRange(TurnEdit):
    """Say that only ``to`` speaks from ``start`` to ``end``: everyone else's turns there are
    cut, and ``to`` gets the range (joined with their turns it overlaps)."""

    start: float
    end: float
    to: tuple[str, str]
    text = "Give a range to one speaker"

    def apply(self, turns, duration):
        a, b = _range(self.start, self.end, duration)
        others = _cut(turns, a, b, keep=lambda t: t.who == self.to)
        rest, new = _absorb(others, speaker_turn(a, b, self.to))
        return Result(_clip([*rest, new], duration), new)


@dataclass(frozen=True)
class AddTurn(TurnEdit):
    """Draw a turn for a speaker over a range, leaving the others' turns as they are
    (missed speech, or a second voice inside someone's turn)."""

    start: float
    end: float
    to: tuple[str, str]
    text = "Add a turn"

    def apply(self, turns, duration):
        a, b = _range(self.start, self.end, duration)
        rest, new = _absorb(turns, speaker_turn(a, b, self.to))
        return Result(_clip([*rest, new], duration), new)


@dataclass(frozen=True)
class DeleteTurn(TurnEdit):
    turn: Turn
    text = "Delete a turn"

    def apply(self, turns, duration):
        t = _find(turns, self.turn)
        return Result(tuple(x for x in turns if x != t), None)


@dataclass(frozen=True)
class EraseRange(TurnEdit):
    """Nobody speaks from ``start`` to ``end``: every turn there is cut."""

    start: float
    end: float
    text = "Erase a range"

    def apply(self, turns, duration):
        a, b = _range(self.start, self.end, duration)
        return Result(_clip(_cut(turns, a, b), duration), None)


@dataclass(frozen=True)
class ReplaceAll(TurnEdit):
    """Replace every turn (another system's diarization imported as the starting point)."""

    turns: tuple[Turn, ...]
    text: str = "Import turns"

    def apply(self, turns, duration):
        merged: list[Turn] = []  # one speaker's overlapping turns (an import may have them) joined
        for t in sorted(self.turns):
            merged, t = _absorb(merged, t)
            merged.append(t)
        return Result(_clip(merged, duration), None)


def _range(start: float, end: float, duration: float | None) -> tuple[float, float]:
    a, b = _t(max(0.0, min(start, end))), _t(max(start, end))
    if duration is not None:
        b = min(b, _t(duration))
    if b - a < MIN_TURN_SECONDS:
        raise LabelError(f"select a range of at least {MIN_TURN_SECONDS} s first (shift-drag on the plots)")
    return a, b


def turn_at(turns: Sequence[Turn], seconds: float, who=None) -> Turn | None:
    """The turn under ``seconds`` (of speaker ``who`` when given; the shortest when several)."""
    hits = [t for t in turns if t.start <= seconds < t.end and (who is None or t.who == who)]
    return min(hits, key=lambda t: t.seconds) if hits else None


def snap(seconds: float, targets: Iterable[float], tolerance: float) -> float:
    """``seconds`` moved to the nearest target within ``tolerance``, else unchanged."""
    best = min(targets, key=lambda x: abs(x - seconds), default=None)
    return best if best is not None and abs(best - seconds) <= tolerance else seconds


def turns_from_json(value, fail) -> tuple[Turn, ...] | None:
    """The stored turns (None: the user has not edited the model's)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise fail('"turns" must be a list of {"start", "end", and "slot" or "name"}')
    out = []
    for i, d in enumerate(value):
        ok = (
            isinstance(d, dict)
            and all(isinstance(d.get(k), (int, float)) and not isinstance(d.get(k), bool) for k in ("start", "end"))
            and (isinstance(d.get("slot"), str)) != (isinstance(d.get("name"), str))
        )
        if not ok:
            raise fail(f'"turns" item {i + 1} is not {{"start": s, "end": s, and "slot" or "name"}}')
        out.append(Turn(_t(d["start"]), _t(d["end"]), d.get("slot"), d.get("name")))
    try:
        check_turns(out, None)
    except LabelError as e:
        raise fail(f'"turns": {e}') from None
    return tuple(sorted(out))
