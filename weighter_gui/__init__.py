"""Weighter Studio: look at, correct and retrain a Weighter speaker-diarization model."""

__version__ = "0.1.0"
