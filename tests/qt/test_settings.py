"""Settings, recent files and window layout persist (in a temporary QSettings);
drag and drop opens files; the Settings dialog returns what the user chose."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import UI_TIMEOUT_MS, FakeDiarizer

from weighter_gui.qt.state.settings import MAX_RECENT, AppSettings
from weighter_gui.qt.views.settings_dialog import SettingsDialog


def test_settings_round_trip(settings_store):
    assert settings_store.load() == AppSettings()  # defaults in code
    settings_store.save(AppSettings(device="cpu", checkpoint="/models/a.safetensors"))
    assert settings_store.load() == AppSettings(device="cpu", checkpoint="/models/a.safetensors")
    settings_store.qsettings.setValue("analysis/device", "tpu")  # unknown: back to auto
    assert settings_store.load().device == "auto"


def test_recent_files_are_unique_newest_first_and_bounded(settings_store, tmp_path):
    paths = [tmp_path / f"f{i}.wav" for i in range(MAX_RECENT + 3)]
    for path in paths:
        settings_store.add_recent(path)
    settings_store.add_recent(paths[-2])
    recent = settings_store.recent_files()
    assert len(recent) == MAX_RECENT
    assert recent[:2] == [str(paths[-2]), str(paths[-1])]
    settings_store.clear_recent()
    assert settings_store.recent_files() == []


def test_overrides_win_for_one_run():
    saved = AppSettings(device="cuda", checkpoint="/a")
    assert saved.with_overrides(device="cpu", checkpoint=None) == AppSettings("cpu", "/a")
    assert saved.with_overrides(checkpoint="/b").checkpoint_or_none == "/b"
    assert AppSettings().checkpoint_or_none is None


def test_settings_dialog_returns_the_choice(qtbot):
    dialog = SettingsDialog(AppSettings(device="cuda", checkpoint="/x.safetensors"))
    qtbot.addWidget(dialog)
    assert dialog.settings() == AppSettings(device="cuda", checkpoint="/x.safetensors")
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.checkpoint_edit.setText("  ")
    assert dialog.settings() == AppSettings(device="cpu", checkpoint="")


def test_window_layout_and_recent_files_survive_a_restart(make_window, qtbot, fake_diarizer, conversation):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.resize(700, 500)  # smaller than the offscreen screen, which would clamp it
    window.speakers_dock.hide()
    window.toolbar.colour_combo.setCurrentIndex(window.toolbar.colour_combo.findData("viridis"))
    window.action("mel").trigger()  # linear frequency
    window.action("follow").trigger()  # off
    window.files.open_paths([conversation])
    window.close()

    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert (again.size().width(), again.size().height()) == (700, 500)
    assert not again.speakers_dock.isVisible()
    assert again.timeline.spectrogram.colour_map == "viridis"
    assert again.view.scale == "linear" and again.toolbar.scale_combo.currentData() == "linear"
    assert not again.action("follow").isChecked() and not again.timeline.follow_playhead
    again.files.recent_menu.aboutToShow.emit()
    entries = [a.text() for a in again.files.recent_menu.actions()]
    assert entries[0] == str(conversation)
    again.files.recent_menu.actions()[0].trigger()  # reopens it
    assert again.workspace.paths() == [conversation]


def test_dropping_files_on_the_window_opens_them(make_window, qtbot, fake_diarizer, conversation, second_conversation):
    fake_diarizer.instance = FakeDiarizer(windows=1)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(conversation)), QUrl.fromLocalFile(str(second_conversation))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert window.workspace.paths() == [conversation, second_conversation]
    assert window.workspace.current == conversation
    qtbot.waitUntil(lambda: not window.workspace.busy(), timeout=UI_TIMEOUT_MS)
    # Opening the same file again only selects it.
    window.workspace.set_current(second_conversation)
    assert window.files.open_paths([conversation]) == []
    assert window.workspace.current == conversation and len(window.workspace) == 2


def test_device_setting_shows_in_the_status_bar(make_window, qtbot, fake_diarizer):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    qtbot.waitUntil(lambda: window.device is not None, timeout=30_000)
    window.files.apply_settings(AppSettings(device="cpu", checkpoint=""))
    assert window.device_label.text() == "Device: CPU"
    assert window.preferences.store.load().device == "cpu"
