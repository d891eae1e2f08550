"""Helpers shared by the Qt tests (imported by name: tests/qt is on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
ANALYSIS_TIMEOUT_MS = 120_000  # the real model on a busy 2-core machine: seconds, with margin
UI_TIMEOUT_MS = 15_000


def write_conversation(path: Path, seconds: float = 12.0, seed: int = 0) -> Path:
    """``seconds`` of the shipped sample conversation (real speech detection hears it),
    starting at a ``seed``-dependent second, over soft noise."""
    from weighter_gui.core.io.audio import load_audio
    from weighter_gui.core.io.resources import sample_audio

    rng = np.random.default_rng(seed)
    speech = load_audio(sample_audio())
    start = int((seed % 4) * 2 * SAMPLE_RATE)
    audio = speech[start : start + int(seconds * SAMPLE_RATE)]
    audio = audio + 0.003 * rng.standard_normal(len(audio)).astype(np.float32)
    sf.write(str(path), audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return path


class FakeDiarizer:
    """Stands in for ``Diarizer``: yields ``windows`` WindowResults, then a FileDiarization.

    ``gate``: a threading.Event the fake waits on before each window after the first
    (so a test can look at the half-done state or cancel). ``error``: raised by run().
    """

    stride = 15  # so the worker's curve hop is 15 x 10 ms = 0.15 s

    def __init__(self, windows=3, blocks=40, confidences=(0.9, 0.7, 0.2), gate=None, error=None, segments=None,
                 names=None):
        self.windows, self.blocks = windows, blocks
        self.segments = segments  # per track; None: each speaks over 0-1 s
        self.names = names  # per track, the name a retrained model gives it (or None)
        from weighter_gui.core.diarize.diarizer import DiarizeConfig

        self.config = DiarizeConfig()  # (the worker reads another channel through a copy with another config)
        self.channels_run: list = []  # shared by such copies
        self.counts_run: list = []  # (min_speakers, max_speakers) of each run, shared too
        self.confidences = np.asarray(confidences, dtype=np.float32)
        self.gate, self.error = gate, error
        self.runs = 0

    def run(self, path, cancelled=lambda: False):
        from weighter_gui.core.diarize.diarizer import FileDiarization, Track, WindowResult

        self.runs += 1
        self.channels_run.append(self.config.channel)
        self.counts_run.append((self.config.min_speakers, self.config.max_speakers))
        if self.error is not None:
            raise self.error
        hop = 0.15
        rng = np.random.default_rng(self.runs)
        slots = len(self.confidences)
        curves_by_track = np.zeros((slots, self.windows * self.blocks), dtype=np.float32)
        for index in range(self.windows):
            if index and self.gate is not None:
                while not self.gate.wait(0.01):
                    if cancelled():
                        return
            if cancelled():
                return
            curves = rng.random((slots, self.blocks)).astype(np.float32)
            curves_by_track[:, index * self.blocks : (index + 1) * self.blocks] = curves
            start = index * self.blocks * hop
            yield WindowResult(
                index, self.windows, start, start + self.blocks * hop, curves,
                self.confidences.copy(), np.arange(slots),
            )
        duration = self.windows * self.blocks * hop
        tracks = [
            Track(f"S{i + 1}", float(c), np.ones(4) / 2, curves_by_track[i],
                  list(self.segments[i]) if self.segments else [(0.0, 1.0)])
            for i, c in enumerate(self.confidences)
        ]
        for track, name in zip(tracks, self.names or ()):
            track.name, track.name_probability = name, 0.9 if name else 0.0
        yield FileDiarization(Path(path), duration, hop, tracks, 0.5)


def wait_for_state(qtbot, window, path, states, timeout=ANALYSIS_TIMEOUT_MS):
    names = {s.value for s in states} if isinstance(states, (set, tuple, list)) else {states.value}
    qtbot.waitUntil(
        lambda: window.workspace.get(path) is not None and window.workspace.get(path).state.value in names,
        timeout=timeout,
    )
    return window.workspace.get(path)


def make_project(qtbot, window, project_path, files):
    """Open and analyse ``files``, then make a project of them (New project takes the open files);
    returns their keys."""
    from weighter_gui.qt.state.workspace import FileState

    window.files.open_paths(files)
    for path in files:
        wait_for_state(qtbot, window, path, FileState.DONE)
    assert window.projects.new_project(project_path)
    qtbot.waitUntil(lambda: all(pf.analysis is not None for pf in window.workspace.session.files.values()),
                    timeout=UI_TIMEOUT_MS)
    return [window.workspace.session.key_for(p) for p in files]


def spin_until(condition, timeout_ms: int = UI_TIMEOUT_MS, step_ms: int = 20) -> None:
    """Run the event loop until ``condition()`` holds (AssertionError after ``timeout_ms``).

    A QEventLoop with a QTimer, not QTest.qWait (which can starve Python worker threads)."""
    import time

    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms} ms")
        loop = QEventLoop()
        QTimer.singleShot(step_ms, loop.quit)
        loop.exec()
