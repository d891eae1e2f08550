"""Editing turns in the app with the mouse and keys, the untitled project that holds the
work, and its recovery after a crash. Offscreen, with the scriptable fake diarizer:
S1 speaks 0-4 and 8-12 s, S2 4-7.6 s (a boundary 0.4 s early), S3 is under the threshold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from qt_helpers import UI_TIMEOUT_MS, FakeDiarizer, wait_for_state

from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.recovery import is_untitled
from weighter_gui.core.annotation.turns import Turn
from weighter_gui.core.io.manifest import read_manifest
from weighter_gui.qt.state.workspace import FileState

SEGMENTS = ([(0.0, 4.0), (8.0, 12.0)], [(4.0, 7.6)], [(15.0, 16.0)])


@pytest.fixture
def diarizer():
    fake = FakeDiarizer(segments=SEGMENTS)
    return lambda checkpoint, device: fake


@pytest.fixture
def opened(qtbot, make_window, diarizer, two_files):
    """The window with the first file analysed and shown, no project made by hand."""
    window = make_window(diarizer_factory=diarizer)
    window.files.open_paths(two_files[:1])
    wait_for_state(qtbot, window, two_files[0], FileState.DONE)
    window.workspace.set_current(two_files[0])
    qtbot.waitUntil(lambda: window.timeline.turn_speakers == ["S1", "S2"], timeout=UI_TIMEOUT_MS)
    window.timeline.fit_all()
    return window


def turns_of(window, who):
    pf = window.workspace.project_file(window.workspace.current)
    return [(t.start, t.end) for t in pf.current_turns() if pf.turn_speaker(t) == who]


def drag(window, a: QPoint, b: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at ``a``, move past the drag threshold, end at ``b``: as a hand does."""
    viewport = window.timeline.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifiers, a)
    QTest.mouseMove(viewport, QPoint(a.x() + 30, a.y() + 2))  # (a drag starts past 10 px)
    for fraction in (0.25, 0.5, 0.75, 1.0):
        QTest.mouseMove(viewport, QPoint(int(a.x() + (b.x() - a.x()) * fraction), int(a.y() + (b.y() - a.y()) * fraction)))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifiers, b)


