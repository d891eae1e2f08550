"""The Weighter's math and plumbing, checked against the method's formulas.

Weightings W_j(X) = X_j / sum X, confidence C(X) = sum X^2 / sum X, embeddings as
X-weighted means of the input frames, block-wise curves (repeat_interleave of the
time reduction), padding that changes nothing, and the config round trip.
"""

import copy
import dataclasses
import json
import math

import pytest
import torch
from torchaudio.models.wav2vec2.components import (
    ConvolutionalPositionalEmbedding,
    Encoder,
    EncoderLayer,
    FeatureProjection,
    Transformer,
)
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention

from weighter_gui.core.model.weighter import (
    CosineClassifier,
    Weighter,
    WeighterConfig,
    WeighterOutput,
    claim_offset,
    confidence,
    overlap_offset,
    weightings,
)

CONFIG = WeighterConfig(
    input_dim=24,
    num_slots=4,
    num_classes=6,
    embed_dim=32,
    num_layers=1,
    num_heads=2,
    ff_dim=32,
    pos_conv_groups=4,
)
AWKWARD_LENGTHS = (1, 7, 14, 15, 16, 31, 44, 301)


READOUTS = {
    "linear": {"readout": "linear"},
    "slots": {"readout": "slots"},
    "attractors": {"readout": "attractors"},
    "attractors-compete": {"readout": "attractors", "attractor_compete_rounds": 2, "attractor_live_tokens": 1.0},
    "attractors-overlap": {"readout": "attractors", "attractor_compete_rounds": 2, "attractor_live_tokens": 1.0,
                           "attractor_overlap": True},
    "attractors-overlap-context": {"readout": "attractors", "attractor_compete_rounds": 2,
                                   "attractor_live_tokens": 1.0, "attractor_overlap": True,
                                   "overlap_channels": 8, "overlap_layers": 3, "overlap_context": 1},
}


@pytest.fixture(scope="module", params=list(READOUTS))
def model(request) -> Weighter:
    """Every model test runs on each read-out: the method's linear head, slot attention,
    attractors as found, attractors competing for tokens, and competing with the overlap gate
    (the block-alone detector, and the wider one that sees neighbouring blocks)."""
    torch.manual_seed(0)
    return Weighter(dataclasses.replace(CONFIG, **READOUTS[request.param])).eval()


def test_unknown_readout_is_refused():
    with pytest.raises(ValueError, match="readout"):
        Weighter(dataclasses.replace(CONFIG, readout="magic"))


def test_overlap_detector_without_attractors_is_refused():
    with pytest.raises(ValueError, match="attractors"):
        Weighter(dataclasses.replace(CONFIG, readout="linear", attractor_overlap=True))


