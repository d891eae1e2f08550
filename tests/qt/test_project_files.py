"""Project files in the window: Save project as, and relinking audio that moved
(one file by path, from the file list's menu; many by searching a folder).

Analyses come from the scripted ``FakeDiarizer``; the file dialogs are the
window's ``ask_*`` methods, replaced here. Relinking hashes and searches in a
worker thread: the tests wait for ``relink_finished``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QPushButton
from qt_helpers import UI_TIMEOUT_MS, make_project, spin_until, wait_for_state

from weighter_gui.qt.state.workspace import FileState


def saved_names(project_path: Path) -> dict:
    return {f["key"]: f["labels"]["names"] for f in json.loads(project_path.read_text())["files"]}


def choose_from_context_menu(monkeypatch, window, path, text, enabled=None):
    """Right-click ``path``'s row and pick ``text`` (QMenu.exec answers without showing).
    ``enabled``: a dict that gets each offered item's enabled state."""
    from weighter_gui.qt.views import file_list_panel as file_list

    offered = []

    class Menu(QMenu):
        def exec(self, *args):
            offered.extend(a.text() for a in self.actions())
            if enabled is not None:
                enabled.update({a.text(): a.isEnabled() for a in self.actions()})
            return next(a for a in self.actions() if a.text() == text)

    monkeypatch.setattr(file_list, "QMenu", Menu)
    panel = window.file_list
    item = panel._items[path]
    panel.customContextMenuRequested.emit(panel.visualItemRect(item).center())
    return offered


