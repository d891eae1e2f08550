"""Synthetic conversation corpora from text-to-speech voices and real recorded speakers.

Public API::

    available_voices(engines=None, pitch_shift=()) -> list[Voice]
    voices_for_split(split, engines=None, pitch_shift=()) -> list[Voice]
    missing_engines() -> dict[str, str]         # engine -> apt package(s) to install
    text_pool() -> list[str]                    # >= 200 distinct English sentences
    build_corpus(out_dir, *, conversations, split="train", seed=0, real=(), ...) -> manifest path

``build_corpus`` writes, under ``out_dir``::

    audio/<id>.flac      16 kHz mono PCM_16
    rttm/<id>.rttm       SPEAKER <id> 1 <start> <dur> <NA> <NA> <speaker> <NA> <NA>
    manifest.jsonl       one JSON object per file (paths relative to the manifest)
    tts_cache/           synthesised utterances, one .npy per (voice, text)

Speakers and splits: the voices reserved for evaluation (flite
``awb``; festival ``upc_ca_ona_hts``, ``czech_machac``, ``suo_fi_lj_diphone``,
``msu_ru_nsh_clunits``; espeak-ng variants ``m7``, ``f5``, ``Andy``, ``quincy``,
``belinda``, ``norbert``) and every pitch-shifted version of them are used only by
``split="eval"``; ``split="train"`` never uses them.

Real voices (``real=[folder, ...]``): recorded speakers from
:mod:`weighter_gui.core.training.real_voices`, one folder per person, labelled by a stable
identity (``ls-1234``, ``cv-ar-0cae0344c4bc``, ``vctk-p225``); a turn is one or two
of their phrases (cut at pauses, trimmed). Their split (train / dev / eval,
speaker-disjoint) is fixed in that module. With ``real`` given, TTS voices join only
when ``engines`` is given too; TTS voices have no ``dev`` split.

Augmentation (``augment=AugmentConfig()``, :mod:`weighter_gui.core.training.augment`): rooms,
noise, channels and levels drawn from a second generator
``default_rng([seed, split, index, 1])``, so the turns and the RTTM are those of the
un-augmented corpus with the same seed (unless the config perturbs speakers' pitch
or tempo, which makes new identities and new timings).

Who speaks next comes from :func:`weighter_gui.core.training.simulation.walk_turns` (bounded
random walks with hysteresis) run over fine steps and collapsed into turns, so some
speakers dominate and the hand-over pattern is not uniform. Each turn is one or two
sentences; every utterance is resampled to 16 kHz with
:func:`weighter_gui.core.io.audio.load_audio` and trimmed of leading/trailing silence
before it is placed, so the RTTM times are exact. All placements are on a 1 ms grid
(16 samples), so the 3-decimal times in the RTTM and the manifest are exact.

Everything random comes from ``numpy.random.default_rng([seed, split, index])``
(split 0 = train, 1 = eval, 2 = dev); the
same seed gives the same RTTM and manifest (and identical audio: espeak-ng, flite and
``sox -R`` are deterministic on one machine). The corpus depends on the voices
installed: a machine with other engines gives another corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.io.files import atomic_path, atomic_write, file_sha256
from weighter_gui.core.training import augment as augment_mod
from weighter_gui.core.training import real_voices
from weighter_gui.core.training.augment import AugmentConfig
from weighter_gui.core.training.simulation import walk_turns

__all__ = [
    "ENGINES",
    "SAMPLE_RATE",
    "SynthError",
    "Voice",
    "available_voices",
    "build_corpus",
    "missing_engines",
    "synthesize",
    "text_pool",
    "voices_for_split",
]

SAMPLE_RATE = 16000
GRID = 16  # samples per millisecond: every placement is a whole number of ms
ENGINES = ("espeak-ng", "flite", "festival")
APT_PACKAGES = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "festival": "festival plus voice packages (e.g. festvox-kallpc16k, festvox-us-slt-hts, "
    "festvox-ca-ona-hts, festvox-czech-machac, festvox-suopuhe-lj, festvox-ru, festvox-italp16k)",
    "sox": "sox",
}

RESERVED_ESPEAK = frozenset({"m7", "f5", "andy", "quincy", "belinda", "norbert"})
RESERVED_FLITE = frozenset({"awb"})
RESERVED_FESTIVAL = frozenset(
    {"upc_ca_ona_hts", "czech_machac", "suo_fi_lj_diphone", "msu_ru_nsh_clunits"}
)
# Not separate speakers: "fast" only changes espeak's speed; awb_time is a
# limited-domain (clock) voice. kal16 is the same speaker as kal (shared identity).
_SKIP_ESPEAK = frozenset({"fast"})
_SKIP_FLITE = frozenset({"awb_time"})
_FLITE_IDENTITY = {"kal16": "kal"}
# Festival's kal and slt are the people behind flite's kal and slt. Its Hindi voice
# needs Devanagari text, which the English text pool does not have.
_FESTIVAL_IDENTITY = {"kal_diphone": "flite-kal", "cmu_us_slt_arctic_hts": "flite-slt"}
_SKIP_FESTIVAL = frozenset({"hindi_NSK_diphone"})
# Festival reads its input in these encodings (UTF-8 silently produces garbage).
_FESTIVAL_ENCODING = (
    ("czech_", "iso-8859-2"),
    ("suo_fi_", "iso-8859-1"),
    ("pc_", "iso-8859-1"),
    ("lp_", "iso-8859-1"),
    ("upc_ca_", "iso-8859-15"),
)
PITCH_SHIFTS = (400, -400)  # cents: the pseudo-speakers of the held-out sets
_ENGINE_TIMEOUT_S = 60


class SynthError(RuntimeError):
    """A TTS engine is missing, failed, or no voice fits the request."""


@dataclass(frozen=True)
class Voice:
    name: str  # speaker label used in RTTM/manifest, no spaces: "flite-kal+400c"
    engine: str  # "espeak-ng" | "flite" | "festival"
    ident: str  # the engine's own voice id: "en-us+m3", "kal", "czech_machac"
    reserved: bool  # reserved for evaluation
    identity: str  # underlying speaker (two voices of one identity never share a file)
    pitch_cents: int = 0
    encoding: str = "utf-8"

    def shifted(self, cents: int) -> Voice:
        tag = f"{cents:+d}c"
        return Voice(
            name=f"{self.name}{tag}",
            engine=self.engine,
            ident=self.ident,
            reserved=self.reserved,
            identity=f"{self.identity}{tag}",
            pitch_cents=cents,
            encoding=self.encoding,
        )


# --------------------------------------------------------------------------- engines


def _which(cmd: str) -> str | None:
    return shutil.which(cmd)


def missing_engines() -> dict[str, str]:
    """Engines (and sox) not on PATH -> the apt package(s) that provide them."""
    out = {}
    for cmd, key in (
        ("espeak-ng", "espeak-ng"),
        ("flite", "flite"),
        ("festival", "festival"),
        ("sox", "sox"),
    ):
        if _which(cmd) is None:
            out[key] = APT_PACKAGES[key]
    return out


def _missing_message(engines: Sequence[str]) -> str:
    miss = missing_engines()
    parts = [f"{e} (apt-get install {miss[e]})" for e in engines if e in miss]
    return (
        "missing: " + "; ".join(parts)
        if parts
        else "all requested engines are installed"
    )


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            args, check=False, capture_output=True, timeout=_ENGINE_TIMEOUT_S, **kw
        )
    except FileNotFoundError as exc:
        key = "festival" if args[0] == "text2wave" else args[0]
        raise SynthError(
            f"{args[0]} is not installed; apt-get install {APT_PACKAGES.get(key, key)}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"{args[0]} did not finish in {_ENGINE_TIMEOUT_S} s") from exc
    return proc


def _espeak_variants() -> list[str]:
    """Variant file names (the `!v/` part stripped) from `espeak-ng --voices=variant`."""
    proc = _run(["espeak-ng", "--voices=variant"], text=True)
    if proc.returncode != 0:
        raise SynthError(f"espeak-ng --voices=variant failed: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    if not lines:
        return []
    header = lines[0]
    fcol = header.find("File")
    ocol = header.find("Other Languages")
    names = []
    for line in lines[1:]:
        field = line[fcol : ocol if ocol > fcol else None].strip()
        if field.startswith("!v/"):
            names.append(field[3:])
    return sorted(set(names))


def _flite_voices() -> list[str]:
    proc = _run(["flite", "-lv"], text=True)
    text = proc.stdout + proc.stderr
    if "Voices available:" not in text:
        raise SynthError(f"flite -lv gave no voice list: {text.strip()[:200]}")
    return sorted(text.split("Voices available:", 1)[1].split())


def _festival_voices() -> list[str]:
    proc = _run(["festival", "--batch", "(print (voice.list))"], text=True)
    text = proc.stdout.strip()
    if proc.returncode != 0 or not text.startswith("("):
        return []
    return sorted(set(text.strip("()").split()))


def available_voices(
    engines: Sequence[str] | None = None, pitch_shift: Sequence[int] = ()
) -> list[Voice]:
    """Every usable voice of the installed engines (train and eval), sorted by name.

    ``pitch_shift``: each voice also gets a version shifted by each of these cents
    (``PITCH_SHIFTS``: +400 and -400), a new speaker, reserved when its base voice is
    reserved. Needs sox for those.
    """
    engines = list(ENGINES if engines is None else engines)
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)}; known: {list(ENGINES)}")
    voices: list[Voice] = []
    if "espeak-ng" in engines and _which("espeak-ng"):
        for v in _espeak_variants():
            if v in _SKIP_ESPEAK:
                continue
            label = v.replace(" ", "_")
            voices.append(
                Voice(
                    f"espeak-{label}",
                    "espeak-ng",
                    f"en-us+{v}",
                    v.lower() in RESERVED_ESPEAK,
                    f"espeak-{label}",
                )
            )
    if "flite" in engines and _which("flite"):
        for v in _flite_voices():
            if v in _SKIP_FLITE:
                continue
            ident = _FLITE_IDENTITY.get(v, v)
            voices.append(
                Voice(
                    f"flite-{v}", "flite", v, ident in RESERVED_FLITE, f"flite-{ident}"
                )
            )
    if "festival" in engines and _which("festival") and _which("text2wave"):
        for v in _festival_voices():
            if v in _SKIP_FESTIVAL:
                continue
            enc = next((e for p, e in _FESTIVAL_ENCODING if v.startswith(p)), "utf-8")
            voices.append(
                Voice(
                    f"festival-{v}",
                    "festival",
                    v,
                    v in RESERVED_FESTIVAL,
                    _FESTIVAL_IDENTITY.get(v, f"festival-{v}"),
                    encoding=enc,
                )
            )
    if pitch_shift:
        if _which("sox") is None:
            raise SynthError("pitch_shift needs sox; apt-get install sox")
        voices += [v.shifted(int(c)) for v in list(voices) for c in pitch_shift if c]
    return sorted(voices, key=lambda v: v.name)


def voices_for_split(
    split: str, engines: Sequence[str] | None = None, pitch_shift: Sequence[int] = ()
) -> list[Voice]:
    """``"train"``: the unreserved voices; ``"eval"``: exactly the reserved ones."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    want = split == "eval"
    voices = [v for v in available_voices(engines, pitch_shift) if v.reserved == want]
    if not voices:
        req = list(ENGINES if engines is None else engines)
        raise SynthError(
            f"no {split} voices available from {req}; {_missing_message(req)}"
        )
    return voices


