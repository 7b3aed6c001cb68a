"""Learning-rate range test (Smith 2017) with the suggestion rules of torch-lr-finder and fastai.

The learning rate grows each optimizer step from ``start_lr`` to ``end_lr``, exponentially
(``start * (end / start) ** (i / (n - 1))``) or linearly, on any model and loader (default: a fresh small
Inception on digits); the model is put back as it was afterwards. The loss curve is smoothed as
torch-lr-finder does (``s_0 = l_0``, ``s_i = f * l_i + (1 - f) * s_{i-1}``, ``f = 0.05``) and the test stops
once the smoothed loss exceeds ``diverge_th`` (5) times the best so far (that last point is kept, as
torch-lr-finder keeps it) or the loss is no longer finite (that point is dropped).

Suggestions, all on the smoothed curve:

* ``steepest`` (torch-lr-finder): skip the first 10 and last 5 points, take ``argmin(np.gradient(s))``
  (the gradient is taken against the point index, not the learning rate);
* ``minimum / 10`` (fastai): the learning rate of the lowest loss divided by 10;
* ``valley`` (fastai): the longest strictly decreasing run of losses, a point 1/2 of the way into it.

The fastai rules skip the first ``n // 10`` and last 5 points, as ``lr_find`` does.

Examples
--------
>>> import numpy as np
>>> lrs = lr_schedule(1e-4, 1.0, 30, "exp")
>>> losses = smooth_losses(2.0 - np.tanh(np.linspace(-2, 2, 30)))
>>> float(lrs[0]), float(lrs[-1])
(0.0001, 1.0)
>>> round(suggest_steepest(lrs, losses), 6)
0.078805
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

__all__ = ["STEP_MODES", "LRRangeResult", "lr_schedule", "smooth_losses", "suggest_steepest",
           "suggest_minimum", "suggest_valley", "range_test_curve", "lr_finder_history_curve", "lr_range_test",
           "resolve_model_data", "lr_range_table", "lr_range_json", "lr_range_figure", "plot_lr_range"]

STEP_MODES = ("exp", "linear")


def lr_schedule(start_lr: float, end_lr: float, num_iter: int, step_mode: str = "exp") -> np.ndarray:
    """The learning rate of each of the ``num_iter`` steps, first ``start_lr``, last ``end_lr``."""
    start = check_positive_float("start_lr", start_lr, MAX_LR)
    end = check_positive_float("end_lr", end_lr, MAX_LR)
    n = check_positive_int("num_iter", num_iter, 2)
    if end <= start:
        raise ArgumentError("end_lr", end_lr, f"give a value above {ref('start_lr')} ({start_lr!r})")
    if step_mode not in STEP_MODES:
        raise ArgumentError("step_mode", step_mode, f"give one of {', '.join(STEP_MODES)}")
    r = np.arange(n) / (n - 1)
    lrs = start * (end / start) ** r if step_mode == "exp" else start + r * (end - start)
    lrs[-1] = end  # exact endpoint (the power can round)
    return lrs


def smooth_losses(losses, smooth_f: float = 0.05) -> np.ndarray:
    """Exponential moving average ``s_i = f * l_i + (1 - f) * s_{i-1}`` started at ``s_0 = l_0``."""
    raw = np.asarray(losses, dtype=float)
    if not 0.0 <= smooth_f < 1.0:
        raise ArgumentError("smooth_f", smooth_f, "give a number in [0, 1)")
    out = np.empty_like(raw)
    for i, value in enumerate(raw):
        out[i] = value if i == 0 or smooth_f == 0 else smooth_f * value + (1 - smooth_f) * out[i - 1]
    return out


def _window(lrs, losses, skip_start: int, skip_end: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("lrs, losses: give two sequences of numbers of the same length") from None
    if lrs.ndim != 1 or losses.ndim != 1 or len(lrs) != len(losses):
        raise ValueError(f"lrs, losses: got shapes {lrs.shape} and {losses.shape}; give two flat sequences "
                         "of the same length (one loss per learning rate)")
    if len(losses) and not np.isfinite(losses).any():
        raise ValueError("losses: every loss is NaN or infinite (the run diverged from its first step); "
                         "lower the learning rates (start_lr / end_lr) or check the data for NaN")
    stop = len(lrs) - skip_end
    return lrs[skip_start:stop], losses[skip_start:stop]


def suggest_steepest(lrs, losses, skip_start: int = 10, skip_end: int = 5) -> float:
    """torch-lr-finder's rule: the learning rate where ``np.gradient(losses)`` is most negative.

    Returns NaN with a warning when fewer than 2 points remain after skipping.
    """
    lr, loss = _window(lrs, losses, skip_start, skip_end)
    if len(loss) < 2:
        import warnings

        warnings.warn(f"suggest_steepest: only {len(loss)} points after skipping; no suggestion", stacklevel=2)
        return float("nan")
    return float(lr[int(np.argmin(np.gradient(loss)))])


def _fastai_window(lrs, losses) -> tuple[np.ndarray, np.ndarray]:
    lrs, losses = _window(lrs, losses, 0, 0)  # checked (types, lengths, all NaN) before len()
    return _window(lrs, losses, len(losses) // 10, 5)


def suggest_minimum(lrs, losses) -> float:
    """fastai's ``minimum`` rule: the learning rate of the lowest loss, divided by 10 (NaN if no points)."""
    lr, loss = _fastai_window(lrs, losses)
    return float(lr[int(np.argmin(loss))] / 10) if len(loss) else float("nan")


