"""Acoustic augmentation of simulated conversations: rooms, noise, channels, levels.

Public API::

    AugmentConfig(...)                                   # probabilities and ranges, frozen
    perturb_speaker(speaker, rng, cfg) -> speaker        # pitch (new identity) / tempo
    reverberate(tracks, rng, cfg) -> tracks              # one room, a place per speaker
    degrade(mix, active, rng, cfg, babble_from=()) -> mix  # noise, EQ, channel, level, clip
    room_ir(rng, rt60, far) -> np.ndarray                # direct path at sample 0
    add_noise(x, active, noise, snr_db) -> np.ndarray
    codec(x, name) -> np.ndarray                         # same length; see CODECS
    available_codecs() -> list[str]

:func:`weighter_gui.core.training.synth.build_corpus` calls these, in this order, for each
conversation with ``augment=AugmentConfig()`` (``weighter synth --augment``):

1. speakers (before the turns are placed): a real speaker may be pitch-shifted
   (``sox pitch``; a new identity ``ls-1234+300c``) or sped up/slowed down
   (``sox tempo``), the same for all their phrases. These change the timings, so a
   corpus with them is not the un-augmented one's RTTM; set ``pitch_p`` and
   ``tempo_p`` to 0 to keep it.
2. rooms, per speaker: one pyroomacoustics ShoeBox room per conversation, RT60 drawn
   in ``rt60_s`` (``pra.inverse_sabine``), one microphone, each speaker near
   (0.3-1 m) or far (1.5-4 m) from it. Early reflections come from the image method
   (order <= 6, fast); the late tail is exponentially decaying noise with the drawn
   RT60. The impulse response starts at its direct-path peak (sample 0), so reverb
   adds a tail but never moves an onset, and has unit energy.
3. noise on the mix at ``snr_db`` relative to the speech's active level: coloured
   (white, pink, brown), babble of other speakers of the same split (never this
   conversation's), bursts, mains hum (50/60 Hz with harmonics), or a real noise
   recording (``noise_dir``, default ``shared/data/real/noise``, ``labelled/`` excluded).
4. random EQ: 2-3 peaking/shelving biquads (RBJ cookbook, causal).
5. channel: telephone band (8 kHz, 300-3400 Hz band-pass) optionally through a
   codec (sox: gsm, amr-nb, mu-law, a-law; libsndfile: Ogg Vorbis, Opus, MP3), or a
   wide-band codec alone. Codecs that this machine lacks are skipped; each codec's
   delay is measured once and removed, so onsets stay put and the length is kept.
6. level: the active speech is set to ``level_dbfs``; occasional soft (tanh) or hard
   clipping.

Everything random comes from the generator passed in (synth gives each
conversation its own ``default_rng([seed, split, index, 1])``): same seed, same
samples. Nothing here changes when a speaker talks, except step 1.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, correlate, lfilter, oaconvolve, resample_poly, sosfilt

from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.training.real_voices import RealSpeaker, say

__all__ = [
    "CODECS",
    "PARTS",
    "AugmentConfig",
    "add_noise",
    "available_codecs",
    "codec",
    "default_noise_dir",
    "degrade",
    "perturb_speaker",
    "reverberate",
    "room_ir",
]

SAMPLE_RATE = 16000
# The chain's parts that can be left out one at a time (``AugmentConfig.without``,
# ``weighter synth --augment-without``), to measure what each is worth.
PARTS = ("speakers", "rooms", "noise", "channel")
NOISE_KINDS = ("coloured", "babble", "bursts", "hum", "real")
# name -> (tool, narrow band): narrow-band codecs run at 8 kHz after the telephone filter
CODECS = {
    "gsm": ("sox", True),
    "amr-nb": ("sox", True),
    "mu-law": ("sox", True),
    "a-law": ("sox", True),
    "ogg-vorbis": ("soundfile", False),
    "opus": ("soundfile", False),
    "mp3": ("soundfile", False),
}


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (``*_p``) and ranges of every augmentation; the defaults are usual."""

    pitch_p: float = 0.1  # per real speaker: a pitch-shifted new identity
    pitch_cents: tuple[int, int] = (-400, 400)  # |shift| >= 100 cents
    tempo_p: float = 0.2  # per real speaker
    tempo: tuple[float, float] = (0.9, 1.1)
    reverb_p: float = 0.5
    rt60_s: tuple[float, float] = (0.1, 1.0)
    far_p: float = 0.5  # per speaker, given a room
    noise_p: float = 0.8
    snr_db: tuple[float, float] = (0.0, 30.0)
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    noise_dir: str | None = None  # None: default_noise_dir()
    eq_p: float = 0.3
    telephone_p: float = 0.2  # 8 kHz band; a narrow-band codec half of the time
    codec_p: float = 0.1  # a wide-band codec alone (Vorbis, Opus, MP3)
    level_dbfs: tuple[float, float] = (-30.0, -10.0)
    clip_p: float = 0.05

    def without(self, *parts: str) -> AugmentConfig:
        """The same chain with whole ``PARTS`` left out: speakers (pitch, tempo), rooms,
        noise, channel (EQ, telephone band, codecs)."""
        off = {
            "speakers": {"pitch_p": 0.0, "tempo_p": 0.0},
            "rooms": {"reverb_p": 0.0},
            "noise": {"noise_p": 0.0},
            "channel": {"eq_p": 0.0, "telephone_p": 0.0, "codec_p": 0.0},
        }
        changes: dict[str, float] = {}
        for part in parts:
            if part not in off:
                raise ValueError(f"unknown augmentation {part!r}; choose from {', '.join(PARTS)}")
            changes.update(off[part])
        return replace(self, **changes)

    def without_speaker_changes(self) -> AugmentConfig:
        """The same chain with the RTTM kept: no pitch or tempo perturbation."""
        return self.without("speakers")


