"""Scoring diarizations: RTTM files in and out, DER with its parts (pyannote.metrics).

DER = (missed speech + false alarm + speaker confusion) / reference speech, with
the optimal one-to-one mapping of hypothesis to reference speakers, overlapped
speech scored. ``collar`` follows pyannote.metrics: the total width of the
un-scored zone around each reference boundary (0.25 s removes 0.125 s on each side).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from pyannote.core import Annotation, Timeline

__all__ = ["DERReport", "der"]


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
