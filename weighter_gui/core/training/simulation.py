"""The simulation study: does a learned Weighter beat time-agnostic clustering?

Sequences of frames switch between K speakers; each frame is the active speaker's
prototype (a random unit vector) plus Gaussian noise of level sigma. Who speaks is
chosen by bounded random walks in [0, 1], one per speaker, with hysteresis: the
active speaker hands over only when another walk rises ``hysteresis`` above its own.
(The literal rule "speaker 1 with probability p_t" switches every ~3 frames, nearly as
often as the "pure random" control, which picks a speaker independently per frame.)

Compared on frame accuracy under the best one-to-one mapping of slots/clusters to
true speakers:
  - the Weighter, trained with file-level likes only, on prototypes never seen in
    evaluation, choosing its slots by confidence (it is not told K); its claim
    threshold calibrated on a third pool of prototypes, as ``weighter calibrate``
    does for speech (the column "as trained" is the same model uncalibrated);
  - k-means, agglomerative (cosine) and spectral clustering, told the true K;
  - a ceiling: an HMM told the prototypes, sigma and the switch rate (forward-backward).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from weighter_gui.core.model.losses import (
    LossWeights,
    block_mean,
    frame_match_cost,
    frame_target_loss,
    like_shares,
    set_matching_loss,
)
from weighter_gui.core.model.weighter import Weighter, WeighterConfig, claim_offset

# --------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class SimConfig:
    dim: int = 64
    frames: int = 1800
    min_speakers: int = 2
    max_speakers: int = 4
    mean_run: float = 100.0  # target frames between switches; 0 = pure random control
    hysteresis: float = 0.25
    min_share: float = 0.05  # each chosen speaker holds at least this share of frames


@dataclass(frozen=True)
class SimBatch:
    features: np.ndarray  # [B, T, dim] float32
    labels: np.ndarray  # [B, T] index into the item's speakers
    speakers: list[np.ndarray]  # per item: pool ids of its K speakers (the likes)
    prototypes: list[np.ndarray]  # per item: [K, dim]
    sigma: np.ndarray  # [B]


def make_prototypes(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    p = rng.standard_normal((count, dim))
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


def walk_turns(
    ks: np.ndarray, frames: int, step: float | np.ndarray, hysteresis: float, rng: np.random.Generator
) -> np.ndarray:
    """Active speaker per frame [n, frames] for n sequences of ks[i] speakers.

    Each speaker's walk takes Gaussian steps of size ``step`` and reflects at 0 and 1;
    the active speaker hands over only when another walk exceeds its own by the margin.
    """
    ks = np.asarray(ks)
    n, k_max = len(ks), int(ks.max())
    step = np.broadcast_to(np.asarray(step, dtype=float), (n,))[:, None]
    absent = np.arange(k_max)[None, :] >= ks[:, None]  # slots past an item's K never win
    w = rng.uniform(0, 1, (n, k_max))
    noise = rng.standard_normal((frames, n, k_max)) * step
    rows = np.arange(n)
    active = np.argmax(np.where(absent, -1.0, w), axis=1)
    labels = np.empty((n, frames), dtype=np.int64)
    for t in range(frames):
        w = np.abs(w + noise[t])  # reflect at 0
        w = 1 - np.abs(1 - w)  # reflect at 1
        scored = np.where(absent, -1.0, w)
        best = np.argmax(scored, axis=1)
        switch = scored[rows, best] > scored[rows, active] + hysteresis
        active = np.where(switch, best, active)
        labels[:, t] = active
    return labels


def run_lengths(labels: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal labels in one sequence."""
    change = np.flatnonzero(np.diff(labels)) + 1
    edges = np.concatenate([[0], change, [len(labels)]])
    return np.diff(edges)


def measured_mean_run(labels_list: list[np.ndarray]) -> float:
    """Mean run length over sequences (frames between speaker switches)."""
    return float(np.mean(np.concatenate([run_lengths(lab) for lab in labels_list])))


