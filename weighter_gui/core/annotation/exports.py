"""Exports of a project, and readers for the same formats (tests, reference import).

What is exported is the *corrected* diarization of each analysed file
(``ProjectFile.speakers()``): named slots under their names, unnamed kept slots
under their labels (``S3``), slots marked "not a speaker" and unnamed slots below
the threshold dropped, merged slots joined into one speaker, two groups with one
name joined; each speaker's segments are the union of its slots' segments.

* ``export_manifest(project, path)`` - the training label manifest
  (``core.manifest``; ``weighter train`` reads it): one ``ManifestItem`` per file
  with at least one like. ``likes``: the named speakers, then the hand-added ones.
  ``segments``: the named speakers' segments; ``None`` when some like has no
  timings (a hand-added like, or a named slot without speech), because the
  trainer would read a like without segments as silent throughout (such a file
  trains only in the "likes" regime; the report warns). ``duration``,
  ``sample_rate`` and ``sha256`` come from the audio file. Files without likes or
  with missing audio are skipped (the report says which and why).
* ``export_rttm(project, path)`` - one RTTM file for all files (uri = file key;
  whitespace in names becomes ``_``, as RTTM fields cannot hold spaces).
* ``export_audacity(project, folder)`` - ``KEY.txt`` per audio file, one label per
  segment: ``start<TAB>end<TAB>speaker``, sorted by start. One file per *audio
  file* (not per speaker) because Audacity imports a label track next to the
  recording it belongs to; overlapping labels are fine in one Audacity track.
* ``export_textgrid(project, folder)`` - ``KEY.TextGrid`` per audio file, Praat's
  long text format: one IntervalTier per speaker (overlapping speech is fine:
  tiers are per speaker), intervals tiling 0..duration, the speaker's name on
  speech and empty text in the gaps. Hand-added likes get an empty tier, ready
  to be filled in in Praat.

Every file is written atomically (``files.atomic_write``). Each export returns an
``ExportReport``; one with nothing to write raises ``ExportError``.

Readers: ``read_audacity_labels``, ``read_textgrid`` (long and short text format,
UTF-8 or UTF-16), and ``read_reference`` (RTTM, TextGrid or Audacity labels as a
file's reference). ``evaluate`` scores the corrected (or raw model) diarization
against the imported references (DER, pyannote.metrics).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyannote.core import Annotation, Segment, Timeline

from weighter_gui.core.annotation.project import Project, ProjectFile
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.audio import AudioError
from weighter_gui.core.io.files import atomic_write
from weighter_gui.core.io.label_files import textgrid_text
from weighter_gui.core.io.manifest import ManifestItem, write_manifest

__all__ = [
    "ExportError",
    "ExportReport",
    "corrected_annotation",
    "corrected_segments",
    "evaluate",
    "export_audacity",
    "export_manifest",
    "export_rttm",
    "export_textgrid",
    "manifest_items",
    "model_segments",
    "rttm_speaker",
]


class ExportError(ProjectError):
    """Nothing to export, or the export cannot be written."""


@dataclass
class ExportReport:
    paths: list[Path] = field(default_factory=list)  # files written
    exported: list[str] = field(default_factory=list)  # file keys in them
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"Exported {len(self.exported)} file(s) to {', '.join(p.name for p in self.paths) or 'nothing'}."
        ]
        lines += [f"Skipped {key}: {why}" for key, why in self.skipped]
        lines += self.warnings
        return "\n".join(lines)


def _files(project: Project, keys: Iterable[str] | None) -> list[ProjectFile]:
    return list(project.files.values()) if keys is None else [project.file(k) for k in keys]


def _safe_name(key: str) -> str:
    """A file name for ``key`` on any system."""
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", key).strip(" .")
    return name or "file"


def _write(path: Path, text: str) -> Path:
    try:
        return atomic_write(path, text)
    except OSError as e:
        raise ExportError(
            f"{path}: cannot write ({e.strerror or e}); check the folder and free space"
        ) from None


# ------------------------------------------------------------------------------ corrected


def corrected_segments(pf: ProjectFile) -> list[tuple[float, float, str]]:
    """(start, end, speaker) of the corrected diarization, sorted by start."""
    out = [(a, b, sp.label) for sp in pf.speakers() for a, b in sp.segments if b > a]
    return sorted(out, key=lambda s: (s[0], s[1], s[2]))


def model_segments(pf: ProjectFile) -> list[tuple[float, float, str]]:
    """The model's own diarization (slots at the file's threshold, labels ignored)."""
    if pf.analysis is None:
        return []
    thr = pf.effective_threshold
    out = [(a, b, s.label) for s in pf.analysis.slots if s.confidence >= thr for a, b in s.segments if b > a]
    return sorted(out)


def rttm_speaker(label: str) -> str:
    """A speaker name as an RTTM field (no whitespace)."""
    return "_".join(label.split())


def corrected_annotation(pf: ProjectFile, which: str = "corrected"):
    """A ``pyannote.core.Annotation`` (uri = key) of the corrected or the ``"model"`` diarization."""
    segs = corrected_segments(pf) if which == "corrected" else model_segments(pf)
    ann = Annotation(uri=pf.key)
    for i, (a, b, spk) in enumerate(segs):
        ann[Segment(a, b), str(i)] = rttm_speaker(spk)
    return ann


# ------------------------------------------------------------------------------ RTTM


def export_rttm(
    project: Project, path: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """All analysed files' corrected diarization in one RTTM file."""
    path = Path(path)
    report = ExportReport()
    lines = []
    for pf in _files(project, keys):
        if pf.analysis is None:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        segs = corrected_segments(pf)
        if not segs:
            report.warnings.append(f"{pf.key}: no speaker kept; the RTTM has no line for it")
        for a, b, spk in segs:
            lines.append(f"SPEAKER {pf.key} 1 {a:.3f} {b - a:.3f} <NA> <NA> {rttm_speaker(spk)} <NA> <NA>\n")
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{path}: nothing to export: no file has been analysed yet")
    report.paths.append(_write(path, "".join(lines)))
    reviewed = {pf.key: pf.reviewed for pf in _files(project, report.exported) if pf.reviewed}
    if reviewed:  # the ranges a person checked, for scoring only there
        report.paths.append(_write(path.with_suffix(".uem"), uem_text(reviewed)))
    return report


