"""Analysis in the window: the worker runs the model off the GUI thread, results are
drawn (window by window), cancel works, bad files and bad checkpoints are shown
in plain words and the app keeps working, and stale answers are dropped."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtGui import QColor
from qt_helpers import UI_TIMEOUT_MS, FakeDiarizer, wait_for_state

from weighter_gui.qt.state.workspace import FileState
from weighter_gui.qt.views.timeline_view import SPEECH_LANE
from weighter_gui.qt.workers.messages import AnalysisDone, AnalysisProgress

DONE = {FileState.DONE}
ENDED = {FileState.DONE, FileState.FAILED, FileState.CANCELLED}


def curve_colours(window) -> dict[int, str]:
    return {key: item.opts["pen"].color().name() for key, item in window.timeline.curve_items.items()}


def test_opening_a_file_draws_one_curve_per_kept_track(make_window, qtbot, conversation, tiny_checkpoint):
    window = make_window(checkpoint=str(tiny_checkpoint))
    window.files.open_paths([conversation])
    assert window.workspace.current == conversation
    record = wait_for_state(qtbot, window, conversation, DONE)

    diarization = record.diarization
    assert diarization.tracks, "the model found no track at all"
    kept = [t for t in diarization.tracks if t.confidence >= diarization.threshold]
    assert window.speaker_panel.threshold == pytest.approx(diarization.threshold)
    assert len(window.timeline.curve_items) == len(diarization.tracks)
    assert len(window.timeline.visible_curves()) == len(kept)
    assert window.file_list.state_text(conversation) == (
        f"done ({len(kept)} speaker{'s' if len(kept) != 1 else ''})"
    )
    # The panel lists every track, greys the weak ones, and uses the curve's colour.
    rows = window.speaker_panel.rows()
    assert [r[0] for r in rows] == [t.label for t in diarization.tracks]
    assert [r[2] for r in rows] == [t.confidence >= diarization.threshold for t in diarization.tracks]
    colours = curve_colours(window)
    for row, track in enumerate(record.tracks):
        swatch = window.speaker_panel.table.item(row, 0).icon().pixmap(8, 8).toImage().pixelColor(4, 4)
        assert swatch.name() == QColor(track.colour).name() == colours[track.key]
    # Curves span the file, values in 0..1.
    x, y = window.timeline.curve_items[record.tracks[0].key].getOriginalDataset()
    assert x[-1] == pytest.approx(diarization.duration, abs=0.5)
    assert 0.0 <= float(np.min(y)) and float(np.max(y)) <= 1.0

    # Moving the threshold shows and hides curves and recounts the speakers.
    window.speaker_panel.threshold_spin.setValue(0.0)
    assert len(window.timeline.visible_curves()) == len(diarization.tracks)
    assert window.file_list.state_text(conversation).startswith(f"done ({len(diarization.tracks)} speaker")
    window.speaker_panel.threshold_slider.setValue(100)
    strongest = [t for t in diarization.tracks if t.confidence >= 1.0]
    assert len(window.timeline.visible_curves()) == len(strongest)
    window.action("weak").trigger()  # weak tracks come back, dimmed
    assert len(window.timeline.visible_curves()) == len(diarization.tracks)
    assert window.device in ("CPU",) or window.device.startswith("CUDA: ")


def test_answers_reach_the_store_on_the_gui_thread(make_window, qtbot, fake_diarizer, conversation):
    """Worker signals are queued to the GUI thread: widgets are never touched from a worker."""
    threads = []
    window = make_window(diarizer_factory=fake_diarizer.factory)
    for signal in (window.workspace.state_changed, window.workspace.tracks_changed):
        signal.connect(lambda _path: threads.append(threading.current_thread()))
    window.files.open_paths([conversation])
    wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    assert threads and all(t is threading.main_thread() for t in threads)


def test_windows_are_drawn_as_they_arrive(make_window, qtbot, fake_diarizer, conversation):
    gate = threading.Event()
    fake_diarizer.instance = FakeDiarizer(windows=3, blocks=40, gate=gate)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    record = wait_for_state(qtbot, window, conversation, {FileState.ANALYSING}, UI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: record.percent == 33, timeout=UI_TIMEOUT_MS)
    # One window in: three live curves covering the first 40 blocks.
    assert len(window.timeline.curve_items) == 3
    first = next(iter(window.timeline.curve_items.values()))
    assert len(first.getOriginalDataset()[1]) == 40
    assert "analysing 33%" == window.file_list.state_text(conversation)
    assert window.status_widgets.progress_bar.isVisible() and window.status_widgets.progress_bar.value() == 33
    colours_live = curve_colours(window)
    gate.set()
    wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    assert len(first.getOriginalDataset()[1]) == 120
    assert curve_colours(window) == colours_live, "a curve changed colour when the analysis finished"
    assert not window.status_widgets.progress_bar.isVisible()


def test_cancel_stops_a_job_and_the_worker_keeps_serving(
    make_window, qtbot, fake_diarizer, conversation, second_conversation
):
    gate = threading.Event()  # never set: the job would wait forever after window 1
    fake_diarizer.instance = FakeDiarizer(windows=3, gate=gate)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    record = wait_for_state(qtbot, window, conversation, {FileState.ANALYSING}, UI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: record.percent == 33, timeout=UI_TIMEOUT_MS)

    window.action("cancel").trigger()
    assert record.state is FileState.CANCELLED
    assert window.file_list.state_text(conversation) == "cancelled"
    # The worker is free again: the next file is analysed to the end.
    fake_diarizer.instance.gate = None
    window.files.open_paths([second_conversation])
    wait_for_state(qtbot, window, second_conversation, DONE, UI_TIMEOUT_MS)
    assert record.state is FileState.CANCELLED  # late answers of the cancelled job were dropped
    assert record.percent == 33

    # Re-analysing the cancelled file works.
    window.workspace.set_current(conversation)
    window.action("reanalyse").trigger()
    wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)


def test_removing_a_file_cancels_its_job(make_window, qtbot, fake_diarizer, conversation, second_conversation):
    gate = threading.Event()
    fake_diarizer.instance = FakeDiarizer(windows=3, gate=gate)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation, second_conversation])
    assert window.file_list.state_text(second_conversation) == "waiting"
    record = wait_for_state(qtbot, window, conversation, {FileState.ANALYSING}, UI_TIMEOUT_MS)
    window.files.remove(conversation)
    assert conversation not in window.workspace
    # the cancelled job stops between windows; the second file goes ahead
    gate.set()
    wait_for_state(qtbot, window, second_conversation, DONE, UI_TIMEOUT_MS)
    assert record.state is FileState.ANALYSING  # the removed record saw no more answers
    assert window.workspace.current == second_conversation


def test_corrupt_files_show_an_error_and_the_app_keeps_working(
    make_window, qtbot, tiny_checkpoint, random_bytes_wav, truncated_wav, conversation
):
    window = make_window(checkpoint=str(tiny_checkpoint))
    window.files.open_paths([random_bytes_wav, truncated_wav, conversation])
    bad = wait_for_state(qtbot, window, random_bytes_wav, {FileState.FAILED})
    cut = wait_for_state(qtbot, window, truncated_wav, {FileState.FAILED})
    assert bad.error_kind == cut.error_kind == "audio"
    assert window.file_list.state_text(random_bytes_wav).startswith("failed: not an audio file")
    assert cut.reason.startswith("cut short: the header promises 6.00 s")
    assert window.file_list.state_text(truncated_wav).startswith("failed: cut short")
    item = window.file_list._items[random_bytes_wav]
    assert str(random_bytes_wav) in item.toolTip(1) and "convert it" in item.toolTip(1)
    assert window.checkpoint_error_box is None  # no dialog for a bad audio file
    # The good file after them is analysed and drawn.
    good = wait_for_state(qtbot, window, conversation, DONE)
    assert good.tracks
    # The bad file's view says why there is no picture.
    window.workspace.set_current(random_bytes_wav)
    qtbot.waitUntil(lambda: window.timeline.message.isVisible(), timeout=UI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "No spectrogram" in window.timeline.message.text(), timeout=UI_TIMEOUT_MS)
    assert window.is_settled()


def test_a_checkpoint_that_will_not_load_is_reported_once(
    make_window, qtbot, tmp_path, tiny_checkpoint, conversation, second_conversation
):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"this is not a model")
    window = make_window(checkpoint=str(broken))
    window.files.open_paths([conversation, second_conversation])
    for path in (conversation, second_conversation):
        record = wait_for_state(qtbot, window, path, {FileState.FAILED}, UI_TIMEOUT_MS * 2)
        assert record.error_kind == "checkpoint"
        assert record.reason == "the model could not be loaded"
    box = window.checkpoint_error_box
    assert box is not None and box.isVisible()
    assert str(broken) in box.text()
    # The spectrogram and the rest of the app still work.
    qtbot.waitUntil(lambda: window.timeline.spectrogram.pyramid is not None, timeout=UI_TIMEOUT_MS)
    box.close()
    # A good checkpoint from Settings re-runs the files that failed for it.
    from weighter_gui.qt.state.settings import AppSettings

    window.files.apply_settings(AppSettings(device="cpu", checkpoint=str(tiny_checkpoint)))
    wait_for_state(qtbot, window, conversation, DONE)
    wait_for_state(qtbot, window, second_conversation, DONE)
    assert window.preferences.store.load().checkpoint == str(tiny_checkpoint)


def test_cuda_out_of_memory_reruns_the_job_on_the_cpu(make_window, qtbot, conversation):
    import torch

    class OutOfMemoryOnCuda(FakeDiarizer):
        def __init__(self, device):
            super().__init__(windows=2)
            self.device = device

        def run(self, path, cancelled=lambda: False):
            if self.device == "cuda":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            yield from super().run(path, cancelled)

    devices = []

    def factory(checkpoint, device):
        devices.append(device)
        return OutOfMemoryOnCuda(device)

    window = make_window(diarizer_factory=factory, device="cuda")
    worker = window.analysis.analysis_worker
    worker.resolve_device = lambda choice: "cuda"  # pretend there is a GPU
    real_describe = worker.describe
    worker.describe = lambda device: "CUDA: Pretend GPU" if device == "cuda" else real_describe(device)
    window.files.open_paths([conversation])
    record = wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    assert devices == ["cuda", "cpu"]
    assert record.device == "CPU"
    assert window.device == "CPU"
    assert "CPU instead" in window.statusBar().currentMessage() or "CPU" in window.file_list._items[
        conversation
    ].toolTip(1)


def test_stale_answers_are_dropped(make_window, qtbot, fake_diarizer, conversation):
    fake_diarizer.instance = FakeDiarizer(windows=2)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    record = wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    tracks_before = record.tracks
    old_job = record.job_id  # None once done; use a job id the file never had
    assert old_job is None

    # An answer to a job nobody waits for any more (e.g. from before a re-analysis).
    from weighter_gui.core.diarize.diarizer import FileDiarization, WindowResult

    window.action("reanalyse").trigger()
    new_job = window.workspace.get(conversation).job_id
    stale_job = new_job - 1
    dropped_before = window.analysis.stale_results_dropped
    window.analysis._on_analysis_progress(
        AnalysisProgress(
            stale_job, conversation,
            WindowResult(0, 1, 0.0, 3.0, np.ones((1, 20), np.float32), np.ones(1, np.float32), np.zeros(1, int)),
            0.15,
        )
    )
    window.analysis._on_analysis_done(AnalysisDone(stale_job, conversation, FileDiarization(conversation, 3.0, 0.15, [], 0.5), "CPU"))
    assert window.analysis.stale_results_dropped == dropped_before + 2
    record = wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    assert len(record.tracks) == len(tracks_before) == 3  # from the new job, not the stale one


def test_selecting_another_file_does_not_wait_for_the_analysis(
    make_window, qtbot, fake_diarizer, conversation, second_conversation
):
    gate = threading.Event()
    fake_diarizer.instance = FakeDiarizer(windows=3, gate=gate)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation, second_conversation])
    wait_for_state(qtbot, window, conversation, {FileState.ANALYSING}, UI_TIMEOUT_MS)
    window.workspace.set_current(second_conversation)  # still waiting in the queue
    assert window.workspace.current == second_conversation
    qtbot.waitUntil(lambda: window.view.spectrogram_path == second_conversation, timeout=UI_TIMEOUT_MS)
    assert window.timeline.curve_items == {}
    assert "Waiting" in window.speaker_panel.summary.text()
    gate.set()
    wait_for_state(qtbot, window, second_conversation, DONE, UI_TIMEOUT_MS)
    assert len(window.timeline.curve_items) == 3  # drawn when its results came


def test_a_file_left_before_it_loaded_fits_the_whole_file_when_shown_again(
    make_window, qtbot, fake_diarizer, conversation, second_conversation
):
    fake_diarizer.instance = FakeDiarizer(windows=2)  # 12 s, like the conversation
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation, second_conversation])
    assert window.workspace.current == conversation and window.timeline.duration is None  # nothing came yet
    window.workspace.set_current(second_conversation)  # away before its length (spectrogram, analysis) is known
    for path in (conversation, second_conversation):
        wait_for_state(qtbot, window, path, DONE, UI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.view.spectrogram_path == second_conversation, timeout=UI_TIMEOUT_MS)
    assert window.workspace.get(conversation).view_range is None  # the user never chose a view of it

    def show(path):
        window.workspace.set_current(path)
        qtbot.waitUntil(lambda: window.view.spectrogram_path == path, timeout=UI_TIMEOUT_MS)
        return window.timeline.visible_range()

    assert show(conversation) == pytest.approx((0.0, 12.0), abs=0.05)  # the whole file, not 0-10 s
    # A range the user chose is remembered; fitting the whole file again (F) forgets it.
    window.timeline.set_visible_range(2.0, 5.0)
    show(second_conversation)
    assert show(conversation) == pytest.approx((2.0, 5.0), abs=0.01)
    window.action("fit").trigger()
    show(second_conversation)
    assert window.workspace.get(conversation).view_range is None
    assert show(conversation) == pytest.approx((0.0, 12.0), abs=0.05)


def test_closing_during_an_analysis_stops_the_worker(make_window, qtbot, fake_diarizer, conversation):
    gate = threading.Event()
    fake_diarizer.instance = FakeDiarizer(windows=3, gate=gate)
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    wait_for_state(qtbot, window, conversation, {FileState.ANALYSING}, UI_TIMEOUT_MS)
    window.close()  # the fake polls cancelled() while it waits: close must not hang
    assert not window.is_busy()


def test_analysis_of_a_missing_file_fails_in_plain_words(make_window, qtbot, fake_diarizer, tmp_path):
    from weighter_gui.core.io.audio import AudioMissingError

    missing = tmp_path / "gone.wav"
    fake_diarizer.instance = FakeDiarizer(error=AudioMissingError(missing, "file not found", "check the path"))
    window = make_window(diarizer_factory=fake_diarizer.factory)
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    window.files.open_paths([missing])
    record = wait_for_state(qtbot, window, missing, {FileState.FAILED}, UI_TIMEOUT_MS)
    assert window.file_list.state_text(missing) == "failed: file not found"
    assert any(m.startswith("Analysis failed: ") and "file not found" in m for m in messages)
    assert record.error_kind == "audio"


def test_noise_has_no_speaker_and_an_empty_speech_lane_with_the_shipped_model(make_window, qtbot, tmp_path):
    import soundfile as sf

    noise = tmp_path / "white-noise.wav"
    sf.write(noise, (0.05 * np.random.default_rng(5).standard_normal(16000 * 15)).astype(np.float32), 16000)
    window = make_window()  # the shipped model and its speech detection, as a user gets them
    window.files.open_paths([noise])
    record = wait_for_state(qtbot, window, noise, DONE)
    assert record.diarization.speakers == []
    assert window.file_list.state_text(noise) == "done (0 speakers)"
    assert window.timeline.visible_curves() == []
    _, heights = window.timeline.speech_item.getOriginalDataset()
    assert heights is not None and len(heights) > 0 and float(np.max(heights)) == pytest.approx(SPEECH_LANE[0])


def test_the_speech_lane_follows_the_speech(make_window, qtbot, conversation, tmp_path):
    window = make_window()
    window.files.open_paths([conversation])
    record = wait_for_state(qtbot, window, conversation, DONE)
    edges, heights = window.timeline.speech_item.getOriginalDataset()
    assert len(edges) == len(heights) + 1 and edges[-1] == pytest.approx(record.diarization.duration, abs=0.2)
    spoken = heights > SPEECH_LANE[0] + 1e-6
    assert 0.3 < spoken.mean() < 1.0  # the sample's speech with its pauses

    # made a project and opened again (no new analysis): the same speech lane
    project = tmp_path / "speech-lane.weighter"
    assert window.projects.new_project(project)
    window.close()
    again = make_window()
    assert again.projects.open_project(project)
    again.workspace.set_current(conversation)
    qtbot.waitUntil(lambda: again.timeline.speech_item.getOriginalDataset()[1] is not None, timeout=UI_TIMEOUT_MS)
    edges2, heights2 = again.timeline.speech_item.getOriginalDataset()
    np.testing.assert_allclose(heights2, heights, atol=2e-3)


def test_a_file_an_undo_takes_out_of_the_project_stops_being_analysed(make_window, qtbot, fake_diarizer, conversation,
                                                                      second_conversation, tmp_path, monkeypatch):
    window = make_window(diarizer_factory=fake_diarizer.factory)
    window.files.open_paths([conversation])
    wait_for_state(qtbot, window, conversation, DONE, UI_TIMEOUT_MS)
    assert window.projects.new_project(tmp_path / "p.weighter")
    gate = threading.Event()
    fake_diarizer.instance.gate = gate  # the next analysis waits between windows
    window.files.open_paths([second_conversation])  # joins the project: one undo step
    record = wait_for_state(qtbot, window, second_conversation, {FileState.WAITING, FileState.ANALYSING},
                            UI_TIMEOUT_MS)
    job, worker = record.job_id, window.analysis.analysis_worker
    cancelled = []
    original = worker.cancel
    monkeypatch.setattr(worker, "cancel", lambda job_id: cancelled.append(job_id) or original(job_id))
    window.action("undo").trigger()  # the file leaves the project, and the app
    assert second_conversation not in window.workspace
    assert cancelled == [job]
    gate.set()


def test_a_missing_installation_file_is_named_without_blaming_the_chosen_model(tmp_path):
    from weighter_gui.core.model.checkpoint import CheckpointError
    from weighter_gui.core.model.speaker_space import SpeakerSpaceError
    from weighter_gui.qt.workers.serving import _checkpoint_message

    problem = SpeakerSpaceError(tmp_path / "speaker-space.safetensors", "speaker-space file not found")
    assert _checkpoint_message(None, problem) == str(problem)
    assert "Choose a checkpoint" in _checkpoint_message("model.safetensors", CheckpointError("not a model"))
