"""Untitled projects: made in the recovery folder, offered back only when they hold work,
named out of it."""

import numpy as np
import soundfile as sf

from weighter_gui.core.annotation import recovery
from weighter_gui.core.annotation.project import Project


def test_only_untitled_projects_with_work_are_offered(tmp_path):
    folder = tmp_path / "recovery"
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(16000, np.float32), 16000)
    idle = recovery.create_untitled(folder)
    idle.add_files([audio])  # a file, but every edit undone: nothing to recover
    working = recovery.create_untitled(folder)
    (key,) = working.add_files([audio])
    working.add_like(key, "anna")
    damaged = folder / "untitled-20260101-000000.weighter"
    damaged.write_text("{ cut short")
    found = recovery.recoverable(folder)
    assert working.path in found and damaged in found and idle.path not in found
    assert not idle.path.exists()  # removed
    assert "1 with labels" in recovery.describe(working.path) and "damaged" in recovery.describe(damaged)
    assert recovery.recoverable(folder, in_use=lambda p: p == working.path) == [damaged]

    old = working.path
    target = recovery.name_project(working, tmp_path / "named.weighter")
    assert not old.exists() and target == tmp_path / "named.weighter"  # out of the recovery folder
    assert not recovery.is_untitled(Project.load(target)) and working.path == target
    assert recovery.recoverable(folder) == [damaged]
