"""User settings: what persists between runs (QSettings).

``AppSettings`` is a frozen dataclass with its defaults in code. ``SettingsStore``
reads and writes it, the recent files and projects and the window layout through one
``QSettings`` object, which tests point at a file in a temporary folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from weighter_gui.core.io.resources import default_checkpoint
from weighter_gui.qt.workers.messages import DEVICE_CHOICES

ORGANIZATION = "Weighter"
APPLICATION = "Weighter Studio"
MAX_RECENT = 10
MAX_RECENT_PROJECTS = 8


@dataclass(frozen=True)
class AppSettings:
    device: str = "auto"  # one of DEVICE_CHOICES
    checkpoint: str = ""  # empty: the default model

    @property
    def checkpoint_or_none(self) -> str | None:
        return self.checkpoint or None

    def with_overrides(self, device: str | None = None, checkpoint: str | None = None) -> AppSettings:
        changes = {}
        if device:
            changes["device"] = device
        if checkpoint:
            changes["checkpoint"] = str(checkpoint)
        return replace(self, **changes)


@dataclass(frozen=True)
class ViewChoices:
    """How the user likes to look at files; restored at start-up."""

    colour_map: str = "inferno"
    mel_scale: bool = True
    follow_playhead: bool = True
    show_weak_tracks: bool = False
    show_waveform: bool = False


class SettingsStore:
    """AppSettings, recent files and window layout in a QSettings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

    def recovery_dir(self) -> Path:
        """Where untitled projects autosave (``core.annotation.recovery``): beside the
        settings file, so each user (and each test) has their own."""
        return Path(self.qsettings.fileName()).parent / f"{APPLICATION} recovery"

    # -- settings ----------------------------------------------------------------------

    def load(self) -> AppSettings:
        q = self.qsettings
        device = str(q.value("analysis/device", "auto"))
        if device not in DEVICE_CHOICES:
            device = "auto"
        return AppSettings(device=device, checkpoint=str(q.value("analysis/checkpoint", "") or ""))

    def save(self, settings: AppSettings) -> None:
        self.qsettings.setValue("analysis/device", settings.device)
        self.qsettings.setValue("analysis/checkpoint", settings.checkpoint)
        self.qsettings.sync()

    # -- recent files ------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a lone entry as a plain string
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: Path | str) -> list[str]:
        entry = str(Path(path).resolve())
        recent = [entry] + [p for p in self.recent_files() if p != entry]
        recent = recent[:MAX_RECENT]
        self.qsettings.setValue("recent/files", recent)
        return recent

    def clear_recent(self) -> None:
        self.qsettings.setValue("recent/files", [])

    def recent_projects(self) -> list[str]:
        value = self.qsettings.value("recent/projects", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def add_recent_project(self, path: Path | str) -> None:
        entry = str(Path(path).resolve())
        recent = [entry] + [p for p in self.recent_projects() if p != entry]
        self.qsettings.setValue("recent/projects", recent[:MAX_RECENT_PROJECTS])

    def clear_recent_projects(self) -> None:
        self.qsettings.setValue("recent/projects", [])

    # -- window layout -----------------------------------------------------------------

    def window_layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)
        self.qsettings.sync()

    # -- view choices (colour map, frequency scale, toggles) ----------------------------

    def view_choices(self) -> ViewChoices:
        q, default = self.qsettings, ViewChoices()

        def flag(key: str, fallback: bool) -> bool:
            value = q.value(key, fallback)
            return value if isinstance(value, bool) else str(value).lower() == "true"

        return ViewChoices(
            colour_map=str(q.value("view/colour_map", default.colour_map)),
            mel_scale=flag("view/mel_scale", default.mel_scale),
            follow_playhead=flag("view/follow_playhead", default.follow_playhead),
            show_weak_tracks=flag("view/show_weak_tracks", default.show_weak_tracks),
            show_waveform=flag("view/show_waveform", default.show_waveform),
        )

    def save_view_choices(self, choices: ViewChoices) -> None:
        for name, value in asdict(choices).items():
            self.qsettings.setValue(f"view/{name}", value)


class Preferences(QObject):
    """The settings in force: the saved ones, with this run's command-line choices
    (``--checkpoint``, ``--device``) on top until the user picks in the Settings dialog."""

    changed = Signal(object)  # the AppSettings now in force

    def __init__(self, store: SettingsStore, checkpoint: str | None = None, device: str | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.saved = store.load()
        self._overrides = {"checkpoint": checkpoint, "device": device}

    def effective(self) -> AppSettings:
        return self.saved.with_overrides(**self._overrides)

    def apply(self, settings: AppSettings) -> None:
        """Save ``settings``; the command line's choices no longer apply (the user chose)."""
        self.saved = settings
        self.store.save(settings)
        self._overrides = {"checkpoint": None, "device": None}
        self.changed.emit(self.effective())

    def checkpoint(self) -> str | None:
        """The model the next analysis loads: the chosen one, else the shipped default."""
        chosen = self.effective().checkpoint_or_none
        if chosen:
            return chosen
        default = default_checkpoint()
        return str(default) if default.exists() else None
