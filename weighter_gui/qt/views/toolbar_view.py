"""The toolbar: play, the position, speed, loop and follow, zoom, and how the spectrogram
is drawn (frequency scale, colours, dB range). Its widgets say what the user chose; the
view controller does it."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QToolBar

from weighter_gui.qt.state.player import SPEEDS
from weighter_gui.qt.views.spectrogram_layer import COLOUR_MAPS, DEFAULT_COLOUR_MAP, DEFAULT_DB_RANGE


class ToolbarView(QToolBar):
    def __init__(self, actions: Mapping[str, QAction], parent=None) -> None:
        super().__init__("Playback and view", parent)
        self.setObjectName("MainToolBar")
        self.setMovable(False)
        actions["play"].setIconText("Play")
        self.addAction(actions["play"])
        self.position_label = QLabel(" 0:00:00.0 / \u2013 ")
        self.position_label.setMinimumWidth(150)
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self.position_label)
        self.speed_combo = _combo("Playback speed ([ slower, ] faster)",
                                  [(f"{speed:g}\u00d7", speed) for speed in SPEEDS])
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.addWidget(self.speed_combo)
        self.addAction(actions["loop"])
        self.addAction(actions["follow"])
        self.addSeparator()
        for name in ("zoom_out", "zoom_in", "fit"):
            self.addAction(actions[name])
        self.addSeparator()

        self.scale_combo = _combo("Frequency scale of the spectrogram (M)", [("Mel", "mel"), ("Linear", "linear")])
        self.addWidget(QLabel(" Frequency "))
        self.addWidget(self.scale_combo)
        self.colour_combo = _combo("", [(name, name) for name in COLOUR_MAPS])
        self.colour_combo.setCurrentIndex(COLOUR_MAPS.index(DEFAULT_COLOUR_MAP))
        self.addWidget(QLabel(" Colours "))
        self.addWidget(self.colour_combo)
        self.db_floor_spin = _db_spin(DEFAULT_DB_RANGE[0], "Quietest level shown (dB; full-scale sine = 0 dB)")
        self.db_ceiling_spin = _db_spin(DEFAULT_DB_RANGE[1], "Loudest level shown (dB)")
        self.addWidget(QLabel(" dB "))
        self.addWidget(self.db_floor_spin)
        self.addWidget(QLabel(" to "))
        self.addWidget(self.db_ceiling_spin)
        actions["auto_db"].setIconText("Auto")
        self.addAction(actions["auto_db"])

    def show_db_range(self, floor_db: float, ceiling_db: float) -> None:
        """Show a range chosen elsewhere (automatic) without announcing it."""
        for spin, value in ((self.db_floor_spin, floor_db), (self.db_ceiling_spin, ceiling_db)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    @staticmethod
    def show_quietly(combo: QComboBox, index: int) -> None:
        combo.blockSignals(True)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)


def _combo(tip: str, items: list[tuple[str, object]]) -> QComboBox:
    combo = QComboBox()
    for text, data in items:
        combo.addItem(text, data)
    if tip:
        combo.setToolTip(tip)
    combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return combo


def _db_spin(value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(-130.0, 0.0)
    spin.setDecimals(0)
    spin.setSingleStep(5.0)
    spin.setValue(value)
    spin.setToolTip(tip)
    spin.setKeyboardTracking(False)
    return spin
