"""A user's own model: ``path/to/file.py:NAME`` names an ``nn.Module`` class, a zero-argument factory or a
module instance defined in that file.

Examples
--------
>>> import pathlib, tempfile
>>> src = "import torch.nn as nn\\nclass Tiny(nn.Module):\\n    def __init__(self):\\n        super().__init__()\\n" \\
...       "        self.fc = nn.Linear(4, 2)\\n    def forward(self, x):\\n        return self.fc(x)\\n"
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.py"
>>> _ = path.write_text(src)
>>> type(load_model(f"{path}:Tiny")).__name__
'Tiny'
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["is_model_file", "load_model", "split_spec"]


def is_model_file(spec: str) -> bool:
    """Whether ``spec`` reads ``something.py:NAME``."""
    path, sep, name = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(name)


def split_spec(spec: str) -> tuple[Path, str]:
    """``"dir/m.py:Net"`` -> ``(Path("dir/m.py"), "Net")``; other forms raise ``ValueError``."""
    if not is_model_file(spec):
        raise ValueError(f"model: got {spec!r}; give FILE.py:NAME (NAME: an nn.Module class or a zero-argument "
                         "factory in that file)")
    path, _, name = spec.rpartition(":")
    return Path(path), name


def _load_source(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"model: file {str(path)!r} does not exist; give the path of a Python file")
    key = f"_archcalc_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"model: cannot load {str(path)!r} as Python source")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error in the user's file: one line naming it
        del sys.modules[key]
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(f"model: running {str(path)!r} fails: {type(exc).__name__}: {first[:300]}") from None
    return module


def load_model(spec: str) -> Any:
    """The ``nn.Module`` that ``FILE.py:NAME`` names (a class is instantiated without arguments, a factory
    is called without arguments, an instance is used as it is).

    Raises
    ------
    ValueError
        One line: the file is missing or fails, NAME is not in it (the message lists the modules and
        factories it has), or building the model fails.
    """
    import torch.nn as nn

    path, name = split_spec(spec)
    source = _load_source(path)
    obj = getattr(source, name, None)
    if obj is None:
        choices = sorted(k for k, v in vars(source).items() if not k.startswith("_") and (
            (isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == source.__name__)
            or isinstance(v, nn.Module) or (callable(v) and getattr(v, "__module__", None) == source.__name__)))
        raise ValueError(f"model: {str(path)!r} has no {name!r}; it defines {', '.join(choices) or 'no modules'}")
    try:
        model = obj if isinstance(obj, nn.Module) else obj()
    except Exception as exc:  # a constructor needing arguments, or failing: one line
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(f"model: {name}() in {str(path)!r} fails: {type(exc).__name__}: {first[:300]}; "
                         "give a class or factory that takes no arguments") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: {name} in {str(path)!r} gives {type(model).__name__}, not a torch.nn.Module")
    return model
