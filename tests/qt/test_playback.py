"""Playback and navigation: click to seek, playhead follows playback, loop a range,
speed, zoom/pan/fit with keys and wheel, the shortcuts dialog."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtMultimedia import QMediaPlayer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from qt_helpers import UI_TIMEOUT_MS, FakeDiarizer

from weighter_gui.core.spectrogram import MEL_BANDS

PLAYBACK_TIMEOUT_MS = 10_000


@pytest.fixture
def loaded(make_window, qtbot, fake_diarizer, conversation):
    """A window showing the 12 s conversation, its media loaded, spectrogram drawn."""
    fake_diarizer.instance = FakeDiarizer(windows=2)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    qtbot.waitUntil(lambda: window.view.spectrogram_path == conversation, timeout=UI_TIMEOUT_MS)
    player = window.player.player
    qtbot.waitUntil(
        lambda: player.mediaStatus() in (QMediaPlayer.MediaStatus.LoadedMedia, QMediaPlayer.MediaStatus.BufferedMedia),
        timeout=PLAYBACK_TIMEOUT_MS,
    )
    assert window.timeline.duration == pytest.approx(12.0, abs=0.05)
    assert window.timeline.visible_range() == pytest.approx((0.0, 12.0), abs=0.05)
    yield window
    window.player.pause()


def click_at_time(window, seconds: float, plot=None, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    point = window.timeline.map_time_to_widget(seconds, plot)
    QTest.mouseClick(window.timeline.viewport(), Qt.MouseButton.LeftButton, modifier, point)


def test_the_media_objects_are_made_in_cpp(loaded):
    """Python-made ones deadlock against FFmpeg's threads (see weighter_gui/qt/state/player.py)."""
    player = loaded.player.player
    assert player.metaObject().className() != "QMediaPlayer"  # QML's subclass
    assert player.parent() is loaded.player
    output = player.audioOutput()
    assert output is not None and not shiboken6.ownedByPython(player)


def test_click_on_either_plot_seeks_the_player(loaded, qtbot):
    window = loaded
    click_at_time(window, 5.0)  # curves plot
    qtbot.waitUntil(lambda: abs(window.player.player.position() - 5000) < 150, timeout=UI_TIMEOUT_MS)
    assert window.timeline.playhead() == pytest.approx(5.0, abs=0.15)
    click_at_time(window, 9.0, window.timeline.spectrogram_plot)
    qtbot.waitUntil(lambda: abs(window.player.player.position() - 9000) < 150, timeout=UI_TIMEOUT_MS)
    assert window.timeline.playhead() == pytest.approx(9.0, abs=0.15)
    assert "0:00:09" in window.toolbar.position_label.text()


def test_playhead_follows_playback(loaded, qtbot):
    window = loaded
    window.player.seek(2.0)
    QTest.keyClick(window, Qt.Key.Key_Space)  # play
    qtbot.waitUntil(lambda: window.player.is_playing, timeout=PLAYBACK_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.timeline.playhead() > 2.3, timeout=PLAYBACK_TIMEOUT_MS)
    QTest.keyClick(window, Qt.Key.Key_Space)  # pause
    qtbot.waitUntil(lambda: not window.player.is_playing, timeout=PLAYBACK_TIMEOUT_MS)
    assert window.timeline.playhead() == pytest.approx(window.player.position, abs=0.2)
    # The playhead also follows every position the player reports.
    window.player.player.positionChanged.emit(7300)
    assert window.timeline.playhead() == pytest.approx(7.3)


def test_follow_mode_scrolls_the_view_to_the_playhead(loaded, qtbot):
    window = loaded
    window.timeline.set_visible_range(0.0, 3.0)
    window.player.seek(1.0)
    QTest.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.player.is_playing, timeout=PLAYBACK_TIMEOUT_MS)
    window.player.player.positionChanged.emit(6000)  # as if playback had run on
    start, end = window.timeline.visible_range()
    assert start <= 6.0 <= end and end - start == pytest.approx(3.0, abs=0.01)
    window.action("follow").trigger()  # off: the view stays put
    window.player.player.positionChanged.emit(11000)
    assert window.timeline.visible_range()[1] < 11.0
    QTest.keyClick(window, Qt.Key.Key_Space)


def test_shift_drag_selects_a_range_and_l_loops_it(loaded, qtbot):
    window = loaded
    timeline = window.timeline
    viewport = timeline.viewport()
    start, end = timeline.map_time_to_widget(3.0), timeline.map_time_to_widget(4.0)
    shift = Qt.KeyboardModifier.ShiftModifier
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, shift, start)
    for fraction in (0.25, 0.5, 0.75, 1.0):
        point = QPoint(int(start.x() + (end.x() - start.x()) * fraction), start.y())
        QTest.mouseMove(viewport, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, shift, end)
    qtbot.waitUntil(lambda: window.player.loop_range is not None, timeout=UI_TIMEOUT_MS)
    a, b = window.player.loop_range
    assert a == pytest.approx(3.0, abs=0.1) and b == pytest.approx(4.0, abs=0.1)
    assert timeline.selection() == pytest.approx((a, b))
    assert timeline.visible_range() == pytest.approx((0.0, 12.0), abs=0.05)  # no pan

    QTest.keyClick(window, Qt.Key.Key_L)
    assert window.action("loop").isChecked() and window.player.looping
    window.player.seek(3.5)
    window.player.play()
    positions = []
    window.player.position_changed.connect(positions.append)
    qtbot.waitUntil(lambda: any(p < q for p, q in zip(positions[1:], positions)), timeout=PLAYBACK_TIMEOUT_MS)
    window.player.pause()
    assert all(a - 0.05 <= p <= b + 0.15 for p in positions), positions
    QTest.keyClick(window, Qt.Key.Key_L)
    assert not window.player.looping


