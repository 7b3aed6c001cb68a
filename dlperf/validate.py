"""One validator for integer arguments: an ``int`` (never a ``bool``) at least ``minimum``; one for flags
(``True`` or ``False``, never ``"no"``); one for arguments of a given type (a graph, a config, a result),
so ``None`` or a string where an object is meant is refused naming the parameter instead of failing deep
inside with an ``AttributeError``.

Every library function and command that takes a count (a batch, ranks, layers, segments ...) checks it
here, so the rule and the wording are the same everywhere. The message names the argument the way the
caller speaks it: a library parameter (``batch``) raises :class:`~dlperf.errors.ArgumentError`
(``batch: got 0; give a positive integer``, shown by a CLI as ``--batch: got 0; ...``); a name that is
already a flag (``--depth``, in CLI code) is kept as it is.

Examples
--------
>>> check_int("batch", 8)
8
>>> check_int("batch", True)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: batch: got True; give a positive integer
>>> check_int("--depth", 0)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: --depth: got 0; give a positive integer
>>> check_int("seed", -1, minimum=0)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: seed: got -1; give an integer >= 0
>>> check_bool("training", "no")
Traceback (most recent call last):
...
dlperf.validate.ArgumentTypeError: training='no' must be True or False
>>> check_type("cfg", None, dict, "a dict of sizes")
Traceback (most recent call last):
...
dlperf.validate.ArgumentTypeError: cfg=None must be a dict of sizes
"""

from __future__ import annotations

import numbers
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["check_int", "check_bool", "check_threads", "check_type", "ArgumentTypeError"]


def _is_symbolic(value: Any) -> bool:
    """A sympy expression (it has ``free_symbols``), which a caller may accept unchecked."""
    return not isinstance(value, bool | int | float | str) and hasattr(value, "free_symbols")


def check_int(name: str, value: Any, *, minimum: int = 1, symbolic: bool = False, what: str | None = None) -> Any:
    """Return ``value`` when it is an integer >= ``minimum``; raise :class:`~dlperf.errors.ArgumentError` otherwise.

    Parameters
    ----------
    name : str
        The parameter (``batch``) or flag (``--batch``, starting with ``-``) the message names.
    value : Any
        An ``int`` or an integral numpy scalar; ``bool`` is refused (``True`` is not a count).
    minimum : int
        The smallest value allowed (1: a positive integer).
    symbolic : bool
        Accept a sympy expression unchecked (formulas evaluated with symbols).
    what : str, optional
        What the value must be, in words (default ``a positive integer`` / ``an integer >= minimum``).
    """
    if symbolic and _is_symbolic(value):
        return value
    if not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= minimum:
        return value
    what = what or ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")
    raise ArgumentError(name, value, f"give {what}")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError`` for Python callers and a ``ValueError`` for the
    command-line frame, which prints it in one line like any other bad argument."""


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` when it is ``True`` or ``False`` (or a numpy bool); raise naming ``name`` otherwise
    (``training="no"`` is a non-empty string, so truthy: it would train)."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return bool(value)
    raise ArgumentTypeError(f"{name}={value!r} must be True or False")


def check_type(name: str, value: Any, types: type | tuple[type, ...], what: str) -> Any:
    """Return ``value`` when it is an instance of ``types``; raise naming ``name`` and ``what`` it must be."""
    if isinstance(value, types):
        return value
    raise ArgumentTypeError(f"{name}={_short(value)} must be {what}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"a {type(value).__name__}"


def check_threads(name: str, value: Any) -> int:
    """Return ``value`` when it is a thread count torch can start here: an integer from 1 to 4 x the CPU count
    (more only slows down, and torch fails or crashes far beyond, e.g. at 100,000)."""
    import os

    from dlperf.errors import ArgumentError

    check_int(name, value)
    most = 4 * (os.cpu_count() or 1)
    if value > most:
        raise ArgumentError(name, value, f"give 1 to {most} (4 x this machine's {os.cpu_count()} CPUs)")
    return int(value)
