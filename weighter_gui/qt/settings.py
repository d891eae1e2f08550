"""User settings: what persists between runs (QSettings) and the Settings dialog.

``AppSettings`` is a frozen dataclass with its defaults in code. ``SettingsStore``
reads and writes it, the recent-files list and the window layout through one
``QSettings`` object, which tests point at a file in a temporary folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from weighter_gui.qt.messages import DEVICE_CHOICES

ORGANIZATION = "Weighter"
APPLICATION = "Weighter Studio"
MAX_RECENT = 10

DEVICE_LABELS = {
    "auto": "Automatic (CUDA when available)",
    "cpu": "CPU",
    "cuda": "CUDA (GPU)",
}


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


class SettingsStore:
    """AppSettings, recent files and window layout in a QSettings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

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
        )

    def save_view_choices(self, choices: ViewChoices) -> None:
        for name, value in asdict(choices).items():
            self.qsettings.setValue(f"view/{name}", value)


class SettingsDialog(QDialog):
    """Pick the device and the checkpoint the analysis worker uses."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)

        self.device_combo = QComboBox()
        for choice in DEVICE_CHOICES:
            self.device_combo.addItem(DEVICE_LABELS[choice], choice)
        self.device_combo.setCurrentIndex(DEVICE_CHOICES.index(settings.device))

        self.checkpoint_edit = QLineEdit(settings.checkpoint)
        self.checkpoint_edit.setPlaceholderText("the default model (resources/weighter-default.safetensors)")
        self.checkpoint_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        checkpoint_row = QHBoxLayout()
        checkpoint_row.addWidget(self.checkpoint_edit, 1)
        checkpoint_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Run the model on:", self.device_combo)
        form.addRow("Checkpoint:", checkpoint_row)
        hint = QLabel(
            "Leave the checkpoint empty to use the default model. "
            "New settings apply to the next analysis; use Analysis \u203a Re-analyse to redo a file."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def settings(self) -> AppSettings:
        return AppSettings(
            device=str(self.device_combo.currentData()),
            checkpoint=self.checkpoint_edit.text().strip(),
        )

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint", self.checkpoint_edit.text(), "Weighter checkpoints (*.safetensors);;All files (*)"
        )
        if path:
            self.checkpoint_edit.setText(path)
