"""Taught voices: the names a retrained model learnt, kept as voiceprint centres.

A fine-tune on a project's labels (the app's Retrain, ``weighter train --init``) adds
the names it is taught to the classification head, and also *enrols* them: per name,
the mean voiceprint (``voice_encoder.VoiceEncoder``, CAM++) of that name's labelled
speech, one voiceprint per file where the name alone speaks for at least
``MIN_ENROL_SECONDS`` (of its first ``MAX_ENROL_SECONDS``). The centres are written
into the checkpoint's header (``training["voices"]``, with the digest of the voice
encoder that made them) and the diarizer names each track after the nearest centre
by the track's own voiceprint (``TaughtVoices.names_for``; ``diarizer.Track.voiceprint``).

Why not the head: it is a cosine classifier on GE2E vectors, where a voice heard
through another room and line moves about as far as another voice does. On the
annotation loop's held-out real people the diarizer names 88 % of the (file, speaker)
pairs right with voiceprints, against 71 % with centres in the GE2E speaker space and
54 % with the head (``benchmarks/annotation_loop.py``; README, Does retraining
help?). The head still names voices for checkpoints retrained before this (their
``voices`` were enrolled in the speaker space, and are not read now) or with another
voice encoder.

Core code: no Qt import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_ENROL_SECONDS", "MIN_ENROL_SECONDS", "TaughtVoices", "enrol"]

MIN_ENROL_SECONDS = 1.0  # less lone speech than this in a file says too little about a voice
MAX_ENROL_SECONDS = 60.0  # a file's first minute of a name's lone speech is its voiceprint: enough for a voice


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def enrol(pieces: Iterable[tuple[str, np.ndarray]], encoder: str, dims: int, earlier: Mapping | None = None) -> dict:
    """The header entry for ``pieces`` ((name, [dims] voiceprint of one file's speech
    where that name alone speaks)): ``{"encoder": digest, "centres": {name: [dims]}}``.

    A name's centre is the unit mean of its files' unit voiceprints. ``earlier`` (an
    init checkpoint's entry) keeps the centres of names not enrolled again, when it
    comes from the same ``encoder``."""
    vectors: dict[str, list[np.ndarray]] = {}
    for name, voiceprint in pieces:
        vectors.setdefault(name, []).append(_unit(np.asarray(voiceprint, np.float64).reshape(-1)))
    centres = {}
    kept = TaughtVoices.from_header(earlier, encoder, dims) if earlier else None
    if kept is not None:
        centres.update({n: c for n, c in zip(kept.names, kept.centres)})
    for name, vs in vectors.items():
        centres[name] = _unit(np.mean(vs, axis=0))
    return {"encoder": encoder, "centres": {n: [round(float(v), 6) for v in c] for n, c in sorted(centres.items())}}


@dataclass(frozen=True, eq=False)
class TaughtVoices:
    """Enrolled names and their unit voiceprint centres [names, dims]."""

    names: tuple[str, ...]
    centres: np.ndarray

    @classmethod
    def from_header(cls, entry: Mapping | None, encoder: str, dims: int) -> TaughtVoices | None:
        """The voices of a header's ``training["voices"]``; None without them, when
        another voice encoder (or the GE2E speaker space, before voiceprints) enrolled
        them, or when anything is malformed (the head names voices then)."""
        if not isinstance(entry, Mapping) or entry.get("encoder") != encoder:
            return None
        centres = entry.get("centres")
        if not isinstance(centres, Mapping) or not centres:
            return None
        try:
            names = tuple(str(n) for n in centres)
            matrix = np.array([[float(v) for v in centres[n]] for n in names], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if matrix.shape != (len(names), dims) or not np.isfinite(matrix).all():
            return None
        return cls(names, _unit(matrix))

    def names_for(self, voiceprints: np.ndarray, min_similarity: float,
                  taken: Iterable[str] = ()) -> list[tuple[str, float] | None]:
        """Per row of ``voiceprints`` (the tracks'), ``(name, cosine)`` or None: each row
        its nearest voice (but those ``taken``) if the cosine is at least
        ``min_similarity`` and no nearer row has that name already, the nearest rows
        first (the head's rule: a second track of one voice gets no name)."""
        out: list[tuple[str, float] | None] = [None] * len(voiceprints)
        taken = set(taken)
        free = [k for k, name in enumerate(self.names) if name not in taken]
        if not len(voiceprints) or not free:
            return out
        sim = _unit(np.asarray(voiceprints, np.float64)) @ self.centres[free].T
        best = sim.argmax(1)
        given = set()
        for i in np.argsort(-sim.max(1), kind="stable"):
            j = int(best[i])
            if j not in given and sim[i, j] >= min_similarity:
                out[i] = (self.names[free[j]], float(sim[i, j]))
                given.add(j)
        return out
