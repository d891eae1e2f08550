"""Diarizations on disk, in the formats other tools read and write: RTTM and UEM, Praat
TextGrid (text and binary), ELAN EAF, Audacity labels, CSV/TSV, WebVTT and SRT, JSON.

Turns are ``(start, end, speaker)`` seconds. ``read_turns`` reads any of the formats
(picked by extension, or ``fmt``); ``write_turns`` writes one file's turns. The
parsers are the field's libraries, not code of ours: pyannote.core and
pyannote.database for RTTM and UEM, pympi-ling for TextGrid and EAF (it reads and
writes Praat's binary TextGrids too, which praatio does not), webvtt-py for WebVTT
and SRT, and the standard library's csv and json. Every reader raises
``LabelFileError`` (``RTTMError`` for RTTM) naming the file and, where the format has
lines, the line. No torch, no project.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from weighter_gui.core.io.files import atomic_write, read_text
from weighter_gui.core.segments import union_segments

if TYPE_CHECKING:  # for annotations only: importing pyannote.core takes about half a second
    from pyannote.core import Annotation

Turns = list[tuple[float, float, str]]


class LabelFileError(ValueError):
    """A label file cannot be read or written; the message names the file (and line)."""


class RTTMError(LabelFileError):
    """An RTTM file is missing or malformed; the message names the file and line."""


# ------------------------------------------------------------------------------ formats


@dataclass(frozen=True)
class Format:
    name: str  # what --to / --format take
    suffixes: tuple[str, ...]  # the first is written (as spelt); matched whatever the case
    description: str


FORMATS = (
    Format("rttm", (".rttm",), "RTTM (NIST), one line per turn"),
    Format("textgrid", (".TextGrid",), "Praat TextGrid, one interval tier per speaker"),
    Format("eaf", (".eaf",), "ELAN annotation file, one tier per speaker"),
    Format("audacity", (".txt",), "Audacity label track"),
    Format("csv", (".csv", ".tsv"), "CSV or TSV: start, end, speaker"),
    Format("vtt", (".vtt",), "WebVTT subtitles, one cue per turn, <v Name> voice tags"),
    Format("srt", (".srt",), "SubRip subtitles, one cue per turn"),
    Format("json", (".json",), "JSON: segments with start, end, speaker (pyannote and whisperX layouts read)"),
    Format("uem", (".uem",), "UEM: the time ranges that were reviewed or are scored"),
)


def format_of(path: str | os.PathLike[str], fmt: str | None = None) -> Format:
    """The format named ``fmt``, else the one of ``path``'s extension."""
    if fmt is not None:
        found = next((f for f in FORMATS if f.name == fmt.lower()), None)
        if found is None:
            raise LabelFileError(f"unknown format {fmt!r}; use one of {', '.join(f.name for f in FORMATS)}")
        return found
    suffix = Path(path).suffix.lower()
    found = next((f for f in FORMATS if suffix in (s.lower() for s in f.suffixes)), None)
    if found is None:
        known = ", ".join(s for f in FORMATS for s in f.suffixes)
        raise LabelFileError(f"{path}: unknown kind of file ({suffix or 'no extension'}); use one of {known}")
    return found


def read_turns(path: str | os.PathLike[str], uris: Sequence[str] = (), tier: str | None = None,
               fmt: str | None = None) -> Turns:
    """The turns of one recording, sorted. RTTM and UEM: the recording named by one of
    ``uris`` (or the only one). TextGrid and EAF: each tier is a speaker (named by the
    tier, or by an EAF tier's participant), or with ``tier`` that tier's texts are the
    speakers. Empty labels and points are skipped."""
    path = Path(path)
    kind = format_of(path, fmt).name
    if kind == "rttm":
        out = _one_recording(path, read_rttm(path), uris)
    elif kind == "textgrid":
        out = _from_tiers(path, read_textgrid(path), tier)
    elif kind == "eaf":
        out = _from_tiers(path, read_eaf(path), tier)
    elif kind == "audacity":
        out = [(a, b, label.strip()) for a, b, label in read_audacity_labels(path)]
    elif kind == "csv":
        out = read_csv(path)
    elif kind in ("vtt", "srt"):
        out = read_subtitles(path, kind)
    elif kind == "json":
        out = read_json(path)
    else:
        raise LabelFileError(f"{path}: a UEM file holds time ranges, not turns; import it with its RTTM")
    out = sorted((a, b, s) for a, b, s in out if s and b > a)
    if not out:
        raise LabelFileError(f"{path}: holds no speech turns")
    return out


