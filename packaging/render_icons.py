"""Render the application icon's PNGs from its SVG (Qt's SVG renderer, works offscreen).

    .venv/bin/python packaging/render_icons.py      # writes resources/icons/weighter-studio-<N>.png

The SVG (resources/icons/weighter-studio.svg) is the source; the PNGs are committed
so that installs and bundles need no renderer. Rerun this after editing the SVG.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
NAME = "weighter-studio"
SIZES = (16, 32, 48, 64, 128, 256)


def render(svg: Path, size: int, out: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"error: could not write {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=ICONS / f"{NAME}.svg")
    parser.add_argument("--out-dir", type=Path, default=ICONS)
    args = parser.parse_args(argv)
    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 (fonts, image plugins)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        out = args.out_dir / f"{NAME}-{size}.png"
        render(args.svg, size, out)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
