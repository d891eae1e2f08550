"""What the GUI and its workers send each other: frozen dataclasses, one per message.

Every request carries a ``job_id`` the GUI chose; every answer repeats it, so the
GUI can drop answers to jobs it no longer cares about (a file removed, cancelled
or re-analysed). Workers never read widget state; everything a job needs is in
its request. No Qt and no torch here (the core types are only named for typing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # core.diarize imports torch: never at run time on the GUI thread
    from weighter_gui.core.diarize.diarizer import FileDiarization, WindowResult
    from weighter_gui.core.spectrogram import SpectrogramPyramid

DEVICE_CHOICES = ("auto", "cpu", "cuda")


# ----------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class AnalysisRequest:
    job_id: int
    path: Path
    checkpoint: str | None  # None: the default model shipped in resources/
    device: str = "auto"  # one of DEVICE_CHOICES
    channel: int | str | None = None  # None: the downmix; 0, 1, ...: that channel; "each": every one on its own
    speakers: int | None = None  # the speaker count the user gave (each channel's, with "each"); None: estimated


@dataclass(frozen=True)
class AnalysisStarted:
    """The model is loaded and the job runs (again, after a fallback: see ``note``)."""

    job_id: int
    path: Path
    device: str  # as the status bar shows it: "CPU" or "CUDA: <name>"
    note: str = ""  # e.g. why it now runs on the CPU


@dataclass(frozen=True)
class AnalysisProgress:
    """One window of the file is done; ``window.curves`` can be drawn now."""

    job_id: int
    path: Path
    window: WindowResult
    hop: float  # seconds per curve value

    @property
    def percent(self) -> int:
        return int(100 * (self.window.index + 1) / max(self.window.count, 1))


@dataclass(frozen=True)
class AnalysisDone:
    job_id: int
    path: Path
    diarization: FileDiarization
    device: str


@dataclass(frozen=True)
class AnalysisFailed:
    job_id: int
    path: Path
    message: str  # the whole story, for the tooltip and status bar
    reason: str  # a few plain words for the file list
    kind: str = "error"  # "audio" (bad file), "checkpoint" (model won't load), "error"


@dataclass(frozen=True)
class AnalysisCancelled:
    job_id: int
    path: Path


# ----------------------------------------------------------------------------- spectrogram


@dataclass(frozen=True)
class SpectrogramRequest:
    job_id: int
    path: Path
    scale: str = "mel"  # "mel" or "linear"


@dataclass(frozen=True)
class SpectrogramDone:
    job_id: int
    path: Path
    pyramid: SpectrogramPyramid
    seconds: float  # how long the computation took


@dataclass(frozen=True)
class SpectrogramFailed:
    job_id: int
    path: Path
    message: str
