"""The training objective: wBCE, Hungarian set matching of slots to likes, coverage.

The checks compare against the method's formulas (wBCE(y, p) = -y ln p + p, its
derivative -y/p + 1), against brute force (the assignment), and against hand-built
inputs whose loss can be written down term by term.
"""

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from weighter_gui.core.model.losses import (
    LossWeights,
    bce,
    coverage_loss,
    match_slots,
    overlap_loss,
    set_matching_loss,
    wbce,
)

Y_GRID = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)  # includes 0 and 1
P_GRID = torch.linspace(1e-3, 1.0, 1000, dtype=torch.float64)  # p in (0, 1]
P_STEP = float(P_GRID[1] - P_GRID[0])


# --- wBCE ---------------------------------------------------------------------------


@pytest.mark.parametrize("y", Y_GRID.tolist())
def test_wbce_minimum_is_at_p_equals_y(y):
    values = wbce(torch.full_like(P_GRID, y), P_GRID)
    p_best = P_GRID[values.argmin()].item()
    assert abs(p_best - y) <= P_STEP


@pytest.mark.parametrize("y", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_bce_minimum_is_at_p_equals_y_too(y):
    p = P_GRID[:-1]  # bce is clamped below 1
    values = bce(torch.full_like(p, y), p)
    assert abs(p[values.argmin()].item() - y) <= P_STEP


def _grad_wrt_p(loss_fn, y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    p = p.clone().requires_grad_(True)
    loss_fn(y, p).sum().backward()
    return p.grad


def test_wbce_derivative_is_minus_y_over_p_plus_one_and_at_most_one():
    y, p = torch.meshgrid(Y_GRID, P_GRID, indexing="ij")
    grad = _grad_wrt_p(wbce, y, p)
    torch.testing.assert_close(grad, -y / p + 1.0, rtol=1e-9, atol=1e-9)
    assert grad.max().item() <= 1.0
    # Large negative gradients remain where p is much too small for y = 1.
    assert grad[-1, 0].item() == pytest.approx(1.0 - 1.0 / 1e-3)


def test_wbce_value_formula():
    y, p = torch.meshgrid(Y_GRID, P_GRID, indexing="ij")
    torch.testing.assert_close(wbce(y, p), -y * torch.log(p) + p)
    assert wbce(torch.tensor(0.0), torch.tensor(0.3)).item() == pytest.approx(0.3)
    assert wbce(torch.tensor(1.0), torch.tensor(1.0)).item() == pytest.approx(1.0)


@pytest.mark.parametrize("y", [0.0, 0.5, 1.0])
def test_wbce_finite_at_p_zero(y):
    p = torch.tensor(0.0, requires_grad=True)
    value = wbce(torch.tensor(y), p)
    value.backward()
    assert math.isfinite(value.item())
    assert math.isfinite(p.grad.item())
    assert p.grad.item() <= 1.0


def test_bce_gradient_is_unbounded_where_wbce_stays_at_most_one():
    """A slot wrongly labelled 0 at high confidence: BCE pushes hard, wBCE by at most 1."""
    p = torch.tensor([0.5, 0.9, 0.99, 0.999], dtype=torch.float64)
    y = torch.zeros_like(p)
    g_bce = _grad_wrt_p(bce, y, p)
    g_wbce = _grad_wrt_p(wbce, y, p)
    torch.testing.assert_close(g_bce, 1.0 / (1.0 - p))  # d/dp of -ln(1 - p)
    assert g_bce.max().item() > 100.0
    assert (g_bce > 1.0).any()
    torch.testing.assert_close(g_wbce, torch.ones_like(p))
    # over the whole grid, bce exceeds 1 somewhere, wbce never
    yy, pp = torch.meshgrid(Y_GRID, P_GRID[:-1], indexing="ij")
    assert _grad_wrt_p(bce, yy, pp).max().item() > 1.0
    assert _grad_wrt_p(wbce, yy, pp).max().item() <= 1.0


# --- match_slots ----------------------------------------------------------------------


def _brute_force_cost(cost: torch.Tensor) -> float:
    """Minimum total cost of a one-to-one assignment of rows (slots) to columns (likes)."""
    n, k = cost.shape
    if n >= k:
        return min(
            sum(cost[slots[j], j].item() for j in range(k))
            for slots in itertools.permutations(range(n), k)
        )
    return min(
        sum(cost[i, likes[i]].item() for i in range(n))
        for likes in itertools.permutations(range(k), n)
    )


def _pair_cost(log_probs, confidences, likes, pairs) -> float:
    return sum(
        -log_probs[slot, likes[k]].item() - math.log(confidences[slot].item()) for slot, k in pairs
    )


@pytest.mark.parametrize("seed", range(12))
def test_match_slots_is_minimum_cost_assignment(seed):
    gen = torch.Generator().manual_seed(seed)
    n = [3, 4, 5][seed % 3]
    classes = 7
    k = [1, 2, 3, n][seed % 4]
    log_probs = F.log_softmax(3 * torch.randn(n, classes, generator=gen, dtype=torch.float64), -1)
    confidences = torch.rand(n, generator=gen, dtype=torch.float64).clamp_min(0.01)
    likes = torch.randperm(classes, generator=gen)[:k].tolist()
    pairs = match_slots(log_probs, confidences, likes)

    assert len(pairs) == k
    assert len({s for s, _ in pairs}) == k and {j for _, j in pairs} == set(range(k))
    assert pairs == sorted(pairs)
    cost = -log_probs[:, likes] - torch.log(confidences)[:, None]
    assert _pair_cost(log_probs, confidences, likes, pairs) == pytest.approx(
        _brute_force_cost(cost), abs=1e-9
    )


def test_match_slots_with_more_likes_than_slots():
    gen = torch.Generator().manual_seed(99)
    log_probs = F.log_softmax(torch.randn(2, 6, generator=gen, dtype=torch.float64), -1)
    confidences = torch.tensor([0.6, 0.3], dtype=torch.float64)
    likes = [0, 2, 4, 5]
    pairs = match_slots(log_probs, confidences, likes)
    assert len(pairs) == 2 and {s for s, _ in pairs} == {0, 1}
    cost = -log_probs[:, likes] - torch.log(confidences)[:, None]
    assert _pair_cost(log_probs, confidences, likes, pairs) == pytest.approx(
        _brute_force_cost(cost), abs=1e-9
    )


def test_match_slots_confidence_breaks_ties():
    """Two slots equally sure of the like: the more confident one is matched."""
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5]]))
    assert match_slots(log_probs, torch.tensor([0.2, 0.8, 0.9]), [0]) == [(1, 0)]
    assert match_slots(log_probs, torch.tensor([0.8, 0.2, 0.9]), [0]) == [(0, 0)]
    assert match_slots(log_probs, torch.tensor([0.8, 0.2, 0.9]), []) == []


