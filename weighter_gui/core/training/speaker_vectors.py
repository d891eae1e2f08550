"""The GE2E vectors a speaker space is fit on (``model.speaker_space.SpeakerSpace.fit``)
and measured with (``benchmarks/speaker_space.py``): real speakers of one split and
TTS training voices, heard clean and through the augmentation chain.

Core code: no Qt import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.io.manifest import read_manifest
from weighter_gui.core.model.frontend import GE2EEncoder
from weighter_gui.core.training.augment import AugmentConfig, degrade, reverberate
from weighter_gui.core.training.real_voices import phrase_audio, phrases_of, speakers_for_split
from weighter_gui.core.training.synth import RESERVED_ESPEAK, RESERVED_FESTIVAL, RESERVED_FLITE

__all__ = ["collect_vectors"]


def _reserved(label: str) -> bool:
    """A TTS label (``espeak-m7``, ``flite-awb+400c``) of a voice reserved for evaluation."""
    engine, _, voice = label.split("+")[0].partition("-")
    reserved = {"espeak": {v.lower() for v in RESERVED_ESPEAK}, "flite": RESERVED_FLITE, "festival": RESERVED_FESTIVAL}
    return (voice.lower() if engine == "espeak" else voice) in reserved.get(engine, ())


def collect_vectors(
    real_roots: Iterable[str | os.PathLike[str]],
    manifests: Iterable[str | os.PathLike[str]],
    seed: int = 1,
    progress=None,
    split: str = "train",
) -> tuple[np.ndarray, list[str], dict]:
    """GE2E utterance vectors to fit a space on: the ``split``'s real speakers under
    ``real_roots`` (``real_voices.speakers_for_split``; another split measures a space;
    per phrase, up to eight: the clean phrase and three versions through ``augment``'s
    rooms and ``degrade``'s noise, EQ, channels and levels), and
    the speakers of training ``manifests`` (twelve turns of at least 1.5 s that no one
    else talks over, every other one augmented). Manifests of another split, or naming
    a voice reserved for evaluation, are refused. ``counts``: the real speakers and
    the TTS voices."""
    encoder, cfg = GE2EEncoder.from_file(), AugmentConfig()
    rng = np.random.default_rng(seed)
    vectors, speakers = [], []

    def heard(x: np.ndarray, augment: bool) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if augment:
            x = degrade(reverberate(x[None], rng, cfg)[0], np.ones(len(x), bool), rng, cfg)
        return encoder.embed_utterance(x.astype(np.float32), hop_frames=20)

    real = speakers_for_split(list(real_roots), split)
    for n, speaker in enumerate(real):
        for path, start, end in phrases_of(speaker)[:8]:
            x = phrase_audio(path, start, end)
            if len(x) < 16000:
                continue
            for version in range(4):
                vectors.append(heard(x, version > 0))
                speakers.append(speaker.identity)
        if progress:
            progress(n + 1, len(real))
    turns: dict[str, list[tuple[Path, float, float]]] = {}
    for manifest in manifests:
        for item in read_manifest(manifest):  # a ManifestError names a missing file or a bad line
            if item.extra.get("split") != "train":
                raise ValueError(f"{manifest}: {item.id} is from split {item.extra.get('split')!r}; "
                                 "give training manifests")
            segments = item.segments or ()
            for k, (a, b, who) in enumerate(segments):
                if _reserved(who):
                    raise ValueError(f"{manifest}: {who} is a voice reserved for evaluation")
                alone = not any(o != k and s[0] < b and s[1] > a for o, s in enumerate(segments))
                if b - a >= 1.5 and alone:
                    turns.setdefault(who, []).append((item.audio, a, b))
    loaded: dict[Path, np.ndarray] = {}
    for who in sorted(turns):
        for n, i in enumerate(rng.permutation(len(turns[who]))[:12]):
            path, a, b = turns[who][i]
            if path not in loaded:
                loaded = {path: load_audio(path)}  # one file in memory at a time
            vectors.append(heard(loaded[path][int(a * 16000) : int(b * 16000)], n % 2 == 1))
            speakers.append(who)
    return np.stack(vectors), speakers, {"real_speakers": len(real), "tts_voices": len(turns)}
