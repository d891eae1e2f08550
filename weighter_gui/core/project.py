"""Projects: audio files, their analyses and the user's labels, saved as one JSON file.

The labelling loop works on a ``Project``. Read top-down:

* ``Project`` - ordered ``files`` (key -> ``ProjectFile``); ``Project.create(path)``,
  ``Project.load(path)``, ``project.save()``.
* ``ProjectFile`` - one audio file: its path, its ``Analysis`` (the model's slots),
  the user's ``Labels``, an optional threshold override and reference (RTTM).
* ``Labels`` - slot names, "not a speaker" marks, merges and hand-added likes.
* ``Command`` and ``UndoStack`` - every labelling action is a command that can be
  undone and redone.
* ``ProjectSession`` - what the GUI holds: project + undo stack + gallery +
  autosave, with one method per user action.

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
* ``RemoveLike`` removes a name from a file: hand-added and slot names alike.
* ``RenameSpeaker`` renames in every file; renaming to an existing name joins the
  two speakers.

Re-analysing a file (``SetAnalysis`` on a file with an analysis) carries the labels
over to the new slots by time overlap of their segments (Hungarian matching, IoU
>= 0.3; time overlap, not embeddings, because a retrained model's embeddings live
in another space). A named slot with no counterpart becomes a hand-added like, so
the file keeps its speakers. A file's *first* analysis is not an undo step: it
fills a blank, and no label refers to its slots yet.

On disk
-------
``NAME.weighter`` is indented UTF-8 JSON::

    {"format": "weighter-project", "format_version": 1, "code_version": "0.1.0",
     "saved": "2025-01-01T12:00:00Z",
     "files": [
       {"key": "conv1",
        "audio": "audio/conv1.wav",             # relative to the project's folder
        "audio_absolute": "/data/p/audio/conv1.wav",   # fallback if the project moved alone
        "threshold": null,                       # null: the analysis's own
        "analysis": {"duration": 61.2, "hop": 0.15, "threshold": 0.5,
                     "checkpoint": "models/m.safetensors", "checkpoint_absolute": "...",
                     "checkpoint_sha256": "...", "frontend": "ge2e-...",
                     "created": "2025-...Z", "curves": "3f2a...",  # sidecar name
                     "slots": [{"label": "S1", "confidence": 0.93,
                                "segments": [[0.0, 3.1], ...],
                                "embedding": "<base64 little-endian float32>",
                                "model_name": "anna", "model_probability": 0.91}]},  # optional: a taught name
        "labels": {"names": {"S1": "anna"}, "not_speaker": ["S4"],
                   "merges": {"S3": "S1"}, "likes": ["carl"]},
        "reference": {"source": "conv1.rttm", "segments": [[0.0, 1.5, "spk1"]]},
        "audio_facts": {"size": ..., "mtime_ns": ..., "sha256": "...",
                        "sample_rate": 16000, "duration": 61.2}}],
     "speakers": {"anna": [["conv1", "S1"]]}}    # an index for readers; rebuilt on load

Slot curves (the big part: one value per 150 ms per slot) are kept out of the JSON,
so an autosave after every click stays small: each analysis's curves go into
``NAME.weighter-curves/<digest>.npz`` (float16, content-addressed, written once,
loaded lazily with ``allow_pickle=False``). That folder is a cache: without it the
project opens with everything but the curves (``Analysis.curves_available`` is
False; exports, gallery and ranking don't need curves; re-analyse to get them back).

Saving is atomic: a temporary file in the same folder, flushed and fsynced, then
``os.replace`` and an fsync of the folder, so a crash mid-save leaves the previous
project intact. Loading never writes, never unpickles, and never guesses: a
damaged or unknown file is one ``ProjectError`` naming the file, the problem and
what to do; a newer format version is a ``ProjectVersionError``. A missing audio
file is not an error: ``ProjectFile.exists`` is False and the GUI flags it.

Core code: no Qt and no torch (``Analysis`` reads a ``FileDiarization`` by its
attributes; ``Analysis.to_diarization`` is the one place that imports torch).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import numpy as np

from weighter_gui import __version__

from .files import atomic_write, file_sha256
from .gallery import FileRank, Gallery, Suggestion, rank_files

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PROJECT_SUFFIX",
    "AddFiles",
    "AddLike",
    "Analysis",
    "AnalysisTrack",
    "AudioFacts",
    "Batch",
    "Change",
    "Command",
    "LabelError",
    "Labels",
    "MarkNotSpeaker",
    "MergeSlots",
    "NameSlot",
    "NameSlots",
    "Project",
    "ProjectError",
    "ProjectFile",
    "ProjectSession",
    "ProjectVersionError",
    "Reference",
    "RelinkFile",
    "RemoveFile",
    "RemoveLike",
    "RenameSpeaker",
    "SetAnalysis",
    "SetReference",
    "SetThreshold",
    "Slot",
    "SlotState",
    "Speaker",
    "UndoStack",
    "UnmergeSlot",
    "check_name",
    "remap_labels",
]

FORMAT_NAME = "weighter-project"
FORMAT_VERSION = 1  # what this code writes and the newest it reads
PROJECT_SUFFIX = ".weighter"
CURVES_SUFFIX = "-curves"  # NAME.weighter -> NAME.weighter-curves/
REMAP_MIN_OVERLAP = 0.3  # IoU of speech time for a new slot to inherit an old slot's labels
MAX_NAME_LENGTH = 100
THRESHOLD_MERGE_SECONDS = 2.0  # threshold changes this close together are one undo step
STALE_TEMP_SECONDS = 60.0  # temp files of a dead writer older than this are removed on save

_ADVICE_DAMAGED = (
    "if you edited it by hand, fix that entry; otherwise restore a backup. The file was not changed"
)


class ProjectError(Exception):
    """A project cannot be opened, saved or changed; the message says why and what to do."""


class ProjectVersionError(ProjectError):
    """The project was written by a newer Weighter Studio (a newer format version)."""

    def __init__(self, message: str, found: int) -> None:
        super().__init__(message)
        self.found = found
        self.supported = FORMAT_VERSION


class LabelError(ProjectError, ValueError):
    """A labelling action that does not fit the file (unknown slot, bad name, ...)."""


# ------------------------------------------------------------------------------ helpers


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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


class _Rendered:
    """A part of the project JSON that renders itself (and may cache the text)."""

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render


def _dumps(value, indent: str = "") -> str:
    """JSON, indented for people; lists of plain values (segments) on one line."""
    if isinstance(value, _Rendered):
        return value.render(indent)
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dumps(v, inner)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, _Rendered)) for v in value):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def _encode_array(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and math.isfinite(n) else v


def union_segments(segments: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Sorted, non-overlapping cover of ``segments`` (touching ones are joined)."""
    out: list[tuple[float, float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in segments if b > a):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def _overlap(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """Seconds in both of two sorted, non-overlapping segment lists."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _path_to_json(p: Path, base: Path) -> str:
    """``p`` relative to ``base`` (posix separators) when possible, else absolute."""
    try:
        return PurePosixPath(*Path(os.path.relpath(p, base)).parts).as_posix()
    except ValueError:  # another drive (Windows)
        return str(p)


def _path_from_json(text: str, absolute: str | None, base: Path) -> Path:
    """The stored relative path under ``base``; else the stored absolute one if it exists."""
    p = Path(text)
    candidate = p if p.is_absolute() else Path(os.path.normpath(base / p))
    if not candidate.exists() and absolute:
        fallback = Path(absolute)
        if fallback.exists():
            return fallback
    return candidate


# ------------------------------------------------------------------------------ analysis


@dataclass(frozen=True, eq=False)
class Slot:
    """One track of an analysis, without its curve."""

    label: str
    confidence: float
    embedding: np.ndarray  # [D] float32, unit norm
    segments: tuple[tuple[float, float], ...] = ()
    model_name: str = ""  # a taught name the model's head gave this slot ("": none)
    model_probability: float = 0.0

    @property
    def speech_seconds(self) -> float:
        return sum(b - a for a, b in self.segments)


@dataclass(frozen=True, eq=False)
class AnalysisTrack:
    """A slot with its curve: reads like ``diarize.Track`` (GUI code can take either)."""

    label: str
    confidence: float
    embedding: np.ndarray
    curve: np.ndarray  # float32 at ``hop``; empty when the curves cache is missing
    segments: list[tuple[float, float]]

    @property
    def speech_seconds(self) -> float:
        return sum(b - a for a, b in self.segments)


class Analysis:
    """One file's diarization as the project keeps it. Immutable; torch-free.

    Reads like a ``FileDiarization`` (``duration``, ``hop``, ``threshold``, ``tracks``,
    ``speakers``, ``checkpoint``, ``frontend``), so views written for one take the
    other. ``slots`` is the same without curves (cheap); ``tracks`` loads the curves.
    """

    def __init__(
        self,
        *,
        duration: float,
        hop: float,
        threshold: float,
        slots: Sequence[Slot],
        checkpoint: str = "",
        checkpoint_sha256: str | None = None,
        frontend: str = "",
        created: str = "",
        curves: np.ndarray | None = None,
        curves_digest: str | None = None,
        curves_file: Path | None = None,
    ) -> None:
        if not (math.isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be >= 0 seconds, got {duration}")
        if not (math.isfinite(hop) and hop > 0):
            raise ValueError(f"hop must be > 0 seconds, got {hop}")
        labels = [s.label for s in slots]
        if len(set(labels)) != len(labels):
            raise ValueError(f"slot labels repeat: {labels}")
        self.duration = float(duration)
        self.hop = float(hop)
        self.threshold = float(threshold)
        self.slots: tuple[Slot, ...] = tuple(slots)
        self.checkpoint = checkpoint
        self.checkpoint_sha256 = checkpoint_sha256
        self.frontend = frontend
        self.created = created
        self._by_label = {s.label: s for s in self.slots}
        self._json_cache: dict[tuple[str, str], str] = {}  # (base, indent) -> to_json text
        self._curves: np.ndarray | None = None  # [slots, blocks] float16
        self._curves_file = curves_file
        self.curves_digest = curves_digest
        if curves is not None:
            c = np.asarray(curves, dtype=np.float16)
            if c.ndim != 2 or c.shape[0] != len(self.slots):
                raise ValueError(f"curves must be [slots={len(self.slots)}, blocks], got {c.shape}")
            self._curves = np.ascontiguousarray(c)
            h = hashlib.sha256(repr(c.shape).encode() + self._curves.tobytes())
            self.curves_digest = h.hexdigest()[:32]

    # -- building ---------------------------------------------------------------------

    @classmethod
    def from_diarization(cls, d, *, hash_checkpoint: bool = True) -> Analysis:
        """From a ``FileDiarization`` (or anything with its attributes).

        Records the checkpoint as an absolute path and, with ``hash_checkpoint`` and
        the file present, its sha256 (so the gallery never compares embeddings of
        two different models that happened to be saved under one path).
        """
        tracks = list(d.tracks)
        slots = [
            Slot(
                str(t.label),
                float(t.confidence),
                _unit(t.embedding),
                tuple((round(float(a), 3), round(float(b), 3)) for a, b in t.segments),
                getattr(t, "name", None) or "",
                float(getattr(t, "name_probability", 0.0)),
            )
            for t in tracks
        ]
        curves = [np.asarray(t.curve, dtype=np.float32).reshape(-1) for t in tracks]
        blocks = max((len(c) for c in curves), default=0)
        matrix = np.zeros((len(curves), blocks), dtype=np.float32)
        for i, c in enumerate(curves):
            matrix[i, : len(c)] = c
        checkpoint = str(getattr(d, "checkpoint", "") or "")
        sha = None
        if checkpoint:
            checkpoint = os.path.abspath(checkpoint)
            if hash_checkpoint and os.path.isfile(checkpoint):
                try:
                    sha = file_sha256(checkpoint)
                except OSError:
                    sha = None
        return cls(
            duration=float(d.duration),
            hop=float(d.hop),
            threshold=float(d.threshold),
            slots=slots,
            checkpoint=checkpoint,
            checkpoint_sha256=sha,
            frontend=str(getattr(d, "frontend", "") or ""),
            created=_now(),
            curves=np.clip(matrix, 0.0, 1.0),
        )

    def to_diarization(self, path: str | os.PathLike[str]):
        """A real ``diarize.FileDiarization`` (imports torch: call it off the GUI thread)."""
        from .diarize import FileDiarization, Track

        return FileDiarization(
            Path(path),
            self.duration,
            self.hop,
            [Track(t.label, t.confidence, t.embedding, t.curve, list(t.segments)) for t in self.tracks],
            self.threshold,
            self.checkpoint,
            self.frontend,
        )

    # -- reading ----------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """What identifies the model: the checkpoint's sha256, else its path."""
        return self.checkpoint_sha256 or self.checkpoint

    def slot(self, label: str) -> Slot | None:
        return self._by_label.get(label)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.slots]

    @property
    def curves(self) -> np.ndarray | None:
        """[slots, blocks] float32, or None when the curves cache is missing or damaged."""
        c = self._load_curves()
        return None if c is None else c.astype(np.float32)

    @property
    def curves_available(self) -> bool:
        return self._load_curves() is not None

    def _load_curves(self) -> np.ndarray | None:
        if self._curves is None and self._curves_file is not None:
            try:
                with open(self._curves_file, "rb") as f:
                    data = f.read()
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    c = np.asarray(z["curves"], dtype=np.float16)
                if c.ndim == 2 and c.shape[0] == len(self.slots):
                    self._curves = c
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # cache missing or damaged: curves unavailable, the rest is fine
        return self._curves

    def pin(self) -> None:
        """Load the curves into memory (before the sidecar may be collected)."""
        self._load_curves()

    @property
    def tracks(self) -> list[AnalysisTrack]:
        curves = self._load_curves()
        out = []
        for i, s in enumerate(self.slots):
            curve = curves[i].astype(np.float32) if curves is not None else np.zeros(0, np.float32)
            out.append(AnalysisTrack(s.label, s.confidence, s.embedding, curve, list(s.segments)))
        return out

    @property
    def speakers(self) -> list[AnalysisTrack]:
        """Tracks at or above the analysis's own threshold (like ``FileDiarization.speakers``)."""
        return [t for t in self.tracks if t.confidence >= self.threshold]

    # -- storing ----------------------------------------------------------------------

    def _write_sidecar(self, folder: Path) -> None:
        if not self.curves_digest:
            return
        target = folder / f"{self.curves_digest}.npz"
        if target.exists():
            if self._curves is None:
                self._curves_file = target
            return
        data: bytes | None = None
        if self._curves is not None:
            buf = io.BytesIO()
            np.savez_compressed(buf, curves=self._curves)
            data = buf.getvalue()
        elif self._curves_file is not None:
            try:
                data = Path(self._curves_file).read_bytes()  # save-as: carry the cache along
            except OSError:
                data = None
        if data is None:
            return  # nothing to write: the curves were already lost
        atomic_write(target, data)
        if self._curves is None:
            self._curves_file = target

    def rendered(self, base: Path) -> _Rendered:
        """``to_json`` as text, cached: an autosave re-renders only what changed."""

        def render(indent: str) -> str:
            key = (str(base), indent)
            cache = self._json_cache
            if key not in cache:
                cache.clear()
                cache[key] = _dumps(self.to_json(base), indent)
            return cache[key]

        return _Rendered(render)

    def to_json(self, base: Path) -> dict:
        d: dict = {
            "duration": round(self.duration, 3),
            "hop": self.hop,
            "threshold": self.threshold,
            "checkpoint": _path_to_json(Path(self.checkpoint), base) if self.checkpoint else "",
            "checkpoint_absolute": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "frontend": self.frontend,
            "created": self.created,
            "curves": self.curves_digest,
            "slots": [
                {
                    "label": s.label,
                    "confidence": round(s.confidence, 5),
                    "segments": [[round(a, 3), round(b, 3)] for a, b in s.segments],
                    "embedding": _encode_array(s.embedding, "<f4"),
                    **({"model_name": s.model_name, "model_probability": round(s.model_probability, 4)}
                       if s.model_name else {}),
                }
                for s in self.slots
            ],
        }
        return d

    @classmethod
    def from_json(
        cls, d: object, base: Path, curves_dir: Path, fail: Callable[[str], ProjectError]
    ) -> Analysis:
        if not isinstance(d, dict):
            raise fail('"analysis" must be an object or null')
        duration = _number(d.get("duration"), '"analysis.duration"', fail, minimum=0.0)
        hop = _number(d.get("hop"), '"analysis.hop"', fail, minimum=0.0)
        if hop <= 0:
            raise fail('"analysis.hop" must be > 0 seconds')
        threshold = _number(d.get("threshold"), '"analysis.threshold"', fail)
        checkpoint = d.get("checkpoint", "")
        checkpoint_abs = d.get("checkpoint_absolute") or None
        for key, value in (
            ("checkpoint", checkpoint),
            ("frontend", d.get("frontend", "")),
            ("created", d.get("created", "")),
        ):
            if not isinstance(value, str):
                raise fail(f'"analysis.{key}" must be text')
        if checkpoint:
            checkpoint = str(_path_from_json(checkpoint, checkpoint_abs, base))
        sha = d.get("checkpoint_sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise fail('"analysis.checkpoint_sha256" must be 64 hex digits or null')
        digest = d.get("curves")
        if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{8,64}", digest)):
            raise fail('"analysis.curves" must be the hex name of a curves file or null')
        raw = d.get("slots")
        if not isinstance(raw, list):
            raise fail('"analysis.slots" must be a list')
        slots = []
        dim = None
        for i, s in enumerate(raw):
            where = f"analysis slot {i + 1}"
            if not isinstance(s, dict):
                raise fail(f"{where} must be an object")
            label = s.get("label")
            if not isinstance(label, str) or not label:
                raise fail(f'{where}: "label" must be non-empty text')
            conf = _number(s.get("confidence"), f'{where} ("{label}"): "confidence"', fail)
            segs = _segments(s.get("segments"), f'{where} ("{label}"): "segments"', fail)
            emb_text = s.get("embedding")
            try:
                if not isinstance(emb_text, str):
                    raise ValueError
                raw_bytes = base64.b64decode(emb_text.encode("ascii"), validate=True)
                if len(raw_bytes) % 4 or not raw_bytes:
                    raise ValueError
                emb = np.frombuffer(raw_bytes, dtype="<f4").astype(np.float32)
            except (ValueError, UnicodeEncodeError):
                raise fail(f'{where} ("{label}"): "embedding" must be base64 of float32 values') from None
            if not np.all(np.isfinite(emb)):
                raise fail(f'{where} ("{label}"): "embedding" holds a NaN or infinity')
            if dim is not None and emb.shape[0] != dim:
                raise fail(f'{where} ("{label}"): embedding has {emb.shape[0]} values, the others {dim}')
            dim = emb.shape[0]
            model_name = s.get("model_name", "")
            if not isinstance(model_name, str):
                raise fail(f'{where} ("{label}"): "model_name" must be text')
            prob = _number(s.get("model_probability", 0.0), f'{where} ("{label}"): "model_probability"', fail)
            slots.append(Slot(label, conf, emb, segs, model_name, prob))
        try:
            return cls(
                duration=duration,
                hop=hop,
                threshold=threshold,
                slots=slots,
                checkpoint=checkpoint,
                checkpoint_sha256=sha,
                frontend=d.get("frontend", ""),
                created=d.get("created", ""),
                curves_digest=digest,
                curves_file=(curves_dir / f"{digest}.npz") if digest else None,
            )
        except ValueError as e:
            raise fail(f'"analysis": {e}') from None


def _number(value, what: str, fail, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(f"{what} must be a number")
    if minimum is not None and value < minimum:
        raise fail(f"{what} must be at least {minimum}")
    return float(value)


def _segments(value, what: str, fail) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list):
        raise fail(f"{what} must be a list of [start, end]")
    out = []
    for i, seg in enumerate(value):
        if not (
            isinstance(seg, list)
            and len(seg) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in seg)
            and 0 <= seg[0] <= seg[1]
        ):
            raise fail(f"{what}: item {i + 1} is not [start, end] with 0 <= start <= end")
        out.append((float(seg[0]), float(seg[1])))
    return tuple(out)


# ------------------------------------------------------------------------------ labels


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


@dataclass(eq=False)
class ProjectFile:
    """One audio file of a project. Commands replace its fields, never mutate them."""

    key: str
    audio: Path  # absolute
    analysis: Analysis | None = None
    labels: Labels = field(default_factory=Labels)
    threshold: float | None = None  # None: the analysis's own
    reference: Reference | None = None
    facts: AudioFacts | None = None  # a cache, not part of undo's meaning
    extra: dict = field(default_factory=dict)  # unknown keys from a file, written back

    @property
    def exists(self) -> bool:
        """False when the audio file is missing (flag it; the project still works)."""
        return self.audio.is_file()

    @property
    def effective_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        if self.analysis is not None:
            return self.analysis.threshold
        return 0.5

    @property
    def is_labelled(self) -> bool:
        return not self.labels.empty

    def root(self, label: str) -> str:
        return self.labels.root(label)

    def name_of(self, label: str) -> str | None:
        """The name of the slot's group (None: unnamed or not a speaker)."""
        if label in self.labels.not_speaker:
            return None
        return self.labels.names.get(self.labels.root(label))

    def is_kept(self, label: str) -> bool:
        if self.analysis is None or self.analysis.slot(label) is None or label in self.labels.not_speaker:
            return False
        root = self.labels.root(label)
        if root in self.labels.names:
            return True
        best = max(self.analysis.slot(m).confidence for m in self.labels.members(root))
        return best >= self.effective_threshold

    def slot_states(self) -> list[SlotState]:
        if self.analysis is None:
            return []
        out = []
        for s in self.analysis.slots:
            out.append(
                SlotState(
                    s.label,
                    s.confidence,
                    s.speech_seconds,
                    self.name_of(s.label),
                    self.labels.root(s.label),
                    self.labels.merges.get(s.label),
                    s.label in self.labels.not_speaker,
                    self.is_kept(s.label),
                )
            )
        return out

    @property
    def likes(self) -> tuple[str, ...]:
        """Speakers in the file: named groups in slot order, then hand-added names, sorted."""
        out: list[str] = []
        if self.analysis is not None:
            for s in self.analysis.slots:
                name = self.name_of(s.label)
                if name is not None and name not in out:
                    out.append(name)
        out += sorted(n for n in self.labels.likes if n not in out)
        return tuple(out)

    def speakers(self) -> list[Speaker]:
        """The corrected diarization: kept groups, same names joined, in slot order."""
        if self.analysis is None:
            return []
        groups: dict[str, dict] = {}
        order: list[str] = []
        names = set(self.labels.names.values()) | set(self.labels.likes)
        for s in self.analysis.slots:
            if not self.is_kept(s.label):
                continue
            root = self.labels.root(s.label)
            name = self.labels.names.get(root)
            label = name if name is not None else (root if root not in names else f"{root}_unnamed")
            if label not in groups:
                groups[label] = {"name": name, "slots": [], "segments": []}
                order.append(label)
            groups[label]["slots"].append(s.label)
            groups[label]["segments"].extend(s.segments)
        return [
            Speaker(
                label,
                groups[label]["name"],
                tuple(groups[label]["slots"]),
                union_segments(groups[label]["segments"]),
            )
            for label in order
        ]

    def audio_facts(self, *, sha256: bool = True) -> AudioFacts:
        """sha256, sample rate and duration of the audio file, cached by size and mtime.

        Raises ``OSError`` for a missing file and ``AudioError`` for an unreadable one.
        """
        st = self.audio.stat()
        facts = self.facts
        if facts is None or (facts.size, facts.mtime_ns) != (st.st_size, st.st_mtime_ns):
            from .audio import probe

            info = probe(self.audio)
            facts = AudioFacts(st.st_size, st.st_mtime_ns, None, info.sample_rate, info.duration)
        if sha256 and facts.sha256 is None:
            facts = replace(facts, sha256=file_sha256(self.audio))
        self.facts = facts
        return facts

    @property
    def duration(self) -> float | None:
        if self.analysis is not None:
            return self.analysis.duration
        if self.facts is not None:
            return self.facts.duration
        return None

    # -- json ---------------------------------------------------------------------------

    def to_json(self, base: Path) -> dict:
        d = dict(self.extra)
        d.update(
            {
                "key": self.key,
                "audio": _path_to_json(self.audio, base),
                "audio_absolute": str(self.audio),
                "threshold": self.threshold,
                "analysis": None if self.analysis is None else self.analysis.rendered(base),
                "labels": self.labels.to_json(),
                "reference": None
                if self.reference is None
                else {
                    "source": self.reference.source,
                    "segments": [[round(a, 3), round(b, 3), s] for a, b, s in self.reference.segments],
                },
                "audio_facts": None
                if self.facts is None
                else {
                    "size": self.facts.size,
                    "mtime_ns": self.facts.mtime_ns,
                    "sha256": self.facts.sha256,
                    "sample_rate": self.facts.sample_rate,
                    "duration": self.facts.duration,
                },
            }
        )
        return d


_FILE_KEYS = {"key", "audio", "audio_absolute", "threshold", "analysis", "labels", "reference", "audio_facts"}


def _file_from_json(d: object, index: int, base: Path, curves_dir: Path, path: Path) -> ProjectFile:
    label = f"file {index + 1}"
    if isinstance(d, dict) and isinstance(d.get("key"), str):
        label += f" ({d['key']!r})"

    def fail(problem: str) -> ProjectError:
        return ProjectError(f"{path}: {label}: {problem}; {_ADVICE_DAMAGED}")

    if not isinstance(d, dict):
        raise fail('each entry of "files" must be an object')
    key = d.get("key")
    if not isinstance(key, str) or not key or any(c.isspace() for c in key):
        raise fail('"key" must be non-empty text without spaces')
    audio = d.get("audio")
    absolute = d.get("audio_absolute")
    if not isinstance(audio, str) or not audio:
        raise fail('"audio" must be the audio file\'s path')
    if absolute is not None and not isinstance(absolute, str):
        raise fail('"audio_absolute" must be text')
    threshold = d.get("threshold")
    if threshold is not None:
        threshold = _number(threshold, '"threshold"', fail)
    analysis = None
    if d.get("analysis") is not None:
        analysis = Analysis.from_json(d["analysis"], base, curves_dir, fail)
    labels = _labels_from_json(d.get("labels", {}), analysis, fail)
    reference = None
    ref = d.get("reference")
    if ref is not None:
        if not isinstance(ref, dict) or not isinstance(ref.get("source", ""), str):
            raise fail('"reference" must be {"source": text, "segments": [[start, end, speaker], ...]}')
        segs = ref.get("segments")
        if not isinstance(segs, list):
            raise fail('"reference.segments" must be a list')
        out = []
        for i, seg in enumerate(segs):
            if not (
                isinstance(seg, list)
                and len(seg) == 3
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in seg[:2])
                and isinstance(seg[2], str)
                and 0 <= seg[0] <= seg[1]
            ):
                raise fail(f'"reference.segments" item {i + 1} is not [start, end, speaker]')
            out.append((float(seg[0]), float(seg[1]), seg[2]))
        reference = Reference(tuple(out), ref.get("source", ""))
    facts = None
    fd = d.get("audio_facts")
    if isinstance(fd, dict):  # a cache: anything odd is simply dropped
        try:
            facts = AudioFacts(
                int(fd["size"]),
                int(fd["mtime_ns"]),
                fd.get("sha256") if isinstance(fd.get("sha256"), str) else None,
                int(fd["sample_rate"]) if fd.get("sample_rate") is not None else None,
                float(fd["duration"]) if fd.get("duration") is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            facts = None
    return ProjectFile(
        key=key,
        audio=_path_from_json(audio, absolute, base),
        analysis=analysis,
        labels=labels,
        threshold=threshold,
        reference=reference,
        facts=facts,
        extra={k: v for k, v in d.items() if k not in _FILE_KEYS},
    )


def _labels_from_json(d: object, analysis: Analysis | None, fail) -> Labels:
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


# ------------------------------------------------------------------------------ project


def _key_base(audio: Path) -> str:
    return "_".join(audio.stem.split()) or "file"


class Project:
    """The files of one labelling project. ``files`` is ordered (the order shown)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path | None = Path(path).absolute() if path is not None else None
        self.files: dict[str, ProjectFile] = {}
        self.extra: dict = {}  # unknown top-level keys from the file, written back
        self.loaded_version: int | None = None

    # -- files ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.files)

    def file(self, key: str) -> ProjectFile:
        try:
            return self.files[key]
        except KeyError:
            raise LabelError(f"the project has no file {key!r}") from None

    def key_for(self, audio: str | os.PathLike[str]) -> str | None:
        """The key of the file whose audio is ``audio`` (None: not in the project)."""
        target = os.path.normcase(os.path.abspath(audio))
        for key, pf in self.files.items():
            if os.path.normcase(str(pf.audio)) == target:
                return key
        return None

    def new_key(self, audio: str | os.PathLike[str], taken: Iterable[str] = ()) -> str:
        base = _key_base(Path(audio))
        used = set(self.files) | set(taken)
        key, n = base, 1
        while key in used:
            n += 1
            key = f"{base}-{n}"
        return key

    def speaker_names(self) -> list[str]:
        """Every name used in the project, sorted."""
        names = set()
        for pf in self.files.values():
            names |= set(pf.labels.names.values()) | set(pf.labels.likes)
        return sorted(names)

    def missing_files(self) -> list[str]:
        """Keys of files whose audio is not where the project says."""
        return [k for k, pf in self.files.items() if not pf.exists]

    def _insert(self, pf: ProjectFile, index: int) -> None:
        items = list(self.files.items())
        items.insert(min(index, len(items)), (pf.key, pf))
        self.files = dict(items)

    # -- disk -------------------------------------------------------------------------

    @property
    def curves_dir(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + CURVES_SUFFIX)

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, overwrite: bool = False) -> Project:
        """A new, empty project, saved at once; refuses to replace an existing file."""
        path = Path(path).absolute()
        if path.exists() and not overwrite:
            raise ProjectError(f"{path}: a file of that name exists already; open it, or choose another name")
        project = cls(path)
        project.save()
        return project

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Open a project file. Raises ``ProjectError`` (never changes the file)."""
        path = Path(path).absolute()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProjectError(f"{path}: project file not found; check the name and folder") from None
        except IsADirectoryError:
            raise ProjectError(
                f"{path}: is a folder, not a project file; pick the {PROJECT_SUFFIX} file inside"
            ) from None
        except OSError as e:
            raise ProjectError(
                f"{path}: cannot read the project ({e.strerror or e}); check its permissions"
            ) from None
        if not raw.strip():
            raise ProjectError(
                f"{path}: the project file is empty (a copy cut short?); restore a backup. The file was not changed"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(
                f"{path}: not a Weighter Studio project (not UTF-8 text); "
                f"pick the {PROJECT_SUFFIX} file. The file was not changed"
            ) from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProjectError(
                f"{path}: not a readable project: broken JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                f"the file is damaged or cut short; {_ADVICE_DAMAGED}"
            ) from None
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise ProjectError(
                f'{path}: not a Weighter Studio project (no "format": "{FORMAT_NAME}"); '
                f"pick a {PROJECT_SUFFIX} file. The file was not changed"
            )
        version = d.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ProjectError(
                f'{path}: "format_version" must be a whole number >= 1, got {version!r}; {_ADVICE_DAMAGED}'
            )
        if version > FORMAT_VERSION:
            writer = d.get("code_version")
            by = f" (by Weighter Studio {writer})" if isinstance(writer, str) else ""
            raise ProjectVersionError(
                f"{path}: this project was saved in project format {version}{by}, newer than this "
                f"Weighter Studio {__version__} reads (up to format {FORMAT_VERSION}); update Weighter "
                "Studio to open it. The file was not changed",
                version,
            )
        files = d.get("files")
        if not isinstance(files, list):
            raise ProjectError(f'{path}: "files" must be a list; {_ADVICE_DAMAGED}')
        project = cls(path)
        project.loaded_version = version
        base = path.parent
        curves_dir = project.curves_dir
        for i, entry in enumerate(files):
            pf = _file_from_json(entry, i, base, curves_dir, path)
            if pf.key in project.files:
                raise ProjectError(
                    f"{path}: file {i + 1}: key {pf.key!r} repeats an earlier file; {_ADVICE_DAMAGED}"
                )
            project.files[pf.key] = pf
        known = {"format", "format_version", "code_version", "saved", "files", "speakers"}
        project.extra = {k: v for k, v in d.items() if k not in known}
        return project

    def to_json(self, base: Path) -> dict:
        speakers: dict[str, list] = {}
        for pf in self.files.values():
            if pf.analysis is not None:
                for s in pf.analysis.slots:
                    name = pf.name_of(s.label)
                    if name is not None:
                        speakers.setdefault(name, []).append([pf.key, s.label])
            for name in pf.labels.likes:
                speakers.setdefault(name, [])
        d = dict(self.extra)
        d.update(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "code_version": __version__,
                "saved": _now(),
                "files": [pf.to_json(base) for pf in self.files.values()],
                "speakers": dict(sorted(speakers.items())),
            }
        )
        return d

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the project atomically (curves sidecars first, then the JSON).

        ``path`` saves under a new name (and makes it the project's path). Raises
        ``ProjectError`` when the disk refuses; the previous file is then intact.
        """
        target = Path(path).absolute() if path is not None else self.path
        if target is None:
            raise ProjectError("the project has no file yet; choose where to save it")
        curves_dir = target.with_name(target.name + CURVES_SUFFIX)
        try:
            for pf in self.files.values():
                if pf.analysis is not None:
                    pf.analysis._write_sidecar(curves_dir)
            text = _dumps(self.to_json(target.parent)) + "\n"
            atomic_write(target, text)
        except OSError as e:
            raise ProjectError(
                f"{target}: cannot save the project ({e.strerror or e}); check free disk space and that "
                "the folder is writable. Your work is still open; the last saved version is intact"
            ) from None
        self.path = target
        self._collect(target, curves_dir)
        return target

    def _collect(self, target: Path, curves_dir: Path) -> None:
        """Remove curves no file uses any more, and temp files of writers that died."""
        used = {pf.analysis.curves_digest for pf in self.files.values() if pf.analysis is not None}
        try:
            for p in curves_dir.glob("*.npz"):
                if p.stem not in used:
                    p.unlink(missing_ok=True)
            now = time.time()
            for folder, name in ((target.parent, target.name), (curves_dir, "")):
                for p in folder.glob(f".{name}*.tmp"):
                    if now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                        p.unlink(missing_ok=True)
        except OSError:
            pass  # housekeeping only


# ------------------------------------------------------------------------------ remapping


def remap_labels(
    old: Analysis | None, labels: Labels, new: Analysis, min_overlap: float = REMAP_MIN_OVERLAP
) -> tuple[Labels, dict[str, str], list[str]]:
    """Carry ``labels`` from ``old``'s slots to ``new``'s: (labels, old->new slot, lost).

    Slots are matched one-to-one by the IoU of their speech time (Hungarian). A named
    group none of whose slots has a match becomes a hand-added like; ``lost`` says,
    in words, which marks could not be carried.
    """
    if old is None or not labels.touched:
        return Labels(likes=labels.likes), {}, []
    mapping: dict[str, str] = {}
    if old.slots and new.slots:
        from scipy.optimize import linear_sum_assignment

        iou = np.zeros((len(old.slots), len(new.slots)))
        for i, a in enumerate(old.slots):
            sa = union_segments(a.segments)
            for j, b in enumerate(new.slots):
                sb = union_segments(b.segments)
                inter = _overlap(sa, sb)
                union = sum(y - x for x, y in sa) + sum(y - x for x, y in sb) - inter
                iou[i, j] = inter / union if union > 0 else 0.0
        rows, cols = linear_sum_assignment(-iou)
        mapping = {
            old.slots[r].label: new.slots[c].label for r, c in zip(rows, cols) if iou[r, c] >= min_overlap
        }
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


# ------------------------------------------------------------------------------ commands


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

    FIELDS = ("analysis", "labels")

    def __init__(self, key: str, analysis: Analysis) -> None:
        self.key, self.analysis = key, analysis
        self.text = f"Re-analyse {key}"
        self.keys = (key,)
        self.mapping: dict[str, str] = {}
        self.lost: list[str] = []

    def _plan(self, project):
        pf = project.file(self.key)
        labels, self.mapping, self.lost = remap_labels(pf.analysis, pf.labels, self.analysis)
        return {self.key: {"analysis": self.analysis, "labels": labels}}


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


# ------------------------------------------------------------------------------ session


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
    def gallery(self) -> Gallery:
        """The speaker gallery, rebuilt from the labels after any change."""
        if self._gallery is None:
            self._gallery = Gallery.from_project(self.project)
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
        from .exports import read_reference

        pf = self.project.file(key)
        segments = read_reference(path, uris=(key, _key_base(pf.audio)))
        ref = Reference(tuple(segments), str(Path(path)))
        self.stack.push(SetReference(key, ref))
        return ref

    def clear_reference(self, key: str) -> None:
        self.stack.push(SetReference(key, None))
