"""Which compute device the model runs on."""

from __future__ import annotations


def describe_compute_device() -> str:
    """Return "CUDA: <name>" when torch sees a GPU, else "CPU". Imports torch (slow)."""
    import torch  # deliberately lazy: seconds to import

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return "CPU"
