"""Exports of a project, and readers for the same formats (tests, reference import).

What is exported is the *corrected* diarization of each analysed file
(``ProjectFile.speakers()``): named slots under their names, unnamed kept slots
under their labels (``S3``), slots marked "not a speaker" and unnamed slots below
the threshold dropped, merged slots joined into one speaker, two groups with one
name joined; each speaker's segments are the union of its slots' segments.

* ``export_manifest(project, path)`` - the training label manifest
  (``core.manifest``; ``weighter train`` reads it): one ``ManifestItem`` per file
  with at least one like. ``likes``: the named speakers, then the hand-added ones.
  ``segments``: the named speakers' segments; ``None`` when some like has no
  timings (a hand-added like, or a named slot without speech), because the
  trainer would read a like without segments as silent throughout (such a file
  trains only in the "likes" regime; the report warns). ``duration``,
  ``sample_rate`` and ``sha256`` come from the audio file. Files without likes or
  with missing audio are skipped (the report says which and why).
* ``export_rttm(project, path)`` - one RTTM file for all files (uri = file key;
  whitespace in names becomes ``_``, as RTTM fields cannot hold spaces).
* ``export_audacity(project, folder)`` - ``KEY.txt`` per audio file, one label per
  segment: ``start<TAB>end<TAB>speaker``, sorted by start. One file per *audio
  file* (not per speaker) because Audacity imports a label track next to the
  recording it belongs to; overlapping labels are fine in one Audacity track.
* ``export_textgrid(project, folder)`` - ``KEY.TextGrid`` per audio file, Praat's
  long text format: one IntervalTier per speaker (overlapping speech is fine:
  tiers are per speaker), intervals tiling 0..duration, the speaker's name on
  speech and empty text in the gaps. Hand-added likes get an empty tier, ready
  to be filled in in Praat.

Every file is written atomically (``files.atomic_write``). Each export returns an
``ExportReport``; one with nothing to write raises ``ExportError``.

Readers: ``read_audacity_labels``, ``read_textgrid`` (long and short text format,
UTF-8 or UTF-16), and ``read_reference`` (RTTM, TextGrid or Audacity labels as a
file's reference). ``evaluate`` scores the corrected (or raw model) diarization
against the imported references (DER, pyannote.metrics).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .files import atomic_write
from .project import Project, ProjectError, ProjectFile, union_segments

__all__ = [
    "ExportError",
    "ExportReport",
    "LabelFileError",
    "TextGrid",
    "Tier",
    "corrected_annotation",
    "corrected_segments",
    "evaluate",
    "export_audacity",
    "export_manifest",
    "export_rttm",
    "export_textgrid",
    "manifest_items",
    "model_segments",
    "read_audacity_labels",
    "read_reference",
    "read_textgrid",
    "rttm_speaker",
    "textgrid_text",
]


class ExportError(ProjectError):
    """Nothing to export, or the export cannot be written."""


class LabelFileError(ProjectError, ValueError):
    """An RTTM, TextGrid or Audacity label file cannot be read; names file and line."""


@dataclass
class ExportReport:
    paths: list[Path] = field(default_factory=list)  # files written
    exported: list[str] = field(default_factory=list)  # file keys in them
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"Exported {len(self.exported)} file(s) to {', '.join(p.name for p in self.paths) or 'nothing'}."
        ]
        lines += [f"Skipped {key}: {why}" for key, why in self.skipped]
        lines += self.warnings
        return "\n".join(lines)


def _files(project: Project, keys: Iterable[str] | None) -> list[ProjectFile]:
    return list(project.files.values()) if keys is None else [project.file(k) for k in keys]


def _safe_name(key: str) -> str:
    """A file name for ``key`` on any system."""
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", key).strip(" .")
    return name or "file"


def _write(path: Path, text: str) -> Path:
    try:
        return atomic_write(path, text)
    except OSError as e:
        raise ExportError(
            f"{path}: cannot write ({e.strerror or e}); check the folder and free space"
        ) from None


# ------------------------------------------------------------------------------ corrected


def corrected_segments(pf: ProjectFile) -> list[tuple[float, float, str]]:
    """(start, end, speaker) of the corrected diarization, sorted by start."""
    out = [(a, b, sp.label) for sp in pf.speakers() for a, b in sp.segments if b > a]
    return sorted(out, key=lambda s: (s[0], s[1], s[2]))


def model_segments(pf: ProjectFile) -> list[tuple[float, float, str]]:
    """The model's own diarization (slots at the file's threshold, labels ignored)."""
    if pf.analysis is None:
        return []
    thr = pf.effective_threshold
    out = [(a, b, s.label) for s in pf.analysis.slots if s.confidence >= thr for a, b in s.segments if b > a]
    return sorted(out)


def rttm_speaker(label: str) -> str:
    """A speaker name as an RTTM field (no whitespace)."""
    return "_".join(label.split())


def corrected_annotation(pf: ProjectFile, which: str = "corrected"):
    """A ``pyannote.core.Annotation`` (uri = key) of the corrected or the ``"model"`` diarization."""
    from pyannote.core import Annotation, Segment

    segs = corrected_segments(pf) if which == "corrected" else model_segments(pf)
    ann = Annotation(uri=pf.key)
    for i, (a, b, spk) in enumerate(segs):
        ann[Segment(a, b), str(i)] = rttm_speaker(spk)
    return ann


# ------------------------------------------------------------------------------ RTTM


def export_rttm(
    project: Project, path: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """All analysed files' corrected diarization in one RTTM file."""
    path = Path(path)
    report = ExportReport()
    lines = []
    for pf in _files(project, keys):
        if pf.analysis is None:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        segs = corrected_segments(pf)
        if not segs:
            report.warnings.append(f"{pf.key}: no speaker kept; the RTTM has no line for it")
        for a, b, spk in segs:
            lines.append(f"SPEAKER {pf.key} 1 {a:.3f} {b - a:.3f} <NA> <NA> {rttm_speaker(spk)} <NA> <NA>\n")
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{path}: nothing to export: no file has been analysed yet")
    report.paths.append(_write(path, "".join(lines)))
    return report


