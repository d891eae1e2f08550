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


# _cmd_simulate(args) -> int goes here (see _build_parser).


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

    # simulate: add its subparser here, e.g.
    #   simulate = commands.add_parser("simulate", help="...")
    #   simulate.add_argument(...)
    #   simulate.set_defaults(func=_cmd_simulate)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