def _hand_embeddings(curves: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """e_n = sum_t X_n(t) h_t / sum_t X_n(t), one slot at a time, in float64 (0 for X = 0)."""
    batch, slots, _ = curves.shape
    out = torch.zeros(batch, slots, features.shape[-1], dtype=torch.float64)
    for b in range(batch):
        for n in range(slots):
            x = curves[b, n].double()
            if x.sum() > 0:
                out[b, n] = (x[:, None] * features[b].double()).sum(0) / x.sum()
    return out


# --- weightings and confidence ----------------------------------------------------


@pytest.mark.parametrize(
    "x, expected",
    [
        ([1.0, 0.0, 0.0, 1.0], 1.0),
        ([0.5, 0.5], 0.5),
        ([1.0, 0.5], (1.0 + 0.25) / 1.5),
        ([0.2], 0.2),
        ([0.0, 0.0, 0.3, 0.0], 0.3),
        ([1.0, 0.0, 0.0, 0.0], 1.0),
        ([0.8, 0.4, 0.2], (0.64 + 0.16 + 0.04) / 1.4),
    ],
)
def test_confidence_hand_computed(x, expected):
    assert confidence(torch.tensor(x)).item() == pytest.approx(expected, rel=1e-6)


def test_weightings_hand_computed():
    torch.testing.assert_close(weightings(torch.tensor([1.0, 0.5])), torch.tensor([2 / 3, 1 / 3]))
    torch.testing.assert_close(
        weightings(torch.tensor([1.0, 0.0, 0.0, 1.0])), torch.tensor([0.5, 0.0, 0.0, 0.5])
    )


def test_confidence_is_x_averaged_with_weights_x():
    torch.manual_seed(1)
    x = torch.rand(3, 5, 50, dtype=torch.float64)
    c = confidence(x)
    assert c.shape == (3, 5)
    torch.testing.assert_close(c, (x * weightings(x)).sum(-1))
    torch.testing.assert_close(c, (x**2).sum(-1) / x.sum(-1))
    # An X-weighted mean lies between the plain mean (Cauchy-Schwarz) and the max.
    assert torch.all(c >= x.mean(-1) - 1e-12)
    assert torch.all(c <= x.amax(-1) + 1e-12)
    # ... and is not the plain mean: peaky curves are more confident than flat ones.
    assert torch.all(c > x.mean(-1) + 1e-3)


def test_weightings_sum_to_one_and_keep_shape():
    torch.manual_seed(2)
    x = torch.rand(4, 3, 37)
    x[0, 0, :30] = 0.0  # mostly silent, still non-zero
    w = weightings(x)
    assert w.shape == x.shape
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 3))
    assert torch.all(w >= 0)
    # Proportional to X: ratios between frames are those of X.
    torch.testing.assert_close(w[1, 2, 5] / w[1, 2, 9], x[1, 2, 5] / x[1, 2, 9])


def test_all_zero_curve_gives_zero_not_nan_with_finite_gradient():
    x = torch.zeros(2, 3, 20, requires_grad=True)
    c = confidence(x)
    w = weightings(x)
    assert torch.equal(c, torch.zeros(2, 3))
    assert torch.equal(w, torch.zeros(2, 3, 20))
    (c.sum() + w.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_zero_curve_next_to_non_zero_ones():
    x = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.5]], requires_grad=True)
    c = confidence(x)
    assert c[0].item() == 0.0
    assert c[1].item() == pytest.approx(1.25 / 1.5)
    c.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("a", [1.0, 0.7, 0.25, 1e-2, 1e-4])
