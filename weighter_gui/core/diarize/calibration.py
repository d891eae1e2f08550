"""Calibrating a model's claim threshold on held-out voices: ``weighter calibrate``.

The attractor read-out gives a token to a speaker's slot when the token's cosine to
the slot's centre passes a threshold the model learned in training. Learned on the
training voices, it is too lenient for voices the model never heard: two similar
new voices end up in one slot and the file comes out with too few speakers.
Calibration sweeps an offset on that threshold (the bias of ``attractor_threshold``),
diarizes a labelled corpus of held-out voices with each, and keeps the offset with
the lowest DER. The model is saved with the offset folded into its weights and the
sweep recorded in the header's training info, so a model fine-tuned from it starts
from the calibrated threshold.

Front-end features are computed once per window and kept (float16) for the sweep:
about 0.4 MB per minute of audio.

Core code: no Qt import.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import RTTMError, read_rttm
from weighter_gui.core.io.manifest import ManifestItem, read_manifest
from weighter_gui.core.io.resources import default_checkpoint
from weighter_gui.core.model.checkpoint import load_checkpoint, save_checkpoint
from weighter_gui.core.model.weighter import claim_offset

if TYPE_CHECKING:
    from pyannote.core import Annotation

__all__ = [
    "DEFAULT_OFFSETS",
    "CalibrationError",
    "CalibrationProgress",
    "CalibrationResult",
    "MemoFrontend",
    "calibrate",
    "read_labelled",
    "save_calibrated",
]

DEFAULT_OFFSETS = tuple(round(x, 2) for x in np.arange(-0.1, 0.401, 0.05))


class CalibrationError(ValueError):
    """The model cannot be calibrated, or the corpus cannot score it."""


@dataclass(frozen=True)
class CalibrationProgress:
    offset: float
    done: int  # files diarized so far, over all offsets
    total: int


@dataclass(frozen=True)
class CalibrationResult:
    offset: float  # the chosen shift of the claim threshold
    der: dict[float, float]  # offset -> DER on the corpus
    count_accuracy: dict[float, float]  # offset -> share of files with the right speaker count
    files: int
    minutes: float
    compete_rounds: int = 0  # the read-out's competition rounds the sweep ran with
    runner_up: str = "share"  # who got an overlapped token's second share (overlap_runner_up)

    def table(self) -> str:
        rows = ["offset    DER   count right", "------  ------  -----------"]
        for off in sorted(self.der):
            mark = "  <- chosen" if off == self.offset else ""
            rows.append(f"{off:+6.2f}  {100 * self.der[off]:5.2f}%  {100 * self.count_accuracy[off]:9.0f} %{mark}")
        return "\n".join(rows)

    def to_json(self) -> dict:
        return {
            "claim_offset": self.offset,
            "compete_rounds": self.compete_rounds,
            "runner_up": self.runner_up,
            "files": self.files,
            "minutes": round(self.minutes, 1),
            "der_by_offset": {f"{k:+.2f}": round(v, 4) for k, v in sorted(self.der.items())},
        }


class MemoFrontend:
    """The diarizer's front-end, computed once per distinct window of audio."""

    def __init__(self, frontend) -> None:
        self._frontend = frontend
        self._memo: dict[bytes, torch.Tensor] = {}

    @property
    def id(self) -> str:
        return self._frontend.id

    def tensor(self, audio: np.ndarray) -> torch.Tensor:
        key = hashlib.sha1(np.ascontiguousarray(audio).tobytes()).digest()
        if key not in self._memo:
            self._memo[key] = self._frontend.tensor(audio).to(torch.float16)
        return self._memo[key].float()


def read_labelled(manifests: Iterable[str | os.PathLike[str]]) -> tuple[list[ManifestItem], dict[str, Annotation]]:
    """The items of label manifests whose entries carry an ``rttm`` reference, and
    those references by file id. Raises ``CalibrationError`` for an entry without
    one, a bad RTTM or no files at all."""
    items, references = [], {}
    for manifest in manifests:
        for item in read_manifest(manifest):
            if "rttm" not in item.extra:
                raise CalibrationError(f"{manifest}: {item.id} has no 'rttm' reference to score against")
            try:
                references.update(read_rttm(Path(manifest).parent / item.extra["rttm"]))
            except RTTMError as e:
                raise CalibrationError(str(e)) from None
            items.append(item)
    if not items:
        raise CalibrationError("the labelled corpus has no files")
    return items, references


