"""Other tools' formats: each written and read back by its library, Praat reading our
TextGrids, pyannote.database loading our protocol, bad files named with their line,
and another system's diarization imported into a project as turns to correct."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from weighter_gui.core.annotation.exports import (
    export_hf_dataset,
    export_nemo_manifest,
    export_pyannote_protocol,
    export_turns,
)
from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.diarize.diarizer import FileDiarization, Track
from weighter_gui.core.io.label_files import (
    FORMATS,
    LabelFileError,
    read_eaf,
    read_textgrid,
    read_turns,
    read_uem,
    write_turns,
    write_uem,
)

TURNS = [(0.5, 2.0, "anna"), (1.5, 3.25, "Ben Stone"), (4.0, 5.0, "anna"), (6.0, 6.5, 'dora "the voice"')]
SUFFIXES = [f.suffixes[0] for f in FORMATS if f.name not in ("rttm", "uem")] + [".tsv"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_format_round_trips(tmp_path, suffix):
    path = tmp_path / f"talk{suffix}"
    write_turns(path, TURNS, uri="talk", duration=8.0, speakers=["carl"], media=tmp_path / "talk.wav")
    assert read_turns(path) == sorted(TURNS)


def test_rttm_round_trips_with_spaces_as_underscores(tmp_path):
    write_turns(tmp_path / "t.rttm", TURNS, uri="talk", duration=8.0)
    back = read_turns(tmp_path / "t.rttm")
    assert back == sorted((a, b, "_".join(s.split())) for a, b, s in TURNS)


def test_textgrid_binary_and_tiers(tmp_path):
    import pympi

    grid = pympi.Praat.TextGrid(xmin=0.0, xmax=8.0)
    for name in ("anna", "Ben"):
        tier = grid.add_tier(name)
        tier.add_interval(1.0 if name == "anna" else 3.0, 2.0 if name == "anna" else 4.0, name)
    grid.add_tier("notes", tier_type="TextTier").add_point(5.0, "laugh")
    grid.to_file(str(tmp_path / "b.TextGrid"), mode="binary")
    tiers = read_textgrid(tmp_path / "b.TextGrid")
    assert [t.name for t in tiers.tiers] == ["anna", "Ben", "notes"] and tiers.xmax == 8.0
    assert read_turns(tmp_path / "b.TextGrid") == [(1.0, 2.0, "anna"), (3.0, 4.0, "Ben")]
    assert read_turns(tmp_path / "b.TextGrid", tier="Ben") == [(3.0, 4.0, "Ben")]  # a chosen tier: its texts
    with pytest.raises(LabelFileError, match="no tier 'x'"):
        read_turns(tmp_path / "b.TextGrid", tier="x")


@pytest.mark.skipif(shutil.which("praat") is None, reason="Praat is not installed (packaging/dev.sh installs it)")
def test_praat_reads_our_textgrid_and_writes_it_back(tmp_path):
    ours = write_turns(tmp_path / "ours.TextGrid", TURNS, uri="talk", duration=8.0, speakers=["carl"])
    script = tmp_path / "resave.praat"
    script.write_text('form Resave\n  sentence In\n  sentence Out\nendform\nRead from file: in$\n'
                      'Save as text file: out$\n')
    back = tmp_path / "praat.TextGrid"
    done = subprocess.run(["praat", "--run", str(script), str(ours), str(back)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_turns(back) == sorted(TURNS)
    assert [t.name for t in read_textgrid(back).tiers] == ["anna", "Ben Stone", 'dora "the voice"', "carl"]


def test_eaf_tiers_participants_and_a_chosen_tier(tmp_path):
    import pympi

    path = write_turns(tmp_path / "t.eaf", TURNS, uri="t", duration=8.0, media=tmp_path / "t.wav")
    eaf = pympi.Elan.Eaf(str(path))  # read back by the library, as ELAN's own files are
    assert sorted(eaf.get_tier_names()) == sorted({"anna", "Ben Stone", 'dora "the voice"'})
    assert eaf.tiers["anna"][2]["PARTICIPANT"] == "anna"
    assert eaf.media_descriptors[0]["MEDIA_URL"].endswith("t.wav")
    # an ELAN file with one "speaker" tier whose annotations name the speakers
    other = pympi.Elan.Eaf()
    other.remove_tier("default")
    other.add_tier("speaker")
    other.add_annotation("speaker", 1000, 2500, "A")
    other.add_annotation("speaker", 3000, 3500, "B")
    other.add_tier("words")
    other.add_annotation("words", 1000, 1400, "hello")
    pympi.Elan.to_eaf(str(tmp_path / "o.eaf"), other)
    assert read_turns(tmp_path / "o.eaf", tier="speaker") == [(1.0, 2.5, "A"), (3.0, 3.5, "B")]
    assert {t.name for t in read_eaf(tmp_path / "o.eaf").tiers} == {"speaker", "words"}


def test_subtitles_parse_back_with_their_library(tmp_path):
    import webvtt

    write_turns(tmp_path / "t.vtt", TURNS, uri="t", duration=8.0)
    cues = webvtt.read(str(tmp_path / "t.vtt"))
    assert [c.voice for c in cues] == [s for _, _, s in sorted(TURNS)]
    assert cues[0].start == "00:00:00.500"
    write_turns(tmp_path / "t.srt", TURNS, uri="t", duration=8.0)
    assert [c.text for c in webvtt.from_srt(str(tmp_path / "t.srt"))] == [s for _, _, s in sorted(TURNS)]
    # someone else's subtitles: "Name: text" cues
    (tmp_path / "o.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAnna: hello there\n")
    assert read_turns(tmp_path / "o.vtt") == [(1.0, 2.0, "Anna")]


def test_json_layouts_of_pyannote_and_whisperx(tmp_path):
    # pyannote.core's Annotation.for_json() layout (pyannote.core 4; its readers still meet it)
    layout = {"pyannote": "Annotation", "uri": "t", "modality": "speaker", "content": [
        {"segment": {"start": 1.0, "end": 2.0}, "track": "a", "label": "SPEAKER_00"},
        {"segment": {"start": 2.5, "end": 4.0}, "track": "b", "label": "SPEAKER_01"}]}
    (tmp_path / "p.json").write_text(json.dumps(layout))
    assert read_turns(tmp_path / "p.json") == [(1.0, 2.0, "SPEAKER_00"), (2.5, 4.0, "SPEAKER_01")]
    whisperx = {"segments": [
        {"start": 0.0, "end": 3.0, "text": "hi there how", "speaker": "SPEAKER_00", "words": [
            {"word": "hi", "start": 0.0, "end": 0.4, "speaker": "SPEAKER_00"},
            {"word": "there", "start": 0.5, "end": 1.0, "speaker": "SPEAKER_00"},
            {"word": "how", "start": 2.0, "end": 3.0, "speaker": "SPEAKER_01"}]},
    ]}
    (tmp_path / "w.json").write_text(json.dumps(whisperx))
    # the words' own speakers, not the segment's majority
    assert read_turns(tmp_path / "w.json") == [(0.0, 1.0, "SPEAKER_00"), (2.0, 3.0, "SPEAKER_01")]


def test_csv_with_and_without_a_header(tmp_path):
    (tmp_path / "h.csv").write_text("speaker;begin;end\nanna;0.5;2.0\nbob;2.5;3\n")
    assert read_turns(tmp_path / "h.csv") == [(0.5, 2.0, "anna"), (2.5, 3.0, "bob")]
    (tmp_path / "n.tsv").write_text("0.5\t2.0\tanna\n")
    assert read_turns(tmp_path / "n.tsv") == [(0.5, 2.0, "anna")]


@pytest.mark.parametrize("name, text, problem", [
    ("bad.csv", "start,end,speaker\n0.5,2.0,anna\n1.0,x,bob\n", "line 3"),
    ("bad.json", '{"segments": [\n{"start": 1,\n}', "line 3"),
    ("bad.rttm", "SPEAKER t 1 0.5 1.0 <NA> <NA> a <NA> <NA>\nSPEAKER t 1 zero 1.0 <NA> <NA> a <NA> <NA>\n", "line 2"),
    ("bad.txt", "0.5\t1.0\ta\nhello\n", "line 2"),
    ("bad.eaf", '<?xml version="1.0"?>\n<ANNOTATION_DOCUMENT>\n<HEADER>\n</ANNOTATION_DOCUMENT>\n', "line 4"),
    ("bad.TextGrid", 'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = ', "cut short"),
    ("bad.vtt", "WEBVTT\n\n00:00:01.000 --> nonsense\nhello\n", "bad.vtt"),
    ("notes.TextGrid", "just some notes", "not a Praat TextGrid"),
    ("empty.csv", "start,end,speaker\n", "no speech turns"),
])
def test_a_bad_file_is_named_with_its_line(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LabelFileError, match=problem) as caught:
        read_turns(path)
    assert str(path) in str(caught.value)


def test_uem_read_by_pyannote_database(tmp_path):
    write_uem(tmp_path / "r.uem", {"a": [(0.0, 4.5), (6.0, 12.0)], "b": [(1.0, 2.0)]})
    assert read_uem(tmp_path / "r.uem", uris=["a"]) == [(0.0, 4.5), (6.0, 12.0)]
    (tmp_path / "bad.uem").write_text("a 1 0.0 4.5\na 1 six 7\n")
    with pytest.raises(LabelFileError, match="line 2"):
        read_uem(tmp_path / "bad.uem")


# ------------------------------------------------------------------------------ in a project


@pytest.fixture
def session(tmp_path):
    audio = tmp_path / "audio" / "talk.wav"
    audio.parent.mkdir()
    sf.write(audio, np.zeros(16000 * 10, np.float32), 16000)
    s = ProjectSession.create(tmp_path / "p.weighter")
    s.add_files([audio])
    blocks = int(10 / 0.15) + 1
    tracks = [Track("S1", 0.9, np.ones(8, np.float32) / 8 ** 0.5, np.zeros(blocks, np.float32), [(0.0, 9.0)])]
    s.set_analysis("talk", FileDiarization(audio, 10.0, 0.15, tracks, 0.5))
    s.name_slot("talk", "S1", "anna")
    return s


def test_another_systems_rttm_imports_as_turns_to_correct(session, tmp_path):
    rttm = tmp_path / "pyannote.rttm"
    rttm.write_text("SPEAKER talk 1 0.5 2.0 <NA> <NA> anna <NA> <NA>\n"
                    "SPEAKER talk 1 3.0 4.0 <NA> <NA> SPEAKER_01 <NA> <NA>\n"
                    "SPEAKER talk 1 8.0 1.5 <NA> <NA> SPEAKER_01 <NA> <NA>\n")
    rttm.with_suffix(".uem").write_text("talk 1 0.0 8.5\n")  # scored only up to 8.5 s: the turn is cut there
    assert session.import_turns("talk", rttm) == 3
    pf = session.file("talk")
    assert [(t.start, t.end, pf.turn_speaker(t)) for t in pf.turns] == [
        (0.5, 2.5, "anna"), (3.0, 7.0, "SPEAKER_01"), (8.0, 8.5, "SPEAKER_01")]
    assert {sp.label for sp in pf.speakers()} == {"anna", "SPEAKER_01"}  # anna: the project's anna
    session.undo()
    assert session.file("talk").turns is None


def test_a_malformed_import_changes_nothing(session, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,speaker\n1,2,a\n3,oops,b\n")
    before = (tmp_path / "p.weighter").read_bytes()
    undo = session.undo_text
    with pytest.raises(ProjectError, match="line 3"):
        session.import_turns("talk", bad)
    assert session.file("talk").turns is None and session.undo_text == undo
    assert (tmp_path / "p.weighter").read_bytes() == before


def test_eaf_import_then_exports_for_other_tools(session, tmp_path):
    write_turns(tmp_path / "elan.eaf", [(1.0, 3.0, "anna"), (3.5, 5.0, "bob")], uri="talk", duration=10.0)
    session.import_turns("talk", tmp_path / "elan.eaf")
    session.mark_reviewed("talk", 0.0, 6.0)
    project = session.project
    for fmt in ("eaf", "textgrid", "vtt", "csv", "json", "srt", "audacity"):
        report = export_turns(project, tmp_path / fmt, fmt)
        assert read_turns(report.paths[0]) == [(1.0, 3.0, "anna"), (3.5, 5.0, "bob")]

    from pyannote.database import FileFinder, registry

    export_pyannote_protocol(project, tmp_path / "protocol", name="WeighterTest")
    registry.load_database(str(tmp_path / "protocol" / "database.yml"))
    protocol = registry.get_protocol("WeighterTest.SpeakerDiarization.Project", preprocessors={"audio": FileFinder()})
    (item,) = list(protocol.train())
    assert item["uri"] == "talk" and Path(item["audio"]).resolve() == project.file("talk").audio.resolve()
    assert sorted(item["annotation"].labels()) == ["anna", "bob"]
    assert [(s.start, s.end) for s in item["annotated"]] == [(0.0, 6.0)]  # the reviewed range

    export_nemo_manifest(project, tmp_path / "nemo")
    (line,) = (tmp_path / "nemo" / "manifest.json").read_text().splitlines()
    entry = json.loads(line)
    assert entry["num_speakers"] == 2 and entry["duration"] == 10.0
    assert read_turns(entry["rttm_filepath"]) == [(1.0, 3.0, "anna"), (3.5, 5.0, "bob")]
    assert read_uem(entry["uem_filepath"]) == [(0.0, 6.0)]


def test_the_hugging_face_export_in_the_diarizers_layout(session, tmp_path):
    datasets = pytest.importorskip("datasets", reason="the optional 'hf' extra is not installed")
    write_turns(tmp_path / "t.csv", [(1.0, 3.0, "anna"), (3.5, 5.0, "bob")], uri="talk", duration=10.0)
    session.import_turns("talk", tmp_path / "t.csv")
    export_hf_dataset(session.project, tmp_path / "hf")
    dataset = datasets.load_from_disk(str(tmp_path / "hf"))
    assert isinstance(dataset.features["audio"], datasets.Audio)
    row = dataset.remove_columns("audio")[0]  # (decoding the audio needs torchcodec: not the point here)
    assert row["timestamps_start"] == [1.0, 3.5] and row["timestamps_end"] == [3.0, 5.0]
    assert row["speakers"] == ["anna", "bob"]
    import threading

    for thread in threading.enumerate():  # datasets' bars start tqdm's monitor thread, even switched off
        if thread.name == "tqdm_monitor":
            thread.exit()
            thread.join()