def write_turns(path: str | os.PathLike[str], turns: Iterable[tuple[float, float, str]], *, uri: str,
                duration: float, fmt: str | None = None, speakers: Sequence[str] = (),
                media: str | os.PathLike[str] | None = None) -> Path:
    """One recording's turns in ``path``'s format (or ``fmt``), written whole then
    renamed into place. ``speakers``: tiers to write even without turns (TextGrid, EAF);
    ``media``: the audio an EAF links to."""
    path = Path(path)
    turns = sorted((float(a), float(b), str(s)) for a, b, s in turns if b > a)
    names = list(dict.fromkeys([*[s for _, _, s in turns], *speakers]))
    kind = format_of(path, fmt).name
    if kind == "rttm":
        return write_rttm(path, [to_annotation(uri, turns)])
    if kind == "textgrid":
        return _write_textgrid(path, duration, [(n, [(a, b) for a, b, s in turns if s == n]) for n in names])
    if kind == "eaf":
        return _write_eaf(path, [(n, [(a, b) for a, b, s in turns if s == n]) for n in names], media)
    if kind == "audacity":
        return atomic_write(path, "".join(f"{a:.6f}\t{b:.6f}\t{s}\n" for a, b, s in turns))
    if kind == "csv":
        return _write_csv(path, turns)
    if kind in ("vtt", "srt"):
        return _write_subtitles(path, turns, kind)
    if kind == "json":
        return atomic_write(path, json.dumps({"uri": uri, "duration": round(duration, 3), "segments": [
            {"start": round(a, 3), "end": round(b, 3), "speaker": s} for a, b, s in turns]}, indent=1) + "\n")
    return write_uem(path, {uri: [(a, b) for a, b, _ in turns]})


# ------------------------------------------------------------------------------ RTTM and UEM


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
                f"(SPEAKER uri channel start duration <NA> <NA> speaker), got {len(fields)}"
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
    """All annotations into one RTTM file, by pyannote.core (written whole, then renamed into place)."""
    text = io.StringIO()
    for ann in annotations:
        ann.write_rttm(text)
    return atomic_write(path, text.getvalue())


def read_uem(path: str | os.PathLike[str], uris: Sequence[str] = ()) -> list[tuple[float, float]]:
    """One recording's ranges from a UEM file (``uri channel start end`` lines), by pyannote.database."""
    path = Path(path)
    text = read_text(path, "UEM file", LabelFileError)
    for number, line in enumerate(text.splitlines(), start=1):  # pyannote's reader names no line
        fields = line.split()
        if fields and not fields[0].startswith((";", "#")):
            try:
                ok = len(fields) == 4 and 0 <= float(fields[2]) <= float(fields[3])
            except ValueError:
                ok = False
            if not ok:
                raise LabelFileError(f"{path}, line {number}: not 'uri channel start end' with start <= end")
    from pyannote.database.util import load_uem

    timelines = load_uem(str(path))
    if not timelines:
        raise LabelFileError(f"{path}: no time ranges")
    chosen = next((u for u in uris if u in timelines), None)
    if chosen is None:
        if len(timelines) != 1:
            raise LabelFileError(f"{path}: holds recordings {', '.join(sorted(timelines))}, none named "
                                 f"{' or '.join(uris) or 'like this file'}")
        chosen = next(iter(timelines))
    return [(float(s.start), float(s.end)) for s in timelines[chosen].support()]


def uem_text(ranges: dict[str, Sequence[tuple[float, float]]]) -> str:
    """UEM lines (uri, channel, start, end) of each recording's ranges, by pyannote.core."""
    from pyannote.core import Segment, Timeline

    out = io.StringIO()
    for uri, spans in ranges.items():
        Timeline([Segment(a, b) for a, b in union_segments(spans)], uri=uri).write_uem(out)
    return out.getvalue()


def write_uem(path: str | os.PathLike[str], ranges: dict[str, Sequence[tuple[float, float]]]) -> Path:
    return atomic_write(path, uem_text(ranges))


def rttm_speaker(label: str) -> str:
    """A speaker name as an RTTM field (no whitespace)."""
    return "_".join(label.split())


def to_annotation(uri: str, turns: Turns):
    """One recording's turns as a ``pyannote.core.Annotation`` (names made RTTM-safe)."""
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, (a, b, s) in enumerate(turns):
        ann[Segment(a, b), str(i)] = rttm_speaker(s)
    return ann


