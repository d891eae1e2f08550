"""The Settings dialog: the device and the checkpoint the analysis worker uses."""

from __future__ import annotations

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

from weighter_gui.qt.state.settings import AppSettings
from weighter_gui.qt.workers.messages import DEVICE_CHOICES

DEVICE_LABELS = {
    "auto": "Automatic (CUDA when available)",
    "cpu": "CPU",
    "cuda": "CUDA (GPU)",
}


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
