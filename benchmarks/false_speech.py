"""Speech and speakers found where nobody speaks: 60 s each of white noise, pink noise,
room tone, music, a dial tone and silence.

    python benchmarks/false_speech.py [--checkpoint NAME=PATH ...] [--no-gate] [--no-split] [--classic]
        [--out docs/results] [--name false-speech]

The signals: white and pink noise at -30 dBFS (seeded); room tone, real background
recordings of ``../shared/data/real/noise`` (dishes, an exercise bike, noise1-5)
joined and cut to 60 s; music, the part of ``noise/labelled/musanmix.flac`` that its
TextGrid labels "music" (22 s), repeated to 60 s; a North American dial tone (350 +
440 Hz, -20 dBFS); digital silence. Target: no speaker and no speech on every one.
Systems as in ``real_speech.py``. Writes ``NAME.md`` / ``.json`` under --out.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from real_speech import ROOT, add_system_options, systems
from results import write_table

from weighter_gui.core.io.audio import load_audio

NOISE = ROOT.parent / "shared" / "data" / "real" / "noise"
SECONDS = 60
RATE = 16000


def at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x * 10 ** (dbfs / 20) / max(float(np.sqrt(np.mean(x**2))), 1e-12)).astype(np.float32)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    return np.fft.irfft(spectrum, n)


def music_part() -> np.ndarray:
    """The stretches of musanmix that its TextGrid labels "music"."""
    audio = load_audio(NOISE / "labelled" / "musanmix.flac")
    text = (NOISE / "labelled" / "musanmix.TextGrid").read_text()
    spans = re.findall(r'xmin = ([\d.]+)\s+xmax = ([\d.]+)\s+text = "music"', text)
    return np.concatenate([audio[int(float(a) * RATE) : int(float(b) * RATE)] for a, b in spans])


def signals(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = SECONDS * RATE
    t = np.arange(n) / RATE
    room = np.concatenate([load_audio(p) for p in sorted(NOISE.glob("*.flac"))
                           if p.stem in {"doing_the_dishes", "exercise_bike"} or p.stem.startswith("noise")])
    return {
        "white noise": at_dbfs(rng.standard_normal(n), -30),
        "pink noise": at_dbfs(pink(n, rng), -30),
        "room tone (real recordings)": np.resize(room, n).astype(np.float32),
        "music": np.resize(music_part(), n).astype(np.float32),
        "dial tone": at_dbfs(np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t), -20),
        "silence": np.zeros(n, np.float32),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_system_options(parser)
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="false-speech")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        paths = {}
        for name, audio in signals().items():
            paths[name] = Path(scratch) / (name.split(" (")[0].replace(" ", "_") + ".flac")
            sf.write(paths[name], audio, RATE, subtype="PCM_16")
        for system, diarizer in systems(args).items():
            rows[system] = {}
            for name, path in paths.items():
                r = diarizer.diarize(path)
                speech = sum(t.speech_seconds for t in r.speakers)
                rows[system][name] = {"speakers": len(r.speakers), "speech_seconds": round(speech, 2)}
                print(f"{system}: {name}: {len(r.speakers)} speakers, {speech:.1f} s", file=sys.stderr)
    names = list(next(iter(rows.values())).keys())
    table = [
        f"{SECONDS} s of each signal; cells: speakers found, seconds of speech given to them. Target: 0 and 0.",
        "",
        "| system | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for system, cells in rows.items():
        table.append(f"| {system} | " + " | ".join(
            f"{c['speakers']}, {c['speech_seconds']:.1f} s" for c in cells.values()) + " |")
    write_table(args.out, args.name, table, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