def click_turn(window, row: str, seconds: float) -> None:
    point = window.timeline.turn_row_rect(row, seconds, seconds)[0]
    QTest.mouseClick(window.timeline.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_drag_an_edge_snaps_alt_does_not_and_each_drag_undoes(opened, qtbot):
    window = opened
    assert window.workspace.session is None
    click_turn(window, "S2", 6.0)
    # the first edit made an untitled project holding the file; the click selected the turn
    session = window.workspace.session
    assert session is not None and is_untitled(session.project)
    assert "untitled project" in window.windowTitle()
    assert window.workspace.selected_turn == Turn(4.0, 7.6, "S2")
    assert window.timeline.turn_highlight.isVisible()

    # S2's end dropped near S1's next start (8.0 s) lands on it
    start, _, end = window.timeline.turn_row_rect("S2", 4.0, 7.6)
    near = window.timeline.turn_row_rect("S2", 7.95, 7.95)[0]
    drag(window, end, near)
    assert turns_of(window, "S2") == [(4.0, 8.0)]
    assert Project.load(session.path).file(session.files[next(iter(session.files))].key).turns  # autosaved
    window.action("undo").trigger()
    assert turns_of(window, "S2") == [(4.0, 7.6)]
    window.action("redo").trigger()
    assert turns_of(window, "S2") == [(4.0, 8.0)]

    # with Alt held, no snapping: it lands where it was dropped
    end = window.timeline.turn_row_rect("S2", 4.0, 8.0)[2]
    drop = window.timeline.turn_row_rect("S2", 7.8, 7.8)[0]
    drag(window, end, drop, Qt.KeyboardModifier.AltModifier)
    ((_, new_end),) = turns_of(window, "S2")
    assert new_end == pytest.approx(7.8, abs=0.05) and new_end != 8.0
    window.action("undo").trigger()
    assert turns_of(window, "S2") == [(4.0, 8.0)]


def test_split_reassign_draw_delete_by_keys_and_export(opened, qtbot, tmp_path, monkeypatch):
    window = opened
    click_turn(window, "S1", 2.0)  # selects S1's first turn, playhead at 2 s
    assert window.player.position == pytest.approx(2.0, abs=0.05)
    at = round(window.player.position, 3)

    QTest.keyClick(window, Qt.Key.Key_S)  # split at the playhead
    assert turns_of(window, "S1") == [(0.0, at), (at, 4.0), (8.0, 12.0)]
    assert window.workspace.selected_turn == Turn(at, 4.0, "S1")
    window.action("undo").trigger()
    assert turns_of(window, "S1") == [(0.0, 4.0), (8.0, 12.0)]
    window.action("redo").trigger()

    window.workspace.select_turn(Turn(at, 4.0, "S1"))
    QTest.keyClick(window, Qt.Key.Key_2)  # the second half was S2's
    assert turns_of(window, "S1") == [(0.0, at), (8.0, 12.0)]
    assert turns_of(window, "S2") == [(at, 7.6)]
    window.action("undo").trigger()
    assert turns_of(window, "S2") == [(4.0, 7.6)]
    window.action("redo").trigger()

    # a missed interjection of S2 inside S1's 8-12 turn: select the range, Ctrl+2
    window.workspace.select_turn(None)
    window.timeline.set_selection((10.0, 10.5))
    QTest.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert turns_of(window, "S2") == [(at, 7.6), (10.0, 10.5)]
    assert turns_of(window, "S1")[-1] == (8.0, 12.0)  # S1 still speaks there: both at once
    assert window.timeline.turns_lane.rows[2].kind == "overlap"
    window.action("undo").trigger()
    assert turns_of(window, "S2") == [(at, 7.6)]
    window.action("redo").trigger()

    # drawing with the mouse: drag over free space in S2's row
    a, b = (window.timeline.turn_row_rect("S2", t, t)[0] for t in (14.0, 15.0))
    drag(window, a, b)
    ((start, end),) = [s for s in turns_of(window, "S2") if s[0] > 13]
    assert start == pytest.approx(14.0, abs=0.05) and end == pytest.approx(15.0, abs=0.05)

    # a turn for someone without a row: T asks who
    monkeypatch.setattr(window.dialogs, "ask_name", lambda *args, **kwargs: "dora")
    window.timeline.set_selection((16.0, 16.6))
    QTest.keyClick(window, Qt.Key.Key_T)
    assert turns_of(window, "dora") == [(16.0, 16.6)] and "dora" in window.timeline.turn_speakers

    # delete the interjection again
    click_turn(window, "S2", 10.2)
    assert window.workspace.selected_turn == Turn(10.0, 10.5, "S2")
    QTest.keyClick(window, Qt.Key.Key_Delete)
    assert (10.0, 10.5) not in turns_of(window, "S2")
    window.action("undo").trigger()
    assert (10.0, 10.5) in turns_of(window, "S2")
    window.action("redo").trigger()

    # exports write exactly the corrected turns
    session = window.workspace.session
    key = session.key_for(window.workspace.current)
    session.name_slot(key, "S1", "anna")
    session.name_slot(key, "S2", "ben")
    pf = session.file(key)
    expected = sorted((t.start, t.end, pf.turn_speaker(t)) for t in pf.turns)
    assert window.reports.export("rttm", tmp_path / "out.rttm")
    rows = [line.split() for line in (tmp_path / "out.rttm").read_text().splitlines()]
    assert sorted((float(r[3]), round(float(r[3]) + float(r[4]), 3), r[7]) for r in rows) == expected
    assert window.reports.export("manifest", tmp_path / "m.jsonl")
    (item,) = read_manifest(tmp_path / "m.jsonl")
    assert sorted(item.segments) == expected


def test_drag_a_turn_to_another_row_gives_it_to_that_speaker(opened):
    window = opened
    middle = window.timeline.turn_row_rect("S1", 8.0, 12.0)[1]
    target = window.timeline.turn_row_rect("S2", 10.0, 10.0)[0]
    drag(window, middle, target)
    assert turns_of(window, "S2") == [(4.0, 7.6), (8.0, 12.0)]
    assert turns_of(window, "S1") == [(0.0, 4.0)]


def test_closing_without_saving_then_recovering_at_the_next_start(opened, make_window, diarizer, monkeypatch, tmp_path):
    window = opened
    click_turn(window, "S1", 2.0)
    QTest.keyClick(window, Qt.Key.Key_S)
    edited = window.workspace.project_file(window.workspace.current).turns
    window.close()  # not saved under a name

    again = make_window(diarizer_factory=diarizer)
    asked = []
    monkeypatch.setattr(again.dialogs, "ask_recover", lambda what: asked.append(what) or "recover")
    assert again.projects.offer_recovery()
    assert "1 file(s), 1 with labels or corrected turns" in asked[0]
    session = again.workspace.session
    assert is_untitled(session.project)
    assert next(iter(session.files.values())).turns == edited
    # naming it moves it out of the recovery folder; nothing is offered any more
    old = session.path
    assert again.projects.save_project_as(tmp_path / "named.weighter")
    assert not old.exists() and not is_untitled(Project.load(tmp_path / "named.weighter"))
    assert Project.load(tmp_path / "named.weighter").files[next(iter(session.files))].turns == edited
    assert not again.projects.offer_recovery() and len(asked) == 1


CRASHING_EDITOR = textwrap.dedent(
    """
    import os, sys
    from PySide6.QtCore import QLockFile
    from weighter_gui.core.annotation import recovery
    from weighter_gui.core.annotation.turns import AddTurn

    session = recovery.create_untitled(sys.argv[1])
    lock = QLockFile(str(session.path) + ".lock")  # as the app holds it
    lock.setStaleLockTime(0)
    assert lock.tryLock(0)
    session.add_files([sys.argv[2]])
    key = next(iter(session.files))
    session.edit_turns(key, AddTurn(1.0, 2.0, ("name", "anna")))
    print(session.path, flush=True)
    sys.stdin.read()  # wait to be killed
    """
)


def test_work_of_a_killed_app_is_offered_back_and_a_live_ones_is_not(make_window, two_files, monkeypatch, qtbot):
    window = make_window()
    folder = window.projects.recovery_dir
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_EDITOR, str(folder), str(two_files[1])],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        path = proc.stdout.readline().strip()
        assert path.endswith(".weighter")
        asked = []
        monkeypatch.setattr(window.dialogs, "ask_recover", lambda what: asked.append(what) or "recover")
        assert not window.projects.offer_recovery() and not asked  # still open in a running app
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()
    assert window.projects.offer_recovery() and len(asked) == 1
    pf = next(iter(window.workspace.session.files.values()))
    assert [(t.start, t.end, t.name) for t in pf.turns] == [(1.0, 2.0, "anna")]


