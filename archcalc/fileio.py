"""Atomic file output shared by the three packages' command lines.

A file is written to a temporary sibling and renamed over the target, so a reader never sees a
half-written file and an interrupted run leaves the old file (or none) in place.

Examples
--------
>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
>>> write_atomic(target, '{"ok": true}\\n')
>>> target.read_text()
'{"ok": true}\\n'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic", "write_atomic_with", "save_figure"]


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"--output/--plot: folder {str(parent)!r} does not exist; create it first")
    if path.is_dir():
        raise IsADirectoryError(f"--output/--plot: {str(path)!r} is a folder; give a file name")


def write_atomic_with(path: str | os.PathLike[str], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp_path)`` to fill a temporary file, then rename it onto ``path``."""
    target = Path(path)
    _check_parent(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomic_with(path, _write)


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically (the format is PNG whatever the suffix)."""
    write_atomic_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
