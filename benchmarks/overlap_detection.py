"""How well a model's overlap detector finds overlapped speech, block by block.

    python benchmarks/overlap_detection.py MANIFEST... [--checkpoint NAME=PATH ...] [--out docs/results]

For each file of the manifests (from ``weighter synth``, with RTTMs) the model runs
on the diarizer's windows, and each 150 ms block's overlap probability is scored
against the reference: a block is overlapped when two or more speakers are active
in at least half of its 10 ms frames. Reports average precision and ROC AUC
(scikit-learn), and precision, recall and F1 where the probability passes 0.5 (where
the runner-up speaker gets the block's speech in earnest). Writes
``<name>.{md,json}`` under --out.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch
from results import write_table
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from weighter_gui.core.diarize.calibration import read_labelled
from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer
from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.model.frontend import FRAME_HOP_S, HOP_LENGTH


def reference_blocks(annotation, blocks: int, stride: int) -> np.ndarray:
    """[blocks] True where two or more speakers talk in at least half the block's frames."""
    frames = np.zeros(blocks * stride, dtype=np.int32)
    for segment, _, _ in annotation.itertracks(yield_label=True):
        a, b = round(segment.start / FRAME_HOP_S), round(segment.end / FRAME_HOP_S)
        frames[max(a, 0) : min(b, len(frames))] += 1
    return ((frames >= 2).reshape(blocks, stride).mean(1)) >= 0.5


@torch.inference_mode()
def detector_blocks(diarizer: Diarizer, audio: np.ndarray) -> np.ndarray:
    """[blocks] overlap probability of each block, windowed as ``Diarizer.run`` windows."""
    stride, block_samples = diarizer.stride, HOP_LENGTH * diarizer.stride
    count = max(1, math.ceil(len(audio) / (DiarizeConfig().window_seconds * 16000)))
    window = math.ceil(len(audio) / block_samples / count) * block_samples
    probs = []
    for start in range(0, len(audio), window):
        chunk = audio[start : start + window]
        frames = len(chunk) // HOP_LENGTH
        if frames < stride:
            break
        feats = diarizer.frontend.tensor(chunk)[:frames]
        overlap = diarizer.model(feats[None]).overlap[0].numpy()
        probs.append(overlap[::stride][: frames // stride])
    return np.concatenate(probs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", nargs="+")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="default: the shipped model")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="overlap-detection")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    items, refs = read_labelled(args.manifest)
    audio = {item.id: load_audio(item.audio) for item in items}
    checkpoints = [c.split("=", 1) for c in args.checkpoint] or [["shipped", None]]
    rows = {}
    for name, path in checkpoints:
        diarizer = Diarizer(path)
        if not diarizer.model.config.attractor_overlap:
            raise SystemExit(f"{name}: this model has no overlap detector")
        truth, prob = [], []
        for i, item in enumerate(items):
            p = detector_blocks(diarizer, audio[item.id])
            truth.append(reference_blocks(refs[item.id], len(p), diarizer.stride))
            prob.append(p)
            print(f"\r{name}: {i + 1}/{len(items)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        y, p = np.concatenate(truth), np.concatenate(prob)
        precision, recall, f1, _ = precision_recall_fscore_support(y, p > 0.5, average="binary", zero_division=0)
        rows[name] = {
            "blocks": int(len(y)), "overlapped": int(y.sum()), "fired": int((p > 0.5).sum()),
            "average_precision": float(average_precision_score(y, p)), "roc_auc": float(roc_auc_score(y, p)),
            "precision": float(precision), "recall": float(recall), "f1": float(f1),
        }

    minutes = sum(len(a) for a in audio.values()) / 16000 / 60
    lines = [
        f"Overlap detection on {len(items)} conversations ({minutes:.1f} min), 150 ms blocks; a block is "
        "overlapped when two or more speakers talk in at least half of it.",
        "",
        "| model | blocks | overlapped | fired (p > 0.5) | average precision | ROC AUC | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['blocks']} | {r['overlapped']} | {r['fired']} | {r['average_precision']:.3f} | "
            f"{r['roc_auc']:.3f} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} |"
        )
    write_table(args.out, args.name, lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
