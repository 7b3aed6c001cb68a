"""Batch-size sweep: the same model trained at doubling batch sizes, with a fixed learning rate and with
the linear scaling rule (Goyal et al. 2017: multiply the learning rate by k when the batch grows k-fold).

Every run starts from the same seeded initialisation and sees the same number of epochs, so a bigger batch
means fewer optimizer steps. With a fixed learning rate that usually costs training loss; the linear rule
keeps the distance travelled per epoch roughly constant.

Examples
--------
>>> doubling(16, 128)
(16, 32, 64, 128)
>>> from mlcore.images import load_images
>>> res = batch_size_sweep(load_images(subset=40), lr=0.01, batch_sizes=(8, 16), epochs=1, rules=("fixed", "linear"),
...                        device="cpu", show_progress=False)
>>> list(zip(res.rule, res.batch_size.tolist(), res.lr.tolist(), res.steps.tolist()))
[('fixed', 8, 0.01, 4), ('fixed', 16, 0.01, 2), ('linear', 8, 0.01, 4), ('linear', 16, 0.02, 2)]
"""

from __future__ import annotations

import csv
import io
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

__all__ = ["RULES", "BatchSweepResult", "doubling", "batch_size_sweep", "batch_sweep_table", "batch_sweep_json",
           "batch_sweep_csv", "batch_sweep_figure",
           "plot_batch_sweep"]

RULES = ("fixed", "linear")


def doubling(min_batch: int, max_batch: int) -> tuple[int, ...]:
    """``min_batch, 2 * min_batch, ...`` up to and including ``max_batch`` when it is reached exactly."""
    lo = check_positive_int("min_batch", min_batch)
    hi = check_positive_int("max_batch", max_batch)
    if hi < lo:
        raise ArgumentError("max_batch", max_batch, f"give a value >= {ref('min_batch')} ({min_batch!r})")
    out = [lo]
    while out[-1] * 2 <= hi:
        out.append(out[-1] * 2)
    return tuple(out)


@dataclass(frozen=True, repr=False)
class BatchSweepResult(Result):
    """One row per (rule, batch size), columnar.

    Attributes
    ----------
    rule : tuple of str
        ``"fixed"`` or ``"linear"`` for row i.
    batch_size, steps : numpy.ndarray
        Batch size and total optimizer steps of run i (int64, read-only).
    lr : numpy.ndarray
        Learning rate of run i: ``base_lr`` (fixed) or ``base_lr * batch / base_batch`` (linear).
    train_loss, train_acc : numpy.ndarray
        Mean training loss and accuracy over the last epoch of run i.
    val_loss, val_acc : numpy.ndarray
        Validation loss and accuracy after run i.
    """

    base_lr: float
    base_batch: int
    epochs: int
    seed: int
    rule: tuple[str, ...]
    batch_size: np.ndarray
    lr: np.ndarray
    steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray


def _loader_at(loader, batch_size: int, seed: int):
    """``loader``'s data set, collate function and shuffling, at another batch size (seeded order)."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    if not isinstance(loader, DataLoader):
        raise ArgumentError("loader", what=f"got a {type(loader).__name__}", fix="the sweep re-batches the data, give a DataLoader")
    shuffle = isinstance(loader.sampler, RandomSampler)
    return DataLoader(loader.dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=loader.collate_fn,
                      drop_last=loader.drop_last, num_workers=loader.num_workers,
                      generator=torch.Generator().manual_seed(seed) if shuffle else None)


def batch_size_sweep(model=None, loader=None, loss_fn=None, *, val_loader=None, amp: str | None = None,
                     data: ImageData | None = None, lr: float = 0.01, batch_sizes=(16, 32, 64, 128, 256),
                     epochs: int = 2, rules=RULES, base_batch: int | None = None, momentum: float = 0.9,
                     seed: int = 0, device: str = "auto", show_progress: bool | None = None) -> BatchSweepResult:
    """Train for ``epochs`` at each batch size under each rule, every run from the same initial weights.

    By default a fresh small Inception on ``data`` (digits). With ``model`` (any ``nn.Module``, copied for
    each run so every run starts from its current weights) and ``loader`` (a ``DataLoader``: its data
    set, collate function and shuffling are re-batched at each size, shuffled with ``seed``), the sweep
    runs on your network; ``val_loader`` is evaluated after each run (NaN without one). ``base_batch``
    (default: the smallest batch size) is the batch at which the linear rule uses ``lr``. A linear-rule
    run at ``base_batch`` is the fixed-rule run and is not trained twice.
    """
    import copy

    import torch

    from dlperf.progress import progress
    from mlcore.loop import Stepper, check_amp, evaluate_loader, image_epoch, train_epoch_batches
    from mlcore.lr_range import resolve_model_data
    from mlcore.models import inception_small
    from mlcore.training import (
        check_seed,
        deterministic,
        evaluate,
        select_device,
        to_tensors,
    )

    lr = check_positive_float("lr", lr, MAX_LR)
    sizes = tuple(check_positive_int("batch_sizes", b) for b in batch_sizes)
    if not sizes:
        raise ArgumentError("batch_sizes", what="got none", fix="give at least one batch size")
    epochs = check_positive_int("epochs", epochs)
    rules = tuple(rules)
    if not rules or any(r not in RULES for r in rules):
        raise ArgumentError("rules", rules, f"give one or more of {', '.join(RULES)}")
    base = check_positive_int("base_batch", base_batch) if base_batch is not None else min(sizes)
    amp, seed = check_amp(amp), check_seed(seed)
    dev = select_device(device)
    model, data = resolve_model_data(model, loader, data, seed)
    plan = [(r, b, lr if r == "fixed" else lr * b / base) for r in rules for b in sizes]
    n_train = len(data.train_y) if loader is None else len(loader.dataset)
    total = sum(epochs * math.ceil(n_train / b) for b, _ in dict.fromkeys((b, x) for _, b, x in plan))
    check_batches("epochs", epochs, total, "epochs x batches per epoch, summed over the batch sizes")
    done: dict[tuple[int, float], tuple] = {}
    rows = []
    t = to_tensors(data, dev) if loader is None else None
    with progress(total, "batch-size sweep", show_progress) as bar:
        for rule, b, run_lr in plan:
            key = (b, run_lr)
            if key not in done:
                with deterministic(seed):
                    if model is None:
                        net = inception_small(data.input_shape, data.num_classes).to(dev)
                    else:
                        net = copy.deepcopy(model).to(dev)
                    opt = torch.optim.SGD(net.parameters(), lr=run_lr, momentum=momentum)
                    steps = 0
                    step = Stepper(net, opt, loss_fn, amp=amp, device=dev)
                    gen = torch.Generator().manual_seed(seed)
                    loader_b = _loader_at(loader, b, seed) if loader is not None else None
                    for _ in range(epochs):
                        epoch = loader_b if loader_b is not None else image_epoch(t, b, gen, dev)
                        tr = train_epoch_batches(step, epoch, on_step=lambda *_: bar.advance())
                        steps += tr.steps
                    if loader is None:
                        va = evaluate(net, t.val_x, t.val_y)
                        val = (va.loss, va.accuracy)
                    else:
                        val = ((math.nan, math.nan) if val_loader is None
                               else evaluate_loader(net, val_loader, loss_fn, amp=amp, device=dev))
                done[key] = (steps, tr.loss, tr.accuracy, *val)
            rows.append((rule, b, run_lr, *done[key]))
    cols = list(zip(*rows, strict=True))
    ints = [np.array(c, dtype=np.int64) for c in (cols[1], cols[3])]
    floats = [np.array(c, dtype=float) for c in (cols[2], *cols[4:])]
    for a in (*ints, *floats):
        a.setflags(write=False)
    return BatchSweepResult(lr, base, epochs, int(seed), tuple(cols[0]), ints[0], floats[0], ints[1], *floats[1:])


_HEADER = ("rule", "batch_size", "lr", "steps", "train_loss", "train_acc", "val_loss", "val_acc")


def _rows(result: BatchSweepResult):
    for i, rule in enumerate(result.rule):
        yield (rule, int(result.batch_size[i]), float(result.lr[i]), int(result.steps[i]),
               float(result.train_loss[i]), float(result.train_acc[i]), float(result.val_loss[i]),
               float(result.val_acc[i]))


def batch_sweep_table(result: BatchSweepResult):
    """A rich Table with one row per (rule, batch size)."""
    from rich.table import Table

    table = Table(title=f"Batch-size sweep: {result.epochs} epoch(s), lr {result.base_lr:g} at batch "
                        f"{result.base_batch}")
    for name in ("rule", "batch", "lr", "steps", "train loss", "train acc %", "val loss", "val acc %"):
        table.add_column(name, justify="left" if name == "rule" else "right")
    for rule, b, lr, steps, tl, ta, vl, va in _rows(result):
        table.add_row(rule, str(b), f"{lr:.4g}", str(steps), f"{tl:.4f}", f"{100 * ta:.2f}", f"{vl:.4f}",
                      f"{100 * va:.2f}")
    return table


def batch_sweep_json(result: BatchSweepResult) -> str:
    """JSON text: the settings and a list of row objects."""
    return json_text({"base_lr": result.base_lr, "base_batch": result.base_batch, "epochs": result.epochs,
                       "seed": result.seed, "rows": [dict(zip(_HEADER, r, strict=True)) for r in _rows(result)]})


def batch_sweep_csv(result: BatchSweepResult) -> str:
    """CSV text, one line per row, with a header."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_HEADER)
    writer.writerows(_rows(result))
    return buf.getvalue()


def batch_sweep_figure(result: BatchSweepResult):
    """Training loss and accuracy against batch size (log2 axis, a tick at each batch size), per rule."""
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    from dlperf.plotting import legend, new_figure

    fig, (ax_loss, ax_acc) = new_figure(10, 3.8, 1, 2)
    for k, rule in enumerate(dict.fromkeys(result.rule)):
        sel = np.array([r == rule for r in result.rule])
        label = "fixed lr" if rule == "fixed" else "linear scaling rule"
        ax_loss.plot(result.batch_size[sel], result.train_loss[sel], "o-", color=f"C{k}", label=label)
        ax_acc.plot(result.batch_size[sel], 100 * result.train_acc[sel], "o-", color=f"C{k}", label=f"{label}, train")
        ax_acc.plot(result.batch_size[sel], 100 * result.val_acc[sel], "s--", color=f"C{k}", label=f"{label}, val")
    sizes = sorted({int(b) for b in result.batch_size})
    for ax in (ax_loss, ax_acc):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))
        ax.set_xlabel("batch size")
        legend(ax, fontsize=8, loc="best")
    ax_loss.set_ylabel("training loss (last epoch)")
    ax_acc.set_ylabel("accuracy (%)")
    fig.suptitle(f"Batch-size sweep, {result.epochs} epoch(s) each")
    return fig


def plot_batch_sweep(result: BatchSweepResult, path) -> None:
    """Save :func:`batch_sweep_figure` as a PNG."""
    from dlperf.plotting import save

    save(batch_sweep_figure(result), path)
