"""How well held-out real people are told apart through rooms and lines: the equal error
rate of cosine scores between GE2E utterance vectors, raw and in the shipped speaker space.

    python benchmarks/speaker_space.py [--real ../shared/data/real/speakers] [--space PATH]
        [--out docs/results] [--name speaker-space]

For the ``dev`` split (held out from the space's fit, used to choose its size) and the
``eval`` split (LibriSpeech test-other, never used) of ``real_voices``: each speaker's
phrases, clean and through the augmentation chain three times (as the space was fit,
another seed), every pair of vectors scored. Writes ``NAME.md`` / ``.json`` under --out.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from results import write_table
from sklearn.metrics import roc_curve

from weighter_gui.core.model.speaker_space import SpeakerSpace
from weighter_gui.core.training.speaker_vectors import collect_vectors


def equal_error_rate(unit: np.ndarray, speakers: list[str]) -> float:
    labels = np.asarray(speakers)
    upper = np.triu_indices(len(unit), 1)
    same = (labels[:, None] == labels[None])[upper]
    false_accept, true_accept, _ = roc_curve(same, (unit @ unit.T)[upper])
    i = int(np.argmin(np.abs(false_accept - (1 - true_accept))))
    return float((false_accept[i] + 1 - true_accept[i]) / 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default="../shared/data/real/speakers")
    parser.add_argument("--space", default=None, help="a speaker-space file (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="speaker-space")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    space = SpeakerSpace.from_file(args.space)
    rows = {}
    for split in ("dev", "eval"):
        vectors, speakers, _ = collect_vectors([args.real], [], args.seed, split=split)
        raw = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        rows[split] = {"speakers": len(set(speakers)), "vectors": len(vectors),
                       "raw": equal_error_rate(raw, speakers), "space": equal_error_rate(space.project(vectors), speakers)}
        print(f"{split}: {rows[split]}", file=sys.stderr)
    lines = [
        "Equal error rate of cosine scores between utterance vectors of held-out real people, each phrase clean "
        "and through three rooms, noises and channels.",
        "",
        "| split | speakers | vectors | raw GE2E | in the speaker space |",
        "|---|---|---|---|---|",
        *(f"| {s} | {r['speakers']} | {r['vectors']} | {100 * r['raw']:.2f} % | {100 * r['space']:.2f} % |"
          for s, r in rows.items()),
    ]
    write_table(args.out, args.name, lines, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
