"""The project file's format: its name and version, the errors a load or save raises,
and the JSON helpers every part of the project is written and read with.

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

Loading never writes, never unpickles, and never guesses: a damaged or unknown file
is one ``ProjectError`` naming the file, the problem and what to do; a newer format
version is a ``ProjectVersionError``.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

FORMAT_NAME = "weighter-project"
FORMAT_VERSION = 2  # the newest this code reads and writes (2: corrected turns)
TURNS_FORMAT_VERSION = 2  # a project without corrected turns is written as format 1, for older readers
PROJECT_SUFFIX = ".weighter"
CURVES_SUFFIX = "-curves"  # NAME.weighter -> NAME.weighter-curves/
STALE_TEMP_SECONDS = 60.0  # temp files of a dead writer older than this are removed on save
ADVICE_DAMAGED = (
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


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Rendered:
    """A part of the project JSON that renders itself (and may cache the text)."""

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render


def dumps_json(value, indent: str = "") -> str:
    """JSON, indented for people; lists of plain values (segments) on one line."""
    if isinstance(value, Rendered):
        return value.render(indent)
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {dumps_json(v, inner)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, Rendered)) for v in value):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + dumps_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def encode_array(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def path_to_json(p: Path, base: Path) -> str:
    """``p`` relative to ``base`` (posix separators) when possible, else absolute."""
    try:
        return PurePosixPath(*Path(os.path.relpath(p, base)).parts).as_posix()
    except ValueError:  # another drive (Windows)
        return str(p)


def path_from_json(text: str, absolute: str | None, base: Path) -> Path:
    """The stored relative path under ``base``; else the stored absolute one if it exists."""
    p = Path(text)
    candidate = p if p.is_absolute() else Path(os.path.normpath(base / p))
    if not candidate.exists() and absolute:
        fallback = Path(absolute)
        if fallback.exists():
            return fallback
    return candidate


def read_number(value, what: str, fail, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(f"{what} must be a number")
    if minimum is not None and value < minimum:
        raise fail(f"{what} must be at least {minimum}")
    return float(value)


def read_segments(value, what: str, fail) -> tuple[tuple[float, float], ...]:
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