def _synth_raw(voice: Voice, text: str, wav: Path) -> None:
    if voice.engine == "espeak-ng":
        proc = _run(["espeak-ng", "-v", voice.ident, "-w", str(wav), text])
    elif voice.engine == "flite":
        proc = _run(["flite", "-voice", voice.ident, "-t", text, "-o", str(wav)])
    elif voice.engine == "festival":
        txt = wav.with_suffix(".txt")
        txt.write_bytes(text.encode(voice.encoding, errors="replace"))
        proc = _run(
            ["text2wave", "-o", str(wav), "-eval", f"(voice_{voice.ident})", str(txt)]
        )
    else:
        raise SynthError(f"unknown engine {voice.engine!r}")
    if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        err = proc.stderr.decode(errors="replace").strip()[:300]
        raise SynthError(
            f"{voice.engine} voice {voice.ident!r} failed on {text!r}: {err}"
        )


def trim_silence(
    x: np.ndarray, threshold_db: float = -40.0, frame: int = 160
) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``threshold_db`` below the loudest frame.

    The kept span is widened to whole milliseconds (multiples of GRID samples), padding
    with zeros past the signal's ends if needed.
    """
    n = len(x) // frame
    if n == 0:
        return np.zeros(0, np.float32)
    rms = np.sqrt(
        np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    )
    thr = max(rms.max() * 10 ** (threshold_db / 20), 1e-5)
    loud = np.flatnonzero(rms > thr)
    if len(loud) == 0:
        return np.zeros(0, np.float32)
    start, end = loud[0] * frame, min((loud[-1] + 1) * frame, len(x))
    start -= start % GRID
    end += (-end) % GRID
    y = x[start:end]
    if len(y) < end - start:
        y = np.concatenate([y, np.zeros(end - start - len(y), x.dtype)])
    return y.astype(np.float32)


def synthesize(
    voice: Voice, text: str, cache_dir: str | os.PathLike[str]
) -> np.ndarray:
    """One utterance at 16 kHz, trimmed, RMS-normalised to -20 dBFS; cached on disk."""
    cache = Path(cache_dir)
    key = hashlib.sha256(
        f"v1|{voice.engine}|{voice.ident}|{voice.pitch_cents}|{text}".encode()
    ).hexdigest()[:32]
    path = cache / key[:2] / f"{key}.npy"
    if path.exists():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        raw = Path(tmp) / "raw.wav"
        _synth_raw(voice, text, raw)
        if voice.pitch_cents:
            shifted = Path(tmp) / "shifted.wav"
            proc = _run(
                ["sox", "-R", str(raw), str(shifted), "pitch", str(voice.pitch_cents)]
            )
            if proc.returncode != 0:
                raise SynthError(
                    f"sox pitch failed: {proc.stderr.decode(errors='replace')}"
                )
            raw = shifted
        x = trim_silence(load_audio(raw, sample_rate=SAMPLE_RATE, min_duration=0.0))
    if len(x) == 0:
        raise SynthError(f"{voice.name} produced silence for {text!r}")
    x = (
        x * (0.1 / max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-6))
    ).astype(np.float32)
    with atomic_path(path, suffix=".tmp.npy") as tmp_path:
        np.save(tmp_path, x)
    return x


# --------------------------------------------------------------------------- text


_HAND_WRITTEN = [
    "Good morning, everyone, thanks for joining on such short notice.",
    "Can you hear me now, or should I switch to the other microphone?",
    "I think we should start with the numbers from last quarter.",
    "That is a fair point, but the schedule is already very tight.",
    "Let me share my screen so everybody can see the chart.",
    "Honestly, I did not expect the results to be this good.",
    "We tried that approach last spring and it did not work out.",
    "Could you repeat the last part? The connection dropped for a second.",
    "I will send the summary by email after the meeting.",
    "Does anyone have questions before we move on?",
    "The weather forecast says it will rain all weekend.",
    "My train was delayed again this morning, so I apologise for being late.",
    "Please remember to update the shared document before Friday.",
    "If we hire two more people, we can finish the project in June.",
    "The new coffee machine on the third floor finally works.",
    "I am not sure that the customers will like the new design.",
    "We need a decision today, otherwise we lose the booking.",
    "The library closes at eight in the evening during the summer.",
    "She said the package would arrive sometime next week.",
    "Let us take a short break and continue in ten minutes.",
    "The report is long, but the conclusion fits on a single page.",
    "Nobody told me that the meeting room had been changed.",
    "I agree with most of what you said, except the last part.",
    "We should ask the finance team before we promise anything.",
    "The old bridge near the station will be closed for repairs.",
    "To be honest, I would rather wait until we have more data.",
    "That sounds great, let us do it that way.",
    "Remind me, who is responsible for the test plan?",
    "The children planted tomatoes and beans in the school garden.",
    "Our flight leaves at six, so we have to get up very early.",
    "It took me three tries to find the right cable.",
    "Thank you all, that was a very productive discussion.",
    "Wait, I think I missed something important there.",
    "Right, so the next step is to write everything down.",
    "Yes, exactly, that is what I was trying to say.",
    "No, I do not think that is a good idea at all.",
    "Hmm, let me think about that for a moment.",
    "Sorry to interrupt, but we are running out of time.",
    "The museum has a new exhibition about ancient ships.",
    "Could somebody open a window? It is getting warm in here.",
]
_SUBJECTS = [
    "The manager",
    "My neighbour",
    "Our teacher",
    "The new engineer",
    "A young doctor",
    "The committee",
    "Your brother",
    "The pilot",
    "An old farmer",
    "The students",
    "The chef",
    "My grandmother",
    "The driver",
    "Our team",
    "The lawyer",
]
_VERBS = [
    "bought",
    "repaired",
    "painted",
    "described",
    "forgot",
    "found",
    "cancelled",
    "ordered",
    "delivered",
    "photographed",
    "borrowed",
    "cleaned",
]
_OBJECTS = [
    "a blue bicycle",
    "the kitchen table",
    "three heavy boxes",
    "the broken window",
    "an expensive camera",
    "the old piano",
    "a map of the city",
    "the quarterly report",
    "twelve fresh eggs",
    "the garden fence",
    "a wooden boat",
    "the office printer",
]
_TIMES = [
    "yesterday",
    "last Monday",
    "on Friday evening",
    "this morning",
    "two weeks ago",
    "after lunch",
    "before the storm",
    "during the holidays",
    "at nine o'clock",
    "last summer",
]
_PLACES = [
    "near the harbour",
    "in the city centre",
    "at the station",
    "behind the school",
    "in a small village",
    "at the market",
    "next to the river",
    "on the second floor",
]
_NUMBER_TEMPLATES = [
    "The meeting lasted {n} minutes and nobody took notes.",
    "We counted {n} cars in the parking lot this morning.",
    "The price went up by {n} percent in a single year.",
    "Room number {n} is at the end of the corridor.",
    "She has read {n} books since January.",
    "The bus leaves every {n} minutes from the main square.",
]
_QUESTION_TEMPLATES = [
    "Did {s} really buy {o} {t}?",
    "Why did {s} leave {o} {p}?",
    "Where exactly did {s} see {o}?",
]


def text_pool() -> list[str]:
    """A fixed, varied list of distinct English sentences (ASCII only)."""
    rng = np.random.default_rng(
        20240601
    )  # fixed: the pool never depends on the corpus seed
    out = list(_HAND_WRITTEN)
    seen = set(out)

    def add(sentence: str) -> None:
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)

    def pick(xs: list[str]) -> str:
        return xs[int(rng.integers(len(xs)))]

    for _ in range(240):
        s, v, o, t, p = (
            pick(_SUBJECTS),
            pick(_VERBS),
            pick(_OBJECTS),
            pick(_TIMES),
            pick(_PLACES),
        )
        form = int(rng.integers(3))
        if form == 0:
            add(f"{s} {v} {o} {t}.")
        elif form == 1:
            add(f"{t.capitalize()}, {s[0].lower() + s[1:]} {v} {o} {p}.")
        else:
            add(f"{s} {v} {o} {p} {t}.")
    for tpl in _NUMBER_TEMPLATES:
        for n in rng.choice(np.arange(2, 400), 8, replace=False):
            add(tpl.format(n=int(n)))
    for _ in range(40):
        tpl = pick(_QUESTION_TEMPLATES)
        o = pick(_OBJECTS)
        add(tpl.format(s=pick(_SUBJECTS).lower(), o=o, t=pick(_TIMES), p=pick(_PLACES)))
    return out


# --------------------------------------------------------------------------- assembly


def _turn_order(k: int, rng: np.random.Generator, min_turns: int) -> list[int]:
    """Speaker index per turn: walk_turns over fine steps, runs collapsed to turns."""
    if k == 1:  # a monologue: one walk never hands over, so it would make no turns
        return [0] * min_turns
    turns: list[int] = []
    while len(turns) < min_turns:
        labels = walk_turns(np.array([k]), 40 * min_turns, 0.08, 0.15, rng)[0]
        runs = labels[np.r_[True, labels[1:] != labels[:-1]]].tolist()
        if turns and runs and runs[0] == turns[-1]:
            runs = runs[1:]
        turns += runs
    # Every chosen speaker must speak: give an absent one the turns of the most frequent.
    for missing in set(range(k)) - set(turns):
        counts = np.bincount(turns, minlength=k)
        top = int(np.argmax(counts))
        idx = [i for i, s in enumerate(turns) if s == top]
        for i in idx[1::2]:
            prev_ok = i == 0 or turns[i - 1] != missing
            next_ok = i == len(turns) - 1 or turns[i + 1] != missing
            if prev_ok and next_ok:
                turns[i] = missing
    return turns


def _ms(seconds: float) -> int:
    """Seconds -> samples on the 1 ms grid."""
    return round(seconds * 1000) * GRID


SENTENCE_TRIES = 5


def _say(voice: Voice, pool: list[str], rng: np.random.Generator, cache_dir: Path) -> np.ndarray:
    """A random sentence in ``voice``; another one if the engine chokes on it.

    Some festival voices fail on particular words (SIOD errors); one bad sentence
    should not end a corpus. A voice that fails SENTENCE_TRIES times in a row does.
    """
    for attempt in range(SENTENCE_TRIES):
        try:
            return synthesize(voice, pool[int(rng.integers(len(pool)))], cache_dir)
        except SynthError:
            if attempt == SENTENCE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _utterance(
    speaker: Voice | real_voices.RealSpeaker,
    pool: list[str],
    rng: np.random.Generator,
    cache_dir: Path,
) -> np.ndarray:
    """One utterance of a TTS voice (a sentence) or a real speaker (a phrase)."""
    if isinstance(speaker, real_voices.RealSpeaker):
        return real_voices.say(speaker, rng)
    return _say(speaker, pool, rng, cache_dir)


def _others(voices: list, speakers: list) -> list[real_voices.RealSpeaker]:
    """Real speakers of the corpus who are not in this conversation (for babble)."""
    taken = {getattr(v, "files", None) for v in speakers}
    return [v for v in voices if isinstance(v, real_voices.RealSpeaker) and v.files not in taken]


def _assemble(
    conv_id: str,
    rng: np.random.Generator,
    voices: list[Voice | real_voices.RealSpeaker],
    pool: list[str],
    cache_dir: Path,
    *,
    min_speakers: int,
    max_speakers: int,
    duration_s: tuple[float, float],
    overlap: float,
    noise_db: tuple[float, float],
    augment: AugmentConfig | None = None,
    aug_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    identities = sorted({v.identity for v in voices})
    k = int(rng.integers(min_speakers, max_speakers + 1))
    if k > len(identities):
        raise SynthError(
            f"{k} speakers wanted but only {len(identities)} distinct voices"
        )
    chosen_ids = rng.choice(len(identities), k, replace=False)
    speakers = []
    for i in chosen_ids:
        same = [v for v in voices if v.identity == identities[i]]
        speakers.append(same[int(rng.integers(len(same)))])
    if augment is not None:
        speakers = [augment_mod.perturb_speaker(v, aug_rng, augment) for v in speakers]
    gains = 10 ** (rng.uniform(-6, 6, k) / 20)
    target = _ms(rng.uniform(*duration_s))
    order = _turn_order(k, rng, min_turns=max(8, int(target / SAMPLE_RATE / 2)))

    pieces: list[tuple[int, np.ndarray, int]] = []  # (start, audio, speaker)
    cursor = _ms(rng.uniform(0.2, 0.6))
    prev_start = prev_end = None
    ends_before_prev = 0  # latest end among turns before the previous one
    last_end_by_spk = {}
    t = 0
    while True:
        if t >= len(order):
            order += _turn_order(k, rng, min_turns=8)
        s = order[t]
        t += 1
        parts = []
        n_sent = 1 if rng.random() < 0.6 else 2
        if prev_end is not None and prev_end > target - _ms(4.0):
            n_sent = 1  # near the end: keep the overshoot short
        for j in range(n_sent):
            if j:
                parts.append(np.zeros(_ms(rng.uniform(0.1, 0.25)), np.float32))
            parts.append(_utterance(speakers[s], pool, rng, cache_dir))
        audio = np.concatenate(parts) * np.float32(gains[s])
        if prev_end is None:
            start = cursor
        elif rng.random() < overlap:
            prev_dur = prev_end - prev_start
            back = _ms(rng.uniform(0.2, 1.2))
            start = max(prev_end - back, prev_start + min(prev_dur // 2, _ms(0.5)))
            start -= start % GRID
        else:
            start = prev_end + _ms(rng.uniform(0.15, 0.9))
        # at most two voices at once, never a speaker over itself
        start = max(start, ends_before_prev, last_end_by_spk.get(s, 0) + _ms(0.1))
        pieces.append((start, audio, s))
        end = start + len(audio)
        if prev_end is not None:
            ends_before_prev = max(ends_before_prev, prev_end)
        prev_start, prev_end = start, end
        last_end_by_spk[s] = end
        if end >= target and len({p[2] for p in pieces}) == k:
            break
        if len(pieces) > 10000:
            raise SynthError("conversation assembly did not terminate")

    total = max(p[0] + len(p[1]) for p in pieces) + _ms(rng.uniform(0.3, 0.8))
    if augment is None:
        mix = np.zeros(total, np.float64)
        for start, audio, _ in pieces:
            mix[start : start + len(audio)] += audio
    else:  # each speaker in its own place in the room
        tracks = np.zeros((k, total), np.float64)
        for start, audio, s in pieces:
            tracks[s, start : start + len(audio)] += audio
        mix = augment_mod.reverberate(tracks, aug_rng, augment).sum(axis=0)
    noise = lfilter([1.0], [1.0, -0.7], rng.standard_normal(total))
    noise *= 10 ** (rng.uniform(*noise_db) / 20) / max(
        float(np.sqrt(np.mean(noise**2))), 1e-12
    )
    mix += noise
    if augment is not None:
        active = np.zeros(total, bool)
        for start, audio, _ in pieces:
            active[start : start + len(audio)] = True
        mix = augment_mod.degrade(mix, active, aug_rng, augment, babble_from=_others(voices, speakers))
    peak = float(np.max(np.abs(mix)))
    if peak > 0.95:
        mix *= 0.95 / peak
    # Label by identity: one person keeps one name whichever engine voiced them.
    segments = sorted((st, st + len(a), speakers[s].identity) for st, a, s in pieces)
    return mix.astype(np.float32), segments


def _t(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)


SPLIT_CODES = {"train": 0, "eval": 1, "dev": 2}


def _corpus_speakers(
    split: str,
    engines: Sequence[str] | None,
    pitch_shift: Sequence[int],
    real: Sequence[str | os.PathLike[str]],
    voice_names: Sequence[str] | None,
) -> list[Voice | real_voices.RealSpeaker]:
    """The speakers of a corpus: TTS voices and/or real speakers of ``split``.

    Without ``real``: the TTS voices (all installed engines when ``engines`` is None).
    With ``real``: its speakers of the split, plus TTS voices only if ``engines`` is
    given (an empty list or ["none"] means none).
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    engines = None if engines is None else [e for e in engines if e and e != "none"]
    use_tts = engines is None and not real or bool(engines)
    speakers: list[Voice | real_voices.RealSpeaker] = []
    if use_tts:
        if split == "dev":
            raise ValueError("TTS voices have no 'dev' split (only real voices do); use --engines none")
        speakers += voices_for_split(split, engines, pitch_shift)
    if real:
        found = real_voices.speakers_for_split(real, split)
        if not found:
            raise SynthError(f"no {split!r} speakers under {', '.join(map(str, real))}")
        speakers += found
        if pitch_shift and _which("sox") is None:
            raise SynthError("pitch_shift needs sox; apt-get install sox")
        speakers += [r.shifted(int(c)) for r in found for c in pitch_shift if c]
    if not speakers:
        raise SynthError("no speakers: give --real folders and/or TTS --engines")
    if voice_names is not None:
        by_name = {v.name: v for v in speakers}
        unknown = sorted(set(voice_names) - set(by_name))
        if unknown:
            raise SynthError(f"not voices of the {split!r} split here: {', '.join(unknown)}")
        speakers = [by_name[n] for n in voice_names]
    return speakers


