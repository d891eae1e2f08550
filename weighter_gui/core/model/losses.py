"""The Weighter's training objective: set matching of slots to likes, wBCE confidences.

The method's loss (``set_matching_loss``) needs only file-level likes. On its own it
lets slots turn sparse and peaky (a few blocks at high weight explain the embedding);
``coverage_loss`` is the product's addition that asks every active frame to be
explained by exactly as much slot mass as there are speakers (one, without overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torch.nn import functional as F

from weighter_gui.core.model.weighter import confidence

# Floor inside the log: wBCE stays finite at p = 0.
_LOG_EPS = 1e-6


def wbce(y: Tensor, p: Tensor) -> Tensor:
    """wBCE(y, p) = -y ln p + p, element-wise.

    Minimum at p = y like BCE, but its derivative -y/p + 1 is at most 1, so a
    slot wrongly labelled 0 (a speaker present but not tagged) costs little.
    """
    return -y * torch.log(p.clamp_min(_LOG_EPS)) + p


def bce(y: Tensor, p: Tensor) -> Tensor:
    """Plain BCE, for comparison with wBCE in the simulation study."""
    p = p.clamp(_LOG_EPS, 1 - _LOG_EPS)
    return -y * torch.log(p) - (1 - y) * torch.log(1 - p)


@dataclass(frozen=True)
class LossWeights:
    classification: float = 1.0
    confidence: float = 1.0
    coverage: float = 0.0  # 0 is the method as published
    use_wbce: bool = True


@dataclass(frozen=True)
class LossParts:
    total: Tensor
    classification: Tensor
    confidence: Tensor
    coverage: Tensor
    matched: list[list[tuple[int, int]]]  # per item: (slot, like index) pairs


def match_slots(
    log_probs: Tensor, confidences: Tensor, likes: list[int], extra_cost: Tensor | None = None
) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment of N slots to a file's K likes (Hungarian).

    Cost of slot n for like k: -log p(like_k | slot n) - log C_n (+ extra_cost[n, k]).
    log_probs: [N, num_classes]; confidences: [N]. Returns sorted (slot, k) pairs.
    """
    if not likes:
        return []
    cost = -log_probs[:, likes] - torch.log(confidences.clamp_min(_LOG_EPS))[:, None]
    if extra_cost is not None:
        cost = cost + extra_cost
    rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
    return sorted(zip(rows.tolist(), cols.tolist()))


def coverage_loss(curves: Tensor, mask: Tensor, activity: Tensor | None = None) -> Tensor:
    """Mean over real frames of (sum_n X_n(t) - activity(t))^2.

    activity defaults to 1 on every real frame (someone always speaks, as in the
    simulation); for speech pass the number of active speakers per frame, or a VAD.
    """
    target = mask.to(curves.dtype) if activity is None else activity.to(curves.dtype)
    err = (curves.sum(dim=1) - target) ** 2 * mask
    return err.sum() / mask.sum().clamp_min(1)


