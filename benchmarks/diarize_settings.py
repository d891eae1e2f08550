"""DER of the Diarizer's settings on held-out voices: where its defaults come from.

    python benchmarks/diarize_settings.py MANIFEST... [--checkpoint C] [--offsets 0,0.2] [--out docs/results]

Sweeps the claim-threshold offset (what ``weighter calibrate`` folds into a model),
an offset on the overlap detector's logit, who gets an overlapped token's second share
(``overlap_runner_up``) and the read-out's competition rounds
(``attractor_compete_rounds``) against the linking settings of ``DiarizeConfig``: the slot floor
(``min_slot_confidence``), the least speech a track needs (``min_speaker_seconds``),
the file-level clustering's cosine (``cluster_similarity``; ``link_similarity`` in results written before it)
and the cosine at which two slots of one window may join there (``same_window_similarity``), the cosine at which
a file's tracks are merged (``merge_similarity``), the curve level that counts as
speech (``activity``), the pauses filled inside one speaker's speech (``fill_gap``),
the seconds added to both ends of each segment (``segment_padding``), the snapping
of segment edges to the sound (``edge_level``, ``edge_search``), the overlap kept at
speaker changes (``change_overlap_level``, ``change_overlap_reach``), the merging of
shadow speakers (``shadow_overlap``, ``shadow_similarity``), the dropping of weak
segments inside other speakers' turns (``enclosed_seconds``, ``enclosed_level``), the
cutting of slots that hold two voices (``split_similarity``, ``split_min_seconds``; off
unless given, as it was before it existed), the slot confidence that makes a speaker
(``threshold``) and the speech detector's gate (``speech_pad``, ``speech_threshold``;
pad -1: no speech detection). Each row is the DER over all manifests. Use manifests of voices held out from training (never the
voices reserved for evaluation). Writes ``diarize-settings.{md,json}`` under --out.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace

import numpy as np
import torch
from results import write_table

from weighter_gui.core.diarize.calibration import MemoFrontend, read_labelled
from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.model.weighter import claim_offset, overlap_offset


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", nargs="+")
    parser.add_argument("--checkpoint", help="default: the shipped model")
    parser.add_argument("--offsets", default="0,0.2", help="claim-threshold offsets added to the model's")
    parser.add_argument("--overlap-offsets", default="0", help="added to the overlap detector's logit")
    parser.add_argument("--runner-up", help="overlap_runner_up values, e.g. share,single (default: the model's)")
    parser.add_argument("--compete-rounds", default="0,2")
    parser.add_argument("--threshold", default="0.5", help="slot confidence that makes a speaker")
    parser.add_argument("--min-slot-confidence", default="0.05,0.2")
    parser.add_argument("--min-speaker-seconds", default="0,1")
    parser.add_argument("--cluster-similarity", default="0.85")
    parser.add_argument("--same-window-similarity", default="1.01",
                        help="cosine at which two slots of one window may join (above 1: never)")
    parser.add_argument("--merge-similarity", default="1.0", help="cosine at which tracks merge (1: never)")
    parser.add_argument("--activity", default="0.5", help="curve level that counts as speech")
    parser.add_argument("--fill-gap", default="0.3", help="seconds of pause filled inside one speaker's speech")
    parser.add_argument("--segment-padding", default="0.075", help="seconds added to both ends of segments")
    parser.add_argument("--edge-level", default="0.05", help="share of the loudness range that counts as sound")
    parser.add_argument("--edge-search", default="0.6", help="seconds an edge may move to the sound's (0: off)")
    parser.add_argument("--change-level", default="0.2", help="overlap probability kept at speaker changes")
    parser.add_argument("--change-reach", default="0.6", help="seconds each speaker may go on at a change (0: off)")
    parser.add_argument("--shadow-overlap", default="1.0", help="share of a shadow's speech heard while others talk (1: off)")
    parser.add_argument("--shadow-similarity", default="0.85", help="cosine of a shadow to the speaker it joins")
    parser.add_argument("--enclosed-seconds", default="0", help="shorter weak segments inside others' are dropped (0: off)")
    parser.add_argument("--enclosed-level", default="0.8", help="curve level that keeps such a segment")
    parser.add_argument("--split-similarity", default="-2", help="cosine under which a slot's two voices are cut apart (-2: off)")
    parser.add_argument("--split-min-seconds", default="2", help="seconds each of those two voices needs")
    parser.add_argument("--speech-pad", default="0.1", help="seconds speech regions are widened by (-1: no speech detection)")
    parser.add_argument("--speech-threshold", default="0.5", help="speech probability that counts as speech")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="diarize-settings")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    items, refs = read_labelled(args.manifest)
    true_k = {item.id: len(item.likes) for item in items}
    diarizer = Diarizer(args.checkpoint)
    diarizer.frontend = MemoFrontend(diarizer.frontend)
    rows = []
    config = diarizer.model.config
    grid = itertools.product(
        floats(args.speech_pad), floats(args.speech_threshold), floats(args.offsets), floats(args.overlap_offsets),
        args.runner_up.split(",") if args.runner_up else [config.overlap_runner_up], floats(args.compete_rounds), floats(args.min_slot_confidence),
        floats(args.min_speaker_seconds), floats(args.cluster_similarity),
        floats(args.same_window_similarity), floats(args.merge_similarity),
        floats(args.activity), floats(args.fill_gap), floats(args.segment_padding),
        floats(args.edge_level), floats(args.edge_search), floats(args.threshold),
        floats(args.change_level), floats(args.change_reach),
        floats(args.shadow_overlap), floats(args.shadow_similarity),
        floats(args.enclosed_seconds), floats(args.enclosed_level),
        floats(args.split_similarity), floats(args.split_min_seconds),
    )
    seen = set()
    for setting in grid:
        speech_pad, speech_threshold, offset, gate, runner_up, rounds, floor, seconds, link, same_window, merge, activity, gap, padding, level, search, threshold, change_level, reach, shadow, shadow_cos, enclosed, enclosed_level, split, split_seconds = setting
        # a level or a cosine does nothing when its rule is off: one row for all of them
        if reach == 0:
            change_level = None
        if shadow >= 1.0:
            shadow_cos = None
        if enclosed == 0:
            enclosed_level = None
        if speech_pad < 0:
            speech_threshold = None
        if split < -1:
            split_seconds = None
        setting = (speech_pad, speech_threshold) + setting[2:-8] + (
            change_level, reach, shadow, shadow_cos, enclosed, enclosed_level, split, split_seconds)
        if setting in seen:
            continue
        seen.add(setting)
        diarizer.model.config = replace(config, attractor_compete_rounds=int(rounds), overlap_runner_up=runner_up)
        diarizer.config = replace(
            DiarizeConfig(), min_slot_confidence=floor, min_speaker_seconds=seconds, cluster_similarity=link,
            same_window_similarity=same_window, merge_similarity=merge, activity=activity, fill_gap=gap, segment_padding=padding,
            edge_level=level, edge_search=search, threshold=threshold,
            change_overlap_level=change_level or 0.0, change_overlap_reach=reach,
            shadow_overlap=shadow, shadow_similarity=shadow_cos or 1.0,
            enclosed_seconds=enclosed, enclosed_level=enclosed_level or 0.0,
            speech_gate=speech_pad >= 0, speech_pad=max(speech_pad, 0.0), speech_threshold=speech_threshold or 0.5,
            split_similarity=split, split_min_seconds=split_seconds or 0.0,
        )
        with claim_offset(diarizer.model, offset), overlap_offset(diarizer.model, gate):
            results = {item.id: diarizer.diarize(item.audio) for item in items}
        report = der(refs, {k: r.annotation() for k, r in results.items()})
        found = np.array([len(results[k].speakers) for k in true_k])
        truth = np.array(list(true_k.values()))
        t = report.total
        rows.append({
            "speech_pad": speech_pad, "speech_threshold": speech_threshold, "claim_offset": offset, "overlap_offset": gate, "runner_up": runner_up, "compete_rounds": int(rounds), "min_slot_confidence": floor, "min_speaker_seconds": seconds,
            "cluster_similarity": link, "same_window_similarity": same_window, "merge_similarity": merge, "activity": activity, "fill_gap": gap, "segment_padding": padding,
            "edge_level": level, "edge_search": search, "threshold": threshold,
            "change_level": change_level, "change_reach": reach, "shadow_overlap": shadow, "shadow_similarity": shadow_cos,
            "enclosed_seconds": enclosed, "enclosed_level": enclosed_level,
            "split_similarity": split, "split_min_seconds": split_seconds, "der": report.der, "missed": report.rate(t, "missed detection"),
            "false_alarm": report.rate(t, "false alarm"), "confusion": report.rate(t, "confusion"),
            "count_right": float(np.mean(found == truth)), "too_few": int((found < truth).sum()),
            "too_many": int((found > truth).sum()),
        })
        r = rows[-1]
        print(f"speech {speech_pad}/{speech_threshold} offset {offset:+.2f} overlap {gate:+.2f} runner-up {runner_up} rounds {int(rounds)} floor {floor} seconds {seconds} link {link} same window {same_window} merge {merge} activity {activity} gap {gap} padding {padding} edges {level}/{search} threshold {threshold} change {change_level}/{reach} shadow {shadow}/{shadow_cos} enclosed {enclosed}/{enclosed_level} split {split}/{split_seconds}: DER {100 * r['der']:.2f} %,"
              f" count right {100 * r['count_right']:.0f} %", file=sys.stderr)

    minutes = sum(item.duration or 0 for item in items) / 60
    lines = [
        f"Diarizer settings on {len(items)} conversations ({minutes:.1f} min) of held-out voices; "
        "DER collar 0.25 s, overlap scored.",
        "",
        "| speech pad s | speech threshold | claim offset | overlap offset | runner-up | compete rounds | slot floor | min speaker s | cluster cosine | same-window cosine | merge cosine | activity | fill gap s | padding s | edge level | edge search s "
        "| threshold | change level | change reach s | shadow overlap | shadow cosine | enclosed s | enclosed level | split cosine | split s | DER | missed | FA | confusion | count right | too few | too many |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {'off' if r['speech_pad'] < 0 else r['speech_pad']} | {'-' if r['speech_threshold'] is None else r['speech_threshold']} | {r['claim_offset']:+.2f} | {r['overlap_offset']:+.2f} | {r['runner_up']} | {r['compete_rounds']} | {r['min_slot_confidence']} | {r['min_speaker_seconds']} | "
            f"{r.get('cluster_similarity', r.get('link_similarity'))} | {r.get('same_window_similarity', '-')} | {r['merge_similarity']} | {r['activity']} | {r['fill_gap']} | {r['segment_padding']} | {r['edge_level']} | {r['edge_search']} | {r['threshold']} | "
            f"{'-' if r['change_level'] is None else r['change_level']} | {r['change_reach']} | {r['shadow_overlap']} | {'-' if r['shadow_similarity'] is None else r['shadow_similarity']} | "
            f"{r['enclosed_seconds']} | {'-' if r['enclosed_level'] is None else r['enclosed_level']} | "
            f"{'off' if r['split_similarity'] < -1 else r['split_similarity']} | {'-' if r['split_min_seconds'] is None else r['split_min_seconds']} | {100 * r['der']:.2f} % | {100 * r['missed']:.2f} % | "
            f"{100 * r['false_alarm']:.2f} % | {100 * r['confusion']:.2f} % | {100 * r['count_right']:.0f} % | "
            f"{r['too_few']} | {r['too_many']} |"
        )
    write_table(args.out, args.name, lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
