"""Spectrogram pyramids (numpy, no Qt) and how the view shows them; the time and
frequency axes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from weighter_gui.core.spectrogram import (
    DB_CEIL,
    DB_FLOOR,
    HOP,
    POOL,
    SAMPLE_RATE,
    SpectrogramCancelled,
    SpectrogramPyramid,
    build_levels,
    compute_pyramid,
    level_to_db,
)
from weighter_gui.qt.views.timeline_view import TimeAxis, TimelineView, format_clock


def test_pyramid_levels_max_pool_columns():
    level0 = np.random.default_rng(0).integers(0, 200, (5000, 8), dtype=np.uint8)
    level0[517, 3] = 255  # a short loud event survives zooming out
    levels = build_levels(level0)
    assert [len(x) for x in levels] == [5000, 1250, 313, 79]  # down to MIN_LEVEL_COLUMNS
    assert all(levels[k][517 // POOL**k, 3] == 255 for k in range(4))
    assert np.array_equal(levels[1][0], level0[:4].max(axis=0))
    assert np.array_equal(levels[3][-1], level0[4992:].max(axis=0))  # the short last group


def test_level_choice_and_visible_slice():
    pyramid = SpectrogramPyramid(
        Path("x.wav"), "mel", 3600.0, 0.01,
        build_levels(np.zeros((360_000, 4), np.uint8)), np.arange(4.0), 8000.0,
    )
    assert pyramid.level_for(3600.0, 1000) == 4  # 360k columns / 4^4 = 1406 >= 1000 pixels
    assert pyramid.level_for(10.0, 1000) == 0
    data, t0, t1 = pyramid.visible_slice(4, 100.0, 200.0)
    seconds = 0.01 * POOL**4
    assert t0 <= 100.0 and t1 >= 200.0 and len(data) == pytest.approx((t1 - t0) / seconds)
    assert len(data) < 50  # only the visible part, not the hour
    assert len(pyramid.visible_slice(0, 5000.0, 5100.0)[0]) == 1  # past the end: the edge column


def test_compute_pyramid_of_a_sine_peaks_at_its_frequency(tmp_path):
    seconds, hz = 3.0, 1000.0
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    path = tmp_path / "sine.wav"
    sf.write(str(path), (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    for scale in ("mel", "linear"):
        pyramid = compute_pyramid(path, scale)
        assert pyramid.levels[0].shape[0] == math.ceil(len(t) / HOP)
        assert pyramid.duration == pytest.approx(seconds)
        middle = pyramid.levels[0][100:200].astype(int)
        peak_row = int(np.bincount(middle.argmax(axis=1)).argmax())
        assert pyramid.band_hz[peak_row] == pytest.approx(hz, rel=0.06)
        # A half-scale sine is -6 dB; mel bands average a few bins, so a little lower.
        assert -12.0 < level_to_db(middle.max()) <= -5.0
        floor, ceiling = pyramid.suggested_db_range
        assert DB_FLOOR <= floor < ceiling <= DB_CEIL


def test_quantised_levels_match_log10_within_one_step(tmp_path):
    from weighter_gui.core.spectrogram import LINEAR_BINS, N_FFT, _Analyser

    analyser = _Analyser("linear")
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(16_000) * np.logspace(-4, 0, 16_000)).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * analyser.window, axis=1)) ** 2
    reference = (analyser.window.sum() / 2) ** 2
    exact = (10 * np.log10(np.maximum(power[:, :LINEAR_BINS], 1e-30) / reference) - DB_FLOOR) * 255 / (DB_CEIL - DB_FLOOR)
    exact = np.clip(exact, 0, 255)
    assert np.abs(analyser.columns(frames).astype(float) - exact).max() <= 1.01


def test_compute_pyramid_can_be_cancelled_and_reports_bad_files(tmp_path, random_bytes_wav):
    from weighter_gui.core.io.audio import AudioError

    with pytest.raises(SpectrogramCancelled):
        compute_pyramid(random_bytes_wav.parent / "conversation.wav", cancelled=lambda: True)
    with pytest.raises(AudioError, match="not an audio file"):
        compute_pyramid(random_bytes_wav)


def test_view_shows_a_slice_of_the_right_level(qtbot):
    """An hour-long pyramid: zoomed out the image is a coarse level, zoomed in a
    fine one, and never more than a few screens of columns."""
    rng = np.random.default_rng(2)
    level0 = rng.integers(0, 255, (360_000, 16), dtype=np.uint8)
    pyramid = SpectrogramPyramid(Path("hour.wav"), "mel", 3600.0, 0.01, build_levels(level0),
                                 np.linspace(0, 8000, 16), 8000.0)
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    qtbot.waitExposed(view)
    view.set_duration(3600.0)
    view.fit_all()
    layer = view.spectrogram
    layer.set_pyramid(pyramid)
    pixels = view.spectrogram_box.width()
    shown = layer.image.image
    assert layer._slice[0] >= 3 and shown.shape[0] <= 4 * POOL * pixels
    view.set_visible_range(1800.0, 1810.0)
    level, t0, t1 = layer._slice
    assert level == 0 and t0 <= 1800.0 and t1 >= 1810.0
    assert layer.image.image.shape[0] <= 2 * 1000 + 2
    cut = layer.slices_cut
    view.set_visible_range(1801.0, 1811.0)  # a small pan inside the slice: no new render
    assert layer.slices_cut == cut


def test_time_axis_is_h_mm_ss():
    assert format_clock(0) == "0:00:00"
    assert format_clock(3723.44, 1) == "1:02:03.4"
    assert format_clock(59.96, 1) == "0:01:00.0"
    axis = TimeAxis("bottom")
    assert axis.tickStrings([0, 30, 3600], 1, 30) == ["0:00:00", "0:00:30", "1:00:00"]
    assert axis.tickStrings([1.5], 1, 0.5) == ["0:00:01.5"]
    (major, _), (minor, _) = axis.tickSpacing(0, 3600, 800)
    assert major in (300, 600) and major % minor == 0
    (major, _), _ = axis.tickSpacing(0, 2, 800)
    assert major == 0.5 or major == 0.2


def test_frequency_axis_labels_rows_in_hz(qtbot):
    view = TimelineView()
    qtbot.addWidget(view)
    axis = view.frequency_axis
    axis.set_bands(np.linspace(0, 8000, 257)[:-1] + 15.625)
    ticks = axis.tickValues(0, 256, 300)[0][1]
    labels = axis.tickStrings(ticks, 1, 1)
    assert labels[0] == "0" and "4k" in labels and all(label[0].isdigit() for label in labels)


def test_v_shows_the_waveform_of_each_channel(qtbot, make_window, tmp_path):
    rate = 16000
    t = np.arange(rate * 4) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 200 * t), np.where(t > 2, 0.6, 0.0) * np.sin(2 * np.pi * 90 * t)], 1)
    path = tmp_path / "call.wav"
    sf.write(path, stereo.astype(np.float32), rate)
    window = make_window(diarizer_factory=lambda checkpoint, device: None)
    window.workspace.add(path)
    window.workspace.set_current(path)
    assert not window.timeline.waveform_shown
    assert window.action("waveform").shortcut().toString() == "V"
    window.action("waveform").trigger()
    assert window.action("waveform").isChecked() and window.timeline.waveform_shown
    qtbot.waitUntil(lambda: window.timeline.waveform_channels == 2, timeout=15_000)
    envelope = window.waveform.envelopes[path]
    assert envelope.high[0].max() == pytest.approx(0.3, abs=0.01)
    assert envelope.high[1][: envelope.high.shape[1] // 3].max() == 0.0
    ticks = window.timeline.waveform_plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == ["ch 1", "ch 2"]
    window.action("waveform").trigger()
    assert not window.timeline.waveform_shown
