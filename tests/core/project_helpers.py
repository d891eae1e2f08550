"""Analyses and audio for the project tests (imported by test modules and conftest)."""

from pathlib import Path

import numpy as np
import soundfile as sf

from weighter_gui.core.diarize.diarizer import FileDiarization, Track

HOP = 0.15


def unit(seed: int, dim: int = 256) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_diarization(path, specs, duration=10.0, threshold=0.5, checkpoint=""):
    """specs: (confidence, embedding seed, [(start, end), ...]) per track, labelled S1, S2, ..."""
    blocks = int(np.ceil(duration / HOP))
    tracks = []
    for i, (confidence, seed, segments) in enumerate(specs):
        curve = np.full(blocks, 0.05, dtype=np.float32)
        for a, b in segments:
            curve[int(round(a / HOP)) : int(round(b / HOP))] = 0.9
        tracks.append(Track(f"S{i + 1}", confidence, unit(seed), curve, list(segments)))
    return FileDiarization(Path(path), duration, HOP, tracks, threshold, checkpoint, "test-frontend")


SPECS_A = [
    (0.95, 1, [(0.0, 3.0), (5.0, 6.0)]),
    (0.8, 2, [(3.0, 5.0)]),
    (0.6, 3, [(6.0, 7.5)]),
    (0.3, 4, [(8.0, 9.0)]),
]
SPECS_B = [(0.9, 1, [(0.0, 2.0)]), (0.55, 2, [(2.0, 4.0)])]


def write_wav(path: Path, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    return path
