"""A speaker space for GE2E vectors: linear discriminant analysis fit on real and TTS
training voices heard through many rooms and lines.

Public API::

    SpeakerSpace.from_file(path=None)      # resources/speaker-space.safetensors by default
    SpeakerSpace.fit(vectors, speakers, dims=64, shrinkage=0.5)
    space.project(vectors) -> unit rows    # [n, 256] -> [n, dims]
    space.save(path, metadata)
    SpeakerSpaceError                      # missing / corrupt file (names it)
    shipped_space() -> SpeakerSpace | None # loaded once; None when the file is missing or broken
    (the vectors it is fit on: weighter_gui.core.training.speaker_vectors)

Why. GE2E compares two stretches of one recording well, but the same voice heard
through another room and line moves as far as another voice does: a real speaker
who comes back in another part of a long recording looked like a new one (an hour of
held-out real people: 33 speakers found for 16). Linear discriminant analysis keeps
the directions along which voices differ more than one voice does across conditions.
Fit on the training split's real speakers (``real_voices.speakers_for_split``, four
versions of each of up to eight phrases: one clean, three through the augmentation
chain's rooms, noise and channels) and on the TTS training voices (twelve turns each
from training conversations, half of them augmented), it takes the equal error rate
of held-out real people under such conditions from 17.3 % to 10.2 % (dev split) and
from 18.7 % to 12.0 % (LibriSpeech test-other; ``benchmarks/speaker_space.py``).

The project's gallery compares its named slots here (``annotation.gallery``). The
diarizer no longer does: slots of different windows, tracks and taught voices are
compared by voiceprints (``voice_encoder``), which part real people better still
(README, Voiceprints). Vectors are centred on the training mean, projected and
normalised: ``unit((unit(x) - mean) @ projection)``.

Core code: no Qt import.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from weighter_gui.core.io.resources import WeightsFileError, default_speaker_space

__all__ = ["SpeakerSpace", "SpeakerSpaceError", "shipped_space"]

GE2E_DIM = 256


class SpeakerSpaceError(WeightsFileError):
    """The speaker-space file is missing, unreadable or not the expected tensors."""

    remedy = "reinstall, or rebuild it with `python packaging/fit_speaker_space.py` (see resources/README.md)"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class SpeakerSpace:
    """``unit((unit(x) - mean) @ projection)``: ``mean`` [256], ``projection`` [256, dims]."""

    def __init__(self, mean: np.ndarray, projection: np.ndarray, metadata: dict | None = None) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.projection = np.asarray(projection, np.float64)
        self.metadata = dict(metadata or {})

    @property
    def dims(self) -> int:
        return int(self.projection.shape[1])

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """[n, 256] GE2E vectors (any length) -> [n, dims] unit rows."""
        return _unit((_unit(np.asarray(vectors, np.float64)) - self.mean) @ self.projection)

    @classmethod
    def fit(cls, vectors: np.ndarray, speakers: Sequence, dims: int = 64, shrinkage: float = 0.5) -> SpeakerSpace:
        """Linear discriminant analysis (scikit-learn's, eigen solver, the within-class
        scatter shrunk by ``shrinkage`` towards its diagonal mean) on unit ``vectors``."""
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        x = _unit(np.asarray(vectors, np.float64))
        if len(set(speakers)) <= dims:
            raise ValueError(f"{len(set(speakers))} speakers cannot span {dims} dimensions; give more speakers")
        lda = LinearDiscriminantAnalysis(n_components=dims, solver="eigen", shrinkage=shrinkage).fit(x, list(speakers))
        return cls(x.mean(0), lda.scalings_[:, :dims], {"dims": dims, "shrinkage": shrinkage,
                                                       "speakers": len(set(speakers)), "vectors": len(x)})

    def save(self, path: str | os.PathLike[str]) -> None:
        from safetensors.numpy import save_file

        tensors = {"mean": self.mean, "projection": self.projection}  # contiguous: a column slice is saved wrongly
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
                  str(path), metadata={"speaker_space": json.dumps(self.metadata)})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None = None) -> SpeakerSpace:
        """Load ``path`` (default ``resources/speaker-space.safetensors``). Raises
        ``SpeakerSpaceError`` (naming the file) when it is missing, unreadable, not
        safetensors, or lacks / misshapes a tensor."""
        from safetensors import safe_open

        path = Path(path) if path is not None else default_speaker_space()
        if not path.is_file():
            raise SpeakerSpaceError(path, "speaker-space file not found")
        try:
            with safe_open(str(path), framework="np") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                metadata = json.loads((f.metadata() or {}).get("speaker_space", "{}"))
        except Exception as exc:  # safetensors raises SafetensorError / OSError / ValueError
            raise SpeakerSpaceError(path, f"not a readable safetensors file ({exc})") from exc
        mean, projection = tensors.get("mean"), tensors.get("projection")
        if mean is None or projection is None:
            raise SpeakerSpaceError(path, "the tensors 'mean' and 'projection' are missing")
        if mean.shape != (GE2E_DIM,) or projection.ndim != 2 or projection.shape[0] != GE2E_DIM:
            raise SpeakerSpaceError(path, f"shapes {mean.shape} and {projection.shape}, expected (256,) and (256, dims)")
        if not (np.isfinite(mean).all() and np.isfinite(projection).all()):
            raise SpeakerSpaceError(path, "contains NaN or infinite values")
        return cls(mean, projection, metadata)


@functools.lru_cache(maxsize=1)
def shipped_space() -> SpeakerSpace | None:
    """The shipped space, loaded once, for callers that can do without it (the gallery
    then compares raw cosines); None when the file is missing or broken."""
    try:
        return SpeakerSpace.from_file()
    except SpeakerSpaceError:
        return None
