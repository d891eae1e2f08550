"""Long recordings whose speakers come back: DER, speaker count, seconds and peak memory
of one long file, against the same conversations diarized one by one.

    python benchmarks/long_recordings.py MANIFEST --name NAME [--minutes 10 60 240]
        [--similarity 0.85 ...] [--same-window-similarity 0.9 ...] [--checkpoint C]
        [--before DIR] [--work data/long] [--one-room SEED] [--classic]
        [--reuse-windows] [--count-given] [--out docs/results] [--threads 2]

Each long file is the manifest's conversations (``weighter synth``) one after another,
in manifest order, repeated until it is at least ``--minutes`` long (whole
conversations), with the exact reference: each conversation's RTTM moved to its
offset, speakers named by their voice, so a voice that comes back is the same speaker.
Files are written once under ``--work`` and reused.

``--one-room SEED`` records the whole long file in one place, as a meeting is: the
conversations (make them without ``--augment``) are played in one simulated room, a
place per speaker (each speaker's reference turns through their own impulse response,
the tail left to ring), then one noise, EQ, channel and level chain runs over the whole
file (``core/training/augment.py``, seeded). Without it every conversation keeps the
room and channel ``weighter synth --augment`` gave it, so a voice that comes back
comes back through another room and line. With it the conversations "alone" are the
long file's own stretches (the first time each is played), cut out and diarized one
by one.

Each long file is diarized in a child process (its wall time, and its peak resident
memory, model included, which it reads from its own ``/proc/self/status``): the
window pass once, then the file-level assembly at each ``--similarity``
(``DiarizeConfig.cluster_similarity``: the clustering stops at the file's own
voiceprint cosine for two voices plus this margin) and each
``--same-window-similarity`` (the cosine at which two slots of one window may join;
the first pair is what the timing includes). ``--before DIR`` also scores the RTTMs
in DIR named ``<long file stem>.rttm`` (``weighter diarize --rttm`` of another version). The
conversations alone are diarized once each (``weighter diarize`` as shipped) and
scored as often as they occur. DER with pyannote.metrics, collar 0.25 s, overlap
scored. ``--classic`` adds a row for the classic pipeline (``weighter diarize
--pipeline classic``) on each long file, timed the same way; "alone" stays the
Weighter's. ``--count-given`` adds a row per pipeline told the long file's true
speaker count (``weighter diarize --speakers N``); the Weighter's window pass then also
keeps each slot's best cut, and its seconds include that. Writes ``long-NAME.md`` /
``.json`` under --out.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from results import write_table

from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import read_rttm, write_rttm
from weighter_gui.core.io.manifest import read_manifest

RATE = 16000


def build_long_file(manifest: Path, minutes: float, out: Path, room_seed: int | None = None) -> None:
    """``out`` (FLAC) and ``out.with_suffix('.rttm')``: whole conversations of the
    manifest in order, repeated, until at least ``minutes`` long (through one room
    when ``room_seed`` is given, ``one_room``)."""
    from pyannote.core import Annotation, Segment

    items = list(read_manifest(manifest))
    if not items:
        raise SystemExit(f"{manifest}: no conversations")
    reference = Annotation(uri=out.stem)
    offset, i = 0, 0
    partial = out.with_suffix(".partial.flac")
    with sf.SoundFile(partial, "w", samplerate=RATE, channels=1, subtype="PCM_16", format="FLAC") as f:
        while offset < minutes * 60 * RATE:
            item = items[i % len(items)]
            audio, rate = sf.read(item.audio, dtype="float32")
            if rate != RATE or audio.ndim != 1:
                raise SystemExit(f"{item.audio}: expected 16 kHz mono")
            for ref in read_rttm(manifest.parent / item.extra["rttm"]).values():
                for segment, _, speaker in ref.itertracks(yield_label=True):
                    reference[Segment(segment.start + offset / RATE, segment.end + offset / RATE)] = speaker
            f.write(audio)
            offset += len(audio)
            i += 1
    write_rttm(out.with_suffix(".rttm"), [reference])
    if room_seed is not None:
        audio = sf.read(partial, dtype="float32")[0]
        sf.write(partial, one_room(audio, reference, room_seed), RATE, subtype="PCM_16", format="FLAC")
    partial.rename(out)
    (out.with_suffix(".json")).write_text(json.dumps({"conversations": [items[k % len(items)].id for k in range(i)]}))


def one_room(audio: np.ndarray, reference, seed: int) -> np.ndarray:
    """The whole file in one room (a place and impulse response per speaker), then one
    noise, EQ, channel and level chain, as ``weighter synth --augment`` does to one
    conversation. Where speakers overlap each gets an equal share of the mix; sound
    outside every turn goes through the first speaker's response."""
    from scipy.signal import oaconvolve

    from weighter_gui.core.training.augment import AugmentConfig, degrade, room_ir

    cfg = AugmentConfig(reverb_p=1.0)
    rng = np.random.default_rng([seed, 4])
    speakers = sorted(reference.labels())
    rt60 = float(rng.uniform(*cfg.rt60_s))
    irs = room_ir(rng, rt60, [bool(f) for f in rng.random(len(speakers)) < cfg.far_p], len(speakers))
    def turns(speaker: str) -> np.ndarray:
        mask = np.zeros(len(audio), np.float32)
        for segment in reference.label_timeline(speaker):
            mask[int(segment.start * RATE) : int(np.ceil(segment.end * RATE))] = 1.0
        return mask

    talking = np.zeros(len(audio), np.float32)  # how many speak at each sample
    for speaker in speakers:
        talking += turns(speaker)
    active = talking > 0
    share = 1.0 / np.maximum(talking, 1.0)
    del talking
    wet = np.zeros(len(audio), np.float64)
    for k, (speaker, ir) in enumerate(zip(speakers, irs)):  # one speaker's mask at a time
        mask = turns(speaker) * share
        if k == 0:
            mask[~active] = 1.0
        wet += oaconvolve(audio * mask, ir)[: len(audio)]
    return degrade(wet, active, rng, cfg).astype(np.float32)


