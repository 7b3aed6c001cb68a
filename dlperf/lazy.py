"""Lazy package top levels: a curated name is imported on first use, so importing the package stays cheap.

:func:`lazy_exports` gives a package's ``__getattr__`` and ``__dir__`` for ``{name: module}``, and keeps a
function that shares its name with its module (``staleness.theory``, ``mlcore.stale_training``) the package
attribute: importing the submodule later does not replace the function with the module. (So
``import mlcore.stale_training as m`` binds the function too; reach such a module by
``importlib.import_module("mlcore.stale_training")`` or import its names with ``from mlcore.stale_training import ...``.)

>>> import types, sys
>>> pkg = types.ModuleType("demo_pkg")
>>> sys.modules["demo_pkg"] = pkg
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("demo_pkg", {"dedent": "textwrap"})
>>> pkg.dedent("  x")
'x'
>>> del sys.modules["demo_pkg"]
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


class _Package(types.ModuleType):
    """A package whose curated names win over same-named submodules."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in getattr(self, "_lazy_exports", ()):
            return  # the import system binding the submodule: the module stays in sys.modules only
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting each ``name`` from module ``exports[name]``."""
    module = sys.modules[package]
    if isinstance(module, types.ModuleType) and not isinstance(module, _Package):
        module.__class__ = _Package
    module._lazy_exports = dict(exports)

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(module), *exports})

    return __getattr__, __dir__
