"""Speech detection with silero-vad: which 10 ms frames hold someone speaking.

Public API::

    SpeechDetector(weights=None)            # .probabilities(audio), .speech_segments(audio)
    SpeechStream(detector)                  # .push(audio) for audio that comes in windows
    speech_regions(probs, ...)              # 10 ms probabilities -> (start, end) seconds
    silero_weights_path()                   # the weights file inside the silero-vad package
    VadError                                # missing / corrupt weights (names the file)

Why a trained detector. The Weighter finds *voices*; whether a sound is speech at all
it learned only from clean synthetic corpora, so on real recordings it heard speakers
in white noise, room tone and music. silero-vad (MIT) is trained on thousands of hours
of real speech and noise in many languages and runs in real time on one CPU thread.

How it is loaded, and why that is safe. The ``silero-vad`` wheel from PyPI ships its
16 kHz network as ``silero_vad/data/silero_vad_16k.safetensors`` (1.2 MB). We find
that file with ``importlib.util.find_spec`` (which does not import the package: its
``__init__`` sets torch's thread count as a side effect) and read it with
``safetensors``, which holds plain tensors and cannot run code, into ``SileroNet``
below, our own 40-line copy of the network (STFT as a fixed convolution, four
convolutions, an LSTM cell, a 1x1 convolution; the layout of the package's
``tinygrad_model.py``). No TorchScript or pickle is ever loaded. The package's
TorchScript file holds other weights of the same network (its convolutions differ); a
test checks that the two decide alike on at least 95 % of the chunks of the sample
(99 % on the real falcon conversation).

Frames. silero decides once per 32 ms chunk (512 samples, with the 64 samples before
it as context; an LSTM carries state from chunk to chunk). ``probabilities`` returns
the project's shared 10 ms grid (``frontend.num_frames``): each frame takes the
probability of the chunk its centre lies in.

Cost: about 12 s per hour of audio on one thread (the chunks' convolutions are batched,
a minute at a time; only the LSTM runs in order); memory: 4 bytes per 32 ms kept.

Core code: no Qt import.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "BATCH_SAMPLES",
    "CHUNK",
    "SileroNet",
    "SpeechDetector",
    "SpeechStream",
    "VadError",
    "frames_from_chunks",
    "silero_weights_path",
    "speech_regions",
]

CHUNK = 512  # samples per decision at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk each decision also sees
HOP = 160  # the project's 10 ms frame
WEIGHTS_NAME = "silero_vad_16k.safetensors"
# The field's usual settings (silero's get_speech_timestamps defaults).
THRESHOLD = 0.5
MIN_SPEECH_S = 0.25
MIN_SILENCE_S = 0.1
BATCH_SAMPLES = 60 * 16000  # audio per batch of chunks in ``probabilities`` (whole chunks)


class VadError(RuntimeError):
    """The speech detector's weights are missing or are not the expected tensors."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(
            f"{where}{problem}; reinstall the speech detector with "
            "`pip install --force-reinstall 'silero-vad>=6.2,<7'` (bash packaging/dev.sh does it)"
        )


