"""Playback: QMediaPlayer + QAudioOutput, seconds in and out, speed, loop range.

``Player`` hides the millisecond API and adds what the views need: a
loop range (playback jumps back to its start when it passes the end) and one
``position_changed(seconds)`` signal that the playhead follows. QMediaPlayer plays
with no sound card (its FFmpeg backend is then clocked by the system), so this
works on headless machines and in tests too.

The player and its audio output are made by QML, not by Python. A QObject made by
Python gets override checks that take the GIL whenever Qt calls one of its virtual
functions; FFmpeg's threads do that (``disconnectNotify`` while deleting their own
objects) holding Qt's connection lock, and the GUI thread, holding the GIL, waits
for that lock in ``stop()``: a deadlock that hung the window's close in the tests
under load (stacks taken with gdb). C++-made objects have no override checks, so
FFmpeg never waits for the GIL.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QByteArray, QObject, QUrl, Signal, Slot
from PySide6.QtMultimedia import QMediaPlayer
from PySide6.QtQml import QQmlComponent, QQmlEngine

SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
MIN_LOOP_SECONDS = 0.05
_PLAYER_QML = b"import QtMultimedia\nMediaPlayer { audioOutput: AudioOutput {} }"
_engine: QQmlEngine | None = None  # one per process, for the players it makes


def make_media_player(parent: QObject) -> QMediaPlayer:
    """A QMediaPlayer with an audio output, both made in C++ (see the module doc)."""
    global _engine
    if _engine is None:
        _engine = QQmlEngine()
    component = QQmlComponent(_engine)
    component.setData(QByteArray(_PLAYER_QML), QUrl())
    made = component.create()
    if made is None:
        raise RuntimeError(f"cannot make the media player: {component.errorString().strip()}")
    # QML's MediaPlayer is a private subclass that Python knows only as a QObject. Drop
    # that wrapper (the C++ object lives on) and wrap the object once, as what it is:
    # two live wrappers of one object leave one dangling when Qt deletes it.
    pointer = shiboken6.getCppPointer(made)[0]
    shiboken6.invalidate(made)
    player = shiboken6.wrapInstance(pointer, QMediaPlayer)
    player.setParent(parent)  # deleted with the parent, like any child
    return player


class Player(QObject):
    position_changed = Signal(float)  # seconds
    playing_changed = Signal(bool)
    loop_changed = Signal(object)  # (start, end) seconds or None when looping is off
    rate_changed = Signal(float)
    error = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.player = make_media_player(self)
        self.player.positionChanged.connect(self._on_player_position_changed)
        self.player.playbackStateChanged.connect(self._on_player_state_changed)
        self.player.errorOccurred.connect(self._on_player_error)
        self.path: Path | None = None
        self.loop_range: tuple[float, float] | None = None  # the selected range
        self.looping = False
        self.only: tuple[tuple[float, float], ...] | None = None  # play only inside these (solo / mute)

    # -- source ------------------------------------------------------------------------

    def set_file(self, path: Path | None) -> None:
        if path == self.path:
            return
        self.player.stop()
        self.path = path
        self.only = None  # a solo belongs to its file
        self.player.setSource(QUrl.fromLocalFile(str(path)) if path is not None else QUrl())

    # -- transport ---------------------------------------------------------------------

    @property
    def position(self) -> float:
        return self.player.position() / 1000.0

    @property
    def is_playing(self) -> bool:
        return self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    def play(self) -> None:
        if self.path is None:
            return
        if self.looping and self.loop_range and not self._inside_loop(self.position):
            self.seek(self.loop_range[0])
        self.player.play()
        if self.only is not None:
            self._skip_to_allowed(self.position)

    def pause(self) -> None:
        self.player.pause()

    def toggle(self) -> None:
        self.pause() if self.is_playing else self.play()

    def seek(self, seconds: float) -> None:
        if self.path is None:
            return
        seconds = max(0.0, float(seconds))
        duration = self.player.duration() / 1000.0
        if duration > 0:
            seconds = min(seconds, duration)
        self.player.setPosition(round(seconds * 1000))
        # Announce at once: a paused player may not report the new position by itself.
        self.position_changed.emit(seconds)

    def set_rate(self, rate: float) -> None:
        if rate != self.player.playbackRate():
            self.player.setPlaybackRate(float(rate))
            self.rate_changed.emit(float(rate))

    @property
    def rate(self) -> float:
        return self.player.playbackRate()

    # -- loop --------------------------------------------------------------------------

    def set_loop_range(self, loop_range: tuple[float, float] | None) -> None:
        """The selected range (looping only happens while ``looping`` is on)."""
        if loop_range is not None:
            start, end = sorted(loop_range)
            loop_range = (max(0.0, start), end) if end - start >= MIN_LOOP_SECONDS else None
        self.loop_range = loop_range
        if loop_range is None:
            self.looping = False
        self.loop_changed.emit(self.loop_range if self.looping else None)

    def set_looping(self, on: bool) -> bool:
        """Turn looping on (needs a range) or off; returns whether it is now on."""
        self.looping = bool(on) and self.loop_range is not None
        if self.looping and self.is_playing and not self._inside_loop(self.position):
            self.seek(self.loop_range[0])
        self.loop_changed.emit(self.loop_range if self.looping else None)
        return self.looping

    def _inside_loop(self, seconds: float) -> bool:
        start, end = self.loop_range
        return start <= seconds < end

    # -- solo and mute -----------------------------------------------------------------

    def set_only(self, spans) -> None:
        """Play only inside ``spans`` (sorted (start, end) seconds; None: everything):
        playback skips from the end of one to the start of the next and stops after the last."""
        self.only = tuple(spans) if spans is not None else None
        if self.only is not None and self.is_playing:
            self._skip_to_allowed(self.position)

    def _skip_to_allowed(self, seconds: float) -> bool:
        """Seek to the next allowed span if ``seconds`` is outside them; True if it moved."""
        if any(a <= seconds < b for a, b in self.only):
            return False
        following = next((a for a, _ in self.only if a > seconds), None)
        if following is None:
            self.pause()
            return False
        self.seek(following)
        return True

    # -- player events -----------------------------------------------------------------

    @Slot("qlonglong")
    def _on_player_position_changed(self, milliseconds: int) -> None:
        seconds = milliseconds / 1000.0
        if self.looping and self.loop_range is not None and seconds >= self.loop_range[1]:
            self.seek(self.loop_range[0])
            return
        if self.only is not None and self.is_playing and self._skip_to_allowed(seconds):
            return
        self.position_changed.emit(seconds)

    @Slot(QMediaPlayer.PlaybackState)
    def _on_player_state_changed(self, state) -> None:
        self.playing_changed.emit(state == QMediaPlayer.PlaybackState.PlayingState)

    @Slot(QMediaPlayer.Error, str)
    def _on_player_error(self, error, message: str) -> None:
        if error != QMediaPlayer.Error.NoError:
            self.error.emit(message or "the file cannot be played")

    def shutdown(self) -> None:
        self.player.stop()
        self.player.setSource(QUrl())
