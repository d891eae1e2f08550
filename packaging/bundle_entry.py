"""Entry point of the PyInstaller bundle (packaging/weighter_studio.spec).

One executable serves both commands: run as ``weighter-gui`` it starts the app, run
through the ``weighter`` link beside it (or as ``weighter-gui --cli ARGS``) it is the
command-line tool. One analysis and one copy of torch instead of two.
"""

import multiprocessing
import os
import sys


def main() -> int:
    # Training's feature workers use the "spawn" start method: in a frozen program the
    # child re-runs this executable, and freeze_support() turns it into the worker.
    multiprocessing.freeze_support()
    name = os.path.basename(sys.argv[0])
    if len(sys.argv) > 1 and sys.argv[1] == "--cli":
        del sys.argv[1]
        name = "weighter"
    if name == "weighter":
        from weighter_gui.cli import main as cli_main

        return cli_main()
    from weighter_gui.qt.app import main as gui_main

    return gui_main()


if __name__ == "__main__":
    raise SystemExit(main())
