"""How much work a person needs to correct each system's diarization: a simulated
annotator brings the output to the reference with the app's own turn edits, counted.

    python benchmarks/correction_effort.py [--set NAME=PATH ...] [--checkpoint NAME=PATH ...]
        [--no-gate] [--classic] [--target 0.02] [--out docs/results] [--name correction-effort]

Sets and systems as ``real_speech.py`` (default: the real development conversations
and pyannote.audio's sample). For each file the system's result goes into a project
(``ProjectSession.set_analysis``), and the annotator then makes one edit at a time
through ``ProjectSession.edit_turns``, the same core commands the app's mouse and keys
make: move an edge, delete a turn, give a turn to another speaker, give a range to one
speaker (shift-drag and a number key), draw a missed turn, erase a range. Each time it
takes the edit that lowers DER most, until DER is at most ``--target`` or no edit
helps (or ``--max-edits``). One edit is one operation.

DER here is the frame-level DER (10 ms) with pyannote's collar (0.25 s total width
around each reference boundary), overlap scored, the speakers mapped optimally; the
end result is checked with pyannote.metrics. Drawing from scratch costs one operation
per reference turn (a turn drawn exactly right with one drag and one key).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from real_speech import add_set_and_system_options, load_sets, systems
from results import write_table
from scipy.optimize import linear_sum_assignment

from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.annotation.turns import (
    AddTurn,
    DeleteTurn,
    EraseRange,
    GiveRange,
    MoveEdge,
    Reassign,
)
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import read_rttm, to_annotation

FRAME = 0.01
MIN_GAIN = 1e-4  # an edit must lower DER by this much to be worth making
EDGE_REACH = 1.0  # an edge is moved to a reference boundary at most this far away


class Scorer:
    """Frame-level DER of (start, end, speaker) turns against one reference."""

    def __init__(self, reference: list[tuple[float, float, str]], duration: float, collar: float) -> None:
        self.frames = int(np.ceil(duration / FRAME))
        self.ref_labels = sorted({s for _, _, s in reference})
        self.ref = np.zeros((len(self.ref_labels), self.frames), dtype=bool)
        scored = np.ones(self.frames, dtype=bool)
        for a, b, s in reference:
            self.ref[self.ref_labels.index(s), self._f(a):self._f(b)] = True
            for t in (a, b):  # pyannote's collar: half on each side of every boundary
                scored[self._f(t - collar / 2):self._f(t + collar / 2)] = False
        self.scored = scored
        self.ref = self.ref[:, scored]
        self.total = max(1, int(self.ref.sum()))
        self.boundaries = sorted({t for a, b, _ in reference for t in (a, b)})

    def _f(self, t: float) -> int:
        return min(self.frames, max(0, int(round(t / FRAME))))

    def der(self, turns: list[tuple[float, float, str]]) -> float:
        labels = sorted({s for _, _, s in turns})
        hyp = np.zeros((len(labels), self.frames), dtype=bool)
        for a, b, s in turns:
            hyp[labels.index(s), self._f(a):self._f(b)] = True
        hyp = hyp[:, self.scored]
        n_ref, n_hyp = self.ref.sum(0), hyp.sum(0)
        correct = 0
        if len(labels) and len(self.ref_labels):
            overlap = hyp.astype(np.float32) @ self.ref.T.astype(np.float32)
            rows, cols = linear_sum_assignment(-overlap)
            correct = int(overlap[rows, cols].sum())
        return float((np.maximum(n_ref, n_hyp).sum() - correct) / self.total)

    def mapping(self, turns) -> dict[str, str]:
        """Hypothesis speaker -> reference speaker, as DER maps them."""
        labels = sorted({s for _, _, s in turns})
        if not labels:
            return {}
        hyp = np.zeros((len(labels), self.frames), dtype=bool)
        for a, b, s in turns:
            hyp[labels.index(s), self._f(a):self._f(b)] = True
        overlap = hyp[:, self.scored].astype(np.float32) @ self.ref.T.astype(np.float32)
        rows, cols = linear_sum_assignment(-overlap)
        return {labels[r]: self.ref_labels[c] for r, c in zip(rows, cols) if overlap[r, c] > 0}


def candidates(pf, scorer: Scorer, reference, duration: float):
    """The edits worth trying now (each one app operation)."""
    turns = pf.current_turns()
    shown = [(t.start, t.end, pf.turn_speaker(t)) for t in turns if pf.turn_speaker(t) is not None]
    to_ref = scorer.mapping(shown)
    who_of = {}  # reference speaker -> the speaker reference that plays them
    for t in turns:
        label = pf.turn_speaker(t)
        if label in to_ref and to_ref[label] not in who_of:
            who_of[to_ref[label]] = t.who
    for r in scorer.ref_labels:
        who_of.setdefault(r, ("name", r))
    out = []
    bounds = np.asarray(scorer.boundaries)
    for t in turns:
        out.append(DeleteTurn(t))
        # the reference speaker who speaks most in this turn
        best = max(reference, key=lambda s: min(t.end, s[1]) - max(t.start, s[0]), default=None)
        if best is not None and min(t.end, best[1]) > max(t.start, best[0]) and who_of[best[2]] != t.who:
            out.append(Reassign(t, who_of[best[2]]))
        for side, at in (("start", t.start), ("end", t.end)):
            near = bounds[np.abs(bounds - at) <= EDGE_REACH]
            for b in near[np.argsort(np.abs(near - at))][:2]:
                if abs(b - at) > FRAME:
                    out.append(MoveEdge(t, side, float(b)))
    for a, b, s in reference:
        out.append(GiveRange(a, b, who_of[s]))
        out.append(AddTurn(a, b, who_of[s]))
    # stretches where nobody speaks in the reference but someone does in the turns
    speech = sorted((a, b) for a, b, _ in reference)
    t0 = 0.0
    for a, b in speech + [(duration, duration)]:
        if a - t0 > 0.3 and any(x.start < a and x.end > t0 for x in turns):
            out.append(EraseRange(t0, a))
        t0 = max(t0, b)
    return out


def correct(audio: Path, diarization, reference, duration: float, args, folder: Path) -> dict:
    """The system's result in a new project, corrected there."""
    session = ProjectSession.create(folder / f"{audio.stem}.weighter", overwrite=True, autosave=False)
    (key,) = session.add_files([audio])
    session.set_analysis(key, diarization)
    return correct_turns(session, key, reference, duration, args.collar, args.target, args.max_edits)


