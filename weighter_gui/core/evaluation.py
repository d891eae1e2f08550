"""Scoring diarizations: RTTM files in and out, DER with its parts (pyannote.metrics).

DER = (missed speech + false alarm + speaker confusion) / reference speech, with
the optimal one-to-one mapping of hypothesis to reference speakers, overlapped
speech scored. ``collar`` follows pyannote.metrics: the total width of the
un-scored zone around each reference boundary (0.25 s removes 0.125 s on each side).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyannote.core import Annotation, Segment, Timeline

from .files import atomic_write, read_text

__all__ = ["DERReport", "RTTMError", "der", "read_rttm", "write_rttm"]


class RTTMError(ValueError):
    """An RTTM file is missing or malformed; the message names the file and line."""


def read_rttm(path: str | os.PathLike[str]) -> dict[str, Annotation]:
    """``SPEAKER uri channel start duration <NA> <NA> speaker <NA> <NA>`` lines -> per-uri annotations.

    Blank lines and ``;`` / ``#`` comments are skipped; other record types (LEXEME,
    SPKR-INFO, ...) are ignored as the RTTM spec allows.
    """
    path = Path(path)
    text = read_text(path, "RTTM file", RTTMError)
    annotations: dict[str, Annotation] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise RTTMError(
                f"{path}, line {number}: a SPEAKER line needs at least 8 fields "
                "(SPEAKER uri channel start duration <NA> <NA> speaker), got {len(fields)}"
            )
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise RTTMError(f"{path}, line {number}: start and duration must be numbers") from None
        if start < 0 or duration < 0:
            raise RTTMError(f"{path}, line {number}: negative start or duration")
        uri, speaker = fields[1], fields[7]
        ann = annotations.setdefault(uri, Annotation(uri=uri))
        if duration > 0:
            ann[Segment(start, start + duration), ann.new_track(Segment(start, start + duration))] = speaker
    if not annotations:
        raise RTTMError(f"{path}: no SPEAKER lines")
    return annotations


def write_rttm(path: str | os.PathLike[str], annotations: Iterable[Annotation]) -> Path:
    """All annotations into one RTTM file (written whole, then renamed into place)."""
    text = io.StringIO()
    for ann in annotations:
        ann.write_rttm(text)
    return atomic_write(path, text.getvalue())


@dataclass(frozen=True)
class DERReport:
    files: dict[str, dict[str, float]]  # uri -> pyannote's components (seconds)
    total: dict[str, float]

    @staticmethod
    def rate(c: Mapping[str, float], key: str) -> float:
        return c[key] / c["total"] if c["total"] > 0 else 0.0

    @property
    def der(self) -> float:
        return self.total["diarization error rate"]

    def table(self) -> str:
        head = f"{'file':<28} {'DER':>7} {'missed':>7} {'false al.':>9} {'confusion':>9} {'speech s':>9}"
        rows = [head, "-" * len(head)]
        for uri, c in list(self.files.items()) + [("TOTAL", self.total)]:
            rows.append(
                f"{uri[:28]:<28} {100 * c['diarization error rate']:6.2f}% "
                f"{100 * self.rate(c, 'missed detection'):6.2f}% {100 * self.rate(c, 'false alarm'):8.2f}% "
                f"{100 * self.rate(c, 'confusion'):8.2f}% {c['total']:9.1f}"
            )
        return "\n".join(rows)


def der(
    references: Mapping[str, Annotation], hypotheses: Mapping[str, Annotation], collar: float = 0.25,
    within: Mapping[str, Timeline] | None = None,
) -> DERReport:
    """DER over the files of ``references``; a file missing from ``hypotheses`` counts as all missed.

    ``within`` scores each file only inside its timeline (pyannote's UEM), e.g. where the
    reference has two or more speakers (``reference.get_overlap()``).
    """
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'uem was approximated': scoring the union is what we want
        for uri, ref in references.items():
            hyp = hypotheses.get(uri, Annotation(uri=uri))
            uem = None if within is None else within.get(uri, Timeline(uri=uri))
            files[uri] = dict(metric(ref, hyp, uem=uem, detailed=True))
    keys = ("missed detection", "false alarm", "confusion", "correct", "total")
    total = {k: sum(c[k] for c in files.values()) for k in keys}
    errors = total["missed detection"] + total["false alarm"] + total["confusion"]
    total["diarization error rate"] = errors / total["total"] if total["total"] > 0 else 0.0
    return DERReport(files, total)
