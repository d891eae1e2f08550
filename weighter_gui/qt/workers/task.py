"""One way to run long work off the GUI thread, for everything but the two serving
workers (analysis and spectrograms, which keep their job-id queues in ``serving``).

``BackgroundTask`` runs ``work(hook)`` once in its own thread. The work reports with
``hook.report(value)`` and stops at ``hook.check()`` once ``cancel()`` was called. If the
work is a generator (the core's long jobs are: training yields its progress), every value
it yields is progress and its return value is the result. The task then answers with
exactly one of ``done(result)``, ``failed(text)`` or ``cancelled()``; every signal
reaches GUI slots as a queued call.

Used for the device probe (importing torch), retraining, and finding moved audio.
A QThread subclass, not a worker object moved to a thread: every QObject here is made
and destroyed on the GUI thread. (A Python-made QObject destroyed in another thread
asks Python about its overrides while Qt holds its connection lock; if the GUI thread,
holding the GIL, connects a signal just then, both wait forever.)
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Generator

from PySide6.QtCore import QThread, Signal


class TaskCancelled(Exception):
    """Raised by ``TaskHook.check`` once the task was cancelled."""


class TaskHook:
    """What the work sees of its task: ``report`` progress, ``check`` for a cancel."""

    def __init__(self, report: Callable[[object], None], cancel: threading.Event) -> None:
        self._report = report
        self._cancel = cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled

    def report(self, value: object) -> None:
        self.check()
        self._report(value)


class BackgroundTask(QThread):
    """Runs ``work(hook)`` once; answers ``done``, ``failed`` or ``cancelled``."""

    progress = Signal(object)  # whatever the work reports or yields
    done = Signal(object)  # the work's result
    failed = Signal(str)  # why, in one line
    cancelled = Signal()

    def __init__(self, name: str, work: Callable[[TaskHook], object], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._work = work
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def was_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        hook = TaskHook(self.progress.emit, self._cancel)
        try:
            result = self._work(hook)
            if inspect.isgenerator(result):
                result = _drain(result, hook)
        except Exception as exc:  # the work's own error: said in the window, the app goes on
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.done.emit(result)


def _drain(generator: Generator, hook: TaskHook) -> object:
    """Report every value ``generator`` yields; return what it returns."""
    try:
        while True:
            hook.check()
            try:
                value = next(generator)
            except StopIteration as stop:
                return stop.value
            hook.report(value)
    finally:
        generator.close()