def build_corpus(
    out_dir: str | os.PathLike[str],
    *,
    conversations: int,
    split: str = "train",
    seed: int = 0,
    min_speakers: int = 2,
    max_speakers: int = 4,
    duration_s: tuple[float, float] = (60, 180),
    overlap: float = 0.1,
    noise_db: tuple[float, float] = (-45, -30),
    pitch_shift: Sequence[int] = (),
    hook: Callable[[int, int, str], object] | None = None,
    engines: Sequence[str] | None = None,
    voice_names: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    real: Sequence[str | os.PathLike[str]] = (),
    augment: AugmentConfig | None = None,
) -> Path:
    """Write ``conversations`` synthetic conversations and return the manifest path.

    ``overlap`` is the probability that a turn starts before the previous one ends
    (0 = no overlapped speech). ``noise_db`` is the range of the background noise
    RMS in dBFS (speech is at about -20 dBFS +-6 dB per speaker). ``hook(done,
    total, conv_id)`` is called after each conversation; raise from it to stop.
    ``engines`` restricts the TTS engines (default: all installed); ``voice_names``
    restricts the speakers to these voices of the split (``Voice.name``, e.g.
    ``"flite-kal+400c"``). ``cache_dir`` defaults to ``out_dir/tts_cache``.
    ``real``: folders of real speakers (see :mod:`weighter_gui.core.training.real_voices`);
    with it, TTS voices are used only when ``engines`` is given. ``split`` is
    "train" or "eval" (TTS and real) or "dev" (real voices only). ``augment``: an
    :class:`~weighter_gui.core.training.augment.AugmentConfig` (None: no augmentation).
    """
    if conversations < 0:
        raise ValueError("conversations must be >= 0")
    if not 1 <= min_speakers <= max_speakers:
        raise ValueError("need 1 <= min_speakers <= max_speakers")
    if not 0 <= overlap <= 1:
        raise ValueError("overlap must be in [0, 1]")
    lo, hi = (float(x) for x in duration_s)
    if not 0 < lo <= hi:
        raise ValueError("duration_s must be (min, max) with 0 < min <= max")
    voices = _corpus_speakers(split, engines, pitch_shift, real, voice_names)
    pool = text_pool()
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "rttm").mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else out / "tts_cache"
    if any(isinstance(v, Voice) for v in voices):
        cache.mkdir(parents=True, exist_ok=True)
    split_code = SPLIT_CODES[split]
    lines = []
    for i in range(conversations):
        conv_id = f"{split}_s{seed}_{i:05d}"
        rng = np.random.default_rng([int(seed), split_code, i])
        mix, segments = _assemble(
            conv_id,
            rng,
            voices,
            pool,
            cache,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            duration_s=(lo, hi),
            overlap=overlap,
            noise_db=tuple(noise_db),
            augment=augment,
            aug_rng=np.random.default_rng([int(seed), split_code, i, 1]),
        )
        audio_path = out / "audio" / f"{conv_id}.flac"
        with atomic_path(audio_path, suffix=".tmp.flac") as tmp_audio:
            sf.write(tmp_audio, mix, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
        atomic_write(
            out / "rttm" / f"{conv_id}.rttm",
            "".join(
                f"SPEAKER {conv_id} 1 {_t(a):.3f} {_t(b - a):.3f} <NA> <NA> {name} <NA> <NA>\n"
                for a, b, name in segments
            )
        )
        likes = sorted({name for _, _, name in segments})
        lines.append(
            json.dumps(
                {
                    "id": conv_id,
                    "audio": f"audio/{conv_id}.flac",
                    "rttm": f"rttm/{conv_id}.rttm",
                    "duration": _t(len(mix)),
                    "sample_rate": SAMPLE_RATE,
                    "likes": likes,
                    "segments": [[_t(a), _t(b), name] for a, b, name in segments],
                    "sha256": file_sha256(audio_path),
                    "split": split,
                    "seed": int(seed),
                }
            )
        )
        if hook is not None:
            hook(i + 1, conversations, conv_id)
    return atomic_write(out / "manifest.jsonl", "".join(line + "\n" for line in lines))
