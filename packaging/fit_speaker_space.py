#!/usr/bin/env python3
"""Fit the speaker space the file-level clustering compares slots in (LDA on GE2E vectors).

Usage (the shipped file; about 8 minutes on one CPU thread)::

    python packaging/fit_speaker_space.py resources/speaker-space.safetensors \
        --real ../shared/data/real/speakers --manifest data/train/manifest.jsonl --manifest data/train_b/manifest.jsonl

The real speakers are those of the training split (``real_voices.speakers_for_split``);
the manifests must be training corpora of ``weighter synth`` (no voice reserved for
evaluation). See ``weighter_gui.core.model.speaker_space`` for what is fit and why.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from weighter_gui.core.model.speaker_space import SpeakerSpace
from weighter_gui.core.training.speaker_vectors import collect_vectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--real", action="append", default=[], help="a folder of real speakers' folders")
    parser.add_argument("--manifest", action="append", default=[], help="a training corpus's manifest.jsonl")
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--shrinkage", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        vectors, speakers, counts = collect_vectors(
            args.real, args.manifest, args.seed,
            progress=lambda done, total: print(f"\rreal speakers {done}/{total}", end="", file=sys.stderr),
        )
        space = SpeakerSpace.fit(vectors, speakers, args.dims, args.shrinkage)
    except (OSError, ValueError) as e:  # a missing or malformed manifest, too few speakers
        print(f"error: {e}", file=sys.stderr)
        return 2
    space.metadata.update(counts, seed=args.seed)
    space.save(args.out)
    print(f"\n{args.out}: {space.metadata} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