def correct_turns(session, key: str, reference, duration: float, collar: float = 0.25, target: float = 0.02,
                  max_edits: int = 400) -> dict:
    """Edit ``key``'s turns towards ``reference`` ((start, end, speaker) list), one
    ``session.edit_turns`` at a time, the best edit first; what it did, and the result."""
    scorer = Scorer(reference, duration, collar)

    def der_of(turns) -> float:
        pf = session.file(key)
        return scorer.der([(t.start, t.end, pf.turn_speaker(t)) for t in turns if pf.turn_speaker(t) is not None])

    pf = session.file(key)
    start = current = der_of(pf.current_turns())
    edits: list[str] = []
    while current > target and len(edits) < max_edits:
        pf = session.file(key)
        best, best_der = None, current - MIN_GAIN
        for edit in candidates(pf, scorer, reference, duration):
            try:
                result = edit.apply(pf.current_turns(), pf.duration)
            except Exception:  # an edit that does not fit here (LabelError): not a candidate
                continue
            d = der_of(result.turns)
            if d < best_der:
                best, best_der = edit, d
        if best is None:
            break
        session.edit_turns(key, best)  # the app's own command
        edits.append(type(best).__name__)
        current = best_der
    pf = session.file(key)
    final = [(t.start, t.end, pf.turn_speaker(t)) for t in pf.current_turns() if pf.turn_speaker(t) is not None]
    return {"der_before": start, "der_after": current, "edits": len(edits), "reached": current <= target,
            "kinds": {k: edits.count(k) for k in sorted(set(edits))}, "final": final}


def pyannote_der(reference, final, uri: str, collar: float) -> float:
    """The end result's DER by pyannote.metrics (the project's ``der``), as the README reports DER."""
    return float(der({uri: to_annotation(uri, reference)}, {uri: to_annotation(uri, final)}, collar).der)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_and_system_options(parser)
    parser.add_argument("--target", type=float, default=0.02, help="stop at this DER")
    parser.add_argument("--max-edits", type=int, default=400)
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default="correction-effort")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        sets = load_sets(args.set, args.pyannote_wheel, scratch)
        diarizers = systems(args)
        for set_name, pairs in sets.items():
            references = {}
            for audio, rttm in pairs:
                annotations = read_rttm(rttm)
                ann = annotations.get(audio.stem) or next(iter(annotations.values()))
                references[audio] = [(s.start, s.end, label) for s, _, label in ann.itertracks(yield_label=True)]
            rows = {}
            for system, diarizer in diarizers.items():
                per_file, minutes, edits, scratch_ops, reached, ders = {}, 0.0, 0, 0, 0, []
                for audio, _ in pairs:
                    d = diarizer.diarize(audio)
                    reference = references[audio]
                    r = correct(audio, d, reference, float(d.duration), args, scratch)
                    r["pyannote_der_after"] = pyannote_der(reference, r.pop("final"), audio.stem, args.collar)
                    r["reference_turns"] = len(reference)
                    r["minutes"] = float(d.duration) / 60
                    per_file[audio.stem] = r
                    minutes += r["minutes"]
                    edits += r["edits"]
                    scratch_ops += len(reference)
                    reached += r["reached"]
                    ders.append(r["der_before"])
                    print(f"{set_name}: {system}: {audio.stem}: {100 * r['der_before']:.1f} % -> "
                          f"{100 * r['der_after']:.1f} % in {r['edits']} edits {r['kinds']}", file=sys.stderr)
                rows[system] = {
                    "minutes": minutes, "edits": edits, "edits_per_minute": edits / minutes,
                    "from_scratch_per_minute": scratch_ops / minutes, "files_reached": reached,
                    "files": len(pairs), "per_file": per_file,
                }
            table = [
                f"Set `{set_name}`: {len(pairs)} files, {minutes:.1f} min. Edits a simulated annotator makes with the "
                f"app's turn edits to bring each system's output to DER <= {100 * args.target:.0f} % (collar "
                f"{args.collar} s, overlap scored); drawing from scratch is one operation per reference turn.",
                "",
                "| system | DER before | edits per minute | from scratch, per minute | files at target | "
                "DER after (pyannote.metrics) |",
                "|---|---|---|---|---|---|",
            ]
            for system, r in rows.items():
                files = r["per_file"].values()
                before = sum(f["der_before"] * f["minutes"] for f in files) / r["minutes"]
                after = sum(f["pyannote_der_after"] * f["minutes"] for f in files) / r["minutes"]
                table.append(f"| {system} | {100 * before:.1f} % | {r['edits_per_minute']:.1f} | "
                             f"{r['from_scratch_per_minute']:.1f} | {r['files_reached']}/{r['files']} | "
                             f"{100 * after:.1f} % |")
            table += ["", "DER before and after: averaged over files, weighted by length."]
            write_table(args.out, f"{args.name}-{set_name}", table, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
