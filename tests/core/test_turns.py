"""Corrected turns: each edit, its undo and redo, the invariants, saving, exports, a
re-analysis, and a kill -9 in the middle of editing."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.core.project_helpers import make_diarization
from weighter_gui.core.annotation.exports import corrected_segments, export_manifest, export_rttm
from weighter_gui.core.annotation.labels import LabelError
from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.annotation.turns import (
    AddTurn,
    DeleteTurn,
    EraseRange,
    GiveRange,
    JoinNext,
    MoveEdge,
    Reassign,
    Split,
    Turn,
    snap,
    turn_at,
)
from weighter_gui.core.io.manifest import read_manifest

# S1: 0-3 and 5-6; S2: 3-5; S3: 6-7.5 (S4 is under the threshold: not a speaker)
S1, S2, S3 = ("slot", "S1"), ("slot", "S2"), ("slot", "S3")


def spans(pf, who):
    return [(t.start, t.end) for t in pf.current_turns() if t.who == who]


def undo_redo_checks(session, key="a"):
    """Undo puts the turns back as they were, redo as the edit left them."""
    after = session.file(key).current_turns()
    session.undo()
    before = session.file(key).current_turns()
    assert before != after
    session.redo()
    assert session.file(key).current_turns() == after
    return before


def test_before_any_edit_the_turns_are_the_models_as_labelled(session):
    pf = session.file("a")
    assert pf.turns is None
    assert spans(pf, S1) == [(0.0, 3.0), (5.0, 6.0)] and spans(pf, S2) == [(3.0, 5.0)]
    assert not spans(pf, ("slot", "S4"))  # below the threshold


def test_move_edge_fixes_a_late_boundary_and_undoes(session):
    turn = turn_at(session.file("a").current_turns(), 4.0)
    selected = session.edit_turns("a", MoveEdge(turn, "end", 4.6))
    assert selected == Turn(3.0, 4.6, "S2")
    pf = session.file("a")
    assert spans(pf, S2) == [(3.0, 4.6)] and pf.turns is not None
    before = undo_redo_checks(session)
    assert (3.0, 5.0, "S2") in [(t.start, t.end, t.slot) for t in before]


def test_an_edge_stops_at_the_speakers_next_turn_and_inside_the_file(session):
    turns = session.file("a").current_turns()
    first = turn_at(turns, 1.0)
    session.edit_turns("a", MoveEdge(first, "end", 5.5))  # into S1's own 5-6 turn
    assert spans(session.file("a"), S1) == [(0.0, 5.0), (5.0, 6.0)]
    last = turn_at(session.file("a").current_turns(), 7.0)
    session.edit_turns("a", MoveEdge(last, "end", 99.0))
    assert spans(session.file("a"), S3) == [(6.0, 10.0)]  # the file is 10 s
    session.edit_turns("a", MoveEdge(turn_at(session.file("a").current_turns(), 7.0), "start", -3.0))
    assert spans(session.file("a"), S3) == [(0.0, 10.0)]  # S3 has no earlier turn: down to 0


def test_split_join_reassign_delete_each_one_undo_step(session):
    pf = session.file("a")
    first = turn_at(pf.current_turns(), 1.0)
    second = session.edit_turns("a", Split(first, 2.0))
    assert second == Turn(2.0, 3.0, "S1")
    assert spans(session.file("a"), S1) == [(0.0, 2.0), (2.0, 3.0), (5.0, 6.0)]
    undo_redo_checks(session)

    session.edit_turns("a", Reassign(second, S2))  # the second half was the other person
    assert spans(session.file("a"), S1) == [(0.0, 2.0), (5.0, 6.0)]
    assert spans(session.file("a"), S2) == [(2.0, 5.0)]  # joined with S2's own turn
    undo_redo_checks(session)

    joined = session.edit_turns("a", JoinNext(Turn(0.0, 2.0, "S1")))
    assert joined == Turn(0.0, 6.0, "S1")
    undo_redo_checks(session)

    assert session.edit_turns("a", DeleteTurn(joined)) is None
    assert spans(session.file("a"), S1) == []
    undo_redo_checks(session)
    assert [t.seconds for t in session.file("a").current_turns()] == [3.0, 1.5]


def test_give_a_range_and_draw_a_missed_turn(session):
    session.edit_turns("a", GiveRange(2.5, 3.5, S3))
    pf = session.file("a")
    assert spans(pf, S1) == [(0.0, 2.5), (5.0, 6.0)]
    assert spans(pf, S2) == [(3.5, 5.0)]
    assert spans(pf, S3) == [(2.5, 3.5), (6.0, 7.5)]
    undo_redo_checks(session)
    # an interjection inside S1's turn: both speak there
    session.edit_turns("a", AddTurn(1.0, 1.4, ("name", "dora")))
    pf = session.file("a")
    assert spans(pf, S1)[0] == (0.0, 2.5)
    assert spans(pf, ("name", "dora")) == [(1.0, 1.4)]
    session.edit_turns("a", AddTurn(8.0, 8.4, ("name", "dora")))
    assert session.file("a").likes.count("dora") == 1  # a speaker once, however many turns
    undo_redo_checks(session)
    session.undo()
    session.edit_turns("a", EraseRange(0.0, 0.5))
    assert spans(session.file("a"), S1)[0] == (0.5, 2.5)
    undo_redo_checks(session)


def test_edits_that_would_break_the_turns_are_refused_and_change_nothing(session):
    session.stack.clear()
    turns = session.file("a").current_turns()
    first = turn_at(turns, 1.0)
    with pytest.raises(LabelError):
        session.edit_turns("a", Split(first, 3.0))  # at the edge: no second piece
    with pytest.raises(LabelError):
        session.edit_turns("a", JoinNext(turn_at(turns, 4.0)))  # S2 has no later turn
    with pytest.raises(LabelError):
        session.edit_turns("a", GiveRange(4.0, 4.01, S1))  # not a range
    with pytest.raises(LabelError):
        session.edit_turns("a", DeleteTurn(Turn(1.0, 2.0, "S1")))  # no such turn
    with pytest.raises(LabelError):
        session.edit_turns("a", AddTurn(1.0, 2.0, ("slot", "S9")))  # no such slot
    assert session.file("a").turns is None and not session.can_undo
    # a turn squeezed to nothing keeps its minimum length
    session.edit_turns("a", MoveEdge(first, "end", -5.0))
    assert spans(session.file("a"), S1)[0] == (0.0, 0.05)


def test_names_and_merges_given_later_apply_to_edited_turns(session):
    session.edit_turns("a", Split(turn_at(session.file("a").current_turns(), 1.0), 1.5))
    session.name_slot("a", "S1", "anna")
    session.merge_slots("a", "S3", "S2")
    speakers = {sp.label: sp.segments for sp in session.file("a").speakers()}
    assert speakers == {"anna": ((0.0, 3.0), (5.0, 6.0)), "S2": ((3.0, 5.0), (6.0, 7.5))}
    session.mark_not_speaker("a", "S2")
    assert [sp.label for sp in session.file("a").speakers()] == ["anna"]


def test_turns_are_saved_and_reopened_and_exports_write_them(session, folder, tmp_path):
    session.name_slot("a", "S1", "anna")
    session.name_slot("a", "S2", "ben")
    session.name_slot("a", "S3", "carl")
    session.edit_turns("a", MoveEdge(Turn(3.0, 5.0, "S2"), "end", 4.6))
    session.edit_turns("a", AddTurn(8.0, 8.5, ("name", "dora")))
    session.mark_reviewed("a", 0.0, 10.0)
    d = json.loads((folder / "p.weighter").read_text())
    assert d["format_version"] == 2
    assert {"start": 8.0, "end": 8.5, "name": "dora"} in d["files"][0]["turns"]
    again = Project.load(folder / "p.weighter")
    assert again.file("a").turns == session.file("a").turns
    expected = [(0.0, 3.0, "anna"), (3.0, 4.6, "ben"), (5.0, 6.0, "anna"), (6.0, 7.5, "carl"), (8.0, 8.5, "dora")]
    assert corrected_segments(again.file("a")) == expected

    export_rttm(again, tmp_path / "out.rttm", keys=["a"])
    rows = [line.split() for line in (tmp_path / "out.rttm").read_text().splitlines()]
    assert [(float(r[3]), round(float(r[3]) + float(r[4]), 3), r[7]) for r in rows] == expected
    assert (tmp_path / "out.uem").read_text().split() == ["a", "1", "0.000", "10.000"]

    export_manifest(again, tmp_path / "m.jsonl", keys=["a"])
    (item,) = read_manifest(tmp_path / "m.jsonl")
    assert sorted(item.segments) == sorted(expected)
    assert set(item.likes) == {"anna", "ben", "carl", "dora"}
    assert item.extra["reviewed"] == [[0.0, 10.0]]


@pytest.mark.parametrize("turns, problem", [
    ("nope", "must be a list"),
    ([{"start": 1, "end": 2}], "item 1"),
    ([{"start": 1, "end": 2, "slot": "S1", "name": "x"}], "item 1"),
    ([{"start": -1, "end": 2, "slot": "S1"}], "before the file"),
    ([{"start": 1, "end": 3, "slot": "S1"}, {"start": 2, "end": 4, "slot": "S1"}], "overlap"),
    ([{"start": 1, "end": 2, "slot": "S7"}], "S7"),
])
def test_malformed_turns_are_refused_and_the_file_is_not_changed(session, folder, turns, problem):
    path = folder / "p.weighter"
    d = json.loads(path.read_text())
    d["files"][0]["turns"] = turns
    path.write_text(json.dumps(d))
    before = path.read_bytes()
    with pytest.raises(ProjectError, match=problem):
        Project.load(path)
    assert path.read_bytes() == before


def test_a_reanalysis_carries_the_turns_to_the_new_slots(session, folder):
    session.name_slot("a", "S1", "anna")
    session.edit_turns("a", MoveEdge(Turn(3.0, 5.0, "S2"), "end", 4.6))
    # the new analysis finds the same people in another order
    new = make_diarization(folder / "audio" / "a.wav", [
        (0.9, 3, [(6.0, 7.5)]), (0.9, 2, [(3.0, 5.0)]), (0.9, 1, [(0.0, 3.0), (5.0, 6.0)]),
    ])
    session.set_analysis("a", new)
    pf = session.file("a")
    assert spans(pf, ("name", "anna")) == [(0.0, 3.0), (5.0, 6.0)]
    assert spans(pf, ("slot", "S2")) == [(3.0, 4.6)]
    assert spans(pf, ("slot", "S1")) == [(6.0, 7.5)]  # old S3
    session.undo()
    assert spans(session.file("a"), S2) == [(3.0, 4.6)] and spans(session.file("a"), S3) == [(6.0, 7.5)]


def test_snap_and_turn_at():
    assert snap(2.04, [1.0, 2.0, 3.0], 0.1) == 2.0
    assert snap(2.5, [1.0, 2.0, 3.0], 0.1) == 2.5
    assert snap(2.5, [], 0.1) == 2.5
    turns = (Turn(0.0, 3.0, "S1"), Turn(1.0, 1.5, "S2"))
    assert turn_at(turns, 1.2) == Turn(1.0, 1.5, "S2")  # the shortest under the point
    assert turn_at(turns, 1.2, who=S1) == Turn(0.0, 3.0, "S1")
    assert turn_at(turns, 3.0) is None


EDITOR = textwrap.dedent(
    """
    import sys
    from weighter_gui.core.annotation.session import ProjectSession
    from weighter_gui.core.annotation.turns import Split, turn_at

    session = ProjectSession.open(sys.argv[1])
    for i in range(400):
        t = turn_at(session.file("a").current_turns(), 0.01)
        session.edit_turns("a", Split(t, round(t.end - 0.06, 3)))
        print(i, flush=True)  # the edit is on disk
    """
)


def test_a_kill_during_editing_loses_at_most_the_edit_in_progress(session, folder):
    path = folder / "p.weighter"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", EDITOR, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        done = -1
        for line in proc.stdout:
            done = int(line)
            if done >= 20:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert done >= 20
    pf = Project.load(path).file("a")  # whole: the file on disk is the last finished edit's
    # every edit reported done is there, each piece exactly as its split left it
    ends = sorted(t.end for t in pf.turns if t.slot == "S1" and t.end <= 3.0)
    splits = len(ends) - 1
    assert splits >= done + 1
    expected = [3.0]
    for _ in range(splits):
        expected.insert(0, round(expected[0] - 0.06, 3))
    assert ends == expected
