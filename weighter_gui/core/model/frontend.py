"""Speech front-end: 16 kHz mono audio -> frame features ``[T, D]`` at a 10 ms hop.

Public API::

    SpeechFrontend(n_mels=64, ge2e_hop=10)   # .id, .dim, .frame_hop_s, .features(audio)
    LogMelFrontend(n_mels=64)                # .id, .dim, .frame_hop_s, .features(audio)
    GE2EEncoder.from_file(path=None)         # pretrained GE2E speaker encoder (resemblyzer)
    GE2EEncoder.frame_embeddings(audio, ...) # 256-d speaker vector per 10 ms frame
    num_frames(num_samples), frame_times(n)  # the shared 10 ms frame grid
    (resources: weighter_gui.core.io.resources)
    FrontendWeightsError                     # missing / corrupt weights file (names it)

Frame grid. Every front-end here frames audio the same way: 25 ms (400-sample) Hann
windows every 10 ms (160 samples), centred (``center=True``), so an input of ``n``
samples has ``num_frames(n) = 1 + n // 160`` frames and frame ``t`` is centred at
``t * 0.01`` s. Log-mel and GE2E features therefore line up frame for frame.

GE2E encoder. ``GE2EEncoder`` has the layout of resemblyzer's ``VoiceEncoder``
(LSTM 40 -> 256, 3 layers, batch_first; last hidden state of the top layer ->
Linear 256 -> 256 -> ReLU -> L2 norm) and loads the weights that resemblyzer 0.1.4
ships (Apache-2.0; GE2E, Wan et al. 2018), converted to safetensors by
``packaging/convert_ge2e.py`` (no pickle is ever loaded at run time). Its input is
resemblyzer's (non-log) 40-band power mel spectrogram, computed here with
torchaudio instead of librosa:

* same: 16 kHz, n_fft = win = 400, hop 160, periodic Hann window, centred frames,
  |STFT|^2 (power 2.0), 40 Slaney-scale mel bands 0-8000 Hz with Slaney area
  normalisation (librosa's ``filters.mel`` defaults), no log;
* differs: the frame padding at the two ends is reflect (librosa < 0.10, which the
  model was trained with; librosa >= 0.10 pads with zeros), which only changes the
  first and last two frames; float32 FFT (torch) instead of numpy's float64 FFT,
  a relative difference of ~1e-6; resemblyzer's ``preprocess_wav`` also removes long
  silences with webrtcvad, which we cannot do here because every output frame must
  keep its time - we only apply its volume normalisation (raise the whole input to
  -30 dBFS if it is quieter, never lower it).

Frame-level speaker features. GE2E embeds a window of ``window_frames`` mel frames
(160 = 1.6 s, resemblyzer's partial utterance). ``frame_embeddings`` places such a
window on every ``hop_frames``-th frame (default 10 = 100 ms), centred on it where the
utterance allows (clamped to lie inside it at the two ends; an utterance shorter
than one window is embedded whole), embeds all windows in batches, and assigns each
embedding to its centre frame. The frames in between get the linear interpolation
of the two neighbouring embeddings, re-normalised (or, ``interpolate=False``, the
nearest one, held).

Why a 10 ms stream and not GE2E alone. The Weighter reduces its input in blocks of
15 frames (kernel == stride 15) and its curves move in steps of one block. With
this front-end a block is 150 ms, so speaker turns can be placed to about 150 ms.
Feeding GE2E windows alone (one per 100 ms at best, each summarising 1.6 s) would
make each block cover 15 windows = 1.5 s of hop and blur turns over more than a
second. So ``SpeechFrontend`` keeps the fine time resolution of the log-mels and
adds, on every frame, the GE2E embedding of the 1.6 s window centred on it - the
speaker identity, computed every ``ge2e_hop`` frames and interpolated in between.

Scale note: log-mel values span roughly -14 .. +5 while GE2E components lie in
[0, ~0.5] (unit norm, non-negative); ``SpeechFrontend(ge2e_scale=...)`` multiplies
the GE2E part if a model needs the two on a comparable scale. The id records a
non-default scale.

Speed: 60 s of audio (600 GE2E windows at ``ge2e_hop=10``) takes about 4.4 s on one
CPU thread here. The batched LSTM is several times slower with 2 OpenMP threads on a
busy 2-core machine (38 s measured under load), so callers may want
``torch.set_num_threads(1)`` there. Cost scales with ``1 / ge2e_hop``.

Core code: no Qt import. torch and torchaudio are imported at module import.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torchaudio
from torch import Tensor, nn

from weighter_gui.core.io.resources import WeightsFileError, default_ge2e_weights
from weighter_gui.core.model.weights import read_tensors

__all__ = [
    "FRAME_HOP_S",
    "HOP_LENGTH",
    "N_FFT",
    "SAMPLE_RATE",
    "FrontendError",
    "FrontendWeightsError",
    "GE2EEncoder",
    "LogMelFrontend",
    "SpeechFrontend",
    "frame_times",
    "num_frames",
    "speech_frontend_id",
]

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
FRAME_HOP_S = HOP_LENGTH / SAMPLE_RATE  # 0.01
GE2E_MELS = 40
GE2E_DIM = 256
GE2E_LAYERS = 3
GE2E_WINDOW_FRAMES = 160  # 1.6 s, resemblyzer's partials_n_frames
MEL_BLOCK_FRAMES = 30000  # 5 min: GE2EEncoder.mel transforms longer audio in blocks of this many frames
GE2E_NORM_DBFS = -30.0  # resemblyzer's audio_norm_target_dBFS (increase only)
LOG_EPS = 1e-6


class FrontendError(RuntimeError):
    """Base class of front-end errors."""


class FrontendWeightsError(WeightsFileError, FrontendError):
    """The GE2E weights file is missing, unreadable or not the expected tensors."""

    remedy = ("regenerate it with `python packaging/convert_ge2e.py Resemblyzer-0.1.4-py3-none-any.whl {path}` "
              "(see resources/README.md)")


# ----------------------------------------------------------------------------- frame grid


def num_frames(num_samples: int) -> int:
    """Frames of the shared 10 ms grid for ``num_samples`` samples at 16 kHz."""
    return 1 + int(num_samples) // HOP_LENGTH


def frame_times(n_frames: int) -> np.ndarray:
    """Centre time in seconds of each frame: ``t * 0.01``."""
    return np.arange(n_frames, dtype=np.float64) * FRAME_HOP_S


def _as_audio_tensor(audio: np.ndarray | Tensor) -> Tensor:
    wav = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not isinstance(audio, Tensor) else audio)
    wav = wav.to(torch.float32)
    if wav.ndim != 1:
        raise ValueError(f"audio must be 1-D mono samples at {SAMPLE_RATE} Hz, got shape {tuple(wav.shape)}")
    if wav.numel() <= N_FFT // 2:
        raise ValueError(
            f"audio too short: {wav.numel()} samples; at least {N_FFT // 2 + 1} "
            f"({(N_FFT // 2 + 1) / SAMPLE_RATE * 1000:.1f} ms) are needed"
        )
    if not torch.isfinite(wav).all():
        raise ValueError("audio contains NaN or infinite samples")
    return wav


def _mel_transform(n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=N_FFT,
        win_length=N_FFT,
        hop_length=HOP_LENGTH,
        f_min=0.0,
        f_max=SAMPLE_RATE / 2,
        n_mels=n_mels,
        window_fn=torch.hann_window,  # periodic, as librosa's get_window("hann", fftbins=True)
        power=2.0,
        center=True,
        pad_mode="reflect",
        norm="slaney",
        mel_scale="slaney",
    )


# ----------------------------------------------------------------------------- log-mel


class LogMelFrontend:
    """Log mel filterbank: ``log(power_mel + 1e-6)``, ``n_mels`` bands, 10 ms hop."""

    frame_hop_s = FRAME_HOP_S
    sample_rate = SAMPLE_RATE

    def __init__(self, n_mels: int = 64) -> None:
        if n_mels < 1:
            raise ValueError("n_mels must be positive")
        self.n_mels = int(n_mels)
        self._mel = _mel_transform(self.n_mels)

    @property
    def id(self) -> str:
        return f"logmel{self.n_mels}-10ms"

    @property
    def dim(self) -> int:
        return self.n_mels

    def tensor(self, audio: np.ndarray | Tensor) -> Tensor:
        wav = _as_audio_tensor(audio)
        with torch.inference_mode():
            return torch.log(self._mel(wav).T + LOG_EPS)  # [T, n_mels]

    def features(self, audio: np.ndarray | Tensor) -> np.ndarray:
        """``[num_frames(len(audio)), n_mels]`` float32."""
        return self.tensor(audio).numpy().astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- GE2E


def _volume_gain(wav: Tensor, target_dbfs: float = GE2E_NORM_DBFS) -> float:
    """The factor of resemblyzer's ``normalize_volume(wav, -30, increase_only=True)``."""
    # summed in float64 a million samples at a time: a float64 copy of an hour took 0.9 GB
    power = sum(float(torch.sum(part.double() ** 2)) for part in wav.split(1 << 20))
    rms = math.sqrt(power / max(len(wav), 1))
    if rms <= 0:
        return 1.0
    change_db = target_dbfs - 20.0 * math.log10(rms)
    return float(10 ** (change_db / 20)) if change_db > 0 else 1.0


