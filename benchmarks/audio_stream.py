"""Time and peak memory of streaming a long recording to 16 kHz mono.

    .venv/bin/python benchmarks/audio_stream.py [--hours 1] [--block-seconds 60]

Writes a noise recording (44.1 kHz, stereo, 16-bit WAV) to a temporary folder, then
streams it through ``iter_audio_blocks`` in a fresh process (so writing the file does
not count) and prints the seconds taken and that process's peak resident memory,
with and without the streaming. The file is deleted afterwards.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from weighter_gui.core.io.audio import iter_audio_blocks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_recording(path: Path, hours: float, rate: int = 44100) -> None:
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=rate, channels=2, subtype="PCM_16") as f:
        for _ in range(int(hours * 3600 / 60)):  # a minute at a time: bounded here too
            f.write((rng.standard_normal((rate * 60, 2)) * 0.1).astype(np.float32))


def stream(path: Path, block_seconds: float) -> None:
    """In this process: peak memory after imports, then after streaming the file."""
    before = peak_rss_mb()
    start = time.perf_counter()
    samples = sum(len(b) for b in iter_audio_blocks(path, block_seconds=block_seconds))
    seconds = time.perf_counter() - start
    print(
        f"{path.stat().st_size / 1e6:.0f} MB of 44.1 kHz stereo WAV -> "
        f"{samples / 16000 / 3600:.3f} h at 16 kHz mono in {seconds:.1f} s; peak RSS "
        f"{peak_rss_mb():.0f} MB ({before:.0f} MB after imports, before streaming)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--block-seconds", type=float, default=60.0)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.stream:
        stream(args.stream, args.block_seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        write_recording(path, args.hours)
        subprocess.run(
            [sys.executable, __file__, "--stream", str(path),
             "--block-seconds", str(args.block_seconds)],
            check=True,
        )


if __name__ == "__main__":
    main()
