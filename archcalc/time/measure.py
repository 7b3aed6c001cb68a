"""Predicted vs measured time of a real torch model on this machine, per op and end to end (``archcalc
crosscheck MODEL --time``, ``benchmarks/bench_time_cpu.py``).

The model is traced (:func:`archcalc.frontends.torch_trace.from_torch`), evaluated and timed by
:func:`archcalc.time.roofline.step_time` on the given profile (calibrate one with ``archcalc calibrate``).
It then runs eagerly on the CPU in eval mode under ``torch.no_grad``, at ``threads`` torch threads:

- per op: forward pre- and post-hooks on every leaf module time each call; the k-th
  call of a module in one forward is archcalc's row ``name`` (k = 1) or ``name:k``. Rows without a module
  (functional ``x + y``, ``flatten``, ``F.scaled_dot_product_attention`` in a custom block) are not
  timed one by one: they count in the end-to-end figure only, and their number is reported;
- end to end: the whole forward without hooks.

The clock is the thread's CPU time at one thread (``time.thread_time``: the time the scheduler gives other
processes is not counted), wall time otherwise. Each figure is the **minimum** over ``repeats`` runs after warm-ups (a shared, loaded machine preempts
runs; the minimum is the least disturbed one, and ``archcalc calibrate`` uses the same statistic). Error =
``|predicted - measured| / measured``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from archcalc.time.efficiency import family_of

__all__ = ["OpCheck", "TimeCheck", "StepCheck", "time_check", "time_check_module", "time_lines", "training_step_check",
           "clock_for"]


def clock_for(threads: int) -> Any:
    """The clock of a measurement: with one torch thread all work runs on the calling thread, so its CPU
    time (``time.thread_time``) is the op's time without the time the scheduler gave other processes (a
    shared, loaded machine); with more threads, wall time (``time.perf_counter``)."""
    return time.thread_time if threads == 1 else time.perf_counter



@dataclass(frozen=True)
class OpCheck:
    """One leaf-module row: predicted and measured forward seconds, and the relative error."""

    name: str
    kind: str
    family: str
    predicted_s: float
    measured_s: float

    @property
    def error(self) -> float:
        return abs(self.predicted_s - self.measured_s) / self.measured_s


@dataclass(frozen=True)
class TimeCheck:
    """Per-op and end-to-end comparison of one model's forward (see the module docstring)."""

    model: str
    profile: str
    threads: int
    repeats: int
    ops: tuple[OpCheck, ...]
    unmatched_rows: int
    predicted_s: float
    measured_s: float

    @property
    def error(self) -> float:
        """End-to-end relative error."""
        return abs(self.predicted_s - self.measured_s) / self.measured_s

    @property
    def median_error(self) -> float:
        return statistics.median(o.error for o in self.ops) if self.ops else math.nan

    @property
    def worst(self) -> OpCheck | None:
        return max(self.ops, key=lambda o: o.error) if self.ops else None

    def by_family(self) -> dict[str, tuple[int, float, float]]:
        """Family to ``(ops, median error, worst error)``."""
        out: dict[str, tuple[int, float, float]] = {}
        for fam in sorted({o.family for o in self.ops}):
            errs = [o.error for o in self.ops if o.family == fam]
            out[fam] = (len(errs), statistics.median(errs), max(errs))
        return out


def _measure(module: Any, inputs: tuple[Any, ...], repeats: int, clock: Any) -> tuple[dict[str, float], float]:
    """Minimum seconds of each (module name, call index) and of the whole forward."""
    import torch

    calls: dict[str, list[float]] = {}
    starts: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    leaves = {n: m for n, m in module.named_modules() if n and not list(m.children())}

    def pre(name: str) -> Any:
        def hook(mod: Any, args: Any) -> None:
            starts.setdefault(name, []).append(clock())
        return hook

    def post(name: str) -> Any:
        def hook(mod: Any, args: Any, out: Any) -> None:
            t = clock() - starts[name].pop()
            k = counts.get(name, 0) + 1
            counts[name] = k
            key = name if k == 1 else f"{name}:{k}"
            calls.setdefault(key, []).append(t)
        return hook

    best_total = math.inf
    with torch.no_grad():
        for _ in range(2):
            module(*inputs)
        for _ in range(repeats):  # the whole forward, no hooks
            t0 = clock()
            module(*inputs)
            best_total = min(best_total, clock() - t0)
        handles = [m.register_forward_pre_hook(pre(n)) for n, m in leaves.items()]
        handles += [m.register_forward_hook(post(n)) for n, m in leaves.items()]
        try:
            module(*inputs)
            calls.clear()
            for _ in range(repeats):
                counts.clear()
                module(*inputs)
        finally:
            for h in handles:
                h.remove()
    return {k: min(v) for k, v in calls.items()}, best_total