# --- set_matching_loss ------------------------------------------------------------------


def _random_batch(seed: int, batch=3, slots=5, frames=23, classes=6):
    gen = torch.Generator().manual_seed(seed)
    curves = torch.rand(batch, slots, frames, generator=gen)
    confidences = torch.rand(batch, slots, generator=gen) * 0.9 + 0.05
    logits = 2 * torch.randn(batch, slots, classes, generator=gen)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    mask[1, 15:] = False
    return curves, confidences, logits, mask


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_wbce", [True, False])
def test_permuting_slots_leaves_loss_unchanged(seed, use_wbce):
    curves, confidences, logits, mask = _random_batch(seed)
    likes = [[0, 4], [2], [1, 3, 5]]
    weights = LossWeights(coverage=0.5, use_wbce=use_wbce)
    base = set_matching_loss(curves, confidences, logits, likes, mask, weights)

    perm = torch.randperm(curves.shape[1], generator=torch.Generator().manual_seed(100 + seed))
    inverse = torch.argsort(perm)  # old slot s sits at new position inverse[s]
    permuted = set_matching_loss(
        curves[:, perm], confidences[:, perm], logits[:, perm], likes, mask, weights
    )
    for name in ("total", "classification", "confidence", "coverage"):
        torch.testing.assert_close(getattr(permuted, name), getattr(base, name))
    for pairs_new, pairs_old in zip(permuted.matched, base.matched):
        assert pairs_new == sorted((inverse[s].item(), k) for s, k in pairs_old)