def suggest_valley(lrs, losses) -> float:
    """fastai's ``valley`` rule: longest decreasing subsequence ending at index ``e``, starting ``s = e - len``;
    suggest index ``s + int(d) + int(d / 2)`` with ``d = (e - s) / 3`` (NaN if no points)."""
    lr, loss = _fastai_window(lrs, losses)
    n = len(loss)
    if n == 0:
        return float("nan")
    run = np.ones(n, dtype=int)  # run[i]: longest strictly decreasing subsequence ending at i
    best_end = 0
    for i in range(1, n):
        earlier = run[:i][loss[:i] > loss[i]]
        if len(earlier):
            run[i] = earlier.max() + 1
        if run[i] > run[best_end]:
            best_end = i
    start = 0 if best_end == 0 else best_end - run[best_end]  # fastai keeps its initial 0 when nothing decreases
    third = (best_end - start) / 3
    return float(lr[start + int(third) + int(third / 2)])


@dataclass(frozen=True, repr=False)
class LRRangeResult(Result):
    """Outcome of a learning-rate range test.

    Attributes
    ----------
    lrs : numpy.ndarray
        Learning rate used at step i (read-only).
    raw_losses, losses : numpy.ndarray
        Mini-batch loss at step i, and its smoothed value (read-only).
    stopped_early : bool
        True when the loss diverged before ``num_iter`` steps.
    suggestion, suggestion_min10, suggestion_valley : float
        The steepest-descent (torch-lr-finder), minimum / 10 and valley (fastai) learning rates.
    batch_size : int
        Mini-batch size (0 when the loader does not say).
    smooth_f : float
        The smoothing factor applied here (0: the curve came smoothed, e.g. torch-lr-finder's history).
    amp : str or None
        ``"bf16"`` / ``"fp16"`` autocast of the forward pass, or None.
    accumulation_steps : int
        Mini-batches per optimizer step.
    """

    lrs: np.ndarray
    raw_losses: np.ndarray
    losses: np.ndarray
    stopped_early: bool
    suggestion: float
    suggestion_min10: float
    suggestion_valley: float
    start_lr: float
    end_lr: float
    num_iter: int
    step_mode: str
    batch_size: int
    seed: int
    smooth_f: float = 0.05
    amp: str | None = None
    accumulation_steps: int = 1

    @property
    def best_loss(self) -> float:
        """The lowest smoothed loss."""
        return float(np.min(self.losses))


def _diverged(smooth: float, best: float, diverge_th: float) -> bool:
    return smooth > diverge_th * best


