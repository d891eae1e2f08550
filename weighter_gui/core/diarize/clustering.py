"""Who is who across a file's windows: each window's speaker slots joined into tracks.

The Weighter sees one window (at most 60 s) at a time and gives each of its slots an
embedding (the curve-weighted mean of the frames' speaker vectors). Two ways join
them into the file's speakers:

- ``StreamLinker`` joins each window's slots to the tracks so far as the windows come
  (Hungarian matching on cosine). Its labels are provisional: the app draws them while
  a file is still being analysed.
- ``cluster_slots`` clusters all the file's slots at the end: agglomerative with
  weighted average linkage on cosine, always joining the two closest clusters that
  may be joined, until the closest are under a threshold. Two slots of one window
  are two voices (the model told them apart) and keep their clusters apart, unless
  their embeddings are almost the same: the model also splits one voice between two
  slots of a window (in 32 of the 61 windows of an hour of the reserved TTS voices),
  and a hard rule would keep that voice two speakers for the whole file. A speaker
  who leaves for an hour and comes back is joined to their first appearance by their
  voice alone, and no early mistake drifts a track's centre window by window.
  Measured against a centroid linkage and against the streaming linker alone
  (README, Long recordings).

``SlotStore`` is what the file-level pass keeps of each window: per slot a unit
embedding (256 float32), a unit voiceprint (192 float32, ``voice_encoder``), its
window, confidence and weight. With 6 slots per 60 s window, each cut in two at most
(``diarizer.split_mixed_slots``), that is at most 1.3 MB per hour; the clustering's
three n x n matrices over n slots (two float64, one boolean) take 17 n^2 bytes (2.2 MB
for an hour at six live slots a window, 35 MB for four hours; four times that if every
slot were cut), and while they are built two more float64 ones (the raw cosines and
the voiceprints') for a moment.

Core code: no Qt import.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment

__all__ = ["SlotStore", "StreamLinker", "cluster_slots", "merged_groups", "merged_labels", "slot_merges", "unit_rows"]


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class StreamLinker:
    """Joins each window's slots to the file's tracks so far by cosine similarity."""

    def __init__(self, similarity: float) -> None:
        self.similarity = similarity
        self.sums: list[np.ndarray] = []  # weighted embedding sums, one per track

    def link(self, embeddings: np.ndarray, weights: np.ndarray, live: np.ndarray) -> np.ndarray:
        """[slots] the track each slot joins (-1: not ``live``); a slot matching no
        track at ``similarity`` starts a new one."""
        tracks = np.full(len(weights), -1, dtype=np.int64)
        live = np.flatnonzero(live)
        if len(live) == 0:
            return tracks
        unit = unit_rows(embeddings[live])
        if self.sums:
            sim = unit @ unit_rows(np.stack(self.sums)).T
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.similarity:
                    tracks[live[r]] = c
        for i, slot in enumerate(live):
            if tracks[slot] < 0:
                tracks[slot] = len(self.sums)
                self.sums.append(np.zeros(embeddings.shape[1]))
            self.sums[tracks[slot]] = self.sums[tracks[slot]] + float(weights[slot]) * unit[i]
        return tracks


class SlotStore:
    """The live slots of every window of a file, kept for the file-level clustering."""

    def __init__(self) -> None:
        self._windows: list[int] = []
        self._slots: list[int] = []
        self._embeddings: list[np.ndarray] = []
        self._voiceprints: list[np.ndarray] = []
        self._weights: list[float] = []
        self._confidences: list[float] = []

    def add(self, window: int, embeddings: np.ndarray, weights: np.ndarray, confidences: np.ndarray,
            live: np.ndarray, voiceprints: np.ndarray) -> None:
        """The ``live`` slots of ``window``; ``voiceprints`` [live slots, dims] are their
        voice encoder vectors, in the order of the live slots."""
        for slot, voiceprint in zip(np.flatnonzero(live), voiceprints, strict=True):
            self._windows.append(window)
            self._slots.append(int(slot))
            self._embeddings.append(unit_rows(embeddings[slot]).astype(np.float32))
            self._voiceprints.append(unit_rows(voiceprint).astype(np.float32))
            self._weights.append(float(weights[slot]))
            self._confidences.append(float(confidences[slot]))

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def windows(self) -> np.ndarray:
        return np.asarray(self._windows, dtype=np.int64)

    @property
    def slots(self) -> np.ndarray:
        return np.asarray(self._slots, dtype=np.int64)

    @property
    def embeddings(self) -> np.ndarray:
        return np.stack(self._embeddings) if self._embeddings else np.zeros((0, 0), np.float32)

    @property
    def voiceprints(self) -> np.ndarray:
        return np.stack(self._voiceprints) if self._voiceprints else np.zeros((0, 0), np.float32)

    @property
    def weights(self) -> np.ndarray:
        return np.asarray(self._weights)

    @property
    def confidences(self) -> np.ndarray:
        return np.asarray(self._confidences)

    def nbytes(self) -> int:
        vectors = sum(e.nbytes for e in self._embeddings) + sum(v.nbytes for v in self._voiceprints)
        return vectors + 8 * 4 * len(self)  # and a number each for the four lists


def cluster_slots(
    windows: np.ndarray, embeddings: np.ndarray, weights: np.ndarray, similarity: float,
    same_window_similarity: float = float("inf"), voices: np.ndarray | None = None,
) -> np.ndarray:
    """[n] a cluster id (0, 1, ... in order of first slot) for each of n slots.

    Agglomerative, weighted average linkage (``slot_merges``), joining the closest
    pair that may be joined until the closest such pair is under ``similarity``.
    """
    merges = slot_merges(windows, embeddings, weights, same_window_similarity, floor=similarity, voices=voices)
    return merged_labels(len(windows), merges)


APART = 10.0  # similarity taken from two clusters that hold two voices of one window


def slot_merges(
    windows: np.ndarray, embeddings: np.ndarray, weights: np.ndarray,
    same_window_similarity: float = float("inf"), floor: float = -np.inf, voices: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """The agglomeration of n slots as (i, j, similarity) merges, in order, until the
    closest pair is under ``floor``.

    Two clusters are as close as the mean cosine over their pairs of slots (of
    ``voices``, the slots' voiceprints or other vectors for telling voices apart, when given; else of
    ``embeddings``), each pair
    weighted by the product of the slots' ``weights`` (speech mass times confidence: a
    slot that heard a voice for a second says less than one that heard it for a
    minute). Two clusters may not be joined while a slot of one and a slot of the other
    share a window with an ``embeddings`` cosine under ``same_window_similarity``
    (above 1: never):
    such pairs come last, after every pair that may be joined, their similarity
    lowered by 10 (so under any threshold), for a caller told to reach fewer speakers
    than the voices the model heard apart.
    """
    n = len(windows)
    if n == 0:
        return []
    unit = unit_rows(np.asarray(embeddings, np.float64))
    cosine = unit @ unit.T
    linked = cosine
    if voices is not None:
        voices = unit_rows(np.asarray(voices, np.float64))
        linked = voices @ voices.T
    w = np.maximum(np.asarray(weights, np.float64), 1e-9)
    pair = linked * w[:, None] * w[None, :]  # summed weighted cosines between clusters
    mass = w.copy()
    windows = np.asarray(windows)
    apart = (windows[:, None] == windows[None, :]) & (cosine < same_window_similarity)  # cluster x cluster
    del cosine, linked
    sim = pair / (mass[:, None] * mass[None, :]) - APART * apart
    np.fill_diagonal(sim, -np.inf)
    alive = np.ones(n, dtype=bool)
    merges = []
    for _ in range(n - 1):
        i, j = divmod(int(np.argmax(sim)), n)
        if sim[i, j] < floor:
            break
        i, j = min(i, j), max(i, j)
        merges.append((i, j, float(sim[i, j])))
        pair[i] += pair[j]
        pair[:, i] += pair[:, j]
        mass[i] += mass[j]
        apart[i] |= apart[j]
        apart[:, i] |= apart[:, j]
        alive[j] = False
        sim[j, :] = sim[:, j] = -np.inf
        row = np.full(n, -np.inf)
        row[alive] = pair[i, alive] / (mass[i] * mass[alive]) - APART * apart[i, alive]
        row[i] = -np.inf
        sim[i, :] = sim[:, i] = row
    return merges


def merged_labels(n: int, merges: list[tuple[int, int, float]]) -> np.ndarray:
    """[n] cluster ids (0, 1, ... in order of first slot) after ``merges`` (``slot_merges``)."""
    owner = np.arange(n)
    for i, j, _ in merges:
        owner[owner == j] = i
    _, labels = np.unique(owner, return_inverse=True)
    first: dict[int, int] = {}
    for label in labels:
        first.setdefault(int(label), len(first))
    return np.array([first[int(label)] for label in labels], dtype=np.int64)


def merged_groups(sums: np.ndarray, similarity: float) -> list[list[int]]:
    """Rows of ``sums`` grouped by average linkage on cosine, stopping below ``similarity``."""
    groups = [[t] for t in range(len(sums))]
    if len(groups) < 2 or similarity > 1.0 - 1e-9:
        return groups
    labels = fcluster(linkage(unit_rows(np.asarray(sums)), method="average", metric="cosine"), 1.0 - similarity, "distance")
    return [list(np.flatnonzero(labels == k)) for k in np.unique(labels)]
