"""Shared training machinery: device choice, determinism, mini-batches, one epoch, evaluation.

Mini-batches are drawn by a ``torch.Generator`` seeded from the run's seed (no DataLoader workers), and
``torch.use_deterministic_algorithms`` is switched on during a run, so a run on the CPU is a pure function
of its seed.

Examples
--------
>>> import torch
>>> from mlcore.images import load_images
>>> data = load_images("digits", subset=100)
>>> with deterministic(0):
...     model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
...     opt = torch.optim.SGD(model.parameters(), lr=0.1)
...     tensors = to_tensors(data, torch.device("cpu"))
...     stats = train_epoch(model, opt, tensors.train_x, tensors.train_y, 16, torch.Generator().manual_seed(0))
>>> stats.steps, 0.0 <= stats.accuracy <= 1.0
(5, True)
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlperf.errors import ArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mlcore.images import ImageData

__all__ = ["DEVICES", "EpochStats", "Tensors", "select_device", "deterministic", "to_tensors", "batches",
           "train_epoch", "evaluate", "check_positive_int", "check_positive_float",
           "check_seed"]

DEVICES = ("auto", "cpu", "cuda")


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as int, or raise :class:`~dlperf.errors.ArgumentError` naming the parameter ``name``
    when it is not >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ArgumentError(name, value, f"give an integer >= {minimum}")
    return int(value)


#: Largest learning rate accepted: lr x gradient must stay a finite float32 (3.4e38) for any sane gradient;
#: beyond it a step overflows inside torch (a RuntimeError, not a result).
MAX_LR = 1e6


#: Most forward/backward micro-batches one command may ask for: at the ~1 ms a step of the small CPU models
#: that is about 3 h; more is refused with the count and the way out.
MAX_BATCHES = 10**7


def check_batches(name: str, value: Any, batches: int, what: str) -> None:
    """Refuse a request of more than :data:`MAX_BATCHES` micro-batches, naming the option that asked for it.

    >>> check_batches("epochs", 10**9, 10**9 * 30, "epochs x 30 batches")
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: epochs: got 1000000000; that is 30000000000 batches (epochs x 30 batches), more than 10000000 (about 3 h or more at ~1 ms a batch); ask for fewer
    """
    if batches > MAX_BATCHES:
        raise ArgumentError(name, value, f"that is {batches} batches ({what}), more than {MAX_BATCHES} "
                            "(about 3 h or more at ~1 ms a batch); ask for fewer")


def check_positive_float(name: str, value: Any, maximum: float | None = None) -> float:
    """Return ``value`` as float, or raise :class:`~dlperf.errors.ArgumentError` naming the parameter ``name``
    when it is not finite > 0 (or above ``maximum``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v <= 0:
        raise ArgumentError(name, value, "give a finite number > 0")
    if maximum is not None and v > maximum:
        raise ArgumentError(name, value, f"give a number in (0, {maximum:g}] (a larger step overflows float32)")
    return v


def check_seed(value: Any, name: str = "seed") -> int:
    """Return ``value`` as an int in [0, 2**32 - 1] (what numpy, torch and scikit-learn all accept), or
    raise :class:`~dlperf.errors.ArgumentError` naming ``seed``.

    >>> check_seed(7)
    7
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < 2**32:
        raise ArgumentError(name, value, f"give an integer from 0 to {2**32 - 1}")
    return int(value)


def select_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; ``"cuda"`` without a GPU is an error."""
    import torch

    if name not in DEVICES:
        raise ArgumentError("device", name, f"give one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("device", name, "torch sees no CUDA device; use cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python, numpy and torch, and require deterministic torch kernels inside the block."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


@dataclass(frozen=True)
class Tensors:
    """The four arrays of an :class:`~mlcore.images.ImageData` as torch tensors on one device."""

    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any


def to_tensors(data: ImageData, device: torch.device) -> Tensors:
    """Copy a data split to ``device`` once, so epochs only index it."""
    import torch

    return Tensors(*(torch.tensor(np.array(a), device=device)
                     for a in (data.train_x, data.train_y, data.val_x, data.val_y)))


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index tensors of one epoch's mini-batches: shuffled with ``generator`` (None: in order).

    The last batch may be short; all ``n`` samples are used once.
    """
    import torch

    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(torch.split(order, batch_size))


@dataclass(frozen=True)
class EpochStats:
    """Mean loss and accuracy (fraction correct, sample-weighted) over one pass, and its optimizer steps."""

    loss: float
    accuracy: float
    steps: int


def train_epoch(model, optimizer, x, y, batch_size: int, generator, *, scheduler=None,
                on_step: Callable[[int, float, float], None] | None = None) -> EpochStats:
    """One pass of mini-batch training; ``scheduler.step()`` after each batch when given.

    ``on_step(step, lr_used, loss)`` is called after each optimizer step (for LR curves and progress).
    Loss and accuracy are sample-weighted means of the values seen during the pass (model in train mode).
    """
    import torch
    from torch.nn import functional as F

    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    steps = 0
    for idx in batches(len(y), batch_size, generator):
        idx = idx.to(x.device)
        xb, yb = x[idx], y[idx]
        lr_used = optimizer.param_groups[0]["lr"]
        optimizer.zero_grad(set_to_none=True)
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = float(loss.detach())
        with torch.no_grad():
            correct += int((out.argmax(1) == yb).sum())
        total_loss += value * len(yb)
        seen += len(yb)
        steps += 1
        if on_step is not None:
            on_step(steps, lr_used, value)
    return EpochStats(total_loss / seen, correct / seen, steps)


def evaluate(model, x, y, batch_size: int = 512) -> EpochStats:
    """Mean cross-entropy and accuracy of ``model`` in eval mode (no gradient)."""
    import torch
    from torch.nn import functional as F

    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for idx in batches(len(y), batch_size, None):
            idx = idx.to(x.device)
            out = model(x[idx])
            total_loss += float(F.cross_entropy(out, y[idx], reduction="sum"))
            correct += int((out.argmax(1) == y[idx]).sum())
    return EpochStats(total_loss / len(y), correct / len(y), 0)