def range_test_curve(lrs, raw_losses, *, smooth_f: float = 0.05, diverge_th: float = 5.0,
                     **settings) -> LRRangeResult:
    """Apply the stop rule and the three suggestion rules to a recorded (learning rate, loss) curve.

    The curve is cut after the first point whose smoothed loss exceeds ``diverge_th`` times the best
    smoothed loss before it (that point is kept), or before the first non-finite loss.
    :func:`lr_range_test` records its curve with the same rule, so this reproduces its result.
    ``settings`` fill the descriptive fields (``start_lr``, ``end_lr``, ``num_iter``, ``step_mode``,
    ``batch_size``, ``seed``, ``amp``, ``accumulation_steps``); missing ones are taken from the curve.

    Smoothing is applied once, here: give the raw mini-batch losses. A curve that is already smoothed,
    such as torch-lr-finder's ``history["loss"]``, goes through :func:`lr_finder_history_curve`
    (``smooth_f=0``: used as it is).

    Examples
    --------
    >>> res = range_test_curve([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.0, 50.0, 2.0], smooth_f=0.5)
    >>> res.losses.tolist(), res.stopped_early
    ([2.0, 1.5, 25.75], True)
    """
    lrs, raw = np.asarray(lrs, dtype=float), np.asarray(raw_losses, dtype=float)
    if lrs.shape != raw.shape or lrs.ndim != 1 or len(lrs) == 0:
        raise ValueError(f"lrs/raw_losses: got shapes {lrs.shape} and {raw.shape}; give two equal-length 1-d curves")
    threshold = check_positive_float("diverge_th", diverge_th)
    if not np.isfinite(raw[0]):
        raise ArgumentError("raw_losses", what="the first loss is not finite",
                            fix="start the range test at a lower learning rate")
    smooth = smooth_losses(np.where(np.isfinite(raw), raw, 0.0), smooth_f)
    keep, stopped = len(raw), False
    best = smooth[0]
    for i in range(1, len(raw)):
        if not np.isfinite(raw[i]):
            keep, stopped = i, True
            break
        best = min(best, smooth[i])
        if _diverged(smooth[i], best, threshold):
            keep, stopped = i + 1, True
            break
    lrs, raw, losses = lrs[:keep].copy(), raw[:keep].copy(), smooth[:keep].copy()
    for a in (lrs, raw, losses):
        a.setflags(write=False)
    params = {"start_lr": float(lrs[0]), "end_lr": float(lrs[-1]), "num_iter": len(lrs), "step_mode": "exp",
              "batch_size": 0, "seed": 0, "smooth_f": float(smooth_f)}
    params.update(settings)
    return LRRangeResult(lrs, raw, losses, stopped, suggest_steepest(lrs, losses),
                         suggest_minimum(lrs, losses), suggest_valley(lrs, losses), **params)


def _image_batches(data: ImageData, batch_size: int, seed: int, dev):
    """The built-in data's training split in seeded shuffled epochs, forever, as (inputs, labels) batches."""
    import torch

    from mlcore.training import batches, to_tensors

    tensors = to_tensors(data, dev)
    gen = torch.Generator().manual_seed(seed)
    while True:
        for idx in batches(len(tensors.train_y), batch_size, gen):
            idx = idx.to(dev)
            yield tensors.train_x[idx], tensors.train_y[idx]


def resolve_model_data(model, loader, data, seed: int):
    """The experiments' defaults: the small Inception sized from ``data`` (default: digits) when no model
    is given; a model without a loader trains on ``data``. Returns ``(model or None, data or None)``."""
    from mlcore.images import ImageData

    if isinstance(model, ImageData):  # the pre-1.0 call lr_range_test(data, ...)
        model, data = None, model
    if loader is not None and data is not None:
        raise ValueError("data/loader: got both; give a loader for your data or data for the built-in batches")
    if loader is None and data is None:
        from mlcore.images import load_images

        data = load_images("digits", seed=seed)
    if model is None and loader is not None:
        raise ArgumentError("model", what="got a loader but no model", fix="give the nn.Module to train on it")
    return model, data


