"""How alike the file-level pass finds one voice's slots, and two voices', in a long file.

    python benchmarks/slot_similarity.py NAME:MANIFEST [NAME:MANIFEST ...] [--work data/long]
        [--purity 0.8] [--vectors embeddings|voiceprints] [--out docs/results] [--report slot-similarity]

For each long file ``<work>/<NAME>.flac`` built and diarized by ``long_recordings.py``
(its saved window pass ``.windows.pkl``, its reference ``.rttm`` and its list of
conversations ``.json``), each live slot is given the reference speaker who holds most
of its curve, and the conversation its curve peaks in. Slots whose speaker holds at
least ``--purity`` of their curve mass are "pure"; over the pairs of pure slots, the
cosine of their GE2E embeddings (``--vectors embeddings``, the default) or of their
voiceprints (``--vectors voiceprints``: what ``cluster_slots`` compares for slots of
different windows) is summarised by kind:

- same speaker, same conversation: the same voice in the same room and line (a
  conversation plays more than once in a long file);
- same speaker, another conversation: what the clustering must join;
- another speaker, same or another conversation: what it must keep apart.

The AUC says how well the cosine alone tells "same speaker, another conversation"
from "another speaker". Writes ``<report>.md`` / ``.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
from long_recordings import RATE, played
from results import write_table
from sklearn.metrics import roc_auc_score

from weighter_gui.core.diarize.clustering import unit_rows
from weighter_gui.core.io.label_files import read_rttm

BLOCK_S = 0.15  # the curves' block rate


def slot_truth(windows, reference) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per live slot: its majority speaker (index into sorted labels), that speaker's
    share of the slot's curve mass, and the block where the curve peaks (file-wide)."""
    labels = sorted(reference.labels())
    offsets = np.concatenate([[0], np.cumsum([c.shape[1] for c in windows.curves])])
    active = np.zeros((len(labels), offsets[-1]))
    for segment, _, speaker in reference.itertracks(yield_label=True):
        a, b = int(segment.start / BLOCK_S), int(np.ceil(segment.end / BLOCK_S))
        active[labels.index(speaker), a:b] = 1.0
    speaker, purity, peak = [], [], []
    for window, slot in zip(windows.slots.windows, windows.slots.slots):
        curve = windows.curves[window][slot]
        mass = active[:, offsets[window] : offsets[window] + len(curve)] @ curve
        speaker.append(int(np.argmax(mass)))
        purity.append(float(mass.max() / max(mass.sum(), 1e-9)))
        peak.append(int(offsets[window] + np.argmax(curve)))
    return np.array(speaker), np.array(purity), np.array(peak)


def conversation_of(blocks: np.ndarray, path: Path, manifest: Path) -> np.ndarray:
    """The conversation (manifest id) playing at each block of the long file."""
    sequence = played(path, manifest)
    starts = np.array([offset for _, offset, _ in sequence]) / RATE
    index = np.clip(np.searchsorted(starts, blocks * BLOCK_S, side="right") - 1, 0, len(sequence) - 1)
    return np.array([sequence[i][0].id for i in index])


def summary(values: np.ndarray) -> dict:
    return {"pairs": int(len(values)), "mean": float(values.mean()),
            **{f"p{q}": float(np.percentile(values, q)) for q in (10, 50, 90)}}


def analyse(path: Path, manifest: Path, purity_floor: float, vectors: str = "embeddings") -> dict:
    windows = pickle.loads(path.with_suffix(".windows.pkl").read_bytes())
    reference = next(iter(read_rttm(path.with_suffix(".rttm")).values()))
    speaker, purity, peak = slot_truth(windows, reference)
    conversation = conversation_of(peak, path, manifest)
    pure = purity >= purity_floor
    unit = unit_rows(getattr(windows.slots, vectors)[pure].astype(np.float64))
    cosine = (unit @ unit.T)[np.triu_indices(int(pure.sum()), 1)]
    same = (speaker[pure][:, None] == speaker[pure][None, :])[np.triu_indices(int(pure.sum()), 1)]
    same_conv = (conversation[pure][:, None] == conversation[pure][None, :])[np.triu_indices(int(pure.sum()), 1)]
    kinds = {
        "same speaker, same conversation": same & same_conv,
        "same speaker, another conversation": same & ~same_conv,
        "another speaker, same conversation": ~same & same_conv,
        "another speaker, another conversation": ~same & ~same_conv,
    }
    scored = ~(same & same_conv)
    return {
        "file": path.name, "slots": int(len(speaker)), "pure_share": float(pure.mean()),
        "speakers": len(reference.labels()),
        "kinds": {k: summary(cosine[m]) for k, m in kinds.items() if m.any()},
        "auc": float(roc_auc_score(same[scored], cosine[scored])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="NAME:MANIFEST, NAME a long file's stem under --work")
    parser.add_argument("--work", type=Path, default=Path("data/long"))
    parser.add_argument("--purity", type=float, default=0.8)
    parser.add_argument("--vectors", choices=("embeddings", "voiceprints"), default="embeddings")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--report", default="slot-similarity")
    args = parser.parse_args(argv)
    rows = []
    for spec in args.files:
        name, _, manifest = spec.partition(":")
        if not manifest:
            parser.error(f"{spec}: expected NAME:MANIFEST")
        rows.append(analyse(args.work / f"{name}.flac", Path(manifest), args.purity, args.vectors))
    what = "GE2E embeddings" if args.vectors == "embeddings" else "voiceprints (CAM++)"
    lines = [
        f"Cosine of the slots' {what} in long files' window passes, over pairs of slots whose "
        f"majority speaker holds at least {args.purity:g} of their curve mass (pure slots).",
        "",
        "| file | slots (pure) | pair kind | pairs | mean | 10th pct | median | 90th pct |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        head = f"{row['file']} | {row['slots']} ({100 * row['pure_share']:.0f} % pure)"
        for kind, s in row["kinds"].items():
            lines.append(f"| {head} | {kind} | {s['pairs']} | {s['mean']:.3f} | {s['p10']:.3f} | "
                         f"{s['p50']:.3f} | {s['p90']:.3f} |")
        lines.append(f"| {head} | AUC: same speaker in another conversation against another speaker | "
                     f"| {row['auc']:.3f} | | | |")
    write_table(args.out, args.report, lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
