"""The one wrapper for long work off the GUI thread: progress, result, failure, cancel."""

import threading
import time

from qt_helpers import UI_TIMEOUT_MS, spin_until

from weighter_gui.qt.workers.task import BackgroundTask


def _run(qtbot, task: BackgroundTask) -> dict:
    """Start ``task``, wait for its thread, and return what it said."""
    said = {"progress": [], "done": [], "failed": [], "cancelled": 0}
    task.progress.connect(said["progress"].append)
    task.done.connect(said["done"].append)
    task.failed.connect(said["failed"].append)
    task.cancelled.connect(lambda: said.__setitem__("cancelled", said["cancelled"] + 1))
    with qtbot.waitSignal(task.finished, timeout=UI_TIMEOUT_MS):
        task.start()
    spin_until(lambda: said["done"] or said["failed"] or said["cancelled"])
    return said


def test_a_generator_reports_what_it_yields_and_answers_what_it_returns(qtbot):
    def work(hook):
        for step in range(3):
            yield step
        return "written"

    said = _run(qtbot, BackgroundTask("Test", work))
    assert said == {"progress": [0, 1, 2], "done": ["written"], "failed": [], "cancelled": 0}


def test_a_function_reports_through_its_hook(qtbot):
    said = _run(qtbot, BackgroundTask("Test", lambda hook: hook.report("half") or 42))
    assert said["progress"] == ["half"] and said["done"] == [42]


def test_a_failure_is_said_in_one_line_and_nothing_else(qtbot):
    def work(hook):
        raise ValueError("no labelled file")

    said = _run(qtbot, BackgroundTask("Test", work))
    assert said == {"progress": [], "done": [], "failed": ["ValueError: no labelled file"], "cancelled": 0}


def test_a_cancelled_task_stops_at_its_next_check_and_answers_only_cancelled(qtbot):
    started, steps = threading.Event(), []

    def work(hook):
        started.set()
        while True:  # stops only by the cancel
            hook.check()
            steps.append(1)
            time.sleep(0.005)

    task = BackgroundTask("Test", work)
    said = {"done": [], "failed": [], "cancelled": 0}
    task.done.connect(said["done"].append)
    task.failed.connect(said["failed"].append)
    task.cancelled.connect(lambda: said.__setitem__("cancelled", said["cancelled"] + 1))
    task.start()
    assert started.wait(UI_TIMEOUT_MS / 1000)
    task.cancel()
    assert task.wait(UI_TIMEOUT_MS)
    spin_until(lambda: said["cancelled"])
    assert said == {"done": [], "failed": [], "cancelled": 1} and task.was_cancelled
