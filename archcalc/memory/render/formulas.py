"""Rendering of :mod:`archcalc.memory` results: rich tables, header lines and JSON documents (pure functions).

JSON keys, all byte counts exact integers:

ZeRO (:func:`states_json`)
    ``params``, ``optimizer``, ``precision``, ``layout`` (the precision's layout in words), ``data_parallel``, ``bytes_per_param``
    (``weights``, ``gradients``, ``master_weights``, ``optimizer_states``, ``k``, ``total``),
    ``model_state_bytes`` (all states, one unsharded copy), ``weights_bytes``, ``gradients_bytes``,
    ``master_weights_bytes``, ``optimizer_bytes``, ``device_memory_bytes`` (or null) and ``stages``: one
    object per ZeRO stage with ``zero``, ``shards``, ``formula``, ``shard_params`` and ``per_device_bytes``.
Megatron (:func:`activations_json`)
    ``seq``, ``batch``, ``hidden``, ``heads``, ``layers``, ``tensor_parallel``, ``sequence_parallel``,
    ``recompute``, ``bytes_per_layer``, ``total_bytes`` (all layers), ``rows`` (``block``, ``item``,
    ``formula``, ``divisor``, ``bytes``) and ``table2`` (``variant``, ``formula``, ``tensor_parallel``,
    ``sequence_parallel``, ``recompute``, ``bytes_per_layer``, ``total_bytes``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archcalc.memory.formulas.activations import MegatronActivations, Table2Variant
from archcalc.memory.formulas.states import ModelStateMemory
from archcalc.memory.units import format_bytes, round_half_up

__all__ = ["stage_formula", "states_header", "states_table", "states_json", "activations_header",
           "table2_table", "rows_table", "activations_json"]


def stage_formula(m: ModelStateMemory) -> str:
    """ZeRO's per-device formula of ``m``'s stage with its coefficients: ``'4Psi + 12Psi/N_d'``.

    Examples
    --------
    >>> from archcalc.memory.formulas import model_state_bytes
    >>> [stage_formula(model_state_bytes(10, zero=z)) for z in range(4)]
    ['16Psi', '4Psi + 12Psi/N_d', '2Psi + 14Psi/N_d', '16Psi/N_d']
    """
    layout = m.layout
    sharded = layout.k * (m.zero >= 1) + layout.gradients * (m.zero >= 2) + layout.weights * (m.zero >= 3)
    replicated = layout.total - sharded
    terms = ([f"{replicated}Psi"] if replicated else []) + ([f"{sharded}Psi/N_d"] if sharded else [])
    return " + ".join(terms) or "0"


def states_header(m: ModelStateMemory) -> str:
    """Three lines naming the setup, the precision's layout, the per-parameter layout and the unsharded model states.

    Examples
    --------
    >>> from archcalc.memory.formulas import model_state_bytes
    >>> print(states_header(model_state_bytes(7_500_000_000, data_parallel=64)))
    Psi = 7,500,000,000 params, adam, bf16-master, N_d = 64 data-parallel ranks
    bf16-master: 16-bit weights and grads + fp32 master copy and states (ZeRO, Megatron)
    bytes/param: weights 2 + gradients 2 + master weights 4 + optimizer states 8 = 16 (K = 12); model states 120.0 GB (111.8 GiB)
    """
    from archcalc.memory.precision import precision_spec

    lay = m.layout
    return (f"Psi = {m.params:,} params, {m.optimizer}, {m.precision}, "
            f"N_d = {m.data_parallel} data-parallel ranks\n"
            f"{m.precision}: {precision_spec(m.precision).layout}\n"
            f"bytes/param: weights {lay.weights} + gradients {lay.gradients} + master weights {lay.master_weights} + "
            f"optimizer states {lay.optimizer_states} = {lay.total} (K = {lay.k}); "
            f"model states {format_bytes(m.total_bytes)}")


def _percent(part: Any, whole: int) -> str:
    shown = round_half_up(Fraction(part) * 100 / whole)
    return f"{float(shown):.1f}%"


def states_table(stages: list[ModelStateMemory], device_memory_bytes: int | None = None):
    """A rich Table with one row per ZeRO stage: shards, formula, per-device bytes (and share of a device)."""
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for name in ("ZeRO", "shards", "formula", "bytes per device", "per device"):
        table.add_column(name, justify="right" if name in ("ZeRO", "bytes per device") else "left")
    if device_memory_bytes is not None:
        table.add_column(f"of {format_bytes(device_memory_bytes)}", justify="right")
    for m in stages:
        cells = [str(m.zero), m.sharded, stage_formula(m), f"{m.per_device_bytes:,}", format_bytes(m.per_device_bytes)]
        if device_memory_bytes is not None:
            cells.append(_percent(m.per_device_bytes, device_memory_bytes))
        table.add_row(*cells)
    return table


def states_json(stages: list[ModelStateMemory], device_memory_bytes: int | None = None) -> dict:
    """The JSON document of a ZeRO run (keys in the module docstring)."""
    from archcalc.memory.precision import precision_spec

    first = stages[0]
    lay = first.layout
    return {
        "params": first.params, "optimizer": first.optimizer, "precision": first.precision,
        "layout": precision_spec(first.precision).layout, "data_parallel": first.data_parallel,
        "bytes_per_param": {"weights": lay.weights, "gradients": lay.gradients, "master_weights": lay.master_weights,
                            "optimizer_states": lay.optimizer_states, "k": lay.k, "total": lay.total},
        "model_state_bytes": first.total_bytes, "weights_bytes": first.weights_bytes,
        "gradients_bytes": first.gradients_bytes, "master_weights_bytes": first.master_weights_bytes,
        "optimizer_bytes": first.optimizer_bytes, "device_memory_bytes": device_memory_bytes,
        "stages": [{"zero": m.zero, "shards": m.sharded, "formula": stage_formula(m), "shard_params": m.shard_params,
                    "per_device_bytes": m.per_device_bytes} for m in stages],
    }


def activations_header(m: MegatronActivations) -> str:
    """Two lines naming the shape and the conventions of the activation counts."""
    sp = ", sequence parallel" if m.sequence_parallel else ""
    return (f"transformer layer s={m.seq}, b={m.batch}, h={m.hidden}, a={m.heads}, t={m.tensor_parallel}{sp}, "
            f"recompute {m.recompute}; {m.layers} layers\n"
            "fp16 activations, 1-byte dropout masks (Korthikanti et al. 2022); embeddings and output layer not included")


def _same(a: MegatronActivations, b: MegatronActivations) -> bool:
    return a.rows == b.rows


def table2_table(variants: tuple[Table2Variant, ...], chosen: MegatronActivations):
    """A rich Table of Table 2's variants, per layer and for all layers; ``*`` marks the chosen setup."""
    from rich.table import Table

    layers = variants[0].activations.layers
    table = Table(show_edge=False, pad_edge=False)
    for name, right in (("", False), ("Table 2 variant", False), ("formula", False), ("bytes per layer", True),
                        ("per layer", False), (f"{layers} layers", False)):
        table.add_column(name, justify="right" if right else "left")
    for v in variants:
        a = v.activations
        table.add_row("*" if _same(a, chosen) else "", v.name, v.formula, f"{a.bytes_per_layer:,}",
                      format_bytes(a.bytes_per_layer), format_bytes(a.total_bytes))
    return table


