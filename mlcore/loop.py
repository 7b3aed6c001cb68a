"""One training step for any model and data loader: loss function, mixed precision, gradient accumulation.

The experiments (range test, cyclical learning rates, batch-size sweep) accept any ``nn.Module`` and any
iterable of ``(inputs, labels, *rest)`` batches (a ``torch.utils.data.DataLoader`` is the usual one). A step
is what torch-lr-finder's ``_train_batch`` does: zero the gradients, for each of ``accumulation_steps``
batches add ``loss_fn(model(x), y) / accumulation_steps`` and back-propagate it, then one optimizer step.
``amp="bf16"`` runs the forward pass under ``torch.autocast`` in bfloat16 (CPU or CUDA, no loss scaling);
``amp="fp16"`` in float16 with a ``torch.amp.GradScaler``.

Examples
--------
>>> import torch
>>> torch.manual_seed(0) and None
>>> model = torch.nn.Linear(4, 3)
>>> data = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))] * 2
>>> step = Stepper(model, torch.optim.SGD(model.parameters(), lr=0.1), amp="bf16")
>>> out = step(cycle(data))
>>> out.samples, 0 <= out.correct <= 8, out.loss > 0
(8, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["AMP_MODES", "StepOutcome", "Stepper", "check_amp", "cycle", "split_batch", "train_epoch_batches",
           "image_epoch", "evaluate_loader", "to_device"]

AMP_MODES = ("bf16", "fp16")


def check_amp(amp: str | None) -> str | None:
    """``None`` (full precision), ``"bf16"`` or ``"fp16"``; anything else raises naming ``amp``."""
    if amp is None or amp in AMP_MODES:
        return amp
    raise ArgumentError("amp", amp, f"give one of {', '.join(AMP_MODES)} (or leave it out)")


def cycle(loader: Iterable) -> Iterator:
    """Batches of ``loader`` forever, restarting it when it runs out (as torch-lr-finder's iterator does)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ArgumentError("loader", what="it yields no batches", fix="give a loader with at least one batch")


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, labels)`` of a ``(inputs, labels, *rest)`` batch."""
    if isinstance(batch, tuple | list) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ArgumentError("loader", what=f"a batch is a {type(batch).__name__}", fix="each batch must be (inputs, labels, ...)")


def to_device(obj: Any, device) -> Any:
    """Move a tensor, or the tensors inside tuples / lists / dicts, to ``device``."""
    if hasattr(obj, "to"):
        return obj.to(device)
    if isinstance(obj, tuple | list):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def _correct(out, labels) -> tuple[int | None, int]:
    """(correct, samples) for a classifier's logits; (None, n) when outputs are not (n, classes) logits
    against (n,) integer labels, where accuracy means nothing."""
    import torch

    n = len(labels) if hasattr(labels, "__len__") else 1
    if (isinstance(out, torch.Tensor) and isinstance(labels, torch.Tensor) and out.ndim == 2
            and labels.ndim == 1 and not labels.is_floating_point() and len(out) == len(labels)):
        return int((out.argmax(1) == labels).sum()), n
    return None, n


@dataclass(frozen=True)
class StepOutcome:
    """One optimizer step: the loss (mean over the accumulated batches), correct predictions (None when the
    outputs are not class logits), samples seen."""

    loss: float
    correct: int | None
    samples: int


class Stepper:
    """Callable that performs one optimizer step on the next batches of an iterator.

    Parameters
    ----------
    model, optimizer
        The module to train and its optimizer.
    loss_fn : callable, optional
        ``loss_fn(outputs, labels)``; default cross-entropy.
    amp : {None, "bf16", "fp16"}
        Autocast dtype of the forward pass and loss.
    accumulation_steps : int
        Batches whose gradients are summed (each loss divided by this) before one optimizer step.
    device : torch.device, optional
        Where batches are moved (default: where the model's first parameter is).
    """

    def __init__(self, model, optimizer, loss_fn: Callable | None = None, *, amp: str | None = None,
                 accumulation_steps: int = 1, device=None) -> None:
        import torch

        from mlcore.training import check_positive_int

        self.model, self.optimizer = model, optimizer
        self.loss_fn = loss_fn if loss_fn is not None else torch.nn.functional.cross_entropy
        self.amp = check_amp(amp)
        self.accumulation_steps = check_positive_int("accumulation_steps", accumulation_steps)
        if device is None:
            first = next(iter(model.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[self.amp]
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp == "fp16" else None

    def forward(self, inputs, labels):
        """Outputs and loss of one batch, under autocast when ``amp`` is set."""
        import contextlib

        import torch

        ctx = (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype is not None
               else contextlib.nullcontext())
        with ctx:
            out = self.model(inputs)
            loss = self.loss_fn(out, labels)
        return out, loss

    def __call__(self, batches: Iterator) -> StepOutcome | None:
        """One step on the next ``accumulation_steps`` batches; fewer when ``batches`` runs out (None if
        it is already empty; each loss is still divided by ``accumulation_steps``)."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, correct, samples = None, 0, 0
        for _ in range(self.accumulation_steps):
            batch = next(batches, None)
            if batch is None:
                break
            inputs, labels = split_batch(batch)
            inputs, labels = to_device(inputs, self.device), to_device(labels, self.device)
            out, loss = self.forward(inputs, labels)
            loss = loss / self.accumulation_steps
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            # summed as tensors in the loss's dtype, then converted once, as torch-lr-finder does
            total = loss.detach() if total is None else total + loss.detach()
            c, n = _correct(out.detach(), labels)
            correct = None if c is None or correct is None else correct + c
            samples += n
        if samples == 0:
            return None
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return StepOutcome(float(total), correct, samples)


def train_epoch_batches(step: Stepper, batches: Iterable, *, scheduler=None,
                        on_step: Callable[[int, float, float], None] | None = None):
    """One pass over ``batches`` in steps of ``step.accumulation_steps`` batches; ``scheduler.step()`` after
    each optimizer step; ``on_step(step, lr_used, loss)``. Returns an :class:`~mlcore.training.EpochStats`
    with the sample-weighted mean loss and accuracy seen during the pass."""
    from mlcore.training import EpochStats

    it = iter(batches)
    loss_sum, correct, seen, steps = 0.0, 0, 0, 0
    while True:
        lr_used = step.optimizer.param_groups[0]["lr"]
        out = step(it)
        if out is None:
            break
        if scheduler is not None:
            scheduler.step()
        steps += 1
        loss_sum, seen = loss_sum + out.loss * out.samples, seen + out.samples
        correct = None if out.correct is None or correct is None else correct + out.correct
        if on_step is not None:
            on_step(steps, lr_used, out.loss)
    if not steps:
        raise ArgumentError("loader", what="it yields no batches", fix="give a loader with at least one batch")
    return EpochStats(loss_sum / seen, math.nan if correct is None else correct / seen, steps)


def image_epoch(tensors, batch_size: int, generator, device) -> Iterator:
    """One seeded shuffled pass over built-in training tensors (:class:`~mlcore.training.Tensors`)."""
    from mlcore.training import batches

    for idx in batches(len(tensors.train_y), batch_size, generator):
        idx = idx.to(device)
        yield tensors.train_x[idx], tensors.train_y[idx]


def evaluate_loader(model, loader: Iterable, loss_fn: Callable | None = None, *, amp: str | None = None,
                    device=None) -> tuple[float, float]:
    """Sample-weighted mean loss and accuracy (NaN when outputs are not class logits) in eval mode."""
    import torch

    step = Stepper(model, None, loss_fn, amp=amp, device=device)
    model.eval()
    loss_sum, correct, samples = 0.0, 0, 0
    with torch.no_grad():
        for batch in loader:
            inputs, labels = split_batch(batch)
            inputs, labels = to_device(inputs, step.device), to_device(labels, step.device)
            out, loss = step.forward(inputs, labels)
            c, n = _correct(out, labels)
            correct = None if c is None or correct is None else correct + c
            loss_sum += float(loss) * n
            samples += n
    if samples == 0:
        raise ArgumentError("val_loader", what="it yields no batches", fix="give a loader with at least one batch")
    return loss_sum / samples, (math.nan if correct is None else correct / samples)
