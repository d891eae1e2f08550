"""Projects: audio files, their analyses and the user's labels, saved as one JSON file.

* ``Project`` - ordered ``files`` (key -> ``ProjectFile``); ``Project.create(path)``,
  ``Project.load(path)``, ``project.save()``.
* ``ProjectFile`` - one audio file: its path, its ``Analysis`` (the model's slots),
  the user's ``Labels``, an optional threshold override and reference (RTTM).

The format is described in ``storage``. Saving is atomic: a temporary file in the same
folder, flushed and fsynced, then ``os.replace`` and an fsync of the folder, so a crash
mid-save leaves the previous project intact. A missing audio file is not an error:
``ProjectFile.exists`` is False and the GUI flags it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from weighter_gui import __version__
from weighter_gui.core.annotation.analysis import Analysis
from weighter_gui.core.annotation.labels import (
    AudioFacts,
    LabelError,
    Labels,
    Reference,
    SlotState,
    Speaker,
    labels_from_json,
)
from weighter_gui.core.annotation.storage import (
    ADVICE_DAMAGED,
    CURVES_SUFFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    PROJECT_SUFFIX,
    STALE_TEMP_SECONDS,
    TURNS_FORMAT_VERSION,
    ProjectError,
    ProjectVersionError,
    dumps_json,
    path_from_json,
    path_to_json,
    read_number,
    read_segments,
    utc_now,
)
from weighter_gui.core.annotation.turns import Turn, turns_from_json
from weighter_gui.core.io.audio import probe
from weighter_gui.core.io.files import atomic_write, file_sha256
from weighter_gui.core.segments import union_segments


@dataclass(eq=False)


class ProjectFile:
    """One audio file of a project. Commands replace its fields, never mutate them."""

    key: str
    audio: Path  # absolute
    analysis: Analysis | None = None
    labels: Labels = field(default_factory=Labels)
    threshold: float | None = None  # None: the analysis's own
    reference: Reference | None = None
    reviewed: tuple[tuple[float, float], ...] = ()  # time ranges a person has checked (sorted, disjoint)
    turns: tuple[Turn, ...] | None = None  # the user's corrected turns; None: the model's, as labelled
    facts: AudioFacts | None = None  # a cache, not part of undo's meaning
    extra: dict = field(default_factory=dict)  # unknown keys from a file, written back

    @property
    def exists(self) -> bool:
        """False when the audio file is missing (flag it; the project still works)."""
        return self.audio.is_file()

    @property
    def effective_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        if self.analysis is not None:
            return self.analysis.threshold
        return 0.5

    @property
    def is_labelled(self) -> bool:
        return not self.labels.empty or self.turns is not None

    def root(self, label: str) -> str:
        return self.labels.root(label)

    def name_of(self, label: str) -> str | None:
        """The name of the slot's group (None: unnamed or not a speaker)."""
        if label in self.labels.not_speaker:
            return None
        return self.labels.names.get(self.labels.root(label))

    def is_kept(self, label: str) -> bool:
        if self.analysis is None or self.analysis.slot(label) is None or label in self.labels.not_speaker:
            return False
        root = self.labels.root(label)
        if root in self.labels.names:
            return True
        best = max(self.analysis.slot(m).confidence for m in self.labels.members(root))
        return best >= self.effective_threshold

    def slot_states(self) -> list[SlotState]:
        if self.analysis is None:
            return []
        out = []
        for s in self.analysis.slots:
            out.append(
                SlotState(
                    s.label,
                    s.confidence,
                    s.speech_seconds,
                    self.name_of(s.label),
                    self.labels.root(s.label),
                    self.labels.merges.get(s.label),
                    s.label in self.labels.not_speaker,
                    self.is_kept(s.label),
                )
            )
        return out

    @property
    def likes(self) -> tuple[str, ...]:
        """Speakers in the file: named groups in slot order, then hand-added names, sorted."""
        out: list[str] = []
        if self.analysis is not None:
            for s in self.analysis.slots:
                name = self.name_of(s.label)
                if name is not None and name not in out:
                    out.append(name)
        for t in self.turns or ():
            if t.name is not None and t.name not in out:
                out.append(t.name)
        out += sorted(n for n in self.labels.likes if n not in out)
        return tuple(out)

    def speakers(self) -> list[Speaker]:
        """The corrected diarization: kept groups (or the user's turns), same names joined,
        in slot order, then speakers drawn by name."""
        if self.analysis is None and self.turns is None:
            return []
        groups: dict[str, dict] = {}
        order: list[str] = []

        def add(label, name, slot, segments):
            if label not in groups:
                groups[label] = {"name": name, "slots": [], "segments": []}
                order.append(label)
            if slot is not None and slot not in groups[label]["slots"]:
                groups[label]["slots"].append(slot)
            groups[label]["segments"].extend(segments)

        if self.turns is not None:
            slot_order = {label: i for i, label in enumerate(self.analysis.labels if self.analysis else ())}
            for t in sorted(self.turns, key=lambda t: (slot_order.get(t.slot, len(slot_order)), t.name or "", t)):
                label = self.turn_speaker(t)
                if label is not None:
                    add(label, t.name if t.slot is None else self.name_of(t.slot), t.slot, [(t.start, t.end)])
        else:
            names = set(self.labels.names.values()) | set(self.labels.likes)
            for s in self.analysis.slots:
                if not self.is_kept(s.label):
                    continue
                root = self.labels.root(s.label)
                name = self.labels.names.get(root)
                label = name if name is not None else (root if root not in names else f"{root}_unnamed")
                add(label, name, s.label, s.segments)
        return [
            Speaker(label, groups[label]["name"], tuple(groups[label]["slots"]), union_segments(groups[label]["segments"]))
            for label in order
        ]

    def turn_speaker(self, turn: Turn) -> str | None:
        """The speaker label a turn is shown and exported under (None: its slot is not a speaker)."""
        if turn.slot is None:
            return turn.name
        if self.analysis is None or self.analysis.slot(turn.slot) is None or turn.slot in self.labels.not_speaker:
            return None
        root = self.labels.root(turn.slot)
        name = self.labels.names.get(root)
        if name is not None:
            return name
        taken = set(self.labels.names.values()) | set(self.labels.likes)
        return root if root not in taken else f"{root}_unnamed"

    def current_turns(self) -> tuple[Turn, ...]:
        """The turns an edit starts from: the user's, or else the model's as labelled now,
        one turn per stretch of each kept speaker (the speaker's first slot)."""
        if self.turns is not None:
            return self.turns
        out = []
        for sp in self.speakers():
            slot = self.labels.root(sp.slots[0])
            out += [Turn(round(a, 3), round(b, 3), slot) for a, b in sp.segments if b - a > 0]
        return tuple(sorted(out))

    def audio_facts(self, *, sha256: bool = True) -> AudioFacts:
        """sha256, sample rate and duration of the audio file, cached by size and mtime.

        Raises ``OSError`` for a missing file and ``AudioError`` for an unreadable one.
        """
        st = self.audio.stat()
        facts = self.facts
        if facts is None or (facts.size, facts.mtime_ns) != (st.st_size, st.st_mtime_ns):
            info = probe(self.audio)
            facts = AudioFacts(st.st_size, st.st_mtime_ns, None, info.sample_rate, info.duration)
        if sha256 and facts.sha256 is None:
            facts = replace(facts, sha256=file_sha256(self.audio))
        self.facts = facts
        return facts

    @property
    def duration(self) -> float | None:
        if self.analysis is not None:
            return self.analysis.duration
        if self.facts is not None:
            return self.facts.duration
        return None

    @property
    def reviewed_share(self) -> float:
        """How much of the file a person has checked (0..1; 0 while its length is unknown)."""
        duration = self.duration
        if not duration:
            return 0.0
        return min(1.0, sum(b - a for a, b in self.reviewed) / duration)

    # -- json ---------------------------------------------------------------------------

    def to_json(self, base: Path) -> dict:
        d = dict(self.extra)
        d.update(
            {
                "key": self.key,
                "audio": path_to_json(self.audio, base),
                "audio_absolute": str(self.audio),
                "threshold": self.threshold,
                "analysis": None if self.analysis is None else self.analysis.rendered(base),
                "labels": self.labels.to_json(),
                "reference": None
                if self.reference is None
                else {
                    "source": self.reference.source,
                    "segments": [[round(a, 3), round(b, 3), s] for a, b, s in self.reference.segments],
                },
                "reviewed": [[round(a, 3), round(b, 3)] for a, b in self.reviewed],
                "turns": None if self.turns is None else [t.to_json() for t in self.turns],
                "audio_facts": None
                if self.facts is None
                else {
                    "size": self.facts.size,
                    "mtime_ns": self.facts.mtime_ns,
                    "sha256": self.facts.sha256,
                    "sample_rate": self.facts.sample_rate,
                    "duration": self.facts.duration,
                },
            }
        )
        return d