def test_a_two_sided_call_analysed_channel_by_channel(qtbot, make_window, tmp_path):
    import numpy as np
    import soundfile as sf

    fake = FakeDiarizer(segments=SEGMENTS)
    path = tmp_path / "call.wav"
    sf.write(path, np.zeros((16000 * 4, 2), np.float32), 16000)
    window = make_window(diarizer_factory=lambda checkpoint, device: fake)
    window.files.open_paths([path])
    wait_for_state(qtbot, window, path, FileState.DONE)
    window.workspace.set_current(path)
    assert fake.channels_run == [None]  # the downmix first

    menu = window.menus["&Analysis"]
    menu.aboutToShow.emit()
    channels = next(a.menu() for a in menu.actions() if a.menu() is not None)
    channels.aboutToShow.emit()
    texts = [a.text().replace("&", "") for a in channels.actions()]
    assert texts == ["Mix of all channels", "Channel 1", "Channel 2", "Each channel on its own (one side per channel)"]

    channels.actions()[3].trigger()  # each channel on its own
    record = wait_for_state(qtbot, window, path, FileState.DONE)
    qtbot.waitUntil(lambda: fake.channels_run[1:] == [0, 1], timeout=UI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: record.diarization is not None and len(record.diarization.tracks) == 6,
                    timeout=UI_TIMEOUT_MS)
    assert [t.label for t in record.diarization.tracks] == ["ch1-S1", "ch1-S2", "ch1-S3", "ch2-S1", "ch2-S2", "ch2-S3"]
    assert window.timeline.turn_speakers == ["ch1-S1", "ch1-S2", "ch2-S1", "ch2-S2"]

    window.files.analyse_channel(1)  # only the second side
    qtbot.waitUntil(lambda: fake.channels_run[-1] == 1 and record.diarization is not None
                    and [t.label for t in record.diarization.tracks] == ["S1", "S2", "S3"], timeout=UI_TIMEOUT_MS)