def _hand_built():
    """Item 0 likes classes [2, 0] (slot 2 is class 2, slot 0 is class 0); item 1 likes [1]."""
    big = 8.0
    logits = torch.zeros(2, 3, 4)
    logits[0, 0, 0] = big
    logits[0, 2, 2] = big
    logits[1, 1, 1] = big
    logits[1, 0, 1] = 1.0  # a weaker candidate for item 1's like
    confidences = torch.tensor([[0.9, 0.2, 0.7], [0.4, 0.6, 0.1]])
    curves = torch.rand(2, 3, 10)
    mask = torch.ones(2, 10, dtype=torch.bool)
    likes = [[2, 0], [1]]
    return curves, confidences, logits, likes, mask


def _ce(logits_row: torch.Tensor, target: int) -> float:
    return -F.log_softmax(logits_row, -1)[target].item()


def test_confidence_term_by_hand_wbce():
    curves, conf, logits, likes, mask = _hand_built()
    parts = set_matching_loss(curves, conf, logits, likes, mask)
    assert parts.matched == [[(0, 1), (2, 0)], [(1, 0)]]

    def w1(c):  # wBCE(1, C)
        return -math.log(c) + c

    c = conf.tolist()
    item0 = w1(c[0][0]) + w1(c[0][2]) + c[0][1]  # unmatched: wBCE(0, C) = C
    item1 = w1(c[1][1]) + c[1][0] + c[1][2]
    assert parts.confidence.item() == pytest.approx((item0 + item1) / 2, rel=1e-6)

    cls = (_ce(logits[0, 2], 2) + _ce(logits[0, 0], 0) + _ce(logits[1, 1], 1)) / 3
    assert parts.classification.item() == pytest.approx(cls, rel=1e-6)
    assert parts.coverage.item() == 0.0  # coverage weight 0: the method as published
    assert parts.total.item() == pytest.approx(cls + (item0 + item1) / 2, rel=1e-6)


def test_confidence_term_by_hand_bce():
    curves, conf, logits, likes, mask = _hand_built()
    parts = set_matching_loss(curves, conf, logits, likes, mask, LossWeights(use_wbce=False))
    c = conf.tolist()
    item0 = -math.log(c[0][0]) - math.log(c[0][2]) - math.log(1 - c[0][1])
    item1 = -math.log(c[1][1]) - math.log(1 - c[1][0]) - math.log(1 - c[1][2])
    assert parts.confidence.item() == pytest.approx((item0 + item1) / 2, rel=1e-6)
    wbce_parts = set_matching_loss(curves, conf, logits, likes, mask)
    assert parts.confidence.item() != pytest.approx(wbce_parts.confidence.item())
    assert parts.classification.item() == pytest.approx(wbce_parts.classification.item())


def test_loss_weights_scale_the_parts():
    curves, conf, logits, likes, mask = _hand_built()
    weights = LossWeights(classification=0.3, confidence=2.0, coverage=0.7)
    parts = set_matching_loss(curves, conf, logits, likes, mask, weights)
    expected = 0.3 * parts.classification + 2.0 * parts.confidence + 0.7 * parts.coverage
    assert parts.coverage.item() > 0
    torch.testing.assert_close(parts.total, expected)
    torch.testing.assert_close(parts.coverage, coverage_loss(curves, mask))


def test_file_without_likes_costs_only_confidence():
    gen = torch.Generator().manual_seed(5)
    conf = torch.tensor([[0.3, 0.05, 0.6, 0.2]], requires_grad=True)
    logits = torch.randn(1, 4, 6, generator=gen, requires_grad=True)
    curves = torch.rand(1, 4, 12, generator=gen)
    mask = torch.ones(1, 12, dtype=torch.bool)
    parts = set_matching_loss(curves, conf, logits, [[]], mask)
    assert parts.matched == [[]]
    assert parts.classification.item() == 0.0
    assert parts.confidence.item() == pytest.approx(conf.sum().item(), rel=1e-6)
    assert parts.total.item() == pytest.approx(conf.sum().item(), rel=1e-6)
    parts.total.backward()
    torch.testing.assert_close(conf.grad, torch.ones_like(conf))  # d wBCE(0, C)/dC = 1
    assert logits.grad is None or torch.all(logits.grad == 0)


