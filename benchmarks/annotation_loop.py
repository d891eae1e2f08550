"""Does the annotation loop teach the model? Label a few files, retrain, test on others.

    python benchmarks/annotation_loop.py --work data/loop --out docs/results [--steps 400] [--batch-size 4]
                                         [--train-body --lr 5e-5 --regime likes --name NAME]
                                         [--real ../shared/data/real/speakers [--split dev] --checkpoint MODEL]

The speakers are new to the shipped model: +-400 cent pitch-shifted versions of
training voices (a speaker encoder treats them as new people; the voices reserved
for evaluation are never used); with ``--real``, the ten real people of
``librispeech-test-other`` (the real-voice eval split, never trained on), in simulated
rooms, noise and channels (``weighter synth --augment``). ``weighter synth``'s corpus code writes
``--labelled`` conversations to label and ``--held-out`` conversations of the same
speakers to test on (2-3 speakers each, 40-70 s).

The loop runs through the same core code the app runs:

1. The shipped model analyses the labelled files into a project
   (``ProjectSession.set_analysis``).
2. A simulated annotator names each kept slot after the reference speaker it
   overlaps most (as a user clicking a slot and typing its name; a slot that is
   mostly nobody's is left alone) and adds a like by hand for a speaker no slot
   found.
3. ``export_manifest`` writes the training labels; ``fine_tune_config`` and
   ``train`` retrain from the shipped model exactly as the app's Retrain does (the
   classification head alone). ``--train-body`` retrains the whole model instead
   (the frames regime: the named slots' own segments train the curves too;
   ``--regime likes`` trains it on the likes alone).
4. The labelled files are re-analysed with the new model (labels follow the
   slots by time overlap), so the gallery holds the new model's embeddings.

Before and after, on the held-out files: speaker identification of the kept slots
(a slot's true name is the reference speaker it overlaps most) by the gallery's
best suggestion, by the classification head's best class, and by the name the
diarizer gives (the nearest taught voice by voiceprint, ``TaughtVoices``; per
(file, speaker) pair: is that speaker found and called by their name?); and DER (pyannote.metrics, collar 0.25 s). Writes ``<name>.json`` and ``.md`` under --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from results import command_line, write_results

# Eight pitch-shifted training voices: four men, four women, three engines.
VOICES = (
    "festival-kal_diphone+400c",
    "festival-ked_diphone-400c",
    "festival-cmu_us_slt_arctic_hts-400c",
    "festival-czech_dita+400c",
    "espeak-m3-400c",
    "espeak-f2+400c",
    "espeak-Alex+400c",
    "espeak-linda-400c",
)
MIN_SHARE = 0.5  # a slot is "speaker X" when X covers at least this share of its speech


def dominant_speaker(segments, reference) -> str | None:
    """The reference speaker covering most of ``segments``, if at least MIN_SHARE of them."""
    from pyannote.core import Segment, Timeline

    own = Timeline([Segment(a, b) for a, b in segments]).support()
    total = own.duration()
    if total <= 0:
        return None
    best, best_s = None, 0.0
    for label in reference.labels():
        s = reference.label_timeline(label).support()
        covered = sum(x.duration for a in own for b in s if (x := a & b))
        if covered > best_s:
            best, best_s = label, covered
    return best if best_s >= MIN_SHARE * total else None


def diarize(checkpoint: Path, items) -> dict:
    from weighter_gui.core.diarize.diarizer import Diarizer

    diarizer = Diarizer(checkpoint)
    out = {}
    for n, item in enumerate(items):
        out[item.id] = diarizer.diarize(item.audio)
        print(f"\r  diarized {n + 1}/{len(items)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def annotate(session, key: str, reference) -> dict:
    """Name slots as a user would (one undo step per action); return what was done."""
    pf = session.project.file(key)
    named, extra = {}, []
    for slot in pf.analysis.slots:
        if slot.confidence < pf.effective_threshold:
            continue
        who = dominant_speaker(slot.segments, reference)
        if who is not None and who not in named.values():
            session.name_slot(key, slot.label, who)
            named[slot.label] = who
    for who in sorted(set(reference.labels()) - set(named.values())):
        session.add_like(key, who)  # "this speaker is here too", no slot found them
        extra.append(who)
    return {"named": named, "added_by_hand": extra}


def identification(results: dict, refs: dict, gallery, model_id: str, model, speakers) -> dict:
    """Speaker identification on the held-out files, by the gallery and by the classification head.

    Per slot: of the kept slots that are mostly one reference speaker, the share
    named right. Per speaker: of the (file, reference speaker) pairs, the share with
    a kept slot that is that speaker and is named right (what the user sees: "is
    Ann found and called Ann in this file?").
    """
    import torch

    rows = {"slots": 0, "gallery_right": 0, "head_right": 0, "no_truth": 0,
            "speakers": 0, "gallery_found": 0, "head_found": 0, "named": 0, "named_right": 0, "diarizer_found": 0}
    for key, d in results.items():
        found = {"gallery": set(), "head": set(), "diarizer": set()}
        for track in d.speakers:
            truth = dominant_speaker(track.segments, refs[key])
            if truth is None:
                rows["no_truth"] += 1
                continue
            rows["slots"] += 1
            if track.name is not None:  # what the diarizer itself calls the voice (a taught name)
                rows["named"] += 1
                rows["named_right"] += track.name == truth
                if track.name == truth:
                    found["diarizer"].add(truth)
            best = gallery.suggest(track.voiceprint if track.voiceprint is not None else track.embedding, model=model_id)
            if best is not None and best.name == truth:
                rows["gallery_right"] += 1
                found["gallery"].add(truth)
            if truth in speakers:
                with torch.no_grad():
                    logits = model.classify(torch.as_tensor(track.embedding, dtype=torch.float32)[None])
                if speakers[int(logits.argmax())] == truth:
                    rows["head_right"] += 1
                    found["head"].add(truth)
        rows["speakers"] += len(refs[key].labels())
        rows["gallery_found"] += len(found["gallery"])
        rows["head_found"] += len(found["head"])
        rows["diarizer_found"] += len(found["diarizer"])
    rows["gallery_accuracy"] = rows["gallery_right"] / max(rows["slots"], 1)
    rows["head_accuracy"] = rows["head_right"] / max(rows["slots"], 1)
    rows["gallery_speaker_recall"] = rows["gallery_found"] / max(rows["speakers"], 1)
    rows["head_speaker_recall"] = rows["head_found"] / max(rows["speakers"], 1)
    rows["diarizer_speaker_recall"] = rows["diarizer_found"] / max(rows["speakers"], 1)
    rows["gallery_names"] = gallery.names(model_id)
    return rows


def naming_at(checkpoint: Path, results: dict, refs: dict, similarity: float) -> dict:
    """The held-out tracks named again with ``DiarizeConfig.name_similarity`` at
    ``similarity``: (file, speaker) pairs named right, and the speakers' tracks named
    right and wrong (a track of nobody's is not counted)."""
    from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer

    diarizer = Diarizer(checkpoint, replace(DiarizeConfig(), name_similarity=similarity))
    row = {"name_similarity": similarity, "speakers": 0, "found": 0, "right": 0, "wrong": 0}
    for key, d in results.items():
        for track in d.tracks:
            track.name, track.name_probability = None, 0.0
        diarizer.name_tracks(d.tracks)
        found = set()
        for track in d.speakers:
            truth = dominant_speaker(track.segments, refs[key])
            if truth is not None and track.name is not None:
                row["right" if track.name == truth else "wrong"] += 1
                if track.name == truth:
                    found.add(truth)
        row["speakers"] += len(refs[key].labels())
        row["found"] += len(found)
    return row


def evaluate(checkpoint: Path, session, labelled, held_out, refs, collar: float,
             name_similarities=()) -> dict:
    """Analyse the labelled files into the project (labels follow), then score the held-out files."""
    from weighter_gui.core.diarize.diarizer import DiarizeConfig
    from weighter_gui.core.diarize.evaluation import der
    from weighter_gui.core.model.checkpoint import load_checkpoint

    for key, d in diarize(checkpoint, labelled).items():
        session.set_analysis(key, d)
    model_ids = {session.project.file(item.id).analysis.model_id for item in labelled}
    (model_id,) = model_ids
    results = diarize(checkpoint, held_out)
    report = der({k: refs[k] for k in results}, {k: d.annotation() for k, d in results.items()}, collar)
    naming = [naming_at(checkpoint, results, refs, t) for t in name_similarities]
    if naming:  # back to the names the diarizer gives as configured
        naming_at(checkpoint, results, refs, DiarizeConfig().name_similarity)
    model, header = load_checkpoint(checkpoint, device="cpu")
    model.eval()
    ident = identification(results, refs, session.gallery, model_id, model, list(header.speakers))
    true_k = {k: len(refs[k].labels()) for k in results}
    return {
        "checkpoint": str(checkpoint),
        "der": report.der,
        "missed": report.rate(report.total, "missed detection"),
        "false_alarm": report.rate(report.total, "false alarm"),
        "confusion": report.rate(report.total, "confusion"),
        "speaker_count_right": float(np.mean([len(d.speakers) == true_k[k] for k, d in results.items()])),
        "identification": ident,
        **({"naming": naming} if naming else {}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="data/loop", help="corpus, project and new model go here")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--labelled", type=int, default=6, help="conversations the annotator labels")
    parser.add_argument("--held-out", type=int, default=10, help="conversations to test on")
    parser.add_argument("--steps", type=int, default=400, help="retraining steps (the app's default)")
    parser.add_argument("--batch-size", type=int, default=4, help="(the app's default)")
    parser.add_argument("--regime", choices=("frames", "likes"),
                        help="default: the app's (frames: the slots' timings too); likes: likes only")
    parser.add_argument("--name", default="annotation-loop", help="file stem of the results")
    parser.add_argument("--lr", type=float, help="body learning rate (default: the app's)")
    parser.add_argument("--train-body", action="store_true",
                        help="retrain the whole model (default: the app's, the classification head alone)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--collar", type=float, default=0.25)
    parser.add_argument("--correct", action="store_true",
                        help="the annotator also corrects the labelled files' turns (benchmarks/correction_effort.py's "
                        "annotator, to DER <= 2 %%) and marks them reviewed; retraining takes the corrected turns as "
                        "frame targets (timings 'reviewed')")
    parser.add_argument("--real", metavar="DIR", help="real speakers (their eval split) instead of TTS voices")
    parser.add_argument("--split", choices=("eval", "dev"), default="eval",
                        help="with --real: the real speakers' split (dev: to choose settings on, never the eval people)")
    parser.add_argument("--checkpoint", help="the model the loop starts from (default: the shipped one)")
    parser.add_argument("--name-similarity", type=float, nargs="*", default=(), metavar="COSINE",
                        help="also name the held-out tracks after retraining at each of these "
                        "DiarizeConfig.name_similarity values (a table of its own)")
    args = parser.parse_args(argv)

    import torch

    from weighter_gui.core.annotation.exports import export_manifest
    from weighter_gui.core.annotation.session import ProjectSession
    from weighter_gui.core.io.label_files import read_rttm
    from weighter_gui.core.io.manifest import read_manifest
    from weighter_gui.core.io.resources import default_checkpoint
    from weighter_gui.core.training.augment import AugmentConfig
    from weighter_gui.core.training.synth import PITCH_SHIFTS, build_corpus
    from weighter_gui.core.training.train import TrainResult, fine_tune_config, train

    torch.set_num_threads(args.threads)
    work = Path(args.work).resolve()
    total = args.labelled + args.held_out
    corpus = work / "corpus" / "manifest.jsonl"
    if not corpus.exists() or len(read_manifest(corpus)) != total:
        who = f"real people of the {args.split} split" if args.real else f"{len(VOICES)} new speakers"
        print(f"synthesising {total} conversations of {who}…", file=sys.stderr)
        if args.real:
            build_corpus(corpus.parent, conversations=total, split=args.split, seed=args.seed, min_speakers=2,
                         max_speakers=3, duration_s=(40, 70), overlap=0.1, real=[args.real],
                         augment=AugmentConfig().without_speaker_changes())
        else:
            build_corpus(corpus.parent, conversations=total, split="train", seed=args.seed, min_speakers=2,
                         max_speakers=3, duration_s=(40, 70), overlap=0.1, pitch_shift=PITCH_SHIFTS,
                         voice_names=VOICES, cache_dir=work / "tts_cache")
    items = read_manifest(corpus)
    refs = {}
    for item in items:
        refs.update(read_rttm(corpus.parent / item.extra["rttm"]))
    labelled, held_out = items[: args.labelled], items[args.labelled:]

    project_path = work / f"{args.name}.weighter"
    session = ProjectSession.create(project_path, overwrite=True)
    session.add_files([item.audio for item in labelled])
    shipped = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    t0 = time.perf_counter()
    print("before: the shipped model", file=sys.stderr)
    for key, d in diarize(shipped, labelled).items():
        session.set_analysis(key, d)
    actions = {item.id: annotate(session, item.id, refs[item.id]) for item in labelled}
    if args.correct:
        from correction_effort import correct_turns

        for item in labelled:
            reference = [(s.start, s.end, label) for s, _, label in refs[item.id].itertracks(yield_label=True)]
            duration = session.project.file(item.id).duration
            done = correct_turns(session, item.id, reference, duration, args.collar)
            done.pop("final")
            session.mark_reviewed(item.id, 0.0, duration)
            actions[item.id]["corrected"] = done
    before = evaluate(shipped, session, labelled, held_out, refs, args.collar)

    manifest = work / f"{args.name}-manifest.jsonl"
    export = export_manifest(session.project, manifest)
    train_items = read_manifest(manifest)
    config = fine_tune_config(args.steps, args.batch_size)
    config = replace(config, regime=args.regime or config.regime, lr=args.lr or config.lr,
                     timings="reviewed" if args.correct else config.timings)
    if args.train_body:
        config = replace(config, trainable="all")
    retrained = work / f"{args.name}.safetensors"
    print(f"retraining {args.steps} steps, regime {config.regime!r}", file=sys.stderr)
    t_train = time.perf_counter()
    for event in train(train_items, config, out=retrained, cache_dir=work / "feature_cache", init=shipped):
        if isinstance(event, TrainResult):
            break
        print(f"\r  step {event.step}/{event.total} loss {event.loss:.3f}", end="", file=sys.stderr)
    print(file=sys.stderr)
    train_seconds = time.perf_counter() - t_train
    print("after: the retrained model", file=sys.stderr)
    after = evaluate(retrained, session, labelled, held_out, refs, args.collar, args.name_similarity)
    seconds = time.perf_counter() - t0

    speakers_used = sorted({s for item in items for s in item.likes})
    result = {
        "command": command_line(),
        "speakers": speakers_used,
        "voices": ("real people (LibriSpeech test-other)" if args.split == "eval" else f"real people of the {args.split} split")
                  + ", rooms, noise and channels" if args.real
                  else "pitch-shifted training voices",
        "labelled_files": [item.id for item in labelled],
        "held_out_files": [item.id for item in held_out],
        "labelled_minutes": sum(item.duration or 0 for item in labelled) / 60,
        "held_out_minutes": sum(item.duration or 0 for item in held_out) / 60,
        "annotator": actions,
        "export": export.summary(),
        "train": {"steps": args.steps, "batch_size": args.batch_size, "regime": config.regime, "lr": config.lr,
                  "timings": config.timings,
                  "train_body": config.trainable == "all",
                  "seconds": train_seconds, "torch_threads": torch.get_num_threads()},
        "before": before,
        "after": after,
        "seconds": seconds,
    }
    write_results(args.out, args.name, result, markdown(result) + "\n", indent=2)
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    named = sum(len(a["named"]) for a in r["annotator"].values())
    by_hand = sum(len(a["added_by_hand"]) for a in r["annotator"].values())
    lines = [
        f"Annotation loop: {len(r['labelled_files'])} labelled conversations ({r['labelled_minutes']:.1f} min), "
        f"{len(r['held_out_files'])} held-out conversations ({r['held_out_minutes']:.1f} min) of "
        f"{len(r['speakers'])} speakers the model never heard ({r.get('voices', 'pitch-shifted training voices')}). "
        f"The annotator named {named} slots and added {by_hand} likes by hand"
        + (f", and corrected the turns with {sum(a['corrected']['edits'] for a in r['annotator'].values())} "
           "edits, marking each file reviewed" if any("corrected" in a for a in r["annotator"].values()) else "")
        + f"; retraining (timings {r['train'].get('timings', 'all')!r}): "
        f"{r['train']['steps']} steps, batch {r['train']['batch_size']}, "
        f"{'the whole model, regime ' + repr(r['train']['regime']) if r['train']['train_body'] else 'the head alone'}, "
        f"learning rate {r['train']['lr']:g}, "
        f"{r['train']['seconds'] / 60:.1f} min on {r['train']['torch_threads']} CPU threads.",
        "",
        "| held-out files | speakers the diarizer names right | speakers named right (gallery) "
        "| speakers named right (head) | slots named right (gallery) | slots named right (head) "
        "| slots the diarizer named (right) | DER | missed | false alarm | confusion | speaker count right |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("before", "after"):
        x = r[name]
        i = x["identification"]
        unknown = name == "before"  # the shipped head has no class for the new names
        head_recall = "n/a (names unknown)" if unknown else f"{i['head_speaker_recall']:.0%}"
        head_acc = "n/a" if unknown else f"{i['head_accuracy']:.0%} of {i['slots']}"
        lines.append(
            f"| {name} retraining | {i.get('diarizer_speaker_recall', 0):.0%} of {i['speakers']} "
            f"| {i['gallery_speaker_recall']:.0%} of {i['speakers']} | {head_recall} "
            f"| {i['gallery_accuracy']:.0%} of {i['slots']} | {head_acc} "
            f"| {i['named']} of {i['slots']} ({i['named_right']}) | {x['der']:.1%} "
            f"| {x['missed']:.1%} | {x['false_alarm']:.1%} | {x['confusion']:.1%} | {x['speaker_count_right']:.0%} |"
        )
    if r["after"].get("naming"):
        lines += ["", "After retraining, the held-out tracks named at each `name_similarity` (a voiceprint cosine):",
                  "", "| name_similarity | speakers the diarizer names right | tracks named right | tracks named wrong |",
                  "|---|---|---|---|"]
        lines += [f"| {n['name_similarity']:g} | {n['found']} of {n['speakers']} | {n['right']} | {n['wrong']} |"
                  for n in r["after"]["naming"]]
    lines += ["", f"Command: `{r['command']}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
