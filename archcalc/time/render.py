"""Text (80 columns) and JSON of a :class:`~archcalc.time.roofline.StepTime` and an optional run.

Examples
--------
>>> format_seconds(138.9e-6), format_seconds(0.01142), format_seconds(5400.0)
('138.9 us', '11.42 ms', '5400 s')
>>> format_flops(2_936_829_917_528_064), format_flops(4.95e8)
('2.937 PFLOP', '495 MFLOP')
"""

from __future__ import annotations

from typing import Any

from archcalc.time.estimates import Run
from archcalc.time.roofline import StepTime

__all__ = ["format_seconds", "format_flops", "step_lines", "step_json"]


def format_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.4g} s"


def format_flops(n: float) -> str:
    """``7.0 TFLOP``, ``154.6 GFLOP`` ...: FLOPs with an SI prefix."""
    for scale, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.4g} {prefix}FLOP"
    return f"{n:g} FLOP"


def _per_op(step: StepTime) -> list[dict[str, Any]]:
    """One entry per op name: the time of each phase, the bound of its longest pass, its FLOPs."""
    rows: dict[str, dict[str, Any]] = {}
    for o in step.ops:
        r = rows.setdefault(o.name, {"name": o.name, "kind": o.kind, "forward": 0.0, "backward": 0.0,
                                     "longest": None, "flops": 0, "time": 0.0})
        key = "forward" if o.phase in ("forward", "optimizer", "communication") else "backward"
        r[key] += o.time_s  # a recomputed forward runs in the backward pass
        r["time"] += o.time_s
        r["flops"] += o.flops
        if r["longest"] is None or o.time_s > r["longest"].time_s:
            r["longest"] = o
    return list(rows.values())


def _eff(step: StepTime) -> str:
    e = step.efficiency
    pure = " (pure roofline)" if (e.compute, e.memory, e.launch_overhead, e.alpha) == (1, 1, 0, 0) else ""
    return (f"efficiency: compute {e.compute:g}, memory {e.memory:g}, launch {e.launch_overhead * 1e6:g} us/kernel, "
            f"latency {e.alpha * 1e6:g} us/step{pure}")


def step_lines(step: StepTime, run: Run | None = None, top: int | None = None, width: int = 80) -> list[str]:
    """The report as lines of at most ``width`` characters (long header lines wrap at words)."""
    import textwrap

    p = step.profile
    what = (f"training step ({step.optimizer}" + (f", recompute {step.recompute}" if step.recompute != "none" else "")
            + ")" if step.training else "forward pass")
    par = "".join(f", {k} {v}" for k, v in (("data-parallel", step.data_parallel),
                                             ("tensor-parallel", step.tensor_parallel)) if v > 1)
    head = [f"{step.model} on {p.name} ({p.key}; {p.origin} profile, source: {p.source})",
            f"{what}, batch {step.batch}{par}, {step.precision}: peak {step.dtype} "
            f"{step.peak_flops / 1e12:g} TFLOP/s, memory {p.memory_bandwidth / 1e9:g} GB/s, "
            f"link {p.interconnect_bandwidth / 1e9:g} GB/s per direction",
            _eff(step)]
    out = [w for line in head for w in textwrap.wrap(line, width, subsequent_indent="  ")]
    rows = _per_op(step)
    shown = sorted(rows, key=lambda r: -r["time"])[:top] if top else rows
    out.append("")
    out.append(f"{'op':<28} {'kind':<12} {'forward':>9} {'backward':>9} {'bound':<7} {'TFLOP/s':>8}")
    for r in shown:
        name = r["name"] if len(r["name"]) <= 28 else "..." + r["name"][-25:]
        rate = r["flops"] / r["time"] / 1e12 if r["time"] and r["flops"] else 0.0
        bound = {"communication": "comm"}.get(r["longest"].bound, r["longest"].bound)
        out.append(f"{name:<28} {r['kind'][:12]:<12} {format_seconds(r['forward']):>9} "
                   f"{format_seconds(r['backward']) if r['backward'] else '-':>9} {bound:<7} {rate:>8.1f}")
    if top and len(rows) > top:
        out.append(f"({len(rows) - top} faster ops not shown; --all shows every op)")
    by_bound, by_phase = step.time_by("bound"), step.time_by("phase")
    out.append("")
    tail = [f"step: {format_seconds(step.time_s)}; by bound: "
            + ", ".join(f"{k} {format_seconds(v)}" for k, v in by_bound.items())
            + "; by phase: " + ", ".join(f"{k} {format_seconds(v)}" for k, v in by_phase.items()),
            f"FLOPs per step (2 x MACs): model {format_flops(step.model_flops)}, hardware "
            f"{format_flops(step.hardware_flops)}; "
            f"achieved {step.achieved_flops / 1e12:.1f} of {step.peak_flops / 1e12:g} TFLOP/s peak; "
            f"MFU {100 * step.mfu:.1f} %, HFU {100 * step.hfu:.1f} %"]
    if run is not None:
        tail.append(f"run: {run.steps:,} steps x {run.tokens_per_step:,} tokens = {run.tokens:,} tokens: "
                    f"{run.hours:,.2f} h = {run.days:,.2f} days on {run.devices:,} "
                    f"device{'s' if run.devices > 1 else ''}, {run.device_hours:,.2f} device-hours")
    tail += [f"not modelled: {n}" if n.startswith("no overlap") else f"assumed: {n}" for n in step.notes]
    out += [w for line in tail for w in textwrap.wrap(line, width, subsequent_indent="  ")]
    return out


def step_json(step: StepTime, run: Run | None = None) -> dict[str, Any]:
    """The report as plain JSON types (seconds, FLOPs, bytes)."""
    p, e = step.profile, step.efficiency
    data: dict[str, Any] = {
        "model": step.model,
        "device": {"key": p.key, "name": p.name, "source": p.source, "origin": p.origin,
                   "peak_flops": dict(p.peak_flops), "memory_bandwidth": p.memory_bandwidth,
                   "memory_bytes": p.memory_bytes, "interconnect_bandwidth": p.interconnect_bandwidth},
        "precision": step.precision, "dtype": step.dtype, "peak_flops": step.peak_flops,
        "efficiency": {"compute": e.compute, "memory": e.memory, "launch_overhead_s": e.launch_overhead,
                       "latency_s": e.alpha},
        "training": step.training, "optimizer": step.optimizer, "batch": step.batch,
        "data_parallel": step.data_parallel, "tensor_parallel": step.tensor_parallel, "recompute": step.recompute,
        "ops": [{"name": o.name, "kind": o.kind, "phase": o.phase, "flops": o.flops,
                 "elementwise_ops": o.elementwise_ops, "bytes": o.bytes, "compute_s": o.compute_s,
                 "memory_s": o.memory_s, "comm_s": o.comm_s, "time_s": o.time_s, "bound": o.bound}
                for o in step.ops],
        "totals": {"time_s": step.time_s, "by_bound": step.time_by("bound"), "by_phase": step.time_by("phase"),
                   "model_flops": step.model_flops, "hardware_flops": step.hardware_flops,
                   "achieved_flops": step.achieved_flops, "mfu": step.mfu, "hfu": step.hfu},
        "notes": list(step.notes),
    }
    if run is not None:
        data["run"] = {"steps": run.steps, "tokens_per_step": run.tokens_per_step, "tokens": run.tokens,
                       "devices": run.devices, "seconds": run.seconds, "hours": run.hours, "days": run.days,
                       "device_hours": run.device_hours}
    return data
