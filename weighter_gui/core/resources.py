"""Where the shipped files live: GE2E weights, the default model, the sample recording.

Imports nothing heavy (no torch), so the app can find its sample before torch loads.
``$WEIGHTER_GUI_RESOURCES`` wins when set; otherwise the ``resources/`` folder
beside the package (``<repo>/weighter_gui/core/resources.py`` -> ``<repo>/resources``),
which works from a source checkout and an editable install alike.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "RESOURCES_ENV",
    "default_checkpoint",
    "default_ge2e_weights",
    "resources_dir",
    "sample_audio",
]

RESOURCES_ENV = "WEIGHTER_GUI_RESOURCES"
GE2E_WEIGHTS_NAME = "ge2e_encoder.safetensors"
DEFAULT_CHECKPOINT_NAME = "weighter-default.safetensors"


def resources_dir() -> Path:
    env = os.environ.get(RESOURCES_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "resources"


def default_ge2e_weights() -> Path:
    return resources_dir() / GE2E_WEIGHTS_NAME


def default_checkpoint() -> Path:
    """The shipped Weighter, used when no checkpoint is given."""
    return resources_dir() / DEFAULT_CHECKPOINT_NAME


def sample_audio() -> Path:
    """The short conversation the README and the app's first start open."""
    return resources_dir() / "sample" / "sample.flac"
