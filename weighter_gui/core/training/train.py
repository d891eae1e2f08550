"""Training a Weighter on speech from a label manifest.

Read top-down: ``train(manifest_items, config, out=...)`` is a generator. It caches
the front-end features of every file (``FeatureCache``), builds the model (or takes
``init`` to fine-tune), then yields a ``TrainProgress`` per step and finally a
``TrainResult``. The CLI prints the progress; the app runs the same generator in
its worker thread and cancels by closing it.

Two regimes (``TrainConfig.regime``):

* ``"frames"`` - the method's set-matching loss (classification of matched slots,
  wBCE confidences) plus a frame-level BCE pulling each matched slot's curve to its
  speaker's activity from the manifest's ``segments``. Matching adds the frame cost,
  so slot-to-speaker assignment is permutation-invariant over frames (PIT). An
  entry without segments (a like the user added by hand has no timings) trains as
  in ``"likes"``, so one such like does not cost the other files their timings.
* ``"likes"`` - likes only: no timings. The frame targets are the simulation's
  likes-guided shares (how much each block resembles each like's class vector),
  gated by an energy voice-activity detector so silence is not assigned to anyone.
  This is what kept likes-only slots from turning sparse and peaky in the study.

Multi-process training uses ``torch.distributed`` (DDP): run the CLI under
``torchrun --nproc_per_node=N``; each process draws its own batches and rank 0
writes checkpoints. ``gloo`` on CPU, ``nccl`` on CUDA.

Checkpoints: ``out`` (a normal checkpoint, usable at once) and ``out`` +
``.resume`` (optimizer moments, step, random states; safetensors + JSON, no
pickle), written together every ``checkpoint_every`` steps, so ``resume=True``
continues where a stopped run left off and gives the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from weighter_gui.core.io.audio import AudioError, iter_audio_blocks, load_audio
from weighter_gui.core.io.files import atomic_path, file_sha256
from weighter_gui.core.io.manifest import ManifestItem
from weighter_gui.core.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    taught_names,
)
from weighter_gui.core.model.device import resolve_device
from weighter_gui.core.model.frontend import (
    FRAME_HOP_S,
    HOP_LENGTH,
    SpeechFrontend,
    speech_frontend_id,
)
from weighter_gui.core.model.losses import (
    LossWeights,
    block_mean,
    frame_match_cost,
    frame_target_loss,
    like_shares,
    overlap_loss,
    set_matching_loss,
)
from weighter_gui.core.model.taught_voices import MAX_ENROL_SECONDS, MIN_ENROL_SECONDS, enrol
from weighter_gui.core.model.voice_encoder import (
    FILTERBANK_WINDOW,
    VOICE_DIM,
    VoiceEncoder,
    VoiceEncoderError,
    filterbanks,
)
from weighter_gui.core.model.weighter import Weighter, WeighterConfig

__all__ = [
    "FeatureCache",
    "TrainConfig",
    "TrainError",
    "TrainProgress",
    "TrainResult",
    "FINE_TUNE_LR",
    "fine_tune_config",
    "speech_model_config",
    "train",
]

RESUME_SUFFIX = ".resume"
GE2E_DIM = 256
# Matching weighs frame agreement this much above the classification cost, so
# slots keep the speaker whose frames they cover from one batch to the next.
FRAME_COST_SCALE = 10.0


class TrainError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


TRAINABLE = {"all": "", "head": "classifier.", "overlap": "overlap_"}  # parameter-name prefix that learns


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch_size: int = 8
    crop_seconds: tuple[float, float] = (20.0, 60.0)
    lr: float = 1e-3
    head_lr_factor: float = 10.0  # the cosine head sees each speaker only now and then
    # What learns: "all", "head" (the classification head only: new names, same curves)
    # or "overlap" (the overlap detector only: the rest of the model stays as it was).
    trainable: str = "all"
    weight_decay: float = 0.01
    warmup_steps: int = 150
    regime: str = "frames"  # "frames" (likes + segments where given) or "likes" (likes only)
    # Which segments are frame targets: "all" of them, or only "reviewed" ones (inside the
    # ranges a person checked, manifest ``extra["reviewed"]``; a file without any trains
    # on its likes alone): corrected turns are human timings, a model's own are not.
    timings: str = "all"
    frame_weight: float = 1.0
    min_like_seconds: float = 0.5  # a speaker counts as present in a crop from this much speech
    # Files trained whole (no timings, or the likes regime) longer than this are cropped,
    # so an hour-long recording cannot blow up a batch's memory.
    max_whole_seconds: float = 120.0
    checkpoint_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.regime not in ("frames", "likes"):
            raise ValueError('regime must be "frames" or "likes"')
        if self.timings not in ("all", "reviewed"):
            raise ValueError('timings must be "all" or "reviewed"')
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {', '.join(TRAINABLE)}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        lo, hi = self.crop_seconds
        if not 0 < lo <= hi:
            raise ValueError("crop_seconds must be (min, max) with 0 < min <= max")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop_seconds"] = list(self.crop_seconds)
        return d


# Fine-tuning: a body rate well under training's 1e-3, or the model forgets what
# calibration taught it (measured: benchmarks/annotation_loop.py).
FINE_TUNE_LR = 5e-5


def fine_tune_config(steps: int, batch_size: int, lr: float = FINE_TUNE_LR, reviewed: bool = False) -> TrainConfig:
    """Retraining on a project's labels (the app's Retrain and the loop benchmark).

    Without reviewed ranges only the classification head learns (``trainable="head"``):
    it learns the project's speaker names, and the curves, slots and calibrated claim
    threshold stay as they were. Measured with ``benchmarks/annotation_loop.py`` on two
    corpora of new speakers (held-out DER before -> after, slots the head names right):
    head alone, 6.1 -> 6.1 % and 3.4 -> 3.4 %, 83 % and 92 %; the whole model at 5e-5 on
    the model's own timings, 6.1 -> 8.2 % and 3.4 -> 11.6 %, 82 % and 92 % (400 steps,
    batch 4): a few files teach the body to fit their voices, which moves the speaker
    space off the threshold that calibration set on many.

    With ``reviewed`` (the project has ranges a person checked) the whole model learns,
    with the corrected turns as frame targets only there (``timings="reviewed"``): human
    timings did not cost DER where the model's own did (pitch-shifted voices 5.3 -> 5.3 %,
    real voices in rooms 21.7 -> 21.3 %, against 21.7 for the head alone; README, "Corrected
    turns as training data"). The head learns at ``head_lr_factor`` times ``lr``.
    """
    return TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        regime="frames",
        trainable="all" if reviewed else "head",
        timings="reviewed" if reviewed else "all",
        checkpoint_every=steps,
        warmup_steps=min(150, max(1, steps // 10)),
    )


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total: int
    loss: float
    classification: float
    confidence: float
    frames: float
    seconds: float
    checkpoint: Path | None = None  # set on steps that wrote one

    @property
    def steps_per_second(self) -> float:
        return self.step / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class TrainResult:
    model: Weighter
    checkpoint: Path | None
    speakers: tuple[str, ...]
    steps: int


# The overlap detectors `weighter train --overlap-detector [DESIGN]` adds to a model (or
# puts in place of one of another design). "small" is the shipped model's; "wide" (64
# channels, 3 dilated layers, a block of context each side) did better on held-out
# pitch-shifted training voices but worse on the reserved ones (README).
OVERLAP_DETECTORS = {
    "small": {"attractor_overlap": True, "overlap_channels": 32, "overlap_layers": 2, "overlap_context": 0},
    "wide": {"attractor_overlap": True, "overlap_channels": 64, "overlap_layers": 3, "overlap_context": 1},
}
_DETECTOR_FIELDS = tuple(OVERLAP_DETECTORS["small"])


def speech_model_config(input_dim: int, num_classes: int, **overrides) -> WeighterConfig:
    """The speech Weighter: 6 slots (conversations have up to 4 speakers here)."""
    base = dict(
        input_dim=input_dim,
        speaker_dim=GE2E_DIM,
        num_slots=6,
        num_classes=num_classes,
        channel_reduction=4,
        embed_dim=128,
        num_layers=4,
        num_heads=4,
        ff_dim=256,
        dropout=0.1,
        readout="attractors",
    )
    base.update(overrides)
    return WeighterConfig(**base)


# ----------------------------------------------------------------------------- features


class FeatureCache:
    """Front-end features of audio files, as float16 ``.npy`` files keyed by content.

    ``root/<frontend id>/<sha256 of the audio file>.npy``: a changed file gets new
    features, another front-end never reads these.
    """

    def __init__(self, root: str | os.PathLike[str], frontend_id: str) -> None:
        self.dir = Path(root) / frontend_id

    def path_for(self, digest: str) -> Path:
        return self.dir / f"{digest}.npy"

    def load(self, digest: str) -> np.ndarray | None:
        path = self.path_for(digest)
        if not path.exists():
            return None
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed

    def store(self, digest: str, features: np.ndarray) -> Path:
        path = self.path_for(digest)
        with atomic_path(path, suffix=".tmp.npy") as tmp:
            np.save(tmp, features.astype(np.float16))
        return path


_worker_frontend = None


def _init_feature_worker(one_thread: bool = True) -> None:
    global _worker_frontend
    if one_thread:
        torch.set_num_threads(1)  # one process per core beats threads in one LSTM
    _worker_frontend = SpeechFrontend()


def _compute_features(audio: str) -> np.ndarray:
    return _worker_frontend.features(load_audio(audio)).astype(np.float16)


def cache_features(
    items: Sequence[ManifestItem],
    cache: FeatureCache,
    jobs: int = 1,
    hook: Callable[[int, int, str], object] | None = None,
) -> dict[str, str]:
    """Compute missing features; returns item id -> content digest.

    A manifest ``sha256`` that does not match the file is an error (the labels were
    made for other audio). ``hook(done, total, item_id)`` after each file.
    """
    digests: dict[str, str] = {}
    todo: list[ManifestItem] = []
    for item in items:
        if not item.audio.is_file():
            raise TrainError(f"{item.audio}: audio file of manifest entry {item.id!r} not found")
        digest = file_sha256(item.audio)
        if item.sha256 is not None and item.sha256 != digest:
            raise TrainError(
                f"{item.audio}: the file changed since its labels were made (sha256 differs from "
                "the manifest); re-export the labels or restore the file"
            )
        digests[item.id] = digest
        if cache.load(digest) is None:
            todo.append(item)
    done = len(items) - len(todo)
    if hook is not None and done:
        hook(done, len(items), "cached")
    if not todo:
        return digests
    if jobs <= 1:
        # In-process (often the app's training thread): leave the process's thread count
        # alone; changing it from a worker thread is not safe while others run torch.
        _init_feature_worker(one_thread=False)
        for item in todo:
            cache.store(digests[item.id], _compute_features(str(item.audio)))
            done += 1
            if hook is not None:
                hook(done, len(items), item.id)
        return digests
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp.get_context("spawn"), initializer=_init_feature_worker) as ex:
        futures = {ex.submit(_compute_features, str(item.audio)): item for item in todo}
        from concurrent.futures import as_completed

        for fut in as_completed(futures):
            item = futures[fut]
            try:
                feats = fut.result()
            except AudioError as e:
                raise TrainError(f"manifest entry {item.id!r}: {e}") from None
            cache.store(digests[item.id], feats)
            done += 1
            if hook is not None:
                hook(done, len(items), item.id)
    return digests


# ----------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class _Example:
    features: np.ndarray  # [T, D] float16 (memory-mapped)
    likes: tuple[int, ...]  # class ids
    activity: np.ndarray | None  # [K, T] bool, rows in the order of likes; None: no timings
    spans: tuple[tuple[int, int], ...] | None = None  # frames where the timings hold (None: all)


def _frame_spans(ranges, frames: int) -> tuple[tuple[int, int], ...]:
    """Time ranges (seconds) as frame spans inside the file."""
    out = []
    for a, b in ranges:
        lo, hi = max(0, int(round(a / FRAME_HOP_S))), min(frames, int(round(b / FRAME_HOP_S)))
        if hi > lo:
            out.append((lo, hi))
    return tuple(out)


def _activity(item: ManifestItem, frames: int, hop_s: float) -> np.ndarray:
    return _segment_activity(item.segments or (), item.likes, frames, hop_s)


def _segment_activity(segments, names: Sequence[str], frames: int, hop_s: float) -> np.ndarray:
    """[len(names), frames] bool: where each of ``names`` speaks (segments of other names are left out)."""
    act = np.zeros((len(names), frames), dtype=bool)
    row = {name: k for k, name in enumerate(names)}
    for start, end, name in segments:
        if name in row:
            a = int(round(start / hop_s))
            b = int(round(end / hop_s))
            act[row[name], max(0, a) : min(frames, b)] = True
    return act


def energy_vad(logmel: Tensor, mask: Tensor, floor_db: float = 25.0) -> Tensor:
    """Frames within ``floor_db`` of the item's loud frames (95th percentile): [B, T] float."""
    energy = torch.logsumexp(logmel, dim=-1) * (10 / math.log(10))  # dB, up to a constant
    out = torch.zeros_like(energy)
    for b in range(energy.shape[0]):
        e = energy[b, mask[b]]
        loud = torch.quantile(e.float(), 0.95)
        out[b, : e.numel()] = (e > loud - floor_db).to(out.dtype)
    return out


