"""Atomic file output shared by the three packages' command lines.

A file is written to a temporary sibling in the target's folder and renamed over the target, so a reader
never sees a half-written file and an interrupted run (an exception, Ctrl-C or SIGTERM) leaves the old
file (or none) in place and no temporary file behind. The new file gets the permissions an ordinary
``open(path, "w")`` would give it (``0o666 & ~umask``), or keeps those of the file it replaces; a
symbolic link is written through (the file it points to changes, the link stays a link).

A target that exists and is not a regular file (a device such as ``/dev/null`` or ``/dev/full``, a FIFO,
``/dev/stdout`` into a pipe) is written through in place: opened and written, never replaced by a regular
file; a socket is refused. A path ending in a slash names a folder and is refused (an output is a file),
as is a symbolic link loop. Temporary names stay within the 255-byte limit on a file name (a hashed short
name for long ones). SIGTERM and SIGHUP remove the temporary file. A full disk names the file and the flag.

:func:`check_outputs` is the one check every command runs before any work (the command-line frame calls
it, :func:`dlperf.cli.check_paths`): each output is checked as above, and an output that is the same file
as an input of the command, or as another output, is refused naming both flags.

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
import errno
import hashlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

__all__ = ["FIGURE_FORMATS", "write_atomic", "write_atomic_with", "check_output_path", "check_figure_path",
           "check_outputs", "save_figure", "write_or_print"]

FIGURE_FORMATS = ("png", "pdf", "svg")


def _real_target(path: str | os.PathLike[str]) -> Path:
    """The file actually written: a symlink's destination (the link itself stays), else ``path``."""
    target = Path(path)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _in_place(flag: str, path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an existing non-regular file written through in place (device, FIFO); refuse a
    symlink loop, a socket and a trailing slash in one line."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        raise ValueError(f"{flag}: {text!r} ends in a slash, which names a folder; give a "
                                "file name (an output is one file)")
    try:
        st = os.stat(text)  # follows links: /dev/stdout is whatever fd 1 is
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{flag}: {text!r} is a symbolic link loop; remove the link or give another path") from None
        raise
    if stat.S_ISSOCK(st.st_mode):
        raise ValueError(f"{flag}: {text!r} is a socket; give a file, a device or a FIFO")
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _check_target(flag: str, path: str | os.PathLike[str], target: Path) -> Path:
    """The folder ``target`` goes in; a missing folder or a folder as the target raise one-line errors."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{flag}: folder {str(parent)!r} does not exist; create it first")
    if target.is_dir():
        raise IsADirectoryError(f"{flag}: {str(path)!r} is a folder; give a file name")
    return parent


def _temp_prefix(target: Path) -> str:
    """``.NAME.`` for the temporary sibling, or a hashed short name where NAME would pass 255 bytes
    (mkstemp adds 8 characters, we add ``.tmp``)."""
    name = target.name
    if len(os.fsencode(name)) + 14 <= 255:
        return f".{name}."
    return f".{hashlib.sha1(os.fsencode(name)).hexdigest()[:16]}."


def check_output_path(flag: str, path: str | os.PathLike[str]) -> None:
    """Raise before any work when ``path`` cannot be an output file: a missing folder, a folder, or a folder
    that refuses new files (probed by creating and removing a temporary file, since mode bits do not stop
    root while sysfs or a read-only mount do).

    ``flag`` names the option in the message (``"--output"``). A device or FIFO is written in place, so
    nothing is probed for it.
    """
    if _in_place(flag, path):
        return
    target = _real_target(path)
    parent = _check_target(flag, path, target)
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=parent)
    except OSError as exc:  # named after the user's path, as the real write would be
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    os.unlink(probe)


_PathLike = str | os.PathLike[str]


def _identity(path: _PathLike) -> tuple | None:
    """What makes two paths one file: device and inode of an existing regular file, the resolved path of a
    file still to be written; ``None`` for a device or FIFO (several writers to /dev/null are harmless)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ("path", os.path.realpath(path))
    except OSError:
        return None  # a loop or an unreadable path: the per-output check says so
    return ("inode", st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _flat(paths: Mapping[str, _PathLike | Iterable[_PathLike] | None]) -> list[tuple[str, _PathLike]]:
    out = []
    for flag, value in paths.items():
        if value is None:
            continue
        for one in ([value] if isinstance(value, (str, os.PathLike)) else value):
            out.append((flag, one))
    return out


def check_outputs(outputs: Mapping[str, _PathLike | None],
                  inputs: Mapping[str, _PathLike | Iterable[_PathLike] | None] | None = None) -> None:
    """Refuse, before any work, outputs that cannot be written or would destroy something: each output is
    checked by :func:`check_output_path`; an output that is the same file as an input (by device and inode,
    or by resolved path for a file still to come) or as another output raises one line naming both flags.

    ``outputs`` maps a flag to its path (``None``: not given); ``inputs`` maps a flag to a path or a list
    of paths. Devices and FIFOs never collide (they are written in place).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "m.py"
    >>> _ = src.write_text("x = 1\\n")
    >>> check_outputs({"--output": src}, {"MODEL": src})
    Traceback (most recent call last):
    ...
    ValueError: --output: '...m.py' is the same file as MODEL '...m.py', which it would overwrite; give another output file
    >>> check_outputs({"--output": src.with_suffix(".md"), "--plot": None}, {"MODEL": src})
    """
    given = _flat(outputs)
    seen: dict[tuple, tuple[str, _PathLike]] = {}
    for flag, path in _flat(inputs or {}):
        key = _identity(path)
        if key is not None:
            seen.setdefault(key, (flag, path))
    n_inputs = len(seen)
    for flag, path in given:
        _in_place(flag, path)  # trailing slash, loop, socket: one line before comparing
        key = _identity(path)
        if key is None:
            continue
        if key in seen:
            other, where = seen[key]
            is_input = list(seen).index(key) < n_inputs
            what = "which it would overwrite; give another output file" if is_input else \
                "and one would replace the other; give each output its own file"
            raise ValueError(f"{flag}: {os.fspath(path)!r} is the same file as {other} {os.fspath(where)!r}, {what}")
        seen[key] = (flag, path)
    for flag, path in given:
        check_output_path(flag, path)


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


#: Signals whose default action kills the process; while writing they unwind instead (SIGHUP: a closed terminal).
_UNWIND_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit while writing, so ``finally`` removes the temporary file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = [sig for sig in _UNWIND_SIGNALS if signal.getsignal(sig) == signal.SIG_DFL]
    for sig in caught:
        signal.signal(sig, _terminate)
    try:
        yield
    finally:
        for sig in caught:
            signal.signal(sig, signal.SIG_DFL)


def write_atomic_with(path: str | os.PathLike[str], writer: Callable[[str], None], flag: str = "--output") -> None:
    """Call ``writer(tmp_path)`` to fill a temporary file, then rename it onto ``path``; a device or FIFO
    is handed to ``writer`` itself (written in place)."""
    if _in_place(flag, path):
        with _naming(path, flag):
            writer(os.fspath(path))
        return
    target = _real_target(path)
    # No probe file here (check_output_path's): creating the real temporary file below is that probe, and
    # fails with the same one-line error.
    _check_target(flag, path, target)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
    with _sigterm_unwinds(), _naming(path, flag):
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
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
def _naming(path: str | os.PathLike[str], flag: str) -> Iterator[None]:
    """Report an OSError about the temporary file (or about no file: a failed write or flush) as one about
    ``path``, the name the user gave, and the flag that gave it (``exc.flag``, which the CLI prints)."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or (exc.filename is not None and not str(exc.filename).endswith(".tmp")
                                 and exc.filename != os.fspath(path)):
            raise
        named = type(exc)(exc.errno, exc.strerror, os.fspath(path))
        named.flag = flag
        raise named from exc


def write_atomic(path: str | os.PathLike[str], data: str | bytes, flag: str = "--output") -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # a device or pipe has nothing to sync
                os.fsync(fh.fileno())

    write_atomic_with(path, _write, flag)


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 120, flag: str = "--plot") -> None:
    """Save a matplotlib figure atomically in the format its extension names (png, pdf or svg)."""
    # The folder is not probed again here: the write itself fails with the same one-line error (the command
    # line probed it before the work, check_figure_path), and a probe file beside the real temporary one
    # would only be I/O done twice.
    fmt = _figure_format(flag, path)

    def _save(tmp: str) -> None:
        try:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        except Exception as exc:  # matplotlib's PDF writer meets a full disk and fails again cleaning up
            cause = exc.__context__
            while cause is not None and not (isinstance(cause, OSError) and cause.errno):
                cause = cause.__context__
            if isinstance(exc, OSError) or cause is None:
                raise
            raise cause from None

    write_atomic_with(path, _save, flag)


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
