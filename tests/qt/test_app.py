"""The main window starts at once, finds the compute device off the GUI thread,
and the app can take a picture of itself."""

import os
import subprocess
import sys
import threading

import pytest
from PySide6.QtGui import QImage

from weighter_gui.qt.main_window import MainWindow

DEVICE_TIMEOUT_MS = 30_000


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_window_shows_with_title_and_menus(window):
    assert window.isVisible()
    assert window.windowTitle() == "Weighter Studio"
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Help"]
    text = window.centralWidget().text()
    assert "weighter simulate" in text and "later version" in text


def test_device_label_reports_cpu_or_cuda(window, qtbot):
    # The probe started in MainWindow.__init__; once torch is imported it may
    # already have answered, so wait on the state, not on the signal.
    qtbot.waitUntil(lambda: window.device is not None, timeout=DEVICE_TIMEOUT_MS)
    device = window.device
    assert device == "CPU" or device.startswith("CUDA: ")
    assert window.device_label.text() == f"Device: {device}"


def test_closing_window_stops_its_thread(qtbot):
    py_threads_before = set(threading.enumerate())
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.close()  # must wait for the probe, however far it got
    assert not win.is_busy()
    extra = [
        t
        for t in threading.enumerate()
        if t not in py_threads_before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    assert extra == []


def test_quit_action_closes_window(window, qtbot):
    quit_action = window.menuBar().actions()[0].menu().actions()[0]
    assert quit_action.text().replace("&", "") == "Quit"
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not window.is_busy()


def test_screenshot_subprocess_writes_non_blank_png(tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.run(
        [sys.executable, "-m", "weighter_gui", "--screenshot", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = QImage(str(out))
    assert not image.isNull(), f"{out} is not a readable image"
    assert image.width() > 100 and image.height() > 100
    colours = {
        image.pixel(x, y)
        for x in range(0, image.width(), 4)
        for y in range(0, image.height(), 4)
    }
    assert len(colours) > 1, "screenshot is a single flat colour"


def test_gui_modules_do_not_import_torch():
    # torch takes seconds to import; the window must not wait for it.
    code = "import sys, weighter_gui.qt.app, weighter_gui.__main__; assert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