@functools.lru_cache(maxsize=64)
def walk_step_for(mean_run: float, hysteresis: float, frames: int, k: int = 3) -> float:
    """Walk step size that gives the target mean run (bisection on measured runs)."""
    rng = np.random.default_rng(12345)
    lo, hi = math.log(1e-4), math.log(1.0)
    for _ in range(16):
        mid = (lo + hi) / 2
        labels = walk_turns(np.full(64, k), frames, math.exp(mid), hysteresis, rng)
        if measured_mean_run(list(labels)) > mean_run:
            lo = mid  # runs too long: bigger steps
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def sample_labels(
    cfg: SimConfig, ks: np.ndarray, rng: np.random.Generator, steps: np.ndarray | None = None
) -> np.ndarray:
    """Who speaks per frame [n, frames] for n sequences of ks[i] speakers.

    Walk ``steps`` default to the one calibrated to cfg.mean_run. A sequence in which a
    speaker holds less than cfg.min_share of the frames is drawn again (a few times).
    """
    ks = np.asarray(ks)
    if steps is None and cfg.mean_run > 0:
        # calibrated per K: with fewer walks a hand-over takes longer
        steps = np.array([walk_step_for(float(cfg.mean_run), cfg.hysteresis, cfg.frames, int(k)) for k in ks])

    def draw(idx: np.ndarray) -> np.ndarray:
        if cfg.mean_run <= 0:
            return (rng.random((len(idx), cfg.frames)) * ks[idx, None]).astype(np.int64)
        return walk_turns(ks[idx], cfg.frames, steps[idx], cfg.hysteresis, rng)

    labels = draw(np.arange(len(ks)))
    for _ in range(10):
        counts = np.stack([np.bincount(lab, minlength=int(ks.max())) for lab in labels])
        share = np.where(np.arange(counts.shape[1])[None] < ks[:, None], counts, cfg.frames)
        redo = np.flatnonzero(share.min(axis=1) < cfg.min_share * cfg.frames)
        if len(redo) == 0:
            break
        labels[redo] = draw(redo)
    return labels


def sample_batch(
    cfg: SimConfig,
    pool: np.ndarray,
    batch: int,
    sigma: float | tuple[float, float],
    rng: np.random.Generator,
    mean_run_range: tuple[float, float] | None = None,
) -> SimBatch:
    """A batch of sequences at cfg.mean_run; sigma may be a range sampled per item.

    With ``mean_run_range`` each item's walk step is drawn log-uniformly between the
    steps calibrated to the range's ends (for training on a mix of run lengths).
    """
    ks = rng.integers(cfg.min_speakers, cfg.max_speakers + 1, batch)
    steps = None
    if mean_run_range is not None:
        longest, shortest = (
            np.log([walk_step_for(float(run), cfg.hysteresis, cfg.frames, int(k)) for k in ks])
            for run in (mean_run_range[1], mean_run_range[0])
        )
        steps = np.exp(rng.uniform(longest, shortest))
    labels = sample_labels(cfg, ks, rng, steps)
    sigmas = rng.uniform(*sigma, batch) if isinstance(sigma, tuple) else np.full(batch, float(sigma))
    feats = rng.standard_normal((batch, cfg.frames, cfg.dim), dtype=np.float32)
    speakers, protos = [], []
    for b in range(batch):
        ids = rng.choice(len(pool), size=int(ks[b]), replace=False)
        feats[b] = pool[ids][labels[b]] + sigmas[b] * feats[b]
        speakers.append(ids)
        protos.append(pool[ids])
    return SimBatch(feats, labels, speakers, protos, sigmas)


# --------------------------------------------------------------------------- scoring


