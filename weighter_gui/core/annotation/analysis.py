"""One file's analysis as the project keeps it: the model's slots (label, confidence,
segments, unit embedding, curve) and the settings it was made with.

``Analysis.from_diarization`` reads a ``FileDiarization`` by its attributes, so this
module never imports torch; ``FileDiarization.from_analysis`` goes the other way. The
curves live in a sidecar (see ``storage``) and load lazily.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weighter_gui.core.annotation.storage import (
    ProjectError,
    Rendered,
    dumps_json,
    encode_array,
    path_from_json,
    path_to_json,
    read_number,
    read_segments,
    utc_now,
)
from weighter_gui.core.io.files import atomic_write, file_sha256


def _read_vector(text: object, what: str, fail: Callable[[str], ProjectError]) -> np.ndarray:
    """A float32 vector written by ``encode_array(v, "<f4")``."""
    try:
        if not isinstance(text, str):
            raise ValueError
        raw_bytes = base64.b64decode(text.encode("ascii"), validate=True)
        if len(raw_bytes) % 4 or not raw_bytes:
            raise ValueError
        vector = np.frombuffer(raw_bytes, dtype="<f4").astype(np.float32)
    except (ValueError, UnicodeEncodeError):
        raise fail(f"{what} must be base64 of float32 values") from None
    if not np.all(np.isfinite(vector)):
        raise fail(f"{what} holds a NaN or infinity")
    return vector


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and math.isfinite(n) else v


@dataclass(frozen=True, eq=False)


class Slot:
    """One track of an analysis, without its curve."""

    label: str
    confidence: float
    embedding: np.ndarray  # [D] float32, unit norm
    segments: tuple[tuple[float, float], ...] = ()
    model_name: str = ""  # a taught name the model gave this slot ("": none; ``Diarizer.name_tracks``)
    model_probability: float = 0.0  # how sure: a taught voice's voiceprint cosine, or the head's probability
    voiceprint: np.ndarray | None = None  # [VOICE_DIM] float32, unit norm; None: analysed before voiceprints

    @property
    def speech_seconds(self) -> float:
        return sum(b - a for a, b in self.segments)

    @property
    def voice(self) -> np.ndarray:
        """What the gallery compares: the voiceprint, else (an older analysis) the embedding."""
        return self.voiceprint if self.voiceprint is not None else self.embedding


@dataclass(frozen=True, eq=False)
class AnalysisTrack:
    """A slot with its curve: reads like ``diarize.Track`` (GUI code can take either)."""

    label: str
    confidence: float
    embedding: np.ndarray
    curve: np.ndarray  # float32 at ``hop``; empty when the curves cache is missing
    segments: list[tuple[float, float]]
    voiceprint: np.ndarray | None = None

    @property
    def speech_seconds(self) -> float:
        return sum(b - a for a, b in self.segments)


class Analysis:
    """One file's diarization as the project keeps it. Immutable; torch-free.

    Reads like a ``FileDiarization`` (``duration``, ``hop``, ``threshold``, ``tracks``,
    ``speakers``, ``checkpoint``, ``frontend``, ``speech``), so views written for one take the
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
        speech: np.ndarray | None = None,
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
        # [blocks] float16: the share of speech frames per curve value (the speech lane); None: not detected
        self._speech: np.ndarray | None = None
        self._curves_file = curves_file
        self.curves_digest = curves_digest
        if curves is not None:
            c = np.asarray(curves, dtype=np.float16)
            if c.ndim != 2 or c.shape[0] != len(self.slots):
                raise ValueError(f"curves must be [slots={len(self.slots)}, blocks], got {c.shape}")
            self._curves = np.ascontiguousarray(c)
            h = hashlib.sha256(repr(c.shape).encode() + self._curves.tobytes())
            if speech is not None:
                self._speech = np.ascontiguousarray(np.clip(np.asarray(speech, np.float32).reshape(-1), 0, 1),
                                                    dtype=np.float16)
                h.update(b"speech" + self._speech.tobytes())
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
                None if getattr(t, "voiceprint", None) is None else _unit(t.voiceprint),
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
            created=utc_now(),
            curves=np.clip(matrix, 0.0, 1.0),
            speech=getattr(d, "speech", None),
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
                    speech = np.asarray(z["speech"], dtype=np.float16) if "speech" in z.files else None
                if c.ndim == 2 and c.shape[0] == len(self.slots):
                    self._curves = c
                    self._speech = speech if speech is not None and speech.ndim == 1 else None
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # cache missing or damaged: curves unavailable, the rest is fine
        return self._curves

    @property
    def speech(self) -> np.ndarray | None:
        """[blocks] float32 share of speech per curve value (the speech lane), or None when
        speech was not detected or the curves cache (written before it kept speech) has none."""
        self._load_curves()
        return None if self._speech is None else self._speech.astype(np.float32)

    def pin(self) -> None:
        """Load the curves into memory (before the sidecar may be collected)."""
        self._load_curves()

    @property
    def tracks(self) -> list[AnalysisTrack]:
        curves = self._load_curves()
        out = []
        for i, s in enumerate(self.slots):
            curve = curves[i].astype(np.float32) if curves is not None else np.zeros(0, np.float32)
            out.append(AnalysisTrack(s.label, s.confidence, s.embedding, curve, list(s.segments), s.voiceprint))
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
            np.savez_compressed(buf, curves=self._curves, **({} if self._speech is None else {"speech": self._speech}))
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

    def rendered(self, base: Path) -> Rendered:
        """``to_json`` as text, cached: an autosave re-renders only what changed."""

        def render(indent: str) -> str:
            key = (str(base), indent)
            cache = self._json_cache
            if key not in cache:
                cache.clear()
                cache[key] = dumps_json(self.to_json(base), indent)
            return cache[key]

        return Rendered(render)

    def to_json(self, base: Path) -> dict:
        d: dict = {
            "duration": round(self.duration, 3),
            "hop": self.hop,
            "threshold": self.threshold,
            "checkpoint": path_to_json(Path(self.checkpoint), base) if self.checkpoint else "",
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
                    "embedding": encode_array(s.embedding, "<f4"),
                    **({"voiceprint": encode_array(s.voiceprint, "<f4")} if s.voiceprint is not None else {}),
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
        duration = read_number(d.get("duration"), '"analysis.duration"', fail, minimum=0.0)
        hop = read_number(d.get("hop"), '"analysis.hop"', fail, minimum=0.0)
        if hop <= 0:
            raise fail('"analysis.hop" must be > 0 seconds')
        threshold = read_number(d.get("threshold"), '"analysis.threshold"', fail)
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
            checkpoint = str(path_from_json(checkpoint, checkpoint_abs, base))
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
            conf = read_number(s.get("confidence"), f'{where} ("{label}"): "confidence"', fail)
            segs = read_segments(s.get("segments"), f'{where} ("{label}"): "segments"', fail)
            emb = _read_vector(s.get("embedding"), f'{where} ("{label}"): "embedding"', fail)
            voiceprint = None
            if s.get("voiceprint") is not None:
                voiceprint = _read_vector(s.get("voiceprint"), f'{where} ("{label}"): "voiceprint"', fail)
            if dim is not None and emb.shape[0] != dim:
                raise fail(f'{where} ("{label}"): embedding has {emb.shape[0]} values, the others {dim}')
            dim = emb.shape[0]
            model_name = s.get("model_name", "")
            if not isinstance(model_name, str):
                raise fail(f'{where} ("{label}"): "model_name" must be text')
            prob = read_number(s.get("model_probability", 0.0), f'{where} ("{label}"): "model_probability"', fail)
            slots.append(Slot(label, conf, emb, segs, model_name, prob, voiceprint))
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

