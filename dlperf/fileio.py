"""Atomic file output shared by the three packages' command lines.

A file is written to a temporary sibling in the target's folder and renamed over the target, so a reader
never sees a half-written file and an interrupted run (an exception, Ctrl-C or SIGTERM) leaves the old
file (or none) in place and no temporary file behind. The new file gets the permissions an ordinary
``open(path, "w")`` would give it (``0o666 & ~umask``), or keeps those of the file it replaces; a
symbolic link is written through (the file it points to changes, the link stays a link).

Figures take their format from the file's extension: ``.png``, ``.pdf`` or ``.svg``
(:data:`FIGURE_FORMATS`); :func:`check_figure_path` refuses anything else before the work runs.

Examples
--------
>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
>>> write_atomic(target, '{"ok": true}\\n')
>>> target.read_text()
'{"ok": true}\\n'
>>> check_figure_path("--plot", target.with_suffix(".jpg"))
Traceback (most recent call last):
...
ValueError: --plot: got '....jpg'; the format follows the extension: give a file ending in .png, .pdf or .svg
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["FIGURE_FORMATS", "write_atomic", "write_atomic_with", "check_output_path", "check_figure_path",
           "save_figure", "write_or_print"]

FIGURE_FORMATS = ("png", "pdf", "svg")


def _real_target(path: str | os.PathLike[str]) -> Path:
    """The file actually written: a symlink's destination (the link itself stays), else ``path``."""
    target = Path(path)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _check_target(flag: str, path: str | os.PathLike[str], target: Path) -> Path:
    """The folder ``target`` goes in; a missing folder or a folder as the target raise one-line errors."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{flag}: folder {str(parent)!r} does not exist; create it first")
    if target.is_dir():
        raise IsADirectoryError(f"{flag}: {str(path)!r} is a folder; give a file name")
    return parent


def check_output_path(flag: str, path: str | os.PathLike[str]) -> None:
    """Raise before any work when ``path`` cannot be an output file: a missing folder, a folder, or a folder
    that refuses new files (probed by creating and removing a temporary file, since mode bits do not stop
    root while sysfs or a read-only mount do).

    ``flag`` names the option in the message (``"--output"``).
    """
    target = _real_target(path)
    parent = _check_target(flag, path, target)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:  # named after the user's path, as the real write would be
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    os.unlink(probe)


def _figure_format(flag: str, path: str | os.PathLike[str]) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        listed = ", ".join(f".{f}" for f in FIGURE_FORMATS[:-1]) + f" or .{FIGURE_FORMATS[-1]}"
        raise ValueError(f"{flag}: got {str(path)!r}; the format follows the extension: give a file ending in {listed}")
    return fmt


def check_figure_path(flag: str, path: str | os.PathLike[str]) -> str:
    """Check a figure's file name and folder up front and return its format (``"png"``, ``"pdf"`` or ``"svg"``)."""
    fmt = _figure_format(flag, path)
    check_output_path(flag, path)
    return fmt


def _umask() -> int:
    try:  # Linux >= 4.7 reports it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while writing, so ``finally`` removes the temporary file."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_atomic_with(path: str | os.PathLike[str], writer: Callable[[str], None], flag: str = "--output") -> None:
    """Call ``writer(tmp_path)`` to fill a temporary file, then rename it onto ``path``."""
    target = _real_target(path)
    # No probe file here (check_output_path's): creating the real temporary file below is that probe, and
    # fails with the same one-line error.
    _check_target(flag, path, target)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
    with _sigterm_unwinds(), _naming(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            os.close(fd)
            writer(tmp)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Report an OSError about the temporary file as one about ``path``, the name the user gave."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or exc.filename is None or not str(exc.filename).endswith(".tmp"):
            raise
        raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from exc


def write_atomic(path: str | os.PathLike[str], data: str | bytes, flag: str = "--output") -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomic_with(path, _write, flag)


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 120, flag: str = "--plot") -> None:
    """Save a matplotlib figure atomically in the format its extension names (png, pdf or svg)."""
    # The folder is not probed again here: the write itself fails with the same one-line error (the command
    # line probed it before the work, check_figure_path), and a probe file beside the real temporary one
    # would only be I/O done twice.
    fmt = _figure_format(flag, path)
    write_atomic_with(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"), flag)


def write_or_print(text: str, path: str | os.PathLike[str] | None) -> None:
    """Write ``text`` atomically to ``path`` and say so on stderr (``wrote PATH``), or print it on stdout
    when ``path`` is None: what every command's ``--output`` does.

    >>> write_or_print("hello\\n", None)
    hello
    """
    import sys

    if path is None:
        sys.stdout.write(text)
        return
    write_atomic(path, text)
    print(f"wrote {path}", file=sys.stderr)