def calibrate(
    checkpoint: str | os.PathLike[str] | None,
    manifests: Iterable[str | os.PathLike[str]],
    offsets: Iterable[float] = DEFAULT_OFFSETS,
    config: DiarizeConfig = DiarizeConfig(),
    device: str | torch.device = "cpu",
    cancelled: Callable[[], bool] = lambda: False,
    compete_rounds: int | None = None,
    runner_up: str | None = None,
) -> Iterator[CalibrationProgress | CalibrationResult]:
    """Yield progress per file diarized, then the ``CalibrationResult``.

    ``compete_rounds`` sets the read-out's ``attractor_compete_rounds`` and
    ``runner_up`` its ``overlap_runner_up``, for the sweep and the saved model (None:
    keep the model's own).

    ``manifests``: label manifests whose items carry an ``rttm`` (``weighter synth``
    writes them); use voices the model was not trained on. Raises
    ``CalibrationError`` for a model without a claim threshold or a corpus without
    references. Stops quietly when ``cancelled()``.
    """
    diarizer = Diarizer(checkpoint, config, device)
    if diarizer.model.config.readout != "attractors":
        raise CalibrationError(
            f"{diarizer.checkpoint}: only the attractor read-out has a claim threshold to "
            f"calibrate; this model's read-out is {diarizer.model.config.readout!r}"
        )
    if compete_rounds is not None:
        diarizer.model.config = replace(diarizer.model.config, attractor_compete_rounds=compete_rounds)
    if runner_up is not None:
        try:
            diarizer.model.config = replace(diarizer.model.config, overlap_runner_up=runner_up)
        except ValueError as e:
            raise CalibrationError(str(e)) from None
    items, references = read_labelled(manifests)
    offsets = sorted({round(float(o), 4) for o in offsets})
    diarizer.frontend = MemoFrontend(diarizer.frontend)
    true_count = {item.id: len(item.likes) for item in items}
    scores, counts = {}, {}
    done = 0
    for offset in offsets:
        hypotheses = {}
        with claim_offset(diarizer.model, offset):
            for item in items:
                result = diarizer.diarize(item.audio)
                hypotheses[result.uri] = result
                done += 1
                yield CalibrationProgress(offset, done, len(items) * len(offsets))
                if cancelled():
                    return
        scored = {uri: references[uri] for uri in hypotheses if uri in references}
        if not scored:
            raise CalibrationError("no diarized file's name matches a file id in the references")
        scores[offset] = der(scored, {k: r.annotation() for k, r in hypotheses.items()}).der
        counts[offset] = float(np.mean([len(r.speakers) == true_count[r.uri] for r in hypotheses.values()
                                        if r.uri in true_count]))
    # lowest DER; among equals, the smallest change
    best = min(offsets, key=lambda o: (round(scores[o], 4), abs(o)))
    minutes = sum(item.duration or 0.0 for item in items) / 60
    config = diarizer.model.config
    yield CalibrationResult(best, scores, counts, len(items), minutes, config.attractor_compete_rounds,
                            config.overlap_runner_up)


def save_calibrated(
    checkpoint: str | os.PathLike[str] | None,
    result: CalibrationResult,
    out: str | os.PathLike[str],
    corpus: str = "",
) -> Path:
    """Write the model with ``result.offset`` added to its claim threshold (and the
    sweep's competition rounds and runner-up rule in its config)."""
    source = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    model, header = load_checkpoint(source)
    model.config = replace(model.config, attractor_compete_rounds=result.compete_rounds,
                           overlap_runner_up=result.runner_up)
    with torch.no_grad():
        model.attractor_threshold.bias += result.offset
    training = dict(header.training)
    earlier = training.get("calibration", {}).get("claim_offset", 0.0)
    training["calibration"] = {**result.to_json(), "corpus": corpus, "total_claim_offset": earlier + result.offset}
    save_checkpoint(out, model, frontend=header.frontend, speakers=header.speakers, training=training)
    return Path(out)
