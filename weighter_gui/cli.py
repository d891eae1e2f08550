"""The ``weighter`` command: subcommands over ``weighter_gui.core``.

Adding a subcommand:
  1. write ``_cmd_<name>(args) -> int`` (0 on success, 2 on a user error such as a
     bad file; print ``error: ...`` to stderr), importing torch and core modules
     inside the function so ``weighter --help`` stays fast;
  2. give it a subparser in ``_build_parser`` with ``set_defaults(func=_cmd_<name>)``.

Never imports Qt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weighter_gui import __version__
from weighter_gui.core.io.label_files import FORMATS

EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own code for bad usage; also used for unusable input files


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


# --- subcommands ------------------------------------------------------------------


def _cmd_info(args: argparse.Namespace) -> int:
    """Print what a checkpoint says about itself (header only; tensors are not loaded)."""
    from weighter_gui.core.model.checkpoint import CheckpointError, format_header, read_header

    try:
        header = read_header(args.checkpoint)
    except CheckpointError as e:
        return _error(str(e))
    print(format_header(header, args.checkpoint))
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    """The simulation study: Weighter vs time-agnostic clustering vs an HMM ceiling."""
    import json
    import shlex
    from dataclasses import replace
    from pathlib import Path

    from weighter_gui.core.training import simulation as sim

    study = sim.quick_study() if args.quick else sim.full_study()
    train = study.train
    if args.steps is not None:
        train = replace(train, steps=args.steps)
    if args.coverage is not None:
        train = replace(train, coverage=args.coverage)
    if args.frame_targets is not None:
        train = replace(train, frame_targets=args.frame_targets)
    if args.bce:
        train = replace(train, use_wbce=False)
    if args.readout is not None:
        train = replace(train, readout=args.readout)
    study = replace(study, train=train)
    if args.speakers is not None:
        low, high = args.speakers
        if not 1 <= low <= high:
            return _error(f"--speakers {low} {high}: need 1 <= MIN <= MAX")
        study = replace(study, sim=replace(study.sim, min_speakers=low, max_speakers=high))
    if args.seeds is not None:
        study = replace(study, seeds=tuple(range(args.seeds)))
    if args.sequences is not None:
        study = replace(study, sequences=args.sequences)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.name or ("simulation-quick" if args.quick else "simulation")
    bar = _ProgressBar()
    result = sim.run_study(study, hook=bar.update)
    bar.close()

    command = "weighter " + " ".join(shlex.quote(a) for a in args.argv)
    table = sim.markdown_table(result, command)
    print(table)
    (out_dir / f"{stem}.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    (out_dir / f"{stem}.md").write_text(table)
    sim.plot_study(result, out_dir / f"{stem}.png")
    print(f"wrote {out_dir / stem}.json, .md and .png")
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace) -> int:
    """A synthetic conversation corpus from text-to-speech voices and/or real speakers."""
    from weighter_gui.core.io.audio import AudioError
    from weighter_gui.core.training import synth

    try:
        cents = [int(c) for c in args.pitch_shift.split(",") if c.strip()]
    except ValueError:
        return _error(f"--pitch-shift takes whole cents separated by commas, got {args.pitch_shift!r}")
    bar = _ProgressBar()
    try:
        manifest = synth.build_corpus(
            args.out,
            conversations=args.conversations,
            split=args.split,
            seed=args.seed,
            min_speakers=args.speakers[0],
            max_speakers=args.speakers[1],
            duration_s=tuple(args.duration),
            overlap=args.overlap,
            pitch_shift=cents,
            engines=args.engines.split(",") if args.engines else None,
            real=args.real or (),
            augment=_augment_config(args),
            hook=lambda done, total, conv: bar.update("synth", done, total, {"file": conv}),
        )
    except (synth.SynthError, ValueError, OSError, AudioError) as e:
        return _error(str(e))
    finally:
        bar.close()
    print(f"wrote {manifest}")
    return EXIT_OK


def _augment_config(args: argparse.Namespace):
    """``--augment``: the default AugmentConfig less ``--augment-without``; None (no
    augmentation) otherwise."""
    if args.augment_without and not args.augment:
        raise ValueError("--augment-without needs --augment")
    if not args.augment:
        return None
    from weighter_gui.core.training.augment import AugmentConfig

    return AugmentConfig().without(*args.augment_without)


def _cmd_train(args: argparse.Namespace) -> int:
    """Train (or fine-tune) a Weighter from a label manifest."""
    from collections import Counter
    from dataclasses import replace

    from weighter_gui.core.io.manifest import ManifestError, read_manifest
    from weighter_gui.core.training.train import (
        FINE_TUNE_LR,
        OVERLAP_DETECTORS,
        TrainConfig,
        TrainError,
        TrainResult,
        fine_tune_config,
        train,
    )

    items = []
    try:
        for manifest in args.manifest:
            items += read_manifest(manifest)
    except ManifestError as e:
        return _error(str(e))
    counts = Counter(item.id for item in items)
    repeated = sorted(k for k, n in counts.items() if n > 1)
    if repeated:
        return _error(f"file id {repeated[0]!r} appears in more than one manifest entry; ids must be unique")
    config = TrainConfig()
    changes = {
        "steps": args.steps, "batch_size": args.batch_size,
        "lr": args.lr if args.lr is not None or args.init is None else FINE_TUNE_LR,
        "regime": args.regime, "timings": args.timings, "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "trainable": "head" if args.head_only else "overlap" if args.overlap_only else None,
    }
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    if args.init is not None:  # a fine-tune's few hundred steps: the app's short warm-up, not all warm-up
        config = replace(config, warmup_steps=fine_tune_config(config.steps, config.batch_size).warmup_steps)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    rank0 = int(__import__("os").environ.get("RANK", "0")) == 0
    bar = _ProgressBar() if rank0 else None
    cache_dir = args.cache or str(Path(args.manifest[0]).resolve().parent / "feature_cache")
    try:
        for event in train(
            items, config, out=args.out, cache_dir=cache_dir, init=args.init, resume=args.resume,
            device=args.device, jobs=args.jobs,
            model_overrides={
                **({"readout": args.readout} if args.readout else {}),
                **({"channel_reduction": args.channel_reduction} if args.channel_reduction else {}),
                **(OVERLAP_DETECTORS[args.overlap_detector] if args.overlap_detector else {}),
            } or None,
            feature_hook=(lambda d, t, f: bar.update("feats", d, t, {"file": f})) if bar else None,
        ):
            if isinstance(event, TrainResult):
                break
            if bar is not None:
                bar.update("train", event.step, event.total, {
                    "loss": event.loss, "cls": event.classification, "conf": event.confidence,
                    "frames": event.frames, "steps/s": event.steps_per_second,
                })
    except (TrainError, ValueError) as e:
        if bar is not None:
            bar.close()
        return _error(str(e))
    if bar is not None:
        bar.close()
        print(f"wrote {args.out}")
    return EXIT_OK


def _cmd_diarize(args: argparse.Namespace) -> int:
    """Diarize files: speakers, curves, confidences, segments; RTTM and JSON out."""
    import json
    from dataclasses import replace

    from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer, FileDiarization
    from weighter_gui.core.diarize.evaluation import der
    from weighter_gui.core.io.audio import AudioError
    from weighter_gui.core.io.label_files import RTTMError, read_rttm, write_rttm
    from weighter_gui.core.model.checkpoint import CheckpointError
    from weighter_gui.core.model.device import DeviceError, resolve_device

    references = None
    if args.reference:
        try:
            references = read_rttm(args.reference)
        except RTTMError as e:
            return _error(str(e))
    if args.speakers is not None and (args.min_speakers is not None or args.max_speakers is not None):
        return _error("give --speakers, or --min-speakers and/or --max-speakers, not both")
    low = args.speakers if args.speakers is not None else args.min_speakers
    high = args.speakers if args.speakers is not None else args.max_speakers
    for flag, value in (("--speakers" if args.speakers is not None else "--min-speakers", low), ("--max-speakers", high)):
        if value is not None and value < 1:
            return _error(f"{flag} must be at least 1, got {value}")
    if low is not None and high is not None and low > high:
        return _error(f"--min-speakers ({low}) is more than --max-speakers ({high})")
    config = DiarizeConfig(threshold=args.threshold, channel=args.channel, speech_gate=not args.no_speech_detection,
                           min_speakers=low, max_speakers=high)
    for flag, name, seconds in (
        ("--edge-search", "edge_search", args.edge_search),
        ("--change-overlap", "change_overlap_reach", args.change_overlap),
    ):
        if seconds is not None:
            if seconds < 0:
                return _error(f"{flag} must be 0 or more seconds, got {seconds}")
            config = replace(config, **{name: seconds})
    if args.pipeline == "classic":
        if args.checkpoint:
            return _error("--checkpoint is for --pipeline weighter; the classic pipeline has no model to choose")
        from weighter_gui.core.diarize.classic import ClassicConfig, ClassicDiarizer
        from weighter_gui.core.diarize.vad import VadError
        from weighter_gui.core.model.frontend import FrontendWeightsError

        try:
            diarizer = ClassicDiarizer(ClassicConfig(channel=args.channel, min_speakers=low, max_speakers=high))
        except (FrontendWeightsError, VadError) as e:
            return _error(str(e))
    else:
        from weighter_gui.core.diarize.vad import VadError
        from weighter_gui.core.io.resources import WeightsFileError

        try:
            diarizer = Diarizer(args.checkpoint, config, resolve_device(args.device))
        except (CheckpointError, DeviceError, VadError, WeightsFileError) as e:
            return _error(str(e))
    files = _expand_audio_args(args.audio)
    if not files:
        return _error("no audio files found in " + ", ".join(args.audio))
    bar = _ProgressBar()
    results: list[FileDiarization] = []
    failed: list[str] = []
    for n, path in enumerate(files):
        try:
            for event in diarizer.run(path):
                if isinstance(event, FileDiarization):
                    results.append(event)
                else:
                    bar.update("diar", n, len(files), {
                        "file": path.name, "window": f"{event.index + 1}/{event.count}"})
        except AudioError as e:
            bar.close()
            print(f"skipped: {e}", file=sys.stderr)
            failed.append(str(path))
    bar.update("diar", len(files), len(files), {})
    bar.close()
    for r in results:
        speakers = ", ".join(
            f"{t.label}{f' ({t.name}?)' if t.name else ''} {100 * t.confidence:.0f}% {t.speech_seconds:.1f}s"
            for t in r.speakers
        )
        print(f"{r.path}: {len(r.speakers)} speaker(s): {speakers or '-'}")
    if args.rttm:
        write_rttm(args.rttm, [r.annotation() for r in results])
        print(f"wrote {args.rttm}")
    if args.format:
        from weighter_gui.core.io.label_files import format_of, write_turns

        suffix = format_of("", args.format).suffixes[0]
        for r in results:
            turns = [(a, b, t.name or t.label) for t in r.speakers for a, b in t.segments]
            out = write_turns(Path(args.out) / f"{r.uri}{suffix}", turns, uri=r.uri, duration=r.duration,
                              fmt=args.format, media=r.path)
            print(f"wrote {out}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in results]) + "\n")
        print(f"wrote {args.json}")
    if references is not None:
        scored = {r.uri: references[r.uri] for r in results if r.uri in references}
        if not scored:
            print("warning: no diarized file's name matches a file id in the reference", file=sys.stderr)
        else:
            print(der(scored, {r.uri: r.annotation() for r in results}, args.collar).table())
    if failed:
        print(f"{len(failed)} of {len(files)} file(s) failed", file=sys.stderr)
        return 1
    return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    """One diarization file in another format (by the extensions, or --to)."""
    from weighter_gui.core.io.label_files import LabelFileError, read_turns, write_turns

    source, target = Path(args.input), Path(args.output)
    try:
        turns = read_turns(source, uris=[args.uri] if args.uri else [], tier=args.tier, fmt=args.from_format)
        duration = args.duration if args.duration is not None else max(b for _, b, _ in turns)
        write_turns(target, turns, uri=args.uri or source.stem, duration=duration, fmt=args.to, media=args.audio)
    except LabelFileError as e:
        return _error(str(e))
    except OSError as e:
        return _error(f"{target}: cannot write ({e.strerror or e})")
    speakers = sorted({s for _, _, s in turns})
    print(f"wrote {target}: {len(turns)} turns of {len(speakers)} speaker(s) ({', '.join(speakers)})")
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    """Shift a model's claim threshold to the lowest DER on held-out voices."""
    import shlex

    from weighter_gui.core.diarize.calibration import (
        DEFAULT_OFFSETS,
        CalibrationError,
        CalibrationResult,
        calibrate,
        save_calibrated,
    )
    from weighter_gui.core.io.audio import AudioError
    from weighter_gui.core.io.manifest import ManifestError
    from weighter_gui.core.io.resources import WeightsFileError
    from weighter_gui.core.model.checkpoint import CheckpointError
    from weighter_gui.core.model.device import DeviceError, resolve_device

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    offsets = [float(x) for x in args.offsets.split(",")] if args.offsets else DEFAULT_OFFSETS
    bar = _ProgressBar()
    result = None
    try:
        for event in calibrate(args.checkpoint, args.manifest, offsets, device=resolve_device(args.device),
                               compete_rounds=args.compete_rounds, runner_up=args.runner_up):
            if isinstance(event, CalibrationResult):
                result = event
            else:
                bar.update("calib", event.done, event.total, {"offset": event.offset})
    except (CalibrationError, CheckpointError, ManifestError, AudioError, DeviceError, WeightsFileError) as e:
        bar.close()
        return _error(str(e))
    bar.close()
    print(f"{result.files} files, {result.minutes:.1f} min")
    print(result.table())
    corpus = ", ".join(str(m) for m in args.manifest)
    out = save_calibrated(args.checkpoint, result, args.out, corpus=corpus)
    print(f"wrote {out} (claim threshold {result.offset:+.2f})")
    if args.report:
        from weighter_gui.core.io.files import atomic_write

        command = "weighter " + " ".join(shlex.quote(a) for a in args.argv)
        atomic_write(args.report, (
            f"Claim-threshold calibration on {result.files} conversations ({result.minutes:.1f} min): "
            f"{corpus}\n\n```\n{result.table()}\n```\n\nCommand: `{command}`\n"
        ))
        print(f"wrote {args.report}")
    return EXIT_OK


