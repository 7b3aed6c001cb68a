"""One validator for integer arguments: an ``int`` (never a ``bool``) at least ``minimum``.

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
"""

from __future__ import annotations

import numbers
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["check_int"]


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