def lr_range_test(model=None, loader=None, loss_fn=None, *, optimizer=None, amp: str | None = None,
                  accumulation_steps: int = 1, data: ImageData | None = None, start_lr: float = 1e-6,
                  end_lr: float = 10.0, num_iter: int = 100, step_mode: str = "exp", batch_size: int = 64,
                  momentum: float = 0.9, smooth_f: float = 0.05, diverge_th: float = 5.0, seed: int = 0,
                  device: str = "auto", restore: bool = True, show_progress: bool | None = None) -> LRRangeResult:
    """Run the range test on any model and data loader (default: a fresh small Inception on digits).

    Each step does what torch-lr-finder's ``range_test`` does: ``accumulation_steps`` batches of the
    loader (restarted when it runs out), ``loss_fn(model(x), y) / accumulation_steps`` summed, one
    optimizer step at the schedule's learning rate; the loss is smoothed once and the test stops on
    divergence (see the module notes).

    Parameters
    ----------
    model : torch.nn.Module, optional
        The network; default a fresh :func:`~mlcore.models.inception_small` sized from ``data``.
    loader : iterable of (inputs, labels, ...) batches, optional
        Usually a ``DataLoader``; default the training split of ``data`` in seeded shuffled epochs of
        ``batch_size`` (``batch_size`` is used only then).
    loss_fn : callable, optional
        ``loss_fn(outputs, labels)`` returning a mean loss; default cross-entropy.
    optimizer : torch.optim.Optimizer, optional
        Default ``SGD(momentum=momentum)``; its learning rate is overwritten each step.
    amp : {None, "bf16", "fp16"}
        Mixed precision of the forward pass (``torch.autocast``); bf16 works on the CPU.
    accumulation_steps : int
        Batches per optimizer step (gradient accumulation).
    data : ImageData, optional
        The built-in data (default: digits) for the default loader.
    restore : bool
        Put the model's and the optimizer's state back afterwards (torch-lr-finder's ``reset()``).

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> ds = torch.utils.data.TensorDataset(torch.randn(64, 5), torch.randint(0, 2, (64,)))
    >>> net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> res = lr_range_test(net, torch.utils.data.DataLoader(ds, batch_size=16), num_iter=20,
    ...                     device="cpu", show_progress=False)
    >>> len(res.lrs) <= 20, float(res.lrs[0]), res.batch_size
    (True, 1e-06, 16)
    """
    import copy

    import torch

    from dlperf.progress import progress
    from mlcore.loop import Stepper, check_amp, cycle
    from mlcore.models import inception_small
    from mlcore.training import check_seed, deterministic, select_device

    schedule = lr_schedule(start_lr, end_lr, num_iter, step_mode)
    batch_size = check_positive_int("batch_size", batch_size)
    threshold = check_positive_float("diverge_th", diverge_th)
    acc = check_positive_int("accumulation_steps", accumulation_steps)
    check_batches("accumulation_steps", acc, len(schedule) * acc, f"{len(schedule)} steps x {acc}")
    smooth_losses([0.0], smooth_f)  # validates --smooth before any training
    amp = check_amp(amp)
    seed = check_seed(seed)
    dev = select_device(device)
    model, data = resolve_model_data(model, loader, data, seed)
    lrs, raw = [], []
    stopped = False
    with deterministic(seed):
        if model is None:
            batches = _image_batches(data, batch_size, seed, dev)
            model = inception_small(data.input_shape, data.num_classes)
        elif loader is None:
            batches = _image_batches(data, batch_size, seed, dev)
        else:
            batches = cycle(loader)
            batch_size = int(getattr(loader, "batch_size", None) or 0)
        home = next(iter(model.parameters())).device
        saved = copy.deepcopy(model.state_dict()) if restore else None
        model.to(dev)
        opt = optimizer or torch.optim.SGD(model.parameters(), lr=float(schedule[0]), momentum=momentum)
        saved_opt = copy.deepcopy(opt.state_dict()) if restore and optimizer is not None else None
        step = Stepper(model, opt, loss_fn, amp=amp, accumulation_steps=accumulation_steps, device=dev)
        smooth = best = math.nan
        try:
            with progress(len(schedule), "lr range test", show_progress) as bar:
                for i, lr in enumerate(schedule):
                    for group in opt.param_groups:
                        group["lr"] = float(lr)
                    value = step(batches).loss
                    bar.advance()
                    if not math.isfinite(value):
                        stopped = True
                        break
                    lrs.append(float(lr))
                    raw.append(value)
                    smooth = value if i == 0 else smooth_f * value + (1 - smooth_f) * smooth
                    best = smooth if i == 0 else min(best, smooth)
                    if _diverged(smooth, best, threshold):
                        break
        finally:
            if saved is not None:
                model.load_state_dict(saved)
                model.to(home)
            if saved_opt is not None:
                opt.load_state_dict(saved_opt)
    if not raw:
        raise ArgumentError("start_lr", start_lr, "the first step already diverged; lower it")
    if stopped:  # a non-finite loss: mark it so range_test_curve reports the early stop
        lrs.append(float(schedule[len(lrs)]))
        raw.append(math.inf)
    return range_test_curve(lrs, raw, smooth_f=smooth_f, diverge_th=threshold, start_lr=float(start_lr),
                            end_lr=float(end_lr), num_iter=int(num_iter), step_mode=step_mode,
                            batch_size=batch_size, seed=int(seed), amp=amp,
                            accumulation_steps=step.accumulation_steps)


