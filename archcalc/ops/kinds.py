"""The table of registered op kinds, below the registry that fills it and the traits that ask it.

:mod:`~archcalc.ops.registry` adds each formula here when a family registers it, and
:mod:`~archcalc.ops.traits` asks whether a kind exists, so neither imports the other's lookups. The table is
complete once ``archcalc.ops`` is imported, which Python does before any of its modules (its
``__init__`` imports every family).

Examples
--------
>>> import archcalc.ops
>>> "Conv2d" in REGISTRY
True
>>> str(unknown_kind("Conv9d")).startswith("op kind: got 'Conv9d'; known kinds are ")
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["REGISTRY", "unknown_kind"]

#: Every registered formula by op kind.
REGISTRY: dict[str, Callable[..., Any]] = {}


def unknown_kind(kind: str) -> ValueError:
    """The error for an op kind nobody registered, listing the known ones."""
    return ValueError(f"op kind: got {kind!r}; known kinds are {', '.join(sorted(REGISTRY))}")