def _one_recording(path: Path, annotations: dict, uris: Sequence[str]) -> Turns:
    chosen = next((u for u in uris if u in annotations), None)
    if chosen is None:
        if len(annotations) != 1:
            raise LabelFileError(
                f"{path}: holds recordings {', '.join(sorted(annotations))}, none named "
                f"{' or '.join(uris) or 'like this file'}; rename the uri or split the file"
            )
        chosen = next(iter(annotations))
    return [(float(s.start), float(s.end), str(label))
            for s, _, label in annotations[chosen].itertracks(yield_label=True)]


# ------------------------------------------------------------------------------ Audacity


def read_audacity_labels(path: str | os.PathLike[str]) -> Turns:
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
    return _decode(_read_bytes(path, what))


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older Praat and Audacity versions wrote Latin-1


# ------------------------------------------------------------------------------ TextGrid and EAF (pympi)


@dataclass(frozen=True)
class Tier:
    name: str
    intervals: tuple[tuple[float, float, str], ...]  # for a point tier: (time, time, mark)
    kind: str = "IntervalTier"  # or "TextTier" (points)
    participant: str = ""  # an EAF tier's PARTICIPANT


@dataclass(frozen=True)
class Tiers:
    """A TextGrid's or an EAF's tiers."""

    xmin: float
    xmax: float
    tiers: tuple[Tier, ...]

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)


def read_textgrid(path: str | os.PathLike[str]) -> Tiers:
    """A Praat TextGrid: the long or short text format (UTF-8, UTF-16 or Latin-1) or binary."""
    path = Path(path)
    raw = _read_bytes(path, "TextGrid")
    from pympi.Praat import TextGrid

    codec = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    if codec == "utf-8":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            codec = "latin-1"
    if not raw.startswith(b"ooBinaryFile") and 'Object class = "TextGrid"' not in _decode(raw)[:200]:
        raise LabelFileError(f"{path}: not a Praat TextGrid (no 'Object class = \"TextGrid\"' at the top)")
    try:
        grid = TextGrid(str(path), codec=codec)
        # pympi unquotes a text file's tier names but not its texts (Praat doubles a quote)
        text = (lambda x: str(x)) if raw.startswith(b"ooBinaryFile") else (lambda x: str(x).replace('""', '"'))
        tiers = []
        for t in grid.get_tiers():
            kind = "IntervalTier" if t.tier_type == "IntervalTier" else "TextTier"
            items = [(float(a), float(b), text(x)) for a, b, x in t.get_intervals()] if kind == "IntervalTier" else \
                [(float(a), float(a), text(x)) for a, x in t.get_intervals()]
            tiers.append(Tier(t.name, tuple(items), kind))
        return Tiers(float(grid.xmin), float(grid.xmax), tuple(tiers))
    except LabelFileError:
        raise
    except Exception as e:  # pympi raises bare exceptions on damaged files
        raise LabelFileError(f"{path}: not a readable Praat TextGrid ({type(e).__name__}: {e}); the file is cut "
                             "short or damaged: save it again from Praat") from None


def _write_textgrid(path: Path, duration: float, tiers: Sequence[tuple[str, Sequence[tuple[float, float]]]],
                    mode: str = "normal") -> Path:
    """One interval tier per speaker over 0..duration, by pympi (Praat's long text format)."""
    from pympi.Praat import TextGrid

    # Praat's text formats double a quote inside a string; pympi leaves that to its caller
    quote = (lambda x: x) if mode == "binary" else (lambda x: x.replace('"', '""'))
    grid = TextGrid(xmin=0.0, xmax=float(duration))
    for name, spans in tiers:
        tier = grid.add_tier(quote(name))
        for a, b in union_segments(spans):
            a, b = max(0.0, a), min(float(duration), b)
            if b > a:
                tier.add_interval(a, b, quote(name))
    return _atomic(path, lambda tmp: grid.to_file(str(tmp), mode=mode, codec="utf-8"))