def test_the_speaker_count_menu_analyses_the_file_again_keeping_to_the_count(qtbot, make_window, tmp_path):
    import numpy as np
    import soundfile as sf

    fake = FakeDiarizer(segments=SEGMENTS)
    path = tmp_path / "call.wav"
    sf.write(path, np.zeros(16000 * 4, np.float32), 16000)
    window = make_window(diarizer_factory=lambda checkpoint, device: fake)
    window.files.open_paths([path])
    wait_for_state(qtbot, window, path, FileState.DONE)
    window.workspace.set_current(path)
    assert fake.counts_run == [(None, None)]  # estimated unless the user says

    menu = window.menus["&Analysis"]
    menu.aboutToShow.emit()
    counts = next(a.menu() for a in menu.actions() if a.menu() is not None and "Speakers" in a.text())
    counts.aboutToShow.emit()
    texts = [a.text().replace("&", "") for a in counts.actions()]
    assert texts[:3] == ["Estimate the count", "1 speaker", "2 speakers"] and len(texts) == 9
    assert [a.isChecked() for a in counts.actions()][:2] == [True, False]

    counts.actions()[2].trigger()  # two speakers
    qtbot.waitUntil(lambda: fake.counts_run[-1] == (2, 2), timeout=UI_TIMEOUT_MS)
    record = wait_for_state(qtbot, window, path, FileState.DONE)
    assert record.speakers == 2 and window.display.summary(record).endswith("(count given: 2)")
    counts.aboutToShow.emit()
    assert [a.isChecked() for a in counts.actions()][:3] == [False, False, True]
    window.files.reanalyse(path)  # the count stays with the file
    qtbot.waitUntil(lambda: len(fake.counts_run) == 3, timeout=UI_TIMEOUT_MS)
    assert fake.counts_run[-1] == (2, 2)
    counts.actions()[0].trigger()
    qtbot.waitUntil(lambda: fake.counts_run[-1] == (None, None) and len(fake.counts_run) == 4, timeout=UI_TIMEOUT_MS)
    # files opened with a count (weighter-gui FILE --speakers 3) are analysed with it from the start
    other = tmp_path / "interview.wav"
    sf.write(other, np.zeros(16000 * 4, np.float32), 16000)
    window.files.open_paths([other], speakers=3)
    qtbot.waitUntil(lambda: len(fake.counts_run) == 5, timeout=UI_TIMEOUT_MS)
    assert fake.counts_run[-1] == (3, 3) and window.workspace.get(other).speakers == 3


def test_import_a_pyannote_rttm_and_an_eaf_correct_and_export_for_other_tools(opened, tmp_path):
    from weighter_gui.core.io.label_files import read_turns, write_turns

    window = opened
    path = window.workspace.current
    rttm = tmp_path / "pyannote.rttm"
    rttm.write_text(f"SPEAKER {path.stem} 1 0.50 3.00 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
                    f"SPEAKER {path.stem} 1 4.00 2.00 <NA> <NA> SPEAKER_01 <NA> <NA>\n")
    assert window.reports.import_turns(rttm)  # no project yet: an untitled one takes it
    qtbot_rows = window.timeline.turn_speakers
    assert qtbot_rows == ["SPEAKER_00", "SPEAKER_01"]
    # a wrong turn: the second speaker's turn is SPEAKER_00's
    click_turn(window, "SPEAKER_01", 5.0)
    QTest.keyClick(window, Qt.Key.Key_1)
    assert turns_of(window, "SPEAKER_00") == [(0.5, 3.5), (4.0, 6.0)]
    window.action("undo").trigger()

    # an ELAN file of the same recording replaces them (one more undo step)
    write_turns(tmp_path / "elan.eaf", [(1.0, 2.0, "anna"), (2.5, 4.0, "bob")], uri=path.stem, duration=18.0)
    assert window.reports.import_turns(tmp_path / "elan.eaf")
    assert window.timeline.turn_speakers == ["anna", "bob"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"segments": [\n  {"start": 1, "end": }\n]}')
    assert not window.reports.import_turns(bad)
    assert "line 2" in window.statusBar().currentMessage() and window.timeline.turn_speakers == ["anna", "bob"]

    for kind, target in (("eaf", "eaf"), ("textgrid", "tg"), ("vtt", "vtt"), ("pyannote", "protocol")):
        assert window.reports.export(kind, tmp_path / target) is not None
    key = window.workspace.key_for(path)
    for name in (f"eaf/{key}.eaf", f"tg/{key}.TextGrid", f"vtt/{key}.vtt"):
        assert read_turns(tmp_path / name) == [(1.0, 2.0, "anna"), (2.5, 4.0, "bob")]
    from pyannote.database import FileFinder, registry

    registry.load_database(str(tmp_path / "protocol" / "database.yml"))
    (item,) = registry.get_protocol("Weighter.SpeakerDiarization.Project", preprocessors={"audio": FileFinder()}).train()
    assert sorted(item["annotation"].labels()) == ["anna", "bob"]