# --------------------------------------------------------------------------- helpers


def _db(x: float) -> float:
    return 10 ** (x / 20)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))) if len(x) else 0.0


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples."""
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), y.dtype)])


# --------------------------------------------------------------------------- speakers


def perturb_speaker(speaker, rng: np.random.Generator, cfg: AugmentConfig):
    """A real speaker, maybe pitch-shifted (new identity) and/or with a new tempo.

    Always draws four numbers, so later draws do not depend on the speaker's kind.
    TTS voices come back unchanged (they have ``--pitch-shift`` of their own).
    """
    u_pitch, u_tempo = rng.random(2)
    cents = int(rng.integers(100, max(abs(c) for c in cfg.pitch_cents) + 1)) * int(
        rng.choice([-1, 1])
    )
    tempo = float(rng.uniform(*cfg.tempo))
    if not isinstance(speaker, RealSpeaker) or shutil.which("sox") is None:
        return speaker
    if u_pitch < cfg.pitch_p:
        cents = int(np.clip(cents, *cfg.pitch_cents))
        speaker = speaker.shifted(cents)
    if u_tempo < cfg.tempo_p:
        speaker = replace(speaker, tempo=round(tempo, 3))
    return speaker


# --------------------------------------------------------------------------- rooms


def _room_dims(rng: np.random.Generator, rt60: float):
    """A ShoeBox size for which ``inverse_sabine(rt60)`` exists (small rooms for low RT60)."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
    for _ in range(20):
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
            return dims, absorption, order
        except ValueError:
            dims = np.maximum(dims * 0.85, [2.0, 2.0, 2.2])
    absorption, order = pra.inverse_sabine(max(rt60, 0.3), dims)
    return dims, absorption, order


def _direct_first(ir: np.ndarray, delay: int) -> np.ndarray:
    """Cut the IR at its direct-path peak (near ``delay``): onsets stay where they were."""
    lo, hi = max(0, delay - 40), delay + 41
    peak = lo + int(np.argmax(np.abs(ir[lo:hi])))
    return ir[peak:]


