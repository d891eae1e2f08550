"""Thin PySide6 + pyqtgraph views over weighter_gui.core."""