def test_scaling_keeps_weighting_and_scales_confidence(a):
    """Confidence and weighting are independent: like a vector's magnitude and direction."""
    torch.manual_seed(3)
    x = torch.rand(3, 4, 60)
    torch.testing.assert_close(weightings(a * x), weightings(x), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(confidence(a * x), a * confidence(x), rtol=1e-5, atol=0.0)


def test_confidence_in_unit_interval():
    torch.manual_seed(4)
    cases = [
        torch.rand(200, 33),
        (torch.rand(200, 33) > 0.5).float(),  # binary curves: C = 1 whenever any 1
        torch.rand(200, 33) ** 8,  # peaky, mostly near 0
        torch.rand(200, 1),
        torch.ones(5, 7),
        torch.zeros(5, 7),
    ]
    for x in cases:
        c = confidence(x)
        assert torch.isfinite(c).all()
        assert c.min() >= 0.0 and c.max() <= 1.0 + 1e-6
    binary = cases[1]
    has_one = binary.sum(-1) > 0
    torch.testing.assert_close(confidence(binary)[has_one], torch.ones(int(has_one.sum())))
    torch.testing.assert_close(confidence(torch.ones(5, 7)), torch.ones(5))


# --- Weighter forward -------------------------------------------------------------


@pytest.mark.parametrize("frames", AWKWARD_LENGTHS)
def test_forward_shapes_ranges_and_formulas(model, frames):
    torch.manual_seed(frames)
    features = torch.randn(2, frames, CONFIG.input_dim)
    with torch.no_grad():
        out = model(features)
    assert isinstance(out, WeighterOutput)
    n = CONFIG.num_slots
    assert out.curves.shape == (2, n, frames)
    assert out.confidences.shape == (2, n)
    assert out.embeddings.shape == (2, n, CONFIG.input_dim)
    assert out.mask.shape == (2, frames) and out.mask.all()
    assert torch.isfinite(out.curves).all()
    assert out.curves.min() >= 0.0 and out.curves.max() <= 1.0
    # sigmoid of a finite logit: strictly inside (0, 1) on real frames (competition
    # gives a slot with too little speech exactly nothing)
    if not model.config.attractor_compete_rounds:
        assert out.curves.min() > 0.0
    torch.testing.assert_close(out.confidences, confidence(out.curves))
    torch.testing.assert_close(
        out.embeddings.double(), _hand_embeddings(out.curves, features), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("frames", AWKWARD_LENGTHS)
def test_curves_constant_within_blocks_of_time_reduction(model, frames):
    stride = CONFIG.time_reduction
    assert stride == 15
    torch.manual_seed(100 + frames)
    with torch.no_grad():
        curves = model(torch.randn(1, frames, CONFIG.input_dim)).curves
    block_start = (torch.arange(frames) // stride) * stride
    torch.testing.assert_close(curves, curves[..., block_start], rtol=0, atol=0)


def test_curves_change_from_block_to_block(model):
    """The blocks are the time resolution: values differ between blocks."""
    torch.manual_seed(5)
    with torch.no_grad():
        curves = model(torch.randn(1, 301, CONFIG.input_dim)).curves
    block_values = curves[..., ::15]  # [1, N, 21]
    assert block_values.shape[-1] == math.ceil(301 / 15)
    assert (block_values.diff(dim=-1).abs() > 1e-6).float().mean() > 0.5


@pytest.mark.parametrize(
    "strides, reduction, channels",
    [((2, 2), 5, 5), ((3,), 12, 2), ((5, 3), 100, 1), ((2, 3, 2), 7, 4)],
)
def test_time_strides_and_channel_reduction_configurable(strides, reduction, channels):
    config = dataclasses.replace(CONFIG, time_strides=strides, channel_reduction=reduction)
    block = math.prod(strides)
    assert config.time_reduction == block
    assert config.conv_channels == channels == max(1, math.ceil(CONFIG.input_dim / reduction))
    torch.manual_seed(6)
    model = Weighter(config).eval()
    convs = [m for m in model.reduce if isinstance(m, torch.nn.Conv1d)]
    assert [c.stride[0] for c in convs] == list(strides)
    assert [c.kernel_size[0] for c in convs] == list(strides)
    assert convs[0].in_channels == CONFIG.input_dim
    assert all(c.out_channels == channels for c in convs)
    assert model.encoder.feature_projection.layer_norm.normalized_shape == (channels,)

    frames = 10 * block + block // 2 + 1  # a partial last block
    with torch.no_grad():
        curves = model(torch.randn(2, frames, CONFIG.input_dim)).curves
    assert curves.shape == (2, CONFIG.num_slots, frames)
    start = (torch.arange(frames) // block) * block
    torch.testing.assert_close(curves, curves[..., start], rtol=0, atol=0)
    if block > 1:
        # Not coarser than asked: neighbouring blocks differ.
        values = curves[..., ::block]
        assert (values.diff(dim=-1).abs() > 1e-6).any()


def test_padded_batch_equals_items_alone(model):
    # In float64, so that only a real leak of padding could reach the tolerance: in
    # float32 the attractors' sharp sigmoids lift summation-order noise to ~1e-5.
    model = copy.deepcopy(model).double()
    torch.manual_seed(7)
    lengths = [7, 40, 100]
    items = [torch.randn(1, t, CONFIG.input_dim, dtype=torch.float64) for t in lengths]
    frames = max(lengths)
    batch = 1e3 * torch.randn(len(lengths), frames, CONFIG.input_dim, dtype=torch.float64)  # garbage padding
    for b, item in enumerate(items):
        batch[b, : lengths[b]] = item[0]
    with torch.no_grad():
        out = model(batch, torch.tensor(lengths))
        alone = [model(item) for item in items]
    for b, (t, single) in enumerate(zip(lengths, alone)):
        torch.testing.assert_close(out.curves[b, :, :t], single.curves[0], rtol=0, atol=1e-9)
        torch.testing.assert_close(out.confidences[b], single.confidences[0], rtol=0, atol=1e-9)
        torch.testing.assert_close(out.embeddings[b], single.embeddings[0], rtol=0, atol=1e-9)
        assert torch.equal(out.mask[b], torch.arange(frames) < t)
        assert torch.all(out.curves[b, :, t:] == 0.0)


def test_padded_item_with_lengths_equals_unpadded_call(model):
    """Passing full lengths is the same as passing none."""
    torch.manual_seed(8)
    features = torch.randn(2, 44, CONFIG.input_dim)
    with torch.no_grad():
        a = model(features)
        b = model(features, torch.tensor([44, 44]))
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


def test_padding_does_not_leak_into_real_frames(model):
    """Changing only the padding (including inside the item's last block) changes nothing."""
    torch.manual_seed(9)
    features = torch.randn(1, 50, CONFIG.input_dim)
    lengths = torch.tensor([37])  # last block holds frames 30..44; 37..44 are padding
    other = features.clone()
    other[:, 37:] = 1e4 * torch.randn(1, 13, CONFIG.input_dim)
    with torch.no_grad():
        a, b = model(features, lengths), model(other, lengths)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)


def test_uses_torchaudio_feature_projection_and_wavlm_encoder(model):
    assert isinstance(model.encoder, Encoder)
    assert isinstance(model.encoder.feature_projection, FeatureProjection)
    assert isinstance(model.encoder.transformer, Transformer)
    assert isinstance(model.encoder.transformer.pos_conv_embed, ConvolutionalPositionalEmbedding)
    layers = list(model.encoder.transformer.layers)
    assert len(layers) == CONFIG.num_layers
    for layer in layers:
        assert isinstance(layer, EncoderLayer)
        assert isinstance(layer.attention, WavLMSelfAttention)
    # gated relative position bias lives in the first layer's attention
    assert layers[0].attention.rel_attn_embed is not None
    assert layers[0].attention.gru_rel_pos


def _loss_backward(model: Weighter) -> None:
    from weighter_gui.core.model.losses import LossWeights, set_matching_loss

    torch.manual_seed(10)
    features = torch.randn(3, 61, CONFIG.input_dim)
    lengths = torch.tensor([61, 45, 20])
    out = model(features, lengths)
    logits = model.classify(out.embeddings)
    assert logits.shape == (3, CONFIG.num_slots, CONFIG.num_classes)
    parts = set_matching_loss(
        out.curves, out.confidences, logits, [[0, 3], [5], []], out.mask, LossWeights(coverage=1.0)
    )
    parts.total.backward()


# The pre-norm encoder's final layer norm, which Weighter._encode never applies
# (see test_encode_matches_torchaudio_transformer_forward).
UNUSED_FINAL_NORM = {"encoder.transformer.layer_norm.weight", "encoder.transformer.layer_norm.bias"}


def test_gradients_reach_conv_encoder_head_and_classifier():
    torch.manual_seed(10)
    model = Weighter(CONFIG).train()
    _loss_backward(model)
    params = dict(model.named_parameters())
    missing = [name for name, p in params.items() if p.grad is None]
    assert set(missing) <= UNUSED_FINAL_NORM, f"no gradient for {missing}"
    for name, p in params.items():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    groups = (
        "reduce.",
        "encoder.feature_projection.",
        "encoder.transformer.pos_conv_embed.",
        "encoder.transformer.layers.",
        "head.",
        "classifier.",
    )
    for prefix in groups:
        grads = [p.grad for name, p in params.items() if name.startswith(prefix)]
        assert grads and all(g is not None for g in grads), prefix
        assert all(g.abs().sum() > 0 for g in grads), f"a zero gradient under {prefix}"


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(10)
    model = Weighter(CONFIG).train()
    _loss_backward(model)
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_encode_matches_torchaudio_transformer_forward(model):
    """Without padding, _encode must equal torchaudio's own Encoder path ("the same way").

    _get_wavlm_encoder(layer_norm_first=True) builds Transformer(layer_norm_first=False),
    whose forward ends with ``x = self.layer_norm(x)``; _encode stops after the layers.
    """
    torch.manual_seed(12)
    tokens = torch.randn(2, 9, CONFIG.conv_channels)
    with torch.no_grad():
        ours = model._encode(tokens, torch.ones(2, 9, dtype=torch.bool))
        theirs = model.encoder.transformer(model.encoder.feature_projection(tokens))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("garbage", [float("nan"), float("inf")])
def test_non_finite_padding_does_not_reach_real_frames(model, garbage):
    torch.manual_seed(13)
    features = torch.randn(1, 50, CONFIG.input_dim)
    other = features.clone()
    other[:, 37:] = garbage
    lengths = torch.tensor([37])
    with torch.no_grad():
        a, b = model(features, lengths), model(other, lengths)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)


def test_cosine_classifier_logits():
    torch.manual_seed(11)
    head = CosineClassifier(dim=8, num_classes=5, scale=16.0)
    e = torch.randn(3, 4, 8)
    logits = head(e)
    assert logits.shape == (3, 4, 5)
    expected = 16.0 * torch.nn.functional.cosine_similarity(
        e[..., None, :], head.weight[None, None], dim=-1
    )
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(head(7.5 * e), logits)  # the norm of an embedding is ignored
    assert logits.abs().max() <= 16.0 + 1e-5


def test_classify_without_head_raises():
    model = Weighter(dataclasses.replace(CONFIG, num_classes=0))
    assert model.classifier is None
    with pytest.raises(RuntimeError):
        model.classify(torch.randn(1, 4, CONFIG.input_dim))


# --- WeighterConfig -----------------------------------------------------------------


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.num_slots = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.time_strides = (2, 2)  # type: ignore[misc]
    assert CONFIG.num_slots == 4


def test_config_dict_round_trip_through_json():
    config = dataclasses.replace(CONFIG, time_strides=(2, 3, 2), dropout=0.25, class_scale=8.0)
    d = config.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(WeighterConfig)}
    assert d["time_strides"] == [2, 3, 2]
    back = WeighterConfig.from_dict(json.loads(json.dumps(d)))
    assert back == config
    assert isinstance(back.time_strides, tuple)
    assert back.time_reduction == 12
    assert WeighterConfig.from_dict(WeighterConfig().to_dict()) == WeighterConfig()
    # a partial dict takes the defaults for the rest
    assert WeighterConfig.from_dict({"num_slots": 3}) == WeighterConfig(num_slots=3)


def test_config_from_dict_rejects_unknown_keys():
    d = CONFIG.to_dict()
    d["num_speakers"] = 3
    d["zz_extra"] = 1
    with pytest.raises(ValueError, match="num_speakers") as info:
        WeighterConfig.from_dict(d)
    assert "zz_extra" in str(info.value)


@pytest.mark.parametrize("rounds", [0, 2])
def test_attractor_slots_share_each_frame_at_most_once(rounds):
    """Stick breaking (and the softmax of competition): no frame is over-explained."""
    torch.manual_seed(3)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=rounds,
                                 attractor_live_tokens=1.0)
    model = Weighter(config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 301, CONFIG.input_dim))
    assert torch.all(out.curves.sum(dim=1) <= 1 + 1e-6)


