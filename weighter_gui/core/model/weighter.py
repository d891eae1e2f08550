"""The Weighter: N weighting curves over time, one per speaker slot.

Read top-down: ``Weighter.forward`` takes frame features ``[B, T, D]`` and returns
per-slot curves ``X`` (values in [0, 1] at the input frame rate), their confidences
``C(X) = sum X^2 / sum X`` and embeddings (X-weighted averages of the frame vectors).

Layout, as in the method (docs: shared weighter-method.md):
  two strided 1-D convolutions (channels / 12, time / 15)
  -> torchaudio's WavLM encoder (FeatureProjection + Transformer)
  -> linear head to N slots, sigmoid
  -> repeat_interleave back to the input frame rate.

The read-out is configurable, and the product trains ``readout="attractors"``:

- ``"linear"``, the method's head, decides each token alone. Measured in the
  simulation study, it learns a content hash: each voice goes to a slot picked by
  the direction of its vector, so two voices it never heard can land in one slot.
- ``"slots"``: slot attention (Locatello et al., 2020), learned slots competing for
  the tokens. It learned no better than the linear head here.
- ``"attractors"``: slots found one after another. Each starts at the densest token
  no earlier slot explains, moves by mean shift to the centre of the tokens it
  claims, and claims by cosine in a space that joins a learned part to the blocks'
  own speaker vectors. No slot has a learned identity, so unseen voices do not
  collide, and stick breaking leaves an unneeded slot nothing (confidence ~0).
  The curves, confidences, embeddings and the loss are the method's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchaudio.models.wav2vec2.components import FeatureProjection, _get_wavlm_encoder

# Denominator floor: an all-zero curve gets weighting 0 and confidence 0, not NaN.
_EPS = 1e-8


@dataclass(frozen=True)
class WeighterConfig:
    """Hyper-parameters of one Weighter. Stored in every checkpoint header."""

    input_dim: int = 64
    # Embeddings average only the last speaker_dim input channels (the speaker
    # features of the speech front-end); 0 averages all of them.
    speaker_dim: int = 0
    num_slots: int = 8
    num_classes: int = 0  # training speakers of the classification head (0: no head)
    channel_reduction: int = 12  # conv channels = ceil(input_dim / channel_reduction)
    time_strides: tuple[int, ...] = (5, 3)  # product is the time reduction (15)
    embed_dim: int = 128  # transformer width
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 256
    pos_conv_kernel: int = 16
    pos_conv_groups: int = 8
    num_buckets: int = 64  # relative position buckets of WavLM's attention bias
    max_distance: int = 256
    dropout: float = 0.1
    class_scale: float = 16.0  # logit scale of the cosine classification head
    readout: str = "linear"  # "linear" (the method's head), "slots" or "attractors"
    readout_rounds: int = 2  # refinement rounds of the "slots" and "attractors" read-outs
    attractor_dim: int = 32  # token space in which the "attractors" read-out clusters
    # After the attractors are found, those with at least attractor_live_tokens of
    # speech share each token's speech by cosine for this many rounds (k-means-like):
    # the claim threshold then decides only how many speakers there are, not who
    # gets a token. 0 keeps the found curves (how the default model was trained).
    attractor_compete_rounds: int = 0
    attractor_live_tokens: float = 14.0
    # With competition: an overlap detector (a small convolution over the input frames
    # beside the transformer's token) gates each token, letting the second-nearest live
    # speaker share it too, so two people talking at once are both heard.
    attractor_overlap: bool = False
    # The detector's size: frame-convolution width, dilated layers (dilation doubles
    # per layer), and blocks seen on each side (0: the block alone, pooled by mean;
    # above 0: mean and max pooled, then a convolution over neighbouring blocks).
    overlap_channels: int = 32
    overlap_layers: int = 2
    overlap_context: int = 0
    # Who gets an overlapped token's second share: "share" (the other live speakers,
    # split by softmax of their cosines) or "single" (only the nearest of them).
    overlap_runner_up: str = "share"

    def __post_init__(self) -> None:
        if self.overlap_runner_up not in ("share", "single"):
            raise ValueError(f"overlap_runner_up must be 'share' or 'single', got {self.overlap_runner_up!r}")

    @property
    def time_reduction(self) -> int:
        return math.prod(self.time_strides)

    @property
    def embedding_dim(self) -> int:
        return self.speaker_dim or self.input_dim

    @property
    def conv_channels(self) -> int:
        return max(1, math.ceil(self.input_dim / self.channel_reduction))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time_strides"] = list(self.time_strides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "WeighterConfig":
        """Build from a header dict; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        d = dict(d)
        if "time_strides" in d:
            d["time_strides"] = tuple(int(s) for s in d["time_strides"])
        return cls(**d)


