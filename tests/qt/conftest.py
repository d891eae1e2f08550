"""Fixtures of the Qt tests: settings in a temporary folder, small audio files, a
tiny random-weights checkpoint, a scriptable fake Diarizer and a window factory.

Everything is built in temporary folders (CI runs on a clean clone).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from qt_helpers import FakeDiarizer, write_conversation

from weighter_gui.qt.state.settings import SettingsStore

# ----------------------------------------------------------------------------- settings


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Any QSettings made without a path (e.g. a default SettingsStore) lands in a temp folder."""
    folder = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def settings_store(tmp_path) -> SettingsStore:
    return SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


# ----------------------------------------------------------------------------- audio


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def conversation(audio_dir) -> Path:
    return write_conversation(audio_dir / "conversation.wav", 12.0, seed=1)


@pytest.fixture(scope="session")
def second_conversation(audio_dir) -> Path:
    return write_conversation(audio_dir / "second.wav", 8.0, seed=2)


@pytest.fixture
def two_files(tmp_path, conversation, second_conversation):
    """Copies (a test may delete or move them) in a folder of their own."""
    folder = tmp_path / "audio"
    folder.mkdir()
    return [Path(shutil.copy(conversation, folder / "conv1.wav")),
            Path(shutil.copy(second_conversation, folder / "conv2.wav"))]


@pytest.fixture(scope="session")
def random_bytes_wav(audio_dir) -> Path:
    path = audio_dir / "noise-bytes.wav"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def truncated_wav(audio_dir) -> Path:
    whole = write_conversation(audio_dir / "whole.wav", 6.0, seed=4)
    path = audio_dir / "truncated.wav"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still promises 6 s
    return path


# ----------------------------------------------------------------------------- model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A real Weighter with random weights: fast, and exercises the real loading path."""
    import torch

    from weighter_gui.core.model.checkpoint import save_checkpoint
    from weighter_gui.core.model.frontend import speech_frontend_id
    from weighter_gui.core.model.weighter import Weighter
    from weighter_gui.core.training.train import speech_model_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    cfg = speech_model_config(320, 0, embed_dim=32, num_layers=1, ff_dim=64, num_heads=2)
    save_checkpoint(path, Weighter(cfg).eval(), frontend=speech_frontend_id())
    return path


@pytest.fixture
def fake_diarizer():
    """A factory-and-instance pair: pass ``fake.factory`` as diarizer_factory."""

    class Holder:
        def __init__(self):
            self.instance = FakeDiarizer()
            self.devices: list[str] = []

        def factory(self, checkpoint, device):
            self.devices.append(device)
            return self.instance

    return Holder()


# ----------------------------------------------------------------------------- windows


@pytest.fixture
def make_window(qtbot, settings_store):
    """Build shown MainWindows; every one is closed (threads joined) at the end."""
    from weighter_gui.qt.main_window import MainWindow

    windows = []

    def make(**kwargs):
        kwargs.setdefault("settings_store", settings_store)
        win = MainWindow(**kwargs)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()
        assert not win.is_busy(), "a worker thread still runs after close()"
