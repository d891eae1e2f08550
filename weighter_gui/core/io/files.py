"""Writing files so they appear whole or not at all.

Every file the product writes for the user (checkpoints, manifests, projects,
exports, RTTMs, caches) goes through here: a temporary file in the same folder is
written and fsynced, renamed over the target (``os.replace``, atomic on POSIX and
Windows), and the folder is fsynced so the rename survives a power cut. On any
error or kill the old file is untouched.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "file_sha256", "read_text"]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that take a file name (safetensors, numpy, soundfile). ``suffix``
    lets such writers see the extension they expect (``".tmp.flac"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; returns ``path``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def read_text(path: str | os.PathLike[str], what: str, error: type[Exception]) -> str:
    """A UTF-8 text file's contents; every failure is ``error("<path>: <problem>")``.

    ``what`` names the file for the user: "manifest", "RTTM file", ...
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (a {what} is UTF-8 text)") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror or e})") from None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (streamed; remembered per path, size and mtime)."""
    path = Path(path)
    st = path.stat()
    stamp = (str(path.absolute()), st.st_size, st.st_mtime_ns)
    if stamp not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _SHA_CACHE[stamp] = digest.hexdigest()
    return _SHA_CACHE[stamp]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # Windows: folders cannot be opened; the rename is durable enough
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
