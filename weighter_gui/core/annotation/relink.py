"""Finding audio that moved, off the GUI thread.

"Locate missing file…" checks the file the user picked against what the project
knew of the old one (its sha256: the whole file is read, maybe an hour of
audio); "Find missing files in folder…" walks a folder tree and hashes the files
with the right names. Either can take long, so the app runs them in a background task that
reports through ``Progress`` and can be cancelled; it applies the answer (one undo step)
on the GUI thread. No Qt here.

The work never touches the project: it gets ``MissingFile`` snapshots taken on
the GUI thread and answers with what it found (``LocateAnswer``,
``FindAnswer``); the window checks that the answer still fits the project before
relinking anything. A cancelled search answers nothing.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from weighter_gui.core.annotation.labels import AudioFacts
from weighter_gui.core.io.audio import AudioError, probe

CHUNK_BYTES = 1 << 20  # hashing reads this much between two looks at the cancel flag
REPORT_EVERY_S = 0.05  # progress reports at most this often (a text change always goes)


class RelinkCancelled(Exception):
    """The user cancelled: the work stops, nothing is relinked."""


@dataclass(frozen=True)
class MissingFile:
    """What the worker may know of a project file whose audio is missing."""

    key: str
    audio: Path  # where the project had it (absolute)
    facts: object | None = None  # core.project.AudioFacts recorded for it, if any

    @property
    def sha256(self) -> str | None:
        return getattr(self.facts, "sha256", None)


@dataclass(frozen=True)
class LocateAnswer:
    """Locate missing file…: how the picked file compares with the old one."""

    missing: MissingFile
    new: Path
    difference: str | None  # why it is not the audio the project had (None: same, or cannot tell)
    facts: object | None  # AudioFacts of ``new``, to record once relinked


@dataclass(frozen=True)
class FindAnswer:
    """Find missing files in folder…: the file found for each key, and why others were not."""

    folder: Path
    missing: tuple[MissingFile, ...]
    found: dict = field(default_factory=dict)  # key -> (Path, AudioFacts or None)
    problems: tuple[str, ...] = ()


class Progress:
    """Handed to the work: ``check()`` raises ``RelinkCancelled`` once the user cancelled;
    ``say(text, done, total)`` reports (``total`` 0: how far is unknown)."""

    def __init__(self, report: Callable[[str, int, int], None], cancelled: Callable[[], bool]) -> None:
        self._report = report
        self._cancelled = cancelled
        self._last = ("", 0.0)

    def check(self) -> None:
        if self._cancelled():
            raise RelinkCancelled

    def say(self, text: str, done: int = 0, total: int = 0) -> None:
        self.check()
        now = time.monotonic()
        if text != self._last[0] or now - self._last[1] >= REPORT_EVERY_S or (total and done >= total):
            self._last = (text, now)
            self._report(text, done, total)


# ----------------------------------------------------------------------------- the work


def sha256_of(path: Path, progress: Progress, text: str) -> str:
    """sha256 of a file's bytes, read in chunks; cancellable between chunks."""
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    progress.say(text, 0, total)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            progress.say(text, done, total)
    return digest.hexdigest()


def facts_of(path: Path, sha256: str | None):
    """The AudioFacts to record for ``path`` once relinked (None: it cannot be read)."""
    try:
        st = path.stat()
        info = probe(path)
    except (OSError, AudioError):
        return None
    return AudioFacts(st.st_size, st.st_mtime_ns, sha256, info.sample_rate, info.duration)


