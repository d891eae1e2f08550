"""Qt-free core: model, losses, checkpoints, simulation. Never imports PySide6 or pyqtgraph."""
