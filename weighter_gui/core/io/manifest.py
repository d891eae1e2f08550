"""Label manifests: the training labels ``weighter synth`` writes and the app exports.

One JSON object per line (JSON Lines)::

    {"id": "conv1", "audio": "audio/conv1.flac", "likes": ["anna", "ben"],
     "duration": 61.2, "sample_rate": 16000, "sha256": "...",
     "segments": [[0.0, 3.1, "anna"], [2.8, 7.5, "ben"], ...]}

Required: ``audio`` (a path, relative to the manifest's folder unless absolute) and
``likes`` (the speakers present in the file). Optional: ``id`` (default: the audio
file's stem), ``duration``, ``sample_rate``, ``sha256`` of the audio file (training
warns when the file changed), ``segments`` (``[start_s, end_s, speaker]``: frame
timings for the frame-level training term; every speaker in them must be a like),
and anything else, which is kept but ignored.

Reading never guesses: a malformed line is a ``ManifestError`` naming the file,
the line and the problem. Writing is atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from weighter_gui.core.io.files import atomic_write, read_text

__all__ = ["ManifestError", "ManifestItem", "read_manifest", "write_manifest"]


class ManifestError(ValueError):
    """A manifest file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class ManifestItem:
    id: str
    audio: Path  # resolved against the manifest's folder
    likes: tuple[str, ...]
    segments: tuple[tuple[float, float, str], ...] | None = None
    duration: float | None = None
    sample_rate: int | None = None
    sha256: str | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self, base: Path | None = None) -> dict:
        """The manifest line; ``audio`` relative to ``base`` where it lies below it."""
        audio = self.audio.resolve()
        if base is not None and audio.is_relative_to(base):
            audio = audio.relative_to(base)
        d = dict(self.extra)
        d.update({"id": self.id, "audio": audio.as_posix(), "likes": list(self.likes)})
        for key in ("duration", "sample_rate", "sha256"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.segments is not None:
            d["segments"] = [[a, b, s] for a, b, s in self.segments]
        return d


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestItem]:
    path = Path(path)
    text = read_text(path, "manifest", ManifestError)
    items: list[ManifestItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = _parse_line(path, number, line)
        if item.id in seen:
            raise ManifestError(
                f"{path}, line {number}: id {item.id!r} repeats line {seen[item.id]}; ids must be unique"
            )
        seen[item.id] = number
        items.append(item)
    if not items:
        raise ManifestError(f"{path}: the manifest has no entries")
    return items


def _parse_line(path: Path, number: int, line: str) -> ManifestItem:
    def fail(problem: str) -> ManifestError:
        return ManifestError(f"{path}, line {number}: {problem}")

    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise fail(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(d, dict):
        raise fail("each line must be a JSON object")
    audio = d.get("audio")
    if not isinstance(audio, str) or not audio:
        raise fail('missing "audio" (the audio file\'s path)')
    likes = d.get("likes")
    if not isinstance(likes, list) or not all(isinstance(s, str) and s for s in likes):
        raise fail('"likes" must be a list of speaker names')
    if len(set(likes)) != len(likes):
        raise fail('"likes" names a speaker twice')
    audio_path = Path(audio)
    if not audio_path.is_absolute():
        audio_path = path.parent / audio_path
    item_id = d.get("id", audio_path.stem)
    if not isinstance(item_id, str) or not item_id:
        raise fail('"id" must be a non-empty string')
    segments = d.get("segments")
    if segments is not None:
        segments = _parse_segments(segments, set(likes), fail)
    duration = d.get("duration")
    if duration is not None and not (isinstance(duration, (int, float)) and duration > 0):
        raise fail('"duration" must be a positive number of seconds')
    rate = d.get("sample_rate")
    if rate is not None and not (isinstance(rate, int) and rate > 0):
        raise fail('"sample_rate" must be a positive integer')
    digest = d.get("sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        raise fail('"sha256" must be 64 hex digits')
    known = {"id", "audio", "likes", "segments", "duration", "sample_rate", "sha256"}
    return ManifestItem(
        id=item_id,
        audio=audio_path,
        likes=tuple(likes),
        segments=segments,
        duration=None if duration is None else float(duration),
        sample_rate=rate,
        sha256=digest,
        extra={k: v for k, v in d.items() if k not in known},
    )


def _parse_segments(segments, likes: set[str], fail) -> tuple[tuple[float, float, str], ...]:
    if not isinstance(segments, list):
        raise fail('"segments" must be a list of [start_s, end_s, speaker]')
    out = []
    for i, seg in enumerate(segments):
        ok = (
            isinstance(seg, list)
            and len(seg) == 3
            and all(isinstance(x, (int, float)) for x in seg[:2])
            and isinstance(seg[2], str)
        )
        if not ok:
            raise fail(f"segment {i} is not [start_s, end_s, speaker]")
        start, end, speaker = float(seg[0]), float(seg[1]), seg[2]
        if not 0 <= start < end:
            raise fail(f"segment {i} has start {start} and end {end}; need 0 <= start < end")
        if speaker not in likes:
            raise fail(f"segment {i} names {speaker!r}, who is not among the likes")
        out.append((start, end, speaker))
    return tuple(out)


def write_manifest(path: str | os.PathLike[str], items: list[ManifestItem]) -> Path:
    """Write ``items`` atomically; audio paths below the manifest's folder become relative."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    return atomic_write(path, "".join(json.dumps(item.to_json(base)) + "\n" for item in items))