class WeighterOutput(NamedTuple):
    curves: Tensor  # [B, N, T] in [0, 1]; 0 on padded frames
    confidences: Tensor  # [B, N]
    embeddings: Tensor  # [B, N, D]
    mask: Tensor  # [B, T] True on real (non-padded) frames
    overlap: Tensor | None = None  # [B, T] overlap probability (attractor_overlap only)


def weightings(x: Tensor) -> Tensor:
    """W_j(X) = X_j / sum_i X_i over the last axis (0 for an all-zero curve)."""
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def confidence(x: Tensor) -> Tensor:
    """C(X) = sum X^2 / sum X over the last axis: X averaged with weights X."""
    return (x * x).sum(dim=-1) / x.sum(dim=-1).clamp_min(_EPS)


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


@contextmanager
def _bias_shifted(bias: Tensor, offset: float) -> Iterator[None]:
    base = bias.detach().clone()
    with torch.no_grad():
        bias.add_(offset)
    try:
        yield
    finally:
        with torch.no_grad():
            bias.copy_(base)


@contextmanager
def claim_offset(model: Weighter, offset: float) -> Iterator[Weighter]:
    """The attractor read-out's claim threshold raised by ``offset`` inside the block.

    Calibration sweeps this offset on voices (or prototypes) the model never saw; the
    threshold learned on the training speakers is too lenient for new ones.
    """
    with _bias_shifted(model.attractor_threshold.bias, offset):
        yield model


@contextmanager
def overlap_offset(model: Weighter, offset: float) -> Iterator[Weighter]:
    """The overlap detector's logit raised by ``offset`` inside the block (a model
    without the detector is left as it is)."""
    if not model.config.attractor_overlap:
        yield model
        return
    with _bias_shifted(model.overlap_gate.bias, offset):
        yield model


class CosineClassifier(nn.Module):
    """Logits = scale * cos(embedding, class vector).

    Slot embeddings are weighted means of frame features, whose norm says more about
    noise than about the speaker; a cosine head learns directions only, and learns
    them fast (a plain linear head needs large weights before its logits separate).
    """

    def __init__(self, dim: int, num_classes: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) / math.sqrt(dim))
        self.scale = scale

    def forward(self, embeddings: Tensor) -> Tensor:
        e = nn.functional.normalize(embeddings, dim=-1)
        w = nn.functional.normalize(self.weight, dim=-1)
        return self.scale * e @ w.T


