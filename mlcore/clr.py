"""Cyclical learning rates (Smith 2017) with ``torch.optim.lr_scheduler.CyclicLR``.

The learning rate moves between ``base_lr`` and ``max_lr`` each mini-batch (``triangular``: a fixed
triangle; ``triangular2``: the amplitude halves every cycle; ``exp_range``: the amplitude is scaled by
``gamma ** iteration``), and momentum cycles inversely between 0.8 and 0.9 as Smith recommends. The bounds
come from the caller or from a range test (:func:`clr_bounds`). After every epoch the model is evaluated on
the validation split.

Examples
--------
>>> from mlcore.images import load_images
>>> res = train_clr(load_images(subset=60), base_lr=0.01, max_lr=0.1, epochs=2, batch_size=16,
...                 device="cpu", show_progress=False)
>>> res.train_loss.shape, len(res.lrs), round(float(res.lrs[0]), 6)
((2,), 6, 0.01)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlperf.errors import ArgumentError, ref
from dlperf.jsonio import json_text
from dlperf.results import Result
from mlcore.training import MAX_LR, check_batches, check_positive_float, check_positive_int

if TYPE_CHECKING:  # pragma: no cover
    from mlcore.images import ImageData
    from mlcore.lr_range import LRRangeResult

__all__ = ["CLR_MODES", "CLRResult", "check_bounds", "clr_bounds", "train_clr", "clr_table", "clr_json", "clr_figure", "plot_clr"]

CLR_MODES = ("triangular", "triangular2", "exp_range")


def clr_bounds(result: LRRangeResult, ratio: float = 4.0) -> tuple[float, float]:
    """``(base_lr, max_lr)`` from a range test: ``max_lr`` = the minimum / 10 suggestion (the smoothed
    minimum lags the true one, and fastai divides by 10 for that reason), ``base_lr = max_lr / ratio``
    (Smith: base 1/3 to 1/4 of max).

    Examples
    --------
    >>> from mlcore.lr_range import range_test_curve
    >>> import numpy as np
    >>> lrs = np.geomspace(1e-4, 1, 40); loss = 2 - np.tanh(np.linspace(-2, 3, 40))
    >>> res = range_test_curve(lrs, loss)
    >>> [round(b, 6) for b in clr_bounds(res)]
    [0.007676, 0.030703]
    """
    from dlperf.validate import check_type
    from mlcore.lr_range import LRRangeResult
    check_type("result", result, LRRangeResult, "an LRRangeResult (lr_range_test or range_test_curve)")
    ratio = check_positive_float("ratio", ratio)
    top = result.suggestion_min10
    if not math.isfinite(top):
        raise ArgumentError("result", what="the range test gave no minimum / 10 suggestion",
                            fix=f"give {ref('base_lr')} and {ref('max_lr')} yourself")
    return top / ratio, top


@dataclass(frozen=True, repr=False)
class CLRResult(Result):
    """Training with a cyclical learning rate.

    Attributes
    ----------
    lrs : numpy.ndarray
        Learning rate used by mini-batch i (read-only).
    train_loss, train_acc, val_loss, val_acc : numpy.ndarray
        Per epoch e: mean training loss and accuracy during the epoch, validation loss and accuracy after
        it (accuracies are fractions in [0, 1]).
    """

    mode: str
    base_lr: float
    max_lr: float
    step_size_up: int
    gamma: float
    epochs: int
    batch_size: int
    seed: int
    lrs: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray


def check_bounds(base_lr: float, max_lr: float) -> tuple[float, float]:
    """``(base_lr, max_lr)`` as floats when both are in (0, MAX_LR] and ``max_lr`` is above ``base_lr``
    (:func:`train_clr` checks them; ``mlcore clr`` before its data loads)."""
    base = check_positive_float("base_lr", base_lr, MAX_LR)
    top = check_positive_float("max_lr", max_lr, MAX_LR)
    if top <= base:
        raise ArgumentError("max_lr", max_lr, f"give a value above {ref('base_lr')} ({base_lr!r})")
    return base, top


def train_clr(model=None, loader=None, loss_fn=None, *, val_loader=None, optimizer=None, amp: str | None = None,
              accumulation_steps: int = 1, data: ImageData | None = None, base_lr: float, max_lr: float,
              mode: str = "triangular", epochs: int = 5, batch_size: int = 64, step_size_epochs: float = 1.0,
              gamma: float = 0.99, momentum: float = 0.9, seed: int = 0, device: str = "auto",
              show_progress: bool | None = None) -> CLRResult:
    """Train with ``CyclicLR``; one half cycle = ``step_size_epochs`` epochs.

    Any model and loader (batches ``(inputs, labels, ...)``), as in :func:`~mlcore.lr_range.lr_range_test`;
    by default a fresh small Inception on ``data`` (digits) in seeded shuffled batches of ``batch_size``.
    ``val_loader`` (default: the built-in validation split, or none with a loader of your own) is
    evaluated after every epoch (NaN without one; accuracy NaN when outputs are not class logits).
    ``gamma`` is the per-iteration decay of ``exp_range`` (ignored by the other modes). The model is
    trained in place; ``optimizer`` defaults to SGD with ``momentum``, which ``CyclicLR`` cycles.
    """
    import torch

    from dlperf.progress import progress
    from mlcore.loop import Stepper, check_amp, evaluate_loader, image_epoch, train_epoch_batches
    from mlcore.lr_range import resolve_model_data
    from mlcore.models import inception_small
    from mlcore.training import check_seed, deterministic, evaluate, select_device, to_tensors

    base, top = check_bounds(base_lr, max_lr)
    if mode not in CLR_MODES:
        raise ArgumentError("mode", mode, f"give one of {', '.join(CLR_MODES)}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_positive_float("step_size_epochs", step_size_epochs)
    gamma = check_positive_float("gamma", gamma)
    amp, seed = check_amp(amp), check_seed(seed)
    acc = check_positive_int("accumulation_steps", accumulation_steps)
    dev = select_device(device)
    model, data = resolve_model_data(model, loader, data, seed)
    if loader is None:
        steps_per_epoch = math.ceil(math.ceil(len(data.train_y) / batch_size) / acc)
    else:
        try:
            steps_per_epoch = math.ceil(len(loader) / acc)
        except TypeError:
            raise ArgumentError("loader", what="it has no len()", fix="give a DataLoader over a map-style data set") from None
        batch_size = int(getattr(loader, "batch_size", None) or 0)
    check_batches("epochs", epochs, epochs * steps_per_epoch * acc, f"epochs x {steps_per_epoch * acc} batches")
    step_size_up = max(1, round(step_size_epochs * steps_per_epoch))
    lrs: list[float] = []
    rows = []
    with deterministic(seed):
        if loader is None:
            t = to_tensors(data, dev)
            gen = torch.Generator().manual_seed(seed)

            def epoch():
                return image_epoch(t, batch_size, gen, dev)

            model = model if model is not None else inception_small(data.input_shape, data.num_classes)

            def validate():
                va = evaluate(model, t.val_x, t.val_y)
                return va.loss, va.accuracy
        else:
            def epoch():
                return loader

            def validate():
                if val_loader is None:
                    return math.nan, math.nan
                return evaluate_loader(model, val_loader, loss_fn, amp=amp, device=dev)
        model.to(dev)
        opt = optimizer or torch.optim.SGD(model.parameters(), lr=base, momentum=momentum)
        sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=base, max_lr=top, step_size_up=step_size_up,
                                                  mode=mode, gamma=gamma, cycle_momentum="momentum" in opt.defaults)
        step = Stepper(model, opt, loss_fn, amp=amp, accumulation_steps=acc, device=dev)
        with progress(epochs * steps_per_epoch, f"CLR {mode}", show_progress) as bar:
            def on_step(_: int, lr: float, loss: float) -> None:
                lrs.append(lr)
                bar.advance()

            for _ in range(epochs):
                tr = train_epoch_batches(step, epoch(), scheduler=sched, on_step=on_step)
                rows.append((tr.loss, tr.accuracy, *validate()))
    cols = [np.array(c, dtype=float) for c in zip(*rows, strict=True)]
    arrays = [np.array(lrs, dtype=float), *cols]
    for a in arrays:
        a.setflags(write=False)
    return CLRResult(mode, base, top, step_size_up, gamma, epochs, batch_size, int(seed), *arrays)


def clr_table(result: CLRResult):
    """A rich Table with one row per epoch."""
    from rich.table import Table

    table = Table(title=f"CLR {result.mode}: lr {result.base_lr:.3g} .. {result.max_lr:.3g}, "
                        f"half cycle {result.step_size_up} steps")
    for name in ("epoch", "train loss", "train acc %", "val loss", "val acc %"):
        table.add_column(name, justify="right")
    for e in range(result.epochs):
        table.add_row(str(e + 1), f"{result.train_loss[e]:.4f}", f"{100 * result.train_acc[e]:.2f}",
                      f"{result.val_loss[e]:.4f}", f"{100 * result.val_acc[e]:.2f}")
    return table


def clr_json(result: CLRResult) -> str:
    """JSON text of the run: settings, per-iteration ``lrs`` and per-epoch metrics."""
    return json_text({
        "mode": result.mode, "base_lr": result.base_lr, "max_lr": result.max_lr,
        "step_size_up": result.step_size_up, "gamma": result.gamma, "epochs": result.epochs,
        "batch_size": result.batch_size, "seed": result.seed, "lrs": result.lrs.tolist(),
        "train_loss": result.train_loss.tolist(), "train_acc": result.train_acc.tolist(),
        "val_loss": result.val_loss.tolist(), "val_acc": result.val_acc.tolist(),
    })


def clr_figure(result: CLRResult):
    """Three panels: the learning rate per step, loss per epoch, accuracy per epoch (integer epoch ticks)."""
    from dlperf.plotting import integer_ticks, legend, new_figure

    fig, (ax_lr, ax_loss, ax_acc) = new_figure(12, 3.8, 1, 3)
    ax_lr.plot(np.arange(1, len(result.lrs) + 1), result.lrs, label=f"CyclicLR {result.mode}")
    ax_lr.set_xlabel("mini-batch")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title(f"CyclicLR ({result.mode})")
    epochs = np.arange(1, result.epochs + 1)
    ax_loss.plot(epochs, result.train_loss, "o-", label="train")
    ax_loss.plot(epochs, result.val_loss, "s-", label="validation")
    ax_loss.set_ylabel("loss")
    ax_acc.plot(epochs, 100 * result.train_acc, "o-", label="train")
    ax_acc.plot(epochs, 100 * result.val_acc, "s-", label="validation")
    ax_acc.set_ylabel("accuracy (%)")
    for ax in (ax_lr, ax_loss, ax_acc):
        integer_ticks(ax)
        legend(ax, fontsize=8, loc="best")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
    return fig


def plot_clr(result: CLRResult, path) -> None:
    """Save :func:`clr_figure` as a PNG."""
    from dlperf.plotting import save

    save(clr_figure(result), path)
