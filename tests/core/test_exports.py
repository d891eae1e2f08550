"""Exports of a project (manifest, RTTM, the per-file formats), parsed back and compared; reference import; DER."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from weighter_gui.core.annotation.exports import (
    ExportError,
    corrected_segments,
    evaluate,
    export_manifest,
    export_rttm,
    export_turns,
)
from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.diarize.diarizer import FileDiarization, Track
from weighter_gui.core.io.label_files import (
    LabelFileError,
    read_audacity_labels,
    read_rttm,
    read_textgrid,
    read_turns,
)
from weighter_gui.core.io.manifest import read_manifest

HOP = 0.15


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def diarization(path, specs, duration):
    blocks = int(np.ceil(duration / HOP))
    tracks = [
        Track(f"S{i + 1}", conf, unit(i), np.zeros(blocks, np.float32), list(segs))
        for i, (conf, segs) in enumerate(specs)
    ]
    return FileDiarization(Path(path), duration, HOP, tracks, 0.5)


# a: anna (S1 + merged S3), "Ben Stone" (S2), S4 unnamed but kept, S5 not a speaker, S6 weak;
#    plus a hand-added like "carl" (no timings). Overlap between anna and Ben at 2.5-3.0.
SPECS_A = [
    (0.95, [(0.0, 3.0), (6.0, 7.5)]),
    (0.9, [(2.5, 5.0)]),
    (0.7, [(7.2, 8.4)]),
    (0.8, [(9.0, 10.5)]),
    (0.75, [(11.0, 11.9)]),
    (0.2, [(5.0, 5.6)]),
]
# b: fully named, no hand likes: segments in the manifest
SPECS_B = [(0.9, [(0.0, 2.0), (4.0, 5.0)]), (0.85, [(2.0, 4.0)])]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "study"
    (root / "audio").mkdir(parents=True)
    sf.write(root / "audio" / "a.wav", np.zeros(16000 * 12, np.float32), 16000)
    sf.write(root / "audio" / "b.wav", np.zeros(8000 * 6, np.float32), 8000)
    s = ProjectSession.create(root / "p.weighter")
    s.add_files([root / "audio" / "a.wav", root / "audio" / "b.wav", root / "audio" / "c.wav"])
    s.set_analysis("a", diarization(root / "audio" / "a.wav", SPECS_A, 12.0))
    s.set_analysis("b", diarization(root / "audio" / "b.wav", SPECS_B, 6.0))
    s.name_slot("a", "S1", "anna")
    s.merge_slots("a", "S3", "S1")
    s.name_slot("a", "S2", "Ben Stone")
    s.mark_not_speaker("a", "S5")
    s.add_like("a", "carl")
    s.name_slot("b", "S1", "anna")
    s.name_slot("b", "S2", 'dora "the voice"')
    return s.project


EXPECTED_A = {
    "anna": [(0.0, 3.0), (6.0, 8.4)],
    "Ben Stone": [(2.5, 5.0)],
    "S4": [(9.0, 10.5)],
}


def by_speaker(segments):
    out = {}
    for a, b, spk in segments:
        out.setdefault(spk, []).append((round(a, 3), round(b, 3)))
    return {k: sorted(v) for k, v in out.items()}


def test_corrected_diarization(project):
    assert by_speaker(corrected_segments(project.file("a"))) == EXPECTED_A


def test_manifest_round_trip(project, tmp_path):
    out = tmp_path / "export" / "labels.jsonl"
    report = export_manifest(project, out)
    assert report.exported == ["a", "b"] and report.paths == [out]
    assert ("c", "no speaker named yet") in report.skipped
    assert any("'carl'" in w and "likes" in w for w in report.warnings)
    assert any("S4" in w and "no name" in w for w in report.warnings)
    items = {item.id: item for item in read_manifest(out)}
    a, b = items["a"], items["b"]
    assert a.likes == ("anna", "Ben Stone", "carl")
    assert a.segments is None  # carl has no timings: the trainer must not read him as silent
    # where the named slots were heard still travels, to enrol their voices (not as targets)
    assert by_speaker(a.extra["named_segments"]) == {"anna": EXPECTED_A["anna"], "Ben Stone": EXPECTED_A["Ben Stone"]}
    assert "named_segments" not in b.extra
    assert b.likes == ("anna", 'dora "the voice"')
    assert b.segments == ((0.0, 2.0, "anna"), (2.0, 4.0, 'dora "the voice"'), (4.0, 5.0, "anna"))
    assert a.audio == project.file("a").audio and b.audio.exists()
    assert (a.duration, a.sample_rate) == (12.0, 16000) and (b.duration, b.sample_rate) == (6.0, 8000)
    assert a.sha256 == hashlib.sha256(project.file("a").audio.read_bytes()).hexdigest()
    assert not [p for p in out.parent.iterdir() if p.suffix == ".tmp"]


def test_manifest_with_segments_for_fully_timed_file(project, tmp_path):
    s = ProjectSession(project)
    s.remove_like("a", "carl")
    s.name_slot("a", "S4", "emil")
    items = {i.id: i for i in read_manifest(export_manifest(project, tmp_path / "m.jsonl").paths[0])}
    assert by_speaker(items["a"].segments) == {
        "anna": [(0.0, 3.0), (6.0, 8.4)],
        "Ben Stone": [(2.5, 5.0)],
        "emil": [(9.0, 10.5)],
    }


def test_manifest_skips_missing_audio(project, tmp_path):
    project.file("b").audio.unlink()
    report = export_manifest(project, tmp_path / "m.jsonl")
    assert report.exported == ["a"] and any(k == "b" and "missing" in why for k, why in report.skipped)


def test_rttm_round_trip(project, tmp_path):
    path = tmp_path / "out.rttm"
    report = export_rttm(project, path)
    assert report.exported == ["a", "b"] and report.skipped == [("c", "not analysed yet")]
    annotations = read_rttm(path)
    assert set(annotations) == {"a", "b"}
    got = {}
    for segment, _, label in annotations["a"].itertracks(yield_label=True):
        got.setdefault(label, []).append((round(segment.start, 3), round(segment.end, 3)))
    assert {k: sorted(v) for k, v in got.items()} == {
        "anna": [(0.0, 3.0), (6.0, 8.4)],
        "Ben_Stone": [(2.5, 5.0)],
        "S4": [(9.0, 10.5)],
    }
    assert set(annotations["b"].labels()) == {"anna", 'dora_"the_voice"'}


def test_audacity_round_trip(project, tmp_path):
    report = export_turns(project, tmp_path / "aud", "audacity")
    assert [p.name for p in report.paths] == ["a.txt", "b.txt"]
    labels = read_audacity_labels(tmp_path / "aud" / "a.txt")
    assert [a for a, _, _ in labels] == sorted(a for a, _, _ in labels)
    assert by_speaker(labels) == EXPECTED_A
    raw = (tmp_path / "aud" / "a.txt").read_text().splitlines()[0]
    assert raw == "0.000000\t3.000000\tanna"


def test_audacity_reader_skips_spectral_lines_and_rejects_junk(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("1.5\t2.5\thello world\n\\\t100.0\t2000.0\n3\t3\tpoint\n")
    assert read_audacity_labels(path) == [(1.5, 2.5, "hello world"), (3.0, 3.0, "point")]
    path.write_text("one\ttwo\tthree\n")
    with pytest.raises(LabelFileError, match="line 1"):
        read_audacity_labels(path)


def test_textgrid_round_trip(project, tmp_path):
    report = export_turns(project, tmp_path / "tg", "textgrid")
    assert [p.name for p in report.paths] == ["a.TextGrid", "b.TextGrid"]
    grid = read_textgrid(tmp_path / "tg" / "a.TextGrid")
    assert (grid.xmin, grid.xmax) == (0.0, 12.0)
    assert [t.name for t in grid.tiers] == ["anna", "Ben Stone", "S4", "carl"]
    for tier in grid.tiers:
        assert tier.kind == "IntervalTier"
        # the intervals tile the whole file: no gap, no overlap
        assert tier.intervals[0][0] == 0.0 and tier.intervals[-1][1] == 12.0
        for (a1, b1, _), (a2, _b2, _) in zip(tier.intervals, tier.intervals[1:]):
            assert b1 == a2 and a1 < b1
        assert {text for _, _, text in tier.intervals} <= {"", tier.name}
    speech = {t.name: [(a, b) for a, b, text in t.intervals if text] for t in grid.tiers}
    assert speech == {**EXPECTED_A, "carl": []}
    # overlapping speech (anna and Ben at 2.5-3.0) lives on two tiers
    assert grid.tier("anna").intervals[0] == (0.0, 3.0, "anna")
    assert grid.tier("Ben Stone").intervals[1] == (2.5, 5.0, "Ben Stone")
    quoted = read_textgrid(tmp_path / "tg" / "b.TextGrid")
    assert quoted.tier('dora "the voice"').intervals[1] == (2.0, 4.0, 'dora "the voice"')
    text = (tmp_path / "tg" / "a.TextGrid").read_text()
    assert text.startswith('File type = "ooTextFile"\nObject class = "TextGrid"\n')  # Praat's long text format


def test_textgrid_reader_takes_short_format_and_utf16(tmp_path):
    short = "\n".join(
        [
            'File type = "ooTextFile"', 'Object class = "TextGrid"', "",
            "0", "2.5", "<exists>", "2",
            '"IntervalTier"', '"Zoë"', "0", "2.5", "2", "0", "1", '"Zoë"', "1", "2.5", '""',
            '"TextTier"', '"events"', "0", "2.5", "1", "1.2", '"cough"',
        ]
    )  # fmt: skip
    path = tmp_path / "s.TextGrid"
    path.write_bytes(short.encode("utf-16"))
    grid = read_textgrid(path)
    assert grid.tier("Zoë").intervals == ((0.0, 1.0, "Zoë"), (1.0, 2.5, ""))
    assert grid.tier("events").kind == "TextTier" and grid.tier("events").intervals == ((1.2, 1.2, "cough"),)
    path.write_text(short[:120])
    with pytest.raises(LabelFileError, match="cut short"):
        read_textgrid(path)
    path.write_text("hello")
    with pytest.raises(LabelFileError):
        read_textgrid(path)


def test_import_reference_and_der(project, tmp_path):
    s = ProjectSession(project)
    export_rttm(project, tmp_path / "corrected.rttm")
    ref = s.import_reference("a", tmp_path / "corrected.rttm")
    assert by_speaker(ref.segments) == {
        "anna": EXPECTED_A["anna"],
        "Ben_Stone": EXPECTED_A["Ben Stone"],
        "S4": EXPECTED_A["S4"],
    }
    again = Project.load(project.path)
    assert again.file("a").reference == ref and again.file("a").reference.source.endswith("corrected.rttm")
    report = evaluate(again, collar=0.0)
    assert report.der == pytest.approx(0.0, abs=1e-9)  # the corrected diarization is its own reference
    model = evaluate(again, collar=0.0, which="model")
    assert model.der > 0  # the model alone kept S5 and split anna
    s.undo()
    assert s.project.file("a").reference is None
    with pytest.raises(ExportError, match="reference"):
        evaluate(s.project)


def test_read_reference_formats(project, tmp_path):
    export_turns(project, tmp_path, "textgrid")
    export_turns(project, tmp_path, "audacity")
    from_tg = read_turns(tmp_path / "a.TextGrid")
    from_aud = read_turns(tmp_path / "a.txt")
    assert by_speaker(from_tg) == by_speaker(from_aud) == EXPECTED_A
    multi = tmp_path / "multi.rttm"
    multi.write_text("SPEAKER x 1 0.0 1.0 <NA> <NA> p <NA> <NA>\nSPEAKER y 1 0.0 2.0 <NA> <NA> q <NA> <NA>\n")
    assert read_turns(multi, uris=("y",)) == [(0.0, 2.0, "q")]
    with pytest.raises(LabelFileError, match="none named"):
        read_turns(multi, uris=("z",))
    with pytest.raises(LabelFileError, match="unknown kind"):
        read_turns(tmp_path / "a.wav")


def test_nothing_to_export(tmp_path):
    p = Project(tmp_path / "empty.weighter")
    for export in (export_rttm, export_manifest):
        with pytest.raises(ExportError, match="nothing to export"):
            export(p, tmp_path / "x")
    for fmt in ("audacity", "textgrid", "eaf"):
        with pytest.raises(ExportError, match="nothing to export"):
            export_turns(p, tmp_path / "folder", fmt)


def test_the_rttm_export_writes_the_reviewed_ranges_as_uem(project, tmp_path):
    """Read back with pyannote.database, as a pyannote pipeline would."""
    from pyannote.database.util import load_uem

    report = export_rttm(project, tmp_path / "out.rttm")
    assert not (tmp_path / "out.uem").exists()  # nothing reviewed: no UEM
    project.file("a").reviewed = ((0.0, 4.5), (6.0, 12.0))
    project.file("b").reviewed = ((1.0, 2.0),)
    report = export_rttm(project, tmp_path / "out.rttm")
    assert tmp_path / "out.uem" in report.paths
    uem = load_uem(str(tmp_path / "out.uem"))
    assert [(s.start, s.end) for s in uem["a"]] == [(0.0, 4.5), (6.0, 12.0)]
    assert [(s.start, s.end) for s in uem["b"]] == [(1.0, 2.0)]


def test_the_manifest_carries_the_reviewed_ranges(project, tmp_path):
    project.file("b").reviewed = ((0.5, 4.0),)
    export_manifest(project, tmp_path / "m.jsonl")
    items = {item.id: item for item in read_manifest(tmp_path / "m.jsonl")}
    assert items["b"].extra["reviewed"] == [[0.5, 4.0]] and "reviewed" not in items["a"].extra