class Weighter(nn.Module):
    def __init__(self, config: WeighterConfig):
        super().__init__()
        self.config = config
        if not 0 <= config.speaker_dim <= config.input_dim:
            raise ValueError("speaker_dim must be between 0 and input_dim")
        if config.attractor_overlap and config.readout != "attractors":
            raise ValueError("the overlap detector (attractor_overlap) needs readout='attractors'")
        c = config.conv_channels
        # Per-channel input standardisation, set from training data (set_feature_stats)
        # and stored with the weights: log-mels and unit-norm speaker vectors differ in
        # scale by two orders of magnitude.
        self.register_buffer("feature_mean", torch.zeros(config.input_dim))
        self.register_buffer("feature_std", torch.ones(config.input_dim))
        convs: list[nn.Module] = []
        in_ch = config.input_dim
        for stride in config.time_strides:
            # kernel == stride: blocks never overlap, so a padded batch sees exactly
            # the same blocks as each item alone.
            convs += [nn.Conv1d(in_ch, c, kernel_size=stride, stride=stride), nn.GELU()]
            in_ch = c
        self.reduce = nn.Sequential(*convs)
        self.encoder = _get_wavlm_encoder(
            in_features=c,
            embed_dim=config.embed_dim,
            dropout_input=config.dropout,
            pos_conv_kernel=config.pos_conv_kernel,
            pos_conv_groups=config.pos_conv_groups,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            num_buckets=config.num_buckets,
            max_distance=config.max_distance,
            attention_dropout=config.dropout,
            ff_interm_features=config.ff_dim,
            ff_interm_dropout=config.dropout,
            dropout=config.dropout,
            layer_norm_first=True,
            layer_drop=0.0,
        )
        assert isinstance(self.encoder.feature_projection, FeatureProjection)
        if config.readout == "linear":
            self.head = nn.Sequential(
                nn.LayerNorm(config.embed_dim), nn.Linear(config.embed_dim, config.num_slots)
            )
        elif config.readout == "slots":
            e = config.embed_dim
            self.slot_init = nn.Parameter(torch.randn(config.num_slots, e) * e**-0.5)
            self.token_norm = nn.LayerNorm(e)
            self.slot_norm = nn.LayerNorm(e)
            self.to_q = nn.Linear(e, e, bias=False)
            self.to_k = nn.Linear(e, e, bias=False)
            self.to_v = nn.Linear(e, e, bias=False)
            self.slot_gru = nn.GRUCell(e, e)
            self.slot_mlp = nn.Sequential(
                nn.LayerNorm(e), nn.Linear(e, config.ff_dim), nn.GELU(), nn.Linear(config.ff_dim, e)
            )
            self.slot_bias = nn.Parameter(torch.zeros(config.num_slots))
        elif config.readout == "attractors":
            self.token_norm = nn.LayerNorm(config.embed_dim)
            self.to_space = nn.Linear(config.embed_dim, config.attractor_dim)
            # sharpness and threshold of a token's curve: sigmoid(scale * (cos - threshold))
            self.attractor_log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
            # the claim threshold is set per file from the file's tokens: the noisier the
            # file, the lower the cosine of a speaker's tokens to their centre
            self.attractor_threshold = nn.Linear(config.embed_dim, 1)
            nn.init.zeros_(self.attractor_threshold.weight)
            nn.init.constant_(self.attractor_threshold.bias, 0.5)
            # how much of each token is speech at all: silence is nobody's
            self.attractor_activity = nn.Linear(config.embed_dim, 1)
            nn.init.zeros_(self.attractor_activity.weight)
            nn.init.constant_(self.attractor_activity.bias, 3.0)
            # angle between the learned token space and the blocks' own speaker vectors
            self.attractor_mix = nn.Parameter(torch.tensor(math.pi / 4))
            if config.attractor_overlap:
                self._build_overlap_detector(config)
        else:
            raise ValueError(
                f"readout must be 'linear', 'slots' or 'attractors', got {config.readout!r}"
            )
        self.classifier = (
            CosineClassifier(config.embedding_dim, config.num_classes, config.class_scale)
            if config.num_classes > 0
            else None
        )

    def _build_overlap_detector(self, config: WeighterConfig) -> None:
        # Two voices at once show in the fine spectrum (two pitch tracks), which the
        # strided token convolutions average away: a frame-rate detector.
        width = config.overlap_channels
        layers: list[nn.Module] = []
        for i in range(config.overlap_layers):
            dilation = 2**i
            layers += [nn.Conv1d(config.input_dim if i == 0 else width, width, 5,
                                 padding=2 * dilation, dilation=dilation), nn.GELU()]
        self.overlap_frames = nn.Sequential(*layers)
        gate_in = width + config.embed_dim
        if config.overlap_context:
            k = 2 * config.overlap_context + 1
            self.overlap_blocks = nn.Sequential(
                nn.Conv1d(2 * width + config.embed_dim, width, k, padding=config.overlap_context), nn.GELU()
            )
            gate_in = width
        self.overlap_gate = nn.Linear(gate_in, 1)
        # starts nearly closed (sigmoid(-3) = 0.05): a fine-tuned model begins as its init
        nn.init.zeros_(self.overlap_gate.weight)
        nn.init.constant_(self.overlap_gate.bias, -3.0)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> WeighterOutput:
        """features: [B, T, D]; lengths: [B] valid frames per item (None: all T)."""
        batch, frames, _ = features.shape
        if lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long, device=features.device)
        mask = lengths_to_mask(lengths, frames)
        stride = self.config.time_reduction
        blocks = math.ceil(frames / stride)
        # Zero the padding and pad to whole blocks, so the last partial block of an item
        # holds the same values whether it is alone or in a longer batch.
        features = features.masked_fill(~mask[..., None], 0.0)  # NaN * 0 would still be NaN
        x = ((features - self.feature_mean) / self.feature_std).masked_fill(~mask[..., None], 0.0)
        x = nn.functional.pad(x, (0, 0, 0, blocks * stride - frames))
        tokens = self.reduce(x.transpose(1, 2)).transpose(1, 2)  # [B, blocks, C]
        token_lengths = torch.div(lengths + stride - 1, stride, rounding_mode="floor")
        token_mask = lengths_to_mask(token_lengths, blocks)
        hidden = self._encode(tokens, token_mask)  # [B, blocks, E]
        overlap = None
        if self.config.readout == "attractors":
            if self.config.attractor_overlap:
                overlap = self._overlap(x, hidden, token_mask)  # [B, blocks]
            block_curves = self._attractors(hidden, self._block_speaker(x, mask), token_mask, overlap)
        else:
            block_curves = self._block_curves(hidden, token_mask)  # [B, N, blocks]
        curves = block_curves.repeat_interleave(stride, dim=-1)[..., :frames]
        curves = curves * mask[:, None, :]
        speaker = features[..., -self.config.embedding_dim :]
        embeddings = torch.einsum("bnt,btd->bnd", weightings(curves), speaker)
        if overlap is not None:
            overlap = overlap.repeat_interleave(stride, dim=-1)[..., :frames] * mask
        return WeighterOutput(curves, confidence(curves), embeddings, mask, overlap)

    def _overlap(self, x: Tensor, hidden: Tensor, token_mask: Tensor) -> Tensor:
        """[B, blocks] probability that two or more people speak in each block."""
        batch, stride = x.shape[0], self.config.time_reduction
        local = self.overlap_frames(x.transpose(1, 2))  # [B, C, blocks * stride]
        local = local.reshape(batch, local.shape[1], -1, stride)
        if not self.config.overlap_context:
            joined = torch.cat([local.mean(-1).transpose(1, 2), hidden], dim=-1)
        else:
            # zero past each item's end, so a block's neighbours are the same alone or in a batch
            pooled = torch.cat([local.mean(-1), local.amax(-1), hidden.transpose(1, 2)], dim=1)
            pooled = pooled * token_mask[:, None, :]
            joined = self.overlap_blocks(pooled).transpose(1, 2)
        return torch.sigmoid(self.overlap_gate(joined))[..., 0]

    def _block_curves(self, hidden: Tensor, token_mask: Tensor) -> Tensor:
        """[B, N, blocks] curve values of each slot on each token (linear and slots)."""
        if self.config.readout == "linear":
            logits = self.head(hidden)
        else:
            logits = self._slot_attention(hidden, token_mask)
        return torch.sigmoid(logits).transpose(1, 2)

    def _block_speaker(self, x: Tensor, mask: Tensor) -> Tensor:
        """[B, blocks, D] mean (standardised) speaker vector of each block's real frames.

        x: [B, blocks * stride, input_dim], zero past each item's end; mask: [B, T].
        """
        batch, padded, _ = x.shape
        stride = self.config.time_reduction
        speaker = x[..., -self.config.embedding_dim :].reshape(batch, padded // stride, stride, -1)
        real = nn.functional.pad(mask, (0, padded - mask.shape[1])).reshape(batch, -1, stride)
        return speaker.sum(2) / real.sum(2, keepdim=True).clamp_min(1)

    def _attractors(
        self, hidden: Tensor, block_speaker: Tensor, token_mask: Tensor, overlap: Tensor | None = None
    ) -> Tensor:
        """Slots found one after another, each on the tokens the earlier ones left.

        Slot n starts at the densest token not yet explained (a seed picked without
        gradient, so no learned slot identity can collide), moves by mean shift to the
        centre of the tokens it claims, and claims a token by its cosine to that
        centre. Its curve is that claim times what earlier slots left of the token's
        speech (stick breaking), so a slot past the file's last speaker finds nothing
        left and its confidence falls to about 0.
        """
        # The token space joins a learned part (context, denoising) to the blocks' own
        # speaker vectors, which keep voices never heard in training apart.
        tokens = self.token_norm(hidden)
        learned = nn.functional.normalize(self.to_space(tokens), dim=-1)
        own = nn.functional.normalize(block_speaker, dim=-1)
        mix = self.attractor_mix
        z = torch.cat([learned * torch.cos(mix), own * torch.sin(mix)], dim=-1)  # [B, L, d + D], unit norm
        scale = self.attractor_log_scale.exp()
        pooled = (hidden * token_mask[..., None]).sum(1) / token_mask.sum(1, keepdim=True).clamp_min(1)
        threshold = self.attractor_threshold(pooled)  # [B, 1]
        speech = torch.sigmoid(self.attractor_activity(tokens))[..., 0] * token_mask
        with torch.no_grad():
            similarity = z @ z.transpose(1, 2)  # [B, L, L]
            density = (torch.exp(scale * (similarity - 1)) * speech[:, None, :]).sum(-1)
        rows = torch.arange(z.shape[0], device=z.device)
        left = speech  # share of each token's speech no earlier slot explains
        curves = []
        for _ in range(self.config.num_slots):
            with torch.no_grad():
                seed = (density * left.detach()).masked_fill(~token_mask, -1.0).argmax(-1)
            centre = z[rows, seed]  # [B, d]
            for _ in range(self.config.readout_rounds):
                claim = torch.sigmoid(scale * (torch.einsum("bld,bd->bl", z, centre) - threshold)) * left
                centre = nn.functional.normalize(torch.einsum("bl,bld->bd", claim, z) + _EPS * centre, dim=-1)
            claim = torch.sigmoid(scale * (torch.einsum("bld,bd->bl", z, centre) - threshold))
            curves.append(claim * left)
            left = left * (1 - claim)
        curves = torch.stack(curves, dim=1)  # [B, N, L]
        if self.config.attractor_compete_rounds:
            curves = self._compete(curves, z, speech, scale, overlap)
        return curves

    def _compete(
        self, curves: Tensor, z: Tensor, speech: Tensor, scale: Tensor, overlap: Tensor | None = None
    ) -> Tensor:
        """Live attractors share each token's speech by softmax of cosine to their centres.

        A fixed claim threshold splits tokens near it wrongly when a file's voices are
        closer (or looser) than the training voices were; relative assignment does not.
        ``overlap`` ([B, L], from ``attractor_overlap``) then raises the runner-up's
        curve toward the token's speech: a softmax gives one winner, overlap has two.
        """
        live = curves.sum(-1, keepdim=True) >= self.config.attractor_live_tokens  # [B, N, 1]
        share = curves
        for _ in range(self.config.attractor_compete_rounds):
            centre = nn.functional.normalize(torch.einsum("bnl,bld->bnd", share, z), dim=-1)
            logits = (scale * torch.einsum("bld,bnd->bnl", z, centre)).masked_fill(~live, -1e4)
            share = logits.softmax(1) * live * speech[:, None, :]
        if overlap is not None:
            others = logits.scatter(1, logits.argmax(1, keepdim=True), -1e4)
            if self.config.overlap_runner_up == "single":
                runner_up = nn.functional.one_hot(others.argmax(1), logits.shape[1]).transpose(1, 2) * live
            else:
                runner_up = others.softmax(1) * live
            share = share + overlap[:, None, :] * runner_up * (speech[:, None, :] - share)
        return torch.where(live.any(1, keepdim=True), share, curves)  # no live attractor: as found

    def _slot_attention(self, hidden: Tensor, token_mask: Tensor) -> Tensor:
        batch, _, e = hidden.shape
        scale = e**-0.5
        tokens = self.token_norm(hidden)
        keys, values = self.to_k(tokens), self.to_v(tokens)
        slots = self.slot_init.expand(batch, -1, -1)
        for _ in range(self.config.readout_rounds):
            queries = self.to_q(self.slot_norm(slots))
            share = torch.einsum("bte,bne->btn", keys, queries).mul(scale).softmax(-1)
            share = share * token_mask[..., None]  # padding wins nothing
            share = share / (share.sum(1, keepdim=True) + _EPS)
            updates = torch.einsum("btn,bte->bne", share, values)
            slots = self.slot_gru(updates.reshape(-1, e), slots.reshape(-1, e)).view(batch, -1, e)
            slots = slots + self.slot_mlp(slots)
        queries = self.to_q(self.slot_norm(slots))
        return torch.einsum("bte,bne->btn", keys, queries) * scale + self.slot_bias

    def set_feature_stats(self, mean: Tensor, std: Tensor) -> None:
        """Standardise inputs with these per-channel statistics (std floored at 1e-3)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def _encode(self, tokens: Tensor, token_mask: Tensor) -> Tensor:
        """torchaudio's WavLM Encoder, with padding passed as a key padding mask.

        ``Encoder.forward`` hands its padding mask to WavLM attention as an attention
        mask, which that attention rejects; so run its parts here, the same way.
        """
        x = self.encoder.feature_projection(tokens) * token_mask[..., None]
        transformer = self.encoder.transformer
        x = transformer._preprocess(x)
        padding = torch.zeros_like(x[..., 0]).masked_fill(~token_mask, float("-inf"))
        position_bias = None
        for layer in transformer.layers:
            x, position_bias = layer(x, position_bias=position_bias, key_padding_mask=padding)
        if not transformer.layer_norm_first:  # torchaudio inverts the flag for WavLM
            x = transformer.layer_norm(x)
        return x

    def classify(self, embeddings: Tensor) -> Tensor:
        """Training-speaker logits [..., num_classes] for slot embeddings."""
        if self.classifier is None:
            raise RuntimeError("this Weighter has no classification head (num_classes = 0)")
        return self.classifier(embeddings)
