"""The timeline: spectrogram above, speaker weighting curves below, one time axis.

``TimelineView`` holds two pyqtgraph plots whose x (time, seconds) axes are
linked. Mouse: wheel zooms time, drag pans, click seeks, shift-drag selects a
range (for looping). The view only draws; it says what the user did through
signals (``seek_requested``, ``selection_changed``, ``track_clicked``) and the controllers act.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from weighter_gui.core.diarize.live_tracks import TrackView
from weighter_gui.core.segments import overlapped
from weighter_gui.qt.views.segment_lane import LaneRow, SegmentLaneView
from weighter_gui.qt.views.spectrogram_layer import FrequencyAxis, SpectrogramLayer
from weighter_gui.qt.views.turns_lane import TurnsLaneBox

# Label steps for the time axis, seconds: clock-like, not 1-2-5 of a decimal axis.
TIME_STEPS = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
)
TIME_LABEL_PIXELS = 90  # about one label per this many pixels
MIN_VISIBLE_SECONDS = 0.2  # the deepest zoom
FOLLOW_MARGIN = 0.1  # follow mode puts the playhead this far into the new page
# The speech lane (what the speech detector heard) is a band under the curves; its
# height is the share of each 150 ms block that holds speech.
SPEECH_LANE = (-0.17, -0.05)
SPEECH_COLOUR = (90, 200, 120)
CURVE_Y_RANGE = (SPEECH_LANE[0] - 0.02, 1.05)
TRACK_LANE_COLOUR = "#b0b0b0"  # reference segments
# Rows of the layout, top to bottom; a row with nothing in it takes no space.
WAVEFORM_ROW, SPECTROGRAM_ROW, CURVES_ROW, TURNS_ROW, REFERENCE_ROW = range(5)
WAVEFORM_COLOUR = (150, 190, 230)
OVERLAP_COLOUR = "#e05a4f"  # the turns lane's "two or more at once" row
REVIEWED_COLOUR = "#4caf50"  # the turns lane's "reviewed" row


def format_clock(seconds: float, decimals: int = 0) -> str:
    """Seconds as h:mm:ss, with ``decimals`` digits of fractions (for close zooms)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    scale = 10**decimals
    total = round(seconds * scale)  # round once, then split, so 59.96 s is 0:01:00.0
    whole, fraction = divmod(total, scale)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    if decimals:
        text += f".{fraction:0{decimals}d}"
    return text