def test_save_as_moves_autosave_and_reopens(qtbot, make_window, fake_diarizer, two_files, tmp_path, monkeypatch):
    old_path = tmp_path / "labels.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    key1, _ = make_project(qtbot, window, old_path, two_files)
    window.workspace.set_current(two_files[0])
    qtbot.waitUntil(lambda: len(window.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    window.labelling.select_slot("S1")
    assert window.labelling.name_selected("anna")
    old_text = old_path.read_text()

    # File > Save project as: the name gets its suffix; paths are relative to the new folder.
    (tmp_path / "elsewhere").mkdir()
    asked = []
    monkeypatch.setattr(window.dialogs, "ask_save_path", lambda title, start, filter_: asked.append(start) or
                        str(tmp_path / "elsewhere" / "copy"))
    assert window.action("save_project_as").shortcut().toString() == "Ctrl+Shift+S"
    listed = window.listed_actions()  # the File menu and the shortcuts dialog
    assert {window.action("save_project_as"), window.action("locate_missing"), window.action("find_missing")} <= set(listed)
    window.action("save_project_as").trigger()
    new_path = tmp_path / "elsewhere" / "copy.weighter"
    assert asked == [str(old_path)]
    assert window.projects.path == new_path and "copy.weighter" in window.windowTitle()
    saved = json.loads(new_path.read_text())
    assert [f["audio"] for f in saved["files"]] == ["../audio/conv1.wav", "../audio/conv2.wav"]
    assert len(list((tmp_path / "elsewhere" / "copy.weighter-curves").glob("*.npz"))) == 2

    # A change after save-as lands in the new file only; the old file is as it was.
    window.labelling.select_slot("S2")
    assert window.labelling.name_selected("bob")
    assert saved_names(new_path)[key1] == {"S1": "anna", "S2": "bob"}
    assert old_path.read_text() == old_text and saved_names(old_path)[key1] == {"S1": "anna"}
    assert window.workspace.session.save_error is None
    assert window.preferences.store.recent_projects()[0] == str(new_path.resolve())
    runs = fake_diarizer.instance.runs
    window.close()

    # Reopened from the new path (its own curves cache): everything is back, nothing re-analysed.
    shutil.rmtree(tmp_path / "labels.weighter-curves")
    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(new_path)
    for path in two_files:
        assert again.workspace.get(path).state is FileState.DONE
    assert fake_diarizer.instance.runs == runs
    pf = again.workspace.session.file(key1)
    assert pf.name_of("S1") == "anna" and pf.name_of("S2") == "bob"
    again.workspace.set_current(two_files[0])
    qtbot.waitUntil(lambda: len(again.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    assert len(again.timeline.curve_items) >= 2


def test_locate_one_missing_file_checks_its_hash_and_undoes(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                            monkeypatch):
    project_path = tmp_path / "p.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    _, key2 = make_project(qtbot, window, project_path, two_files)
    window.workspace.session.file(key2).audio_facts()  # the project now knows conv2's sha256
    window.workspace.set_current(two_files[1])
    qtbot.waitUntil(lambda: len(window.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    window.labelling.select_slot("S1")
    assert window.labelling.name_selected("anna")  # autosaved, with the facts
    assert json.loads(project_path.read_text())["files"][1]["audio_facts"]["sha256"]
    runs = fake_diarizer.instance.runs
    window.close()

    moved = tmp_path / "moved" / "conv2.wav"
    moved.parent.mkdir()
    shutil.move(two_files[1], moved)
    impostor = tmp_path / "other" / "conv2.wav"  # same name, other audio
    impostor.parent.mkdir()
    shutil.copy(two_files[0], impostor)

    # The missing file is flagged; the app keeps working with it selected.
    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    assert again.file_list.state_text(two_files[1]) == "missing audio"
    assert again.workspace.session.missing_files() == [key2]
    again.workspace.set_current(two_files[1])
    qtbot.waitUntil(lambda: again.workspace.current == two_files[1], timeout=UI_TIMEOUT_MS)
    assert again.action("locate_missing").isEnabled() and again.action("find_missing").isEnabled()
    assert again.workspace.get(two_files[0]).state is FileState.DONE

    # Right-click > Locate missing file…: other content is relinked only if the user says so.
    questions = []
    monkeypatch.setattr(again.dialogs, "ask_open_path", lambda *a: str(impostor))
    monkeypatch.setattr(again.dialogs, "ask_yes_no", lambda title, text: questions.append(text) or False)
    with qtbot.waitSignal(again.relink.finished, timeout=UI_TIMEOUT_MS) as finished:
        offered = choose_from_context_menu(monkeypatch, again, two_files[1], "Locate missing file…")
    assert finished.args == [0]
    assert "Find missing files in folder…" in offered
    assert len(questions) == 1 and "differs" in questions[0]
    assert again.workspace.session.missing_files() == [key2] and not again.workspace.session.can_undo

    monkeypatch.setattr(again.dialogs, "ask_open_path", lambda *a: str(moved))
    with qtbot.waitSignal(again.relink.finished, timeout=UI_TIMEOUT_MS) as finished:
        choose_from_context_menu(monkeypatch, again, two_files[1], "Locate missing file…")
    assert finished.args == [1]
    assert len(questions) == 1  # same sha256: no question
    assert again.workspace.session.missing_files() == []
    # Reloaded: the analysis is back from the project (no re-analysis), in the same row, still selected.
    record = wait_for_state(qtbot, again, moved, FileState.DONE)
    assert len(record.tracks) == 3 and fake_diarizer.instance.runs == runs
    assert again.file_list.state_text(moved).startswith("done")
    assert again.file_list.paths() == [two_files[0], moved] and two_files[1] not in again.workspace
    assert again.workspace.current == moved
    qtbot.waitUntil(lambda: len(again.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    assert again.workspace.session.file(key2).name_of("S1") == "anna"
    assert json.loads(project_path.read_text())["files"][1]["audio"] == "moved/conv2.wav"
    assert again.workspace.session.file(key2).facts.sha256  # known again for the next move
    assert not again.action("locate_missing").isEnabled() and not again.action("find_missing").isEnabled()

    # Undo puts the old (missing) place back; redo relinks again.
    assert again.action("undo").text().startswith("&Undo Relink")
    again.action("undo").trigger()
    assert again.workspace.session.missing_files() == [key2]
    assert again.file_list.state_text(two_files[1]) == "missing audio" and moved not in again.workspace
    assert again.workspace.current == two_files[1]
    again.action("redo").trigger()
    assert wait_for_state(qtbot, again, moved, FileState.DONE) is not None
    assert again.workspace.session.missing_files() == []


def test_find_missing_files_in_a_folder_is_one_undo_step(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                         monkeypatch):
    project_path = tmp_path / "p.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    key1, key2 = make_project(qtbot, window, project_path, two_files)
    window.close()

    # The whole folder moved into an archive; a same-named decoy lies elsewhere in it.
    archive = tmp_path / "archive"
    (archive / "deep").mkdir(parents=True)
    shutil.move(two_files[0].parent, archive / "deep" / "audio")
    (archive / "decoys").mkdir()
    shutil.copy(archive / "deep" / "audio" / "conv2.wav", archive / "decoys" / "conv1.wav")

    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    assert again.workspace.session.missing_files() == [key1, key2]
    runs = fake_diarizer.instance.runs
    monkeypatch.setattr(again.dialogs, "ask_folder", lambda title, start: str(archive))
    with qtbot.waitSignal(again.relink.finished, timeout=UI_TIMEOUT_MS) as finished:
        again.action("find_missing").trigger()
    assert finished.args == [2]
    assert "Found 2 of 2 missing files" in again.dialogs.last_report and again.dialogs.report_box.isVisible()
    assert again.workspace.session.missing_files() == []
    new_paths = [archive / "deep" / "audio" / "conv1.wav", archive / "deep" / "audio" / "conv2.wav"]
    assert [again.workspace.session.file(k).audio for k in (key1, key2)] == new_paths
    for path in new_paths:
        assert wait_for_state(qtbot, again, path, FileState.DONE) is not None
    assert fake_diarizer.instance.runs == runs
    assert again.file_list.paths() == new_paths
    assert again.action("undo").text() == "&Undo Relink 2 files"

    # One undo un-relinks both.
    again.action("undo").trigger()
    assert again.workspace.session.missing_files() == [key1, key2]
    assert again.file_list.paths() == two_files
    assert [again.file_list.state_text(p) for p in two_files] == ["missing audio"] * 2
    assert not again.workspace.session.can_undo

    # Nothing of that name anywhere: said so, nothing changes.
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(again.relink.finished, timeout=UI_TIMEOUT_MS) as finished:
        assert again.relink.find_missing(tmp_path / "empty")  # started
    assert finished.args == [0]
    assert "Found 0 of 2" in again.dialogs.last_report and "no file of that name" in again.dialogs.last_report
    assert not again.workspace.session.can_undo


def test_undoing_a_removal_shows_the_file_analysed_again(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    # The record made again for the path must not count as already showing the analysis.
    window = make_window(diarizer_factory=fake_diarizer.factory)
    make_project(qtbot, window, tmp_path / "p.weighter", two_files)
    runs = fake_diarizer.instance.runs
    window.files.remove(two_files[1])
    assert two_files[1] not in window.workspace
    window.action("undo").trigger()
    assert window.workspace.get(two_files[1]).state is FileState.DONE
    assert fake_diarizer.instance.runs == runs


def test_cancelling_a_slow_relink_relinks_nothing(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                  monkeypatch):
    """Searching a big tree and hashing a long file run in a worker: the window stays
    responsive, a progress dialog shows after half a second, and Cancel stops it."""
    from weighter_gui.core.annotation import relink

    project_path = tmp_path / "p.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    key1, key2 = make_project(qtbot, window, project_path, two_files)
    window.workspace.session.file(key1).audio_facts()  # conv1's sha256 is known: Locate reads it whole
    window.workspace.set_current(two_files[0])
    qtbot.waitUntil(lambda: len(window.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    window.labelling.select_slot("S1")
    assert window.labelling.name_selected("anna")  # autosaved, with the facts
    window.close()
    moved = tmp_path / "moved"
    shutil.move(two_files[0].parent, moved)

    # A search that never ends by itself (a huge tree), and hashing that crawls (a huge file).
    started = []

    def endless_walk(folder, names, progress):
        started.append(folder)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress.say(f"Looking in {folder}\u2026", 0, 0)
            time.sleep(0.005)
        raise AssertionError("not cancelled")

    def crawling_hash(path, progress, text):
        started.append(path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress.say(text, 1, 1000)
            time.sleep(0.005)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(relink, "files_named", endless_walk)
    monkeypatch.setattr(relink, "sha256_of", crawling_hash)

    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    assert again.workspace.session.missing_files() == [key1, key2]
    monkeypatch.setattr(again.dialogs, "ask_folder", lambda title, start: str(moved))
    monkeypatch.setattr(again.dialogs, "ask_open_path", lambda *a: str(moved / "conv1.wav"))
    questions = []
    monkeypatch.setattr(again.dialogs, "ask_yes_no", lambda title, text: questions.append(text) or True)

    for start in (again.action("find_missing").trigger,  # Find missing files in folder…
                  lambda: again.relink.locate(two_files[0])):  # Locate missing file…
        began = time.monotonic()
        start()
        assert again.relink.running() and not again.action("find_missing").isEnabled()
        dialog = again.relink.progress_dialog
        assert not dialog.isVisible()  # not for quick work
        spin_until(dialog.isVisible)
        assert time.monotonic() - began >= 0.4
        assert dialog.windowModality() == Qt.WindowModality.WindowModal
        with qtbot.waitSignal(again.relink.finished, timeout=UI_TIMEOUT_MS) as finished:
            qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)  # Cancel
        assert finished.args == [0]
        assert not dialog.isVisible() and again.relink.progress_dialog is None and not again.relink.running()
        assert "nothing was relinked" in again.statusBar().currentMessage()
        spin_until(lambda: not any(t.isRunning() for t in again.relink.tasks))  # the worker stopped
        assert again.workspace.session.missing_files() == [key1, key2] and not again.workspace.session.can_undo
        assert again.action("find_missing").isEnabled()
    assert len(started) == 2 and questions == []
    assert [f["audio"] for f in json.loads(project_path.read_text())["files"]] == ["audio/conv1.wav",
                                                                                  "audio/conv2.wav"]


def test_reanalyse_is_not_offered_for_missing_audio(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                     monkeypatch):
    project_path = tmp_path / "p.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    make_project(qtbot, window, project_path, two_files)
    window.close()
    two_files[1].unlink()

    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    runs = fake_diarizer.instance.runs
    again.workspace.set_current(two_files[1])
    assert again.workspace.current == two_files[1]
    assert not again.action("reanalyse").isEnabled()
    assert "missing" in again.action("reanalyse").toolTip()
    # The file list's menu greys it out too, saying why; asked anyway, it is refused.
    enabled = {}
    choose_from_context_menu(monkeypatch, again, two_files[1], "Re-analyse", enabled)
    assert enabled["Re-analyse"] is False and enabled["Remove from list"] is True
    assert "missing" in again.statusBar().currentMessage()
    assert again.file_list.state_text(two_files[1]) == "missing audio"  # still flagged (and relinkable)
    assert again.action("locate_missing").isEnabled()
    # A file that is there can be re-analysed.
    again.workspace.set_current(two_files[0])
    assert again.action("reanalyse").isEnabled() and "missing" not in again.action("reanalyse").toolTip()
    again.action("reanalyse").trigger()
    wait_for_state(qtbot, again, two_files[0], FileState.DONE)
    assert fake_diarizer.instance.runs == runs + 1
