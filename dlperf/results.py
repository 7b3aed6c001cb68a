"""What every public result object shares: a short repr, ``to_dict()`` and ``to_pandas()``.

A result is a frozen dataclass declared with ``repr=False`` that inherits :class:`Result`. Its repr is one
line of at most :data:`REPR_LIMIT` characters: scalar fields as values (integers with thousands
separators), big fields as their sizes, then the class's headline numbers (:meth:`Result._headline`).
``to_dict()`` is the documented way to get plain data: built-in types only (dict, list, str, int, float,
bool, None; NaN becomes None, NumPy values become Python values, a formula its text), ready for
``json.dumps``. ``to_pandas()`` is the result's table (its ``rows`` when it has some, else one row) as a
``pandas.DataFrame``; pandas is optional (``pip install 'dlperf[pandas]'``).

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, repr=False)
... class Demo(Result):
...     name: str
...     rows: tuple
...     params: int
>>> d = Demo("net", tuple(range(500)), 25_557_032)
>>> d
Demo(name='net', rows=<500 items>, params=25,557,032)
>>> d.to_dict()["params"], len(d.to_dict()["rows"])
(25557032, 500)
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, ClassVar

__all__ = ["Result", "FrozenDict", "plain", "snake_key", "REPR_LIMIT", "PANDAS_MISSING"]

REPR_LIMIT = 300
PANDAS_MISSING = "to_pandas() needs pandas, an optional dependency: pip install 'dlperf[pandas]'"
_SHORT = 40


def plain(value: Any) -> Any:
    """``value`` as built-in JSON-able types (see the module docstring); dataclasses become dicts.

    >>> import numpy as np
    >>> plain({"a": (1, np.float64("nan")), "b": np.arange(3)})
    {'a': [1, None], 'b': [0, 1, 2]}
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # np.float64 too
        return float(value) if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return to_dict()
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "free_symbols"):  # a sympy expression: a number when it is one, else its text
        if getattr(value, "is_Integer", False):
            return int(value)
        if getattr(value, "is_Number", False):
            return plain(float(value))
        return str(value)
    if hasattr(value, "tolist"):  # NumPy arrays and scalars, torch tensors
        return plain(value.tolist())
    if hasattr(value, "numerator") and hasattr(value, "denominator"):  # Fraction
        return plain(float(value))
    return str(value)


def snake_key(label: str) -> str:
    """A display label as a snake_case key.

    >>> snake_key("QK^T"), snake_key("LM head"), snake_key("forward_macs")
    ('qk_t', 'lm_head', 'forward_macs')
    """
    import re

    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _brief(value: Any) -> str:
    """A few characters standing for ``value`` in a repr."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{float(value):.6g}"
    if isinstance(value, str):
        return repr(value if len(value) <= _SHORT else value[: _SHORT - 3] + "...")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(...)"
    if isinstance(value, Mapping):
        return f"<{len(value)} keys>"
    if isinstance(value, list | tuple):
        if len(value) <= 6 and all(v is None or isinstance(v, int | float | str) for v in value):
            text = "(" + ", ".join(_brief(v) for v in value) + ("," if len(value) == 1 else "") + ")"
            if len(text) <= _SHORT:
                return text
        return f"<{len(value)} items>"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return f"<array {'x'.join(map(str, shape)) or 'scalar'}>"
    text = str(value)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


class Result:
    """Mixin for the frozen result dataclasses (declared ``repr=False``): short repr, ``to_dict``,
    ``to_pandas``.

    A subclass may set ``_repr_fields`` (the fields its repr shows, in order; all by default), override
    :meth:`_headline` (derived numbers worth a glance, e.g. totals) and ``_table_field`` (the field whose
    items are the rows of :meth:`to_pandas`) or ``_table_columns`` (array fields that are its columns).
    """

    __slots__ = ()
    _repr_fields: ClassVar[tuple[str, ...] | None] = None
    _table_field: ClassVar[str] = "rows"
    _table_columns: ClassVar[tuple[str, ...]] = ()

    def _headline(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        names = self._repr_fields
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(self) if f.repr)
        parts = [f"{n}={_brief(getattr(self, n))}" for n in names]
        parts += [f"{k}={_brief(v)}" for k, v in self._headline().items()]
        head = type(self).__name__ + "("
        text = head + ", ".join(parts) + ")"
        if len(text) <= REPR_LIMIT:
            return text
        kept = []
        for p in parts:
            if len(head) + len(", ".join([*kept, p])) + len(", ...)") > REPR_LIMIT:
                break
            kept.append(p)
        return head + ", ".join([*kept, "..."]) + ")"

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able data (nested results as their own ``to_dict()``)."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_pandas(self) -> Any:
        """The result as a ``pandas.DataFrame``: one row per item of its rows field, else one row.

        Raises ImportError (one line naming the extra) when pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(PANDAS_MISSING) from None
        return pd.DataFrame(self._table())

    def _table(self) -> Any:
        """What ``to_pandas`` builds its frame from: a list of row dicts, or a dict of columns."""
        if self._table_columns:
            return {c: plain(getattr(self, c)) for c in self._table_columns}
        items = getattr(self, self._table_field, None) if self._table_field else None
        if isinstance(items, list | tuple) and items:
            return [_row(r) for r in items]
        return [self.to_dict()]


class FrozenDict(dict):
    """A dict that refuses changes: a result's read-only mapping that ``copy.deepcopy`` and
    ``dataclasses.asdict`` still handle (a ``MappingProxyType`` makes them raise).

    >>> d = FrozenDict(a=1)
    >>> d["b"] = 2
    Traceback (most recent call last):
    TypeError: a result's mapping is read-only
    """

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a result's mapping is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _readonly  # type: ignore

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        import copy

        return FrozenDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __reduce__(self) -> tuple:
        return FrozenDict, (dict(self),)


def _row(item: Any) -> dict[str, Any]:
    out = plain(item)
    return out if isinstance(out, dict) else {"value": out}