def lr_finder_history_curve(history, *, diverge_th: float = 5.0) -> LRRangeResult:
    """The result for torch-lr-finder's ``LRFinder.history`` (``{"lr": [...], "loss": [...]}``), whose
    losses are already smoothed: they are not smoothed again, so ``suggestion`` equals ``LRFinder.plot``'s.

    Examples
    --------
    >>> lrs, losses = np.geomspace(1e-4, 1.0, 20), 2 - np.tanh(np.linspace(-2, 2, 20))
    >>> res = lr_finder_history_curve({"lr": lrs.tolist(), "loss": losses.tolist()})
    >>> res.losses.tolist() == losses.tolist(), res.smooth_f
    (True, 0.0)
    >>> res.suggestion == float(lrs[10])   # window 10..14: np.gradient is most negative at its first point
    True
    """
    try:
        lrs, losses = history["lr"], history["loss"]
    except (TypeError, KeyError):
        raise ArgumentError("history", what="give torch-lr-finder's LRFinder.history, a dict with 'lr' and 'loss'") from None
    return range_test_curve(lrs, losses, smooth_f=0.0, diverge_th=diverge_th)


def lr_range_table(result: LRRangeResult):
    """A rich Table summarising the test and its three suggestions."""
    from rich.table import Table

    table = Table(title=f"LR range test ({result.step_mode}, {len(result.lrs)} of {result.num_iter} steps"
                        f"{', stopped: loss diverged' if result.stopped_early else ''})")
    table.add_column("rule")
    table.add_column("learning rate", justify="right")
    table.add_column("smoothed loss there", justify="right")
    for name, lr in (("steepest descent (torch-lr-finder)", result.suggestion),
                     ("minimum / 10 (fastai)", result.suggestion_min10),
                     ("valley (fastai)", result.suggestion_valley)):
        where = int(np.argmin(np.abs(np.log(result.lrs) - np.log(lr)))) if math.isfinite(lr) else None
        table.add_row(name, f"{lr:.3g}", "-" if where is None else f"{result.losses[where]:.4f}")
    table.add_row("best smoothed loss", f"{result.lrs[int(np.argmin(result.losses))]:.3g}",
                  f"{result.best_loss:.4f}")
    return table


def lr_range_json(result: LRRangeResult) -> str:
    """JSON text with ``lrs``, ``losses`` (smoothed), ``raw_losses`` and the ``suggestion``s."""
    return json_text({
        "lrs": result.lrs.tolist(), "losses": result.losses.tolist(), "raw_losses": result.raw_losses.tolist(),
        "suggestion": result.suggestion, "suggestion_min10": result.suggestion_min10,
        "suggestion_valley": result.suggestion_valley, "stopped_early": result.stopped_early,
        "start_lr": result.start_lr, "end_lr": result.end_lr, "num_iter": result.num_iter,
        "step_mode": result.step_mode, "batch_size": result.batch_size, "seed": result.seed,
        "smooth_f": result.smooth_f, "amp": result.amp, "accumulation_steps": result.accumulation_steps,
    })


def lr_range_figure(result: LRRangeResult):
    """Loss against learning rate (log axis for the exp schedule) with the suggestions marked."""
    from dlperf.plotting import legend, new_figure

    fig, ax = new_figure(6.4, 4.0)
    if result.smooth_f > 0:
        ax.plot(result.lrs, result.raw_losses, color="0.75", lw=0.8, label="mini-batch loss")
        ax.plot(result.lrs, result.losses, color="C0", label=f"smoothed (f = {result.smooth_f:g})")
    else:
        ax.plot(result.lrs, result.losses, color="C0", label="loss (smoothed by its recorder)")
    for lr, name, colour in ((result.suggestion, "steepest", "C3"), (result.suggestion_min10, "min / 10", "C2"),
                             (result.suggestion_valley, "valley", "C1")):
        if math.isfinite(lr):
            ax.axvline(lr, color=colour, ls="--", lw=1, label=f"{name}: {lr:.2g}")
    ax.set_xscale("log" if result.step_mode == "exp" else "linear")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    top = float(np.percentile(result.raw_losses, 95))
    ax.set_ylim(max(0.0, float(np.min(result.raw_losses)) * 0.9), top * 1.15)
    ax.set_title("Learning-rate range test")
    legend(ax, fontsize=8, loc="best")
    return fig


def plot_lr_range(result: LRRangeResult, path) -> None:
    """Save :func:`lr_range_figure` as a PNG."""
    from dlperf.plotting import save

    save(lr_range_figure(result), path)
