"""Render :class:`~archcalc.memory.liveness.peak.PeakMemory` and :class:`~archcalc.memory.liveness.fit.FitResult`: tables and JSON.

Examples
--------
>>> from archcalc.models.zoo import build
>>> from archcalc.memory.liveness.peak import peak_memory
>>> sorted(peak_json(peak_memory(build("vgg11"), (3, 32, 32))))[:6]
['autocast_device', 'batch', 'breakdown', 'checkpoint_segments', 'data_parallel', 'device']
"""

from __future__ import annotations

from typing import Any

from archcalc.memory.liveness.peak import CATEGORIES, PeakMemory
from archcalc.memory.units import format_bytes

__all__ = ["peak_json", "fit_json", "peak_header", "breakdown_table"]


def peak_json(p: PeakMemory, input_shape: tuple[int, ...] | None = None, device: str = "cpu",
              autocast_device: str | None = None) -> dict[str, Any]:
    """The keys documented in docs/memory.md (``peak_bytes``, ``peak_op``, ``phase``, ``breakdown`` ...);
    ``device`` as named (``cpu``, ``cuda`` or a profile such as ``h100``), ``autocast_device`` the torch device
    type whose autocast lists applied (default: ``device``)."""
    return {
        "network": p.network, "input_shape": list(input_shape or ()), "batch": p.batch, "training": p.training,
        "optimizer": p.optimizer, "precision": p.precision, "device": device,
        "autocast_device": autocast_device or device,
        "peak_bytes": p.peak_bytes, "peak_op": p.peak_op, "phase": p.phase,
        "model_state_bytes": p.model_state_bytes, "breakdown": p.breakdown.to_dict(),
        "checkpoint_segments": p.checkpoint_segments, "data_parallel": p.data_parallel, "zero": p.zero,
        "global_batch": p.batch * p.data_parallel, "step": p.step,
    }


def fit_json(f: Any, device: str = "cpu", autocast_device: str | None = None) -> dict[str, Any]:
    """``memory_bytes``, ``margin_bytes``, ``usable_bytes``, ``left_bytes``, ``vary``, ``batch``, ``seq``,
    ``seq_step``, ``seq_limit``, ``next_peak_bytes``, ``at_search_limit`` (true: the value is a lower bound, the search stopped at
    ``search_limit``), ``search_limit``, peak keys."""
    from archcalc.memory.liveness.fit import FIT_LIMIT

    out = {"memory_bytes": f.memory_bytes, "margin_bytes": f.margin_bytes, "usable_bytes": f.usable_bytes,
           "left_bytes": f.left_bytes, "vary": f.vary, "batch": f.batch, "seq": f.seq,
           "seq_step": f.step if f.vary == "seq" else None, "seq_limit": f.limit,
           "next_peak_bytes": f.next_peak_bytes, "at_search_limit": f.at_search_limit,
           "search_limit": FIT_LIMIT}
    out.update({k: v for k, v in peak_json(f.peak, f.input_shape, device, autocast_device).items() if k not in out})
    return out


def peak_header(p: PeakMemory) -> str:
    which = "first" if p.first_step else "steady-state (N >= 2)"
    step = f"{which} {p.optimizer} training step" if p.training else "inference (no_grad)"
    if p.checkpoint_segments > 1:
        step += f" with {p.checkpoint_segments} checkpoint segments"
    if p.data_parallel > 1:
        step += f", one of {p.data_parallel} data-parallel devices (ZeRO stage {p.zero})"
    return (f"{p.network}: batch {p.batch}, {step}, {p.precision}: peak {format_bytes(p.peak_bytes)} "
            f"({p.peak_bytes:,} bytes) in the {p.phase} pass at {p.peak_op}")


def breakdown_table(p: PeakMemory):
    """A rich Table: each category's bytes and share at the peak."""
    from rich.table import Table

    table = Table(title="live at the peak", title_justify="left")
    for col in ("category", "bytes", "size", "share"):
        table.add_column(col, justify="left" if col == "category" else "right")
    total = p.breakdown.total_bytes
    for c in CATEGORIES:
        n = getattr(p.breakdown, f"{c}_bytes")
        table.add_row(c.replace("_", " "), f"{n:,}", format_bytes(n), f"{100 * n / total:.1f} %" if total else "-")
    table.add_row("total", f"{total:,}", format_bytes(total), "100.0 %")
    return table
