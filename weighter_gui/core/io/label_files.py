"""Label files on disk: RTTM, Praat TextGrid and Audacity labels, read and written.

Every reader raises one error naming the file and the line (``RTTMError`` for RTTM,
``LabelFileError`` for the rest and for ``read_reference``, which picks the reader by
the file's extension). No torch, no project: the annotation state, the diarizer and
the CLI all read and write these through here.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from weighter_gui.core.io.files import atomic_write, read_text
from weighter_gui.core.segments import union_segments

if TYPE_CHECKING:  # for annotations only: importing pyannote.core takes about half a second
    from pyannote.core import Annotation


class RTTMError(ValueError):
    """An RTTM file is missing or malformed; the message names the file and line."""



def read_rttm(path: str | os.PathLike[str]) -> dict[str, Annotation]:
    """``SPEAKER uri channel start duration <NA> <NA> speaker <NA> <NA>`` lines -> per-uri annotations.

    Blank lines and ``;`` / ``#`` comments are skipped; other record types (LEXEME,
    SPKR-INFO, ...) are ignored as the RTTM spec allows.
    """
    path = Path(path)
    text = read_text(path, "RTTM file", RTTMError)
    from pyannote.core import Annotation, Segment  # here: see the note at the top

    annotations: dict[str, Annotation] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise RTTMError(
                f"{path}, line {number}: a SPEAKER line needs at least 8 fields "
                "(SPEAKER uri channel start duration <NA> <NA> speaker), got {len(fields)}"
            )
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise RTTMError(f"{path}, line {number}: start and duration must be numbers") from None
        if start < 0 or duration < 0:
            raise RTTMError(f"{path}, line {number}: negative start or duration")
        uri, speaker = fields[1], fields[7]
        ann = annotations.setdefault(uri, Annotation(uri=uri))
        if duration > 0:
            ann[Segment(start, start + duration), ann.new_track(Segment(start, start + duration))] = speaker
    if not annotations:
        raise RTTMError(f"{path}: no SPEAKER lines")
    return annotations



def write_rttm(path: str | os.PathLike[str], annotations: Iterable[Annotation]) -> Path:
    """All annotations into one RTTM file (written whole, then renamed into place)."""
    text = io.StringIO()
    for ann in annotations:
        ann.write_rttm(text)
    return atomic_write(path, text.getvalue())



class LabelFileError(ValueError):
    """An RTTM, TextGrid or Audacity label file cannot be read; names file and line."""



def read_audacity_labels(path: str | os.PathLike[str]) -> list[tuple[float, float, str]]:
    """(start, end, label) of an Audacity label file, in file order.

    Spectral-selection lines (``\\<TAB>low<TAB>high`` after a label) are skipped.
    """
    path = Path(path)
    text = _read_text(path, "Audacity label file")
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if fields[0].strip() == "\\":
            continue
        if len(fields) < 2:
            raise LabelFileError(
                f"{path}, line {number}: not 'start<TAB>end<TAB>label'; is this an Audacity label file?"
            )
        try:
            start, end = (float(f.strip().replace(",", ".")) for f in fields[:2])
        except ValueError:
            raise LabelFileError(f"{path}, line {number}: start and end must be numbers of seconds") from None
        if end < start:
            raise LabelFileError(f"{path}, line {number}: end {end} is before start {start}")
        out.append((start, end, fields[2] if len(fields) > 2 else ""))
    return out



def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LabelFileError(f"{path}: {what} not found") from None
    except OSError as e:
        raise LabelFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older Praat and Audacity versions wrote Latin-1



@dataclass(frozen=True)
class Tier:
    name: str
    xmin: float
    xmax: float
    intervals: tuple[tuple[float, float, str], ...]  # for a TextTier: (time, time, mark)
    kind: str = "IntervalTier"



@dataclass(frozen=True)
class TextGrid:
    xmin: float
    xmax: float
    tiers: tuple[Tier, ...]

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)



def _num(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s



def _quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'



def _tier_intervals(
    segments: Sequence[tuple[float, float]], duration: float, text: str
) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for a, b in union_segments(segments):
        a, b = max(a, t), min(b, duration)
        if _num(b) == _num(a) or b <= a:
            continue
        if _num(a) != _num(t):
            out.append((t, a, ""))
        out.append((a, b, text))
        t = b
    if _num(t) != _num(duration):
        out.append((t, duration, ""))
    return out or [(0.0, duration, "")]


def textgrid_text(duration: float, tiers: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> str:
    """A TextGrid (long text format): per (name, segments) one IntervalTier over 0..duration."""
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        f"xmax = {_num(duration)} ",
        "tiers? <exists> " if tiers else "tiers? <absent> ",
    ]
    if tiers:
        lines += [f"size = {len(tiers)} ", "item []: "]
    for i, (name, segments) in enumerate(tiers, start=1):
        intervals = _tier_intervals(segments, duration, name)
        lines += [
            f"    item [{i}]:",
            '        class = "IntervalTier" ',
            f"        name = {_quote(name)} ",
            "        xmin = 0 ",
            f"        xmax = {_num(duration)} ",
            f"        intervals: size = {len(intervals)} ",
        ]
        for j, (a, b, text) in enumerate(intervals, start=1):
            lines += [
                f"        intervals [{j}]:",
                f"            xmin = {_num(a)} ",
                f"            xmax = {_num(b)} ",
                f"            text = {_quote(text)} ",
            ]
    return "\n".join(lines) + "\n"



_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # 1: a string ("" inside is one quote)
    r"|(\[[^\]\n]*\])"  # 2: an index like [1] or []: skipped
    r"|(<exists>|<absent>)"  # 3: a flag
    r"|([A-Za-z_][\w?]*:?)"  # 4: a word like xmin, intervals: - skipped
    r"|([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"  # 5: a number
    r"|(\S)"  # 6: '=' and the like - skipped
)



def read_textgrid(path: str | os.PathLike[str]) -> TextGrid:
    """A Praat TextGrid in the long or the short text format."""
    path = Path(path)
    text = _read_text(path, "TextGrid")
    tokens: list[tuple[str, object]] = []
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            tokens.append(("str", m.group(1).replace('""', '"')))
        elif m.group(3) is not None:
            tokens.append(("flag", m.group(3)))
        elif m.group(5) is not None:
            tokens.append(("num", float(m.group(5))))
    pos = 0

    def take(kind: str, what: str):
        nonlocal pos
        if pos >= len(tokens):
            raise LabelFileError(f"{path}: the TextGrid ends early (expected {what}); the file is cut short")
        k, v = tokens[pos]
        if k != kind:
            raise LabelFileError(
                f"{path}: expected {what}, found {v!r} (token {pos + 1}); is this a Praat TextGrid?"
            )
        pos += 1
        return v

    if take("str", '"ooTextFile"') != "ooTextFile" or take("str", '"TextGrid"') != "TextGrid":
        raise LabelFileError(f"{path}: not a Praat TextGrid text file (File type / Object class)")
    xmin, xmax = take("num", "xmin"), take("num", "xmax")
    tiers = []
    if take("flag", "tiers? <exists>") == "<exists>":
        size = int(take("num", "the number of tiers"))
        for _ in range(size):
            kind = take("str", "a tier class")
            name = take("str", "a tier name")
            txmin, txmax = take("num", "tier xmin"), take("num", "tier xmax")
            n = int(take("num", "the number of intervals"))
            items = []
            for _ in range(n):
                if kind == "IntervalTier":
                    a, b, label = (
                        take("num", "interval xmin"),
                        take("num", "interval xmax"),
                        take("str", "interval text"),
                    )
                elif kind == "TextTier":
                    a = take("num", "point time")
                    b, label = a, take("str", "point mark")
                else:
                    raise LabelFileError(f"{path}: unknown tier class {kind!r}")
                items.append((a, b, label))
            tiers.append(Tier(name, txmin, txmax, tuple(items), kind))
    return TextGrid(xmin, xmax, tuple(tiers))



def read_reference(path: str | os.PathLike[str], uris: Sequence[str] = ()) -> list[tuple[float, float, str]]:
    """A reference diarization (start, end, speaker) from RTTM, TextGrid or Audacity labels.

    RTTM: the recording named by one of ``uris`` (or the only one in the file).
    TextGrid: each interval tier's name is its speaker (one tier only: the interval
    texts are the speakers). Audacity: the label texts; empty labels and points skipped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".rttm":
        try:
            annotations = read_rttm(path)
        except RTTMError as e:
            raise LabelFileError(str(e)) from None
        chosen = next((u for u in uris if u in annotations), None)
        if chosen is None:
            if len(annotations) != 1:
                raise LabelFileError(
                    f"{path}: holds recordings {', '.join(sorted(annotations))}, none named "
                    f"{' or '.join(uris) or 'like this file'}; rename the uri or split the file"
                )
            chosen = next(iter(annotations))
        ann = annotations[chosen]
        out = [(float(s.start), float(s.end), str(label)) for s, _, label in ann.itertracks(yield_label=True)]
    elif suffix == ".textgrid":
        grid = read_textgrid(path)
        interval_tiers = [t for t in grid.tiers if t.kind == "IntervalTier"]
        out = []
        for tier in interval_tiers:
            for a, b, text in tier.intervals:
                if text.strip() and b > a:
                    out.append((a, b, text.strip() if len(interval_tiers) == 1 else tier.name))
    elif suffix == ".txt":
        out = [(a, b, label.strip()) for a, b, label in read_audacity_labels(path) if label.strip() and b > a]
    else:
        raise LabelFileError(
            f"{path}: unknown kind of file; import an .rttm, a .TextGrid or Audacity labels (.txt)"
        )
    if not out:
        raise LabelFileError(f"{path}: holds no speech segments")
    return sorted(out)