def _expand_audio_args(paths: list[str]) -> list[Path]:
    """Files as given; folders become the audio files inside them and their subfolders."""
    from weighter_gui.core.io.audio import audio_files_in

    out: list[Path] = []
    for p in map(Path, paths):
        out += audio_files_in(p) if p.is_dir() else [p]
    return out


def _cmd_eval(args: argparse.Namespace) -> int:
    """DER of a hypothesis RTTM against a reference RTTM."""
    from weighter_gui.core.diarize.evaluation import der
    from weighter_gui.core.io.label_files import RTTMError, read_rttm

    try:
        references = read_rttm(args.reference)
        hypotheses = read_rttm(args.hypothesis)
    except RTTMError as e:
        return _error(str(e))
    missing = sorted(set(references) - set(hypotheses))
    if missing:
        print(f"warning: {len(missing)} reference file(s) have no hypothesis and count as missed: "
              + ", ".join(missing[:5]), file=sys.stderr)
    print(der(references, hypotheses, args.collar).table())
    return EXIT_OK


class _ProgressBar:
    """One terminal line: stage, done/total, and what the stage reports."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may be replaced
        self._last = ""

    def update(self, stage: str, done: int, total: int, info: dict) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        extra = "  ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()
        )
        line = f"\r{stage:>5} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {extra}"
        if line != self._last:
            self.stream.write(line.ljust(100))
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


# --- parser -----------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weighter",
        description="Weighter Studio on the command line: inspect checkpoints, and more.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser(
        "info",
        help="show a checkpoint's header: format, model config, speakers, training",
        description="Show what a Weighter checkpoint says about itself. Loads no tensors.",
    )
    info.add_argument("checkpoint", metavar="CHECKPOINT", help="a .safetensors checkpoint")
    info.set_defaults(func=_cmd_info)

    simulate = commands.add_parser(
        "simulate",
        help="the simulation study: Weighter vs clustering that ignores time",
        description=(
            "Train Weighters on simulated speaker-switching sequences (likes only) and "
            "compare their noise tolerance with k-means, agglomerative and spectral "
            "clustering told the true K, and with an HMM ceiling. Writes JSON, a markdown "
            "table and a PNG plot."
        ),
    )
    simulate.add_argument("--quick", action="store_true", help="the short run (under 10 min on 2 cores)")
    simulate.add_argument("--out", default="docs/results", help="output folder (default: docs/results)")
    simulate.add_argument("--name", help="file stem of the outputs (default: simulation[-quick])")
    simulate.add_argument("--steps", type=int, help="training steps per Weighter")
    simulate.add_argument("--seeds", type=int, help="number of training seeds")
    simulate.add_argument(
        "--speakers", type=int, nargs=2, metavar=("MIN", "MAX"), help="speakers per sequence (default 2 4)"
    )
    simulate.add_argument("--sequences", type=int, help="evaluation sequences per point")
    simulate.add_argument(
        "--coverage", type=float, help="weight of the coverage term (0: the method's loss alone)"
    )
    simulate.add_argument(
        "--frame-targets", type=float, help="weight of the likes-guided frame targets (0: off)"
    )
    simulate.add_argument("--bce", action="store_true", help="plain BCE for confidences (ablation)")
    simulate.add_argument(
        "--readout", choices=("linear", "slots", "attractors"),
        help="slot read-out: attractors (default), linear (the method's per-token head) or slots (slot attention)",
    )
    simulate.set_defaults(func=_cmd_simulate)

    synth = commands.add_parser(
        "synth",
        help="build a simulated conversation corpus from text-to-speech voices and/or real speakers",
        description=(
            "Write conversations of 2-4 speakers with exact RTTMs and a label manifest of likes. "
            "Speakers are text-to-speech voices (espeak-ng, flite, festival where installed) "
            "and/or real recorded speakers (--real: a folder of speaker folders, or a folder of "
            "such datasets). The train split never uses the voices reserved for evaluation; the "
            "eval split uses only them; dev (real voices only) is held out for calibration."
        ),
    )
    synth.add_argument("out", metavar="OUT_DIR", help="folder for audio/, rttm/ and manifest.jsonl")
    synth.add_argument("--conversations", type=int, default=20, help="how many (default 20)")
    synth.add_argument(
        "--split", choices=("train", "dev", "eval"), default="train",
        help="which speakers: train (default), dev (real voices only, held out) or eval",
    )
    synth.add_argument(
        "--real", action="append", metavar="DIR",
        help="folder of real speaker folders (one folder per person), e.g. "
        "shared/data/real/speakers/librispeech-train-clean-100 or shared/data/real/speakers; "
        "repeatable. With --real, TTS voices join only if --engines is given",
    )
    synth.add_argument(
        "--augment", action="store_true",
        help="augment each conversation: rooms (reverb), noise, telephone/codecs, EQ, level, clipping",
    )
    synth.add_argument(
        "--augment-without", action="append", default=[], metavar="PART",
        help="with --augment: leave out one part of the chain (speakers: pitch and tempo; rooms; noise; "
        "channel: EQ, telephone band, codecs), to measure what it is worth; repeatable",
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--speakers", type=int, nargs=2, default=(2, 4), metavar=("MIN", "MAX"), help="default 2 4"
    )
    synth.add_argument(
        "--duration", type=float, nargs=2, default=(60.0, 180.0), metavar=("MIN_S", "MAX_S"),
        help="conversation length range in seconds (default 60 180)",
    )
    synth.add_argument("--overlap", type=float, default=0.1, help="chance a turn overlaps the last")
    synth.add_argument(
        "--engines", metavar="LIST",
        help="comma-separated engines to draw voices from: espeak-ng, flite, festival, or none "
        "(default: all installed, or none with --real)",
    )
    synth.add_argument(
        "--pitch-shift", nargs="?", const="400,-400", default="", metavar="CENTS",
        help="add pitch-shifted pseudo-speakers, one per voice and shift (default shifts: +400,-400 "
        "cents; e.g. --pitch-shift=-700,-200,200,700)",
    )
    synth.set_defaults(func=_cmd_synth)

    train = commands.add_parser(
        "train",
        help="train or fine-tune a Weighter from a label manifest",
        description=(
            "Train a Weighter on the files of a label manifest (as written by `weighter synth` "
            "or exported by the app). Front-end features are cached on disk. Checkpoints are "
            "written as training goes; --resume continues a stopped run. For several "
            "processes or GPUs run it under `torchrun --standalone --nproc_per_node=N -m weighter_gui.cli train ...`."
        ),
    )
    train.add_argument("manifest", nargs="+", metavar="MANIFEST", help="label manifests (.jsonl), one or more")
    train.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    train.add_argument("--init", metavar="CHECKPOINT", help="fine-tune this checkpoint instead of starting afresh")
    only = train.add_mutually_exclusive_group()
    only.add_argument(
        "--head-only", action="store_true",
        help="train only the speaker head: the model learns the manifest's names, its curves stay as "
        "they are (what the app's Retrain does; use with --init)",
    )
    only.add_argument(
        "--overlap-only", action="store_true",
        help="train only the overlap detector, from the manifest's timings; the rest of the model "
        "stays as it is (use with --init)",
    )
    train.add_argument("--resume", action="store_true", help="continue OUT from its .resume state")
    train.add_argument("--steps", type=int, help="training steps (default 3000)")
    train.add_argument("--batch-size", type=int, help="files per step and process (default 8)")
    train.add_argument("--lr", type=float, help="peak learning rate (default 1e-3; 5e-5 with --init)")
    train.add_argument(
        "--regime", choices=("frames", "likes"),
        help="frames: likes plus the manifest's segment timings where an entry has them (default); "
        "likes: likes only",
    )
    train.add_argument(
        "--timings", choices=("all", "reviewed"),
        help="which segments are frame targets: all of them (default), or only those inside an entry's "
        "reviewed ranges (an app export's corrected turns; entries without any train on their likes)",
    )
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 250)")
    train.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    train.add_argument("--cache", help="feature cache folder (default: feature_cache beside the manifest)")
    train.add_argument("--jobs", type=int, default=1, help="processes computing features (default 1)")
    train.add_argument("--torch-threads", type=int, help="torch CPU threads for training")
    train.add_argument(
        "--readout", choices=("linear", "slots", "attractors"),
        help="slot read-out of a new model (default: attractors; ignored with --init)",
    )
    train.add_argument(
        "--channel-reduction", type=int,
        help="a new model's convolution channels: input features / N (default 4; the method's write-up uses 12; "
        "ignored with --init)",
    )
    train.add_argument(
        "--overlap-detector", nargs="?", const="small", choices=("small", "wide"), metavar="DESIGN",
        help="give the model an overlap detector, trained on the timings, that lets a second "
        "speaker share a frame (attractor read-out; with --init, added to that model or put in "
        "place of one of another design). DESIGN: small (the shipped model's, the default) or wide",
    )
    train.set_defaults(func=_cmd_train)

    diarize = commands.add_parser(
        "diarize",
        help="find who spoke when in audio files",
        description=(
            "Diarize audio files (or folders of them) with a Weighter: per file the speakers "
            "kept by confidence, their curves, confidences, embeddings and segments. Long files "
            "are processed in windows whose speaker slots are clustered over the whole file. Bad files are reported and "
            "skipped; the exit status is 1 if any failed."
        ),
    )
    diarize.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files or folders")
    diarize.add_argument("--checkpoint", help="model to use (default: the shipped default model)")
    diarize.add_argument(
        "--pipeline", choices=("weighter", "classic"), default="weighter",
        help="weighter (default): the Weighter model; classic: the standard comparator, speech "
        "detection (silero-vad) + GE2E embeddings of 1.5 s windows + clustering with an estimated "
        "(or given) speaker count (no model options apply; it holds the whole file: 1.2 GB of memory for an "
        "hour, 3.7 GB for four)",
    )
    diarize.add_argument("--rttm", metavar="OUT", help="write one RTTM for all files (file id = audio stem)")
    diarize.add_argument("--json", metavar="OUT", help="write everything (curves, embeddings, ...) as JSON")
    diarize.add_argument("--format", choices=[f.name for f in FORMATS if f.name != "uem"],
                         help="also write each file's turns in this format, as OUT/<file id>.<ext>")
    diarize.add_argument("--out", default=".", help="the folder --format writes to (default: here)")
    diarize.add_argument("--reference", metavar="RTTM", help="score against this reference RTTM")
    diarize.add_argument("--collar", type=float, default=0.25, help="DER collar in seconds (default 0.25)")
    diarize.add_argument("--threshold", type=float, default=0.5, help="slot confidence to keep a speaker")
    diarize.add_argument("--speakers", type=int, metavar="N",
                         help="each file holds N speakers (default: the count is estimated); a slot that "
                         "holds two voices is cut in two where too few were heard")
    diarize.add_argument("--min-speakers", type=int, metavar="N", help="each file holds at least N speakers")
    diarize.add_argument("--max-speakers", type=int, metavar="N", help="each file holds at most N speakers")
    diarize.add_argument("--channel", type=int, help="use this channel (0-based) instead of the downmix")
    diarize.add_argument(
        "--edge-search", type=float, metavar="SECONDS",
        help="how far a segment edge may move to where the sound starts or stops (default 0.6; "
        "0 keeps the curves' 150 ms edges, e.g. for references that do not follow the sound)",
    )
    diarize.add_argument(
        "--change-overlap", type=float, metavar="SECONDS",
        help="how far both speakers of a speaker change may go on into each other's turn where the "
        "overlap detector hears two voices (default 0.6; 0 leaves overlap to the model's curves)",
    )
    diarize.add_argument(
        "--no-speech-detection", action="store_true",
        help="let the model's curves alone decide where speech is (by default what the speech "
        "detector, silero-vad, does not hear as speech is no speaker's)",
    )
    diarize.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 or auto")
    diarize.set_defaults(func=_cmd_diarize)

    convert = commands.add_parser(
        "convert", help="convert a diarization between formats",
        description="Read a diarization (RTTM, TextGrid, EAF, Audacity labels, CSV/TSV, WebVTT, SRT or JSON: "
        "pyannote's and whisperX's layouts too) and write it in another; formats from the extensions, or "
        "--from / --to.",
    )
    convert.add_argument("input", metavar="IN")
    convert.add_argument("output", metavar="OUT")
    names = [f.name for f in FORMATS]
    convert.add_argument("--to", choices=names, help="the output format (default: from OUT's extension)")
    convert.add_argument("--from", dest="from_format", choices=names, help="the input format (default: from IN's)")
    convert.add_argument("--uri", help="the recording to take from a file of several (RTTM), and to name in OUT")
    convert.add_argument("--tier", help="TextGrid or EAF: take this tier, its texts being the speakers")
    convert.add_argument("--duration", type=float, help="the recording's length (TextGrid; default: the last turn's end)")
    convert.add_argument("--audio", help="the recording an EAF links to")
    convert.set_defaults(func=_cmd_convert)

    calib = commands.add_parser(
        "calibrate",
        help="tune a model's claim threshold for voices it never heard",
        description=(
            "Diarize a labelled corpus of held-out voices (from 'weighter synth', with RTTMs) "
            "at a sweep of offsets on the model's claim threshold, keep the offset with the "
            "lowest DER, and write the model with it. Attractor read-out only."
        ),
    )
    calib.add_argument("manifest", nargs="+", metavar="MANIFEST", help="label manifests with RTTMs")
    calib.add_argument("--checkpoint", help="model to calibrate (default: the shipped default model)")
    calib.add_argument("--out", required=True, help="where to write the calibrated model")
    calib.add_argument("--offsets", help="comma-separated offsets to try (default -0.1 to 0.4 by 0.05)")
    calib.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 or auto")
    calib.add_argument("--torch-threads", type=int, help="CPU threads for torch")
    calib.add_argument("--report", metavar="FILE.md", help="also write the sweep as Markdown")
    calib.add_argument(
        "--compete-rounds", type=int, metavar="N",
        help="rounds in which the found speakers compete for each frame (default: the model's own)",
    )
    calib.add_argument(
        "--runner-up", choices=("share", "single"),
        help="who else gets a frame the overlap detector marks: the other speakers by their "
        "closeness (share) or only the nearest of them (single); default: the model's own",
    )
    calib.set_defaults(func=_cmd_calibrate)

    evaluate = commands.add_parser(
        "eval",
        help="score a diarization: DER with missed speech, false alarm, confusion",
        description=(
            "Diarization error rate of HYP against REF with pyannote.metrics, overlapped speech "
            "scored. The collar is pyannote's: its total width around each reference boundary."
        ),
    )
    evaluate.add_argument("--reference", required=True, metavar="REF.rttm")
    evaluate.add_argument("--hypothesis", required=True, metavar="HYP.rttm")
    evaluate.add_argument("--collar", type=float, default=0.25, help="default 0.25 s")
    evaluate.set_defaults(func=_cmd_eval)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # e.g. an output folder that cannot be written
        return _error(str(e))


if __name__ == "__main__":
    raise SystemExit(main())
