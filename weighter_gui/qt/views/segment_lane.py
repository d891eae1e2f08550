"""A lane of segments under the curves: one row per speaker, a bar per turn, the names at
the lane's left edge. The timeline shows two: the turns (the diarization as corrected,
in the speakers' colours, with a row marking where two or more speak at once) and an
imported reference (grey)."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt

EDGE_COLOUR = "#1e1e1e"  # the lane's background: a turn's edge is a notch in its bar
NAME_BACKING = (30, 30, 30, 170)  # behind a row's name: the lane's background; a bar under it still shows


@dataclass(frozen=True)
class LaneRow:
    name: str
    colour: str
    spans: tuple[tuple[float, float], ...]
    kind: str = "speaker"  # "speaker" or "reviewed": bars; "overlap": a hatched band
    caption: str = ""  # the text at the row's left edge ("": the name)


class SegmentLaneView(pg.PlotItem):
    """Rows of bars on a shared time axis; ``set_rows`` replaces them all."""

    ROW_HEIGHT_PX = 26
    MIN_ROW_HEIGHT_PX = 16  # a name's line of text: rows no closer, or the names overprint

    def __init__(self, title: str, view_box: pg.ViewBox, bottom_axis: pg.AxisItem) -> None:
        super().__init__(viewBox=view_box, axisItems={"bottom": bottom_axis})
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getAxis("left").setWidth(58)  # as the plots above: the time axes line up
        self.getAxis("left").setTicks([[]])
        self.setLabel("left", title)
        self.getAxis("bottom").setStyle(showValues=False)
        self.enableAutoRange(False)
        self.invertY(True)  # the first row on top
        self.rows: list[LaneRow] = []
        self._items: list = []  # bars (PlotDataItem, FillBetweenItem) and names (TextItem)
        view_box.sigXRangeChanged.connect(self._place_names)

    def set_rows(self, rows: list[LaneRow]) -> None:
        for item in self._items:
            self.removeItem(item)
        self._items = []
        self.rows = list(rows)
        if hasattr(self.vb, "rows"):  # a box that hit-tests the rows (the turns lane's)
            self.vb.rows = self.rows
        for index, row in enumerate(self.rows):
            if row.kind == "overlap":
                self._add_band(index, row)
            else:
                xs = [t for a, b in row.spans for t in (a, b)]
                bars = pg.PlotDataItem(xs, [index] * len(xs), connect="pairs", pen=pg.mkPen(row.colour, width=6))
                self.addItem(bars)
                self._items.append(bars)
                if row.kind == "speaker" and xs:  # each turn's edges, so two that touch (a split) read as two
                    edges = pg.ScatterPlotItem(xs, [index] * len(xs), symbol="|", size=10,
                                               pen=pg.mkPen(EDGE_COLOUR, width=2), brush=None)
                    self.addItem(edges)
                    self._items.append(edges)
        self.setYRange(-0.9, len(self.rows) - 0.4, padding=0)
        # Names as text at the lane's left edge (axis tick labels get dropped when they
        # crowd a short axis), on their own row over a backing that hides the bars under
        # them (text above its row read as the next row's once rows were close); they
        # follow the visible range.
        start = self.vb.viewRange()[0][0]
        for index, row in enumerate(self.rows):
            text = pg.TextItem(row.caption or row.name, color="#d0d0d0", anchor=(0, 0.5), fill=NAME_BACKING)
            text.setZValue(5)
            self.addItem(text, ignoreBounds=True)
            text.setPos(start, index)
            self._items.append(text)
        self.setMaximumHeight(30 + self.ROW_HEIGHT_PX * len(self.rows))
        self.setMinimumHeight(30 + self.MIN_ROW_HEIGHT_PX * len(self.rows))

    def _add_band(self, index: int, row: LaneRow) -> None:
        brush = pg.mkBrush(row.colour, style=Qt.BrushStyle.BDiagPattern)
        for a, b in row.spans:
            top = pg.PlotDataItem([a, b], [index - 0.3, index - 0.3], pen=pg.mkPen(row.colour, width=1))
            bottom = pg.PlotDataItem([a, b], [index + 0.3, index + 0.3], pen=pg.mkPen(row.colour, width=1))
            band = pg.FillBetweenItem(top, bottom, brush=brush)
            for item in (top, bottom, band):
                self.addItem(item)
                self._items.append(item)

    def _place_names(self, *args) -> None:
        start = self.vb.viewRange()[0][0]
        for item in self._items:
            if isinstance(item, pg.TextItem):
                item.setPos(start, item.pos().y())