def room_ir(
    rng: np.random.Generator, rt60: float, far: bool, n_sources: int = 1
) -> list[np.ndarray]:
    """Impulse responses from ``n_sources`` places in one room to one microphone.

    Image method up to order 6 for early reflections plus an exponentially decaying
    noise tail with the drawn ``rt60``; each IR starts at its direct-path peak and has
    unit energy. ``far`` may be a bool or a sequence of bools (one per source).
    """
    import pyroomacoustics as pra

    fars = [far] * n_sources if isinstance(far, bool) else list(far)
    dims, absorption, order = _room_dims(rng, rt60)
    room = pra.ShoeBox(
        dims, fs=SAMPLE_RATE, materials=pra.Material(absorption),
        max_order=min(order, 6), air_absorption=True,
    )
    mic = np.array([rng.uniform(0.5, d - 0.5) for d in dims[:2]] + [rng.uniform(0.8, 1.6)])
    room.add_microphone(mic)
    dists = []
    for f in fars:
        pos, dist = _place(rng, dims, mic, (1.5, 4.0) if f else (0.3, 1.0))
        room.add_source(pos)
        dists.append(dist)
    room.compute_rir()
    global_delay = pra.constants.get("frac_delay_length") // 2
    irs = []
    for s, dist in enumerate(dists):
        ir = np.asarray(room.rir[0][s], np.float64)
        ir = _direct_first(ir, int(round(dist / pra.constants.get("c") * SAMPLE_RATE)) + global_delay)
        ir = _with_tail(ir, rt60, rng)
        irs.append(ir / max(np.sqrt(np.sum(ir**2)), 1e-12))
    return irs


def _place(rng, dims, mic, dist_range):
    """A source position at a distance in ``dist_range`` from ``mic``, inside the room."""
    for _ in range(50):
        d = rng.uniform(*dist_range)
        az = rng.uniform(0, 2 * np.pi)
        pos = mic + [d * np.cos(az), d * np.sin(az), rng.uniform(-0.3, 0.4)]
        if np.all(pos > 0.2) and np.all(pos < dims - 0.2):
            return pos, float(np.linalg.norm(pos - mic))
    pos = np.clip(mic + [dist_range[0], 0, 0], 0.2, dims - 0.2)
    return pos, float(np.linalg.norm(pos - mic))


def _with_tail(ir: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Add a late tail (noise decaying 60 dB in ``rt60``) faded in from 5 to 50 ms,
    matched to the image-method response's level just after 50 ms."""
    n = max(int(rt60 * SAMPLE_RATE), len(ir))
    tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / SAMPLE_RATE / rt60)
    a, b = int(0.005 * SAMPLE_RATE), int(0.05 * SAMPLE_RATE)
    fade = np.ones(n)
    fade[:a] = 0.0
    fade[a:b] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, b - a))
    early = _fit(ir, n)
    window = slice(b, b + int(0.01 * SAMPLE_RATE))
    scale = _rms(early[window]) / max(_rms(tail[window]), 1e-12)
    return early + tail * fade * scale