def played(path: Path, manifest: Path) -> list[tuple]:
    """The conversations the long file ``path`` plays, in order: (manifest item, first
    sample, samples)."""
    items = {item.id: item for item in read_manifest(manifest)}
    out, offset = [], 0
    for item_id in json.loads(path.with_suffix(".json").read_text())["conversations"]:
        length = sf.info(str(items[item_id].audio)).frames
        out.append((items[item_id], offset, length))
        offset += length
    return out


def alone_stretches(path: Path, manifest: Path, folder: Path) -> list[Path]:
    """Each conversation's first stretch of the long file ``path``, as FLAC files named
    by the conversation's reference URI (so its RTTM scores them)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for item, offset, length in played(path, manifest):
        uri = next(iter(read_rttm(manifest.parent / item.extra["rttm"])))
        target = folder / f"{uri}.flac"
        if target not in out:
            if not target.exists():
                sf.write(target, sf.read(path, start=offset, stop=offset + length, dtype="float32")[0], RATE)
            out.append(target)
    return out


def analyse_child(args) -> int:
    """In the child: the window pass once, then each similarity's assembly to an RTTM
    (or, with ``--classic``, the classic pipeline once)."""
    import torch

    from weighter_gui.core.diarize.diarizer import Diarizer

    torch.set_num_threads(args.threads)
    if args.classic:
        return classic_child(args)
    diarizer = Diarizer(args.checkpoint)
    if args.speakers:  # the window pass keeps each slot's cut, as `weighter diarize --speakers N` does
        diarizer.config = replace(diarizer.config, min_speakers=args.speakers, max_speakers=args.speakers)
    estimated = replace(diarizer.config, min_speakers=None, max_speakers=None)
    saved = args.child.with_suffix(".windows.pkl")  # the window pass, for --reuse-windows
    start = time.perf_counter()
    if args.reuse_windows and saved.exists():
        windows = pickle.loads(saved.read_bytes())
    else:
        windows = diarizer.analyse(args.child)
        saved.write_bytes(pickle.dumps(windows))
    timings = {}
    for similarity, same_window in settings(args):
        begin = time.perf_counter()
        config = replace(estimated, cluster_similarity=similarity, same_window_similarity=same_window)
        result = diarizer.assemble(windows, config)
        timings[(similarity, same_window)] = time.perf_counter() - begin
        write_rttm(args.child.with_name(f"{args.child.stem}.{setting_name(similarity, same_window)}.rttm"),
                   [result.annotation()])
    if args.speakers:
        write_rttm(args.child.with_name(f"{args.child.stem}.given.rttm"), [diarizer.assemble(windows).annotation()])
    first = timings[settings(args)[0]]
    timing = args.child.with_suffix(".timing.json")
    if args.reuse_windows and timing.exists():
        result = json.loads(timing.read_text())
    else:
        windows_seconds = time.perf_counter() - start - sum(timings.values())
        result = {"seconds": windows_seconds + first, "assembly_seconds": first,
                  "slot_store_bytes": windows.slots.nbytes(), "slots": len(windows.slots),
                  "peak_mb": own_peak_mb()}
        timing.write_text(json.dumps(result))
    print(json.dumps(result))
    return 0


def classic_child(args) -> int:
    """In the child: the classic pipeline on the whole file, its RTTM, seconds and memory."""
    from weighter_gui.core.diarize.classic import ClassicDiarizer, embed_spans, window_spans
    from weighter_gui.core.io.audio import load_audio

    start = time.perf_counter()
    classic = ClassicDiarizer()
    audio = load_audio(args.child, min_duration=0)
    regions = classic.regions(audio)
    spans, owner = window_spans(regions, classic.config.window, classic.config.step, classic.config.min_window)
    embeddings = embed_spans(classic.encoder, audio, spans)
    duration = len(audio) / RATE
    result = classic.assemble(args.child, duration, regions, spans, owner, embeddings)
    seconds = time.perf_counter() - start
    write_rttm(args.child.with_name(f"{args.child.stem}.classic.rttm"), [result.annotation()])
    if args.speakers:
        given = replace(classic.config, min_speakers=args.speakers, max_speakers=args.speakers)
        result = classic.assemble(args.child, duration, regions, spans, owner, embeddings, given)
        write_rttm(args.child.with_name(f"{args.child.stem}.classic-given.rttm"), [result.annotation()])
    print(json.dumps({"seconds": seconds, "peak_mb": own_peak_mb()}))
    return 0


def own_peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``wait4``'s rusage in the parent:
    a child started by ``subprocess`` (vfork, then exec) reports at least the parent's
    own peak there, and the parent may have built a long file or loaded a model."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def settings(args) -> list[tuple[float, float]]:
    return [(s, w) for s in args.similarity for w in args.same_window_similarity]


def setting_name(similarity: float, same_window: float) -> str:
    return f"sim{similarity}-sw{same_window}"


def classic_long(path: Path, args, speakers: int | None) -> dict:
    """The classic pipeline on the long file in a child process (cached beside it)."""
    timing = path.with_suffix(".classic.json")
    if not (args.reuse_windows and timing.exists()):
        count = ["--speakers", str(speakers)] if speakers else []
        proc = subprocess.run([sys.executable, __file__, "--child", str(path), "--classic",
                               "--threads", str(args.threads), *count], stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{path}: the classic pipeline failed")
        timing.write_text(proc.stdout.strip().splitlines()[-1])
    return json.loads(timing.read_text())


def diarize_long(path: Path, args, speakers: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--threads", str(args.threads),
           "--similarity", *map(str, args.similarity),
           "--same-window-similarity", *map(str, args.same_window_similarity)]
    cmd += ["--speakers", str(speakers)] if speakers else []
    cmd += ["--reuse-windows"] if args.reuse_windows else []
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{path}: diarization failed")
    result = json.loads(output.strip().splitlines()[-1])
    path.with_suffix(".timing.json").write_text(json.dumps(result))
    return result


def alone_hypotheses(manifest: Path, work: Path, args, stretches_of: Path | None = None) -> dict:
    """Each conversation diarized alone (cached as one RTTM): the manifest's files, or
    their stretches of the long file ``stretches_of``."""
    out = work / (f"{args.name}-alone.rttm" if stretches_of else f"{manifest.parent.name}-alone.rttm")
    if not out.exists():
        import torch

        from weighter_gui.core.diarize.diarizer import Diarizer

        torch.set_num_threads(args.threads)
        diarizer = Diarizer(args.checkpoint)
        files = (alone_stretches(stretches_of, manifest, work / f"{args.name}-alone")
                 if stretches_of else [item.audio for item in read_manifest(manifest)])
        write_rttm(out, [diarizer.diarize(f).annotation() for f in files])
    return read_rttm(out)


def alone_row(manifest: Path, sequence: list[str], hypotheses: dict) -> dict:
    """DER of the conversations alone, each counted as often as the long file holds it."""
    items = {item.id: item for item in read_manifest(manifest)}
    refs = {}
    for item_id in set(sequence):
        refs.update(read_rttm(manifest.parent / items[item_id].extra["rttm"]))
    uri = {item_id: next(iter(read_rttm(manifest.parent / items[item_id].extra["rttm"]))) for item_id in set(sequence)}
    report = der(refs, hypotheses)
    totals = {k: sum(report.files[uri[s]][k] for s in sequence)
              for k in ("missed detection", "false alarm", "confusion", "total")}
    counts = [len(hypotheses.get(uri[s]).labels()) == len(refs[uri[s]].labels()) if uri[s] in hypotheses else False
              for s in sequence]
    return {**rates(totals), "count_right": float(np.mean(counts))}


def rates(totals: dict) -> dict:
    t = totals["total"]
    return {
        "der": (totals["missed detection"] + totals["false alarm"] + totals["confusion"]) / t,
        "missed": totals["missed detection"] / t,
        "false_alarm": totals["false alarm"] / t,
        "confusion": totals["confusion"] / t,
    }


def long_row(reference, hypothesis) -> dict:
    report = der({reference.uri: reference}, {reference.uri: hypothesis})
    return {**rates(report.total), "speakers": len(hypothesis.labels()), "true_speakers": len(reference.labels())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, nargs="?")
    parser.add_argument("--name")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 240])
    parser.add_argument("--similarity", type=float, nargs="+",
                        help="the clustering's margins (cluster_similarity) to assemble with (default: the shipped one)")
    parser.add_argument("--same-window-similarity", type=float, nargs="+",
                        help="cosines at which two slots of one window may join (default: the shipped one)")
    parser.add_argument("--checkpoint")
    parser.add_argument("--before", type=Path, help="folder of another version's RTTMs of the long files")
    parser.add_argument("--work", type=Path, default=Path("data/long"))
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-windows", action="store_true",
                        help="assemble the window pass saved by an earlier run (its seconds and memory are reported)")
    parser.add_argument("--one-room", type=int, metavar="SEED",
                        help="record each long file in one simulated room and channel "
                        "(a manifest made without --augment)")
    parser.add_argument("--classic", action="store_true",
                        help="also run the classic pipeline (weighter diarize --pipeline classic) on each long file")
    parser.add_argument("--count-given", action="store_true",
                        help="also diarize each long file told its true speaker count (--speakers N)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--speakers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from weighter_gui.core.diarize.diarizer import DiarizeConfig

    args.similarity = args.similarity or [DiarizeConfig().cluster_similarity]
    args.same_window_similarity = args.same_window_similarity or [DiarizeConfig().same_window_similarity]
    if args.child:
        return analyse_child(args)
    if args.manifest is None or args.name is None:
        parser.error("MANIFEST and --name are needed")

    args.work.mkdir(parents=True, exist_ok=True)
    paths = [args.work / f"{args.name}-{minutes:g}min.flac" for minutes in args.minutes]
    for minutes, path in zip(args.minutes, paths):
        if not path.exists():
            build_long_file(args.manifest, minutes, path, args.one_room)
    longest = paths[int(np.argmax(args.minutes))]  # it plays every conversation
    alone = alone_hypotheses(args.manifest, args.work, args, longest if args.one_room is not None else None)
    rows = []
    for path in paths:
        reference = next(iter(read_rttm(path.with_suffix(".rttm")).values()))
        sequence = json.loads(path.with_suffix(".json").read_text())["conversations"]
        hours = sf.info(path).duration / 3600
        row = {"file": path.name, "hours": hours, "alone": alone_row(args.manifest, sequence, alone)}
        if args.before and (args.before / f"{path.stem}.rttm").exists():
            before = read_rttm(args.before / f"{path.stem}.rttm")
            row["before"] = long_row(reference, before.get(path.stem) or next(iter(before.values())))
        speakers = len(reference.labels()) if args.count_given else None
        run = diarize_long(path, args, speakers)
        row.update(seconds=run["seconds"], peak_mb=run["peak_mb"], slot_store_mb=run["slot_store_bytes"] / 2**20,
                   assembly_seconds=run["assembly_seconds"])
        row["after"] = {}
        for similarity, same_window in settings(args):
            hyp = read_rttm(path.with_name(f"{path.stem}.{setting_name(similarity, same_window)}.rttm"))
            row["after"][f"{similarity} (same window: {same_window})"] = long_row(
                reference, hyp.get(path.stem) or next(iter(hyp.values()), None))
        if speakers:
            hyp = read_rttm(path.with_name(f"{path.stem}.given.rttm"))
            row["given"] = long_row(reference, hyp.get(path.stem) or next(iter(hyp.values()), None))
        if args.classic:
            run = classic_long(path, args, speakers)
            hyp = read_rttm(path.with_name(f"{path.stem}.classic.rttm"))
            row["classic"] = {**long_row(reference, hyp.get(path.stem) or next(iter(hyp.values()), None)),
                              "seconds": run["seconds"], "peak_mb": run["peak_mb"]}
            if speakers:
                hyp = read_rttm(path.with_name(f"{path.stem}.classic-given.rttm"))
                row["classic_given"] = long_row(reference, hyp.get(path.stem) or next(iter(hyp.values()), None))
        rows.append(row)
        print(json.dumps(row), flush=True)

    def cells(r):
        return f"{100 * r['der']:.2f} % | {100 * r['confusion']:.2f} % | {r['speakers']}/{r['true_speakers']}"

    lines = [
        f"Long files built from `{args.manifest}` (whole conversations repeated in order"
        + (f", in one room and channel, seed {args.one_room}" if args.one_room is not None else "") + "); "
        "DER collar 0.25 s, overlap scored; speakers found/true.",
        "",
        "| file | hours | alone: DER | system | DER | confusion | speakers | seconds per hour | peak memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        alone_cell = f"{100 * row['alone']['der']:.2f} %"
        if "before" in row:
            lines.append(f"| {row['file']} | {row['hours']:.2f} | {alone_cell} | window linking (before) | "
                         f"{cells(row['before'])} | | |")
        for similarity, r in row["after"].items():
            lines.append(
                f"| {row['file']} | {row['hours']:.2f} | {alone_cell} | file-level clustering, margin {similarity} | "
                f"{cells(r)} | {row['seconds'] / row['hours']:.0f} s | {row['peak_mb']:.0f} MB |"
            )
        if "given" in row:
            lines.append(f"| {row['file']} | {row['hours']:.2f} | {alone_cell} | file-level clustering, count given | "
                         f"{cells(row['given'])} | | |")
        if "classic" in row:
            c = row["classic"]
            lines.append(f"| {row['file']} | {row['hours']:.2f} | {alone_cell} | classic pipeline | {cells(c)} | "
                         f"{c['seconds'] / row['hours']:.0f} s | {c['peak_mb']:.0f} MB |")
        if "classic_given" in row:
            lines.append(f"| {row['file']} | {row['hours']:.2f} | {alone_cell} | classic pipeline, count given | "
                         f"{cells(row['classic_given'])} | | |")
    write_table(args.out, f"long-{args.name}", lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
