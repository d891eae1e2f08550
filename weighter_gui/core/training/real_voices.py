"""Real recorded speakers as a voice source for simulated conversations.

Public API::

    find_speakers(roots) -> list[RealSpeaker]           # every speaker under the roots
    speakers_for_split(roots, split) -> list[RealSpeaker]
    split_of(speaker) -> "train" | "dev" | "eval"
    phrase_spans(path) -> list[(start, end)]            # the phrase cut of one file
    say(speaker, rng) -> np.ndarray                     # one random phrase, 16 kHz

A *speaker* is a folder of audio files of one person; a *root* is a folder of
speaker folders (a dataset, recognised by its folder name) or a folder of such
datasets (e.g. ``shared/data/real/speakers``). Identities are stable across machines::

    librispeech-train-clean-100/1234/     -> ls-1234
    librispeech-test-other/1688/          -> ls-1688   (LibriSpeech ids are global)
    common-voice/ar-0cae0344c4bc/         -> cv-ar-0cae0344c4bc
    vctk/p225/                            -> vctk-p225
    <other>/<name>/                       -> <other>-<name>

The split is fixed here, speaker-disjoint, and never depends on a seed:

* ``train``: librispeech-train-clean-100 except the 30 speakers with the smallest
  numeric ids, plus the common-voice speakers whose folder name hashes even (first
  byte of sha256(name) even), plus such even-hashing speakers of unknown datasets;
* ``dev`` (held out, for calibration): those 30 librispeech-train-clean-100
  speakers, the odd-hashing common-voice (and unknown-dataset) speakers, and vctk;
* ``eval``: librispeech-test-other only.

Each file is loaded with :func:`weighter_gui.core.io.audio.load_audio` (16 kHz mono)
and cut into phrases at pauses: 10 ms frames quieter than a threshold well under
the file's loud level (its 95th-percentile frame level) for >= 0.3 s separate
phrases; phrases shorter than 1 s are joined to a neighbour across a short pause,
longer than 6 s are cut at their quietest 100 ms. Each phrase is trimmed to its
first and last frame above the threshold (a whole number of milliseconds), so a
turn's RTTM segment is its sound. The cut is cached per file in memory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weighter_gui.core.io.audio import AUDIO_EXTENSIONS, load_audio, sox_effect

__all__ = [
    "DATASETS",
    "SPLITS",
    "RealSpeaker",
    "find_speakers",
    "phrase_spans",
    "say",
    "speakers_for_split",
    "split_of",
]

SAMPLE_RATE = 16000
FRAME = 160  # 10 ms; a multiple of the 1 ms grid (16 samples)
SPLITS = ("train", "dev", "eval")
# dataset folder name -> identity prefix
DATASETS = {
    "librispeech-train-clean-100": "ls",
    "librispeech-test-other": "ls",
    "common-voice": "cv",
    "vctk": "vctk",
}
HELD_OUT_LIBRISPEECH = 30  # smallest train-clean-100 ids that go to "dev"
MIN_PAUSE_S = 0.3
PHRASE_S = (1.0, 6.0)
MIN_PHRASE_S = 0.3  # shorter bits (a click, a breath) are dropped
JOIN_PAUSE_S = 0.6  # a short phrase is joined to a neighbour across at most this
TARGET_RMS = 0.1  # -20 dBFS, as synth's TTS utterances


@dataclass(frozen=True)
class RealSpeaker:
    """One recorded person: ``identity`` is the RTTM label (``ls-1234``)."""

    identity: str
    dataset: str  # the dataset folder name ("vctk", or an unknown root's name)
    folder: str  # the speaker folder's name ("p225")
    files: tuple[str, ...]  # absolute paths, sorted
    split: str
    pitch_cents: int = 0  # a pitch-shifted copy is a new identity ("ls-1234+300c")
    tempo: float = 1.0  # sox tempo factor (same person, faster or slower)

    @property
    def name(self) -> str:
        return self.identity

    def shifted(self, cents: int) -> RealSpeaker:
        tag = f"{cents:+d}c"
        return RealSpeaker(
            f"{self.identity}{tag}", self.dataset, self.folder, self.files, self.split,
            cents, self.tempo,
        )


# --------------------------------------------------------------------------- speakers


def _hash_even(name: str) -> bool:
    return hashlib.sha256(name.encode()).digest()[0] % 2 == 0


def _audio_files(folder: Path) -> tuple[str, ...]:
    return tuple(
        sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    )


def _speaker_folders(dataset_dir: Path) -> list[Path]:
    return sorted(p for p in dataset_dir.iterdir() if p.is_dir() and _audio_files(p))


def _held_out_librispeech(folders: Sequence[Path]) -> set[str]:
    ids = sorted((int(p.name) for p in folders if p.name.isdigit()))
    return {str(i) for i in ids[:HELD_OUT_LIBRISPEECH]}


def _split_for(dataset: str, folder: str, held_out: set[str]) -> str:
    if dataset == "librispeech-test-other":
        return "eval"
    if dataset == "librispeech-train-clean-100":
        return "dev" if folder in held_out else "train"
    if dataset == "vctk":
        return "dev"
    return "train" if _hash_even(folder) else "dev"


def _identity(dataset: str, folder: str) -> str:
    prefix = DATASETS.get(dataset) or re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_.+-]+', '_', folder)}"


def _dataset_dirs(root: Path) -> list[Path]:
    """The datasets under a root: itself when known or holding speaker folders."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder of speakers")
    if root.name in DATASETS:
        return [root]
    known = [root / name for name in sorted(DATASETS) if (root / name).is_dir()]
    return known or [root]


