"""What each benchmark writes beside its figures: the command that ran it, and its
results as Markdown and JSON under --out (docs/results/ for the README's figures)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path


def command_line() -> str:
    """How this benchmark was started, as a line to run again from the repository root."""
    return "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_results(out: str | Path, name: str, data: dict, markdown: str | None = None, indent: int = 1) -> None:
    """``out/name.json`` (and ``out/name.md`` when given), the folder made if needed."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if markdown is not None:
        (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(json.dumps(data, indent=indent) + "\n")


def write_table(out: str | Path, name: str, lines: list[str], rows) -> None:
    """A Markdown table (``lines``) with the command under it, printed and written to
    ``out/name.md``; ``rows`` and the command to ``out/name.json``."""
    command = command_line()
    text = "\n".join([*lines, "", f"Command: `{command}`", ""])
    print(text)
    write_results(out, name, {"command": command, "rows": rows}, text)