def uem_text(ranges: dict[str, tuple[tuple[float, float], ...]]) -> str:
    """UEM lines (uri, channel, start, end) of each file's ranges, written by pyannote.core."""
    out = io.StringIO()
    for uri, spans in ranges.items():
        Timeline([Segment(a, b) for a, b in spans], uri=uri).write_uem(out)
    return out.getvalue()


# ------------------------------------------------------------------------------ manifest


def manifest_items(project: Project, keys: Iterable[str] | None = None, report: ExportReport | None = None):
    """The ``ManifestItem``s ``export_manifest`` writes (computes sha256 of the audio)."""
    report = report if report is not None else ExportReport()
    items = []
    for pf in _files(project, keys):
        likes = pf.likes
        if not likes:
            report.skipped.append((pf.key, "no speaker named yet"))
            continue
        if not pf.exists:
            report.skipped.append((pf.key, f"audio file missing ({pf.audio}); relink it"))
            continue
        try:
            facts = pf.audio_facts()
        except (AudioError, OSError) as e:
            report.skipped.append((pf.key, f"audio file unreadable ({e})"))
            continue
        speakers = pf.speakers()
        timed = {sp.name: sp.segments for sp in speakers if sp.name is not None and sp.segments}
        untimed = [n for n in likes if n not in timed]
        segments = None
        if untimed:
            report.warnings.append(
                f"{pf.key}: {', '.join(repr(n) for n in untimed)} without timings (added by hand or "
                "no speech found); written without segments, so this file trains in the 'likes' regime only"
            )
        else:
            segments = tuple(sorted((a, b, name) for name, segs in timed.items() for a, b in segs))
        unnamed = [sp.label for sp in speakers if sp.name is None]
        if unnamed:
            report.warnings.append(
                f"{pf.key}: kept slot(s) {', '.join(unnamed)} have no name; training will treat them as no speaker"
            )
        duration = facts.duration if facts.duration is not None else pf.duration
        items.append(
            ManifestItem(
                id=pf.key,
                audio=pf.audio,
                likes=likes,
                segments=segments,
                duration=None if duration is None else round(float(duration), 3),
                sample_rate=facts.sample_rate,
                sha256=facts.sha256,
                # where a person checked the turns (kept for training on human timings there)
                extra={"reviewed": [[a, b] for a, b in pf.reviewed]} if pf.reviewed else {},
            )
        )
        report.exported.append(pf.key)
    return items, report


