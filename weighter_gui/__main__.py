"""`python -m weighter_gui` starts Weighter Studio."""

from weighter_gui.qt.app import main

if __name__ == "__main__":
    raise SystemExit(main())
