"""The classic diarization pipeline: speech detection, GE2E windows, clustering.

The comparator a user would pick instead of a Weighter (``weighter diarize
--pipeline classic``), the field's standard recipe with the speaker count
estimated (or given by the user: ``ClassicConfig.min_speakers`` / ``max_speakers``):

1. speech regions from the voice activity detector (``vad.SpeechDetector``,
   silero-vad);
2. inside each region, GE2E speaker embeddings (the encoder the project ships,
   ``frontend.GE2EEncoder``) of ``window`` = 1.5 s windows every ``step`` = 0.75 s;
   a region shorter than one window gets one window over all of it if it lasts at
   least ``min_window`` = 0.4 s (shorter ones are left unlabelled);
3. the windows' unit embeddings are clustered with an estimated count:
   agglomerative clustering (cosine distance, average linkage) cut at
   ``threshold`` (``method="ahc"``), or spectral clustering whose count is the
   eigengap of the normalised Laplacian of the p-pruned cosine affinity
   (``method="spectral"``, Wang et al. 2018, "Speaker diarization with LSTM");
4. each 10 ms speech frame takes the label of the window whose centre is nearest
   among those of its region; consecutive frames of one label make a segment;
5. a cluster with under ``min_speaker_seconds`` = 1 s of speech is not a speaker:
   its frames go to the nearest remaining cluster (by centroid cosine), or are
   dropped when none remains;
6. a pause under ``fill_gap`` between two segments of one speaker is filled.

The result is the ``FileDiarization`` that ``Diarizer`` returns, so RTTM, JSON and
DER scoring work unchanged: tracks ``S1, S2, ...`` by most speech, confidence 1.0,
embedding the normalised mean of the track's windows, curve 1 inside the track's
segments and 0 elsewhere at the 150 ms block rate, threshold 0.5.

Speed: one GE2E window per 0.75 s of speech (about 7 ms each on one CPU thread)
plus the VAD: about 25 s an hour on 2 cores. Memory grows with the file: the whole
file is decoded at once (230 MB per hour of audio) and every window is clustered at
once (the average-linkage distances take 8 bytes per pair of windows); the detector,
the mel and the window batches run in bounded pieces. Measured peaks: 1.2 GB for an
hour and 3.7 GB for four (``benchmarks/long_recordings.py --classic``). The Weighter's
diarizer streams the file and stays near 0.85 GB.

Core code: no Qt import.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weighter_gui.core.diarize.diarizer import FileDiarization, Track, check_speaker_count, probe_long_enough
from weighter_gui.core.diarize.vad import SpeechDetector
from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.model.frontend import (
    FRAME_HOP_S,
    HOP_LENGTH,
    SAMPLE_RATE,
    GE2EEncoder,
)

__all__ = [
    "AHC_THRESHOLD",
    "ClassicConfig",
    "ClassicDiarizer",
    "assign_frames",
    "cluster",
    "frame_segments",
    "window_spans",
]

BLOCK_HOP_S = 0.15  # the curves' rate, as the Weighter's 15-frame blocks
# Cosine distance at which the average-linkage tree is cut. Chosen by DER and speaker
# count on simulated conversations of LibriSpeech train-clean-100 speakers
# (benchmarks/classic_calibration.py, docs/results/classic-calibration.md; checked on
# 15-40 s and 150-240 s conversations, docs/results/classic-calibration-short.md and
# -long.md): DER 13.6 % (missed 11.0 %, mostly the reference's pauses; confusion 2.5 %),
# 73 % of counts exact; the best DER at 40-90 s and 15-40 s (12.8 %, 87 % exact), 1.3
# points over the best (0.35) at 150-240 s (14.9 %, 56 % exact).
# AHC is the default because spectral clustering's best p moved with the file's length
# (0.25-0.3 at 40-90 s, 0.15 at 150-240 s) while this cut stayed put.
AHC_THRESHOLD = 0.375
# Pauses filled inside one speaker's turn (ClassicConfig.fill_gap); same calibration
# (docs/results/classic-calibration.md): 0 -> 0.9 s took DER 17.9 -> 13.6 % (missed
# speech: the references mark a turn whole, pauses included), the Weighter's own
# DiarizeConfig.fill_gap. Longer fills were not tried: the set's turns are all followed
# by another speaker, so it cannot show what a longer fill costs.
FILL_GAP = 0.9
# Spectral clustering (``method="spectral"``): fraction of each row's neighbours kept
# when the affinity is p-pruned; 0 chooses it per file (NME-SC). Same calibration: 0.25
# gave DER 13.8 % (confusion 3.2 %), 83 % of counts exact on 40-90 s conversations.
SPECTRAL_PRUNE = 0.25
EIGENGAP_MOST = 10  # spectral: most speakers the eigengap may choose, unless the user says


@dataclass(frozen=True)
class ClassicConfig:
    window: float = 1.5  # seconds of audio per GE2E embedding
    step: float = 0.75  # seconds between window starts inside a speech region
    min_window: float = 0.4  # shorter speech regions get no window (no label)
    method: str = "ahc"  # "ahc" or "spectral"
    threshold: float = AHC_THRESHOLD  # ahc: cosine distance at which the tree is cut
    prune: float = SPECTRAL_PRUNE  # spectral: fraction of neighbours kept per row
    min_speaker_seconds: float = 1.0
    # Seconds: a pause shorter than this between two segments of one speaker (nobody else
    # in between) is filled, as turn references mark a speaker's pauses as the turn's.
    fill_gap: float = FILL_GAP
    channel: int | None = None  # None: downmix
    # How many speakers the user says the file holds (None: estimated): the count of
    # clusters is moved from the estimated one until the clusters with at least
    # ``min_speaker_seconds`` of speech number ``min_speakers`` to ``max_speakers``.
    # Spectral clustering's eigengap chooses at most ``max_speakers`` (default 10).
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("ahc", "spectral"):
            raise ValueError(f"method must be 'ahc' or 'spectral', got {self.method!r}")
        if not (self.window > 0 and self.step > 0 and 0 < self.min_window <= self.window):
            raise ValueError("window and step must be positive and 0 < min_window <= window")
        check_speaker_count(self.min_speakers, self.max_speakers)

    @property
    def description(self) -> str:
        how = (f"AHC cosine average t={self.threshold:g}" if self.method == "ahc"
               else f"spectral eigengap p={self.prune:g}" if self.prune > 0 else "spectral eigengap p=auto")
        given = "" if self.min_speakers is None and self.max_speakers is None else (
            f", {self.min_speakers} speakers given" if self.min_speakers == self.max_speakers
            else f", {self.min_speakers or 1}-{self.max_speakers or 'any'} speakers given")
        return f"classic: silero-vad + GE2E {self.window:g}s/{self.step:g}s + {how}{given}"


# ----------------------------------------------------------------------------- stages


def window_spans(
    regions: Sequence[tuple[float, float]], window: float = 1.5, step: float = 0.75, min_window: float = 0.4,
) -> tuple[list[tuple[float, float]], list[int]]:
    """Windows inside each speech region: ``(spans, region index of each span)``.

    A region of at least one window gets windows every ``step`` from its start, plus
    a last one ending at its end if the grid leaves its tail out; a shorter region
    one window over all of it if it lasts ``min_window`` or more.
    """
    spans: list[tuple[float, float]] = []
    owner: list[int] = []
    for r, (a, b) in enumerate(regions):
        length = b - a
        if length < min_window:
            continue
        if length <= window:
            spans.append((a, b))
            owner.append(r)
            continue
        count = int(math.floor((length - window) / step + 1e-9)) + 1
        for k in range(count):
            spans.append((a + k * step, a + k * step + window))
            owner.append(r)
        if spans[-1][1] < b - 1e-6:
            spans.append((b - window, b))
            owner.append(r)
    return spans, owner


@torch.inference_mode()
def embed_spans(encoder: GE2EEncoder, audio: np.ndarray, spans: Sequence[tuple[float, float]],
                batch_size: int = 64) -> np.ndarray:
    """GE2E unit vectors ``[len(spans), 256]`` of the spans' mel frames (one mel for the file)."""
    if not spans:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    mel = encoder.mel(audio if len(audio) >= 401 else np.pad(audio, (0, 401 - len(audio))))
    total = mel.shape[0]
    bounds = []
    for a, b in spans:
        s = min(max(int(round(a / FRAME_HOP_S)), 0), total - 1)
        e = min(max(int(round(b / FRAME_HOP_S)), s + 1), total)
        bounds.append((s, e))
    out = np.zeros((len(spans), encoder.dim), dtype=np.float32)
    by_width: dict[int, list[int]] = {}
    for i, (s, e) in enumerate(bounds):
        by_width.setdefault(e - s, []).append(i)
    for width, idx in by_width.items():
        views = mel.unfold(0, width, 1)  # [T - width + 1, 40, width]
        for k in range(0, len(idx), batch_size):  # gathered a batch at a time: bounded on long files
            part = idx[k : k + batch_size]
            windows = views[torch.tensor([bounds[i][0] for i in part])].transpose(1, 2).contiguous()
            out[part] = encoder.embed_mels(windows, batch_size).numpy()
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cluster(embeddings: np.ndarray, config: ClassicConfig = ClassicConfig()) -> np.ndarray:
    """Labels ``0..K-1`` of unit ``embeddings`` ``[N, D]``, K estimated."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    x = _unit(np.asarray(embeddings, dtype=np.float64))
    if config.method == "ahc":
        return ahc(x, config.threshold)
    return spectral(x, config.prune, config.max_speakers or EIGENGAP_MOST)


def ahc(x: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine distance, cut at ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    z = linkage(x, method="average", metric="cosine")
    return _relabel(fcluster(z, t=threshold, criterion="distance"))


def _spectral(x: np.ndarray, prune: float, max_speakers: int) -> tuple[int, np.ndarray, float]:
    n = len(x)
    affinity = np.clip(x @ x.T, 0.0, None)
    np.fill_diagonal(affinity, 0.0)
    keep = max(1, int(math.ceil(prune * (n - 1))))
    order = np.argsort(-affinity, axis=1)
    pruned = np.zeros_like(affinity)
    rows = np.arange(n)[:, None]
    pruned[rows, order[:, :keep]] = affinity[rows, order[:, :keep]]
    sym = 0.5 * (pruned + pruned.T)
    degree = sym.sum(1)
    inv = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    laplacian = np.eye(n) - inv[:, None] * sym * inv[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    top = min(max_speakers, n - 1)
    gaps = np.diff(values[: top + 1])
    k = int(np.argmax(gaps)) + 1 if len(gaps) else 1
    return k, vectors, float(gaps.max()) if len(gaps) else 0.0


def spectral_count(x: np.ndarray, prune: float, max_speakers: int) -> tuple[int, np.ndarray]:
    """Eigengap count and eigenvectors of the normalised Laplacian of the pruned affinity."""
    k, vectors, _ = _spectral(x, prune, max_speakers)
    return k, vectors


AUTO_PRUNES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def auto_prune(x: np.ndarray, max_speakers: int) -> float:
    """NME-SC's choice of p (Park et al. 2019): the p of the smallest ``p / largest eigengap``."""
    best, choice = math.inf, AUTO_PRUNES[0]
    for p in AUTO_PRUNES:
        _, _, gap = _spectral(x, p, max_speakers)
        ratio = p / max(gap, 1e-9)
        if ratio < best:
            best, choice = ratio, p
    return choice