def test_competition_gives_each_frame_to_the_nearer_attractor():
    """Two found attractors compete: tokens go to the one whose centre is closer, and a
    slot with too little speech to be live gets nothing."""
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=2,
                                 attractor_live_tokens=1.0)
    model = Weighter(config).eval()
    z = torch.tensor([[[1.0, 0.0], [0.9, 0.436], [0.436, 0.9], [0.0, 1.0]]])  # 4 tokens, unit norm
    speech = torch.ones(1, 4)
    # As found, slot 0 over-claimed token 2; slot 1 got the rest; slot 2 is a stray.
    found = torch.tensor([[[1.0, 1.0, 0.9, 0.0], [0.0, 0.0, 0.1, 1.0], [0.0, 0.5, 0.0, 0.0]]])
    out = model._compete(found, z, speech, torch.tensor(20.0))
    assert out[0, 0, :2].min() > 0.9 and out[0, 1, 2:].min() > 0.9  # token 2 moved to slot 1
    assert torch.all(out[0, 2] == 0)  # not live: nothing
    assert torch.allclose(out.sum(1), speech)


def test_overlap_gate_lets_the_runner_up_share_a_token():
    """Closed, the gate leaves competition's one winner per token; open, the runner-up
    gets the token's speech too (two people at once), and a slot that is not live still
    gets nothing."""
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=2,
                                 attractor_live_tokens=1.0, attractor_overlap=True)
    model = Weighter(config).eval()
    z = torch.tensor([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]])  # token 1 lies between the two voices
    speech = torch.tensor([[1.0, 0.8, 1.0]])
    found = torch.tensor([[[1.0, 0.8, 0.0], [0.0, 0.0, 1.0], [0.0, 0.4, 0.0]]])
    closed = model._compete(found, z, speech, torch.tensor(20.0), torch.zeros(1, 3))
    opened = model._compete(found, z, speech, torch.tensor(20.0), torch.tensor([[0.0, 1.0, 0.0]]))
    torch.testing.assert_close(closed.sum(1), speech)  # one share of speech per token
    assert closed[0, 1, 1] < 0.1
    torch.testing.assert_close(opened[0, :2, 1], torch.tensor([0.8, 0.8]), atol=1e-3, rtol=0)
    torch.testing.assert_close(opened[..., [0, 2]], closed[..., [0, 2]])  # closed tokens: as before
    assert torch.all(opened[0, 2] == 0)