def test_batch_mixing_files_with_and_without_likes():
    curves, conf, logits, mask = _random_batch(3, batch=2, slots=3)
    parts = set_matching_loss(curves, conf, logits, [[], [4]], mask)
    assert parts.matched[0] == []
    assert len(parts.matched[1]) == 1
    slot = parts.matched[1][0][0]
    assert parts.classification.item() == pytest.approx(_ce(logits[1, slot], 4), rel=1e-6)
    c = conf.tolist()
    item1 = sum(c[1]) - c[1][slot] + (-math.log(c[1][slot]) + c[1][slot])
    assert parts.confidence.item() == pytest.approx((sum(c[0]) + item1) / 2, rel=1e-6)


# --- coverage_loss ------------------------------------------------------------------


def test_coverage_zero_when_curves_sum_to_one_on_real_frames():
    gen = torch.Generator().manual_seed(6)
    curves = torch.softmax(torch.randn(2, 4, 30, generator=gen), dim=1)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[0, 18:] = False
    curves[0, :, 18:] = torch.rand(4, 12, generator=gen) * 5  # garbage on padding
    assert coverage_loss(curves, mask).item() == pytest.approx(0.0, abs=1e-10)


def test_coverage_is_mean_squared_error_over_real_frames_only():
    curves = torch.zeros(2, 2, 4)
    curves[0, 0] = torch.tensor([0.5, 1.0, 1.0, 9.0])  # frame 3 is padding
    curves[0, 1] = torch.tensor([0.0, 0.5, 0.0, 9.0])
    curves[1, :, :] = 0.5  # sums to 1 everywhere
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    # item 0 real frames: sums 0.5, 1.5, 1.0 -> errors 0.25, 0.25, 0; 7 real frames in all
    assert coverage_loss(curves, mask).item() == pytest.approx(0.5 / 7)
    # empty curves: every real frame misses 1
    assert coverage_loss(torch.zeros(2, 2, 4), mask).item() == pytest.approx(1.0)
    # activity: two speakers on frame 1 of item 1, silence on frame 2
    activity = torch.ones(2, 4)
    activity[1, 1] = 2.0
    activity[1, 2] = 0.0
    assert coverage_loss(curves, mask, activity).item() == pytest.approx((0.5 + 1 + 1) / 7)


def test_coverage_gradient_skips_padded_frames():
    curves = torch.rand(1, 3, 10, requires_grad=True)
    mask = torch.tensor([[True] * 6 + [False] * 4])
    coverage_loss(curves, mask).backward()
    assert torch.all(curves.grad[..., 6:] == 0)
    assert torch.all(curves.grad[..., :6] != 0)


# --- end to end -----------------------------------------------------------------------


def test_loss_gradient_reaches_model_parameters():
    from weighter_gui.core.model.weighter import Weighter, WeighterConfig

    torch.manual_seed(7)
    config = WeighterConfig(
        input_dim=24,
        num_slots=4,
        num_classes=6,
        embed_dim=32,
        num_layers=1,
        num_heads=2,
        ff_dim=32,
        pos_conv_groups=4,
    )
    model = Weighter(config).eval()  # no dropout: the two evaluations below compare
    features, lengths = torch.randn(2, 47, 24), torch.tensor([47, 30])
    likes = [[1, 2], []]
    weights = LossWeights(coverage=0.5)

    def loss():
        out = model(features, lengths)
        logits = model.classify(out.embeddings)
        return set_matching_loss(out.curves, out.confidences, logits, likes, out.mask, weights)

    before = loss().total
    assert torch.isfinite(before)
    before.backward()
    for module in (model.reduce, model.encoder.feature_projection, model.head, model.classifier):
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name
    layer_grads = [p.grad for p in model.encoder.transformer.layers.parameters()]
    assert all(g is not None for g in layer_grads)
    # The gradient is a descent direction: a small step lowers the loss.
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
        after = loss().total
    assert after.item() < before.item()


def test_overlap_loss_targets_frames_with_two_speakers_on_timed_items_only():
    """BCE against "two or more active", over real frames of items with timings."""
    activity = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])  # [T, K]
    overlap = torch.tensor([[0.1, 0.8, 0.3, 0.5], [0.9, 0.9, 0.9, 0.9]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    got = overlap_loss(overlap, [activity, None], mask)  # item 1: no timings, not scored
    want = -(math.log(0.9) + math.log(0.8) + math.log(0.7)) / 3  # frame 3 is padding
    assert got.item() == pytest.approx(want, rel=1e-6)
    assert overlap_loss(overlap, [None, None], mask).item() == 0.0
