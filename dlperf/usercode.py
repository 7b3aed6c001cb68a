"""The one boundary around a user's own code (``FILE.py:NAME`` model files): whatever it raises, however it
exits, the command says so in one line naming the file, the object and what went wrong.

Inside :func:`user_code`:

- an ``Exception`` becomes a ``ValueError`` (exit 2 from the CLIs): ``WHERE: PHASE raised TYPE: first line``;
- ``SystemExit`` (``sys.exit(3)`` in the file) becomes a ``ValueError`` too: the user's code never chooses
  the command's exit status;
- ``KeyboardInterrupt`` raised by the code itself becomes a ``ValueError``; a real Ctrl-C (SIGINT) stays a
  ``KeyboardInterrupt`` (exit 130), told apart by a SIGINT handler installed while the code runs;
- what the code prints goes to stderr, so ``--json`` on stdout stays valid JSON.

:func:`load_source` runs a file as a module inside that boundary; :func:`guard_forward` puts every later
``forward`` of a module from it there too.

Examples
--------
>>> with user_code("Net in 'net.py'", "forward", param="model"):
...     raise SystemExit(3)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: model: Net in 'net.py': forward called sys.exit(3); the model's code must not exit: remove the call
>>> with user_code("Net in 'net.py'", "forward"):
...     print("hello")   # goes to stderr
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from dlperf.errors import ArgumentError

__all__ = ["user_code", "load_source", "describe", "guard_forward", "defined_names"]

_real_sigint = threading.local()


def _on_sigint(signum, frame) -> None:
    _real_sigint.seen = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_recorded() -> Iterator[None]:
    """Record a real SIGINT while the user's code runs (main thread, default handler only)."""
    _real_sigint.seen = False
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        _real_sigint.seen = None  # cannot tell: treat any KeyboardInterrupt as real
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or [""])[0])[:300]


def describe(value: object) -> str:
    """A short name for what user code gave: ``None``, ``an int (3)``, ``a dict with keys ['a']``.

    >>> describe(None), describe(3), describe({"logits": 1})
    ('None', 'an int (3)', "a dict with keys ['logits']")
    """
    if value is None:
        return "None"
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    if isinstance(value, dict):
        return f"{article} {name} with keys {sorted(map(str, value))[:5]}"
    if isinstance(value, (int, float, str, bool)):
        return f"{article} {name} ({value!r:.40})"
    return f"{article} {name}"


@contextlib.contextmanager
def user_code(where: str, phase: str, fix: str = "fix the file", param: str | None = None) -> Iterator[None]:
    """Run the block as the user's code: ``where`` names the file and object (``"Net in 'net.py'"``),
    ``phase`` what runs (``"import"``, ``"Net()"``, ``"forward"``), ``fix`` ends the message of an exception
    it raises; with ``param`` (the argument that named the file) that is an
    :class:`~dlperf.errors.ArgumentError` naming it. See the module's docstring."""

    def failure(what: str, fix: str) -> ValueError:
        if param is None:
            return ValueError(f"{where}: {what}; {fix}")
        return ArgumentError(param, what=f"{where}: {what}", fix=fix)

    with _sigint_recorded():
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        except SystemExit as exc:
            raise failure(f"{phase} called sys.exit({exc.code!r})", "the model's code must not exit: "
                          "remove the call") from None
        except KeyboardInterrupt:
            if _real_sigint.seen is not False:
                raise
            raise failure(f"{phase} raised KeyboardInterrupt itself (no Ctrl-C was pressed)",
                          "remove the raise") from None
        except RecursionError:
            raise failure(f"{phase} recursed too deeply (RecursionError)", "fix the recursion") from None
        except Exception as exc:
            if isinstance(exc, ValueError) and (str(exc).startswith(where) or (
                    isinstance(exc, ArgumentError) and exc.param == param and where in str(exc))):
                raise  # already said, by an inner boundary
            raise failure(f"{phase} raised {type(exc).__name__}: {_first_line(exc)}", fix) from None