class _TrainStep(nn.Module):
    """Forward plus classification in one module, so DDP sees every parameter used."""

    def __init__(self, model: Weighter) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor):
        out = self.model(features, lengths)
        return out, self.model.classify(out.embeddings)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 %."""
    if step <= warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ----------------------------------------------------------------------------- training


def train(
    items: Sequence[ManifestItem],
    config: TrainConfig = TrainConfig(),
    *,
    out: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str],
    init: str | os.PathLike[str] | None = None,
    resume: bool = False,
    device: str = "auto",
    jobs: int = 1,
    model_overrides: dict | None = None,
    feature_hook: Callable[[int, int, str], object] | None = None,
) -> Iterator[TrainProgress | TrainResult]:
    """Train on ``items``; yields ``TrainProgress`` per step, then one ``TrainResult``.

    ``init``: a checkpoint to fine-tune (its head grows by the manifest's new
    speakers; ``model_overrides=OVERLAP_DETECTORS[design]`` adds that overlap detector
    to it, or puts it in place of one of another design). ``resume``: continue ``out``
    from its ``.resume`` state.
    """
    rank, world = _distributed()
    dev = resolve_device(device)
    out_path = Path(out) if out is not None else None
    if resume and (out_path is None or not _resume_path(out_path).exists()):
        raise TrainError(f"nothing to resume: {out_path}{RESUME_SUFFIX} does not exist")

    frontend_id = speech_frontend_id()
    cache = FeatureCache(cache_dir, frontend_id)
    digests = cache_features(items, cache, jobs if rank == 0 else 1, feature_hook) if rank == 0 else None
    if world > 1:
        import torch.distributed as dist

        box = [digests]
        dist.broadcast_object_list(box, src=0)
        digests = box[0]

    # Speakers: an init checkpoint's first, in its order, then new names sorted.
    base_model, base_speakers, taught = None, (), []
    if resume:
        base_model, header = _load(out_path)
        base_speakers, taught = header.speakers, list(taught_names(header.training))
    elif init is not None:
        base_model, header = _load(Path(init))
        if header.frontend != frontend_id:
            raise TrainError(
                f"{init}: made for front-end {header.frontend!r}, training uses {frontend_id!r}"
            )
        base_speakers = header.speakers
        taught = list(taught_names(header.training))
    names = sorted({s for item in items for s in item.likes} - set(base_speakers))
    if init is not None and not resume and config.trainable != "overlap":  # a fine-tune's new names are ones users taught
        taught += names
    # An overlap-only fine-tune leaves the head as it was: new voices get head rows for
    # the set matching while it trains, but the checkpoint keeps only the init's speakers.
    kept_speakers = len(base_speakers) if config.trainable == "overlap" and base_speakers else None
    speakers = tuple(base_speakers) + tuple(names)
    index = {s: i for i, s in enumerate(speakers)}

    examples = []
    for item in items:
        feats = cache.load(digests[item.id])
        act = _activity(item, feats.shape[0], FRAME_HOP_S) if item.segments is not None else None
        spans = None
        if config.timings == "reviewed":
            spans = _frame_spans(item.extra.get("reviewed") or (), feats.shape[0])
            act = act if spans else None
        examples.append(_Example(feats, tuple(index[s] for s in item.likes), act, spans or None))

    torch.manual_seed(config.seed)
    if base_model is not None:
        model = _resize_head(base_model, len(speakers))
        if (model_overrides or {}).get("attractor_overlap"):
            model = _with_overlap_detector(model, model_overrides)
    else:
        dim = examples[0].features.shape[1]
        model = Weighter(speech_model_config(dim, len(speakers), **(model_overrides or {})))
        mean, std = _feature_stats(examples)
        model.set_feature_stats(torch.from_numpy(mean), torch.from_numpy(std))
    model.to(dev).train()
    step_module: nn.Module = _TrainStep(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_module = DistributedDataParallel(step_module, device_ids=[dev.index] if dev.type == "cuda" else None)

    head = list(model.classifier.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier.")]
    learns = TRAINABLE[config.trainable]
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith(learns))
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainError(f"this model has no parameters to train with trainable={config.trainable!r}"
                         + (" (it has no overlap detector: add one with --overlap-detector)"
                            if config.trainable == "overlap" else ""))
    base_lrs = [config.lr, config.lr * config.head_lr_factor]
    opt = torch.optim.AdamW(
        [{"params": body}, {"params": head}], lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng([config.seed, rank])
    start_step = 0
    if resume:
        start_step = _load_resume(out_path, opt, rng, config, speakers)
        if start_step >= config.steps:
            raise TrainError(
                f"{out_path} already has {start_step} steps; ask for more with --steps to continue"
            )

    weights = LossWeights()
    voices = _enrolled(items, examples, taught, header.training.get("voices") if base_model is not None else None)
    training_info = {
        "config": config.to_dict(),
        "files": len(items),
        "hours": round(sum(e.features.shape[0] for e in examples) * FRAME_HOP_S / 3600, 3),
        "init": str(init) if init is not None else None,
        "taught": taught,
        **({"voices": voices} if voices else {}),
        "world_size": world,
    }
    clock = time.perf_counter()
    for step in range(start_step + 1, config.steps + 1):
        for group, lr in zip(opt.param_groups, base_lrs):
            group["lr"] = lr * _lr_factor(step, config.steps, config.warmup_steps)
        feats, lengths, likes, activity = _batch(examples, config, rng, model.config.time_reduction)
        if config.regime == "likes":
            activity = [None] * len(activity)  # timings only told which likes a crop holds
        feats, lengths = feats.to(dev), lengths.to(dev)
        out_, logits = step_module(feats, lengths)
        timed = [None if a is None else a.to(dev) for a in activity]
        shares = timed  # untimed items get likes-guided targets below (a new list)
        if any(a is None for a in activity):  # no timings: likes-guided targets
            vectors = block_mean(feats[..., -model.config.embedding_dim :], out_.mask, model.config.time_reduction)
            guided = like_shares(vectors, model.classifier.weight, likes, model.config.class_scale)
            vad = energy_vad(feats[..., : feats.shape[-1] - model.config.embedding_dim], out_.mask)
            shares = [g * vad[b, :, None] if s is None else s for b, (s, g) in enumerate(zip(shares, guided))]
        cost = [FRAME_COST_SCALE * c for c in frame_match_cost(out_.curves, shares, out_.mask)]
        parts = set_matching_loss(
            out_.curves, out_.confidences, logits, likes, out_.mask, weights,
            match_cost=cost,
        )
        frames_loss = frame_target_loss(out_.curves, shares, parts.matched, out_.mask)
        if out_.overlap is not None:  # the overlap detector learns from the timings
            frames_loss = frames_loss + overlap_loss(out_.overlap, timed, out_.mask)
        loss = parts.total + config.frame_weight * frames_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

        written = None
        if rank == 0 and out_path is not None and (step % config.checkpoint_every == 0 or step == config.steps):
            model.eval()
            with torch.random.fork_rng(devices=[]):  # a resized copy's init draws nothing from training's stream
                saved = model if kept_speakers is None else _resize_head(model, kept_speakers)
            save_checkpoint(out_path, saved, frontend=frontend_id, speakers=speakers[: saved.config.num_classes],
                            training={**training_info, "steps": step})
            model.train()
            _save_resume(out_path, opt, rng, step, config, speakers)
            written = out_path
        yield TrainProgress(
            step, config.steps, loss.item(), parts.classification.item(),
            parts.confidence.item(), frames_loss.item(), time.perf_counter() - clock, written,
        )
    model.eval()
    yield TrainResult(model, out_path, speakers, config.steps)


def _enrolled(items: Sequence[ManifestItem], examples: Sequence[_Example], taught: Sequence[str],
              earlier) -> dict | None:
    """The taught names' voiceprint centres (``taught_voices.enrol``, the shipped voice
    encoder): one voiceprint per file of its speech where a taught name speaks and
    nobody else does, by its segments, or for a file that trains on likes alone, where
    its named slots were heard (``named_segments``, ``annotation.exports``). None without
    taught names or anything to enrol them from. Entries that are not (start, end, name)
    with 0 <= start < end are skipped."""
    if not taught:
        return None
    wanted = set(taught)
    try:
        encoder = VoiceEncoder.from_file()
    except VoiceEncoderError as e:  # before any step is taken: nothing is lost
        raise TrainError(str(e)) from None
    pieces = []
    for item, ex in zip(items, examples):
        segments = item.segments if item.segments is not None else item.extra.get("named_segments") or ()
        try:
            segments = [(float(a), float(b), str(n)) for a, b, n in segments]
        except (TypeError, ValueError):
            continue  # a hand-edited manifest's odd entry enrols nothing; training does not need it
        segments = [(a, b, n) for a, b, n in segments if 0 <= a < b < math.inf]
        names = sorted({n for _, _, n in segments})
        act = _segment_activity(segments, names, ex.features.shape[0], FRAME_HOP_S)
        alone = act.sum(0) == 1
        lone = {name: row & alone for name, row in zip(names, act)}
        lone = {n: f for n, f in lone.items() if n in wanted and f.sum() * FRAME_HOP_S >= MIN_ENROL_SECONDS}
        if not lone:
            continue
        first = {n: np.flatnonzero(f)[: int(MAX_ENROL_SECONDS / FRAME_HOP_S)] for n, f in lone.items()}
        # decoded only as far as the last frame enrolled (the 25 ms window of 10 ms frame i
        # starts at sample 160 i): an hour-long file whose voices are heard early is not read whole
        end = max(int(f[-1]) for f in first.values()) * HOP_LENGTH + FILTERBANK_WINDOW
        try:  # the features came from this file a moment ago; a file gone since enrols nothing
            feats = filterbanks(_audio_until(item.audio, end))
        except AudioError:
            continue
        for name, frames in first.items():
            frames = frames[frames < len(feats)]
            if len(frames):
                pieces.append((name, encoder.embed(feats[torch.from_numpy(frames)])))
    entry = enrol(pieces, encoder.digest, VOICE_DIM, earlier)
    return entry if entry["centres"] else None


def _audio_until(path: Path, samples: int) -> np.ndarray:
    """The first ``samples`` samples of ``path`` as ``load_audio`` gives them (fewer
    if it is shorter), decoded no further."""
    blocks, have = [], 0
    stream = iter_audio_blocks(path)
    try:
        for block in stream:
            blocks.append(block)
            have += len(block)
            if have >= samples:
                break
    finally:
        stream.close()
    return np.concatenate(blocks)[:samples] if blocks else np.zeros(0, np.float32)


def _load(path: Path):
    try:
        return load_checkpoint(path)
    except CheckpointError as e:
        raise TrainError(str(e)) from None


def _resize_head(model: Weighter, num_classes: int) -> Weighter:
    """A copy of ``model`` whose classification head has ``num_classes`` rows (the
    first ones kept, new ones initialised as a new model's)."""
    old = model.config.num_classes
    if num_classes == old:
        return model
    resized = Weighter(replace(model.config, num_classes=num_classes))
    state = model.state_dict()
    weight = resized.classifier.weight.detach().clone()
    keep = min(old, num_classes)
    if keep:
        weight[:keep] = state["classifier.weight"][:keep]
    state["classifier.weight"] = weight
    resized.load_state_dict(state)
    return resized.to(next(model.parameters()).device)


def _with_overlap_detector(model: Weighter, overrides: dict) -> Weighter:
    """``model`` with the overlap detector that ``overrides`` asks for: its own if it
    has that design already, else a new (nearly closed) one; all else kept."""
    if model.config.readout != "attractors":
        raise TrainError("the overlap detector needs the attractor read-out; this model has "
                         f"{model.config.readout!r}")
    design = {k: v for k, v in overrides.items() if k in _DETECTOR_FIELDS}
    config = replace(model.config, **design)
    if model.config.attractor_overlap and config == model.config:
        return model
    grown = Weighter(config)
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("overlap_")}
    missing, unexpected = grown.load_state_dict(kept, strict=False)
    assert not unexpected and all(k.startswith("overlap_") for k in missing), (missing, unexpected)
    return grown