def spectral(x: np.ndarray, prune: float, max_speakers: int) -> np.ndarray:
    """Spectral clustering, count by eigengap, k-means on the row-normalised eigenvectors.

    ``prune`` 0: chosen per file by ``auto_prune``."""
    from sklearn.cluster import KMeans

    if prune <= 0:
        prune = auto_prune(x, max_speakers)
    k, vectors = spectral_count(x, prune, max_speakers)
    if k <= 1:
        return np.zeros(len(x), dtype=np.int64)
    feats = _unit(vectors[:, :k])
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(feats)
    return _relabel(labels)


def clusters_of_count(x: np.ndarray, config: ClassicConfig) -> Callable[[int], np.ndarray]:
    """``k -> labels`` of unit ``x`` in at most k clusters: the average-linkage tree cut
    into k (ahc), or k-means on the first k eigenvectors (spectral); the tree or the
    eigenvectors are computed once."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.cluster import KMeans

    if config.method == "ahc":
        tree = linkage(x, method="average", metric="cosine")
        return lambda k: _relabel(fcluster(tree, t=k, criterion="maxclust"))
    prune = config.prune if config.prune > 0 else auto_prune(x, config.max_speakers or EIGENGAP_MOST)
    _, vectors = spectral_count(x, prune, len(x) - 1)

    def labels(k: int) -> np.ndarray:
        if k <= 1:
            return np.zeros(len(x), dtype=np.int64)
        return _relabel(KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(_unit(vectors[:, :k])))
    return labels


def _relabel(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.astype(np.int64)


def assign_frames(
    n_frames: int, regions: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]],
    owner: Sequence[int], labels: np.ndarray,
) -> np.ndarray:
    """Label of each 10 ms frame (-1: no speech): its region's window with the nearest centre."""
    frames = np.full(n_frames, -1, dtype=np.int64)
    by_region: dict[int, list[int]] = {}
    for i, r in enumerate(owner):
        by_region.setdefault(r, []).append(i)
    for r, idx in by_region.items():
        a, b = regions[r]
        s = max(0, int(round(a / FRAME_HOP_S)))
        e = min(n_frames, int(round(b / FRAME_HOP_S)))
        if e <= s:
            continue
        t = np.arange(s, e) * FRAME_HOP_S
        centres = np.array([(spans[i][0] + spans[i][1]) / 2 for i in idx])
        nearest = np.argmin(np.abs(t[:, None] - centres[None, :]), axis=1)
        frames[s:e] = np.asarray(labels)[np.asarray(idx)][nearest]
    return frames


