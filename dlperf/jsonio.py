"""Strict JSON text: no ``NaN`` / ``Infinity`` tokens, which RFC 8259 forbids and many parsers reject.

An undefined number (``nan``, ``inf``, ``-inf``, as Python or NumPy floats) becomes ``null``; NumPy
integers, floats, booleans and arrays become their plain JSON counterparts; tuples become lists.

Examples
--------
>>> print(json_text({"a": [1, float("nan"), 2.5]}, indent=None))
{"a": [1, null, 2.5]}
>>> import numpy as np
>>> print(json_text({"n": np.int64(3), "x": np.array([1.0, np.inf])}, indent=None))
{"n": 3, "x": [1.0, null]}
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["strict", "json_text"]


def strict(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` and NumPy scalars / arrays as Python values."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):  # np.float64 too: it is a float
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and the other numpy scalars
        return strict(obj.tolist())
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """``json.dumps(strict(obj))`` that raises rather than ever writing a ``NaN`` token."""
    return json.dumps(strict(obj), indent=indent, allow_nan=False)