def frame_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Frame accuracy under the best one-to-one mapping of predicted to true labels."""
    p_ids, p = np.unique(pred, return_inverse=True)
    t_ids, t = np.unique(truth, return_inverse=True)
    counts = np.zeros((len(p_ids), len(t_ids)))
    np.add.at(counts, (p, t), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(truth))


def noise_tolerance(sigmas: np.ndarray, accuracy: np.ndarray, level: float) -> float:
    """Largest sigma at which accuracy stays >= level, linearly interpolated.

    Walks up the sweep and stops at the first drop below the level. NaN if even the
    smallest sigma is below it; the largest sigma if it never drops.
    """
    order = np.argsort(sigmas)
    s, a = np.asarray(sigmas)[order], np.asarray(accuracy)[order]
    if a[0] < level:
        return float("nan")
    for i in range(1, len(s)):
        if a[i] < level:
            return float(s[i - 1] + (a[i - 1] - level) / (a[i - 1] - a[i]) * (s[i] - s[i - 1]))
    return float(s[-1])


# --------------------------------------------------------------------------- baselines


def cluster_baseline(method: str, frames: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Time-agnostic clustering of frames [T, D] into k clusters (told the true K)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering

    if method == "kmeans":
        algo = KMeans(n_clusters=k, n_init=4, random_state=seed)
    elif method == "agglomerative":
        algo = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
    elif method == "spectral":
        algo = SpectralClustering(
            n_clusters=k, affinity="nearest_neighbors", n_neighbors=15, random_state=seed,
            assign_labels="cluster_qr", eigen_solver="lobpcg",  # same labels as arpack, ~7x faster
        )
    else:
        raise ValueError(f"unknown baseline {method!r}")
    return algo.fit_predict(frames)


BASELINES = ("kmeans", "agglomerative", "spectral")


def hmm_decode(frames: np.ndarray, prototypes: np.ndarray, sigma: float, mean_run: float) -> np.ndarray:
    """Ceiling: per-frame posterior argmax of an HMM told prototypes, sigma and switch rate.

    Scaled forward-backward: each frame's emission is divided by its maximum and each
    step renormalised, which leaves the per-frame posterior argmax unchanged.
    """
    k = len(prototypes)
    d2 = ((frames[:, None, :] - prototypes[None]) ** 2).sum(-1)
    log_e = -d2 / (2 * sigma**2)
    if mean_run <= 0:  # pure random control: no time structure to exploit
        return np.argmax(log_e, axis=1)
    emit = np.exp(log_e - log_e.max(axis=1, keepdims=True))
    stay = 1.0 - 1.0 / max(mean_run, 1.0 + 1e-6)
    trans = np.full((k, k), (1 - stay) / max(k - 1, 1))
    np.fill_diagonal(trans, stay)
    alpha = np.empty_like(emit)
    a = emit[0] / k
    for t in range(len(emit)):
        if t:
            a = (a @ trans) * emit[t]
        a /= a.sum()
        alpha[t] = a
    beta = np.ones(k)
    post = np.empty_like(emit)
    for t in range(len(emit) - 1, -1, -1):
        post[t] = alpha[t] * beta
        beta = trans @ (emit[t] * beta)
        beta /= beta.sum()
    return np.argmax(post, axis=1)


# --------------------------------------------------------------------------- the Weighter


@dataclass(frozen=True)
class SimTrainConfig:
    steps: int = 1500
    batch: int = 16
    lr: float = 2e-3
    # Above ~1.5 even the ceiling's accuracy sinks; such batches taught the model little.
    sigma_range: tuple[float, float] = (0.1, 1.5)
    mean_run_range: tuple[float, float] = (30.0, 300.0)
    train_pool: int = 200
    head_lr_factor: float = 10.0
    coverage: float = 1.0  # weight of the coverage term (0: the method's loss alone)
    frame_targets: float = 1.0  # weight of the likes-guided frame-target term
    sigma_warmup: float = 0.3  # share of steps over which the top training sigma ramps up
    use_wbce: bool = True
    # the Weighter's slot read-out: "attractors" (measured best), "linear" (the method's
    # per-token head) or "slots"
    readout: str = "attractors"
    train_frames: int = 900
    seed: int = 0


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total: int
    loss: float
    classification: float
    confidence: float
    coverage: float
    seconds: float


def sim_model_config(sim: SimConfig, num_classes: int, readout: str = "attractors"):
    return WeighterConfig(
        input_dim=sim.dim,
        num_slots=6,
        num_classes=num_classes,
        channel_reduction=2,
        embed_dim=64,
        num_layers=3,
        num_heads=4,
        ff_dim=128,
        pos_conv_kernel=16,
        pos_conv_groups=4,
        dropout=0.0,
        readout=readout,
    )


def train_sim_weighter(sim: SimConfig, train: SimTrainConfig) -> Iterator[TrainProgress | object]:
    """Train a Weighter on simulated likes; yields progress, then the trained model."""
    import torch

    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    pool = make_prototypes(train.train_pool, sim.dim, np.random.default_rng(1000 + train.seed))
    model = Weighter(sim_model_config(sim, train.train_pool, train.readout))
    # The cosine head sees each training speaker only now and then: a higher rate lets
    # its class directions keep up with the Weighter.
    head = list(model.classifier.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier.")]
    lrs = [train.lr, train.lr * train.head_lr_factor]
    opt = torch.optim.AdamW([{"params": body}, {"params": head}], lr=train.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lrs, total_steps=train.steps, pct_start=0.1)
    weights = LossWeights(coverage=train.coverage, use_wbce=train.use_wbce)
    train_sim = replace(sim, frames=train.train_frames)
    start = time.perf_counter()
    model.train()
    for step in range(1, train.steps + 1):
        # Curriculum: clean sequences first, the whole noise range after the warm-up.
        lo, hi = train.sigma_range
        ramp = min(1.0, step / max(1.0, train.sigma_warmup * train.steps))
        sigma_range = (lo, lo + (hi - lo) * max(0.3, ramp))
        b = sample_batch(train_sim, pool, train.batch, sigma_range, rng, train.mean_run_range)
        features = torch.from_numpy(b.features)
        out = model(features)
        logits = model.classify(out.embeddings)
        likes = [s.tolist() for s in b.speakers]
        shares = cost = None
        if train.frame_targets > 0:
            vectors = block_mean(features, out.mask, model.config.time_reduction)
            shares = like_shares(vectors, model.classifier.weight, likes, model.config.class_scale)
            cost = frame_match_cost(out.curves, shares, out.mask)
        parts = set_matching_loss(
            out.curves, out.confidences, logits, likes, out.mask, weights, match_cost=cost
        )
        loss = parts.total
        if shares is not None:
            loss = loss + train.frame_targets * frame_target_loss(
                out.curves, shares, parts.matched, out.mask
            )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        yield TrainProgress(
            step, train.steps, loss.item(), parts.classification.item(),
            parts.confidence.item(), parts.coverage.item(), time.perf_counter() - start,
        )
    model.eval()
    yield model


def weighter_predict(model, features: np.ndarray, threshold: float = 0.5, offset: float = 0.0):
    """Frame labels from the slots kept by confidence (top slot if none passes).

    ``offset``: raise the attractor read-out's claim threshold by this much.
    """
    import torch

    shifted = claim_offset(model, offset) if offset else contextlib.nullcontext()
    with torch.no_grad(), shifted:
        out = model(torch.from_numpy(features))
    curves = out.curves.numpy()
    conf = out.confidences.numpy()
    preds = []
    for c, x in zip(conf, curves):
        keep = np.flatnonzero(c >= threshold)
        if len(keep) == 0:
            keep = np.array([int(np.argmax(c))])
        preds.append(keep[np.argmax(x[keep], axis=0)])
    return preds, conf


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class StudyConfig:
    sigmas: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
    regimes: tuple[float, ...] = (30.0, 100.0, 300.0, 0.0)  # mean runs; 0 = pure random
    sequences: int = 8  # evaluation sequences per (regime, sigma)
    seeds: tuple[int, ...] = (0, 1)
    test_pool: int = 200
    # a time-agnostic method is no longer evaluated after its accuracy falls below this
    stop_below: float = 0.55
    # Offsets tried on the claim threshold, on prototypes seen neither in training nor
    # in evaluation (empty: no calibration); see calibrate_sim_weighter.
    calibration_offsets: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
    calibration_sequences: int = 6  # per (regime, sigma)
    sim: SimConfig = field(default_factory=SimConfig)
    train: SimTrainConfig = field(default_factory=SimTrainConfig)


def quick_study() -> StudyConfig:
    """About 10 minutes on 2 CPU cores."""
    return StudyConfig(sequences=5, seeds=(0, 1), train=SimTrainConfig(steps=800))


def full_study() -> StudyConfig:
    """About 45 minutes on 2 CPU cores."""
    return StudyConfig(sequences=12, seeds=(0, 1, 2), train=SimTrainConfig(steps=3000))


METHODS = ("weighter", "weighter_as_trained") + BASELINES + ("hmm_ceiling",)


def calibrate_sim_weighter(model, cfg: StudyConfig, seed: int) -> tuple[float, dict[float, float]]:
    """The claim-threshold offset with the best mean frame accuracy, and each offset's.

    Scored on a pool of prototypes used neither in training nor in evaluation, over
    the study's switching regimes and its sigmas within the training range. A
    threshold learned on the training pool is too lenient for new prototypes (as for
    new voices in speech): similar ones share a slot.
    """
    if model.config.readout != "attractors" or not cfg.calibration_offsets:
        return 0.0, {}
    pool = make_prototypes(cfg.test_pool, cfg.sim.dim, np.random.default_rng(70_000 + seed))
    batches = [
        sample_batch(replace(cfg.sim, mean_run=run), pool, cfg.calibration_sequences, sigma,
                     np.random.default_rng([seed, 70_000, int(run), int(sigma * 1000)]))
        for run in cfg.regimes if run > 0
        for sigma in cfg.sigmas if sigma <= cfg.train.sigma_range[1]
    ]
    scores = {}
    for offset in cfg.calibration_offsets:
        accuracy = []
        for batch in batches:
            preds, _ = weighter_predict(model, batch.features, offset=offset)
            accuracy += [frame_accuracy(p, t) for p, t in zip(preds, batch.labels)]
        scores[float(offset)] = float(np.mean(accuracy))
    best = max(scores, key=lambda o: (round(scores[o], 4), -abs(o)))  # ties: the smaller change
    return best, scores


@dataclass
class StudyResult:
    config: StudyConfig
    # accuracy[method][regime][sigma] -> per-seed mean frame accuracy (NaN: not evaluated)
    accuracy: dict[str, dict[str, dict[str, list[float]]]]
    measured_runs: dict[str, float]  # regime -> measured mean run of the evaluation data
    diagnostics: dict[str, dict[str, list[float]]]  # regime -> name -> per-seed value
    train_seconds: list[float]
    seconds: float = 0.0
    claim_offsets: list[float] = field(default_factory=list)  # per seed, from calibration

    def tolerance(self, method: str, regime: str, level: float) -> list[float]:
        """Per seed: the largest sigma with accuracy >= level."""
        sig = np.array(self.config.sigmas)
        per_sigma = self.accuracy[method][regime]
        out = []
        for s in range(len(self.config.seeds)):
            acc = np.array([per_sigma[_key(x)][s] for x in sig])
            acc = np.where(np.isnan(acc), 0.0, acc)  # not evaluated: it had already failed
            out.append(noise_tolerance(sig, acc, level))
        return out

    def ratio(self, regime: str, level: float = 0.9) -> list[float]:
        """Per seed: Weighter tolerance / best time-agnostic baseline tolerance (sigma)."""
        w = np.array(self.tolerance("weighter", regime, level))
        best = np.nanmax([self.tolerance(m, regime, level) for m in BASELINES], axis=0)
        return (w / best).tolist()

    def to_json(self) -> dict:
        regimes = [_regime_name(r) for r in self.config.regimes]
        summary = {}
        for r in regimes:
            summary[r] = {
                "measured_mean_run": self.measured_runs[r],
                "tolerance_90": {m: self.tolerance(m, r, 0.9) for m in METHODS},
                "tolerance_80": {m: self.tolerance(m, r, 0.8) for m in METHODS},
                "ratio_sigma_90": self.ratio(r, 0.9),
                "ratio_sigma_80": self.ratio(r, 0.8),
                "diagnostics": self.diagnostics[r],
            }
        return {
            "config": asdict(self.config),
            "accuracy": self.accuracy,
            "summary": summary,
            "train_seconds": self.train_seconds,
            "seconds": self.seconds,
            "claim_offsets": self.claim_offsets,
        }


def _key(sigma: float) -> str:
    return f"{sigma:g}"


def _regime_name(mean_run: float) -> str:
    return "pure_random" if mean_run <= 0 else f"run_{mean_run:g}"


def run_study(cfg: StudyConfig, hook=None) -> StudyResult:
    """Train one Weighter per seed, then sweep sigma for every regime and method.

    ``hook(stage, done, total, info)`` reports progress (training steps, then
    evaluation points) so the CLI can draw a progress bar.
    """
    hook = hook or (lambda *a: None)
    start = time.perf_counter()
    regimes = [_regime_name(r) for r in cfg.regimes]
    acc = {m: {r: {_key(s): [] for s in cfg.sigmas} for r in regimes} for m in METHODS}
    diag: dict[str, dict[str, list[float]]] = {r: {} for r in regimes}
    runs: dict[str, list[float]] = {r: [] for r in regimes}
    train_seconds, offsets = [], []
    total_eval = len(cfg.seeds) * len(cfg.regimes) * len(cfg.sigmas)
    done_eval = 0
    for seed in cfg.seeds:
        model = None
        for item in train_sim_weighter(cfg.sim, replace(cfg.train, seed=seed)):
            if isinstance(item, TrainProgress):
                hook("train", item.step, item.total, {"seed": seed, "loss": item.loss})
                last = item
            else:
                model = item
        train_seconds.append(last.seconds)
        offset, _ = calibrate_sim_weighter(model, cfg, seed)
        offsets.append(offset)
        # Evaluation prototypes come from their own generator: never seen in training.
        test_pool = make_prototypes(cfg.test_pool, cfg.sim.dim, np.random.default_rng(50_000 + seed))
        for mean_run, regime in zip(cfg.regimes, regimes):
            sim = replace(cfg.sim, mean_run=mean_run)
            failed: set[str] = set()
            count_ok, conf_top, conf_rest, labels_all = [], [], [], []
            for sigma in cfg.sigmas:
                rng = np.random.default_rng([seed, int(mean_run), int(sigma * 1000)])
                batch = sample_batch(sim, test_pool, cfg.sequences, sigma, rng)
                labels_all.extend(batch.labels)
                as_trained, _ = weighter_predict(model, batch.features)
                acc["weighter_as_trained"][regime][_key(sigma)].append(
                    float(np.mean([frame_accuracy(p, t) for p, t in zip(as_trained, batch.labels)]))
                )
                preds, conf = weighter_predict(model, batch.features, offset=offset)
                acc["weighter"][regime][_key(sigma)].append(
                    float(np.mean([frame_accuracy(p, t) for p, t in zip(preds, batch.labels)]))
                )
                for c, ids in zip(conf, batch.speakers):
                    k = len(ids)
                    count_ok.append(float((c >= 0.5).sum() == k))
                    order = np.sort(c)[::-1]
                    conf_top.append(float(order[:k].mean()))
                    conf_rest.append(float(order[k:].mean()))
                hmm = [
                    frame_accuracy(hmm_decode(f, p, sigma, float(mean_run)), t)
                    for f, p, t in zip(batch.features, batch.prototypes, batch.labels)
                ]
                acc["hmm_ceiling"][regime][_key(sigma)].append(float(np.mean(hmm)))
                for method in BASELINES:
                    if method in failed:
                        acc[method][regime][_key(sigma)].append(float("nan"))
                        continue
                    a = float(np.mean([
                        frame_accuracy(cluster_baseline(method, f, len(ids), seed), t)
                        for f, ids, t in zip(batch.features, batch.speakers, batch.labels)
                    ]))
                    acc[method][regime][_key(sigma)].append(a)
                    if a < cfg.stop_below:
                        failed.add(method)
                done_eval += 1
                hook("eval", done_eval, total_eval, {"seed": seed, "regime": regime, "sigma": sigma})
            runs[regime].append(measured_mean_run(labels_all))
            for name, values in (
                ("speaker_count_accuracy", count_ok),
                ("confidence_true_slots", conf_top),
                ("confidence_other_slots", conf_rest),
            ):
                diag[regime].setdefault(name, []).append(float(np.mean(values)))
    return StudyResult(
        cfg, acc, {r: float(np.mean(v)) for r, v in runs.items()}, diag, train_seconds,
        time.perf_counter() - start, offsets,
    )


_LABELS = {
    "weighter": "Weighter (likes only, K not given)",
    "weighter_as_trained": "Weighter as trained (no calibration)",
    "kmeans": "k-means (true K)",
    "agglomerative": "agglomerative, cosine (true K)",
    "spectral": "spectral (true K)",
    "hmm_ceiling": "HMM ceiling (told prototypes, sigma, switch rate)",
}


def _fmt(values: list[float], digits: int = 2) -> str:
    v = np.array(values, dtype=float)
    valid = v[~np.isnan(v)]
    if len(valid) == 0:
        return "n/a"
    text = f"{valid[0]:.{digits}f}" if len(valid) == 1 else f"{valid.mean():.{digits}f} ± {valid.std():.{digits}f}"
    if len(valid) < len(v):  # a seed that never reached the level
        text += f" ({len(valid)} of {len(v)} seeds)"
    return text


def markdown_table(result: StudyResult, command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Seeds: {len(result.config.seeds)} (one trained Weighter each; mean ± sd over seeds), "
        f"{result.config.sequences} evaluation sequences of {result.config.sim.frames} frames per "
        f"point, dim {result.config.sim.dim}, K = {result.config.sim.min_speakers}-"
        f"{result.config.sim.max_speakers}. Run time {result.seconds / 60:.1f} min.",
        "",
        "Noise tolerance: largest sigma with mean frame accuracy >= 90 %.",
        "",
        "| mean run (frames) | k-means | agglomerative | spectral | **Weighter** | Weighter as trained "
        "| HMM ceiling | ratio sigma | ratio power | ratio sigma @80 % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mean_run in result.config.regimes:
        r = _regime_name(mean_run)
        name = "pure random" if mean_run <= 0 else f"{result.measured_runs[r]:.0f} (target {mean_run:g})"
        if mean_run <= 0:
            name += f" ({result.measured_runs[r]:.1f})"
        tol = {m: result.tolerance(m, r, 0.9) for m in METHODS}
        ratio = result.ratio(r, 0.9)
        lines.append(
            f"| {name} | {_fmt(tol['kmeans'])} | {_fmt(tol['agglomerative'])} | "
            f"{_fmt(tol['spectral'])} | **{_fmt(tol['weighter'])}** | {_fmt(tol['weighter_as_trained'])} | "
            f"{_fmt(tol['hmm_ceiling'])} | "
            f"{_fmt(ratio)} | {_fmt([x * x for x in ratio], 1)} | {_fmt(result.ratio(r, 0.8))} |"
        )
    if result.claim_offsets:
        chosen = ", ".join(f"{o:+.2f}" for o in result.claim_offsets)
        lines += [
            "",
            f"Claim-threshold offset per seed, chosen on prototypes used neither in training nor "
            f"in evaluation: {chosen}. Ratios compare the calibrated Weighter.",
        ]
    lines += [
        "",
        "Weighter diagnostics (all sigmas): speaker count right (slots with confidence >= 0.5 "
        "equal K); mean confidence of the K most confident slots vs the others.",
        "",
        "| mean run | count accuracy | confidence, top K | confidence, others |",
        "|---|---|---|---|",
    ]
    for mean_run in result.config.regimes:
        r = _regime_name(mean_run)
        d = result.diagnostics[r]
        lines.append(
            f"| {'pure random' if mean_run <= 0 else f'{mean_run:g}'} | "
            f"{_fmt(d['speaker_count_accuracy'])} | {_fmt(d['confidence_true_slots'])} | "
            f"{_fmt(d['confidence_other_slots'])} |"
        )
    return "\n".join(lines) + "\n"


def plot_study(result: StudyResult, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = result.config.regimes
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes), 3.8), sharey=True)
    sig = np.array(result.config.sigmas)
    styles = {
        "weighter": dict(color="C3", lw=2.4),
        "weighter_as_trained": dict(color="C3", lw=1.2, ls=":"),
        "kmeans": dict(color="C0"),
        "agglomerative": dict(color="C1"),
        "spectral": dict(color="C2"),
        "hmm_ceiling": dict(color="k", ls="--"),
    }
    for ax, mean_run in zip(np.atleast_1d(axes), regimes):
        r = _regime_name(mean_run)
        for m in METHODS:
            a = np.array([np.nanmean(result.accuracy[m][r][_key(s)]) if not np.all(
                np.isnan(result.accuracy[m][r][_key(s)])) else np.nan for s in sig])
            ax.plot(sig, a, marker="o", ms=3, label=_LABELS[m], **styles[m])
        ax.axhline(0.9, color="grey", lw=0.8, ls=":")
        title = "pure random" if mean_run <= 0 else f"mean run ≈ {result.measured_runs[r]:.0f} frames"
        ax.set_title(title)
        ax.set_xlabel("noise sigma")
        ax.set_ylim(0.2, 1.02)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("frame accuracy (best mapping)")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
