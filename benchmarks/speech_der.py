"""DER of Weighter checkpoints vs a time-agnostic baseline on an evaluation corpus.

    python benchmarks/speech_der.py EVAL_MANIFEST [--checkpoint NAME=PATH ...] [--out docs/results]

EVAL_MANIFEST comes from ``weighter synth OUT --split eval`` (the voices reserved for
evaluation only). For each file:

* **Weighter** (each checkpoint): ``Diarizer`` with default settings; the speaker
  count is the model's own (slots kept by confidence).
* **Baseline**: k-means on the GE2E part of the same front-end features (the 1.6 s
  d-vector around each 100 ms frame), given the true speaker count and the oracle
  speech regions of the reference; one speaker per frame, so it cannot represent
  overlapped speech. Time-agnostic: frames are clustered as a bag.

DER with pyannote.metrics (collar 0.25 s total, overlap scored), with the part of
the missed speech that lies where the reference has two or more speakers; speaker-count
accuracy. Writes ``speech-der.json`` and ``speech-der.md`` under --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from results import write_table

from weighter_gui.core.diarize.diarizer import Diarizer, FileDiarization, default_checkpoint
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import read_rttm
from weighter_gui.core.io.manifest import read_manifest

BASELINE_HOP = 10  # frames (100 ms) per baseline decision


def baseline_annotation(item, reference, cache):
    """k-means (true K) of GE2E frame vectors inside the reference's speech."""
    from pyannote.core import Annotation, Segment
    from sklearn.cluster import KMeans

    from weighter_gui.core.io.files import file_sha256
    from weighter_gui.core.model.frontend import FRAME_HOP_S

    feats = cache.load(file_sha256(item.audio))
    if feats is None:
        from weighter_gui.core.training.train import cache_features

        cache_features([item], cache)
        feats = cache.load(file_sha256(item.audio))
    dvec = np.asarray(feats[::BASELINE_HOP, 64:], dtype=np.float32)
    times = np.arange(len(dvec)) * BASELINE_HOP * FRAME_HOP_S
    speech = reference.get_timeline().support()
    inside = np.array([any(s.start <= t < s.end for s in speech) for t in times])
    k = len(reference.labels())
    labels = np.full(len(dvec), -1)
    if inside.sum() >= k:
        labels[inside] = KMeans(k, n_init=10, random_state=0).fit_predict(dvec[inside])
    ann = Annotation(uri=reference.uri)
    half = BASELINE_HOP * FRAME_HOP_S / 2
    start = None
    for i, lab in enumerate(list(labels) + [-2]):
        if start is not None and (lab != labels[start]):
            if labels[start] >= 0:
                ann[Segment(max(0.0, times[start] - half), times[i - 1] + half)] = f"k{labels[start]}"
            start = None
        if start is None and i < len(labels):
            start = i
    return ann


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="speech-der")
    parser.add_argument("--cache", help="feature cache (default: feature_cache beside the manifest)")
    parser.add_argument("--collar", type=float, default=0.25)
    args = parser.parse_args(argv)

    import torch

    from weighter_gui.core.model.frontend import speech_frontend_id
    from weighter_gui.core.training.train import FeatureCache

    torch.set_num_threads(2)
    items = read_manifest(args.manifest)
    refs = {}
    for item in items:
        refs.update(read_rttm(Path(args.manifest).parent / item.extra["rttm"]))
    checkpoints = dict(c.split("=", 1) for c in args.checkpoint) or {"default": str(default_checkpoint())}
    cache = FeatureCache(args.cache or Path(args.manifest).parent / "feature_cache", speech_frontend_id())
    true_k = {item.id: len(item.likes) for item in items}
    hours = sum(item.duration or 0 for item in items) / 3600
    rows = {}

    t0 = time.perf_counter()
    hyp = {item.id: baseline_annotation(item, refs[item.id], cache) for item in items}
    seconds = time.perf_counter() - t0
    rows["k-means on GE2E, true K, oracle speech"], _ = der_row(refs, hyp, args.collar, None, seconds)

    for name, path in checkpoints.items():
        diarizer = Diarizer(path)
        t0 = time.perf_counter()
        results: dict[str, FileDiarization] = {}
        for n, item in enumerate(items):
            results[item.id] = diarizer.diarize(item.audio)
            print(f"\r{name}: {n + 1}/{len(items)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        seconds = time.perf_counter() - t0
        count_ok = np.mean([len(r.speakers) == true_k[k] for k, r in results.items()])
        row, report = der_row(refs, {k: r.annotation() for k, r in results.items()}, args.collar, float(count_ok), seconds)
        row["per_file"] = {
            k: {"der": v["diarization error rate"], "speakers": len(results[k].speakers), "true": true_k[k]}
            for k, v in report.files.items()
        }
        rows[f"Weighter ({name}), own speaker count"] = row

    table = [
        f"`{args.manifest}`: {len(items)} conversations, {hours * 60:.1f} min, "
        f"{min(true_k.values())}-{max(true_k.values())} speakers. "
        f"DER collar {args.collar} s (pyannote: total width), overlap scored.",
        "",
        "| system | DER | missed | of it where 2+ talk | false alarm | confusion | speaker count right | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        count = "n/a (given)" if r["count_accuracy"] is None else f"{100 * r['count_accuracy']:.0f} %"
        table.append(
            f"| {name} | {100 * r['der']:.2f} % | {100 * r['missed']:.2f} % | {100 * r['missed_overlapped']:.2f} % | "
            f"{100 * r['false_alarm']:.2f} % | {100 * r['confusion']:.2f} % | {count} | {r['seconds']:.0f} |"
        )
    table += [
        "",
        "All parts are shares of all reference speech. *Of it where 2+ talk*: the missed speech that lies where "
        "the reference has two or more speakers (scored inside those regions only, same collar).",
    ]
    write_table(args.out, args.name, table, rows)
    return 0


def der_row(refs, hyps, collar, count_accuracy, seconds):
    """The table's row for one system, and its DER report."""
    report = der(refs, hyps, collar)
    overlapped = der(refs, hyps, collar, within={uri: ref.get_overlap() for uri, ref in refs.items()})
    t = report.total
    return {
        "der": report.der,
        "missed": report.rate(t, "missed detection"),
        "missed_overlapped": overlapped.total["missed detection"] / t["total"] if t["total"] > 0 else 0.0,
        "false_alarm": report.rate(t, "false alarm"),
        "confusion": report.rate(t, "confusion"),
        "count_accuracy": count_accuracy,
        "seconds": seconds,
    }, report


if __name__ == "__main__":
    raise SystemExit(main())
