"""The documentation cannot go stale: docs/cli.md is what the parsers say now, and
every picture a page shows exists. Fast: no window, no model."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")


def _make_docs():
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "packaging" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == _make_docs().cli_reference(), (
        "docs/cli.md is stale: run `.venv/bin/python packaging/make_docs.py --cli-only` (or the whole command)"
    )


def test_cli_reference_covers_every_command():
    text = (ROOT / "docs" / "cli.md").read_text()
    for title in ("weighter", "weighter info", "weighter simulate", "weighter synth", "weighter train",
                  "weighter diarize", "weighter eval", "weighter-gui"):
        assert f"\n## {title}\n" in text
    assert "usage: weighter train" in text and "usage: weighter-gui" in text


def test_every_picture_shown_exists():
    pages = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    checked = 0
    for page in pages:
        for target in IMAGE.findall(page.read_text()):
            if re.match(r"^[a-z]+://", target):
                continue
            path = (page.parent / unquote(target.split("#")[0])).resolve()
            assert path.is_file(), f"{page.relative_to(ROOT)} shows {target}, which does not exist"
            checked += 1
    assert checked > 0


def test_every_page_linked_from_the_docs_exists():
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / unquote(target.split("#")[0])).resolve()
            assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


def test_the_guide_says_how_its_pictures_are_made():
    guide = (ROOT / "docs" / "guide.md").read_text()
    assert "packaging/make_docs.py" in guide[:800]
