"""Opening, analysing and closing files, and the settings the analyses run with."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMenu

from weighter_gui.core.io.audio import AUDIO_EXTENSIONS, AudioError, audio_files_in, probe
from weighter_gui.qt.state.analysis_service import AnalysisService
from weighter_gui.qt.state.settings import AppSettings, Preferences
from weighter_gui.qt.state.workspace import FileState, Workspace
from weighter_gui.qt.views.dialogs import Dialogs
from weighter_gui.qt.views.file_list_panel import MISSING_AUDIO_TIP
from weighter_gui.qt.views.settings_dialog import SettingsDialog

AUDIO_FILTER = f"Audio ({' '.join('*' + e for e in sorted(AUDIO_EXTENSIONS))});;All files (*)"


class FilesController:
    def __init__(self, workspace: Workspace, analysis: AnalysisService, preferences: Preferences,
                 dialogs: Dialogs) -> None:
        self.workspace = workspace
        self.analysis = analysis
        self.preferences = preferences
        self.dialogs = dialogs
        workspace.analysis_needed.connect(self.analyse)

    # ============================================================ opening

    def open_paths(self, paths, select: bool = True, speakers: int | None = None) -> list[Path]:
        """Open files, and the audio files inside folders (and their subfolders); start
        analysing them (told each holds ``speakers`` speakers; None: estimated). Returns
        the files newly added (already open ones are only selected)."""
        added: list[Path] = []
        first: Path | None = None
        store = self.preferences.store
        for given in paths:
            path = Path(given).expanduser()
            path = path.resolve() if path.exists() else path.absolute()
            files = audio_files_in(path) if path.is_dir() else [path]
            if path.is_dir() and not files:
                self.dialogs.status(f"No audio files in {path}")
            if path.exists():
                store.add_recent(path)
            for file in files:
                first = first or file
                record = self.workspace.add(file)
                if record is not None:
                    record.speakers = speakers
                    added.append(file)
                    self.analyse(file)
        if self.workspace.session is not None and added:
            self.workspace.session.add_files(added)  # one undo step; autosaved
        if first is not None and select:
            self.workspace.set_current(first)
        return added

    def last_folder(self) -> str:
        recent = self.preferences.store.recent_files()
        if recent:
            last = Path(recent[0])
            return str(last if last.is_dir() else last.parent)
        return ""

    def ask_open_files(self) -> None:
        files = self.dialogs.ask_open_paths("Open audio files", self.last_folder(), AUDIO_FILTER)
        if files:
            self.open_paths(files)

    def ask_open_folder(self) -> None:
        folder = self.dialogs.ask_folder("Open a folder of audio files", self.last_folder())
        if folder:
            self.open_paths([folder])

    def fill_recent_menu(self, menu: QMenu) -> None:
        """The "Open recent" submenu, read again each time it opens."""
        recent = self.recent_menu = menu.addMenu("Open &recent")

        def rebuild() -> None:
            recent.clear()
            entries = self.preferences.store.recent_files()
            for entry in entries:
                recent.addAction(entry).triggered.connect(lambda _=False, p=entry: self.open_paths([p]))
            if not entries:
                recent.addAction("(none)").setEnabled(False)
            recent.addSeparator()
            recent.addAction("Clear recent files").triggered.connect(self.preferences.store.clear_recent)

        recent.aboutToShow.connect(rebuild)
        rebuild()

    # ============================================================ analysing

    def analyse(self, path: Path) -> int:
        """Queue an analysis of an open file with the current settings; returns its job id."""
        return self.analysis.analyse(path, self.preferences.effective())

    def reanalyse(self, path: Path) -> int | None:
        """Analyse an open file again (Analysis › Re-analyse, the file list's menu); a file
        whose audio is missing is refused with the reason (it could only fail, and would
        lose its "missing" flag). Returns the job id, or None."""
        record = self.workspace.get(path)
        if record is None:
            return None
        if record.audio_missing:
            self.dialogs.status(f"{Path(path).name}: " + MISSING_AUDIO_TIP[0].lower() + MISSING_AUDIO_TIP[1:])
            return None
        return self.analyse(path)

    def analyse_channel(self, channel: int | str | None, path: Path | None = None) -> int | None:
        """Analyse a file again from one channel (None: the downmix; "each": every channel
        on its own, its slots named ch1-S1, ch2-S1, ...)."""
        return self._analyse_again(path, channel=channel)

    def analyse_with_speakers(self, speakers: int | None, path: Path | None = None) -> int | None:
        """Analyse a file again told it holds ``speakers`` speakers (None: estimate the count)."""
        return self._analyse_again(path, speakers=speakers)

    def _analyse_again(self, path: Path | None, **choice) -> int | None:
        """Set the open file's (default: the selected one's) analysis ``choice`` and re-analyse it."""
        path = path or self.workspace.current
        record = self.workspace.get(path)
        if record is None:
            return None
        for name, value in choice.items():
            setattr(record, name, value)
        return self.reanalyse(path)

    def fill_channel_menu(self, menu) -> None:
        """Analysis > Channels, filled for the selected file each time it opens."""

        def choices(record) -> list:
            try:
                count = probe(record.path).channels if record is not None else 0
            except AudioError:
                count = 0
            if count < 2:
                return []
            return ([(None, "&Mix of all channels")] + [(c, f"Channel &{c + 1}") for c in range(count)]
                    + [("each", "&Each channel on its own (one side per channel)")])

        self._choice_menu(menu.addMenu("C&hannels"), "channel", choices, self.analyse_channel,
                          empty="(one channel: nothing to pick)")

    def fill_speaker_count_menu(self, menu) -> None:
        """Analysis > Speakers: the count the selected file's analysis keeps to."""
        counts = [(None, "&Estimate the count")] + [(n, f"&{n} speaker{'s' if n > 1 else ''}") for n in range(1, 9)]
        submenu = menu.addMenu("&Speakers")
        submenu.setToolTipsVisible(True)
        self._choice_menu(submenu, "speakers", lambda record: counts, self.analyse_with_speakers, empty="",
                          tip="Analyse the file again, keeping to this many speakers (each channel's, "
                          "when each channel is analysed on its own)")

    def _choice_menu(self, submenu, field: str, choices, pick, empty: str, tip: str = "") -> None:
        """``submenu`` rebuilt each time it opens: ``choices(record)`` of the selected file
        as checkable (value, text) entries, the record's ``field`` checked (all disabled
        when no file is); ``pick(value)`` on a click; ``empty`` (disabled) when there are none."""

        def rebuild() -> None:
            submenu.clear()
            record = self.workspace.get(self.workspace.current)
            entries = choices(record)
            if not entries:
                submenu.addAction(empty).setEnabled(False)
                return
            for value, text in entries:
                action = submenu.addAction(text)
                action.setCheckable(True)
                action.setChecked(record is not None and getattr(record, field) == value)
                action.setEnabled(record is not None)
                action.setToolTip(tip)
                action.triggered.connect(lambda _=False, v=value: pick(v))

        submenu.aboutToShow.connect(rebuild)
        rebuild()

    def reanalyse_current(self) -> None:
        if self.workspace.current is not None:
            self.reanalyse(self.workspace.current)

    def reanalyse_all(self) -> None:
        """Every open file whose audio is there (after a retrain)."""
        for path in self.workspace.paths():
            if self.workspace.get(path).error_kind != "missing":
                self.analyse(path)

    def cancel(self, path: Path | None = None) -> bool:
        """Cancel the analysis of ``path`` (default: the selected file)."""
        path = path or self.workspace.current
        if path is None or not self.analysis.cancel(path):
            return False
        self.dialogs.status(f"Cancelled the analysis of {Path(path).name}")
        return True

    def cancel_current(self) -> None:
        if not self.cancel():
            self.dialogs.status("The selected file is not being analysed")

    def cancel_all(self) -> None:
        for record in self.workspace.busy():
            self.cancel(record.path)

    def cancel_running(self) -> None:
        """The status bar's Cancel: the file being analysed, else the next waiting."""
        busy = self.workspace.busy()
        running = next((r for r in busy if r.state is FileState.ANALYSING), None)
        target = running or next(iter(busy), None)
        if target is not None:
            self.cancel(target.path)

    # ============================================================ closing

    def remove(self, path: Path) -> None:
        key = self.workspace.key_for(path)
        self.analysis.remove(path)
        if key is not None:
            self.workspace.session.remove_file(key)

    def remove_current(self) -> None:
        if self.workspace.current is not None:
            self.remove(self.workspace.current)

    # ============================================================ settings

    def ask_settings(self) -> None:
        dialog = SettingsDialog(self.preferences.saved, self.dialogs.parent)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.settings())

    def apply_settings(self, settings: AppSettings) -> None:
        """Save new settings; files whose model failed to load are analysed again."""
        self.preferences.apply(settings)
        for path in self.workspace.paths():
            record = self.workspace.get(path)
            if record.state is FileState.FAILED and record.error_kind == "checkpoint":
                self.analyse(path)
        self.dialogs.status("Settings saved; they apply to the next analysis")