# ------------------------------------------------------------------------------ manifest


def manifest_items(project: Project, keys: Iterable[str] | None = None, report: ExportReport | None = None):
    """The ``ManifestItem``s ``export_manifest`` writes (computes sha256 of the audio)."""
    from .audio import AudioError
    from .manifest import ManifestItem

    report = report if report is not None else ExportReport()
    items = []
    for pf in _files(project, keys):
        likes = pf.likes
        if not likes:
            report.skipped.append((pf.key, "no speaker named yet"))
            continue
        if not pf.exists:
            report.skipped.append((pf.key, f"audio file missing ({pf.audio}); relink it"))
            continue
        try:
            facts = pf.audio_facts()
        except (AudioError, OSError) as e:
            report.skipped.append((pf.key, f"audio file unreadable ({e})"))
            continue
        speakers = pf.speakers()
        timed = {sp.name: sp.segments for sp in speakers if sp.name is not None and sp.segments}
        untimed = [n for n in likes if n not in timed]
        segments = None
        if untimed:
            report.warnings.append(
                f"{pf.key}: {', '.join(repr(n) for n in untimed)} without timings (added by hand or "
                "no speech found); written without segments, so this file trains in the 'likes' regime only"
            )
        else:
            segments = tuple(sorted((a, b, name) for name, segs in timed.items() for a, b in segs))
        unnamed = [sp.label for sp in speakers if sp.name is None]
        if unnamed:
            report.warnings.append(
                f"{pf.key}: kept slot(s) {', '.join(unnamed)} have no name; training will treat them as no speaker"
            )
        duration = facts.duration if facts.duration is not None else pf.duration
        items.append(
            ManifestItem(
                id=pf.key,
                audio=pf.audio,
                likes=likes,
                segments=segments,
                duration=None if duration is None else round(float(duration), 3),
                sample_rate=facts.sample_rate,
                sha256=facts.sha256,
            )
        )
        report.exported.append(pf.key)
    return items, report


def export_manifest(
    project: Project, path: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """The training manifest (JSON Lines) of the files with named speakers."""
    from .manifest import write_manifest

    path = Path(path)
    items, report = manifest_items(project, keys)
    if not items:
        raise ExportError(f"{path}: nothing to export: no file has a named speaker and readable audio yet")
    try:
        report.paths.append(write_manifest(path, items))
    except OSError as e:
        raise ExportError(
            f"{path}: cannot write ({e.strerror or e}); check the folder and free space"
        ) from None
    return report


# ------------------------------------------------------------------------------ Audacity


def audacity_text(pf: ProjectFile) -> str:
    return "".join(f"{a:.6f}\t{b:.6f}\t{spk}\n" for a, b, spk in corrected_segments(pf))


def export_audacity(
    project: Project, folder: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """``KEY.txt`` Audacity label track per analysed file."""
    folder = Path(folder)
    report = ExportReport()
    for pf in _files(project, keys):
        if pf.analysis is None:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        report.paths.append(_write(folder / f"{_safe_name(pf.key)}.txt", audacity_text(pf)))
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{folder}: nothing to export: no file has been analysed yet")
    return report


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


# ------------------------------------------------------------------------------ TextGrid


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


def export_textgrid(
    project: Project, folder: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """``KEY.TextGrid`` per analysed file: one tier per speaker (hand-added likes: empty tiers)."""
    folder = Path(folder)
    report = ExportReport()
    for pf in _files(project, keys):
        if pf.analysis is None or not pf.analysis.duration > 0:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        tiers = [(sp.label, sp.segments) for sp in pf.speakers()]
        names = {name for name, _ in tiers}
        tiers += [(name, ()) for name in pf.likes if name not in names]
        report.paths.append(
            _write(folder / f"{_safe_name(pf.key)}.TextGrid", textgrid_text(pf.analysis.duration, tiers))
        )
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{folder}: nothing to export: no file has been analysed yet")
    return report


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


# ------------------------------------------------------------------------------ references


def read_reference(path: str | os.PathLike[str], uris: Sequence[str] = ()) -> list[tuple[float, float, str]]:
    """A reference diarization (start, end, speaker) from RTTM, TextGrid or Audacity labels.

    RTTM: the recording named by one of ``uris`` (or the only one in the file).
    TextGrid: each interval tier's name is its speaker (one tier only: the interval
    texts are the speakers). Audacity: the label texts; empty labels and points skipped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".rttm":
        from .evaluation import RTTMError, read_rttm

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


def evaluate(
    project: Project, keys: Iterable[str] | None = None, collar: float = 0.25, which: str = "corrected"
):
    """DER of the files with a reference: ``which`` is "corrected" or "model"."""
    from pyannote.core import Annotation, Segment

    from .evaluation import der

    refs, hyps = {}, {}
    for pf in _files(project, keys):
        if pf.reference is None or pf.analysis is None:
            continue
        ref = Annotation(uri=pf.key)
        for i, (a, b, spk) in enumerate(pf.reference.segments):
            if b > a:
                ref[Segment(a, b), str(i)] = spk
        refs[pf.key] = ref
        hyps[pf.key] = corrected_annotation(pf, which)
    if not refs:
        raise ExportError("no analysed file has a reference yet; import an RTTM for one first")
    return der(refs, hyps, collar=collar)