class TimeAxis(pg.AxisItem):
    """Bottom axis in h:mm:ss with clock-like steps."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)  # else pyqtgraph writes "ks" for an hour

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph names)
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return []
        wanted = span * TIME_LABEL_PIXELS / size
        index = next((i for i, step in enumerate(TIME_STEPS) if step >= wanted), len(TIME_STEPS) - 1)
        major = TIME_STEPS[index]
        # the largest smaller step that divides the major one
        minor = next(
            (s for s in reversed(TIME_STEPS[:index]) if abs(major / s - round(major / s)) < 1e-9 and major / s <= 6),
            major,
        )
        return [(major, 0), (minor, 0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph name)
        decimals = 0 if spacing >= 1 else (1 if spacing >= 0.1 else 2)
        return [format_clock(v, decimals) for v in values]


class TimelineViewBox(pg.ViewBox):
    """Time-only mouse: click -> ``clicked(x)``, shift-drag -> ``selection_dragged``."""

    clicked = Signal(float)
    clicked_at = Signal(float, float)  # x, y in view coordinates (picking a curve)
    selection_dragged = Signal(float, float, bool)  # start, end, finished

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph name)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            point = self.mapSceneToView(ev.scenePos())
            self.clicked_at.emit(point.x(), point.y())
            self.clicked.emit(point.x())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph name)
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            a = self.mapSceneToView(ev.buttonDownScenePos()).x()
            b = self.mapSceneToView(ev.scenePos()).x()
            self.selection_dragged.emit(min(a, b), max(a, b), ev.isFinish())
        else:
            super().mouseDragEvent(ev, axis)


class TimelineView(pg.GraphicsLayoutWidget):
    seek_requested = Signal(float)  # seconds
    selection_changed = Signal(object)  # (start, end) seconds, or None
    x_range_changed = Signal(float, float)
    track_clicked = Signal(str)  # the label of the curve clicked (nearest to the click)
    # the turns lane's mouse (``turns_lane.TurnsLaneBox``): row names and seconds
    turn_clicked = Signal(str, float)
    turn_edge_moved = Signal(str, float, float, str, float)
    turn_dropped = Signal(str, float, float, str)
    turn_drawn = Signal(str, float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("#1e1e1e")
        self.duration: float | None = None
        self.follow_playhead = True
        self.show_weak_tracks = False

        self.frequency_axis = FrequencyAxis("left")
        self.spectrogram_box = TimelineViewBox()
        self.spectrogram_plot = self.addPlot(
            row=SPECTROGRAM_ROW, col=0, viewBox=self.spectrogram_box,
            axisItems={"left": self.frequency_axis, "bottom": TimeAxis("bottom")},
        )
        self.curves_box = TimelineViewBox()
        self.curves_plot = self.addPlot(
            row=CURVES_ROW, col=0, viewBox=self.curves_box,
            axisItems={"bottom": TimeAxis("bottom")},
        )
        self.curves_plot.setXLink(self.spectrogram_plot)
        layout = self.ci.layout
        layout.setRowStretchFactor(SPECTROGRAM_ROW, 3)
        layout.setRowStretchFactor(CURVES_ROW, 2)
        layout.setVerticalSpacing(2)

        for plot in (self.spectrogram_plot, self.curves_plot):
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(58)  # equal widths keep the two time axes aligned
            plot.enableAutoRange(False)
            plot.vb.clicked.connect(self.seek_requested)
            plot.vb.selection_dragged.connect(self._on_box_selection_dragged)
        self.spectrogram_plot.getAxis("bottom").setStyle(showValues=False)
        self.spectrogram_plot.setLabel("left", "Hz")
        self.curves_plot.setLabel("left", "weight")
        self.curves_plot.setYRange(*CURVE_Y_RANGE, padding=0)
        self.curves_plot.getAxis("left").setTicks(
            [[(sum(SPEECH_LANE) / 2, "speech"), (0, "0"), (0.5, "0.5"), (1, "1")]]
        )
        self.speech_item = pg.PlotDataItem(
            stepMode="center", fillLevel=SPEECH_LANE[0], brush=pg.mkBrush(*SPEECH_COLOUR, 150),
            pen=pg.mkPen(*SPEECH_COLOUR, 220),
        )
        self.speech_item.setToolTip("speech: where the speech detector hears someone speaking")
        self.curves_plot.addItem(self.speech_item)
        self.curves_plot.showGrid(x=True, y=False, alpha=0.15)
        self.spectrogram_plot.setXRange(0, 10, padding=0)

        self.spectrogram = SpectrogramLayer(self.spectrogram_plot, self.frequency_axis)

        # A note over the plots ("Computing the spectrogram…", why there is none):
        # a plain label, so long text wraps instead of running off the plot.
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message.setStyleSheet(
            "QLabel { color: #dddddd; background: rgba(40, 40, 40, 210); border: 1px solid #555;"
            " border-radius: 6px; padding: 10px; font-size: 11pt; }"
        )
        self.message.hide()

        self.playheads = []
        self.selections = []
        for plot in (self.spectrogram_plot, self.curves_plot):
            line = pg.InfiniteLine(0.0, angle=90, movable=False, pen=pg.mkPen("#ffffff", width=1.5))
            line.setZValue(30)
            plot.addItem(line, ignoreBounds=True)
            self.playheads.append(line)
            region = pg.LinearRegionItem(
                (0, 0), movable=True, brush=pg.mkBrush(120, 170, 255, 50),
                pen=pg.mkPen(120, 170, 255, 200),
            )
            region.setZValue(25)
            # Its edges resize it; its body does not move it, so a shift-drag inside a
            # selection (a clicked turn's) selects a new range instead.
            region.setMovable(False)
            for edge in region.lines:
                edge.setMovable(True)
            region.hide()
            plot.addItem(region, ignoreBounds=True)
            region.sigRegionChanged.connect(self._on_region_changed)
            region.sigRegionChangeFinished.connect(self._on_region_change_finished)
            self.selections.append(region)
        self._syncing_regions = False

        self.curve_items: dict[int, pg.PlotDataItem] = {}
        self._tracks: list[TrackView] = []
        self._threshold = 1.0
        self.selected_label: str | None = None
        self.curves_box.clicked_at.connect(self._on_curves_clicked_at)

        # Lanes under the curves, in the layout only while they have rows: the turns (the
        # diarization as corrected, one row per speaker) and an imported reference.
        self.turns_lane = self._lane("turns", TurnsLaneBox())
        self.reference_lane = self._lane("reference", TimelineViewBox())
        box = self.turns_lane.vb
        box.turn_clicked.connect(self.turn_clicked)
        box.edge_moved.connect(self.turn_edge_moved)
        box.turn_dropped.connect(self.turn_dropped)
        box.turn_drawn.connect(self.turn_drawn)
        self.turn_highlight = pg.PlotDataItem(pen=pg.mkPen("#ffd54f", width=12))
        self.turn_highlight.setZValue(-1)  # under the bar: a frame around it
        self.turns_lane.addItem(self.turn_highlight, ignoreBounds=True)
        self._lanes_shown: dict[SegmentLaneView, bool] = {self.turns_lane: False, self.reference_lane: False}
        self.spectrogram_box.sigXRangeChanged.connect(self._on_box_x_range_changed)
        self.spectrogram_box.sigResized.connect(self._place_message)

        # The waveform overview (View > Waveform), over the spectrogram: a band per channel.
        waveform_box = TimelineViewBox()
        self.waveform_plot = pg.PlotItem(viewBox=waveform_box, axisItems={"bottom": TimeAxis("bottom")})
        self.waveform_plot.hideButtons()
        self.waveform_plot.setMenuEnabled(False)
        self.waveform_plot.getAxis("left").setWidth(58)
        self.waveform_plot.getAxis("bottom").setStyle(showValues=False)
        self.waveform_plot.setLabel("left", "wave")
        self.waveform_plot.setXLink(self.spectrogram_plot)
        self.waveform_plot.enableAutoRange(False)
        waveform_box.clicked.connect(self.seek_requested)
        waveform_box.selection_dragged.connect(self._on_box_selection_dragged)
        self._waveform_items: list = []
        self.waveform_shown = False
        self.waveform_channels = 0

    # -- time range --------------------------------------------------------------------

    def set_duration(self, duration: float | None) -> None:
        self.duration = duration
        for box in (self.spectrogram_box, self.curves_box):
            if duration:
                box.setLimits(
                    xMin=0.0, xMax=duration, minXRange=min(MIN_VISIBLE_SECONDS, duration),
                    maxXRange=duration,
                )
            else:
                box.setLimits(xMin=None, xMax=None, minXRange=None, maxXRange=None)

    def visible_range(self) -> tuple[float, float]:
        start, end = self.spectrogram_box.viewRange()[0]
        return float(start), float(end)

    def set_visible_range(self, start: float, end: float) -> None:
        self.spectrogram_box.setXRange(start, end, padding=0)

    def fit_all(self) -> None:
        if self.duration:
            self.set_visible_range(0.0, self.duration)

    def zoom(self, factor: float, centre: float | None = None) -> None:
        """factor < 1 zooms in (shows less time), around ``centre`` (default: the middle)."""
        start, end = self.visible_range()
        if centre is None or not start <= centre <= end:
            centre = (start + end) / 2
        self.set_visible_range(centre - (centre - start) * factor, centre + (end - centre) * factor)

    def pan(self, fraction: float) -> None:
        start, end = self.visible_range()
        shift = (end - start) * fraction
        self.set_visible_range(start + shift, end + shift)

    # -- content -----------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self._place_message()

    def _place_message(self, *args) -> None:
        """Centre the note over the spectrogram, at most 80 % of its width."""
        if getattr(self, "message", None) is None or not self.message.isVisible():
            return
        area = self.mapFromScene(self.spectrogram_box.sceneBoundingRect()).boundingRect()
        width = max(120, int(area.width() * 0.8))
        self.message.setFixedWidth(width)
        height = self.message.heightForWidth(width)
        self.message.setFixedHeight(max(height, self.message.sizeHint().height()))
        self.message.move(area.center().x() - width // 2, area.center().y() - self.message.height() // 2)
        self.message.raise_()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._place_message()

    def set_tracks(self, tracks: list[TrackView], threshold: float) -> None:
        """One curve per track; weak ones hidden, or dimmed when ``show_weak_tracks``."""
        self._tracks = list(tracks)
        self._threshold = threshold
        seen = set()
        for track in tracks:
            seen.add(track.key)
            item = self.curve_items.get(track.key)
            if item is None:
                item = pg.PlotDataItem()
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                self.curves_plot.addItem(item)
                self.curve_items[track.key] = item
            item.setData(track.times(), track.curve)
            strong = track.confidence >= threshold
            colour = QColor(track.colour)
            if track.label == self.selected_label:
                item.setPen(pg.mkPen(colour, width=4))
                item.setZValue(3)
            elif strong:
                item.setPen(pg.mkPen(colour, width=2))
                item.setZValue(2)
            else:
                colour.setAlpha(110)
                item.setPen(pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
                item.setZValue(1)
            item.setVisible(strong or self.show_weak_tracks or track.label == self.selected_label)
            item.setToolTip(f"{track.label}: confidence {track.confidence:.0%}")
        for key in list(self.curve_items):
            if key not in seen:
                self.curves_plot.removeItem(self.curve_items.pop(key))

    def set_speech(self, share: np.ndarray | None, hop: float) -> None:
        """The speech lane: ``share`` of each ``hop``-second block that holds speech (None: none known)."""
        if share is None or len(share) == 0:
            self.speech_item.setData([], [])
            return
        share = np.asarray(share, dtype=np.float32)
        edges = np.arange(len(share) + 1, dtype=np.float64) * hop
        self.speech_item.setData(edges, SPEECH_LANE[0] + (SPEECH_LANE[1] - SPEECH_LANE[0]) * share)

    def select_track(self, label: str | None) -> None:
        """Draw ``label``'s curve thicker (the slot selected for labelling)."""
        if label != self.selected_label:
            self.selected_label = label
            self.set_tracks(self._tracks, self._threshold)

    def track_at(self, x: float, y: float, tolerance: float = 0.15) -> str | None:
        """The label of the visible curve nearest to (x, y), if one is within ``tolerance``."""
        best, best_distance = None, tolerance
        for track in self._tracks:
            item = self.curve_items.get(track.key)
            if item is None or not item.isVisible() or not len(track.curve):
                continue
            index = int(round(x / track.hop))
            if not 0 <= index < len(track.curve):
                continue
            lo, hi = max(0, index - 1), min(len(track.curve), index + 2)
            distance = float(min(abs(float(v) - y) for v in track.curve[lo:hi]))
            if distance < best_distance:
                best, best_distance = track.label, distance
        return best

    def _on_curves_clicked_at(self, x: float, y: float) -> None:
        label = self.track_at(x, y)
        if label is not None:
            self.track_clicked.emit(label)

    def _lane(self, title: str, box: pg.ViewBox) -> SegmentLaneView:
        lane = SegmentLaneView(title, box, TimeAxis("bottom"))
        lane.setXLink(self.spectrogram_plot)
        box.clicked.connect(self.seek_requested)
        box.selection_dragged.connect(self._on_box_selection_dragged)
        return lane

    def _show_lane(self, lane: SegmentLaneView, rows: list[LaneRow]) -> None:
        lane.set_rows(rows)
        row = TURNS_ROW if lane is self.turns_lane else REFERENCE_ROW
        if rows and not self._lanes_shown[lane]:
            self.addItem(lane, row=row, col=0)
            self.ci.layout.setRowStretchFactor(row, 1)
        elif not rows and self._lanes_shown[lane]:
            self.ci.removeItem(lane)
        self._lanes_shown[lane] = bool(rows)

    def set_turns(self, segments, colours: dict[str, str], reviewed=(), numbered: bool = False) -> None:
        """Draw (start, end, speaker) turns, a row per speaker in ``colours``' order, a
        hatched row where two or more speak at once, and the ranges a person reviewed;
        no turns hide the lane. ``numbered``: rows say the key (1-9) that gives them a turn."""
        segments = list(segments or ())
        names = [name for name in colours if any(who == name for _, _, who in segments)]
        rows = [LaneRow(name, colours[name], tuple((a, b) for a, b, who in segments if who == name),
                        caption=f"{i + 1}  {name}" if numbered and i < 9 else "")
                for i, name in enumerate(names)]
        both = overlapped(segments)
        if both:
            rows.append(LaneRow("2+ at once", OVERLAP_COLOUR, both, kind="overlap"))
        if reviewed:
            rows.append(LaneRow("reviewed", REVIEWED_COLOUR, tuple(reviewed), kind="reviewed"))
        self._show_lane(self.turns_lane, rows)

    def set_reference(self, segments) -> None:
        """Draw (start, end, speaker) segments as a lane under the curves; None or () hides it."""
        segments = list(segments or ())
        speakers = sorted({spk for _, _, spk in segments})
        self._show_lane(self.reference_lane, [
            LaneRow(speaker, TRACK_LANE_COLOUR, tuple((a, b) for a, b, spk in segments if spk == speaker))
            for speaker in speakers
        ])

    def set_waveform(self, envelope) -> None:
        """Draw a ``core.io.audio.Envelope`` (None: clear): one band per channel, the first on top."""
        for item in self._waveform_items:
            self.waveform_plot.removeItem(item)
        self._waveform_items = []
        channels = 0 if envelope is None else envelope.low.shape[0]
        for c in range(channels):
            x = (np.arange(envelope.low.shape[1]) + 0.5) * envelope.seconds_per_bucket
            offset = 2.0 * (channels - 1 - c)
            low = pg.PlotDataItem(x, envelope.low[c] + offset, pen=pg.mkPen(*WAVEFORM_COLOUR, 200))
            high = pg.PlotDataItem(x, envelope.high[c] + offset, pen=pg.mkPen(*WAVEFORM_COLOUR, 200))
            band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(*WAVEFORM_COLOUR, 160))
            for item in (low, high, band):
                self.waveform_plot.addItem(item)
                self._waveform_items.append(item)
        self.waveform_plot.setYRange(-1.05, 2.0 * max(channels, 1) - 0.95, padding=0)
        self.waveform_plot.getAxis("left").setTicks(
            [[(2.0 * (channels - 1 - c), f"ch {c + 1}") for c in range(channels)]] if channels > 1 else [[]])
        self.waveform_channels = channels

    def show_waveform(self, shown: bool) -> None:
        if shown and not self.waveform_shown:
            self.addItem(self.waveform_plot, row=WAVEFORM_ROW, col=0)
            self.ci.layout.setRowStretchFactor(WAVEFORM_ROW, 1)
        elif not shown and self.waveform_shown:
            self.ci.removeItem(self.waveform_plot)
        self.waveform_shown = shown

    def set_selected_turn(self, name: str | None, start: float = 0.0, end: float = 0.0) -> None:
        """Frame the selected turn (in row ``name``); None: no frame."""
        index = next((i for i, row in enumerate(self.turns_lane.rows) if row.name == name), None)
        if index is None:
            self.turn_highlight.hide()
            return
        self.turn_highlight.setData([start, end], [index, index])
        self.turn_highlight.show()

    def set_snap_points(self, points) -> None:
        """The sound's onsets and offsets, where dragged turn edges snap."""
        self.turns_lane.vb.snap_points = list(points)

    def turn_row_rect(self, name: str, start: float, end: float):
        """Widget coordinates of a turn's start, middle and end in the turns lane (tests)."""
        index = next(i for i, row in enumerate(self.turns_lane.rows) if row.name == name)
        box = self.turns_lane.vb
        return [self.mapFromScene(box.mapViewToScene(QPointF(t, index))) for t in (start, (start + end) / 2, end)]

    @property
    def reference_speakers(self) -> list[str]:
        return [row.name for row in self.reference_lane.rows]

    @property
    def turn_speakers(self) -> list[str]:
        return [row.name for row in self.turns_lane.rows if row.kind == "speaker"]

    def visible_curves(self) -> list[pg.PlotDataItem]:
        return [item for item in self.curve_items.values() if item.isVisible()]

    def reset(self) -> None:
        """Empty the plots. (Not ``clear``: GraphicsLayoutWidget.clear removes the plots.)"""
        self.selected_label = None
        self.set_tracks([], 1.0)
        self.set_turns(None, {})
        self.set_selected_turn(None)
        self.set_waveform(None)
        self.set_reference(None)
        self.spectrogram.set_pyramid(None)
        self.set_selection(None)
        self.set_playhead(0.0, follow=False)

    # -- playhead and selection --------------------------------------------------------

    def set_playhead(self, seconds: float, follow: bool | None = None) -> None:
        for line in self.playheads:
            line.setValue(seconds)
        if follow if follow is not None else self.follow_playhead:
            start, end = self.visible_range()
            width = end - start
            if not (start <= seconds <= end - 0.02 * width):
                new_start = seconds - FOLLOW_MARGIN * width
                if self.duration:
                    new_start = min(max(0.0, new_start), max(0.0, self.duration - width))
                self.set_visible_range(new_start, new_start + width)

    def playhead(self) -> float:
        return float(self.playheads[0].value())

    def set_selection(self, selection: tuple[float, float] | None) -> None:
        self._syncing_regions = True
        try:
            for region in self.selections:
                if selection is None:
                    region.hide()
                else:
                    region.setRegion(selection)
                    region.show()
        finally:
            self._syncing_regions = False

    def selection(self) -> tuple[float, float] | None:
        region = self.selections[0]
        return tuple(region.getRegion()) if region.isVisible() else None

    def set_loop_active(self, active: bool) -> None:
        """A looping range is drawn in green, a plain selection in blue."""
        colour = (90, 210, 120) if active else (120, 170, 255)
        for region in self.selections:
            region.setBrush(pg.mkBrush(*colour, 60))
            for line in region.lines:
                line.setPen(pg.mkPen(*colour, 220))
            region.update()

    # -- slots -------------------------------------------------------------------------

    def _on_box_selection_dragged(self, start: float, end: float, finished: bool) -> None:
        if self.duration:
            start, end = max(0.0, start), min(self.duration, end)
        self.set_selection((start, end))
        if finished:
            self.selection_changed.emit((start, end) if end - start > 0.05 else None)
            if end - start <= 0.05:
                self.set_selection(None)

    def _on_region_changed(self, region) -> None:
        if self._syncing_regions:
            return
        self._syncing_regions = True
        try:
            for other in self.selections:
                if other is not region:
                    other.setRegion(region.getRegion())
        finally:
            self._syncing_regions = False

    def _on_region_change_finished(self, region) -> None:
        if not self._syncing_regions and region.isVisible():
            self.selection_changed.emit(tuple(region.getRegion()))

    def _on_box_x_range_changed(self, box, x_range) -> None:
        self.x_range_changed.emit(float(x_range[0]), float(x_range[1]))

    # -- coordinates (tests, benchmarks) ------------------------------------------------

    def map_time_to_widget(self, seconds: float, plot: pg.PlotItem | None = None):
        """Widget (viewport) coordinates of time ``seconds`` in the middle of ``plot``."""
        plot = plot or self.curves_plot
        (_, _), (y0, y1) = plot.vb.viewRange()
        scene = plot.vb.mapViewToScene(QPointF(seconds, (y0 + y1) / 2))
        return self.mapFromScene(scene)

