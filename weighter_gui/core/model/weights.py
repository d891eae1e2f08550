"""Reading a network's tensors from a safetensors file, every one checked.

Core code: no Qt import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from weighter_gui.core.io.resources import WeightsFileError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["read_tensors"]


def read_tensors(path: Path, expected: Mapping[str, tuple[int, ...]],
                 error: type[WeightsFileError]) -> dict[str, Tensor]:
    """The tensors named in ``expected`` (name -> shape) from safetensors file ``path``
    (no pickle), or ``error(path, problem)`` raised when the file is unreadable or a
    tensor is missing, misshapen, or holds NaN or infinite values."""
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            names = set(f.keys())
            tensors = {name: f.get_tensor(name) for name in expected if name in names}
    except Exception as exc:  # safetensors raises SafetensorError / OSError / ValueError
        raise error(path, f"not a readable safetensors file ({exc})") from exc
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise error(path, f"missing tensors {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}")
    for name, shape in expected.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(shape):
            raise error(path, f"tensor {name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise error(path, f"tensor {name} contains NaN or infinite values")
    return tensors
