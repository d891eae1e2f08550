"""Projects: save/load round trips, paths, errors, atomic saves, labelling commands and undo."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.core.project_helpers import HOP, SPECS_A, SPECS_B, make_diarization, unit, write_wav  # noqa: F401
from weighter_gui.core.annotation.analysis import Analysis, Slot
from weighter_gui.core.annotation.commands import AddLike, Batch, NameSlot, SetReference
from weighter_gui.core.annotation.labels import (
    LabelError,
    Labels,
    Reference,
    remap_labels,
)
from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.session import Change, ProjectSession
from weighter_gui.core.annotation.storage import (
    FORMAT_VERSION,
    ProjectError,
    ProjectVersionError,
)
from weighter_gui.core.diarize.diarizer import FileDiarization


def label_state(project: Project) -> dict:
    return {k: (pf.labels, pf.threshold, pf.reference, pf.audio) for k, pf in project.files.items()}


# ------------------------------------------------------------------------------ round trips


def test_reopening_restores_everything(session, folder):
    s = session
    s.name_slot("a", "S1", "anna")
    s.name_slot("a", "S2", "ben")
    s.merge_slots("a", "S3", "S1")
    s.mark_not_speaker("a", "S4")
    s.add_like("a", "carl")
    s.set_threshold("b", 0.6)
    s.name_slot("b", "S1", "anna")
    s.push(SetReference("b", Reference(((0.0, 2.0, "x"), (2.0, 4.0, "y")), "b.rttm")))
    before = s.project

    again = Project.load(folder / "p.weighter")
    assert list(again.files) == ["a", "b"]
    assert label_state(again) == label_state(before)
    for key in ("a", "b"):
        old, new = before.file(key).analysis, again.file(key).analysis
        assert [sl.label for sl in new.slots] == [sl.label for sl in old.slots]
        for x, y in zip(old.slots, new.slots):
            assert y.confidence == pytest.approx(x.confidence, abs=1e-5)
            np.testing.assert_array_equal(y.embedding, x.embedding)  # float32, exact
            assert y.segments == x.segments
        assert new.curves_available
        np.testing.assert_allclose(new.curves, old.curves, atol=1e-3)
        assert (new.duration, new.hop, new.threshold, new.frontend) == (
            old.duration,
            old.hop,
            old.threshold,
            old.frontend,
        )
    assert again.file("a").likes == ("anna", "ben", "carl")
    assert again.file("a").speakers() == before.file("a").speakers()
    assert again.file("b").effective_threshold == 0.6
    # the gallery is rebuilt from what was saved: the same suggestions
    from weighter_gui.core.annotation.gallery import Gallery

    assert Gallery.from_project(again, space=s.gallery.space).suggest_file(again.file("b")) == s.gallery.suggest_file(
        before.file("b")
    )


def test_the_speech_lane_is_kept_with_the_curves(session, folder):
    """A reopened project shows where speech was detected, as the analysis did."""
    d = make_diarization(folder / "audio" / "a.wav", SPECS_A)
    d.speech = np.linspace(0, 1, len(d.tracks[0].curve)).astype(np.float32)
    session.set_analysis("a", d)
    again = Project.load(folder / "p.weighter").file("a").analysis
    np.testing.assert_allclose(again.speech, d.speech, atol=1e-3)
    np.testing.assert_allclose(FileDiarization.from_analysis(again, folder / "audio" / "a.wav").speech, d.speech,
                               atol=1e-3)
    assert Project.load(folder / "p.weighter").file("b").analysis.speech is None  # b was analysed without it
    # a sidecar written before speech was kept: curves, no speech
    sidecar = folder / "p.weighter-curves" / f"{again.curves_digest}.npz"
    with np.load(sidecar) as z:
        curves = z["curves"]
    np.savez_compressed(sidecar, curves=curves)
    old = Project.load(folder / "p.weighter").file("a").analysis
    assert old.curves_available and old.speech is None


def test_project_file_is_readable_json_with_relative_paths(session, folder):
    session.name_slot("a", "S1", "anna")
    d = json.loads((folder / "p.weighter").read_text(encoding="utf-8"))
    assert d["format"] == "weighter-project" and d["format_version"] == 1  # no corrected turns: readable by format-1 readers
    assert [f["audio"] for f in d["files"]] == ["audio/a.wav", "audio/b.wav"]
    assert d["files"][0]["labels"]["names"] == {"S1": "anna"}
    assert d["speakers"] == {"anna": [["a", "S1"]]}
    assert "curve" not in json.dumps(d["files"][0]["analysis"]["slots"])  # curves live in the sidecar


def test_moved_folder_still_opens(session, folder, tmp_path):
    session.name_slot("a", "S1", "anna")
    moved = tmp_path / "elsewhere" / "study2"
    moved.parent.mkdir()
    os.rename(folder, moved)
    p = Project.load(moved / "p.weighter")
    assert p.file("a").audio == moved / "audio" / "a.wav"
    assert p.missing_files() == []
    assert p.file("a").analysis.curves_available
    assert p.file("a").name_of("S1") == "anna"


def test_project_moved_alone_finds_audio_by_absolute_path(session, folder, tmp_path):
    (tmp_path / "other").mkdir()
    target = tmp_path / "other" / "p.weighter"
    os.rename(folder / "p.weighter", target)
    p = Project.load(target)
    assert p.file("a").audio == folder / "audio" / "a.wav"
    assert p.missing_files() == []
    assert not p.file("a").analysis.curves_available  # the curves cache stayed behind: flagged, not fatal
    assert len(p.file("a").analysis.tracks[0].curve) == 0


def test_save_as_elsewhere_rewrites_paths_carries_curves_and_leaves_the_old_file(session, folder, tmp_path):
    session.name_slot("a", "S1", "anna")
    old_text = (folder / "p.weighter").read_text(encoding="utf-8")
    # Reopened, so the curves are not in memory: save-as must copy the sidecar files.
    s = ProjectSession.open(folder / "p.weighter")
    target = tmp_path / "elsewhere" / "deeper" / "q.weighter"
    target.parent.mkdir(parents=True)
    assert s.save(target) == target and s.project.path == target
    d = json.loads(target.read_text(encoding="utf-8"))
    assert [f["audio"] for f in d["files"]] == ["../../study/audio/a.wav", "../../study/audio/b.wav"]
    digests = {f["analysis"]["curves"] for f in d["files"]}
    assert {p.stem for p in (tmp_path / "elsewhere" / "deeper" / "q.weighter-curves").glob("*.npz")} == digests
    # Autosave follows the new file; the old one stays as it was, its curves too.
    s.name_slot("a", "S2", "ben")
    assert Project.load(target).file("a").name_of("S2") == "ben"
    assert (folder / "p.weighter").read_text(encoding="utf-8") == old_text
    assert len(list((folder / "p.weighter-curves").glob("*.npz"))) == 2
    # The new project stands on its own: without the old folder's curves it has everything.
    import shutil

    shutil.rmtree(folder / "p.weighter-curves")
    again = Project.load(target)
    assert again.missing_files() == [] and again.file("a").audio == folder / "audio" / "a.wav"
    assert again.file("a").analysis.curves_available and again.file("b").analysis.curves_available
    assert again.file("a").name_of("S1") == "anna"


def test_missing_audio_is_flagged_not_fatal(session, folder):
    session.name_slot("a", "S1", "anna")
    os.remove(folder / "audio" / "b.wav")
    p = Project.load(folder / "p.weighter")
    assert p.missing_files() == ["b"]
    assert not p.file("b").exists and p.file("a").exists
    assert p.file("b").analysis is not None  # the analysis is still there
    s = ProjectSession(p)
    s.name_slot("b", "S1", "anna")  # labelling works without the audio
    write_wav(folder / "moved" / "b.wav")
    s.relink_file("b", folder / "moved" / "b.wav")
    assert Project.load(folder / "p.weighter").missing_files() == []


def test_missing_curves_cache_still_opens_and_saves(session, folder):
    import shutil

    shutil.rmtree(folder / "p.weighter-curves")
    s = ProjectSession.open(folder / "p.weighter")
    a = s.project.file("a").analysis
    assert not a.curves_available and a.curves is None
    s.name_slot("a", "S1", "anna")  # saving works; the labels and segments are intact
    assert Project.load(folder / "p.weighter").file("a").speakers()[0].segments == ((0.0, 3.0), (5.0, 6.0))


@pytest.mark.parametrize("damage", [b"garbage", b"PK\x03\x04garbage", b""])
def test_damaged_curves_cache_is_not_fatal(session, folder, damage):
    for npz in (folder / "p.weighter-curves").glob("*.npz"):
        npz.write_bytes(damage)
    p = Project.load(folder / "p.weighter")
    assert not p.file("a").analysis.curves_available
    assert [t.label for t in p.file("a").analysis.tracks] == ["S1", "S2", "S3", "S4"]


def test_unknown_keys_are_kept(session, folder):
    path = folder / "p.weighter"
    d = json.loads(path.read_text())
    d["future_thing"] = {"x": 1}
    d["files"][0]["future_field"] = [1, 2]
    path.write_text(json.dumps(d))
    p = Project.load(path)
    p.save()
    d2 = json.loads(path.read_text())
    assert d2["future_thing"] == {"x": 1} and d2["files"][0]["future_field"] == [1, 2]


def test_analysis_converts_back_to_file_diarization(folder):
    diar = make_diarization(folder / "audio" / "a.wav", SPECS_A)
    a = Analysis.from_diarization(diar)
    back = FileDiarization.from_analysis(a, diar.path)
    assert isinstance(back, FileDiarization)
    assert [t.label for t in back.tracks] == [t.label for t in diar.tracks]
    np.testing.assert_allclose(back.tracks[0].curve, diar.tracks[0].curve, atol=1e-3)
    assert [t.label for t in a.speakers] == [t.label for t in diar.speakers]


def test_checkpoint_path_and_hash_are_recorded(folder, tmp_path):
    ckpt = tmp_path / "models" / "m.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")
    s = ProjectSession.create(folder / "p.weighter")
    s.add_files([folder / "audio" / "a.wav"])
    s.set_analysis("a", make_diarization(folder / "audio" / "a.wav", SPECS_A, checkpoint=str(ckpt)))
    a = Project.load(folder / "p.weighter").file("a").analysis
    import hashlib

    assert a.checkpoint == str(ckpt)
    assert a.checkpoint_sha256 == hashlib.sha256(b"weights").hexdigest() == a.model_id


# ------------------------------------------------------------------------------ errors


def test_newer_format_version_says_so_and_leaves_the_file(folder):
    path = folder / "new.weighter"
    path.write_text(
        json.dumps(
            {
                "format": "weighter-project",
                "format_version": FORMAT_VERSION + 1,
                "code_version": "9.0",
                "files": [],
            }
        )
    )
    before = path.read_bytes()
    with pytest.raises(ProjectVersionError) as e:
        ProjectSession.open(path)
    text = str(e.value)
    assert str(path) in text and "newer" in text and "update Weighter Studio" in text and "9.0" in text
    assert e.value.found == FORMAT_VERSION + 1
    assert path.read_bytes() == before


def _valid_project(folder) -> dict:
    s = ProjectSession.create(folder / "ok.weighter")
    s.add_files([folder / "audio" / "a.wav"])
    s.set_analysis("a", make_diarization(folder / "audio" / "a.wav", SPECS_A))
    s.name_slot("a", "S1", "anna")
    return json.loads((folder / "ok.weighter").read_text())


def _corrupt(kind, folder):
    d = _valid_project(folder)
    f = d["files"][0]
    if kind == "empty":
        return b""
    if kind == "truncated":
        return (folder / "ok.weighter").read_bytes()[:500]
    if kind == "binary":
        return b"\xff\xfe\x00garbage\x00\x81"
    if kind == "other json":
        return json.dumps({"hello": "world"}).encode()
    if kind == "files not a list":
        d["files"] = {"a": 1}
    elif kind == "unknown slot named":
        f["labels"]["names"] = {"S9": "anna"}
    elif kind == "bad embedding":
        f["analysis"]["slots"][0]["embedding"] = "not base64!"
    elif kind == "bad voiceprint":
        f["analysis"]["slots"][0]["voiceprint"] = "AAAA"  # 3 bytes: no whole float32
    elif kind == "NaN voiceprint":
        f["analysis"]["slots"][0]["voiceprint"] = "AADAfw=="  # float32 NaN
    elif kind == "bad version":
        d["format_version"] = "one"
    elif kind == "duplicate key":
        d["files"].append(dict(f))
    elif kind == "bad segments":
        f["analysis"]["slots"][0]["segments"] = [[3, 1]]
    elif kind == "merge chain":
        f["labels"]["merges"] = {"S2": "S3", "S3": "S4"}
    elif kind == "name with newline":
        f["labels"]["names"] = {"S1": "an\nna"}
    elif kind == "bad model name":
        f["analysis"]["slots"][0]["model_name"] = ["anna"]
    elif kind == "bad model probability":
        f["analysis"]["slots"][0].update(model_name="anna", model_probability="high")
    return json.dumps(d).encode()


@pytest.mark.parametrize(
    "kind, words",
    [
        ("empty", "empty"),
        ("truncated", "broken JSON"),
        ("binary", "not UTF-8"),
        ("other json", "not a Weighter Studio project"),
        ("files not a list", '"files" must be a list'),
        ("unknown slot named", "S9"),
        ("bad embedding", "embedding"),
        ("bad voiceprint", '"voiceprint" must be base64 of float32 values'),
        ("NaN voiceprint", '"voiceprint" holds a NaN or infinity'),
        ("bad version", "format_version"),
        ("duplicate key", "repeats"),
        ("bad segments", "start <= end"),
        ("merge chain", "merges"),
        ("name with newline", "line break"),
        ("bad model name", '"model_name" must be text'),
        ("bad model probability", '"model_probability" must be a number'),
    ],
)
def test_malformed_projects_give_clear_errors_and_are_not_touched(folder, kind, words):
    path = folder / "bad.weighter"
    path.write_bytes(_corrupt(kind, folder))
    before = path.read_bytes()
    with pytest.raises(ProjectError) as e:
        ProjectSession.open(path)
    text = str(e.value)
    assert text.startswith(str(path)), text
    assert words in text, text
    assert any(w in text for w in ("restore", "pick", "fix")), text  # says what to do
    assert path.read_bytes() == before


def test_missing_project_file(tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        Project.load(tmp_path / "nope.weighter")


def test_create_refuses_to_overwrite(folder):
    path = folder / "p.weighter"
    path.write_text("my notes")
    with pytest.raises(ProjectError, match="exists already"):
        ProjectSession.create(path)
    assert path.read_text() == "my notes"


# ------------------------------------------------------------------------------ atomic saves


def test_failed_save_leaves_previous_file_and_no_temp(session, folder, monkeypatch):
    session.name_slot("a", "S1", "anna")
    path = folder / "p.weighter"
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    heard: list[Change] = []
    session.add_listener(heard.append)
    session.name_slot("a", "S2", "ben")  # autosave fails: no exception, the change is kept
    assert session.project.file("a").name_of("S2") == "ben"
    assert session.dirty and "No space left" in session.save_error and "intact" in session.save_error
    assert heard[-1].saved is False and heard[-1].save_error == session.save_error
    assert path.read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    session.name_slot("a", "S3", "cleo")  # the next change saves everything
    assert not session.dirty and session.save_error is None
    assert Project.load(path).file("a").likes == ("anna", "ben", "cleo")


WRITER = textwrap.dedent(
    """
    import builtins, sys, time
    import numpy as np
    from weighter_gui.core.annotation.analysis import Analysis, Slot
    from weighter_gui.core.annotation.labels import Labels
    from weighter_gui.core.annotation.project import Project, ProjectFile

    # A slow disk: the project goes out in 64 KiB pieces, 5 ms apart, so the
    # parent can kill this process while the file is half written.
    real_open = builtins.open
    generation = 0

    class SlowFile:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def write(self, data):
            for i in range(0, len(data), 1 << 16):
                self.f.write(data[i : i + (1 << 16)])
                self.f.flush()
                if generation == 1 and i == 4 << 16:
                    print("mid-write", flush=True)
                time.sleep(0.005)

    def slow_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return SlowFile(f) if "w" in mode and str(file).endswith(".tmp") else f

    builtins.open = slow_open

    path = sys.argv[1]
    p = Project.load(path)
    rng = np.random.default_rng(0)
    for i in range(300):
        slots = [Slot(f"S{j + 1}", 0.7, rng.normal(size=256).astype(np.float32), ((0.0, 1.0),)) for j in range(10)]
        a = Analysis(duration=60.0, hop=0.15, threshold=0.5, slots=slots)
        p.files[f"f{i}"] = ProjectFile(f"f{i}", p.path.parent / f"f{i}.wav", analysis=a)
    while True:
        for pf in p.files.values():
            pf.labels = Labels(names={"S1": f"gen{generation}"})
        p.save()
        generation += 1
        if generation > 3:
            sys.exit("never caught mid-write")  # fail, never hang the parent
    """
)


def test_writer_killed_mid_write_leaves_the_previous_project(tmp_path):
    path = tmp_path / "big.weighter"
    Project.create(path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-write"
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # The kill came while the new version was half written to its temporary file ...
    assert len(temps) == 1
    complete = len(path.read_bytes())
    assert 0 < temps[0].stat().st_size < complete
    with pytest.raises(json.JSONDecodeError):
        json.loads(temps[0].read_bytes())
    # ... and the project file is the previous save, whole.
    p = Project.load(path)
    assert len(p.files) == 300
    assert {pf.labels.names["S1"] for pf in p.files.values()} == {"gen0"}
    assert p.file("f7").analysis.slots[3].embedding.shape == (256,)


def test_stale_temp_files_of_dead_writers_are_removed(session, folder):
    stale = folder / ".p.weighter.abc123.tmp"
    stale.write_text("half a project")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = folder / ".p.weighter.def456.tmp"
    fresh.write_text("a writer still at work")
    session.name_slot("a", "S1", "anna")
    assert not stale.exists() and fresh.exists()


# ------------------------------------------------------------------------------ labelling


def test_every_action_undoes_and_redoes(session):
    s = session
    s.stack.clear()
    steps = [
        lambda: s.name_slot("a", "S1", "anna"),
        lambda: s.name_slot("a", "S2", "ben"),
        lambda: s.add_like("a", "carl"),
        lambda: s.merge_slots("a", "S3", "S1"),
        lambda: s.mark_not_speaker("a", "S4"),
        lambda: s.unmerge_slot("a", "S3"),
        lambda: s.name_slot("b", "S1", "anna"),
        lambda: s.rename_speaker("anna", "Anna Smith"),
        lambda: s.remove_like("a", "ben"),
        lambda: s.set_threshold("b", 0.7),
        lambda: s.push(SetReference("a", Reference(((0.0, 1.0, "x"),), "r.rttm"))),
        lambda: s.add_files([s.project.file("a").audio.with_name("c.wav")]),
        lambda: s.remove_file("b"),
        lambda: s.accept_suggestions("a", {"S2": "dora", "S3": "emil"}),
    ]
    states = [label_state(s.project)]
    for step in steps:
        step()
        states.append(label_state(s.project))
    assert s.stack.can_undo and not s.stack.can_redo
    for i in range(len(steps), 0, -1):
        assert label_state(s.project) == states[i]
        s.undo()
    assert label_state(s.project) == states[0] and not s.can_undo
    for i in range(1, len(steps) + 1):
        s.redo()
        assert label_state(s.project) == states[i]
    assert list(s.project.files) == ["a", "c"]
    s.undo()  # the accept step
    s.undo()  # the removal: b is back in its place, with its analysis
    assert list(s.project.files) == ["a", "b", "c"] and s.project.file("b").analysis is not None
    assert s.undo_text == "Add c.wav" and s.redo_text == "Remove b"


def test_label_rules(session):
    s = session
    a = s.project.file("a")
    s.name_slot("a", "S3", "cleo")
    s.merge_slots("a", "S3", "S1")  # unnamed target takes the source's name
    assert a.labels.merges == {"S3": "S1"} and a.name_of("S1") == a.name_of("S3") == "cleo"
    s.name_slot("a", "S3", "anna")  # naming a merged slot names its group
    assert dict(a.labels.names) == {"S1": "anna"}
    s.name_slot("a", "S2", "ben")
    s.merge_slots("a", "S2", "S1")  # both named: the target's name wins
    assert a.labels.root("S2") == "S1" and a.likes == ("anna",)
    assert [sp.slots for sp in a.speakers()] == [("S1", "S2", "S3")]
    s.mark_not_speaker("a", "S1")  # a root takes its whole group along
    assert a.labels.not_speaker == {"S1", "S2", "S3"} and not a.labels.merges and not a.labels.names
    with pytest.raises(LabelError, match="not a speaker"):
        s.merge_slots("a", "S4", "S1")
    s.name_slot("a", "S1", "anna")  # naming clears the mark
    assert "S1" not in a.labels.not_speaker and a.is_kept("S1")
    s.name_slot("a", "S4", "dan")  # a named slot is kept below the threshold
    assert a.is_kept("S4") and a.analysis.slot("S4").confidence < 0.5
    s.name_slot("a", "S4", None)
    assert not a.is_kept("S4")


def test_invalid_actions_change_nothing(session):
    s = session
    s.name_slot("a", "S1", "anna")
    state, undo_text = label_state(s.project), s.undo_text
    for bad in (
        lambda: s.name_slot("a", "S9", "x"),
        lambda: s.name_slot("a", "S2", "  "),
        lambda: s.name_slot("a", "S2", "tab\there"),
        lambda: s.merge_slots("a", "S1", "S1"),
        lambda: s.rename_speaker("nobody", "x"),
        lambda: s.name_slot("zzz", "S1", "x"),
        lambda: s.set_threshold("a", 1.5),
        lambda: s.accept_suggestions("a", {"S2": "ok", "S9": "bad"}),  # all or nothing
    ):
        with pytest.raises(LabelError):
            bad()
        assert label_state(s.project) == state and s.undo_text == undo_text
    s.add_like("a", "anna")  # a like already: no undo step
    assert s.undo_text == undo_text


def test_slots_of_unanalysed_files_cannot_be_named_but_likes_can(folder):
    s = ProjectSession.create(folder / "p.weighter")
    s.add_files([folder / "audio" / "a.wav"])
    with pytest.raises(LabelError, match="not been analysed"):
        s.name_slot("a", "S1", "anna")
    s.add_like("a", "anna")
    assert s.project.file("a").likes == ("anna",)


def test_rename_everywhere_and_join(session):
    s = session
    s.name_slot("a", "S1", "anna")
    s.name_slot("b", "S1", "ana")
    s.add_like("b", "ana")  # redundant, still renamed
    s.name_slot("a", "S2", "ben")
    s.rename_speaker("ana", "anna")  # joins the two
    assert s.project.speaker_names() == ["anna", "ben"]
    assert s.project.file("b").likes == ("anna",)
    assert s.gallery.names() == ["anna", "ben"]
    s.undo()
    assert s.project.speaker_names() == ["ana", "anna", "ben"]


def test_remove_like_drops_the_name_from_the_file(session):
    s = session
    s.name_slot("a", "S1", "anna")
    s.name_slot("a", "S2", "anna")
    s.add_like("a", "ben")
    s.remove_like("a", "anna")
    assert s.project.file("a").likes == ("ben",)
    s.remove_like("a", "ben")
    assert s.project.file("a").likes == ()


def test_threshold_drags_are_one_undo_step(session):
    s = session
    for value in (0.55, 0.6, 0.65, 0.7):
        s.set_threshold("a", value)
    assert s.project.file("a").threshold == 0.7
    s.undo()
    assert s.project.file("a").threshold is None and s.undo_text == "Add 2 files"


def test_first_analysis_is_not_an_undo_step_and_reanalysis_is(session, folder):
    s = session
    assert s.undo_text == "Add 2 files"  # the analyses filled blanks: no undo steps
    s.name_slot("a", "S1", "anna")
    s.name_slot("a", "S2", "ben")
    s.mark_not_speaker("a", "S4")
    s.merge_slots("a", "S3", "S2")
    old = s.project.file("a").analysis
    # the new model orders the slots differently and misses ben's second fragment's slot
    new_specs = [
        (0.9, 11, [(3.1, 5.0)]),  # was S2 (ben)
        (0.97, 12, [(0.0, 3.0), (5.0, 6.1)]),  # was S1 (anna)
        (0.2, 13, [(8.0, 8.9)]),  # was S4 (not a speaker)
    ]
    cmd = s.set_analysis("a", make_diarization(folder / "audio" / "a.wav", new_specs))
    a = s.project.file("a")
    assert cmd.mapping == {"S1": "S2", "S2": "S1", "S4": "S3"}
    assert dict(a.labels.names) == {"S2": "anna", "S1": "ben"}
    assert a.labels.not_speaker == {"S3"} and not a.labels.merges
    assert a.likes == ("ben", "anna")
    s.undo()
    assert s.project.file("a").analysis is old
    assert dict(s.project.file("a").labels.names) == {"S1": "anna", "S2": "ben"}
    s.save()
    assert Project.load(folder / "p.weighter").file("a").analysis.curves_available  # sidecar rewritten


def test_reanalysis_keeps_unmatched_names_as_likes():
    def analysis(specs):
        slots = [
            Slot(f"S{i + 1}", c, unit(seed), tuple(segs))
            for i, (c, seed, segs) in enumerate(specs)
        ]
        return Analysis(duration=10.0, hop=HOP, threshold=0.5, slots=slots)

    old = analysis(SPECS_A)
    labels = Labels(names={"S1": "anna", "S3": "cleo"}, likes=frozenset({"dan"}))
    new = analysis([(0.9, 1, [(0.0, 3.0), (5.0, 6.0)])])
    out, mapping, lost = remap_labels(old, labels, new)
    assert mapping == {"S1": "S1"}
    assert dict(out.names) == {"S1": "anna"} and out.likes == {"cleo", "dan"}
    assert any("cleo" in line for line in lost)


def test_curves_no_file_uses_are_collected(session, folder):
    cache = folder / "p.weighter-curves"
    assert len(list(cache.glob("*.npz"))) == 2
    session.name_slot("a", "S1", "anna")
    session.set_analysis("a", make_diarization(folder / "audio" / "a.wav", SPECS_A[:2]))
    assert len(list(cache.glob("*.npz"))) == 2  # the old curves went, the new came
    session.undo()
    assert session.project.file("a").analysis.curves_available  # held in memory by the undo step
    assert len(list(cache.glob("*.npz"))) == 2


def test_add_files_keys_and_duplicates(tmp_path):
    s = ProjectSession(Project(), autosave=False)
    paths = [write_wav(tmp_path / "x" / "conv 1.wav"), write_wav(tmp_path / "y" / "conv 1.wav")]
    assert s.add_files(paths + paths[:1]) == ["conv_1", "conv_1-2"]
    assert s.add_files(paths) == []
    assert s.project.key_for(paths[1]) == "conv_1-2"
    with pytest.raises(ProjectError, match="choose where to save"):
        s.save()


def test_autosave_after_every_change(session, folder):
    heard: list[Change] = []
    session.add_listener(heard.append)
    actions = [
        lambda: session.name_slot("a", "S1", "anna"),
        lambda: session.add_like("b", "ben"),
        lambda: session.undo(),
        lambda: session.redo(),
        lambda: session.merge_slots("a", "S2", "S1"),
    ]
    for action in actions:
        action()
        on_disk = Project.load(folder / "p.weighter")
        assert label_state(on_disk) == label_state(session.project)
    assert [c.kind for c in heard] == ["do", "do", "undo", "redo", "do"]
    assert all(c.saved for c in heard) and heard[0].keys == ("a",)


def test_batch_is_one_step(session):
    s = session
    s.push(Batch("Label a", [NameSlot("a", "S1", "anna"), AddLike("a", "carl")]))
    assert s.project.file("a").likes == ("anna", "carl")
    s.undo()
    assert s.project.file("a").likes == ()


def test_reviewed_ranges_join_split_undo_and_survive_a_reload(session, folder):
    session.mark_reviewed("a", 1.0, 3.0)
    session.mark_reviewed("a", 2.5, 5.0)  # overlapping ranges join
    assert session.file("a").reviewed == ((1.0, 5.0),)
    session.mark_reviewed("a", 2.0, 3.0, reviewed=False)  # unmarking the middle splits it
    assert session.file("a").reviewed == ((1.0, 2.0), (3.0, 5.0))
    assert session.file("a").reviewed_share == pytest.approx(3.0 / session.file("a").duration)
    session.mark_reviewed("a", 9.5, 99.0)  # cut to the file's length (10 s)
    assert session.file("a").reviewed[-1] == (9.5, 10.0)
    session.undo()
    assert session.file("a").reviewed == ((1.0, 2.0), (3.0, 5.0))
    with pytest.raises(LabelError, match="not a time range"):
        session.mark_reviewed("a", 4.0, 4.0)
    again = Project.load(folder / "p.weighter")
    assert again.file("a").reviewed == ((1.0, 2.0), (3.0, 5.0)) and again.file("b").reviewed == ()


def test_a_malformed_reviewed_range_names_the_file_and_changes_nothing(session, folder):
    path = folder / "p.weighter"
    data = json.loads(path.read_text())
    data["files"][0]["reviewed"] = [[3.0, 1.0]]
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=r"'a'.*reviewed.*item 1"):
        Project.load(path)
