"""The main window starts at once, finds the compute device off the GUI thread,
opens files from the command line, and the app can take a picture of itself."""

import gc
import os
import shutil
import subprocess
import sys
import threading
import weakref

import pytest
from PySide6.QtGui import QImage

from weighter_gui.qt.main_window import MainWindow

DEVICE_TIMEOUT_MS = 30_000


@pytest.fixture
def window(qtbot, settings_store):
    win = MainWindow(settings_store=settings_store)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_window_shows_with_title_and_menus(window):
    assert window.isVisible()
    assert window.windowTitle() == "Weighter Studio"
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Playback", "Go", "Analysis", "Label", "Turns", "Export", "Model", "Help"]
    # No file open: the centre explains how to open one.
    assert window.centralWidget().currentWidget() is window.empty_label
    text = window.empty_label.text()
    assert "Open files" in text and "Open folder" in text and "drop" in text and "F1" in text


def test_cycles_are_collected_on_the_gui_thread_only(window):
    """Not by whichever thread allocates (see collect_garbage_on_the_gui_thread)."""
    from weighter_gui.qt import main_window

    collector = main_window._garbage_collector
    assert not gc.isenabled() and collector.timer.isActive()

    class Cycle:
        pass

    cycle = Cycle()
    cycle.me = cycle
    alive = weakref.ref(cycle)
    del cycle
    junk = []
    while gc.get_count()[0] <= collector.threshold[0]:
        junk.append([])
    collector.check()  # what the GUI timer runs
    assert alive() is None


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
    quit_action = window.menuBar().actions()[0].menu().actions()[-1]
    assert quit_action.text().replace("&", "") == "Quit"
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not window.is_busy()


def app_env(tmp_path) -> dict:
    """The app in a subprocess: offscreen, settings in tmp_path (not the user's)."""
    return dict(
        os.environ,
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        WEIGHTER_GUI_RESOURCES=str(tmp_path / "no-resources"),  # no sample file: the empty state
    )


def test_screenshot_subprocess_writes_non_blank_png(tmp_path):
    out = tmp_path / "shot.png"
    env = app_env(tmp_path)
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


def test_screenshot_with_a_file_waits_for_its_analysis(tmp_path, conversation, tiny_checkpoint):
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "weighter_gui", "--checkpoint", str(tiny_checkpoint),
         "--screenshot", str(out), str(conversation)],
        capture_output=True, text=True, timeout=180, env=app_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = QImage(str(out))
    assert not image.isNull()
    # The middle of the window is the spectrogram: many colours, not a flat background.
    middle = {
        image.pixel(x, y)
        for x in range(image.width() // 3, 2 * image.width() // 3, 3)
        for y in range(image.height() // 5, image.height() // 2, 3)
    }
    assert len(middle) > 50, "no spectrogram in the screenshot"
    # The settings went to XDG_CONFIG_HOME, and the file is now a recent one.
    settings = list((tmp_path / "config").rglob("*.conf"))
    assert settings and str(conversation) in settings[0].read_text()


def test_command_line_opens_files_and_folders(tmp_path, conversation, second_conversation, tiny_checkpoint):
    # In a child process: a second QApplication.exec() in this one leaves later tests'
    # queued signals undelivered.
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(second_conversation, folder / "b.wav")
    shutil.copy(second_conversation, folder / "A.FLAC.wav")
    (folder / "notes.txt").write_text("not audio")
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "weighter_gui", "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
         "--screenshot", str(out), str(conversation), str(folder)],
        capture_output=True, text=True, timeout=180, env=app_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = next((tmp_path / "config").rglob("*.conf")).read_text()
    recent = next(line for line in settings.splitlines() if line.startswith("files="))
    assert str(conversation) in recent and str(folder) in recent  # a folder is remembered whole
    assert "sample.flac" not in recent  # files were given: the sample is not opened


def test_a_folder_opens_its_audio_files_in_name_order(make_window, tmp_path, second_conversation):
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(second_conversation, folder / "b.wav")
    shutil.copy(second_conversation, folder / "A.FLAC.wav")
    (folder / "notes.txt").write_text("not audio")
    window = make_window()
    window.files.open_paths([folder])
    assert [p.name for p in window.workspace.paths()] == ["A.FLAC.wav", "b.wav"]


def test_gui_modules_do_not_import_torch():
    # torch takes seconds to import, pyannote about one; the window must not wait for them.
    code = (
        "import sys, weighter_gui.qt.app, weighter_gui.__main__, weighter_gui.qt.main_window, "
        "weighter_gui.qt.workers.serving, weighter_gui.qt.views.timeline_view, weighter_gui.qt.views.spectrogram_layer; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'scipy.signal' not in sys.modules, 'scipy.signal imported'; "
        "assert 'pyannote.core' not in sys.modules, 'pyannote imported'"  # about a second with pyannote.metrics
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
