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

from pathlib import Path
from typing import Any

from dlperf.errors import ArgumentError

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
    """Run the file inside the shared user-code boundary (:mod:`dlperf.usercode`): its prints go to stderr,
    whatever it raises (``sys.exit`` and ``KeyboardInterrupt`` included) is one line."""
    from dlperf.usercode import load_source

    return load_source(path, "model", f"_archcalc_user_model_{abs(hash(str(path.resolve())))}")


def load_model(spec: str) -> Any:
    """The ``nn.Module`` that ``FILE.py:NAME`` names (a class is instantiated without arguments, a factory
    is called without arguments, an instance is used as it is).

    Raises
    ------
    ValueError
        One line: the file is missing or fails, NAME is not in it (the message lists the modules and
        factories it has), or building the model fails.
    """
    path, name = split_spec(spec)
    from dlperf.usercode import defined_names

    static = defined_names(path) if path.is_file() else None
    if static is not None and name not in static[0]:  # a misspelt NAME refused before the file and torch load
        raise ArgumentError("model", what=f"{str(path)!r} has no {name!r}",
                            fix=f"it defines {', '.join(static[1]) or 'no modules'}")
    source = _load_source(path)  # a missing file is refused before torch loads
    import torch.nn as nn

    obj = getattr(source, name, None)
    if obj is None:
        choices = sorted(k for k, v in vars(source).items() if not k.startswith("_") and (
            (isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == source.__name__)
            or isinstance(v, nn.Module) or (callable(v) and getattr(v, "__module__", None) == source.__name__)))
        raise ArgumentError("model", what=f"{str(path)!r} has no {name!r}", fix=f"it defines {', '.join(choices) or 'no modules'}")
    from dlperf.usercode import describe, guard_forward, user_code

    where = f"model: {name} in {str(path)!r}"
    with user_code(where, f"{name}()", "give a class or factory that takes no arguments, or fix it"):
        model = obj if isinstance(obj, nn.Module) else obj()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{where} gives {describe(model)}, not a torch.nn.Module")
    return guard_forward(model, where)  # its forward runs while tracing: prints to stderr, exits as errors
