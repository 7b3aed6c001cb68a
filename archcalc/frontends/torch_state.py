"""Run torch work without leaving global state changed: the thread count and the CPU RNG are restored.

The cross-checks run real models (a twin's forward pass, autograd's saved tensors) and set torch's thread
count for speed and seed its RNG for repeatable weights; a library call must not leave those changed for
its caller. :func:`torch_state` saves both on entry and restores them on exit (an exception included);
:func:`keeps_torch_state` does the same around a function.

Examples
--------
>>> import torch
>>> before = torch.get_num_threads(), torch.random.get_rng_state()
>>> with torch_state(threads=1, seed=0):
...     _ = torch.randn(3)
>>> torch.get_num_threads() == before[0], torch.equal(torch.random.get_rng_state(), before[1])
(True, True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["torch_state", "keeps_torch_state"]


@contextmanager
def torch_state(threads: int | None = None, seed: int | None = None) -> Iterator[None]:
    """Set the thread count and seed the CPU RNG inside the block (either may be None: left as is); restore
    both on exit."""
    import torch

    saved_threads, saved_rng = torch.get_num_threads(), torch.random.get_rng_state()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if seed is not None:
            torch.random.default_generator.manual_seed(seed)
        yield
    finally:
        torch.set_num_threads(saved_threads)
        torch.random.set_rng_state(saved_rng)


def keeps_torch_state(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run inside :func:`torch_state`: whatever it sets, the caller's thread count and RNG come back."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch_state():
            return fn(*args, **kwargs)

    return wrapper
