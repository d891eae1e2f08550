"""Suite-wide setup. The environment lines must run before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")

import threading
import time

import pytest

THREAD_JOIN_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a new Python thread running.

    Threads get a short grace period to finish. Foreign threads that Python only
    sees as `_DummyThread` (e.g. a QThread that once ran Python code) cannot be
    joined and are not counted; Qt tests check their QThreads directly.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_JOIN_GRACE_S
    leaked = []
    for thread in threading.enumerate():
        if thread in before or isinstance(thread, threading._DummyThread):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            leaked.append(thread)
    if leaked:
        names = ", ".join(f"{t.name!r} (daemon={t.daemon})" for t in leaked)
        pytest.fail(f"test left {len(leaked)} thread(s) running: {names}", pytrace=False)