def silero_weights_path() -> Path:
    """The 16 kHz safetensors file inside the installed silero-vad package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadError(None, "the silero-vad package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / WEIGHTS_NAME


class SileroNet(nn.Module):
    """silero-vad's 16 kHz network: 576 samples (context + chunk) -> speech probability."""

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)  # the package's LSTMCell, run over all chunks
        self.final_conv = nn.Conv1d(128, 1, 1)

    def encode(self, chunks: Tensor) -> Tensor:
        """[n, 576] -> [n, 128]: each chunk on its own (batched)."""
        x = nn.functional.pad(chunks[:, None], (0, CONTEXT), mode="reflect")
        x = self.stft_conv(x)
        x = (x[:, :129] ** 2 + x[:, 129:] ** 2).sqrt()
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = conv(x).relu()
        return x[:, :, 0]

    def forward(self, chunks: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """[n, 576] chunks in order -> ([n] probabilities, LSTM state after the last)."""
        h, state = self.lstm(self.encode(chunks)[None], state)
        p = self.final_conv(h[0].relu()[:, :, None]).sigmoid()
        return p[:, 0, 0], state

    def load_file(self, path: Path) -> "SileroNet":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not path.is_file():
            raise VadError(path, "the speech detector's weights file is missing")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise VadError(path, f"not a readable safetensors file ({e})") from e
        renamed = {k.replace("lstm_cell.", "lstm.") + ("_l0" if k.startswith("lstm_cell.") else ""): v
                   for k, v in tensors.items()}
        try:
            self.load_state_dict(renamed, strict=True)
        except RuntimeError as e:
            raise VadError(path, f"not silero-vad's 16 kHz network ({str(e).splitlines()[0]})") from e
        return self


class SpeechDetector:
    """silero-vad on whole arrays of 16 kHz mono audio."""

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(weights) if weights is not None else silero_weights_path()
        self.net = SileroNet().load_file(self.path).eval()

    @torch.inference_mode()
    def chunk_probabilities(self, audio: np.ndarray, state=None, context: np.ndarray | None = None):
        """Probabilities per 512-sample chunk (the last one zero-padded), the LSTM state and
        the last 64 samples after them, for a caller that goes on with the next audio."""
        audio = np.asarray(audio, dtype=np.float32)
        n = -(-len(audio) // CHUNK)
        if n == 0:
            return np.zeros(0, np.float32), state, context
        before = np.zeros(CONTEXT, np.float32) if context is None else context
        padded = np.concatenate([before, audio, np.zeros(n * CHUNK - len(audio), np.float32)])
        wav = torch.from_numpy(padded)
        chunks = wav.unfold(0, CHUNK + CONTEXT, CHUNK)
        probs, state = self.net(chunks, state)
        return probs.numpy().astype(np.float32), state, padded[-CONTEXT:]

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """[1 + len(audio) // 160] speech probability of each 10 ms frame.

        Run a minute at a time (the LSTM state carries over, so the result is one
        batch's): the convolutions' activations take about 9 MB per minute, and one
        batch over an hour of audio took over 1 GB."""
        stream = SpeechStream(self)
        for start in range(0, len(audio), BATCH_SAMPLES):
            stream.push(audio[start : start + BATCH_SAMPLES])
        return stream.frames()

    def speech_segments(self, audio: np.ndarray, **kwargs) -> list[tuple[float, float]]:
        """(start, end) seconds of speech; ``kwargs`` as for :func:`speech_regions`."""
        return speech_regions(self.probabilities(audio), **kwargs)


class SpeechStream:
    """The detector over audio that arrives in pieces of any length (a diarizer's
    windows): state and context carry over, so the result equals one call on the whole."""

    def __init__(self, detector: SpeechDetector) -> None:
        self.detector = detector
        self._state = None
        self._context = None
        self._pending = np.zeros(0, np.float32)
        self._chunks: list[np.ndarray] = []
        self.samples = 0

    def push(self, audio: np.ndarray) -> None:
        self.samples += len(audio)
        buf = np.concatenate([self._pending, np.asarray(audio, np.float32)])
        whole = len(buf) // CHUNK * CHUNK
        if whole:
            probs, self._state, self._context = self.detector.chunk_probabilities(buf[:whole], self._state, self._context)
            self._chunks.append(probs)
        self._pending = buf[whole:]

    def frames(self) -> np.ndarray:
        """Every 10 ms frame pushed so far (the last partial chunk included)."""
        chunks = list(self._chunks)
        if len(self._pending):
            tail, _, _ = self.detector.chunk_probabilities(self._pending, self._state, self._context)
            chunks.append(tail)
        joined = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return frames_from_chunks(joined, 1 + self.samples // HOP)


def frames_from_chunks(chunks: np.ndarray, n_frames: int) -> np.ndarray:
    """Chunk probabilities -> the 10 ms grid (frame t takes the chunk holding t * 160)."""
    if len(chunks) == 0:
        return np.zeros(n_frames, np.float32)
    index = np.minimum(np.arange(n_frames) * HOP // CHUNK, len(chunks) - 1)
    return chunks[index].astype(np.float32)


def speech_regions(
    probs: np.ndarray, threshold: float = THRESHOLD, min_speech: float = MIN_SPEECH_S,
    min_silence: float = MIN_SILENCE_S, hop: float = HOP / 16000,
) -> list[tuple[float, float]]:
    """Runs of frames with probability >= ``threshold``; pauses under ``min_silence``
    seconds are bridged, then runs under ``min_speech`` are dropped."""
    active = np.concatenate([[False], np.asarray(probs) >= threshold, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    runs: list[list[float]] = []
    for s, e in zip(edges[::2], edges[1::2]):
        if runs and s * hop - runs[-1][1] < min_silence:
            runs[-1][1] = e * hop
        else:
            runs.append([s * hop, e * hop])
    return [(round(a, 3), round(b, 3)) for a, b in runs if b - a >= min_speech - 1e-9]