def _dataset_speakers(dataset_dir: Path) -> list[RealSpeaker]:
    folders = _speaker_folders(dataset_dir)
    held_out = (
        _held_out_librispeech(folders)
        if dataset_dir.name == "librispeech-train-clean-100"
        else set()
    )
    return [
        RealSpeaker(
            _identity(dataset_dir.name, f.name),
            dataset_dir.name,
            f.name,
            _audio_files(f),
            _split_for(dataset_dir.name, f.name, held_out),
        )
        for f in folders
    ]


def find_speakers(roots: Iterable[str | os.PathLike[str]]) -> list[RealSpeaker]:
    """Every speaker under ``roots`` (each split), sorted by identity, one per identity."""
    by_id: dict[str, RealSpeaker] = {}
    for root in roots:
        for ds in _dataset_dirs(Path(root).expanduser().resolve()):
            for spk in _dataset_speakers(ds):
                by_id.setdefault(spk.identity, spk)
    return [by_id[k] for k in sorted(by_id)]


def split_of(speaker: RealSpeaker) -> str:
    return speaker.split


def speakers_for_split(
    roots: Iterable[str | os.PathLike[str]], split: str
) -> list[RealSpeaker]:
    """The speakers of ``split`` ("train", "dev" or "eval") under ``roots``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [s for s in find_speakers(roots) if s.split == split]


# --------------------------------------------------------------------------- phrases


def _frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    frames = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _threshold_db(db: np.ndarray) -> float:
    """Well under the loud level, above the floor: max(loud - 30, midway floor-loud)."""
    loud, floor = np.percentile(db, 95), np.percentile(db, 10)
    return float(max(loud - 30.0, (loud + floor) / 2))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame runs where ``mask`` is True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _regions(loud: np.ndarray, min_pause: int) -> list[tuple[int, int]]:
    """Loud-frame runs, merged across quiet gaps shorter than ``min_pause`` frames."""
    out: list[list[int]] = []
    for a, b in _runs(loud):
        if out and a - out[-1][1] < min_pause:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _join_short(regions: list[tuple[int, int]], lo: int, hi: int, gap: int) -> list[tuple[int, int]]:
    """Join a region shorter than ``lo`` frames to a neighbour (pause <= gap, total <= hi)."""
    regs = [list(r) for r in regions]
    i = 0
    while i < len(regs):
        a, b = regs[i]
        if b - a >= lo:
            i += 1
            continue
        options = []
        if i > 0 and a - regs[i - 1][1] <= gap and b - regs[i - 1][0] <= hi:
            options.append((a - regs[i - 1][1], i - 1))
        if i + 1 < len(regs) and regs[i + 1][0] - b <= gap and regs[i + 1][1] - a <= hi:
            options.append((regs[i + 1][0] - b, i + 1))
        if not options:
            i += 1
            continue
        j = min(options)[1]
        lo_i, hi_i = min(i, j), max(i, j)
        regs[lo_i] = [regs[lo_i][0], regs[hi_i][1]]
        del regs[hi_i]
        i = lo_i
    return [(a, b) for a, b in regs]


def _cut_long(db: np.ndarray, a: int, b: int, hi: int, loud: np.ndarray) -> list[tuple[int, int]]:
    """Cut [a, b) at its quietest 100 ms (away from the ends) until each part <= hi."""
    if b - a <= hi:
        return [(a, b)]
    margin = max(10, (b - a) // 5)
    smooth = np.convolve(db[a:b], np.ones(10) / 10, mode="same")
    k = a + margin + int(np.argmin(smooth[margin : b - a - margin]))
    parts = []
    for lo_, hi_ in ((a, k), (k, b)):
        idx = np.flatnonzero(loud[lo_:hi_])  # re-trim each side at the cut
        if len(idx):
            parts += _cut_long(db, lo_ + idx[0], lo_ + idx[-1] + 1, hi, loud)
    return parts


def _spans(x: np.ndarray) -> list[tuple[int, int]]:
    """Sample spans [start, end) of the phrases of one utterance (frame-aligned)."""
    if len(x) < FRAME:
        return []
    db = _frame_db(x)
    loud = db > _threshold_db(db)
    per_s = SAMPLE_RATE // FRAME
    regs = _regions(loud, round(MIN_PAUSE_S * per_s))
    lo, hi = (round(s * per_s) for s in PHRASE_S)
    regs = _join_short(regs, lo, hi, round(JOIN_PAUSE_S * per_s))
    out = []
    for a, b in regs:
        for c, d in _cut_long(db, a, b, hi, loud):
            if d - c >= MIN_PHRASE_S * per_s:
                out.append((c * FRAME, d * FRAME))
    return out


@functools.lru_cache(maxsize=4096)
def _spans_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[int, int], ...]:
    return tuple(_spans(_load(path)))


@functools.lru_cache(maxsize=64)
def _load(path: str) -> np.ndarray:
    x = load_audio(path, sample_rate=SAMPLE_RATE, min_duration=0.0)
    x.setflags(write=False)
    return x


def phrase_spans(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """The phrase cut of one file: sample spans at 16 kHz, cached per file."""
    st = os.stat(path)
    return list(_spans_cached(str(path), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=1024)
def _speaker_phrases(files: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    return tuple((f, a, b) for f in files for a, b in phrase_spans(f))


def phrases_of(speaker: RealSpeaker) -> list[tuple[str, int, int]]:
    """(file, start, end) of every phrase of ``speaker``."""
    return list(_speaker_phrases(speaker.files))


def _perturbed(x: np.ndarray, cents: int, tempo: float) -> np.ndarray:
    """sox pitch/tempo on a phrase, cut to whole milliseconds (16 samples)."""
    effects = (["pitch", str(cents)] if cents else []) + (
        ["tempo", "-s", f"{tempo:g}"] if tempo != 1.0 else []
    )
    y = sox_effect(x, effects)
    return y[: len(y) - len(y) % 16]


def phrase_audio(
    path: str, start: int, end: int, cents: int = 0, tempo: float = 1.0
) -> np.ndarray:
    """One phrase, RMS-normalised to -20 dBFS (as TTS utterances are)."""
    x = np.array(_load(path)[start:end], dtype=np.float32)
    if cents or tempo != 1.0:
        x = _perturbed(x, cents, tempo)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return (x * (TARGET_RMS / max(rms, 1e-6))).astype(np.float32)


def say(speaker: RealSpeaker, rng: np.random.Generator) -> np.ndarray:
    """A random phrase of ``speaker`` (uses exactly one rng draw)."""
    phrases = phrases_of(speaker)
    if not phrases:
        raise ValueError(f"{speaker.identity}: no phrases found in {len(speaker.files)} files")
    return phrase_audio(
        *phrases[int(rng.integers(len(phrases)))], speaker.pitch_cents, speaker.tempo
    )
