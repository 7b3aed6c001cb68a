"""One error for a bad argument, raised by every library in its parameters' names and shown by a CLI in flags.

A library function refuses a bad argument with :class:`ArgumentError`: the parameter (``.param``), the value
(``.value``) and what to do (``.fix``), all in the function's own words. Text that names another parameter
marks it with :func:`ref`, so the same error reads ``max_batch: got 8; give a value >= min_batch (16)`` from
Python and ``--max-batch: got 8; give a value >= --min-batch (16)`` from a command line: each CLI passes its
one table of parameter -> flag to :meth:`ArgumentError.render` (:mod:`dlperf.cli` does it for every command),
and no message is ever rewritten by matching its text.

Examples
--------
>>> err = ArgumentError("max_batch", 8, f"give a value >= {ref('min_batch')} (16)")
>>> str(err)
'max_batch: got 8; give a value >= min_batch (16)'
>>> err.render({"max_batch": "--max-batch", "min_batch": "--min-batch"})
'--max-batch: got 8; give a value >= --min-batch (16)'
>>> isinstance(err, ValueError), err.param, err.value
(True, 'max_batch', 8)
>>> str(ArgumentError(("train_size", "test_size"), fix="give both or neither"))
'train_size/test_size: give both or neither'
>>> str(ArgumentError("input", (1, 2), fix="vgg19 takes one image shape", what="got two shapes"))
'input: got two shapes; vgg19 takes one image shape'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ArgumentError", "ref", "UNSET"]

_MARK = "\x00"  # delimits a reference to a parameter inside a message; never part of user text


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: The value of an :class:`ArgumentError` about a combination of arguments rather than one value.
UNSET: Any = _Unset()


def ref(param: str) -> str:
    """A reference to the parameter ``param`` inside an :class:`ArgumentError` text (shown as its flag by a CLI).

    >>> str(ArgumentError("end_lr", 1e-5, f"give a value above {ref('start_lr')}"))
    'end_lr: got 1e-05; give a value above start_lr'
    """
    return f"{_MARK}{param}{_MARK}"


def _fill(text: str, name: Callable[[str], str]) -> str:
    parts = text.split(_MARK)
    return "".join(name(part) if i % 2 else part for i, part in enumerate(parts))


class ArgumentError(ValueError):
    """A bad argument: ``.param`` (a name, or a tuple of names refused together), ``.value`` and ``.fix``.

    Parameters
    ----------
    param : str or tuple of str
        The parameter(s), as the library function names them.
    value : Any
        The value refused (:data:`UNSET` when the error is about a combination, not one value).
    fix : str
        What to do, in parameter names; :func:`ref` marks the names of other parameters.
    what : str, optional
        What is wrong, replacing the default ``got VALUE``.
    """

    def __init__(self, param: str | tuple[str, ...], value: Any = UNSET, fix: str = "", *,
                 what: str | None = None) -> None:
        self.param = param
        self.value = value
        self._fix = fix
        self._what = what
        super().__init__(self.render())

    def __reduce__(self):
        return (_rebuild, (self.param, self.value, self._fix, self._what))

    @property
    def fix(self) -> str:
        """What to do, in the library's parameter names."""
        return _fill(self._fix, str)

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter the error names: ``param`` first, then those the text refers to."""
        own = self.param if isinstance(self.param, tuple) else (self.param,)
        found = [part for text in (self._what or "", self._fix) for i, part in enumerate(text.split(_MARK)) if i % 2]
        return own + tuple(dict.fromkeys(part for part in found if part not in own))

    def render(self, flags: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
        """The message with each parameter named through ``flags`` (a table or a function; default: as is)."""
        name = _namer(flags)
        params = self.param if isinstance(self.param, tuple) else (self.param,)
        return f"{'/'.join(name(p) for p in params)}: {self.body(name)}"

    def body(self, flags: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
        """The message after ``PARAM: `` (for a caller that names the parameter itself, as argparse does)."""
        name = _namer(flags)
        what = _fill(self._what, name) if self._what is not None else (
            None if self.value is UNSET else f"got {self.value!r}")
        return "; ".join(part for part in (what, _fill(self._fix, name)) if part)


def _rebuild(param, value, fix, what) -> ArgumentError:
    return ArgumentError(param, value, fix, what=what)


def _namer(flags: Mapping[str, str] | Callable[[str], str] | None) -> Callable[[str], str]:
    """How a parameter is named: as is, through a function, or through a table (unlisted names as is)."""
    if flags is None:
        return str
    if callable(flags):
        return flags
    return lambda p: flags.get(p, p)
