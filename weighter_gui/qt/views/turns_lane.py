"""The mouse on the turns lane: click a turn to select it, drag its edges (snapping to
the sound's onsets and offsets and to other turns' boundaries; Alt turns snapping
off), drag a turn to another speaker's row, or drag over free space in a row to draw a
turn for that speaker. Shift-drag still selects a time range, as on the other plots.

The box only reports what the mouse did, in seconds and row names; the turns
controller turns that into edits."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

EDGE_GRAB_PX = 6  # a press this close to a turn's edge drags the edge
SNAP_PX = 8  # an edge dropped this close to a snap point lands on it


class TurnsLaneBox(pg.ViewBox):
    clicked = Signal(float)  # seconds (no turn under the click)
    selection_dragged = Signal(float, float, bool)  # shift-drag: start, end, finished
    turn_clicked = Signal(str, float)  # row name, seconds
    edge_moved = Signal(str, float, float, str, float)  # row, turn start, turn end, "start"/"end", to
    turn_dropped = Signal(str, float, float, str)  # row, turn start, turn end, the row it was dropped on
    turn_drawn = Signal(str, float, float)  # row, start, end

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)
        self.rows: list = []  # the lane's LaneRows (set by the lane)
        self.snap_points: list[float] = []  # the sound's onsets and offsets
        self._drag: tuple | None = None  # (kind, row index, start, end, side)
        self.preview = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=8))
        self.preview.setOpacity(0.6)
        self.preview.setZValue(20)
        self.addItem(self.preview, ignoreBounds=True)
        self.preview.hide()

    # -- hit testing -------------------------------------------------------------------

    def _px(self) -> float:
        """Seconds per pixel."""
        return float(self.viewPixelSize()[0]) or 1e-3

    def row_at(self, y: float) -> int | None:
        index = int(round(y))
        if 0 <= index < len(self.rows) and self.rows[index].kind == "speaker":
            return index
        return None

    def hit(self, x: float, y: float) -> tuple[int | None, tuple[float, float] | None, str]:
        """(row, the turn's span, "start"/"end"/"body"/"free") under view point x, y."""
        index = self.row_at(y)
        if index is None:
            return None, None, "free"
        grab = EDGE_GRAB_PX * self._px()
        best = None
        for a, b in self.rows[index].spans:
            if abs(x - a) <= grab and (best is None or abs(x - a) < best[0]):
                best = (abs(x - a), (a, b), "start")
            if abs(x - b) <= grab and (best is None or abs(x - b) < best[0]):
                best = (abs(x - b), (a, b), "end")
        if best is not None:
            return index, best[1], best[2]
        for a, b in self.rows[index].spans:
            if a <= x <= b:
                return index, (a, b), "body"
        return index, None, "free"

    def snapped(self, x: float, exclude: tuple[float, ...] = (), snapping: bool = True) -> float:
        if not snapping:
            return x
        targets = list(self.snap_points)
        for row in self.rows:
            if row.kind == "speaker":
                targets += [t for a, b in row.spans for t in (a, b) if t not in exclude]
        best = min(targets, key=lambda t: abs(t - x), default=None)
        return best if best is not None and abs(best - x) <= SNAP_PX * self._px() else x

    # -- mouse -------------------------------------------------------------------------

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph name)
        if ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseClickEvent(ev)
        ev.accept()
        point = self.mapSceneToView(ev.scenePos())
        index, span, _ = self.hit(point.x(), point.y())
        if span is not None:
            self.turn_clicked.emit(self.rows[index].name, point.x())
        else:
            self.clicked.emit(point.x())

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph name)
        if ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        start_point = self.mapSceneToView(ev.buttonDownScenePos())
        point = self.mapSceneToView(ev.scenePos())
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            a, b = sorted((start_point.x(), point.x()))
            self.selection_dragged.emit(a, b, ev.isFinish())
            return
        if ev.isStart():
            index, span, part = self.hit(start_point.x(), start_point.y())
            if index is None:
                self._drag = None
                return super().mouseDragEvent(ev, axis)  # outside the rows: pan
            self._drag = (part, index, *(span or (start_point.x(), start_point.x())))
        if self._drag is None:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        part, index, a, b = self._drag
        snapping = not ev.modifiers() & Qt.KeyboardModifier.AltModifier
        row = self.rows[index].name
        if part in ("start", "end"):
            to = self.snapped(point.x(), exclude=(a, b), snapping=snapping)
            shown = (min(to, b), b) if part == "start" else (a, max(to, a))
            self._show_preview(index, *shown)
            if ev.isFinish():
                self.edge_moved.emit(row, a, b, part, to)
        elif part == "body":
            target = self.row_at(point.y())
            self._show_preview(target if target is not None else index, a, b)
            if ev.isFinish() and target is not None and target != index:
                self.turn_dropped.emit(row, a, b, self.rows[target].name)
        else:  # free space: draw a turn
            lo, hi = sorted((self.snapped(start_point.x(), snapping=snapping), self.snapped(point.x(), snapping=snapping)))
            self._show_preview(index, lo, hi)
            if ev.isFinish():
                self.turn_drawn.emit(row, lo, hi)
        if ev.isFinish():
            self._drag = None
            self.preview.hide()

    def _show_preview(self, index: int, a: float, b: float) -> None:
        self.preview.setData([a, b], [index, index])
        self.preview.show()
