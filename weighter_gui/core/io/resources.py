"""Where the shipped files live: GE2E weights, the speaker space, the default model, the sample recording.

Imports nothing heavy (no torch), so the app can find its sample before torch loads.
The folder is found, first match wins:

1. ``$WEIGHTER_GUI_RESOURCES`` when set;
2. ``weighter_gui/resources/`` inside the installed package: a wheel (``pip install .``,
   ``pipx install .``) ships the repository's top-level ``resources/`` there (pyproject's
   ``package-dir`` maps ``weighter_gui.resources`` to ``resources``), and a PyInstaller
   bundle puts it at the same place;
3. ``<repo>/resources`` beside the package (``<repo>/weighter_gui/core/io/resources.py`` ->
   ``<repo>/resources``): a source checkout or an editable install.

When none exists, the checkout path is returned so error messages name a real place.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "RESOURCES_ENV",
    "WeightsFileError",
    "app_icon",
    "default_checkpoint",
    "default_ge2e_weights",
    "default_voice_encoder",
    "default_speaker_space",
    "resources_dir",
    "sample_audio",
]

RESOURCES_ENV = "WEIGHTER_GUI_RESOURCES"
GE2E_WEIGHTS_NAME = "ge2e_encoder.safetensors"
DEFAULT_CHECKPOINT_NAME = "weighter-default.safetensors"
SPEAKER_SPACE_NAME = "speaker-space.safetensors"
VOICE_ENCODER_NAME = "voice-encoder.safetensors"


_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # .../weighter_gui


class WeightsFileError(RuntimeError):
    """A weights file of the installation is missing, unreadable or not the expected
    tensors; the message names the file, the problem and ``remedy`` (how to make it)."""

    remedy = "reinstall"  # a subclass says how its file is made; ``{path}`` is the file

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}; {self.remedy.format(path=self.path)}")


def resources_dir() -> Path:
    env = os.environ.get(RESOURCES_ENV)
    if env:
        return Path(env).expanduser().resolve()
    installed = _PACKAGE_DIR / "resources"
    checkout = _PACKAGE_DIR.parent / "resources"
    for candidate in (installed, checkout):
        if (candidate / DEFAULT_CHECKPOINT_NAME).is_file() or (candidate / GE2E_WEIGHTS_NAME).is_file():
            return candidate
    return installed if installed.is_dir() else checkout


def default_ge2e_weights() -> Path:
    return resources_dir() / GE2E_WEIGHTS_NAME


def default_speaker_space() -> Path:
    """The LDA speaker space the project gallery compares named slots in."""
    return resources_dir() / SPEAKER_SPACE_NAME


def default_voice_encoder() -> Path:
    """CAM++, the voice encoder the file-level clustering compares windows' slots with."""
    return resources_dir() / VOICE_ENCODER_NAME


def default_checkpoint() -> Path:
    """The shipped Weighter, used when no checkpoint is given."""
    return resources_dir() / DEFAULT_CHECKPOINT_NAME


def sample_audio() -> Path:
    """The short conversation the README and the app's first start open."""
    return resources_dir() / "sample" / "sample.flac"


def app_icon() -> Path:
    """The application icon (scalable); PNG renderings lie beside it in ``icons/``."""
    return resources_dir() / "icons" / "weighter-studio.svg"
