"""Entry point of the desktop app: `weighter-gui [FILES or FOLDERS...]` or `python -m weighter_gui`.

A ``PROJECT.weighter`` argument opens that project. With no files it opens the sample conversation shipped in ``resources/sample/``
when there is one. ``--screenshot OUT.png`` opens the files, waits until their
analyses are done (or failed) and the first file's spectrogram is drawn, saves
a picture of the window and exits (0 when the picture was written, else 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from weighter_gui import __version__
from weighter_gui.core.io.resources import app_icon, sample_audio
from weighter_gui.qt.main_window import APP_NAME, MainWindow
from weighter_gui.qt.state.settings import APPLICATION, ORGANIZATION
from weighter_gui.qt.workers.messages import DEVICE_CHOICES

# --screenshot waits this long for the device to be known, then shoots anyway.
SCREENSHOT_DEVICE_WAIT_MS = 20_000
# ... and this long for the files' analyses (an hour of audio on a slow CPU is minutes).
SCREENSHOT_ANALYSIS_WAIT_MS = 30 * 60_000
SETTLE_POLL_MS = 200
# The freedesktop/AppStream id: packaging/linux/<APP_ID>.desktop and .metainfo.xml.
# Wayland compositors and docks match the window to the desktop entry (and its icon) by it.
APP_ID = "io.github.weighter_studio.WeighterStudio"
ICON_SIZES = (16, 32, 48, 64, 128, 256)


def application_icon() -> QIcon:
    """The app icon: the PNGs rendered from resources/icons/weighter-studio.svg (null when absent)."""
    svg = app_icon()
    icon = QIcon()
    for size in ICON_SIZES:
        png = svg.with_name(f"{svg.stem}-{size}.png")
        if png.is_file():
            icon.addFile(str(png))
    if icon.isNull() and svg.is_file():
        icon.addFile(str(svg))
    return icon


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weighter-gui", description=APP_NAME)
    parser.add_argument("paths", nargs="*", metavar="FILE_OR_FOLDER",
                        help="audio files or folders to open, or a PROJECT.weighter")
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="model checkpoint for this run (default: the one in Settings, else the shipped model)",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="run the model on this device for this run")
    parser.add_argument("--speakers", type=int, metavar="N",
                        help="analyse the files told each holds N speakers (Analysis > Speakers; default: estimated)")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        type=Path,
        help="save a picture of the window once the files are analysed (or, with no "
        "files, once the device is known), then exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.speakers is not None and args.speakers < 1:
        parser.error(f"--speakers must be at least 1, got {args.speakers}")

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    icon = application_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)

    window = MainWindow(checkpoint=args.checkpoint, device=args.device)
    window.show()

    paths = list(args.paths)
    projects = [p for p in paths if str(p).endswith(".weighter")]
    paths = [p for p in paths if not str(p).endswith(".weighter")]
    if projects:
        window.projects.open_project(projects[-1])  # its files open with it (analyses from the project)
    elif not paths and sample_audio().exists():
        paths = [sample_audio()]

    if args.screenshot is None:
        def start() -> None:
            # Work an earlier run left unnamed comes first; then the files asked for (the
            # sample only when nothing else opens).
            recovered = not projects and window.projects.offer_recovery()
            if paths and not (recovered and not args.paths):
                window.files.open_paths(paths, speakers=args.speakers)

        # After the first paint: the window shows at once, files fill in.
        QTimer.singleShot(0, start)
        code = app.exec()
        window.stop_workers()
        return code

    outcome = {"saved": False, "ok": False}

    def shoot() -> None:
        if outcome["saved"]:
            return
        outcome["saved"] = True
        ok = window.grab().save(str(args.screenshot), "PNG")
        if not ok:
            print(f"error: could not write {args.screenshot}", file=sys.stderr)
        outcome["ok"] = ok
        window.close()
        app.quit()

    if paths or projects:
        # Shoot once every analysis ended and the picture is drawn (let it repaint first).
        poll = QTimer(window)
        poll.setInterval(SETTLE_POLL_MS)

        def check() -> None:
            if window.device is not None and window.is_settled():
                poll.stop()
                QTimer.singleShot(300, shoot)

        def open_then_watch() -> None:
            if paths:
                window.files.open_paths(paths, speakers=args.speakers)
            poll.start()

        poll.timeout.connect(check)
        QTimer.singleShot(0, open_then_watch)
        QTimer.singleShot(SCREENSHOT_ANALYSIS_WAIT_MS, shoot)
    else:
        # Shoot after the status bar shows the device (let the label repaint first).
        window.device_ready.connect(lambda _device: QTimer.singleShot(100, shoot))
        QTimer.singleShot(SCREENSHOT_DEVICE_WAIT_MS, shoot)
    app.exec()
    window.stop_workers()
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