def _feature_stats(examples: Sequence[_Example], limit: int = 64) -> tuple[np.ndarray, np.ndarray]:
    picks = np.linspace(0, len(examples) - 1, min(limit, len(examples))).astype(int)
    x = np.concatenate([np.asarray(examples[i].features[::5], dtype=np.float32) for i in picks])
    return x.mean(0), x.std(0)


def _batch(examples, config: TrainConfig, rng: np.random.Generator, stride: int):
    """A batch: crops of the files with timings; whole files without (their likes need all of
    it) and in the likes regime, cropped to ``max_whole_seconds`` when longer."""
    picks = rng.integers(0, len(examples), config.batch_size)
    lo, hi = (int(s / FRAME_HOP_S) for s in config.crop_seconds)
    crop = int(rng.integers(lo, hi + 1)) // stride * stride or stride
    cap = max(stride, int(config.max_whole_seconds / FRAME_HOP_S) // stride * stride)
    min_frames = int(config.min_like_seconds / FRAME_HOP_S)
    feats, likes, activity = [], [], []
    for i in picks:
        ex = examples[i]
        total = ex.features.shape[0]
        whole = ex.activity is None or config.regime == "likes"
        if whole and total <= cap:
            start, length = 0, total
        elif not whole and ex.spans is not None:  # a crop inside a range a person reviewed
            sizes = np.array([b - a for a, b in ex.spans], dtype=float)
            a, b = ex.spans[int(rng.choice(len(sizes), p=sizes / sizes.sum()))]
            length = min(crop, b - a)
            start = a + int(rng.integers(0, b - a - length + 1))
        else:
            length = min(cap if whole else crop, total)
            start = int(rng.integers(0, total - length + 1))
        feats.append(torch.from_numpy(np.asarray(ex.features[start : start + length], dtype=np.float32)))
        if ex.activity is None or (whole and length == total):
            # All of the file, or a crop of a long one without timings (its likes assumed present).
            likes.append(list(ex.likes))
            activity.append(None)
        else:
            act = ex.activity[:, start : start + length]
            present = np.flatnonzero(act.sum(1) >= min_frames)
            likes.append([ex.likes[k] for k in present])
            activity.append(torch.from_numpy(act[present].T.astype(np.float32)))  # [T, K]
    lengths = torch.tensor([f.shape[0] for f in feats])
    padded = nn.utils.rnn.pad_sequence(feats, batch_first=True)
    activity = [None if a is None else nn.functional.pad(a, (0, 0, 0, padded.shape[1] - a.shape[0]))
                for a in activity]
    return padded, lengths, likes, activity


# ----------------------------------------------------------------------------- resume


def _resume_path(out: Path) -> Path:
    return out.with_name(out.name + RESUME_SUFFIX)


def _save_resume(out: Path, opt, rng: np.random.Generator, step: int, config: TrainConfig, speakers) -> None:
    from safetensors.torch import save_file

    tensors = {"torch_rng": torch.get_rng_state()}
    state = opt.state_dict()
    for pid, s in state["state"].items():
        for key, value in s.items():
            tensors[f"opt.{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    meta = {
        "step": step,
        "numpy_rng": rng.bit_generator.state,
        "config": config.to_dict(),
        "speakers": list(speakers),
    }
    with atomic_path(_resume_path(out)) as tmp:
        save_file(tensors, str(tmp), metadata={"weighter_resume": json.dumps(meta)})


def _load_resume(out: Path, opt, rng: np.random.Generator, config: TrainConfig, speakers) -> int:
    from safetensors import safe_open

    path = _resume_path(out)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["weighter_resume"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # a damaged or foreign file
        raise TrainError(f"{path}: not a readable resume state ({e}); start again without --resume") from None
    saved = dict(meta["config"], steps=config.steps)
    if saved != config.to_dict():
        raise TrainError(f"{path}: was made with other training settings ({meta['config']}); use the same ones")
    if tuple(meta["speakers"]) != tuple(speakers):
        raise TrainError(f"{path}: was made for other speakers; the manifest changed since")
    state = opt.state_dict()
    for pid in range(sum(len(g["params"]) for g in state["param_groups"])):
        keys = [k for k in tensors if k.startswith(f"opt.{pid}.")]
        if keys:
            state["state"][pid] = {k.split(".", 2)[2]: tensors[k] for k in keys}
    opt.load_state_dict(state)
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"])
