"""Which compute device the model runs on: the one place a device name is resolved.

torch is imported inside the functions: it takes seconds, and the app calls these
from worker threads only.
"""

from __future__ import annotations

import os


class DeviceError(ValueError):
    """A device was asked for that is not there; the message says what to use instead."""


def resolve_device(name: str = "auto", *, fallback_to_cpu: bool = False):
    """A ``torch.device`` for ``name`` ("auto", "cpu", "cuda", "cuda:1").

    "auto" is CUDA when torch sees a GPU (under ``torchrun``, this process's
    ``LOCAL_RANK``), else the CPU. CUDA asked for where there is none raises
    ``DeviceError``, or gives the CPU with ``fallback_to_cpu`` (the app, which says so).
    """
    import torch

    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cuda")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        if fallback_to_cpu:
            return torch.device("cpu")
        raise DeviceError(f"device {name!r} asked for, but no CUDA device is available; use --device cpu")
    return device


def describe_compute_device(device=None) -> str:
    """"CUDA: <name>" for a CUDA device (default: the first, when torch sees a GPU), else "CPU"."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if device is None else torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device.index or 0)}"
    return "CPU"