def test_retraining_from_corrected_reviewed_turns_names_an_untitled_project_first(
        qtbot, make_window, two_files, tmp_path, tiny_checkpoint, monkeypatch):
    import torch

    from weighter_gui.core.model.checkpoint import load_checkpoint

    fake = FakeDiarizer(segments=SEGMENTS)
    window = make_window(diarizer_factory=lambda checkpoint, device: fake, checkpoint=str(tiny_checkpoint),
                         device="cpu")
    path = two_files[0]
    window.files.open_paths([path])
    wait_for_state(qtbot, window, path, FileState.DONE)
    window.workspace.set_current(path)
    qtbot.waitUntil(lambda: window.timeline.turn_speakers == ["S1", "S2"], timeout=UI_TIMEOUT_MS)
    window.timeline.fit_all()
    click_turn(window, "S2", 6.0)  # the late boundary, fixed with the mouse
    end = window.timeline.turn_row_rect("S2", 4.0, 7.6)[2]
    drag(window, end, window.timeline.turn_row_rect("S2", 7.95, 7.95)[0])
    session = window.workspace.session
    key = session.key_for(path)
    session.name_slot(key, "S1", "anna")
    session.name_slot(key, "S2", "bob")
    window.timeline.set_selection(None)
    window.action("mark_reviewed").trigger()  # the whole file is right now

    named = tmp_path / "named" / "study.weighter"
    named.parent.mkdir()
    monkeypatch.setattr(window.dialogs, "ask_save_path", lambda *args: str(named))
    monkeypatch.setattr(window.dialogs, "ask_yes_no", lambda *args: False)
    window.action("retrain").trigger()  # untitled: named first, then the dialog
    assert window.workspace.session.path == named and not window.projects.untitled
    dialog = window.retrain.dialog
    assert dialog is not None and "turns you corrected" in dialog.status.text()
    assert dialog.start(steps=2, batch_size=1)
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert dialog.checkpoint is not None and dialog.checkpoint.parent == named.parent / "models"
    # reviewed turns teach the curves too: the body changed, not only the head
    base, tuned = (load_checkpoint(c)[0].state_dict() for c in (tiny_checkpoint, dialog.checkpoint))
    assert any(not torch.equal(tuned[k], v) for k, v in base.items() if not k.startswith("classifier."))
    from weighter_gui.core.io.manifest import read_manifest

    (item,) = read_manifest(named.parent / "study-manifest.jsonl")
    assert (4.0, 8.0, "bob") in item.segments and item.extra["reviewed"] == [[0.0, 18.0]]
    dialog.close()


def test_a_shift_drag_inside_a_clicked_turn_selects_a_new_range(opened):
    window = opened
    click_turn(window, "S1", 10.0)
    assert window.timeline.selection() == pytest.approx((8.0, 12.0))  # the clicked turn's span
    a, b = (window.timeline.map_time_to_widget(t) for t in (9.0, 10.0))
    drag(window, a, b, Qt.KeyboardModifier.ShiftModifier)
    start, end = window.timeline.selection()
    assert start == pytest.approx(9.0, abs=0.1) and end == pytest.approx(10.0, abs=0.1)


def test_new_project_while_untitled_keeps_the_work(opened, tmp_path):
    window = opened
    click_turn(window, "S1", 2.0)
    QTest.keyClick(window, Qt.Key.Key_S)
    edited = window.workspace.project_file(window.workspace.current).turns
    assert window.projects.new_project(tmp_path / "study.weighter")
    assert window.workspace.session.path == tmp_path / "study.weighter" and not window.projects.untitled
    assert Project.load(tmp_path / "study.weighter").file(window.workspace.key_for(window.workspace.current)).turns \
        == edited
