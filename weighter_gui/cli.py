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

from weighter_gui import __version__

EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own code for bad usage; also used for unusable input files


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


# --- subcommands ------------------------------------------------------------------


def _cmd_info(args: argparse.Namespace) -> int:
    """Print what a checkpoint says about itself (header only; tensors are not loaded)."""
    from weighter_gui.core.checkpoint import CheckpointError, format_header, read_header

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

    from weighter_gui.core import simulation as sim

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
    """A synthetic conversation corpus from the installed text-to-speech voices."""
    from weighter_gui.core import synth

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
            pitch_shift=args.pitch_shift,
            hook=lambda done, total, conv: bar.update("synth", done, total, {"file": conv}),
        )
    except (synth.SynthError, ValueError) as e:
        return _error(str(e))
    finally:
        bar.close()
    print(f"wrote {manifest}")
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
    simulate.set_defaults(func=_cmd_simulate)

    synth = commands.add_parser(
        "synth",
        help="build a synthetic conversation corpus from text-to-speech voices",
        description=(
            "Write conversations of 2-4 text-to-speech speakers (espeak-ng, flite, festival "
            "where installed) with exact RTTMs and a label manifest of likes. The train "
            "split never uses the voices reserved for evaluation; the eval split uses only them."
        ),
    )
    synth.add_argument("out", metavar="OUT_DIR", help="folder for audio/, rttm/ and manifest.jsonl")
    synth.add_argument("--conversations", type=int, default=20, help="how many (default 20)")
    synth.add_argument("--split", choices=("train", "eval"), default="train")
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
        "--pitch-shift", action="store_true", help="add +-400 cent pitch-shifted pseudo-speakers"
    )
    synth.set_defaults(func=_cmd_synth)

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
