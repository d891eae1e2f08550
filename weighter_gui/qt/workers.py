"""Background workers. Nothing here touches widgets; results travel by signal."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from weighter_gui.core.device import describe_compute_device


class DeviceProbeWorker(QObject):
    """Imports torch off the GUI thread (never on it) and reports the compute device once."""

    device_found = Signal(object)  # str: "CUDA: <name>" or "CPU"
    failed = Signal(object)  # str: why torch could not be loaded
    finished = Signal()

    @Slot()
    def run(self) -> None:
        try:
            self.device_found.emit(describe_compute_device())
        except Exception as exc:  # torch missing or broken: say so, keep the app up
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()