class GE2EEncoder(nn.Module):
    """resemblyzer's VoiceEncoder network: mels ``[B, F, 40]`` -> unit vectors ``[B, 256]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(GE2E_MELS, GE2E_DIM, GE2E_LAYERS, batch_first=True)
        self.linear = nn.Linear(GE2E_DIM, GE2E_DIM)
        self.relu = nn.ReLU()
        self._mel = _mel_transform(GE2E_MELS)
        self.weights_path: Path | None = None

    @property
    def dim(self) -> int:
        return GE2E_DIM

    def forward(self, mels: Tensor) -> Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = self.relu(self.linear(hidden[-1]))
        # clamp: an all-zero ReLU output (never seen in practice) must not give NaN.
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)

    @classmethod
    def from_file(cls, path: Path | str | None = None) -> GE2EEncoder:
        """Load the safetensors weights (default ``resources/ge2e_encoder.safetensors``).

        Raises ``FrontendWeightsError`` (naming the file) when the file is missing,
        unreadable, not safetensors, or lacks / misshapes a tensor.
        """
        path = Path(path) if path is not None else default_ge2e_weights()
        if not path.exists():
            raise FrontendWeightsError(path, "GE2E weights file not found")
        if not path.is_file():
            raise FrontendWeightsError(path, "GE2E weights path is not a file")
        model = cls()
        expected = {name: tuple(p.shape) for name, p in model.state_dict().items() if not name.startswith("_mel")}
        tensors = read_tensors(path, expected, FrontendWeightsError)
        model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=False)
        model.weights_path = path
        return model.eval()

    def mel(self, audio: np.ndarray | Tensor, normalize: bool = True, block_frames: int = MEL_BLOCK_FRAMES) -> Tensor:
        """resemblyzer's (non-log) 40-band power mel, ``[num_frames(len(audio)), 40]``.

        Longer audio is transformed ``block_frames`` frames at a time, each block from
        the samples its frames read plus a margin: the same frames as one transform
        (only the file's own ends are reflect-padded), in bounded memory (one transform
        over an hour took 1.1 GB more than its blocks)."""
        wav = _as_audio_tensor(audio)
        gain = _volume_gain(wav) if normalize else 1.0
        frames = num_frames(len(wav))
        with torch.inference_mode():
            if frames <= block_frames:
                return self._mel(wav * gain).T.contiguous()
            out = torch.empty((frames, GE2E_MELS))
            margin = 2  # frames of samples before and after a block (>= N_FFT / 2 samples)
            for first in range(0, frames, block_frames):
                last = min(frames, first + block_frames)
                start = max(0, first - margin)
                piece = wav[start * HOP_LENGTH : (last + margin) * HOP_LENGTH] * gain
                out[first:last] = self._mel(piece).T[first - start : last - start]
            return out

    @torch.inference_mode()
    def embed_mels(self, windows: Tensor, batch_size: int = 128) -> Tensor:
        """``[N, F, 40]`` -> ``[N, 256]``, in batches."""
        outs = [self(windows[i : i + batch_size]) for i in range(0, windows.shape[0], batch_size)]
        return torch.cat(outs) if outs else windows.new_zeros((0, GE2E_DIM))

    def embed_utterance(self, audio: np.ndarray | Tensor, hop_frames: int = 50) -> np.ndarray:
        """One unit vector for a whole utterance: the normalised mean of its windows."""
        mel = self.mel(audio)
        starts = _window_starts(mel.shape[0], GE2E_WINDOW_FRAMES, hop_frames)
        width = min(GE2E_WINDOW_FRAMES, mel.shape[0])  # an utterance under one window is embedded whole
        emb = self.embed_mels(_gather_windows(mel, starts, width)).mean(0)
        return (emb / emb.norm().clamp_min(1e-12)).numpy()

    def window_embeddings(
        self,
        mel: Tensor,
        hop_frames: int = 10,
        window_frames: int = GE2E_WINDOW_FRAMES,
        batch_size: int = 128,
    ) -> tuple[np.ndarray, Tensor]:
        """Embeddings of windows centred on frames ``0, hop, 2*hop, ...`` (last >= T-1).

        Returns ``(centre_frames [K], embeddings [K, 256])``. A window centred on
        frame ``c`` covers frames ``c - window//2 .. c + window//2 - 1``, shifted to
        lie inside the utterance near its ends; shorter utterances are embedded whole.
        """
        if hop_frames < 1:
            raise ValueError("hop_frames must be >= 1")
        if window_frames < 1:
            raise ValueError("window_frames must be >= 1")
        total = mel.shape[0]
        n_centres = math.ceil((total - 1) / hop_frames) + 1
        centres = np.arange(n_centres, dtype=np.int64) * hop_frames
        width = min(window_frames, total)
        starts = np.clip(centres - window_frames // 2, 0, total - width)
        unique, inverse = np.unique(starts, return_inverse=True)
        emb = self.embed_mels(_gather_windows(mel, unique, width), batch_size)
        return centres, emb[torch.from_numpy(inverse.reshape(-1))]

    def frame_embeddings(
        self,
        audio: np.ndarray | Tensor,
        hop_frames: int = 10,
        window_frames: int = GE2E_WINDOW_FRAMES,
        interpolate: bool = True,
        batch_size: int = 128,
    ) -> Tensor:
        """One 256-d speaker vector per 10 ms frame: ``[num_frames(len(audio)), 256]``."""
        mel = self.mel(audio)
        centres, emb = self.window_embeddings(mel, hop_frames, window_frames, batch_size)
        return _to_frames(emb, mel.shape[0], hop_frames, interpolate)


def _window_starts(total: int, window: int, hop: int) -> np.ndarray:
    width = min(window, total)
    return np.arange(0, total - width + 1, hop, dtype=np.int64) if total > width else np.zeros(1, np.int64)


def _gather_windows(mel: Tensor, starts: np.ndarray, width: int) -> Tensor:
    """``mel [T, C]`` -> ``[len(starts), width, C]`` (views gathered into one tensor)."""
    views = mel.unfold(0, width, 1)  # [T - width + 1, C, width]
    return views[torch.from_numpy(np.asarray(starts, dtype=np.int64))].transpose(1, 2).contiguous()


def _to_frames(emb: Tensor, total: int, hop: int, interpolate: bool) -> Tensor:
    """Embeddings at frames ``0, hop, 2*hop, ...`` -> one per frame ``0..total-1``."""
    t = torch.arange(total)
    if not interpolate:
        return emb[torch.clamp(torch.div(t + hop // 2, hop, rounding_mode="floor"), max=emb.shape[0] - 1)]
    k0 = torch.div(t, hop, rounding_mode="floor")
    k1 = torch.clamp(k0 + 1, max=emb.shape[0] - 1)
    frac = ((t - k0 * hop).to(emb.dtype) / hop).unsqueeze(1)
    mixed = (1 - frac) * emb[k0] + frac * emb[k1]
    return mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True).clamp_min(1e-12)


# ----------------------------------------------------------------------------- combined


def speech_frontend_id(
    n_mels: int = 64,
    ge2e_hop: int = 10,
    window_frames: int = GE2E_WINDOW_FRAMES,
    ge2e_scale: float = 1.0,
    interpolate: bool = True,
) -> str:
    """``SpeechFrontend(...).id`` without loading the encoder's weights."""
    ident = f"logmel{n_mels}-ge2e{GE2E_DIM}-10ms"
    if ge2e_hop != 10:
        ident += f"-gh{ge2e_hop}"
    if window_frames != GE2E_WINDOW_FRAMES:
        ident += f"-gw{window_frames}"
    if ge2e_scale != 1.0:
        ident += f"-gs{ge2e_scale:g}"
    if not interpolate:
        ident += "-hold"
    return ident