def test_loop_without_a_selection_says_how(loaded):
    window = loaded
    window.action("loop").trigger()
    assert not window.action("loop").isChecked()
    assert "Shift-drag" in window.statusBar().currentMessage()


def test_speed_menu_combo_and_keys(loaded):
    window = loaded
    window.toolbar.speed_combo.setCurrentIndex(window.toolbar.speed_combo.findData(1.5))
    assert window.player.player.playbackRate() == pytest.approx(1.5)
    assert window.view.speed_actions[1.5].isChecked()
    QTest.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.player.rate == pytest.approx(2.0)
    window.view.speed_actions[0.5].trigger()
    assert window.player.rate == pytest.approx(0.5)
    assert window.toolbar.speed_combo.currentData() == pytest.approx(0.5)


def test_zoom_keys_wheel_pan_and_fit(loaded, qtbot):
    window = loaded
    timeline = window.timeline
    window.player.seek(6.0)
    QTest.keyClick(window, Qt.Key.Key_Plus)
    start, end = timeline.visible_range()
    assert end - start == pytest.approx(6.0, abs=0.01)
    assert start <= 6.0 <= end
    QTest.keyClick(window, Qt.Key.Key_Minus)
    assert timeline.visible_range() == pytest.approx((0.0, 12.0), abs=0.05)

    # Wheel up over the curves zooms in around the pointer.
    position = QPointF(timeline.map_time_to_widget(3.0))
    global_position = QPointF(timeline.viewport().mapToGlobal(position.toPoint()))
    wheel = QWheelEvent(
        position, global_position, QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(timeline.viewport(), wheel)
    start, end = timeline.visible_range()
    assert end - start < 11.0 and start <= 3.0 <= end

    # Drag pans (time only); the spectrogram and the curves stay aligned.
    before = timeline.visible_range()
    a = timeline.map_time_to_widget((before[0] + before[1]) / 2)
    b = QPoint(a.x() - 120, a.y())
    QTest.mousePress(timeline.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for step in range(1, 5):
        QTest.mouseMove(timeline.viewport(), QPoint(a.x() - 30 * step, a.y()))
    QTest.mouseRelease(timeline.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    after = timeline.visible_range()
    assert after[0] > before[0] and after[1] - after[0] == pytest.approx(before[1] - before[0], rel=1e-3)
    assert timeline.curves_box.viewRange()[0] == pytest.approx(list(after))
    assert timeline.spectrogram_box.viewRange()[1] == pytest.approx([0, MEL_BANDS])  # y never moves

    QTest.keyClick(window, Qt.Key.Key_F)
    assert timeline.visible_range() == pytest.approx((0.0, 12.0), abs=0.05)
    timeline.set_visible_range(2.0, 4.0)
    QTest.keyClick(window, Qt.Key.Key_Home)
    assert timeline.visible_range() == pytest.approx((0.0, 12.0), abs=0.05)


def test_help_dialog_lists_the_shortcuts(loaded, qtbot):
    window = loaded
    QTest.keyClick(window, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=UI_TIMEOUT_MS)
    rows = {meaning: keys for keys, meaning in dialog.rows()}
    assert rows["Play / pause"] == "Space"
    assert rows["Loop selection"] == "L"
    assert rows["Fit whole file"] == "F or Home"
    assert rows["Zoom in"].startswith("+")
    assert "F1" in rows["Keyboard shortcuts"]
    assert "Shift + drag" in [keys for keys, _ in dialog.rows()]
    dialog.close()


def test_spectrogram_scale_colours_and_db_range(loaded, qtbot, conversation):
    window = loaded
    layer = window.timeline.spectrogram
    assert layer.pyramid.scale == "mel" and layer.pyramid.bins == MEL_BANDS
    QTest.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)  # linear frequency
    qtbot.waitUntil(
        lambda: layer.pyramid is not None and layer.pyramid.scale == "linear", timeout=UI_TIMEOUT_MS
    )
    assert window.toolbar.scale_combo.currentData() == "linear"
    assert layer.pyramid.bins == 256
    window.toolbar.colour_combo.setCurrentIndex(window.toolbar.colour_combo.findData("viridis"))
    assert layer.colour_map == "viridis"
    window.toolbar.db_floor_spin.setValue(-90)
    assert layer.db_range[0] == -90 and not window.action("auto_db").isChecked()
    levels = layer.image.getLevels()
    assert levels[0] == pytest.approx((-90 + 130) / 130 * 255, abs=0.01)
    window.toolbar.scale_combo.setCurrentIndex(0)  # mel again: from the cache, at once
    assert layer.pyramid.scale == "mel"


def test_solo_plays_only_the_selected_speaker_and_mute_skips_them(loaded, qtbot):
    window = loaded
    qtbot.waitUntil(lambda: bool(window.workspace.speakers(window.workspace.current)), timeout=UI_TIMEOUT_MS)
    QTest.keyClick(window, Qt.Key.Key_O)
    assert "Pick a speaker first" in window.statusBar().currentMessage()
    window.labelling.select_slot("S1")  # the fake analysis: S1 speaks over 0-1 s
    QTest.keyClick(window, Qt.Key.Key_O)
    assert window.player.only == ((0.0, 1.0),) and "only S1" in window.statusBar().currentMessage()
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # all but S1
    assert window.player.only == ((1.0, 12.0),)
    # Playing from inside S1's turn skips to where S1 has stopped.
    window.player.seek(0.2)
    window.player.play()
    qtbot.waitUntil(lambda: window.player.position >= 1.0, timeout=PLAYBACK_TIMEOUT_MS)
    window.player.pause()
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # again: everyone
    assert window.player.only is None and window.view.only is None
