"""The architecture holds: qt -> core, never back; no torch in the annotation state or file
I/O; no import cycle; ruff clean.

weighter_gui.core (and the `weighter` CLI over it) must import with PySide6 and
pyqtgraph absent, and no core file may name them or weighter_gui.qt.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import weighter_gui.core

CORE_DIR = Path(weighter_gui.core.__file__).parent
FORBIDDEN = ("PySide6", "pyqtgraph", "weighter_gui.qt")


def _is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def _absolute_module(path: Path, node: ast.ImportFrom) -> str:
    """The absolute name a (possibly relative) `from ... import` refers to."""
    if node.level == 0:
        return node.module or ""
    rel = path.relative_to(CORE_DIR.parent.parent).with_suffix("").parts
    package = list(rel[:-1])  # the package a module (or an __init__) lives in
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_core_and_cli_import_without_qt():
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        # A None entry makes any `import PySide6...` / `import pyqtgraph` raise ImportError.
        for name in ("PySide6", "pyqtgraph", "shiboken6"):
            sys.modules[name] = None
        import weighter_gui.core as core
        names = ["weighter_gui.core"] + [
            info.name for info in pkgutil.walk_packages(core.__path__, core.__name__ + ".")
        ]
        names.append("weighter_gui.cli")
        for name in names:
            importlib.import_module(name)
        leaked = sorted(n for n in sys.modules if n.startswith("weighter_gui.qt"))
        assert not leaked, leaked
        print("imported", len(names), "modules:", " ".join(names))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "weighter_gui.cli" in proc.stdout


def test_core_sources_never_name_qt():
    offenders = []
    files = sorted(CORE_DIR.rglob("*.py"))
    assert files, f"no Python files under {CORE_DIR}"
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute_module(path, node)
                # `from weighter_gui import qt` names weighter_gui.qt
                modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None))
                in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                modules = [node.args[0].value]
            else:
                continue
            offenders += [
                f"{path.relative_to(CORE_DIR.parent)}:{node.lineno}: {m}"
                for m in modules
                if _is_forbidden(m)
            ]
    assert not offenders, "core must not import Qt:\n" + "\n".join(offenders)


ROOT = CORE_DIR.parents[1]


def _tool(name: str) -> str:
    """A console script installed beside this interpreter (the venv's own)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is not installed: run `bash packaging/dev.sh test` (it installs '.[test]')"
    return str(path)


def test_import_contracts_hold():
    """pyproject's import-linter contracts: qt -> core only, no torch in the annotation
    state or file I/O, no cycle between sibling modules or packages."""
    proc = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_ruff_is_clean():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
