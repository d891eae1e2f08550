"""Taught voices: the names a retrained model learnt, kept as centres in the speaker space.

A fine-tune on a project's labels (the app's Retrain, ``weighter train --init``) adds
the names it is taught to the classification head, and also *enrols* them: per name,
the mean in the speaker space (``speaker_space.SpeakerSpace``) of the GE2E vectors of
that name's labelled speech, one vector per file where the name alone speaks for at
least ``MIN_ENROL_SECONDS``. The centres are written into the checkpoint's header
(``training["voices"]``, with the digest of the space they live in) and the diarizer
names each track after the nearest centre (``TaughtVoices.names_for``).

Why not the head: it is a cosine classifier on raw GE2E vectors, where a voice heard
through another room and line moves about as far as another voice does. On the
annotation loop's held-out real people the diarizer names 71 % of the (file, speaker)
pairs right with the taught voices, against 54 % with the head; on pitch-shifted TTS
voices 79 % against 58 % (``benchmarks/annotation_loop.py``; README, Does retraining
help?). The head still names voices for checkpoints retrained before this (no
``voices`` in their header) or used with another speaker space.

Core code: no Qt import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from weighter_gui.core.model.speaker_space import SpeakerSpace

__all__ = ["MIN_ENROL_SECONDS", "TaughtVoices", "enrol"]

MIN_ENROL_SECONDS = 1.0  # less lone speech than this in a file says too little about a voice


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def enrol(pieces: Iterable[tuple[str, np.ndarray]], space: SpeakerSpace,
          earlier: Mapping | None = None) -> dict:
    """The header entry for ``pieces`` ((name, [frames, 256] GE2E vectors of one file
    where that name alone speaks)): ``{"space": digest, "centres": {name: [dims]}}``.

    A name's centre is the mean of its files' projected vectors (each file's frames
    averaged first). ``earlier`` (an init checkpoint's entry) keeps the centres of
    names not enrolled again, when it lives in the same space."""
    vectors: dict[str, list[np.ndarray]] = {}
    for name, frames in pieces:
        frames = np.asarray(frames, np.float64)
        if len(frames):
            vectors.setdefault(name, []).append(_unit(frames.mean(0)))
    centres = {}
    kept = TaughtVoices.from_header(earlier, space) if earlier else None
    if kept is not None:
        centres.update({n: c for n, c in zip(kept.names, kept.centres)})
    for name, vs in vectors.items():
        centres[name] = _unit(space.project(np.stack(vs)).mean(0))
    return {"space": space.digest, "centres": {n: [round(float(v), 6) for v in c] for n, c in sorted(centres.items())}}


@dataclass(frozen=True, eq=False)
class TaughtVoices:
    """Enrolled names and their unit centres [names, dims] in ``space``."""

    names: tuple[str, ...]
    centres: np.ndarray
    space: SpeakerSpace

    @classmethod
    def from_header(cls, entry: Mapping | None, space: SpeakerSpace | None) -> TaughtVoices | None:
        """The voices of a header's ``training["voices"]``; None without them, when they
        were enrolled in another space, or when anything is malformed (the head names
        voices then)."""
        if space is None or not isinstance(entry, Mapping) or entry.get("space") != space.digest:
            return None
        centres = entry.get("centres")
        if not isinstance(centres, Mapping) or not centres:
            return None
        try:
            names = tuple(str(n) for n in centres)
            matrix = np.array([[float(v) for v in centres[n]] for n in names], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if matrix.shape != (len(names), space.dims) or not np.isfinite(matrix).all():
            return None
        return cls(names, _unit(matrix), space)

    def names_for(self, embeddings: np.ndarray, min_similarity: float,
                  taken: Iterable[str] = ()) -> list[tuple[str, float] | None]:
        """Per row of ``embeddings`` (raw GE2E track vectors), ``(name, cosine)`` or None:
        each row its nearest voice in the space (but those ``taken``) if the cosine is at
        least ``min_similarity`` and no nearer row has that name already, the nearest
        rows first (the head's rule: a second track of one voice gets no name)."""
        out: list[tuple[str, float] | None] = [None] * len(embeddings)
        taken = set(taken)
        free = [k for k, name in enumerate(self.names) if name not in taken]
        if not len(embeddings) or not free:
            return out
        sim = self.space.project(np.asarray(embeddings, np.float64)) @ self.centres[free].T
        best = sim.argmax(1)
        given = set()
        for i in np.argsort(-sim.max(1), kind="stable"):
            j = int(best[i])
            if j not in given and sim[i, j] >= min_similarity:
                out[i] = (self.names[free[j]], float(sim[i, j]))
                given.add(j)
        return out
