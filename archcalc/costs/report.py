"""Per-layer cost reports: evaluate a network, attach bytes and a counting convention, fold and total.

This is the computing layer under ``archcalc MODEL``: :func:`report` returns a frozen :class:`Report`
(rows with exact numbers, a totals mapping and the header metadata) that :mod:`archcalc.costs.render` turns into
a table, JSON, CSV, Markdown or LaTeX. Nothing here imports torch or sympy.

What the numbers are (also in docs/archcalc.md):

- ``macs``: forward multiply-accumulates of Conv2d / Linear weights for the whole batch; ``flops`` = 2 x MACs.
- ``compute``: the forward count of the chosen convention (``--convention``), in its ``unit``.
- ``activations``: output elements of each layer for the whole batch; ``bytes`` = activations x dtype size.
  In-place layers (ReLU) and views (Flatten) have rows too, so the total is not memory: that is
  ``allocated_activations`` (``allocated_bytes``), the elements of the tensors the forward pass allocates.
- With ``training=True``: ``backward_macs`` (weight gradients, plus input gradients where the input needs
  one) and the training memory ``training_bytes``: the peak of a steady-state training step from the
  liveness schedule (:func:`archcalc.memory.liveness.peak.peak_memory`, what ``archcalc peak --training`` prints; None
  where that model does not apply: ``int8``, a symbolic batch, extra ``inputs``), beside its parts
  ``weights_bytes``, ``gradients_bytes``, ``optimizer_bytes`` and ``activations_bytes`` (which are never alive
  all at once, so their sum is not a memory), where weights and gradients are params x dtype size, the
  optimizer state is 0 (sgd), 1 (momentum) or 2 (adam, adamw) x params x dtype size (``bf16-master``,
  ``fp16-master``: 16-bit weights and gradients, an fp32 master copy and fp32 moments), and
  ``activations_bytes`` are the tensors autograd
  saves for backward (:meth:`archcalc.ir.evaluate.Evaluation.saved`): each saved activation tensor once x
  dtype size, plus BatchNorm's per-channel statistics as float32 (4 bytes), max-pooling's argmax indices as
  int64 (8 bytes) and dropout masks as bool (1 byte).

Examples
--------
>>> from archcalc.models.zoo import build
>>> rep = report(build("vgg19"))
>>> rep.rows[0].name, rep.rows[0].output_shape, rep.rows[0].macs
('features.0', (1, 64, 224, 224), 86704128)
>>> rep.totals["params"], rep.totals["macs"]
(143667240, 19632062464)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from archcalc.check.conventions import get_convention
from archcalc.ir.dtypes import dtype_bytes
from archcalc.ir.evaluate import evaluate
from archcalc.ir.graph import Graph
from archcalc.memory.optimizers import OPTIMIZER_TABLE
from archcalc.memory.precision import PRECISION_TABLE
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError
from dlperf.results import FrozenDict, Result
from dlperf.validate import check_int

__all__ = [
    "DTYPE_BYTES",
    "OPTIMIZER_STATES",
    "ReportRow",
    "Report",
    "ModelSummary",
    "report",
    "list_models",
]

DTYPE_BYTES: Mapping[str, int] = MappingProxyType({
    **{d: dtype_bytes(d) for d in ("fp32", "fp16", "bf16", "int8")},
    **{p: dtype_bytes(spec.compute) for p, spec in PRECISION_TABLE.items() if spec.master},
})
"""Bytes per element of each ``--dtype`` (read from the one dtype table, :mod:`archcalc.ir.dtypes`): the
element types, and the ``-master`` precisions of :mod:`archcalc.memory.precision`, whose activations are
16-bit (autocast's ``-mixed`` ones give each op its own dtype: ``archcalc peak`` models them)."""

OPTIMIZER_STATES: Mapping[str, int] = MappingProxyType({o: s.moments for o, s in OPTIMIZER_TABLE.items()})
"""Optimizer state kept per parameter, in parameter-sized tensors (momentum buffer; Adam's and AdamW's two
moments), from the one optimizer table (:mod:`archcalc.memory.optimizers`)."""

# Bytes per element of the saved tensors whose type does not follow --dtype.
_FP32_BYTES, _INT64_BYTES, _BOOL_BYTES = (dtype_bytes(d) for d in ("float32", "int64", "bool"))


@dataclass(frozen=True)
class ReportRow:
    """One row of a report: a layer, or with ``depth`` a group of consecutive layers sharing a name prefix.

    Attributes
    ----------
    name : str
        Dotted layer name (torch module name of the twin), or the group's prefix.
    kind : str
        Layer kind (``Conv2d`` ...); a folded group says how many layers it holds, e.g. ``"5 layers"``.
    output_shape : tuple
        Output shape, batch dimension included (a folded group's last layer's).
    layers : int
        Number of layers in the row (1 unless folded).
    params, macs, flops, activations, elementwise_ops : int
        Exact counts; MACs, FLOPs, activations and element-wise operations cover the whole batch.
    compute : int
        Forward count of the report's convention (in ``Report.unit``).
    bytes : int
        Activations x bytes per element of the dtype.
    backward_macs : int
        Backward MACs (0 unless the report is a training report).
    backward_compute : int or None
        Backward count of the convention (None when not training or the convention has none).
    saved_bytes : int
        Bytes this row adds to what autograd keeps for backward (0 unless training).
    """

    name: str
    kind: str
    output_shape: tuple[Any, ...]
    layers: int
    params: Any
    macs: Any
    flops: Any
    activations: Any
    elementwise_ops: Any
    compute: Any
    bytes: Any
    backward_macs: Any = 0
    backward_compute: Any = None
    saved_bytes: Any = 0


@dataclass(frozen=True, repr=False)
class Report(Result):
    """A network's per-layer costs at one input, batch, dtype and convention.

    Attributes
    ----------
    model, description : str
        Network name and one-line description.
    input_shape : tuple
        Per-sample shape of the first input (``(C, H, W)`` for an image model).
    batch : int
    dtype : str
        ``fp32``, ``fp16``, ``bf16``, ``int8``, ``fp16-master`` or ``bf16-master``; ``dtype_bytes`` its
        (activations') size.
    convention, unit, convention_description : str
        The counting convention of ``compute`` (``unit`` is ``"MACs"`` or ``"FLOPs"``) and what it counts.
    training : bool
    optimizer : str or None
        The optimizer whose state is counted (None unless training).
    depth : int or None
        Rows folded to the first ``depth`` name components, or None for one row per layer.
    rows : tuple of ReportRow
    totals : Mapping
        Read-only: ``params``, ``macs``, ``flops``, ``activations``, ``bytes``, ``elementwise_ops``,
        ``compute``, ``allocated_activations``, ``allocated_bytes``; when training also ``backward_macs``, ``backward_compute``, ``weights_bytes``,
        ``gradients_bytes``, ``optimizer_bytes``, ``activations_bytes``, ``training_bytes`` and the saved
        elements by type (``saved_activation_elements``, ``saved_fp32_elements``, ``saved_int64_elements``,
        ``saved_bool_elements``).
    output_shape : tuple
        The network's output shape (batch dimension included).
    notes : tuple of str
    unmodeled : tuple of (str, int)
        Ops archcalc has no formula for (counted 0, never dropped) by op name, most frequent first.
    unused_params : tuple of (str, int)
        Parameters the model has but no op of this forward pass uses (e.g. auxiliary heads), with numel.
    default_input : tuple or None
        The model's own per-sample input; the title says when the report is at another one.
    """

    model: str
    description: str
    input_shape: tuple[Any, ...]
    batch: Any
    dtype: str
    dtype_bytes: int
    convention: str
    unit: str
    convention_description: str
    training: bool
    optimizer: str | None
    depth: int | None
    rows: tuple[ReportRow, ...]
    totals: Mapping[str, Any]
    output_shape: tuple[Any, ...]
    notes: tuple[str, ...] = ()
    unmodeled: tuple[tuple[str, int], ...] = ()
    unused_params: tuple[tuple[str, Any], ...] = ()
    default_input: tuple[Any, ...] | None = None

    _repr_fields = ("model", "input_shape", "batch", "dtype", "training", "rows")

    def _headline(self) -> dict[str, Any]:
        return {k: self.totals[k] for k in ("params", "macs") if k in self.totals}


def _check_int(name: str, value: Any, low: int, symbolic: bool = False) -> None:
    """``value`` must be an int >= ``low`` (or, where ``symbolic``, a sympy expression, left unchecked)."""
    check_int(name, value, minimum=low, symbolic=symbolic, what=f"an integer >= {low}")


def _fold_key(name: str, depth: int | None) -> str:
    if depth is None:
        return name
    return ".".join(name.split(".")[:depth])


def report(
    network: Graph,
    input_shape: tuple[int, ...] | None = None,
    batch: int = 1,
    dtype: str = "fp32",
    convention: str = "macs",
    training: bool = False,
    optimizer: str = "sgd",
    depth: int | None = None,
    inputs: dict[str, tuple[int, ...]] | None = None,
) -> Report:
    """Evaluate ``network`` and build its per-layer report.

    Parameters
    ----------
    network : Graph
        From :func:`~archcalc.models.resolve.resolve_model`, :func:`archcalc.models.zoo.inception_module` or built by hand.
    input_shape : tuple of int, optional
        Per-sample shape of the first input (``(C, H, W)``); defaults to the network's own.
    batch : int
        Batch size (>= 1); MACs, activations and saved tensors scale with it, parameters do not.
    dtype : {"fp32", "fp16", "bf16", "int8"}
        Element type of activations, weights, gradients and optimizer state.
    convention : str
        A name in :data:`archcalc.check.conventions.CONVENTIONS` (``"macs"`` or ``"flops"`` built in).
    training : bool
        Add backward MACs and the training-memory totals.
    optimizer : {"sgd", "momentum", "adam", "adamw"}
        Whose state the training memory counts (0, 1 or 2 parameter-sized tensors).
    depth : int, optional
        Fold rows to their first ``depth`` dotted name components (>= 1), summing their numbers; a group's
        output shape is its last layer's.
    inputs : dict, optional
        Per-sample shapes of further inputs by name (a model with several inputs).

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        For an unknown dtype, optimizer or convention, a batch or depth below 1, a malformed input shape,
        or an input too small for the network (the message names the layer).

    Examples
    --------
    >>> from archcalc.models.zoo import inception_module
    >>> rep = report(inception_module((256, 32, 32), 128, 192, 96), depth=1)
    >>> [(r.name, r.output_shape) for r in rep.rows]
    [('b1x1', (1, 128, 32, 32)), ('b3x3', (1, 192, 32, 32)), ('b5x5', (1, 96, 32, 32)), ('pool', (1, 256, 32, 32)), ('concat', (1, 672, 32, 32))]
    >>> from archcalc.models.zoo import build
    >>> rep = report(build("alexnet"), batch=8, dtype="fp16", training=True, optimizer="adam")
    >>> from archcalc.memory.liveness.peak import peak_memory
    >>> rep.totals["training_bytes"] == peak_memory(build("alexnet"), None, 8, training=True,
    ...                                             optimizer="adam", precision="fp16").peak_bytes
    True
    """
    from dlperf.validate import check_bool, check_type
    check_type("network", network, Graph, "an archcalc Graph (archcalc.models.zoo.build, resolve_model or from_torch)")
    check_bool("training", training)
    if dtype not in DTYPE_BYTES:
        raise ArgumentError("dtype", dtype, f"choose one of {', '.join(DTYPE_BYTES)}")
    if optimizer not in OPTIMIZER_STATES:
        raise ArgumentError("optimizer", optimizer, f"choose one of {', '.join(OPTIMIZER_STATES)}")
    _check_int("batch", batch, 1, symbolic=True)
    if depth is not None:
        _check_int("depth", depth, 1)
    conv = get_convention(convention)
    size = DTYPE_BYTES[dtype]
    ev = evaluate(network, input_shape, batch, inputs=inputs, training=training)

    groups: dict[str, list[Any]] = {}
    for r in ev.rows:
        groups.setdefault(_fold_key(r.name, depth), []).append(r)

    backward = conv.backward if (training and conv.backward is not None) else None
    rows = []
    for key, members in groups.items():
        activations = sum(m.activations for m in members)
        saved = 0
        if training:
            saved = sum(
                m.saved_elements * size
                + m.cost.saved_fp32_elements * _FP32_BYTES
                + m.cost.saved_index_elements * _INT64_BYTES
                + m.cost.saved_mask_elements * _BOOL_BYTES
                for m in members
            )
        rows.append(
            ReportRow(
                name=key,
                kind=members[0].kind if len(members) == 1 else f"{len(members)} layers",
                output_shape=members[-1].output_shape,
                layers=len(members),
                params=sum(m.params for m in members),
                macs=sum(m.macs for m in members),
                flops=sum(m.flops for m in members),
                activations=activations,
                elementwise_ops=sum(m.elementwise_ops for m in members),
                compute=sum(conv.forward(m) for m in members),
                bytes=activations * size,
                backward_macs=sum(m.backward_macs for m in members) if training else 0,
                backward_compute=sum(backward(m) for m in members) if backward is not None else None,
                saved_bytes=saved,
            )
        )

    totals: dict[str, Any] = {
        "params": ev.total("params"),
        "macs": ev.total("macs"),
        "flops": ev.total("flops"),
        "activations": ev.total("activations"),
        "bytes": ev.total("activations") * size,
        "elementwise_ops": ev.total("elementwise_ops"),
        "compute": sum(r.compute for r in rows),
    }
    # Tensors the forward pass allocates: in-place outputs and views (Flatten) reuse their input's storage.
    allocated = sum((r.activations for r in ev.rows if r.allocates), 0)
    totals["weight_macs"] = ev.total("weight_macs")
    totals["activation_macs"] = ev.total("activation_macs")
    totals["allocated_activations"] = allocated
    totals["allocated_bytes"] = allocated * size
    if training:
        saved = ev.saved()
        params = totals["params"]
        totals["backward_macs"] = ev.total("backward_macs")
        totals["backward_compute"] = sum(r.backward_compute for r in rows) if backward is not None else None
        if dtype in PRECISION_TABLE:  # the precision's layout (a -master one: fp32 master copy and moments)
            from archcalc.memory.formulas.states import bytes_per_param

            lay = bytes_per_param(optimizer, dtype)
            w_b, g_b, o_b = lay.weights, lay.gradients, lay.master_weights + lay.optimizer_states
        else:
            w_b, g_b, o_b = size, size, OPTIMIZER_STATES[optimizer] * size
        totals["weights_bytes"] = params * w_b
        totals["gradients_bytes"] = params * g_b
        totals["optimizer_bytes"] = params * o_b
        totals["activations_bytes"] = (
            saved["activation_elements"] * size
            + saved["fp32_elements"] * _FP32_BYTES
            + saved["int64_elements"] * _INT64_BYTES
            + saved["bool_elements"] * _BOOL_BYTES
        )
        totals["training_bytes"] = _training_peak(network, input_shape, batch, dtype, optimizer, inputs)
        totals["saved_activation_elements"] = saved["activation_elements"]
        totals["saved_fp32_elements"] = saved["fp32_elements"]
        totals["saved_int64_elements"] = saved["int64_elements"]
        totals["saved_bool_elements"] = saved["bool_elements"]

    return Report(
        model=network.name,
        description=network.description,
        input_shape=tuple(ev.input_shape),
        batch=batch,
        dtype=dtype,
        dtype_bytes=size,
        convention=conv.name,
        unit=conv.unit,
        convention_description=conv.description,
        training=training,
        optimizer=optimizer if training else None,
        depth=depth,
        rows=tuple(rows),
        totals=FrozenDict(totals),
        output_shape=tuple(ev.output_shape),
        notes=tuple(network.notes),
        # a custom Function's untraced backward matters only to a training report
        unmodeled=tuple(Counter(dict(r.hparams)["op"] for r in ev.rows if not traits(r.kind).modeled
                                and (training or not dict(r.hparams).get("backward"))).most_common()),
        unused_params=tuple(ev.unused_params),
        default_input=tuple(network.default_input),
    )


def _training_peak(network: Graph, input_shape: Any, batch: Any, dtype: str, optimizer: str,
                   inputs: Any) -> int | None:
    """The liveness peak of a steady-state training step in ``dtype``; None where that model does not apply."""
    from archcalc.memory.precision import PRECISIONS

    if inputs or dtype not in PRECISIONS or not isinstance(batch, int):
        return None
    from archcalc.ir.graph_size import check_training_size
    from archcalc.memory.liveness.peak import peak_memory

    check_training_size(network)
    return peak_memory(network, input_shape, batch, training=True, optimizer=optimizer, precision=dtype).peak_bytes


@dataclass(frozen=True, repr=False)
class ModelSummary(Result):
    """One line of ``archcalc list``: a zoo model at its default input, batch 1."""

    name: str
    description: str
    default_input: tuple[int, ...]
    params: int
    macs: int


def list_models() -> tuple[ModelSummary, ...]:
    """Every zoo model with its default input, parameters and MACs at that input (batch 1), by name.

    Examples
    --------
    >>> [(m.name, m.params, m.macs) for m in list_models() if m.name == "resnet50"]
    [('resnet50', 25557032, 4089184256)]
    """
    from archcalc.models.zoo import MODELS, build

    out = []
    for name in sorted(MODELS):
        net = build(name)
        ev = evaluate(net)
        out.append(ModelSummary(name, net.description, tuple(net.default_input), ev.total("params"), ev.total("macs")))
    return tuple(out)
