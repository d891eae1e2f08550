"""Untitled projects: work started without "New project" is kept in a project file in a
recovery folder, autosaved like any project, until the user names it (it then moves
to the chosen file and leaves the folder) or discards it. One left behind by a crash,
or by closing without naming it, is offered back at the next start.

The project file marks itself ``"untitled": true``, so a copy elsewhere is still known
for what it is; naming the project drops the mark.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.annotation.storage import CURVES_SUFFIX, PROJECT_SUFFIX, ProjectError

UNTITLED_MARK = "untitled"


def is_untitled(project: Project) -> bool:
    return bool(project.extra.get(UNTITLED_MARK))


def create_untitled(folder: str | os.PathLike[str]) -> ProjectSession:
    """A new, empty untitled project in ``folder`` (made if needed), saved at once."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProjectError(f"{folder}: cannot make the recovery folder ({e.strerror or e}); "
                           "check that your home folder is writable") from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"untitled-{stamp}{PROJECT_SUFFIX}", 1
    while path.exists():
        n += 1
        path = folder / f"untitled-{stamp}-{n}{PROJECT_SUFFIX}"
    project = Project(path)
    project.extra[UNTITLED_MARK] = True
    project.save()
    return ProjectSession(project)


def recoverable(folder: str | os.PathLike[str], in_use: Callable[[Path], bool] = lambda p: False) -> list[Path]:
    """Untitled projects left in ``folder`` that hold work (a label, turns or a reviewed
    range) and that no running Weighter Studio has open (``in_use``), newest first. Ones
    without work (every edit undone) are removed."""
    out = []
    for path in sorted(Path(folder).glob(f"untitled-*{PROJECT_SUFFIX}"), key=_mtime, reverse=True):
        if in_use(path):
            continue
        try:
            project = Project.load(path)
        except ProjectError:
            out.append(path)  # damaged: offer it, opening says what is wrong
            continue
        if any(pf.is_labelled or pf.reviewed for pf in project.files.values()):
            out.append(path)
        else:
            discard(path)
    return out


def describe(path: Path) -> str:
    """One line for the recovery question: when, and how much work."""
    when = datetime.fromtimestamp(_mtime(path)).strftime("%Y-%m-%d %H:%M")
    try:
        project = Project.load(path)
    except ProjectError:
        return f"{when}: damaged ({path.name})"
    edited = sum(pf.is_labelled or bool(pf.reviewed) for pf in project.files.values())
    return f"{when}: {len(project.files)} file(s), {edited} with labels or corrected turns"


def name_project(session: ProjectSession, path: str | os.PathLike[str]) -> Path:
    """Save an untitled project as ``path``: from now on it autosaves there, and its
    recovery file is removed. Raises ``ProjectError`` (the recovery file is then kept)."""
    old = session.path
    session.project.extra.pop(UNTITLED_MARK, None)
    try:
        target = session.save(path)
    except ProjectError:
        session.project.extra[UNTITLED_MARK] = True
        raise
    if old is not None and old != target:
        discard(old)
    return target


def discard(path: Path) -> None:
    """Remove an untitled project's file and its curves folder."""
    Path(path).unlink(missing_ok=True)
    shutil.rmtree(Path(path).with_name(Path(path).name + CURVES_SUFFIX), ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