_FILE_KEYS = {"key", "audio", "audio_absolute", "threshold", "analysis", "labels", "reference", "reviewed",
              "turns", "audio_facts"}


def file_from_json(d: object, index: int, base: Path, curves_dir: Path, path: Path) -> ProjectFile:
    label = f"file {index + 1}"
    if isinstance(d, dict) and isinstance(d.get("key"), str):
        label += f" ({d['key']!r})"

    def fail(problem: str) -> ProjectError:
        return ProjectError(f"{path}: {label}: {problem}; {ADVICE_DAMAGED}")

    if not isinstance(d, dict):
        raise fail('each entry of "files" must be an object')
    key = d.get("key")
    if not isinstance(key, str) or not key or any(c.isspace() for c in key):
        raise fail('"key" must be non-empty text without spaces')
    audio = d.get("audio")
    absolute = d.get("audio_absolute")
    if not isinstance(audio, str) or not audio:
        raise fail('"audio" must be the audio file\'s path')
    if absolute is not None and not isinstance(absolute, str):
        raise fail('"audio_absolute" must be text')
    threshold = d.get("threshold")
    if threshold is not None:
        threshold = read_number(threshold, '"threshold"', fail)
    analysis = None
    if d.get("analysis") is not None:
        analysis = Analysis.from_json(d["analysis"], base, curves_dir, fail)
    labels = labels_from_json(d.get("labels", {}), analysis, fail)
    reference = None
    ref = d.get("reference")
    if ref is not None:
        if not isinstance(ref, dict) or not isinstance(ref.get("source", ""), str):
            raise fail('"reference" must be {"source": text, "segments": [[start, end, speaker], ...]}')
        segs = ref.get("segments")
        if not isinstance(segs, list):
            raise fail('"reference.segments" must be a list')
        out = []
        for i, seg in enumerate(segs):
            if not (
                isinstance(seg, list)
                and len(seg) == 3
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in seg[:2])
                and isinstance(seg[2], str)
                and 0 <= seg[0] <= seg[1]
            ):
                raise fail(f'"reference.segments" item {i + 1} is not [start, end, speaker]')
            out.append((float(seg[0]), float(seg[1]), seg[2]))
        reference = Reference(tuple(out), ref.get("source", ""))
    reviewed = union_segments(read_segments(d.get("reviewed", []), '"reviewed"', fail))
    turns = turns_from_json(d.get("turns"), fail)
    if turns is not None:
        unknown = sorted({t.slot for t in turns if t.slot is not None and (analysis is None or analysis.slot(t.slot) is None)})
        if unknown:
            raise fail(f'"turns" name slot(s) {", ".join(unknown)} the analysis does not have')
    facts = None
    fd = d.get("audio_facts")
    if isinstance(fd, dict):  # a cache: anything odd is simply dropped
        try:
            facts = AudioFacts(
                int(fd["size"]),
                int(fd["mtime_ns"]),
                fd.get("sha256") if isinstance(fd.get("sha256"), str) else None,
                int(fd["sample_rate"]) if fd.get("sample_rate") is not None else None,
                float(fd["duration"]) if fd.get("duration") is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            facts = None
    return ProjectFile(
        key=key,
        audio=path_from_json(audio, absolute, base),
        analysis=analysis,
        labels=labels,
        threshold=threshold,
        reference=reference,
        reviewed=reviewed,
        turns=turns,
        facts=facts,
        extra={k: v for k, v in d.items() if k not in _FILE_KEYS},
    )


def key_base(audio: Path) -> str:
    return "_".join(audio.stem.split()) or "file"


class Project:
    """The files of one labelling project. ``files`` is ordered (the order shown)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path | None = Path(path).absolute() if path is not None else None
        self.files: dict[str, ProjectFile] = {}
        self.extra: dict = {}  # unknown top-level keys from the file, written back
        self.loaded_version: int | None = None

    # -- files ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.files)

    def file(self, key: str) -> ProjectFile:
        try:
            return self.files[key]
        except KeyError:
            raise LabelError(f"the project has no file {key!r}") from None

    def key_for(self, audio: str | os.PathLike[str]) -> str | None:
        """The key of the file whose audio is ``audio`` (None: not in the project)."""
        target = os.path.normcase(os.path.abspath(audio))
        for key, pf in self.files.items():
            if os.path.normcase(str(pf.audio)) == target:
                return key
        return None

    def new_key(self, audio: str | os.PathLike[str], taken: Iterable[str] = ()) -> str:
        base = key_base(Path(audio))
        used = set(self.files) | set(taken)
        key, n = base, 1
        while key in used:
            n += 1
            key = f"{base}-{n}"
        return key

    def speaker_names(self) -> list[str]:
        """Every name used in the project, sorted."""
        names = set()
        for pf in self.files.values():
            names |= set(pf.labels.names.values()) | set(pf.labels.likes)
        return sorted(names)

    def missing_files(self) -> list[str]:
        """Keys of files whose audio is not where the project says."""
        return [k for k, pf in self.files.items() if not pf.exists]

    def _insert(self, pf: ProjectFile, index: int) -> None:
        items = list(self.files.items())
        items.insert(min(index, len(items)), (pf.key, pf))
        self.files = dict(items)

    # -- disk -------------------------------------------------------------------------

    @property
    def curves_dir(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + CURVES_SUFFIX)

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, overwrite: bool = False) -> Project:
        """A new, empty project, saved at once; refuses to replace an existing file."""
        path = Path(path).absolute()
        if path.exists() and not overwrite:
            raise ProjectError(f"{path}: a file of that name exists already; open it, or choose another name")
        project = cls(path)
        project.save()
        return project

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Open a project file. Raises ``ProjectError`` (never changes the file)."""
        path = Path(path).absolute()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProjectError(f"{path}: project file not found; check the name and folder") from None
        except IsADirectoryError:
            raise ProjectError(
                f"{path}: is a folder, not a project file; pick the {PROJECT_SUFFIX} file inside"
            ) from None
        except OSError as e:
            raise ProjectError(
                f"{path}: cannot read the project ({e.strerror or e}); check its permissions"
            ) from None
        if not raw.strip():
            raise ProjectError(
                f"{path}: the project file is empty (a copy cut short?); restore a backup. The file was not changed"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(
                f"{path}: not a Weighter Studio project (not UTF-8 text); "
                f"pick the {PROJECT_SUFFIX} file. The file was not changed"
            ) from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProjectError(
                f"{path}: not a readable project: broken JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                f"the file is damaged or cut short; {ADVICE_DAMAGED}"
            ) from None
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise ProjectError(
                f'{path}: not a Weighter Studio project (no "format": "{FORMAT_NAME}"); '
                f"pick a {PROJECT_SUFFIX} file. The file was not changed"
            )
        version = d.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ProjectError(
                f'{path}: "format_version" must be a whole number >= 1, got {version!r}; {ADVICE_DAMAGED}'
            )
        if version > FORMAT_VERSION:
            writer = d.get("code_version")
            by = f" (by Weighter Studio {writer})" if isinstance(writer, str) else ""
            raise ProjectVersionError(
                f"{path}: this project was saved in project format {version}{by}, newer than this "
                f"Weighter Studio {__version__} reads (up to format {FORMAT_VERSION}); update Weighter "
                "Studio to open it. The file was not changed",
                version,
            )
        files = d.get("files")
        if not isinstance(files, list):
            raise ProjectError(f'{path}: "files" must be a list; {ADVICE_DAMAGED}')
        project = cls(path)
        project.loaded_version = version
        base = path.parent
        curves_dir = project.curves_dir
        for i, entry in enumerate(files):
            pf = file_from_json(entry, i, base, curves_dir, path)
            if pf.key in project.files:
                raise ProjectError(
                    f"{path}: file {i + 1}: key {pf.key!r} repeats an earlier file; {ADVICE_DAMAGED}"
                )
            project.files[pf.key] = pf
        known = {"format", "format_version", "code_version", "saved", "files", "speakers"}
        project.extra = {k: v for k, v in d.items() if k not in known}
        return project

    def to_json(self, base: Path) -> dict:
        speakers: dict[str, list] = {}
        for pf in self.files.values():
            if pf.analysis is not None:
                for s in pf.analysis.slots:
                    name = pf.name_of(s.label)
                    if name is not None:
                        speakers.setdefault(name, []).append([pf.key, s.label])
            for name in pf.labels.likes:
                speakers.setdefault(name, [])
        d = dict(self.extra)
        d.update(
            {
                "format": FORMAT_NAME,
                "format_version": TURNS_FORMAT_VERSION if any(pf.turns is not None for pf in self.files.values()) else 1,
                "code_version": __version__,
                "saved": utc_now(),
                "files": [pf.to_json(base) for pf in self.files.values()],
                "speakers": dict(sorted(speakers.items())),
            }
        )
        return d

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the project atomically (curves sidecars first, then the JSON).

        ``path`` saves under a new name (and makes it the project's path). Raises
        ``ProjectError`` when the disk refuses; the previous file is then intact.
        """
        target = Path(path).absolute() if path is not None else self.path
        if target is None:
            raise ProjectError("the project has no file yet; choose where to save it")
        curves_dir = target.with_name(target.name + CURVES_SUFFIX)
        try:
            for pf in self.files.values():
                if pf.analysis is not None:
                    pf.analysis._write_sidecar(curves_dir)
            text = dumps_json(self.to_json(target.parent)) + "\n"
            atomic_write(target, text)
        except OSError as e:
            raise ProjectError(
                f"{target}: cannot save the project ({e.strerror or e}); check free disk space and that "
                "the folder is writable. Your work is still open; the last saved version is intact"
            ) from None
        self.path = target
        self._collect(target, curves_dir)
        return target

    def _collect(self, target: Path, curves_dir: Path) -> None:
        """Remove curves no file uses any more, and temp files of writers that died."""
        used = {pf.analysis.curves_digest for pf in self.files.values() if pf.analysis is not None}
        try:
            for p in curves_dir.glob("*.npz"):
                if p.stem not in used:
                    p.unlink(missing_ok=True)
            now = time.time()
            for folder, name in ((target.parent, target.name), (curves_dir, "")):
                for p in folder.glob(f".{name}*.tmp"):
                    if now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                        p.unlink(missing_ok=True)
        except OSError:
            pass  # housekeeping only