def block_mean(features: Tensor, mask: Tensor, stride: int) -> Tensor:
    """Mean of the real frames in each block of ``stride`` frames, repeated back to [B, T, D]."""
    batch, frames, dim = features.shape
    blocks = -(-frames // stride)
    pad = blocks * stride - frames
    m = F.pad(mask.to(features.dtype), (0, pad)).view(batch, blocks, stride, 1)
    x = F.pad(features * mask[..., None], (0, 0, 0, pad)).view(batch, blocks, stride, dim)
    means = x.sum(2) / m.sum(2).clamp_min(1)
    return means.repeat_interleave(stride, dim=1)[:, :frames]


def like_shares(
    frame_vectors: Tensor, class_weights: Tensor, likes: list[list[int]], scale: float = 16.0
) -> list[Tensor]:
    """Per item [T, K]: how much each frame resembles each of the file's likes.

    A softmax over the file's likes of scale * cos(frame vector, class vector of the
    like), detached: frame targets that need nothing but likes. frame_vectors: [B, T, D]
    (block means keep them from being too noisy); class_weights: [classes, D].
    """
    with torch.no_grad():
        v = F.normalize(frame_vectors, dim=-1)
        w = F.normalize(class_weights, dim=-1)
        return [torch.softmax(scale * v[b] @ w[item].T, dim=-1) for b, item in enumerate(likes)]


def frame_match_cost(curves: Tensor, shares: list[Tensor], mask: Tensor) -> list[Tensor]:
    """Per item [N, K]: mean BCE between each slot's curve and each like's frame shares.

    Added to the matching cost, it lets a slot keep the like whose frames it already
    covers, so slots do not trade speakers from one file to the next.
    """
    costs = []
    for b, share in enumerate(shares):
        m = mask[b]
        x = curves[b][:, m].detach()[:, None, :]  # [N, 1, T]
        y = share[m].T[None, :, :]  # [1, K, T]
        costs.append(bce(y, x).mean(dim=-1))
    return costs


def frame_target_loss(
    curves: Tensor, shares: list[Tensor], matched: list[list[tuple[int, int]]], mask: Tensor
) -> Tensor:
    """BCE pulling each matched slot's curve toward its like's frame shares, others to 0."""
    targets = torch.zeros_like(curves)
    for b, (share, pairs) in enumerate(zip(shares, matched)):
        for slot, k in pairs:
            targets[b, slot] = share[:, k]
    err = bce(targets, curves) * mask[:, None, :]
    return err.sum() / (mask.sum() * curves.shape[1]).clamp_min(1)


def overlap_loss(overlap: Tensor, activity: list[Tensor | None], mask: Tensor) -> Tensor:
    """BCE of the overlap probability [B, T] against "two or more speakers active",
    on the real frames of items with timings (activity [T, K]; None: no timings)."""
    terms = [
        bce((a.sum(-1) >= 2).to(overlap.dtype), overlap[b])[mask[b]]
        for b, a in enumerate(activity)
        if a is not None
    ]
    return torch.cat(terms).mean() if terms else overlap.sum() * 0.0


def set_matching_loss(
    curves: Tensor,
    confidences: Tensor,
    logits: Tensor,
    likes: list[list[int]],
    mask: Tensor,
    weights: LossWeights = LossWeights(),
    activity: Tensor | None = None,
    match_cost: list[Tensor] | None = None,
) -> LossParts:
    """The method's loss over a batch.

    curves [B, N, T], confidences [B, N], logits [B, N, classes], likes: per item the
    class ids of its likes, mask [B, T]. Matched slots: cross-entropy toward their like
    and confidence target 1; unmatched slots: confidence target 0.
    """
    log_probs = F.log_softmax(logits, dim=-1)
    conf_loss_fn = wbce if weights.use_wbce else bce
    cls_terms: list[Tensor] = []
    targets = torch.zeros_like(confidences)
    matched: list[list[tuple[int, int]]] = []
    for b, item_likes in enumerate(likes):
        extra = None if match_cost is None else match_cost[b]
        pairs = match_slots(log_probs[b], confidences[b], item_likes, extra)
        matched.append(pairs)
        for slot, k in pairs:
            cls_terms.append(-log_probs[b, slot, item_likes[k]])
            targets[b, slot] = 1.0
    classification = torch.stack(cls_terms).mean() if cls_terms else logits.sum() * 0
    conf = conf_loss_fn(targets, confidences).sum(dim=1).mean()
    cover = coverage_loss(curves, mask, activity) if weights.coverage > 0 else curves.sum() * 0
    total = (
        weights.classification * classification
        + weights.confidence * conf
        + weights.coverage * cover
    )
    return LossParts(total, classification, conf, cover, matched)


__all__ = [
    "block_mean",
    "frame_match_cost",
    "frame_target_loss",
    "overlap_loss",
    "like_shares",
    "LossParts",
    "LossWeights",
    "bce",
    "confidence",
    "coverage_loss",
    "match_slots",
    "set_matching_loss",
    "wbce",
]