def read_eaf(path: str | os.PathLike[str]) -> Tiers:
    """An ELAN file's alignable tiers (their annotations in seconds), by pympi."""
    path = Path(path)
    raw = _read_bytes(path, "EAF file")
    from xml.etree.ElementTree import ParseError, fromstring

    from pympi.Elan import Eaf

    if b"ANNOTATION_DOCUMENT" not in raw[:2000]:
        raise LabelFileError(f"{path}: not an ELAN file (no ANNOTATION_DOCUMENT)")
    try:  # first the XML alone: pympi's own error says neither what nor where
        fromstring(raw)
    except ParseError as e:
        raise LabelFileError(f"{path}, line {e.position[0]}: broken XML ({e}); save it again from ELAN") from None
    try:
        eaf = Eaf(str(path))
    except Exception as e:  # pympi raises bare exceptions on odd files
        raise LabelFileError(f"{path}: not a readable ELAN file ({type(e).__name__}: {e})") from None
    tiers = []
    end = 0.0
    for name in eaf.get_tier_names():
        try:
            items = [(a / 1000.0, b / 1000.0, str(v or "")) for a, b, v, *_ in eaf.get_annotation_data_for_tier(name)]
        except (KeyError, ValueError):  # a reference tier (symbolic, no times of its own)
            continue
        end = max([end] + [b for _, b, _ in items])
        participant = eaf.tiers[name][2].get("PARTICIPANT", "") or ""
        tiers.append(Tier(name, tuple(sorted(items)), "IntervalTier", participant))
    return Tiers(0.0, end, tuple(tiers))


def _write_eaf(path: Path, tiers: Sequence[tuple[str, Sequence[tuple[float, float]]]],
               media: str | os.PathLike[str] | None) -> Path:
    """One tier per speaker (its participant the speaker), linked to the audio, by pympi."""
    from pympi.Elan import Eaf, to_eaf

    eaf = Eaf(author="Weighter Studio")
    eaf.remove_tier("default")
    if media is not None:
        eaf.add_linked_file(str(Path(media).absolute()), mimetype=_mimetype(Path(media)))
    for name, spans in tiers:
        eaf.add_tier(name, part=name)
        for a, b in union_segments(spans):
            ms_a, ms_b = int(round(a * 1000)), int(round(b * 1000))
            if ms_b > ms_a:
                eaf.add_annotation(name, ms_a, ms_b, name)
    return _atomic(path, lambda tmp: to_eaf(str(tmp), eaf, pretty=True))


def _mimetype(media: Path) -> str:
    return {".wav": "audio/x-wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg"}.get(
        media.suffix.lower(), "audio/*")


def _from_tiers(path: Path, grid: Tiers, tier: str | None) -> Turns:
    intervals = [t for t in grid.tiers if t.kind == "IntervalTier"]
    if tier is not None:
        chosen = grid.tier(tier)
        if chosen is None:
            raise LabelFileError(f"{path}: no tier {tier!r} (it has {', '.join(t.name for t in grid.tiers) or 'none'})")
        return [(a, b, text.strip()) for a, b, text in chosen.intervals]
    if len(intervals) == 1:  # one tier: its texts are the speakers
        return [(a, b, text.strip()) for a, b, text in intervals[0].intervals]
    return [(a, b, t.participant or t.name) for t in intervals for a, b, text in t.intervals if text.strip()]


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LabelFileError(f"{path}: {what} not found") from None
    except OSError as e:
        raise LabelFileError(f"{path}: cannot read ({e.strerror or e})") from None


