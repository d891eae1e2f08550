"""The labelling loop in the window: projects, naming by clicking, undo/redo,
autosave and reopen, exports, references, "label next", and retraining.

Analyses come from the scripted ``FakeDiarizer`` (fast, three slots S1-S3 whose
segments are all 0-1 s); retraining runs the real trainer for two steps on a tiny
checkpoint, in its worker thread.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from qt_helpers import ANALYSIS_TIMEOUT_MS, UI_TIMEOUT_MS, make_project, spin_until, wait_for_state

from weighter_gui.qt.state.workspace import FileState


def click_row(qtbot, window, label: str) -> None:
    """Click the speaker panel's row of slot ``label``."""
    table = window.speaker_panel.table
    row = next(i for i, t in enumerate(window.speaker_panel._tracks) if t.label == label)
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.speaker_panel.selected_label() == label


def row_text(window, label: str) -> str:
    row = next(i for i, t in enumerate(window.speaker_panel._tracks) if t.label == label)
    return window.speaker_panel.table.item(row, 0).text()


def open_project_with_files(qtbot, window, project_path, files):
    """A project of ``files`` with the first one shown (its three slots in the panel)."""
    make_project(qtbot, window, project_path, files)
    window.workspace.set_current(files[0])
    qtbot.waitUntil(lambda: len(window.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)


def test_label_by_clicking_undo_redo_autosave_and_reopen(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                         monkeypatch):
    project_path = tmp_path / "labels.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, project_path, two_files)
    session = window.workspace.session
    key1, key2 = (session.project.key_for(p) for p in two_files)

    # Click a row: the slot is selected here and its curve is drawn thicker.
    click_row(qtbot, window, "S1")
    assert window.timeline.selected_label == "S1"
    s1_item = window.timeline.curve_items[window.speaker_panel._tracks[0].key]
    assert s1_item.opts["pen"].width() == 4

    # N opens the name dialog (an editable combo box): type a new name, Enter.
    def fill_dialog():
        dialog = window.dialogs.name_dialog
        assert dialog is not None
        dialog.combo.setEditText("anna")
        QTest.keyClick(dialog.combo, Qt.Key.Key_Return)

    QTimer.singleShot(200, fill_dialog)
    QTest.keyClick(window, Qt.Key.Key_N)
    assert session.project.file(key1).name_of("S1") == "anna"
    window.activateWindow()  # the dialog had the keyboard
    qtbot.waitUntil(window.isActiveWindow, timeout=UI_TIMEOUT_MS)
    assert row_text(window, "S1").startswith("anna")
    assert json.loads(project_path.read_text())["files"][0]["labels"]["names"] == {"S1": "anna"}  # autosaved

    # Undo and redo, by key; the menu says what would be undone.
    assert "anna" in window.action("undo").text()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.project.file(key1).name_of("S1") is None
    assert row_text(window, "S1") == "S1"
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.project.file(key1).name_of("S1") == "anna"

    # S2: a second name through the dialog (monkeypatched from here on).
    monkeypatch.setattr(window.dialogs, "ask_name", lambda *a, **k: "bob")
    click_row(qtbot, window, "S2")
    QTest.keyClick(window, Qt.Key.Key_N)
    assert session.project.file(key1).name_of("S2") == "bob"

    # M merges S3 into the slot picked from the list.
    monkeypatch.setattr(window.dialogs, "ask_item", lambda title, prompt, items: next(i for i in items if i.startswith("S2")))
    click_row(qtbot, window, "S3")
    QTest.keyClick(window, Qt.Key.Key_M)
    assert session.project.file(key1).labels.merges == {"S3": "S2"}
    assert "\u2192 S2" in row_text(window, "S3")

    # The second file: key 1 names after the first known speaker (sorted: anna).
    window.workspace.set_current(two_files[1])
    qtbot.waitUntil(lambda: window.workspace.current == two_files[1] and len(window.speaker_panel._tracks) == 3,
                    timeout=UI_TIMEOUT_MS)
    click_row(qtbot, window, "S1")
    QTest.keyClick(window, Qt.Key.Key_1)
    assert session.project.file(key2).name_of("S1") == "anna"
    # The gallery suggests a name for S2 (the fake gives every slot one embedding); A accepts it.
    suggested = session.suggestions(key2)["S2"]
    assert window.speaker_panel.suggestion_text("S2") == f"{suggested.name}? {suggested.similarity:.2f}"
    click_row(qtbot, window, "S2")
    QTest.keyClick(window, Qt.Key.Key_A)
    assert session.project.file(key2).name_of("S2") == suggested.name
    # X: not a speaker.
    click_row(qtbot, window, "S3")
    QTest.keyClick(window, Qt.Key.Key_X)
    assert "S3" in session.project.file(key2).labels.not_speaker
    assert "not a speaker" in row_text(window, "S3")
    # Add like (a speaker the model missed).
    monkeypatch.setattr(window.dialogs, "ask_name", lambda *a, **k: "carl")
    window.action("add_like").trigger()
    assert "carl" in session.project.file(key2).likes
    # Rename everywhere: the selected slot's speaker.
    click_row(qtbot, window, "S1")
    monkeypatch.setattr(window.dialogs, "ask_name", lambda *a, **k: "anne")
    window.action("rename").trigger()
    assert session.project.file(key1).name_of("S1") == "anne"
    assert session.project.file(key2).name_of("S1") == "anne"
    assert session.save_error is None and not window.status_widgets.save_error_label.isVisible()
    runs = fake_diarizer.instance.runs
    window.close()

    # A new window on the same project file: files, curves and labels are back, no re-analysis.
    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    for path in two_files:
        assert again.workspace.get(path).state is FileState.DONE
    assert fake_diarizer.instance.runs == runs
    again.workspace.set_current(two_files[0])
    qtbot.waitUntil(lambda: len(again.speaker_panel._tracks) == 3, timeout=UI_TIMEOUT_MS)
    assert row_text(again, "S1").startswith("anne")
    assert again.workspace.session.file(key1).labels.merges == {"S3": "S2"}
    assert len(again.timeline.curve_items) >= 2
    assert again.projects.path == project_path.absolute()


def test_clicking_a_curve_selects_its_slot(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    record = window.workspace.get(two_files[0])
    strong = [t for t in record.tracks if t.confidence >= window.workspace.threshold(record.path)]
    target = strong[0]
    others = [t for t in strong if t is not target]
    # A point of the target curve far from the other visible curves.
    index = max(range(5, len(target.curve) - 5),
                key=lambda i: min(abs(float(target.curve[i]) - float(o.curve[i])) for o in others))
    x, y = index * target.hop, float(target.curve[index])
    window.timeline.set_visible_range(0.0, record.duration)
    QApplication.processEvents()
    view = window.timeline
    pos = view.mapFromScene(view.curves_box.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: window.speaker_panel.selected_label() == target.label, timeout=UI_TIMEOUT_MS)
    assert window.timeline.selected_label == target.label


def test_exports_reference_and_rank(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    from weighter_gui.core.io.label_files import read_audacity_labels, read_textgrid, read_turns
    from weighter_gui.core.io.manifest import read_manifest

    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files)
    session = window.workspace.session
    key1 = session.project.key_for(two_files[0])
    click_row(qtbot, window, "S1")
    assert window.labelling.name_selected("anna")
    click_row(qtbot, window, "S2")
    assert window.labelling.name_selected("bob")

    out = tmp_path / "out"
    report = window.reports.export("manifest", out / "m.jsonl")
    assert report is not None and window.dialogs.report_box.isVisible() and "Exported 1 file" in window.dialogs.last_report
    (item,) = read_manifest(out / "m.jsonl")
    assert item.id == key1 and list(item.likes) == ["anna", "bob"]
    window.reports.export("rttm", out / "all.rttm")
    speakers = {spk for _, _, spk in read_turns(out / "all.rttm", uris=[key1])}
    assert {"anna", "bob"} <= speakers
    window.reports.export("audacity", out / "aud")
    labels = read_audacity_labels(out / "aud" / f"{key1}.txt")
    assert {name for _, _, name in labels} >= {"anna", "bob"}
    window.reports.export("textgrid", out / "tg")
    grid = read_textgrid(out / "tg" / f"{key1}.TextGrid")
    assert grid.tier("anna") is not None and grid.tier("bob") is not None

    # A reference RTTM for the selected file: drawn as a lane, scored.
    rttm = tmp_path / "ref.rttm"
    rttm.write_text(
        f"SPEAKER {key1} 1 0.000 1.000 <NA> <NA> spk_a <NA> <NA>\n"
        f"SPEAKER {key1} 1 2.000 1.500 <NA> <NA> spk_b <NA> <NA>\n"
    )
    assert window.reports.import_reference(rttm)
    assert window.timeline.reference_speakers == ["spk_a", "spk_b"]
    assert window.display.der is not None and window.status_widgets.der_label.isVisible() and "DER" in window.status_widgets.der_label.text()
    # Export > Evaluate: the DER table in a fixed-width font, one line per row (no wrapping).
    window.action("evaluate").trigger()
    box = window.dialogs.report_box
    assert box.isVisible() and "Corrected labels: DER" in window.dialogs.last_report
    qtbot.waitExposed(box)
    text = box.table
    metrics = text.fontMetrics()
    assert metrics.horizontalAdvance("iiii") == metrics.horizontalAdvance("MMMM")  # fixed width
    assert text.lineWrapMode() == text.LineWrapMode.NoWrap
    assert text.toPlainText().splitlines()[0].split() == ["file", "DER", "missed", "false", "al.", "confusion",
                                                           "speech", "s"]
    assert key1 in text.toPlainText() and "TOTAL" in text.toPlainText()
    assert text.horizontalScrollBar().maximum() == 0 and text.verticalScrollBar().maximum() == 0  # all in view
    # Undo removes the reference again.
    window.action("undo").trigger()
    assert window.timeline.reference_speakers == [] and not window.status_widgets.der_label.isVisible()

    # "Label next": every file, unlabelled ones first; double-click selects the file.
    ranked = window.rank_panel.keys()
    key2 = session.project.key_for(two_files[1])
    assert set(ranked) == {key1, key2} and ranked[0] == key2
    item = window.rank_panel.topLevelItem(0)
    rect = window.rank_panel.visualItemRect(item)
    qtbot.mouseClick(window.rank_panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(window.rank_panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.workspace.current == two_files[1], timeout=UI_TIMEOUT_MS)


def test_speaker_count_follows_merges_and_names(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                               monkeypatch):
    # The fake's slots: S1 0.9, S2 0.7, S3 0.2; threshold 0.5. Counted as the exports count.
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    path = two_files[0]
    pf = window.workspace.session.file(window.workspace.session.key_for(path))

    def counted():
        summary = window.speaker_panel.summary.text()
        return summary, window.file_list.state_text(path)

    assert counted() == ("<b>2 speakers</b> among 3 tracks", "done (2 speakers)")
    monkeypatch.setattr(window.dialogs, "ask_item", lambda title, prompt, items: next(i for i in items if i.startswith("S1")))
    click_row(qtbot, window, "S2")
    QTest.keyClick(window, Qt.Key.Key_M)  # S2 merged into S1: one speaker
    assert pf.labels.merges == {"S2": "S1"}
    assert counted() == ("<b>1 speaker</b> among 3 tracks", "done (1 speaker)") and len(pf.speakers()) == 1
    click_row(qtbot, window, "S3")
    assert window.labelling.name_selected("carl")  # a named slot is a speaker, below the threshold too
    assert counted() == ("<b>2 speakers</b> among 3 tracks", "done (2 speakers)")
    QTest.keyClick(window, Qt.Key.Key_X)  # ...unless it is marked "not a speaker"
    assert counted()[1] == "done (1 speaker)"
    for _ in range(3):
        window.action("undo").trigger()
    assert counted() == ("<b>2 speakers</b> among 3 tracks", "done (2 speakers)")


def test_speaker_panel_headers_read_at_the_default_width(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                         monkeypatch):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files)
    click_row(qtbot, window, "S1")
    assert window.labelling.name_selected("anna")
    # The second file: a long name, a merge and the gallery's suggestions (the Suggestion column).
    window.workspace.set_current(two_files[1])
    qtbot.waitUntil(lambda: window.workspace.current == two_files[1] and len(window.speaker_panel._tracks) == 3,
                    timeout=UI_TIMEOUT_MS)
    click_row(qtbot, window, "S2")
    assert window.labelling.name_selected("Maximiliane Mustermann-Schmidt")
    monkeypatch.setattr(window.dialogs, "ask_item", lambda title, prompt, items: next(i for i in items if i.startswith("S2")))
    click_row(qtbot, window, "S3")
    QTest.keyClick(window, Qt.Key.Key_M)
    panel = window.speaker_panel
    table, header = panel.table, panel.table.horizontalHeader()
    assert panel.suggestion_text("S1") and not table.isColumnHidden(4)
    assert window.speakers_dock.width() <= 370  # the dock's default width (360 px)
    QApplication.processEvents()
    shown = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    for column in shown:
        if panel.COLUMNS[column]:
            assert header.sectionSize(column) >= header.sectionSizeHint(column), panel.COLUMNS[column]
    assert sum(header.sectionSize(c) for c in shown) <= table.viewport().width()  # no sideways scrolling
    assert table.horizontalScrollBar().maximum() == 0
    # The long name is elided in its cell; its tooltip says it whole.
    row = next(i for i, t in enumerate(panel._tracks) if t.label == "S3")
    assert "Maximiliane Mustermann-Schmidt" in table.item(row, 0).text()
    assert header.sectionSize(0) < table.sizeHintForColumn(0)
    assert "Maximiliane Mustermann-Schmidt" in table.item(row, 0).toolTip()


@pytest.mark.parametrize("content", ["not json at all {", json.dumps({"format": "weighter-project",
                                                                       "format_version": 99, "files": []})])
def test_bad_project_file_shows_the_error_and_changes_nothing(qtbot, make_window, tmp_path, conversation,
                                                               fake_diarizer, content):
    bad = tmp_path / "bad.weighter"
    bad.write_text(content)
    before = bad.read_bytes()
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    assert not window.projects.open_project(bad)
    assert window.dialogs.error_box is not None and window.dialogs.error_box.isVisible()
    assert "bad.weighter" in window.dialogs.error_box.text()
    if "99" in content:
        assert "format 99" in window.dialogs.error_box.text() or "newer" in window.dialogs.error_box.text()
    assert bad.read_bytes() == before
    assert window.workspace.session is None and window.workspace.paths() == [conversation]


def test_missing_audio_is_flagged(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    project_path = tmp_path / "p.weighter"
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, project_path, two_files)
    window.close()
    two_files[1].unlink()
    again = make_window(diarizer_factory=fake_diarizer.factory)
    assert again.projects.open_project(project_path)
    assert again.file_list.state_text(two_files[1]) == "missing audio"
    assert again.workspace.get(two_files[0]).state is FileState.DONE


def test_retrain_in_a_worker_then_reanalyse(qtbot, make_window, two_files, tmp_path, tiny_checkpoint,
                                            monkeypatch):
    from qt_helpers import FakeDiarizer

    checkpoints = []
    fake = FakeDiarizer(segments=[[(0.0, 2.0)], [(2.0, 4.0)], [(4.0, 5.0)]])  # anna, then bob, each alone

    def factory(checkpoint, device):
        checkpoints.append(checkpoint)
        return fake

    project_path = tmp_path / "proj" / "p.weighter"
    project_path.parent.mkdir()
    window = make_window(diarizer_factory=factory, checkpoint=str(tiny_checkpoint), device="cpu")
    open_project_with_files(qtbot, window, project_path, two_files)
    key1 = window.workspace.session.key_for(two_files[0])
    click_row(qtbot, window, "S1")
    assert window.labelling.name_selected("anna")
    click_row(qtbot, window, "S2")
    assert window.labelling.name_selected("bob")

    monkeypatch.setattr(window.dialogs, "ask_yes_no", lambda *a: True)
    dialog = window.retrain.open_dialog()
    assert dialog.steps_spin.value() == 400  # the default; this test asks for 2
    dialog.show()
    assert dialog.start(steps=2, batch_size=1)
    qtbot.waitUntil(lambda: not dialog.running, timeout=ANALYSIS_TIMEOUT_MS)
    assert dialog.checkpoint is not None, dialog.status.text()
    new = dialog.checkpoint
    assert new.parent == project_path.parent / "models" and new.exists()
    assert len(dialog.losses) == 2 and dialog.bar.value() == 2
    assert (project_path.parent / "feature_cache").is_dir()
    import torch

    from weighter_gui.core.model.checkpoint import load_checkpoint

    base, tuned = (load_checkpoint(c)[0].state_dict() for c in (tiny_checkpoint, new))
    assert all(torch.equal(tuned[k], v) for k, v in base.items() if not k.startswith("classifier."))  # head only
    from weighter_gui.core.model.checkpoint import read_header

    assert sorted(read_header(new).training["voices"]["centres"]) == ["anna", "bob"]  # the names enrolled

    # Switched to the new model; every file analysed again; labels moved to the new slots.
    qtbot.waitUntil(lambda: str(new) in checkpoints, timeout=UI_TIMEOUT_MS)
    for path in two_files:
        wait_for_state(qtbot, window, path, FileState.DONE)
    pf = window.workspace.session.file(key1)
    assert pf.name_of("S1") == "anna" and pf.name_of("S2") == "bob"
    assert window.preferences.saved.checkpoint == str(new)
    assert window.workspace.session.can_undo  # the re-analysis is an undo step
    dialog.close()
    assert not dialog.running


def test_a_retrained_models_names_are_suggested_outside_a_project_too(qtbot, make_window, fake_diarizer, two_files):
    """A file opened without a project: the names the model gave show in the Suggestion
    column, and A accepts one (an untitled project is made for the label)."""
    fake_diarizer.instance.names = ("ann", None, None)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([two_files[0]])
    wait_for_state(qtbot, window, two_files[0], FileState.DONE)
    assert window.workspace.session is None
    assert window.speaker_panel.suggestion_text("S1") == "ann? 0.90"
    assert not window.speaker_panel.suggestion_text("S2")
    click_row(qtbot, window, "S1")
    window.action("accept").trigger()
    session = window.workspace.session
    assert session is not None and session.project.file(session.key_for(two_files[0])).name_of("S1") == "ann"


def test_retrain_cancel_leaves_no_thread_and_no_model(qtbot, make_window, fake_diarizer, two_files, tmp_path,
                                                     tiny_checkpoint):
    project_path = tmp_path / "proj" / "p.weighter"
    project_path.parent.mkdir()
    window = make_window(diarizer_factory=fake_diarizer.factory, checkpoint=str(tiny_checkpoint), device="cpu")
    open_project_with_files(qtbot, window, project_path, two_files[:1])
    click_row(qtbot, window, "S1")
    assert window.labelling.name_selected("anna")
    dialog = window.retrain.open_dialog()
    dialog.show()
    assert dialog.start(steps=100_000, batch_size=1)
    qtbot.waitUntil(lambda: bool(dialog.losses) or not dialog.running, timeout=ANALYSIS_TIMEOUT_MS)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=ANALYSIS_TIMEOUT_MS)
    assert dialog.checkpoint is None and "Cancelled" in dialog.status.text()
    assert not list((project_path.parent / "models").glob("*.safetensors"))
    assert window.preferences.saved.checkpoint != str(dialog.checkpoint)


def test_retrain_without_labels_says_so(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    dialog = window.retrain.open_dialog()
    assert not dialog.start(steps=2)
    assert "Cannot train" in dialog.status.text() or "No labelled file" in dialog.status.text()
    assert not dialog.running


def test_labelling_shortcuts_are_in_the_menus_and_help(make_window):
    window = make_window()
    listed = window.listed_actions()
    for name in ("new_project", "open_project", "undo", "redo", "name", "accept", "not_speaker", "merge", "add_like",
                 "rename", "export_rttm", "retrain", *(f"name_known_{i}" for i in range(1, 10))):
        assert window.action(name) in listed
    keys = {s.toString() for a in listed for s in a.shortcuts()}
    assert {"N", "A", "X", "M", "1", "9", "Ctrl+Z", "Ctrl+Shift+Z"} <= keys
    # No key is bound twice (Qt would call it ambiguous and fire neither).
    bound = [s.toString() for a in window.actions() for s in a.shortcuts()]
    assert len(bound) == len(set(bound)), sorted(k for k in bound if bound.count(k) > 1)
    # Labelling with no file open says what to do first, and makes no project.
    window.action("name").trigger()
    assert "Open a recording first" in window.statusBar().currentMessage()
    assert window.workspace.session is None


def _count_redraws_per_result(window) -> list[int]:
    """How many times each finished analysis draws the current file (filled as results come)."""
    counts: list[int] = []
    service = window.analysis
    original = service._on_analysis_done

    def counted(answer):
        before = window.display.redraws
        original(answer)
        counts.append(window.display.redraws - before)

    service.analysis_worker.done.disconnect(original)
    service.analysis_worker.done.connect(counted)
    return counts


def test_an_analysis_result_draws_the_current_file_once(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files)
    path = two_files[0]
    window.labelling.select_slot("S1")
    assert window.labelling.name_selected("anna")
    counts = _count_redraws_per_result(window)
    window.files.reanalyse(path)  # the project has an analysis: the new one moves the labels (one undo step)
    wait_for_state(qtbot, window, path, FileState.DONE)
    spin_until(lambda: counts)
    assert counts == [1]
    key = window.workspace.key_for(path)
    assert window.workspace.session.file(key).name_of("S1") == "anna" and window.workspace.session.can_undo
    assert window.speaker_panel.display_name("S1").startswith("anna")
    # A file that joins the project: its first analysis is stored and drawn once too.
    counts.clear()
    window.files.remove(two_files[1])
    window.files.open_paths([two_files[1]])
    wait_for_state(qtbot, window, two_files[1], FileState.DONE)
    spin_until(lambda: counts)
    assert counts == [1] and window.workspace.project_file(two_files[1]).analysis is not None


def test_a_click_on_a_curve_selects_the_slot_in_the_workspace(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    window.timeline.track_clicked.emit("S2")
    assert window.workspace.selected_slot == "S2"  # the one place the selection lives
    assert window.speaker_panel.selected_label() == "S2" and window.timeline.selected_label == "S2"
    window.workspace.set_current(None)
    assert window.workspace.selected_slot is None  # a slot belongs to its file


def test_the_turns_lane_shows_the_diarization_as_corrected(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths(two_files[:1])
    record = wait_for_state(qtbot, window, two_files[0], FileState.DONE)
    lane = window.timeline.turns_lane
    # Before any label: the tracks above the threshold, in their curves' colours, and where they overlap.
    colours = {t.label: t.colour for t in record.tracks}
    assert window.timeline.turn_speakers == ["S1", "S2"]
    assert [row.colour for row in lane.rows[:2]] == [colours["S1"], colours["S2"]]
    assert lane.rows[-1].kind == "overlap" and lane.rows[-1].spans == ((0.0, 1.0),)
    # In a project, names and merges apply: S2 joins S1, who is anna; one speaker overlaps no one.
    assert window.projects.new_project(tmp_path / "p.weighter")
    session, key = window.workspace.session, window.workspace.key_for(two_files[0])
    session.name_slot(key, "S1", "anna")
    session.merge_slots(key, "S2", "S1")
    assert window.timeline.turn_speakers == ["anna"] and not any(row.kind == "overlap" for row in lane.rows)
    assert lane.rows[0].colour == colours["S1"]
    session.undo()  # the merge
    assert window.timeline.turn_speakers == ["anna", "S2"]


def test_go_moves_the_playhead_to_what_needs_attention(qtbot, make_window, fake_diarizer, two_files, tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    assert window.action("next_change").shortcut().toString() == "Alt+Right"
    assert window.action("next_change") in window.listed_actions()  # in the Go menu and the shortcuts dialog
    # The fake analysis: S1 and S2 both speak over 0-1 s, nobody after.
    assert window.go.speaker_change(forward=True) is None and "No later speaker change" in \
        window.statusBar().currentMessage()
    window.player.seek(0.6)
    assert window.go.speaker_change(forward=False) == 0.0
    # Against a reference that hears someone at 2-3 s: the next disagreement is that missed speech.
    rttm = tmp_path / "ref.rttm"
    key = window.workspace.key_for(two_files[0])
    rttm.write_text(f"SPEAKER {key} 1 2.0 1.0 <NA> <NA> anna <NA> <NA>\n")
    assert window.reports.import_reference(rttm)
    window.player.seek(0.5)
    assert window.go.disagreement(forward=True) == 2.0
    qtbot.waitUntil(lambda: abs(window.player.position - 2.0) < 0.05, timeout=UI_TIMEOUT_MS)
    assert window.timeline.visible_range()[0] <= 2.0 <= window.timeline.visible_range()[1]


def test_marking_a_range_reviewed_shows_in_the_lane_and_the_file_list(qtbot, make_window, fake_diarizer, two_files,
                                                                     tmp_path):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    open_project_with_files(qtbot, window, tmp_path / "p.weighter", two_files[:1])
    path, pf = two_files[0], window.workspace.project_file(two_files[0])
    window.timeline.set_selection((3.0, 6.0))  # as shift-drag does
    window.action("mark_reviewed").trigger()
    assert pf.reviewed == ((3.0, 6.0),)
    assert window.timeline.turns_lane.rows[-1].kind == "reviewed"
    share = 3.0 / pf.duration  # (the fake analysis says how long the file is)
    assert window.file_list.state_text(path).endswith(f"{share:.0%} reviewed)")
    window.timeline.set_selection(None)
    window.action("mark_reviewed").trigger()  # no range selected: the whole file
    assert window.workspace.project_file(path).reviewed == ((0.0, pf.duration),)
    window.action("undo").trigger()
    assert window.workspace.project_file(path).reviewed == ((3.0, 6.0),)
