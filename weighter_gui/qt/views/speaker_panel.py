"""The speaker panel (right dock): one row per track and the confidence threshold.

Each row: the track's colour (the same as its curve), label, a confidence bar
with its percent, and seconds of speech once the analysis is done. Tracks below
the threshold are greyed here and hidden (or dimmed) in the plot.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from weighter_gui.core.diarize.live_tracks import TrackView

SLIDER_STEPS = 100  # threshold slider resolution: 0.01
NAME, BAR, PERCENT, SPEECH, SUGGESTION = range(5)  # the table's columns
DIM_TEXT = QColor("#8a8a8a")


def colour_swatch(colour: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class SpeakerPanel(QWidget):
    threshold_changed = Signal(float)
    show_weak_changed = Signal(bool)
    slot_clicked = Signal(object)  # the user picked a row: its slot label, or None
    slot_activated = Signal(str)  # double-clicked: name it

    COLUMNS = ("Speaker", "Confidence", "", "Speech", "Suggestion")
    BAR_LEAST = 60  # px: the confidence bar never gets narrower (nor narrower than its header)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No file selected.")
        self.summary.setWordWrap(True)

        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, SLIDER_STEPS)
        self.threshold_slider.setToolTip("Tracks below this confidence are not counted as speakers")
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setDecimals(2)
        self.threshold_slider.valueChanged.connect(self._on_slider_value_changed)
        self.threshold_spin.valueChanged.connect(self._on_spin_value_changed)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(QLabel("Threshold"))
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_spin)

        self.show_weak_check = QCheckBox("Show weaker tracks (dimmed)")
        self.show_weak_check.toggled.connect(self.show_weak_changed)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's actions
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.cellDoubleClicked.connect(self._on_cell_double_clicked)
        self.table.setShowGrid(False)
        # Column widths are set by ``fit_columns`` (on every change and resize): every
        # header reads in full, the name and suggestion columns elide (whole text in
        # the tooltip), the confidence bar takes what is left.
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)  # one line per row: elide, do not wrap
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(24)
        for column in range(len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        self.table.viewport().installEventFilter(self)
        self._fitting = False
        self.hint = QLabel(
            "<small>Click a row or a curve to pick a slot: <b>N</b> name, <b>1-9</b> known names, "
            "<b>A</b> accept the suggestion, <b>X</b> not a speaker, <b>M</b> merge.<br>"
            "In the turns lane, click a turn and drag its edges (Alt: no snapping); <b>S</b> split at the "
            "playhead, <b>J</b> join, <b>1-9</b> give it to row N, <b>Del</b> delete; shift-drag a range, "
            "then <b>Ctrl+1-9</b> or <b>T</b> adds a turn there.</small>"
        )
        self.hint.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addLayout(threshold_row)
        layout.addWidget(self.show_weak_check)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)

        self._tracks: list[TrackView] = []
        self._states: dict = {}  # label -> SlotState (a project is open)
        self._suggestions: dict = {}  # label -> Suggestion
        self._shown_label: str | None = None  # the row shown selected (the workspace's selection)
        self._updating = False
        self.set_threshold(0.5)

    # -- inputs ------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        return round(self.threshold_spin.value(), 2)

    def set_threshold(self, value: float) -> None:
        """Show ``value`` without announcing it (the caller already knows)."""
        self._updating = True
        try:
            self.threshold_spin.setValue(value)
            self.threshold_slider.setValue(round(value * SLIDER_STEPS))
        finally:
            self._updating = False
        self._restyle_rows()

    def set_labels(self, states: dict, suggestions: dict) -> None:
        """The project's view of the slots (label -> SlotState, label -> Suggestion);
        call before ``set_tracks``. Empty dicts: no project (rows show the labels)."""
        self._states = dict(states)
        self._suggestions = dict(suggestions)
        self.table.setColumnHidden(SUGGESTION, not any(self.suggestion_text(label) for label in self._suggestions))
        self.fit_columns()

    def display_name(self, label: str) -> str:
        state = self._states.get(label)
        if state is None:
            return label
        if state.not_speaker:
            return f"{label} \u2715 not a speaker"
        text = state.name or label
        if state.merged_into:
            text += f" (\u2192 {state.merged_into})"
        if state.name:
            text += f"  [{label}]"
        return text

    def suggestion_text(self, label: str) -> str:
        state, suggestion = self._states.get(label), self._suggestions.get(label)
        if suggestion is None or (state is not None and (state.name or state.not_speaker)):
            return ""
        return f"{suggestion.name}? {suggestion.similarity:.2f}"

    def selected_label(self) -> str | None:
        """The slot whose row is shown selected."""
        return self._shown_label

    def select_label(self, label: str | None) -> None:
        """Show ``label``'s row selected (None: no row). Says nothing: the selection is the
        workspace's, and this only shows it."""
        self._shown_label = label
        self._show_selection()

    def _show_selection(self) -> None:
        row = next((i for i, t in enumerate(self._tracks) if t.label == self._shown_label), None)
        self._updating = True
        try:
            if row is None:
                self.table.clearSelection()
            else:
                self.table.selectRow(row)
        finally:
            self._updating = False

    def _on_selection_changed(self) -> None:
        if self._updating:
            return
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        label = self._tracks[min(rows)].label if rows and min(rows) < len(self._tracks) else None
        if label != self._shown_label:
            self.slot_clicked.emit(label)

    def _on_cell_double_clicked(self, row: int, _column: int) -> None:
        if row < len(self._tracks):
            self.slot_activated.emit(self._tracks[row].label)

    def set_tracks(self, tracks: list[TrackView], summary: str) -> None:
        self.summary.setText(summary)
        self._tracks = list(tracks)
        table = self.table
        self._updating = True
        table.setRowCount(len(tracks))
        self._updating = False
        for row, track in enumerate(tracks):
            name = QTableWidgetItem(colour_swatch(track.colour), self.display_name(track.label))
            state = self._states.get(track.label)
            if state is not None:
                name.setToolTip(
                    f"slot {track.label}" + (f", named {state.name}" if state.name else ", unnamed")
                    + (", merged into " + state.merged_into if state.merged_into else "")
                    + (", not a speaker" if state.not_speaker else "")
                    + (", exported" if state.kept else ", not exported")
                )
            suggestion = QTableWidgetItem(self.suggestion_text(track.label))
            suggestion.setForeground(QColor("#c0a040"))
            if suggestion.text():
                hint = self._suggestions[track.label]
                if hint.source == "model":
                    suggestion.setToolTip(f"The model was taught {hint.name} and gives it this voice "
                                          f"({hint.similarity:.2f}): A accepts it")
                else:
                    suggestion.setToolTip(f"The gallery suggests {hint.name} (similarity {hint.similarity:.2f}): "
                                          "A accepts it")
            table.setItem(row, 4, suggestion)
            percent = QTableWidgetItem(f"{track.confidence:.0%}")
            percent.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            speech = QTableWidgetItem("" if track.speech_seconds is None else f"{track.speech_seconds:.1f} s")
            speech.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, 0, name)
            table.setItem(row, 2, percent)
            table.setItem(row, 3, speech)
            bar = self._bar(row)
            if bar is None:
                holder = QWidget()  # centres the thin bar vertically in its row
                holder_layout = QVBoxLayout(holder)
                holder_layout.setContentsMargins(4, 0, 4, 0)
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setTextVisible(False)
                bar.setFixedHeight(12)
                holder_layout.addWidget(bar)
                table.setCellWidget(row, 1, holder)
            bar.setValue(round(track.confidence * 1000))
            bar.setStyleSheet(
                "QProgressBar { border: 1px solid #777; border-radius: 2px; background: #2b2b2b; }"
                f"QProgressBar::chunk {{ background: {track.colour}; }}"
            )
        self._restyle_rows()
        self.fit_columns()
        self._show_selection()  # labels are stable across redraws

    # -- column widths -----------------------------------------------------------------

    def fit_columns(self) -> None:
        """Share the table's width out: percent and speech fit their contents, every
        header is readable, the suggestion column is capped (it elides), the name column
        gets what its names need as far as the confidence bar keeps its header's width,
        and the bar takes the rest."""
        if self._fitting:
            return
        self._fitting = True
        try:
            table, header = self.table, self.table.horizontalHeader()

            def wanted(column: int) -> int:
                return max(table.sizeHintForColumn(column), header.sectionSizeHint(column))

            available = table.viewport().width()
            widths = {PERCENT: wanted(PERCENT), SPEECH: wanted(SPEECH)}
            if not table.isColumnHidden(SUGGESTION):
                cap = max(header.sectionSizeHint(SUGGESTION), available // 3)
                widths[SUGGESTION] = min(wanted(SUGGESTION), cap)
            bar_least = max(header.sectionSizeHint(BAR), self.BAR_LEAST)
            name_least = header.sectionSizeHint(NAME)
            rest = available - sum(widths.values())
            widths[NAME] = max(name_least, min(wanted(NAME), rest - bar_least))
            widths[BAR] = max(bar_least, rest - widths[NAME])
            for column, width in widths.items():
                if header.sectionSize(column) != width:
                    header.resizeSection(column, width)
        finally:
            self._fitting = False

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def rows(self) -> list[tuple[str, float, bool]]:
        """(label, confidence, above threshold) per row, as shown."""
        return [(t.label, t.confidence, t.confidence >= self.threshold) for t in self._tracks]

    # -- slots -------------------------------------------------------------------------

    def _on_slider_value_changed(self, value: int) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.threshold_spin.setValue(value / SLIDER_STEPS)
        finally:
            self._updating = False
        self._announce()

    def _on_spin_value_changed(self, value: float) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.threshold_slider.setValue(round(value * SLIDER_STEPS))
        finally:
            self._updating = False
        self._announce()

    def _announce(self) -> None:
        self._restyle_rows()
        self.threshold_changed.emit(self.threshold)

    def _restyle_rows(self) -> None:
        for row, track in enumerate(self._tracks):
            strong = track.confidence >= self.threshold
            for column in (0, 2, 3):
                item = self.table.item(row, column)
                if item is not None:
                    item.setForeground(self.palette().text() if strong else DIM_TEXT)
                    if column or track.label not in self._states:
                        item.setToolTip("" if strong else "below the threshold: not counted as a speaker")
            bar = self._bar(row)
            if bar is not None:
                bar.setEnabled(strong)

    def _bar(self, row: int) -> QProgressBar | None:
        holder = self.table.cellWidget(row, 1)
        return holder.findChild(QProgressBar) if holder is not None else None
