"""Entry point of the desktop app: `weighter-gui` or `python -m weighter_gui`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from weighter_gui import __version__
from weighter_gui.qt.main_window import APP_NAME, MainWindow

# --screenshot waits this long for the device to be known, then shoots anyway.
SCREENSHOT_DEVICE_WAIT_MS = 20_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weighter-gui", description=APP_NAME)
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        type=Path,
        help="save a picture of the window once it is shown (and the device known), then exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)

    window = MainWindow()
    window.show()

    if args.screenshot is None:
        return app.exec()

    outcome = {"saved": False}

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

    # Shoot after the status bar shows the device (let the label repaint first).
    window.device_ready.connect(lambda _device: QTimer.singleShot(100, shoot))
    QTimer.singleShot(SCREENSHOT_DEVICE_WAIT_MS, shoot)
    app.exec()
    window.stop_workers()
    return 0 if outcome.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
