"""Seconds and peak memory to diarize one hour of audio with `weighter diarize`.

    python benchmarks/diarize_speed.py AUDIO_DIR [--minutes 60] [--device cpu] [--checkpoint C]

Concatenates the audio files of AUDIO_DIR (in name order, repeated as needed) into
one 16 kHz FLAC of --minutes, then runs ``weighter diarize`` on it in a child
process and reports its wall time and peak resident memory (``wait4`` rusage of
the child: the whole process, model and front-end included). Results go to
``docs/results/diarize-speed-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
from results import command_line, write_results


def build_long_file(audio_dir: Path, minutes: float, out: Path) -> float:
    files = sorted(p for p in audio_dir.iterdir() if p.suffix in (".flac", ".wav"))
    if not files:
        raise SystemExit(f"no .flac or .wav files in {audio_dir}")
    target = int(minutes * 60 * 16000)
    written = 0
    with sf.SoundFile(out, "w", samplerate=16000, channels=1, subtype="PCM_16", format="FLAC") as f:
        i = 0
        while written < target:
            x, rate = sf.read(files[i % len(files)], dtype="float32")
            if rate != 16000 or x.ndim != 1:
                raise SystemExit(f"{files[i % len(files)]}: expected 16 kHz mono")
            x = x[: target - written]
            f.write(x)
            written += len(x)
            i += 1
    return written / 16000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio_dir", type=Path)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        long_file = Path(tmp) / "long.flac"
        seconds = build_long_file(args.audio_dir, args.minutes, long_file)
        cmd = [sys.executable, "-m", "weighter_gui.cli", "diarize", str(long_file),
               "--device", args.device, "--json", str(Path(tmp) / "out.json")]
        if args.checkpoint:
            cmd += ["--checkpoint", args.checkpoint]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        output = proc.stdout.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"diarize failed: {output}")
        speakers = len(json.loads((Path(tmp) / "out.json").read_text())[0]["speakers"])
    peak_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    result = {
        "command": command_line(),
        "audio_seconds": seconds,
        "wall_seconds": round(wall, 1),
        "real_time_factor": round(wall / seconds, 4),
        "peak_rss_mb": round(peak_mb, 1),
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "speakers_found": speakers,
    }
    print(json.dumps(result, indent=1))
    write_results(args.out, f"diarize-speed-{args.device.replace(':', '')}", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