class SpeechFrontend:
    """Log-mels + GE2E speaker embedding on every 10 ms frame: ``[T, n_mels + 256]``.

    Column order: ``n_mels`` log-mel bands, then the 256 GE2E components (times
    ``ge2e_scale``). Frame ``t`` is centred at ``t * frame_hop_s`` seconds and
    ``T = num_frames(len(audio)) = 1 + len(audio) // 160``.

    Why 10 ms frames: the Weighter's curves move in steps of one 15-frame block, so
    a 10 ms stream gives 150 ms steps; GE2E embeddings alone (one per >= 100 ms,
    each summarising 1.6 s) would give steps of well over a second. The GE2E part
    is computed every ``ge2e_hop`` frames on the 1.6 s window centred there and
    interpolated (``interpolate=True``) or held in between. See the module
    docstring for the details and for how the mel input differs from resemblyzer's.
    """

    frame_hop_s = FRAME_HOP_S
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        n_mels: int = 64,
        ge2e_hop: int = 10,
        window_frames: int = GE2E_WINDOW_FRAMES,
        ge2e_scale: float = 1.0,
        interpolate: bool = True,
        weights: Path | str | None = None,
        encoder: GE2EEncoder | None = None,
    ) -> None:
        if ge2e_hop < 1 or window_frames < 1:
            raise ValueError("ge2e_hop and window_frames must be >= 1")
        self.logmel = LogMelFrontend(n_mels)
        self.encoder = encoder if encoder is not None else GE2EEncoder.from_file(weights)
        self.ge2e_hop = int(ge2e_hop)
        self.window_frames = int(window_frames)
        self.ge2e_scale = float(ge2e_scale)
        self.interpolate = bool(interpolate)

    @property
    def n_mels(self) -> int:
        return self.logmel.n_mels

    @property
    def dim(self) -> int:
        return self.logmel.dim + GE2E_DIM

    @property
    def id(self) -> str:
        return speech_frontend_id(
            self.n_mels, self.ge2e_hop, self.window_frames, self.ge2e_scale, self.interpolate
        )

    def tensor(self, audio: np.ndarray | Tensor) -> Tensor:
        wav = _as_audio_tensor(audio)
        logmel = self.logmel.tensor(wav)
        spk = self.encoder.frame_embeddings(wav, self.ge2e_hop, self.window_frames, self.interpolate)
        if self.ge2e_scale != 1.0:
            spk = spk * self.ge2e_scale
        return torch.cat([logmel, spk], dim=1)

    def features(self, audio: np.ndarray | Tensor) -> np.ndarray:
        """``[num_frames(len(audio)), dim]`` float32 for 16 kHz mono ``audio``."""
        return self.tensor(audio).numpy().astype(np.float32, copy=False)