def fill_gaps(frames: np.ndarray, max_frames: int) -> np.ndarray:
    """Unlabelled runs of under ``max_frames`` between two frames of one label take that label."""
    frames = frames.copy()
    labelled = np.flatnonzero(frames >= 0)
    if max_frames <= 0 or len(labelled) < 2:
        return frames
    gaps = np.flatnonzero(np.diff(labelled) > 1)
    for g in gaps:
        a, b = labelled[g], labelled[g + 1]
        if b - a - 1 < max_frames and frames[a] == frames[b]:
            frames[a + 1 : b] = frames[a]
    return frames


def frame_segments(frames: np.ndarray, label: int, duration: float) -> list[tuple[float, float]]:
    """Runs of ``label`` in the 10 ms frame labels as ``(start, end)`` seconds."""
    on = np.concatenate([[0], (frames == label).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(on))
    return [(s * FRAME_HOP_S, min(e * FRAME_HOP_S, duration)) for s, e in zip(edges[::2], edges[1::2])]


def merge_small(labels: np.ndarray, embeddings: np.ndarray, frames: np.ndarray,
                min_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Clusters with under ``min_seconds`` of frames go to the nearest kept centroid (or -1)."""
    labels = labels.copy()
    frames = frames.copy()
    k = int(labels.max()) + 1 if len(labels) else 0
    seconds = np.array([(frames == c).sum() * FRAME_HOP_S for c in range(k)])
    kept = [c for c in range(k) if seconds[c] >= min_seconds]
    small = [c for c in range(k) if seconds[c] < min_seconds]
    if not small:
        return labels, frames
    x = _unit(np.asarray(embeddings, dtype=np.float64))
    if kept:
        centroids = _unit(np.stack([x[labels == c].mean(0) for c in kept]))
        for c in small:
            if not (labels == c).any():
                continue
            target = kept[int(np.argmax(centroids @ _unit(x[labels == c].mean(0))))]
            labels[labels == c] = target
            frames[frames == c] = target
    else:
        labels[:] = -1
        frames[frames >= 0] = -1
    return labels, frames


def _speakers(frames: np.ndarray, min_seconds: float) -> int:
    """Labels with at least ``min_seconds`` of frames (those ``merge_small`` keeps)."""
    seconds = np.bincount(frames[frames >= 0]) * FRAME_HOP_S if (frames >= 0).any() else np.zeros(0)
    return int(np.sum(seconds >= min_seconds))


# ----------------------------------------------------------------------------- pipeline


def _default_detector():
    return SpeechDetector()


class ClassicDiarizer:
    """Speech detector + GE2E encoder + clustering; diarizes files one after another.

    ``detector`` is anything with ``speech_segments(audio) -> [(start_s, end_s)]``
    (default ``vad.SpeechDetector()``); ``encoder`` a ``GE2EEncoder`` (default the
    shipped weights). Both load once, here.
    """

    def __init__(self, config: ClassicConfig = ClassicConfig(), detector=None,
                 encoder: GE2EEncoder | None = None) -> None:
        self.config = config
        self.detector = detector if detector is not None else _default_detector()
        self.encoder = encoder if encoder is not None else GE2EEncoder.from_file()

    def diarize(self, path: str | os.PathLike[str]) -> FileDiarization:
        path = Path(path)
        info = probe_long_enough(path)
        audio = load_audio(path, channel=self.config.channel, min_duration=0)
        return self.diarize_audio(audio, path, duration=info.duration)

    def run(self, path: str | os.PathLike[str],
            cancelled: Callable[[], bool] = lambda: False) -> Iterator[FileDiarization]:
        """``Diarizer.run``'s shape: here only the file's result (no windows to draw)."""
        result = self.diarize(path)
        if not cancelled():
            yield result

    def regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in self.detector.speech_segments(audio)]

    def diarize_audio(self, audio: np.ndarray, path: str | os.PathLike[str] = "audio",
                      duration: float | None = None,
                      regions: Sequence[tuple[float, float]] | None = None) -> FileDiarization:
        """Diarize 16 kHz mono ``audio``; ``regions`` replaces the detector's speech regions."""
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE if duration is None else float(duration)
        regions = self.regions(audio) if regions is None else [(float(a), float(b)) for a, b in regions]
        spans, owner = window_spans(regions, self.config.window, self.config.step, self.config.min_window)
        embeddings = embed_spans(self.encoder, audio, spans)
        return self.assemble(Path(path), duration, regions, spans, owner, embeddings)

    def _to_count(self, labels, frames, embeddings, regions, spans, owner, cfg: ClassicConfig):
        """``labels`` and ``frames`` with the count of clusters moved, one at a time, from
        the estimated one until the speakers number ``min_speakers`` to ``max_speakers``
        (or no more clusters can be joined, or 4 x ``min_speakers`` + 4 clusters are
        still too few: the rest is fragments)."""
        low, high = cfg.min_speakers or 1, cfg.max_speakers or math.inf
        of_count = clusters_of_count(_unit(np.asarray(embeddings, dtype=np.float64)), cfg)
        k, have = int(labels.max()) + 1, _speakers(frames, cfg.min_speaker_seconds)
        step = -1 if have > high else 1 if have < low else 0
        most = min(len(embeddings), max(k, 4 * low + 4))
        while step and 1 <= k + step <= most and not low <= have <= high:
            k += step
            labels = of_count(k)
            frames = assign_frames(len(frames), regions, spans, owner, labels)
            have = _speakers(frames, cfg.min_speaker_seconds)
        return labels, frames

    def assemble(self, path: Path, duration: float, regions: Sequence[tuple[float, float]],
                 spans: Sequence[tuple[float, float]], owner: Sequence[int], embeddings: np.ndarray,
                 config: ClassicConfig | None = None) -> FileDiarization:
        """Cluster the windows' embeddings and build the file's tracks (the calibration sweeps this)."""
        cfg = config or self.config
        labels = cluster(embeddings, cfg)
        n_frames = 1 + int(round(duration * SAMPLE_RATE)) // HOP_LENGTH
        frames = assign_frames(n_frames, regions, spans, owner, labels)
        if (cfg.min_speakers is not None or cfg.max_speakers is not None) and len(embeddings) > 1:
            labels, frames = self._to_count(labels, frames, embeddings, regions, spans, owner, cfg)
        labels, frames = merge_small(labels, embeddings, frames, cfg.min_speaker_seconds)
        frames = fill_gaps(frames, int(round(cfg.fill_gap / FRAME_HOP_S)))
        blocks = max(1, math.ceil(duration / BLOCK_HOP_S - 1e-9))
        centres = (np.arange(blocks) + 0.5) * BLOCK_HOP_S
        x = _unit(np.asarray(embeddings, dtype=np.float32)) if len(embeddings) else embeddings
        tracks = []
        for c in sorted(set(labels.tolist()) - {-1}):
            segments = frame_segments(frames, c, duration)
            if not segments:
                continue
            curve = np.zeros(blocks, dtype=np.float32)
            for a, b in segments:
                curve[(centres >= a) & (centres < b)] = 1.0
            emb = _unit(x[labels == c].mean(0)).astype(np.float32)
            tracks.append(Track("", 1.0, emb, curve, segments))
        tracks.sort(key=lambda t: -t.speech_seconds)
        for i, t in enumerate(tracks):
            t.label = f"S{i + 1}"
        return FileDiarization(path, duration, BLOCK_HOP_S, tracks, 0.5, cfg.description,
                               f"ge2e{self.encoder.dim}-{cfg.window:g}s")