def locate(missing: MissingFile, new: Path, progress: Progress) -> LocateAnswer:
    """Compare the picked file with what the project recorded for the missing one.

    Only what was recorded counts (sha256, else rate and length); nothing recorded
    means nothing to compare, and the user's choice stands."""
    facts = missing.facts
    sha = None
    difference = None
    try:
        if facts is not None and missing.sha256:
            # A different size settles it without reading the whole file.
            if new.stat().st_size != facts.size:
                difference = f"is not the audio the project had for {missing.key}: its content (sha256) differs"
            else:
                sha = sha256_of(new, progress, f"Comparing {new.name} with {missing.key}\u2026")
                if sha != missing.sha256:
                    difference = f"is not the audio the project had for {missing.key}: its content (sha256) differs"
        elif facts is not None:
            info = probe(new)
            if facts.sample_rate is not None and info.sample_rate != facts.sample_rate:
                difference = f"has {info.sample_rate} Hz audio; the project's file had {facts.sample_rate} Hz"
            elif facts.duration is not None and abs(info.duration - facts.duration) > 0.01:
                difference = f"lasts {info.duration:.2f} s; the project's file lasted {facts.duration:.2f} s"
    except (OSError, AudioError) as exc:
        difference = f"cannot be read as audio ({exc})"
    progress.check()
    return LocateAnswer(missing, new, difference, facts_of(new, sha))


def files_named(folder: Path, names: set[str], progress: Progress) -> dict[str, list[Path]]:
    """Files under ``folder`` (recursively, links not followed) whose name is in ``names``."""
    out: dict[str, list[Path]] = {}
    searched = 0
    for root, dirs, files in os.walk(folder):
        searched += 1
        progress.say(f"Looking in {folder}\u2026 ({searched} folder{'s' if searched != 1 else ''})")
        dirs.sort()
        for name in sorted(files):
            if name in names:
                out.setdefault(name, []).append(Path(root) / name)
    return out


def pick_candidate(missing: MissingFile, candidates: list[Path],
                   progress: Progress) -> tuple[Path | None, str, str | None]:
    """The file to relink ``missing`` to among same-named ``candidates``: (path, "", its
    sha256 if it was hashed), or (None, why, None).

    A known sha256 must match. Among several left, the one whose folders match the
    old path's the furthest up wins (a moved tree keeps its layout); a tie without a
    known sha256 is left to the user (Locate missing file…)."""
    if not candidates:
        return None, "no file of that name", None
    sha = missing.sha256
    hashes: dict[Path, str] = {}
    if sha:
        same = []
        for n, p in enumerate(candidates, 1):
            try:
                if p.stat().st_size != missing.facts.size:
                    continue
                hashes[p] = sha256_of(p, progress, f"Checking {p.name} ({n} of {len(candidates)}) in {p.parent}")
            except OSError:
                continue
            if hashes[p] == sha:
                same.append(p)
        if not same:
            n = len(candidates)
            return None, f"{n} file{'s' if n != 1 else ''} of that name, but with other content (sha256)", None
        candidates = same

    def shared_folders(p: Path) -> int:
        n = 0
        for a, b in zip(reversed(missing.audio.parent.parts), reversed(p.parent.parts)):
            if a != b:
                break
            n += 1
        return n

    ranked = sorted(candidates, key=shared_folders, reverse=True)
    if not sha and len(ranked) > 1 and shared_folders(ranked[0]) == shared_folders(ranked[1]):
        return None, f"{len(ranked)} files of that name; use Locate missing file\u2026 to pick one", None
    return ranked[0], "", hashes.get(ranked[0])


def find(folder: Path, missing: list[MissingFile], taken: set[str], progress: Progress) -> FindAnswer:
    """Look in ``folder`` and below for each missing file; ``taken``: the normcased
    paths of the project's audio (a file already in the project is not a candidate)."""
    candidates = files_named(folder, {m.audio.name for m in missing}, progress)
    found: dict[str, tuple[Path, object]] = {}
    problems: list[str] = []
    used = set(taken)
    for m in missing:
        choices = [p for p in candidates.get(m.audio.name, []) if os.path.normcase(str(p)) not in used]
        pick, problem, sha = pick_candidate(m, choices, progress)
        if pick is None:
            problems.append(f"{m.key} ({m.audio.name}): {problem}")
            continue
        found[m.key] = (pick, facts_of(pick, sha))
        used.add(os.path.normcase(str(pick)))
    progress.check()
    return FindAnswer(folder, tuple(missing), found, tuple(problems))