def rows_table(m: MegatronActivations):
    """A rich Table of the section 4.1 items under ``m``'s setup, with the per-layer total."""
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, show_footer=True)
    table.add_column("block", footer="total per layer")
    table.add_column("item")
    table.add_column("paper")
    table.add_column("split by", justify="right")
    table.add_column("bytes", justify="right", footer=f"{m.bytes_per_layer:,}")
    for row in m.rows:
        split = "recomputed" if row.bytes == 0 else str(row.divisor)
        table.add_row(row.item.block, row.item.name, row.item.formula, split, f"{row.bytes:,}")
    return table


def activations_json(m: MegatronActivations, variants: tuple[Table2Variant, ...]) -> dict:
    """The JSON document of a Megatron run (keys in the module docstring)."""
    return {
        "seq": m.seq, "batch": m.batch, "hidden": m.hidden, "heads": m.heads, "layers": m.layers,
        "tensor_parallel": m.tensor_parallel, "sequence_parallel": m.sequence_parallel, "recompute": m.recompute,
        "bytes_per_layer": m.bytes_per_layer, "total_bytes": m.total_bytes,
        "rows": [{"block": r.item.block, "item": r.item.name, "formula": r.item.formula, "divisor": r.divisor,
                  "bytes": r.bytes} for r in m.rows],
        "table2": [{"variant": v.name, "formula": v.formula, "tensor_parallel": v.activations.tensor_parallel,
                    "sequence_parallel": v.activations.sequence_parallel, "recompute": v.activations.recompute,
                    "bytes_per_layer": v.activations.bytes_per_layer, "total_bytes": v.activations.total_bytes}
                   for v in variants],
    }
