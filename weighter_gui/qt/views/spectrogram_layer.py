"""The spectrogram layer of the timeline: a pyramid slice in a uint8 ImageItem.

On every change of the visible time range the layer picks the pyramid level
with one to ``POOL`` columns per screen pixel and shows a slice of it that spans
the visible range plus half a screen on each side. Small pans then only move
the already rendered image; a new slice is cut (a few thousand columns, a few
milliseconds) when the view leaves the slice or the level changes. The image is
uint8 with a 256-entry colour lookup table and fixed levels, so the dB range and
the colour map change without touching the data.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from weighter_gui.core.spectrogram import SpectrogramPyramid, db_to_level

COLOUR_MAPS = ("inferno", "viridis", "magma", "grey")
DEFAULT_COLOUR_MAP = "inferno"
DEFAULT_DB_RANGE = (-100.0, -20.0)  # floor, ceiling (full-scale sine = 0 dB)
# Frequencies worth a tick label; the axis keeps those that do not crowd.
TICK_HZ = (0, 100, 250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000)
MIN_TICK_PIXELS = 18


def colour_lookup_table(name: str) -> np.ndarray:
    """256 x 3 uint8 colours for a map name in ``COLOUR_MAPS``."""
    if name == "grey":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)


def format_hz(hz: float) -> str:
    hz = round(hz / 10) * 10
    if hz >= 1000:
        return f"{hz / 1000:g}k"
    return f"{hz:g}"


class FrequencyAxis(pg.AxisItem):
    """Left axis of the spectrogram: image rows labelled with their frequency in Hz.

    Rows are mel bands or linear bins; ``band_hz[i]`` is row i's centre frequency.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.band_hz = np.array([0.0, 8000.0])
        self.enableAutoSIPrefix(False)

    def set_bands(self, band_hz: np.ndarray) -> None:
        self.band_hz = np.asarray(band_hz, dtype=np.float64)
        self.picture = None  # pyqtgraph's cached drawing of the axis
        self.update()

    def _rows(self) -> np.ndarray:
        return np.arange(len(self.band_hz)) + 0.5

    def row_at(self, hz):
        return np.interp(hz, self.band_hz, self._rows())

    def hz_at(self, row):
        return np.interp(row, self._rows(), self.band_hz)

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph names)
        if maxVal <= minVal or size <= 0:
            return []
        pixels_per_row = size / (maxVal - minVal)
        kept: list[float] = []
        for hz in TICK_HZ:
            if hz > self.band_hz[-1] + 1:
                break
            row = 0.0 if hz == 0 else float(self.row_at(hz))
            if not minVal <= row <= maxVal:
                continue
            if kept and (row - kept[-1]) * pixels_per_row < MIN_TICK_PIXELS:
                continue
            kept.append(row)
        return [(1.0, kept)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph name)
        return [format_hz(0.0 if v <= 0 else float(self.hz_at(v))) for v in values]


class SpectrogramLayer:
    """Shows a ``SpectrogramPyramid`` in ``plot``, following its visible x range."""

    SLICE_MARGIN = 0.5  # extra screens cut on each side of the visible range

    def __init__(self, plot: pg.PlotItem, axis: FrequencyAxis) -> None:
        self.plot = plot
        self.axis = axis
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setZValue(-10)
        plot.addItem(self.image)
        self.pyramid: SpectrogramPyramid | None = None
        self.colour_map = DEFAULT_COLOUR_MAP
        self.db_range = DEFAULT_DB_RANGE
        self._lut = colour_lookup_table(self.colour_map)
        self._slice: tuple[int, float, float] | None = None  # level, t0, t1 shown
        self.slices_cut = 0  # how often a new slice was rendered (for benchmarks)
        plot.vb.sigXRangeChanged.connect(self._on_view_x_range_changed)
        plot.vb.sigResized.connect(self._on_view_x_range_changed)

    # -- inputs ------------------------------------------------------------------------

    def set_pyramid(self, pyramid: SpectrogramPyramid | None) -> None:
        self.pyramid = pyramid
        self._slice = None
        if pyramid is None:
            self.image.clear()
            return
        self.axis.set_bands(pyramid.band_hz)
        self.plot.vb.setYRange(0, pyramid.bins, padding=0)
        self.refresh()

    def set_colour_map(self, name: str) -> None:
        self.colour_map = name
        self._lut = colour_lookup_table(name)
        self.image.setLookupTable(self._lut)

    def set_db_range(self, floor_db: float, ceiling_db: float) -> None:
        if ceiling_db <= floor_db:
            ceiling_db = floor_db + 1.0
        self.db_range = (float(floor_db), float(ceiling_db))
        self.image.setLevels(self._levels())

    def _levels(self) -> tuple[float, float]:
        return db_to_level(self.db_range[0]), db_to_level(self.db_range[1])

    # -- drawing -----------------------------------------------------------------------

    def _on_view_x_range_changed(self, *args) -> None:
        self.refresh()

    def refresh(self, force: bool = False) -> None:
        pyramid = self.pyramid
        if pyramid is None:
            return
        start, end = self.plot.vb.viewRange()[0]
        width = max(end - start, 1e-6)
        pixels = max(int(self.plot.vb.width()), 1)
        level = pyramid.level_for(width, pixels)
        if not force and self._slice is not None:
            shown_level, t0, t1 = self._slice
            inside = t0 <= max(start, 0.0) and min(end, pyramid.duration) <= t1
            if shown_level == level and inside:
                return  # the rendered image already covers the view
        margin = width * self.SLICE_MARGIN
        data, t0, t1 = pyramid.visible_slice(level, start - margin, end + margin)
        self.image.setImage(data, autoLevels=False, levels=self._levels(), lut=self._lut)
        self.image.setRect(QRectF(t0, 0.0, t1 - t0, float(pyramid.bins)))
        self._slice = (level, t0, t1)
        self.slices_cut += 1
