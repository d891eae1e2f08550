"""Exports of a project: the corrected diarization of each analysed file, in other
tools' formats and as training data for other stacks.

What is exported is the *corrected* diarization (``ProjectFile.speakers()``): the
user's turns where they edited them, else named slots under their names, unnamed kept
slots under their labels (``S3``), "not a speaker" and unnamed slots below the
threshold dropped, merged slots joined. Reviewed ranges become UEM.

* ``export_rttm(project, path)`` - one RTTM file for all files (uri = file key;
  whitespace in names becomes ``_``), with a UEM of the reviewed ranges beside it.
* ``export_turns(project, folder, fmt)`` - one file per audio file in a format of
  ``core.io.label_files`` (TextGrid, EAF, Audacity, CSV, WebVTT, SRT, JSON); tiered
  formats get a tier per speaker, hand-added likes an empty one.
* ``export_manifest(project, path)`` - the training label manifest (``weighter train``).
* ``export_pyannote_protocol(project, folder)`` - a pyannote.database protocol
  (``database.yml``, RTTM, UEM, list files, links to the audio).
* ``export_nemo_manifest(project, folder)`` - NeMo's diarization manifest with an
  RTTM and a UEM per file.
* ``export_hf_dataset(project, folder)`` - a Hugging Face ``datasets`` folder in the
  layout of the ``diarizers`` project (the optional extra ``hf``).

Every file is written atomically. Each export returns an ``ExportReport``; one with
nothing to write raises ``ExportError``. ``evaluate`` scores the corrected (or raw
model) diarization against the imported references (DER, pyannote.metrics).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyannote.core import Annotation, Segment

from weighter_gui.core.annotation.project import Project, ProjectFile
from weighter_gui.core.annotation.storage import ProjectError
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.audio import AudioError
from weighter_gui.core.io.files import atomic_write
from weighter_gui.core.io.label_files import LabelFileError, format_of, rttm_speaker, uem_text, write_turns
from weighter_gui.core.io.manifest import ManifestItem, write_manifest

__all__ = [
    "ExportError",
    "ExportReport",
    "corrected_annotation",
    "corrected_segments",
    "evaluate",
    "export_hf_dataset",
    "export_manifest",
    "export_nemo_manifest",
    "export_pyannote_protocol",
    "export_rttm",
    "export_turns",
    "manifest_items",
    "model_segments",
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
        extra = {"reviewed": [[a, b] for a, b in pf.reviewed]} if pf.reviewed else {}
        if untimed and timed:  # where the named slots were heard: enrols their voices (train.py), trains nothing
            extra["named_segments"] = sorted([a, b, name] for name, segs in timed.items() for a, b in segs)
        items.append(
            ManifestItem(
                id=pf.key,
                audio=pf.audio,
                likes=likes,
                segments=segments,
                duration=None if duration is None else round(float(duration), 3),
                sample_rate=facts.sample_rate,
                sha256=facts.sha256,
                # "reviewed": where a person checked the turns (kept for training on human timings there)
                extra=extra,
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


def export_turns(project: Project, folder: str | os.PathLike[str], fmt: str,
                 keys: Iterable[str] | None = None) -> ExportReport:
    """``KEY.<ext>`` per analysed file in ``fmt`` (``core.io.label_files.FORMATS``)."""
    folder = Path(folder)
    try:
        suffix = format_of(folder, fmt).suffixes[0]
    except LabelFileError as e:
        raise ExportError(str(e)) from None
    report = ExportReport()
    for pf in _files(project, keys):
        if pf.duration is None or not pf.speakers():
            report.skipped.append((pf.key, "not analysed yet" if pf.analysis is None else "no speaker"))
            continue
        path = folder / f"{_safe_name(pf.key)}{suffix}"
        try:
            write_turns(path, corrected_segments(pf), uri=pf.key, duration=pf.duration, fmt=fmt,
                        speakers=pf.likes, media=pf.audio)
        except OSError as e:
            raise ExportError(f"{path}: cannot write ({e.strerror or e}); check the folder and free space") from None
        report.paths.append(path)
        report.exported.append(pf.key)
    if not report.exported:
        raise ExportError(f"{folder}: nothing to export: no file has been analysed yet")
    return report


# ------------------------------------------------------------------------------ training data for other stacks


def _scored(pf: ProjectFile) -> tuple[tuple[float, float], ...]:
    """What a person checked (the reviewed ranges), else the whole file."""
    return pf.reviewed or ((0.0, float(pf.duration)),)


def _dataset_files(project: Project, keys, report: ExportReport) -> list[ProjectFile]:
    out = []
    for pf in _files(project, keys):
        if pf.duration is None or not pf.speakers():
            report.skipped.append((pf.key, "not analysed yet" if pf.analysis is None else "no speaker"))
        elif not pf.exists:
            report.skipped.append((pf.key, f"audio file missing ({pf.audio}); relink it"))
        else:
            out.append(pf)
    if not out:
        raise ExportError("nothing to export: no analysed file with its audio")
    return out


def export_pyannote_protocol(project: Project, folder: str | os.PathLike[str], keys: Iterable[str] | None = None,
                             name: str = "Weighter") -> ExportReport:
    """A pyannote.database protocol ``<name>.SpeakerDiarization.Project`` in ``folder``:
    ``database.yml``, ``train.rttm``, ``train.uem`` (the reviewed ranges, else whole files),
    ``train.lst``, and ``audio/`` with a link per file named after its uri. Every file is
    in the train subset (split it by editing the list files)."""
    folder = Path(folder)
    report = ExportReport()
    files = _dataset_files(project, keys, report)
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    suffixes = []
    for pf in files:
        link = audio / f"{pf.key}{pf.audio.suffix.lower()}"
        link.unlink(missing_ok=True)
        try:
            link.symlink_to(pf.audio)
        except OSError:  # no links here (some Windows set-ups): a copy
            import shutil

            shutil.copy2(pf.audio, link)
        suffixes.append(pf.audio.suffix.lower())
    templates = [f"audio/{{uri}}{s}" for s in dict.fromkeys(suffixes)]
    report.paths.append(_write(folder / "train.rttm", "".join(
        f"SPEAKER {pf.key} 1 {a:.3f} {b - a:.3f} <NA> <NA> {rttm_speaker(spk)} <NA> <NA>\n"
        for pf in files for a, b, spk in corrected_segments(pf))))
    report.paths.append(_write(folder / "train.uem", uem_text({pf.key: _scored(pf) for pf in files})))
    report.paths.append(_write(folder / "train.lst", "".join(f"{pf.key}\n" for pf in files)))
    database = (
        "Databases:\n"
        f"  {name}:\n" + "".join(f"    - {t}\n" for t in templates)
        + "Protocols:\n"
        f"  {name}:\n"
        "    SpeakerDiarization:\n"
        "      Project:\n"
        "        train:\n"
        "          uri: train.lst\n"
        "          annotation: train.rttm\n"
        "          annotated: train.uem\n"
    )
    report.paths.append(_write(folder / "database.yml", database))
    report.exported += [pf.key for pf in files]
    report.warnings.append(f"load it with pyannote.database: registry.load_database('{folder / 'database.yml'}'), "
                           f"then registry.get_protocol('{name}.SpeakerDiarization.Project')")
    return report


def export_nemo_manifest(project: Project, folder: str | os.PathLike[str],
                         keys: Iterable[str] | None = None) -> ExportReport:
    """NeMo's speaker-diarization manifest (``manifest.json``, one JSON object per line:
    audio_filepath, offset, duration, label, text, num_speakers, rttm_filepath,
    uem_filepath) with ``rttm/KEY.rttm`` and ``uem/KEY.uem`` beside it."""
    folder = Path(folder)
    report = ExportReport()
    lines = []
    for pf in _dataset_files(project, keys, report):
        rttm = write_turns(folder / "rttm" / f"{_safe_name(pf.key)}.rttm", corrected_segments(pf), uri=pf.key,
                           duration=pf.duration)
        uem = _write(folder / "uem" / f"{_safe_name(pf.key)}.uem", uem_text({pf.key: _scored(pf)}))
        lines.append(json.dumps({
            "audio_filepath": str(pf.audio), "offset": 0.0, "duration": round(float(pf.duration), 3),
            "label": "infer", "text": "-", "num_speakers": len(pf.speakers()),
            "rttm_filepath": str(rttm.absolute()), "uem_filepath": str(uem.absolute()),
        }))
        report.exported.append(pf.key)
    report.paths.insert(0, _write(folder / "manifest.json", "\n".join(lines) + "\n"))
    return report


def export_hf_dataset(project: Project, folder: str | os.PathLike[str],
                      keys: Iterable[str] | None = None) -> ExportReport:
    """A Hugging Face ``datasets`` folder (``Dataset.save_to_disk``) in the ``diarizers``
    layout: audio, timestamps_start, timestamps_end, speakers. Needs the ``hf`` extra."""
    try:
        import datasets
    except ImportError:
        raise ExportError("the Hugging Face export needs the datasets package: "
                          "pip install 'weighter-studio[hf]' (or pip install datasets soundfile)") from None
    folder = Path(folder)
    report = ExportReport()
    rows = {"audio": [], "timestamps_start": [], "timestamps_end": [], "speakers": []}
    for pf in _dataset_files(project, keys, report):
        segments = corrected_segments(pf)
        rows["audio"].append(str(pf.audio))
        rows["timestamps_start"].append([round(a, 3) for a, _, _ in segments])
        rows["timestamps_end"].append([round(b, 3) for _, b, _ in segments])
        rows["speakers"].append([s for _, _, s in segments])
        report.exported.append(pf.key)
    datasets.disable_progress_bars()  # no console bars (and no tqdm monitor thread) inside the app
    dataset = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    try:
        dataset.save_to_disk(str(folder))
    except OSError as e:
        raise ExportError(f"{folder}: cannot write ({e.strerror or e}); check the folder and free space") from None
    report.paths.append(folder)
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