def export_manifest(
    project: Project, path: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """The training manifest (JSON Lines) of the files with named speakers."""
    path = Path(path)
    items, report = manifest_items(project, keys)
    if not items:
        raise ExportError(f"{path}: nothing to export: no file has a named speaker and readable audio yet")
    try:
        report.paths.append(write_manifest(path, items))
    except OSError as e:
        raise ExportError(
            f"{path}: cannot write ({e.strerror or e}); check the folder and free space"
        ) from None
    return report


# ------------------------------------------------------------------------------ Audacity


def audacity_text(pf: ProjectFile) -> str:
    return "".join(f"{a:.6f}\t{b:.6f}\t{spk}\n" for a, b, spk in corrected_segments(pf))


def export_audacity(
    project: Project, folder: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """``KEY.txt`` Audacity label track per analysed file."""
    folder = Path(folder)
    report = ExportReport()
    for pf in _files(project, keys):
        if pf.analysis is None:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        report.paths.append(_write(folder / f"{_safe_name(pf.key)}.txt", audacity_text(pf)))
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{folder}: nothing to export: no file has been analysed yet")
    return report


# ------------------------------------------------------------------------------ TextGrid




def export_textgrid(
    project: Project, folder: str | os.PathLike[str], keys: Iterable[str] | None = None
) -> ExportReport:
    """``KEY.TextGrid`` per analysed file: one tier per speaker (hand-added likes: empty tiers)."""
    folder = Path(folder)
    report = ExportReport()
    for pf in _files(project, keys):
        if pf.analysis is None or not pf.analysis.duration > 0:
            report.skipped.append((pf.key, "not analysed yet"))
            continue
        tiers = [(sp.label, sp.segments) for sp in pf.speakers()]
        names = {name for name, _ in tiers}
        tiers += [(name, ()) for name in pf.likes if name not in names]
        report.paths.append(
            _write(folder / f"{_safe_name(pf.key)}.TextGrid", textgrid_text(pf.analysis.duration, tiers))
        )
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{folder}: nothing to export: no file has been analysed yet")
    return report


# ------------------------------------------------------------------------------ references


def evaluate(
    project: Project, keys: Iterable[str] | None = None, collar: float = 0.25, which: str = "corrected"
):
    """DER of the files with a reference: ``which`` is "corrected" or "model"."""
    refs, hyps = {}, {}
    for pf in _files(project, keys):
        if pf.reference is None or pf.analysis is None:
            continue
        ref = Annotation(uri=pf.key)
        for i, (a, b, spk) in enumerate(pf.reference.segments):
            if b > a:
                ref[Segment(a, b), str(i)] = spk
        refs[pf.key] = ref
        hyps[pf.key] = corrected_annotation(pf, which)
    if not refs:
        raise ExportError("no analysed file has a reference yet; import an RTTM for one first")
    return der(refs, hyps, collar=collar)