def time_check_module(module: Any, inputs: tuple[Any, ...], evaluation: Any, profile: Any, *, threads: int = 1,
                      repeats: int = 20, model: str = "") -> TimeCheck:
    """Compare the forward of ``module(*inputs)`` (CPU, eval mode) with ``evaluation``'s predicted rows on
    ``profile``; ``evaluation`` must be of the same model at the same input."""
    import torch

    from archcalc.time.roofline import step_time

    step = step_time(evaluation, profile, precision="fp32")
    calls = _module_calls(evaluation, {o.name: o.time_s for o in step.ops if o.phase == "forward"})
    from dlperf.validate import check_threads

    check_threads("threads", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        measured, total = _measure(module.eval(), inputs, repeats, clock_for(threads))
    finally:
        torch.set_num_threads(previous)
    ops = tuple(OpCheck(name, *calls[name][:3], t) for name, t in measured.items() if name in calls and t > 0)
    timed = sum(calls[o.name][3] for o in ops)
    kernels = sum(1 for o in step.ops if o.phase == "forward" and o.kind != "Sequence")
    return TimeCheck(model or evaluation.network, profile.key, threads, repeats, ops,
                     kernels - timed, step.time_s, total)


def _module_calls(evaluation: Any, predicted: dict[str, float]) -> dict[str, tuple[str, str, float, int]]:
    """Per call of a module, as :func:`_measure` names them (``module``, then ``module:k``): the kind and
    family of its most expensive row, the predicted seconds of all its rows, and how many rows ran a kernel.
    A call is a run of consecutive rows traced inside one module (a GPT-2 ``Conv1D``: a view, an
    ``addmm``, a view; a GELU module: its eight element-wise rows)."""
    runs: list[tuple[str, list[Any]]] = []
    for r in evaluation.rows:
        if r.module is not None and runs and runs[-1][0] == r.module and r.name != r.module:
            runs[-1][1].append(r)
        elif r.module is not None:
            runs.append((r.module, [r]))
    out: dict[str, tuple[str, str, float, int]] = {}
    count: dict[str, int] = {}
    for module, rows in runs:
        k = count[module] = count.get(module, 0) + 1
        timed = [r for r in rows if r.name in predicted]
        if not timed:
            continue
        top = max(timed, key=lambda r: predicted[r.name])
        family = family_of(top.kind, dict(top.hparams), input_shapes=top.input_shapes,
                           output_shapes=top.output_shapes, macs=top.macs)
        out[module if k == 1 else f"{module}:{k}"] = (top.kind, family, sum(predicted[r.name] for r in timed),
                                                      len(timed))
    return out


def time_check(module: Any, *input_shapes: tuple[int, ...], batch: int = 1, profile: Any,
               input_dtypes: tuple[str, ...] = (), threads: int = 1, repeats: int = 20,
               model: str = "") -> TimeCheck:
    """Trace ``module`` at these per-sample input shapes, then :func:`time_check_module` on random inputs
    (token ids below 100 for ``int64`` inputs)."""
    import torch

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate

    module = module.eval()
    graph = from_torch(module, *input_shapes, batch=batch, input_dtypes=input_dtypes)
    ev = evaluate(graph, input_shapes[0], batch)
    gen = torch.Generator().manual_seed(0)
    dtypes = input_dtypes or ("float32",) * len(input_shapes)
    inputs = tuple(torch.randint(0, 100, (batch, *s), generator=gen) if d == "int64"
                   else torch.randn(batch, *s, generator=gen) for s, d in zip(input_shapes, dtypes, strict=True))
    return time_check_module(module, inputs, ev, profile, threads=threads, repeats=repeats,
                             model=model or type(module).__name__)


def time_lines(check: TimeCheck, top: int | None = None) -> list[str]:
    """A plain-text table: per op (slowest measured first) predicted, measured, error; then the summary."""
    out = [f"{check.model}: predicted ({check.profile} profile) vs measured forward on this CPU, "
           f"{check.threads} thread(s), fastest of {check.repeats} runs",
           f"{'op':<30} {'kind':<14} {'family':<11} {'predicted':>10} {'measured':>10} {'error':>7}"]
    rows = sorted(check.ops, key=lambda o: -o.measured_s)
    for o in rows[:top] if top else rows:
        out.append(f"{o.name[:30]:<30} {o.kind[:14]:<14} {o.family:<11} {o.predicted_s * 1e3:>8.3f}ms "
                   f"{o.measured_s * 1e3:>8.3f}ms {100 * o.error:>6.0f}%")
    for fam, (n, med, worst) in check.by_family().items():
        out.append(f"family {fam}: {n} ops, median error {100 * med:.0f} %, worst {100 * worst:.0f} %")
    w = check.worst
    if w is not None:
        out.append(f"per op: {len(check.ops)} ops timed, median error {100 * check.median_error:.0f} %, worst "
                   f"{100 * w.error:.0f} % ({w.name}); {check.unmatched_rows} rows without a leaf module "
                   "(functional ops) count end to end only")
    out.append(f"end to end: predicted {check.predicted_s * 1e3:.3f} ms, measured {check.measured_s * 1e3:.3f} ms, "
               f"error {100 * check.error:.0f} %")
    return out


@dataclass(frozen=True)
class StepCheck:
    """A training step (forward, ``output.sum()`` backward, SGD step), predicted vs measured end to end."""

    model: str
    predicted_s: float
    measured_s: float
    repeats: int

    @property
    def error(self) -> float:
        return abs(self.predicted_s - self.measured_s) / self.measured_s


def training_step_check(module: Any, input_shape: tuple[int, ...], *, batch: int, profile: Any,
                        threads: int = 1, repeats: int = 10, model: str = "") -> StepCheck:
    """Trace ``module`` in training mode, predict one SGD training step on ``profile``, and time the real
    step (train mode, ``output.sum().backward()``, ``torch.optim.SGD.step``, gradients set to None) on the
    CPU: the fastest of ``repeats`` after two warm-ups, thread CPU time at one thread."""
    import torch

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate
    from archcalc.time.roofline import step_time

    module = module.train()
    graph = from_torch(module, input_shape, batch=batch, training=True)
    ev = evaluate(graph, input_shape, batch, training=True)
    predicted = step_time(ev, profile, precision="fp32", training=True, optimizer="sgd").time_s
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(module.parameters(), lr=1e-6)
    clock = clock_for(threads)
    from dlperf.validate import check_threads

    check_threads("threads", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    best = math.inf
    try:
        for i in range(repeats + 2):
            start = clock()
            module(x).sum().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= 2:
                best = min(best, clock() - start)
    finally:
        torch.set_num_threads(previous)
    return StepCheck(model or type(module).__name__, predicted, best, repeats)