def load_source(path: str | Path, param: str, key: str) -> ModuleType:
    """Run the Python file ``path`` as module ``key`` inside :func:`user_code` (``param`` names the argument
    that gave it).

    Raises :class:`~dlperf.errors.ArgumentError` in one line when the file is missing or fails.
    """
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(param, what=f"file {str(path)!r} does not exist", fix="give the path of a Python file")
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ArgumentError(param, what=f"cannot load {str(path)!r} as Python source", fix="give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        with user_code(repr(str(path)), "running the file", param=param):
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def guard_forward(model, where: str, check=None, param: str | None = None):
    """Run every ``forward`` of ``model`` (an ``nn.Module`` from the user's file) inside :func:`user_code`,
    then ``check(output, args)`` if given (it raises ``ValueError`` for an output the caller cannot use).

    The model's class is swapped in place for a subclass of the same name, so copies (``copy.deepcopy``),
    state dicts and ``isinstance`` checks are unchanged. Returns ``model``; guarding twice is a no-op.
    """
    base = type(model)
    if getattr(base, "_dlperf_guarded", False):
        return model

    def forward(self, *args, **kwargs):
        with user_code(where, "forward", param=param):
            out = base.forward(self, *args, **kwargs)
        if check is not None:
            check(out, args)
        return out

    model.__class__ = type(base.__name__, (base,), {"forward": forward, "_dlperf_guarded": True,
                                                     "__module__": base.__module__, "__qualname__": base.__qualname__})
    return model


_DYNAMIC = frozenset({"globals", "vars", "exec", "eval", "__import__", "setattr", "locals"})


def _bound(target: ast.AST) -> Iterator[str]:
    """The names an assignment target binds (``a``, ``a, (b, *c)``; attributes and subscripts bind none)."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for item in target.elts:
            yield from _bound(item)
    elif isinstance(target, ast.Starred):
        yield from _bound(target.value)


def defined_names(path: str | Path) -> tuple[frozenset[str], tuple[str, ...]] | None:
    r"""The names a Python file binds at its top level, read from its syntax without running it, and the ones
    worth listing to a user (classes, functions and names assigned from a call), sorted; ``None`` when the
    file cannot be read or parsed, or could bind names its syntax does not show (``from m import *``,
    ``global``, ``globals()`` / ``vars()`` / ``exec`` / ``setattr`` ..., ``sys.modules``, a module-level
    ``__getattr__``, ``match``). A name absent from a certain answer is absent after running the file, so
    a misspelt ``FILE.py:NAME`` is refused before the file (and torch) loads.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.py"
    >>> _ = path.write_text("import torch.nn as nn\nclass Net(nn.Module): pass\nnet = Net()\nwidth = 3\n")
    >>> names, listed = defined_names(path)
    >>> sorted(names), listed
    (['Net', 'net', 'nn', 'width'], ('Net', 'net'))
    >>> _ = path.write_text("from torchvision.models import *\n")
    >>> defined_names(path) is None
    True
    """
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Match)) or (
                isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)) or (
                isinstance(node, ast.Name) and node.id in _DYNAMIC) or (
                isinstance(node, ast.Attribute) and node.attr == "modules"):
            return None
    names: set[str] = set()
    listed: set[str] = set()
    statements = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
            listed.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
            continue
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        for target in targets:
            found = set(_bound(target))
            names |= found
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                listed |= found
        for sub in ast.walk(node):  # walrus targets bind at module level too
            if isinstance(sub, ast.NamedExpr):
                names.update(_bound(sub.target))
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            names.update(h.name for h in node.handlers if h.name)
        for field in ("body", "orelse", "finalbody", "handlers"):  # if / for / while / with / try bodies
            for child in getattr(node, field, ()) or ():
                statements.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return frozenset(names), tuple(sorted(listed))
