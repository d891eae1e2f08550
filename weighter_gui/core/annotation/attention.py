"""Where a file needs a listener's attention: where a speaker starts, where the model is
unsure, and where the diarization disagrees with a reference. The app's Go menu jumps
from the playhead to the next or previous of each.

No torch and no Qt: turns are (start, end, speaker) seconds, curves a [tracks, blocks]
array at ``hop`` seconds per block.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np

UNSURE = (0.25, 0.75)  # a top curve between these while speech is heard: who speaks is unclear
MIN_UNSURE_SECONDS = 0.3
MIN_DISAGREEMENT_SECONDS = 0.2  # shorter differences are edge jitter, not a wrong turn
STEP_EPSILON = 0.05  # "next" starts this far past the playhead, so a jump never lands where it is


def speaker_starts(turns: Iterable[tuple[float, float, str]]) -> list[float]:
    """When someone starts a turn, in order."""
    return sorted({round(float(a), 3) for a, _, _ in turns})


def speech_edges(speech: np.ndarray | None, hop: float, threshold: float = 0.5) -> list[float]:
    """Where speech starts and stops (block edges where the speech share crosses
    ``threshold``): the sound's onsets and offsets that dragged turn edges snap to."""
    if speech is None or len(speech) == 0:
        return []
    on = np.concatenate([[False], np.asarray(speech) >= threshold, [False]])
    return [round(float(i * hop), 3) for i in np.flatnonzero(on[1:] != on[:-1])]


def unsure_stretches(curves: np.ndarray, hop: float, speech: np.ndarray | None = None,
                     bounds: tuple[float, float] = UNSURE, min_seconds: float = MIN_UNSURE_SECONDS
                     ) -> list[tuple[float, float]]:
    """Stretches of at least ``min_seconds`` where the strongest curve is neither clearly
    on nor clearly off (and, given ``speech``, someone is heard): the model is unsure."""
    curves = np.asarray(curves, dtype=np.float32)
    if curves.ndim != 2 or curves.shape[1] == 0:
        return []
    top = curves.max(axis=0)
    unsure = (top > bounds[0]) & (top < bounds[1])
    if speech is not None:
        heard = np.zeros(len(top), dtype=bool)
        n = min(len(top), len(speech))
        heard[:n] = np.asarray(speech[:n]) > 0
        unsure &= heard
    edges = np.flatnonzero(np.diff(np.concatenate([[0], unsure.astype(np.int8), [0]])))
    out = []
    for start, end in zip(edges[::2], edges[1::2]):
        if (end - start) * hop >= min_seconds:
            out.append((round(float(start * hop), 3), round(float(end * hop), 3)))
    return out


def disagreements(reference: Sequence[tuple[float, float, str]], turns: Sequence[tuple[float, float, str]],
                  duration: float, min_seconds: float = MIN_DISAGREEMENT_SECONDS) -> list[tuple[float, float, str]]:
    """(start, end, kind) where ``turns`` differ from ``reference`` once their speakers are
    matched (pyannote.metrics' optimal mapping): "confusion", "missed detection" or
    "false alarm"."""
    # Here, not at the top: pyannote.metrics takes about a second to import, and the app
    # imports this module at start-up.
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate
    from pyannote.metrics.errors.identification import IdentificationErrorAnalysis

    ref, hyp = _annotation(reference), _annotation(turns)
    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp)
    uem = Timeline([Segment(0.0, max(duration, 1e-3))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyannote warns about overlapping reference turns it handles
        errors = IdentificationErrorAnalysis().difference(ref, hyp.rename_labels(mapping=mapping), uem=uem)
    out = []
    for segment, _, (kind, *_) in errors.itertracks(yield_label=True):
        if kind != "correct" and segment.duration >= min_seconds:
            out.append((round(segment.start, 3), round(segment.end, 3), kind))
    return sorted(out)


def _annotation(segments: Iterable[tuple[float, float, str]]):
    from pyannote.core import Annotation, Segment

    annotation = Annotation()
    for i, (a, b, who) in enumerate(segments):
        if b > a:
            annotation[Segment(float(a), float(b)), i] = str(who)
    return annotation


def step(points: Sequence[float], now: float, forward: bool) -> float | None:
    """The first of ``points`` after ``now`` (``forward``) or the last before it; None if none."""
    if forward:
        return next((p for p in sorted(points) if p > now + STEP_EPSILON), None)
    return next((p for p in sorted(points, reverse=True) if p < now - STEP_EPSILON), None)