def reverberate(tracks: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One speaker per row: the same room (probability ``reverb_p``), a place each."""
    if rng.random() >= cfg.reverb_p:
        return tracks
    rt60 = float(rng.uniform(*cfg.rt60_s))
    fars = [bool(f) for f in rng.random(len(tracks)) < cfg.far_p]
    irs = room_ir(rng, rt60, fars, len(tracks))
    n = tracks.shape[1]
    return np.stack([oaconvolve(tr, ir)[:n] for tr, ir in zip(tracks, irs)])


# --------------------------------------------------------------------------- noise


def default_noise_dir() -> Path | None:
    """``$WEIGHTER_NOISE_DIR`` or the project's ``../shared/data/real/noise``, if present."""
    env = os.environ.get("WEIGHTER_NOISE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "noise")
    return next((c for c in candidates if c.is_dir()), None)


@functools.lru_cache(maxsize=4)
def _noise_files(folder: str) -> tuple[str, ...]:
    """Audio files directly in ``folder`` (not ``labelled/``, which holds speech)."""
    return tuple(sorted(str(p) for p in Path(folder).glob("*.flac")) + sorted(
        str(p) for p in Path(folder).glob("*.wav")))


@functools.lru_cache(maxsize=32)
def _noise_audio(path: str) -> np.ndarray:
    return load_audio(path, sample_rate=SAMPLE_RATE, min_duration=0.0).astype(np.float64)


def coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power ~ 1/f**exponent: 0 white, 1 pink, 2 brown."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    f[0] = f[1] if n > 1 else 1.0
    return np.fft.irfft(spec / f ** (exponent / 2), n)


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    for h in range(1, 9):
        out += rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return out + 0.01 * rng.standard_normal(n)


def bursts(n: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed noise bursts (50 ms-1 s, sharp attack, decay), ~1 per 4 s."""
    out = np.zeros(n)
    for _ in range(max(1, rng.poisson(n / SAMPLE_RATE / 4))):
        length = int(rng.uniform(0.05, 1.0) * SAMPLE_RATE)
        start = int(rng.integers(0, max(1, n - length)))
        lo = rng.uniform(100, 2000)
        sos = butter(2, [lo, min(lo * rng.uniform(2, 8), 7900)], "bandpass", fs=SAMPLE_RATE, output="sos")
        env = np.exp(-np.arange(length) / (length * rng.uniform(0.1, 0.5)))
        burst = sosfilt(sos, rng.standard_normal(length)) * env * _db(rng.uniform(-10, 0))
        out[start : start + length] += burst[: n - start]
    return out


def babble(n: int, rng: np.random.Generator, speakers: Sequence) -> np.ndarray:
    """3-7 streams of phrases of ``speakers`` (real speakers not in the conversation)."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 8))):
        pos = int(rng.integers(0, SAMPLE_RATE))
        while pos < n:
            spk = speakers[int(rng.integers(len(speakers)))]
            x = say(spk, rng)[: n - pos]
            out[pos : pos + len(x)] += x
            pos += len(x) + int(rng.uniform(0.05, 0.5) * SAMPLE_RATE)
    return out


def real_noise(n: int, rng: np.random.Generator, folder: str) -> np.ndarray | None:
    files = _noise_files(folder)
    if not files:
        return None
    x = _noise_audio(files[int(rng.integers(len(files)))])
    if len(x) == 0:
        return None
    x = np.roll(x, int(rng.integers(len(x))))
    return np.resize(x, n)


def make_noise(n: int, rng: np.random.Generator, cfg: AugmentConfig, babble_from=()) -> np.ndarray:
    """Noise of one kind from ``cfg.noise_kinds`` (coloured when a kind lacks material)."""
    kind = cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]
    noise = None
    if kind == "babble" and babble_from:
        noise = babble(n, rng, babble_from)
    elif kind == "bursts":
        noise = bursts(n, rng)
    elif kind == "hum":
        noise = hum(n, rng)
    elif kind == "real":
        folder = cfg.noise_dir or default_noise_dir()
        noise = real_noise(n, rng, str(folder)) if folder else None
    if noise is None or _rms(noise) == 0:
        noise = coloured_noise(n, rng, float(rng.choice([0.0, 1.0, 2.0])))
    return noise


def add_noise(x: np.ndarray, active: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` scaled so speech power (over ``active``) / noise power = SNR."""
    speech = _rms(x[active]) if active.any() else _rms(x)
    return x + noise * (speech / max(_rms(noise), 1e-12) / _db(snr_db))


# --------------------------------------------------------------------------- EQ and channels


def _biquad(kind: str, f0: float, gain_db: float, q: float):
    """RBJ audio-EQ-cookbook coefficients (b, a) for peaking / low shelf / high shelf."""
    amp = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * amp, -2 * cw, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cw, 1 - alpha / amp]
    else:
        sq = 2 * np.sqrt(amp) * alpha
        sign = 1 if kind == "low" else -1
        b = [
            amp * ((amp + 1) - sign * (amp - 1) * cw + sq),
            sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cw),
            amp * ((amp + 1) - sign * (amp - 1) * cw - sq),
        ]
        a = [
            (amp + 1) + sign * (amp - 1) * cw + sq,
            -sign * 2 * ((amp - 1) + sign * (amp + 1) * cw),
            (amp + 1) + sign * (amp - 1) * cw - sq,
        ]
    return np.array(b) / a[0], np.array(a) / a[0]


def random_eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """2-3 random biquads: peaking (150 Hz-6 kHz), low shelf, high shelf; +-10 dB."""
    for _ in range(int(rng.integers(2, 4))):
        kind = ["peak", "low", "high"][int(rng.integers(3))]
        f0 = {"peak": np.exp(rng.uniform(np.log(150), np.log(6000))),
              "low": rng.uniform(80, 400), "high": rng.uniform(2000, 6000)}[kind]
        b, a = _biquad(kind, f0, rng.uniform(-10, 10), rng.uniform(0.5, 2.0) if kind == "peak" else 0.707)
        x = lfilter(b, a, x)
    return x


def telephone(x: np.ndarray) -> np.ndarray:
    """8 kHz, 300-3400 Hz band-pass (causal), and back to 16 kHz; same length."""
    narrow = resample_poly(x, 1, 2)
    sos = butter(4, [300, 3400], "bandpass", fs=8000, output="sos")
    return _fit(resample_poly(sosfilt(sos, narrow), 2, 1), len(x))


def _sox_codec(x: np.ndarray, name: str, rate: int) -> np.ndarray:
    encode = {"gsm": ["-t", "gsm"], "amr-nb": ["-t", "amr-nb", "-C", "0"],
              "mu-law": ["-t", "ul"], "a-law": ["-t", "al"]}[name]
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = (str(Path(tmp) / f) for f in ("in.wav", "enc.bin", "out.wav"))
        sf.write(src, np.clip(x, -1, 1), rate, subtype="PCM_16")
        for args in (["sox", src, *encode, enc], ["sox", "-r", str(rate), *encode[:2], enc, "-b", "16", dec]):
            proc = subprocess.run(args, capture_output=True, timeout=60, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"sox {name}: {proc.stderr.decode(errors='replace')[:200]}")
        return sf.read(dec, dtype="float64")[0]


_SF_FORMATS = {"ogg-vorbis": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def _sf_codec(x: np.ndarray, name: str, rate: int, quality: float = 0.9) -> np.ndarray:
    """libsndfile encode/decode in memory; ``quality`` is its compression level (0-1)."""
    fmt, subtype = _SF_FORMATS[name]
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, 1, subtype, format=fmt, compression_level=quality) as f:
        f.write(np.clip(x, -1, 1))
    buf.seek(0)
    return sf.read(buf, dtype="float64")[0]


def _raw_codec(x: np.ndarray, name: str) -> np.ndarray:
    tool, narrow = CODECS[name]
    rate = 8000 if narrow else SAMPLE_RATE
    return _sox_codec(x, name, rate) if tool == "sox" else _sf_codec(x, name, rate)


def _voiced_probe(rate: int) -> np.ndarray:
    """1 s of speech-like sound (harmonics of a gliding 120-180 Hz pitch, syllable
    envelope): speech codecs model it well, so its delay is measurable."""
    t = np.arange(rate) / rate
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 1.3 * t)) / rate
    x = sum(np.sin(h * phase) / h for h in range(1, 20) if h * 180 < rate / 2)
    return 0.2 * x * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5


@functools.lru_cache(maxsize=None)
def _codec_delay(name: str) -> int | None:
    """A codec's delay in samples (measured once on a noise probe); None if unusable."""
    tool, narrow = CODECS[name]
    if tool == "sox" and shutil.which("sox") is None:
        return None
    if tool == "soundfile" and _SF_FORMATS[name][1] not in sf.available_subtypes(_SF_FORMATS[name][0]):
        return None
    rate = 8000 if narrow else SAMPLE_RATE
    probe = _voiced_probe(rate)
    try:
        y = _raw_codec(probe, name)
    except (RuntimeError, OSError, sf.LibsndfileError, ValueError):
        return None
    return _lag(y, probe)[0]


def _lag(y: np.ndarray, x: np.ndarray, max_lag: int = 400) -> tuple[int, float]:
    """The delay of ``y`` against ``x`` (0..max_lag samples) and its normalised correlation."""
    n = max(0, min(len(x), len(y) - max_lag))
    if n == 0:
        return 0, 0.0
    corr = correlate(y[: n + max_lag], x[:n], mode="valid", method="fft")
    k = int(np.argmax(corr))
    norm = np.sqrt(np.sum(x[:n] ** 2) * np.sum(y[k : k + n] ** 2))
    return k, float(corr[k] / norm) if norm > 0 else 0.0


def available_codecs() -> list[str]:
    """The codecs of ``CODECS`` that work on this machine."""
    return [c for c in CODECS if _codec_delay(c) is not None]


def _decoded(x: np.ndarray, name: str) -> np.ndarray:
    """Through the codec, realigned: the delay is measured on ``x`` itself where the
    codec kept the waveform (correlation > 0.5), else the codec's probe delay."""
    y = _raw_codec(x, name)
    lag, corr = _lag(y, x)
    return _fit(y[lag if corr > 0.5 else _codec_delay(name) :], len(x))


def codec(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` (16 kHz) through a codec and back: same length, delay removed.

    Narrow-band codecs (gsm, amr-nb, mu-law, a-law) include the telephone band.
    """
    if _codec_delay(name) is None:
        raise RuntimeError(f"codec {name} is not available here")
    if CODECS[name][1]:
        band = resample_poly(telephone(x), 1, 2)
        return _fit(resample_poly(_decoded(band, name), 2, 1), len(x))
    return _decoded(x, name)


def _channel(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    u = rng.random()
    coin = rng.random()
    codecs = available_codecs()
    narrow = [c for c in codecs if CODECS[c][1]]
    wide = [c for c in codecs if not CODECS[c][1]]
    if u < cfg.telephone_p:
        if narrow and coin < 0.5:
            return codec(x, narrow[int(rng.integers(len(narrow)))])
        return telephone(x)
    if u < cfg.telephone_p + cfg.codec_p and wide:
        return codec(x, wide[int(rng.integers(len(wide)))])
    return x


def _clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    level = peak * rng.uniform(0.2, 0.7)
    if rng.random() < 0.5:
        return np.clip(x, -level, level)
    return level * np.tanh(x / level)


def degrade(
    mix: np.ndarray,
    active: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    babble_from: Sequence = (),
) -> np.ndarray:
    """Noise, EQ, channel, level and clipping on the mixed conversation."""
    mix = np.asarray(mix, np.float64)
    if rng.random() < cfg.noise_p:
        snr = float(rng.uniform(*cfg.snr_db))
        mix = add_noise(mix, active, make_noise(len(mix), rng, cfg, babble_from), snr)
    if rng.random() < cfg.eq_p:
        mix = random_eq(mix, rng)
    mix = _channel(mix, rng, cfg)
    speech = _rms(mix[active]) if active.any() else _rms(mix)
    mix = mix * (_db(rng.uniform(*cfg.level_dbfs)) / max(speech, 1e-12))
    if rng.random() < cfg.clip_p:
        mix = _clip(mix, rng)
    return mix