def _atomic(path: Path, write) -> Path:
    """Let a library write a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.writing{path.suffix}")  # (webvtt-py adds .vtt to a name without it)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------------------ CSV, subtitles, JSON

_START = ("start", "begin", "onset", "start_time", "tstart")
_END = ("end", "stop", "offset", "end_time", "tend")
_SPEAKER = ("speaker", "label", "spk", "who", "speaker_id")


def read_csv(path: str | os.PathLike[str]) -> Turns:
    """start, end, speaker columns (by their header when there is one, else the first three);
    commas, tabs or semicolons."""
    path = Path(path)
    text = _read_text(path, "CSV file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    columns = (0, 1, 2)
    first = 0
    if rows and rows[0]:
        header = [c.strip().lower() for c in rows[0]]
        if not _is_number(header[0]):
            first = 1
            try:
                columns = tuple(next(i for i, c in enumerate(header) if c in names) for names in (_START, _END, _SPEAKER))
            except StopIteration:
                raise LabelFileError(f"{path}, line 1: a header needs start, end and speaker columns, "
                                     f"found {', '.join(header)}") from None
    out = []
    for number, row in enumerate(rows[first:], start=first + 1):
        if not any(c.strip() for c in row):
            continue
        try:
            a, b, s = (row[i] for i in columns)
            a, b = float(a), float(b)
        except (IndexError, ValueError):
            raise LabelFileError(f"{path}, line {number}: not start, end (seconds) and speaker") from None
        if b < a or a < 0:
            raise LabelFileError(f"{path}, line {number}: end {b} is before start {a}")
        out.append((a, b, s.strip()))
    return out


def _write_csv(path: Path, turns: Turns) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if path.suffix.lower() == ".tsv" else ",", lineterminator="\n")
    writer.writerow(["start", "end", "speaker"])
    writer.writerows([f"{a:.3f}", f"{b:.3f}", s] for a, b, s in turns)
    return atomic_write(path, out.getvalue())


def read_subtitles(path: str | os.PathLike[str], kind: str = "vtt") -> Turns:
    """Cues as turns: the speaker is the cue's voice (``<v Name>``), else a ``Name:`` prefix,
    else the cue's text. By webvtt-py."""
    path = Path(path)
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    _read_text(path, "subtitle file")  # (a clear error for a missing file)
    try:
        captions = webvtt.from_srt(str(path)) if kind == "srt" else webvtt.read(str(path))
    except (MalformedFileError, MalformedCaptionError) as e:
        raise LabelFileError(f"{path}: not readable {kind.upper()} subtitles ({e})") from None
    out = []
    for c in captions:
        text = c.text.strip()
        who = getattr(c, "voice", None) or (text.split(":", 1)[0] if ":" in text.split("\n")[0] else text)
        out.append((_seconds(c.start), _seconds(c.end), who.strip()))
    return out


def _write_subtitles(path: Path, turns: Turns, kind: str) -> Path:
    import webvtt

    vtt = webvtt.WebVTT()
    for a, b, s in turns:
        text = f"<v {s}>{s}" if kind == "vtt" else s
        vtt.captions.append(webvtt.Caption(_clock(a), _clock(b), text))
    if kind == "srt":
        return _atomic(path, lambda tmp: vtt.save_as_srt(str(tmp)))
    return _atomic(path, lambda tmp: vtt.save(str(tmp)))


def _seconds(clock: str) -> float:
    """'HH:MM:SS.mmm' (webvtt-py's cue times) in seconds."""
    h, m, s = clock.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def read_json(path: str | os.PathLike[str]) -> Turns:
    """Turns from JSON: a list of {start, end, speaker}; {"segments": [...]} (ours,
    whisperX's: its words' speakers when every word has one); or pyannote's
    ``Annotation.for_json()`` ({"content": [{"segment": {start, end}, "label"}]})."""
    path = Path(path)
    text = _read_text(path, "JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelFileError(f"{path}, line {e.lineno}: broken JSON ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("content"), list):
        items = [{"start": (d.get("segment") or {}).get("start"), "end": (d.get("segment") or {}).get("end"),
                  "speaker": d.get("label")} for d in data["content"] if isinstance(d, dict)]
    elif isinstance(data, dict) and isinstance(data.get("segments"), list):
        items = data["segments"]
        words = [w for s in items if isinstance(s, dict) for w in s.get("words") or ()]
        if words and all(isinstance(w, dict) and {"start", "end", "speaker"} <= set(w) for w in words):
            items = _words_to_turns(words)
    elif isinstance(data, list):
        items = data
    else:
        raise LabelFileError(f"{path}: expected a list of segments, {{\"segments\": [...]}} or pyannote's "
                             "{\"content\": [...]}")
    out = []
    for i, d in enumerate(items, start=1):
        try:
            a, b, s = float(d["start"]), float(d["end"]), d["speaker"]
        except (KeyError, TypeError, ValueError):
            raise LabelFileError(f"{path}: segment {i} has no start, end (seconds) and speaker") from None
        if s is None:
            continue  # whisperX leaves a segment nobody was assigned to without a speaker
        if b < a or a < 0:
            raise LabelFileError(f"{path}: segment {i}: end {b} is before start {a}")
        out.append((a, b, str(s)))
    return out


def _words_to_turns(words: list[dict], gap: float = 0.5) -> list[dict]:
    """Consecutive words of one speaker, less than ``gap`` apart, as one turn."""
    turns: list[dict] = []
    for w in sorted(words, key=lambda w: float(w["start"])):
        last = turns[-1] if turns else None
        if last is not None and last["speaker"] == w["speaker"] and float(w["start"]) - last["end"] < gap:
            last["end"] = max(last["end"], float(w["end"]))
        else:
            turns.append({"start": float(w["start"]), "end": float(w["end"]), "speaker": w["speaker"]})
    return turns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
