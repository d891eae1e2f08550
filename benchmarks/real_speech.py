"""DER on real recordings: the Weighter (with and without speech detection) beside the
classic pipeline, on real conversations and on simulated sets, file by file.

    python benchmarks/real_speech.py [--set NAME=PATH ...] [--checkpoint NAME=PATH ...]
        [--no-gate] [--no-split] [--classic] [--count-given] [--out docs/results] [--name real-speech]

Sets. PATH is a label manifest (``weighter synth``) or a folder of audio files each
with an RTTM of the same stem. With no ``--set``: ``real``, the real development
conversations of ``../shared/data/real/conversations`` (pyaa1, pyaa2, falcon; never
trained or tuned on) and pyannote.audio's own sample (``sample.wav`` and
``sample.rttm`` read from the pyannote-audio wheel given by ``--pyannote-wheel``,
default ``data/wheels/pyannote_audio-4.0.7-py3-none-any.whl``; get it with
``pip download --no-deps pyannote.audio==4.0.7 -d data/wheels``).

Systems: each checkpoint as ``weighter diarize`` runs it (speech detection on), the
same without speech detection (``--no-gate``), without cutting the slots that hold two
voices (``--no-split``), and ``weighter diarize --pipeline
classic`` (``--classic``); with ``--count-given`` each of those again, told each
file's true speaker count (``weighter diarize --speakers N``). DER with
pyannote.metrics, collar 0.25 s, overlap scored; the speaker count is each system's
own unless given. Writes ``NAME-SET.md`` / ``.json`` under --out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from results import write_table
from speech_der import der_row

from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer, default_checkpoint
from weighter_gui.core.io.label_files import read_rttm
from weighter_gui.core.io.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real" / "conversations"
WHEEL = ROOT / "data" / "wheels" / "pyannote_audio-4.0.7-py3-none-any.whl"
AUDIO = (".flac", ".wav")
PER_FILE_COLUMNS = 8


def folder_set(folder: Path) -> list[tuple[Path, Path]]:
    """(audio, rttm) pairs of a folder: each audio file that has an RTTM beside it."""
    return [(a, a.with_suffix(".rttm")) for a in sorted(folder.iterdir())
            if a.suffix in AUDIO and a.with_suffix(".rttm").exists()]


def manifest_set(path: Path) -> list[tuple[Path, Path]]:
    return [(Path(item.audio), path.parent / item.extra["rttm"]) for item in read_manifest(path)]


def pyannote_sample(wheel: Path, into: Path) -> list[tuple[Path, Path]]:
    """pyannote.audio's sample conversation, read from its wheel."""
    with zipfile.ZipFile(wheel) as z:
        for name in ("sample.wav", "sample.rttm"):
            (into / name).write_bytes(z.read(f"pyannote/audio/sample/{name}"))
    return [(into / "sample.wav", into / "sample.rttm")]


def load_sets(specs: list[str], wheel: Path, scratch: Path) -> dict[str, list[tuple[Path, Path]]]:
    if not specs:
        if not wheel.exists():
            sys.exit(f"{wheel}: missing; run `pip download --no-deps pyannote.audio==4.0.7 -d {wheel.parent}`")
        return {"real": folder_set(REAL) + pyannote_sample(wheel, scratch)}
    sets = {}
    for spec in specs:
        name, path = spec.split("=", 1)
        path = Path(path)
        sets[name] = manifest_set(path) if path.suffix == ".jsonl" else folder_set(path)
    return sets


def systems(args) -> dict[str, object]:
    """Name -> something with ``.diarize(path)``."""
    out: dict[str, object] = {}
    checkpoints = dict(c.split("=", 1) for c in args.checkpoint) or {"shipped": str(default_checkpoint())}
    for name, path in checkpoints.items():
        out[f"Weighter ({name})"] = Diarizer(path)
        if args.no_gate:
            out[f"Weighter ({name}), no speech detection"] = Diarizer(path, replace(DiarizeConfig(), speech_gate=False))
        if args.no_split:
            out[f"Weighter ({name}), no slot cutting"] = Diarizer(path, replace(DiarizeConfig(), split_similarity=-2.0))
    if args.classic:
        from weighter_gui.core.diarize.classic import ClassicDiarizer

        out["classic (VAD + GE2E + clustering)"] = ClassicDiarizer()
    if getattr(args, "count_given", False):  # real_speech's own option
        out.update({f"{name}, count given": CountGiven(system) for name, system in list(out.items())})
    return out