def test_a_single_runner_up_takes_the_whole_second_share():
    """overlap_runner_up="single": an open gate gives the token's speech to the nearest
    other live speaker only; "share" splits it among the others by softmax."""
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=2,
                                 attractor_live_tokens=1.0, attractor_overlap=True)
    z = torch.tensor([[[1.0, 0.0, 0.0], [0.7, 0.6, 0.39], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    speech = torch.ones(1, 4)
    found = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]])
    gate = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    out = {}
    for runner_up in ("share", "single"):
        model = Weighter(dataclasses.replace(config, overlap_runner_up=runner_up)).eval()
        out[runner_up] = model._compete(found, z, speech, torch.tensor(4.0), gate)[0, :, 1]
    assert out["single"][0] > 0.5 and out["single"][1] == pytest.approx(1.0) and out["single"][2] < 0.2
    assert 0.2 < out["share"][2] < out["share"][1] < 1.0  # the third speaker gets part of it
    with pytest.raises(ValueError, match="overlap_runner_up"):
        Weighter(dataclasses.replace(config, overlap_runner_up="both"))


def test_overlap_probability_is_returned_per_frame():
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=2,
                                 attractor_live_tokens=1.0, attractor_overlap=True)
    out = Weighter(config).eval()(torch.randn(2, 44, CONFIG.input_dim), torch.tensor([44, 20]))
    assert out.overlap.shape == (2, 44)
    assert torch.all(out.overlap[1, 20:] == 0) and torch.all((out.overlap[0] > 0) & (out.overlap[0] < 1))
    assert Weighter(CONFIG).eval()(torch.randn(1, 44, CONFIG.input_dim)).overlap is None


def test_offsets_shift_the_claim_threshold_and_the_overlap_logit_inside_the_block_only():
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, readout="attractors", attractor_compete_rounds=2,
                                 attractor_live_tokens=1.0, attractor_overlap=True)
    model = Weighter(config).eval()
    x, lengths = torch.randn(1, 44, CONFIG.input_dim), torch.tensor([44])
    with torch.no_grad():
        before = model(x, lengths).overlap
        claim = model.attractor_threshold.bias.clone()
        with claim_offset(model, 0.3), overlap_offset(model, 2.0):
            assert model.attractor_threshold.bias.item() == pytest.approx(claim.item() + 0.3)
            raised = model(x, lengths).overlap
        after = model(x, lengths).overlap
    torch.testing.assert_close(torch.logit(raised), torch.logit(before) + 2.0, atol=1e-4, rtol=0)
    torch.testing.assert_close(after, before)
    assert torch.equal(model.attractor_threshold.bias, claim)
    plain = Weighter(CONFIG).eval()
    with overlap_offset(plain, 2.0):  # no detector: nothing to shift
        assert plain(x, lengths).overlap is None
