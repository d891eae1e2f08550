"""Tracks as the views draw them: progressive while windows arrive, final after.

No Qt here. ``LiveTracks`` builds each provisional track's curve from
``WindowResult``s (max over the slots the streaming linker joined to it), so the
curves can be drawn while a long file is still being analysed.

Each track has a ``key``: the order in which it first appeared. Colours follow the
key, and when the final ``FileDiarization`` arrives its tracks (regrouped by the
file-level clustering and relabelled S1, S2, ... by confidence and speech) are
matched back to the live ones by how much of their curves they share, so a speaker
keeps its colour when the analysis finishes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_SHARED = 0.3  # a final track sharing less of its curve with every live one is new

# Distinct on a dark spectrogram and on white: Okabe-Ito plus a few Tableau colours.
# The model has 6 slots: the first six are the most distinct from each other.
TRACK_COLOURS = (
    "#56b4e9",  # sky blue
    "#e69f00",  # orange
    "#009e73",  # green
    "#f0e442",  # yellow
    "#cc79a7",  # pink
    "#9467bd",  # purple
    "#d55e00",  # vermilion
    "#0072b2",  # blue
    "#8c564b",  # brown
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#7f7f7f",  # grey
)


def track_colour(key: int) -> str:
    return TRACK_COLOURS[key % len(TRACK_COLOURS)]


@dataclass(frozen=True, eq=False)
class TrackView:
    """One track, ready to draw: curve values every ``hop`` seconds from time 0."""

    key: int  # stable colour index
    label: str
    confidence: float
    curve: np.ndarray  # float32, 0..1
    hop: float
    speech_seconds: float | None = None  # known once the analysis is done

    @property
    def colour(self) -> str:
        return track_colour(self.key)

    def times(self) -> np.ndarray:
        return np.arange(len(self.curve), dtype=np.float64) * self.hop


class LiveTracks:
    """Accumulates one analysis' window results into per-track curves."""

    def __init__(self) -> None:
        self.hop: float | None = None
        self._curves: list[np.ndarray] = []  # per linker track id
        self._confidence: list[float] = []
        self._filled = 0  # blocks covered so far
        self._speech = np.zeros(0, dtype=np.float32)  # share of speech per block (the speech lane)
        self._capacity = 0
        self.windows_done = 0
        self.window_count = 0
        self.end_seconds = 0.0

    def add(self, window, hop: float) -> None:
        """Fold in one ``WindowResult`` (its ``tracks`` are the linker's ids)."""
        self.hop = hop
        blocks = window.curves.shape[1]
        offset = int(round(window.start / hop))
        if self._capacity == 0:  # equal windows: count * blocks covers the file
            self._capacity = max(window.count * blocks, offset + blocks)
        needed = offset + blocks
        if needed > self._capacity:
            self._grow(needed)
        for slot, track in enumerate(np.asarray(window.tracks)):
            track = int(track)
            if track < 0:
                continue
            while track >= len(self._curves):
                self._curves.append(np.zeros(self._capacity, dtype=np.float32))
                self._confidence.append(0.0)
            segment = self._curves[track][offset:needed]
            np.maximum(segment, window.curves[slot], out=segment)
            self._confidence[track] = max(self._confidence[track], float(window.confidences[slot]))
        if getattr(window, "speech", None) is not None:
            if len(self._speech) < self._capacity:
                self._speech = np.pad(self._speech, (0, self._capacity - len(self._speech)))
            self._speech[offset:needed] = window.speech[:blocks]
        self._filled = max(self._filled, needed)
        self.windows_done = window.index + 1
        self.window_count = window.count
        self.end_seconds = max(self.end_seconds, float(window.end))

    def _grow(self, size: int) -> None:
        self._curves = [np.pad(c, (0, size - len(c))) for c in self._curves]
        self._capacity = size

    def __len__(self) -> int:
        return len(self._curves)

    def speech(self) -> np.ndarray | None:
        """The speech lane so far (None when the analysis detects no speech)."""
        return self._speech[: self._filled] if len(self._speech) else None

    def views(self) -> list[TrackView]:
        if self.hop is None:
            return []
        return [
            TrackView(key, f"#{key + 1}", conf, curve[: self._filled], self.hop)
            for key, (curve, conf) in enumerate(zip(self._curves, self._confidence, strict=True))
        ]

    def match_keys(self, final_curves: list[np.ndarray]) -> list[int]:
        """For each final track's curve, the key of the live track it settles.

        The file-level pass may regroup the live tracks' windows (a provisional track
        split, or two joined): each final track takes the key of the live track its
        curve shares the most with (weighted Jaccard, sum of minima over sum of
        maxima, at least ``MIN_SHARED``), each key at most once, so a speaker keeps
        the colour it had while the file was analysed. Unmatched tracks get fresh keys
        after all live ones.
        """
        live = [c[: self._filled] for c in self._curves]
        keys = list(range(len(live), len(live) + len(final_curves)))
        if not live or not final_curves:
            return keys
        shared = np.zeros((len(final_curves), len(live)))
        for i, curve in enumerate(final_curves):
            for k, candidate in enumerate(live):
                n = min(len(candidate), len(curve))
                a, b = np.asarray(curve[:n], np.float64), np.asarray(candidate[:n], np.float64)
                union = np.maximum(a, b).sum()
                shared[i, k] = np.minimum(a, b).sum() / union if union > 0 else 0.0
        rows, cols = linear_sum_assignment(-shared)
        spare = len(live)
        keys = [-1] * len(final_curves)
        for i, k in zip(rows, cols):
            if shared[i, k] >= MIN_SHARED:
                keys[i] = int(k)
        for i in range(len(keys)):
            if keys[i] < 0:
                keys[i], spare = spare, spare + 1
        return keys


def final_views(diarization, keys: list[int] | None = None) -> list[TrackView]:
    """``TrackView``s of a ``FileDiarization``'s tracks (``keys`` default to their order)."""
    tracks = diarization.tracks
    if keys is None:
        keys = list(range(len(tracks)))
    return [
        TrackView(
            key,
            track.label,
            float(track.confidence),
            np.asarray(track.curve, dtype=np.float32),
            float(diarization.hop),
            float(track.speech_seconds),
        )
        for key, track in zip(keys, tracks, strict=True)
    ]