class CountGiven:
    """A system told each file's true speaker count, as ``weighter diarize --speakers N``."""

    def __init__(self, system) -> None:
        self.system, self.config = system, system.config

    def diarize(self, path: Path, speakers: int):
        self.system.config = replace(self.config, min_speakers=speakers, max_speakers=speakers)
        return self.system.diarize(path)


def score_set(name: str, pairs: list[tuple[Path, Path]], diarizers: dict, args) -> None:
    refs = {}
    for _, rttm in pairs:
        refs.update(read_rttm(rttm))
    minutes = sum(r.get_timeline().extent().end for r in refs.values()) / 60
    rows, per_file = {}, {}
    for system, diarizer in diarizers.items():
        t0 = time.perf_counter()
        results = {}
        for audio, rttm in pairs:
            if isinstance(diarizer, CountGiven):
                (reference,) = read_rttm(rttm).values()
                r = diarizer.diarize(audio, len(reference.labels()))
            else:
                r = diarizer.diarize(audio)
            results[r.uri] = r
        seconds = time.perf_counter() - t0
        hyps = {uri: r.annotation() for uri, r in results.items()}
        counts = {uri: (len(r.speakers), len(refs[uri].labels())) for uri, r in results.items()}
        count_ok = float(np.mean([a == b for a, b in counts.values()]))
        row, report = der_row(refs, hyps, args.collar, count_ok, seconds)
        row["per_file"] = {uri: {"der": v["diarization error rate"], "speakers": counts[uri][0], "true": counts[uri][1]}
                           for uri, v in report.files.items()}
        rows[system] = row
        per_file[system] = row["per_file"]
        print(f"{name}: {system}: {100 * row['der']:.1f} %", file=sys.stderr)
    # a column per file for small sets (the real ones); every file is in the JSON
    uris = list(next(iter(per_file.values())).keys()) if len(pairs) <= PER_FILE_COLUMNS else []
    table = [
        f"Set `{name}`: {len(pairs)} files, {minutes:.1f} min. DER collar {args.collar} s (pyannote: total width), "
        "overlap scored; each system's own speaker count, or the reference's where the count is given.",
        "",
        "| system | DER | missed | false alarm | confusion | speaker count right |" + "".join(f" {u} |" for u in uris),
        "|---|---|---|---|---|---|" + "---|" * len(uris),
    ]
    for system, r in rows.items():
        cells = [f"{100 * r['per_file'][u]['der']:.1f} % ({r['per_file'][u]['speakers']}/{r['per_file'][u]['true']})"
                 for u in uris]
        table.append(
            f"| {system} | {100 * r['der']:.2f} % | {100 * r['missed']:.2f} % | {100 * r['false_alarm']:.2f} % | "
            f"{100 * r['confusion']:.2f} % | {100 * r['count_accuracy']:.0f} % |" + "".join(f" {c} |" for c in cells)
        )
    if uris:
        table += ["", "Per file: DER (speakers found / true)."]
    write_table(args.out, f"{args.name}-{name}", table, rows)


def add_system_options(parser: argparse.ArgumentParser) -> None:
    """The options ``systems`` reads (shared with false_speech.py)."""
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--no-gate", action="store_true", help="also run each checkpoint without speech detection")
    parser.add_argument("--no-split", action="store_true",
                        help="also run each checkpoint without cutting slots that hold two voices")
    parser.add_argument("--classic", action="store_true", help="also run the classic pipeline")


def add_set_and_system_options(parser: argparse.ArgumentParser) -> None:
    """The options ``load_sets`` and ``systems`` read (shared with correction_effort.py)."""
    parser.add_argument("--set", action="append", default=[], metavar="NAME=PATH")
    add_system_options(parser)
    parser.add_argument("--pyannote-wheel", type=Path, default=WHEEL)
    parser.add_argument("--collar", type=float, default=0.25)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_and_system_options(parser)
    parser.add_argument("--count-given", action="store_true",
                        help="also run each system told each file's true speaker count (--speakers N)")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="real-speech")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        sets = load_sets(args.set, args.pyannote_wheel, Path(scratch))
        diarizers = systems(args)
        for name, pairs in sets.items():
            score_set(name, pairs, diarizers, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
