"""Cross-check archcalc's rows against a real torch module: fvcore, torch's FLOP counter and a forward pass.

For every archcalc row the real module (joined on the dotted module name) gives:

- the per-sample output shape, from forward hooks (a forward on the meta device: no arithmetic is done);
- the parameter count, from ``fvcore.nn.parameter_count``;
- fvcore's ``FlopCountAnalysis`` and ``ActivationCountAnalysis`` counts (a traced forward on the CPU in
  eval mode), compared with archcalc's ``fvcore`` convention and with archcalc's Conv2d / Linear output
  elements (fvcore counts no other activations);
- ``torch.utils.flop_counter.FlopCounterMode`` forward and backward FLOPs (meta device, eval mode, the
  backward of ``output.sum()``), compared with archcalc's ``torch`` convention: forward per module and in
  total, backward in total only (its module tracker attributes backward ops to the wrong modules: in
  vgg11 an eval-mode Dropout is credited with nearly the whole backward pass).

Conventions are converted explicitly by those presets (see :mod:`archcalc.check.presets`); nothing is rescaled
here. Rows of a module called more than once (``relu``, ``relu:2``) are compared as one module; rows
without a module (functional ``F.relu``, ``torch.cat``) are covered by the whole-model row, and a functional
merge's output shape is compared with the output of the block module it ends. Ops fvcore
skipped and modules it never saw called are listed, never hidden. torch, torchvision and fvcore are
imported inside the functions. :mod:`archcalc.check.crosscheck_render` renders the result.

Examples
--------
>>> result = crosscheck("inception-small", (1, 8, 8))
>>> result.ok, result.unsupported_ops
(True, (('aten::max_pool2d', 2),))
>>> check = result.total.get("fvcore_macs")
>>> check.archcalc == check.oracle
True
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.check.presets import FVCORE_ACTIVATION_KINDS, fvcore_forward, torch_backward, torch_forward
from archcalc.frontends.torch_state import keeps_torch_state
from archcalc.ir.evaluate import Evaluation, evaluate
from archcalc.ir.graph import Graph
from archcalc.models.builders import build_twin
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = [
    "Check", "CheckRow", "CrossCheck", "crosscheck", "crosscheck_module", "FIELDS", "STEPS", "COMPARED",
    "real_run_bytes", "check_real_run_memory", "real_run_seconds", "check_real_run_time",
]

#: The stages of :func:`crosscheck_module`, in order; ``on_step`` is called with each as it finishes.
STEPS = ("archcalc evaluation", "torch forward + backward on meta (shapes, FlopCounterMode)",
         "fvcore traced forward on the CPU", "comparison")

#: What is compared, one entry per pair of table columns (archcalc's value and the oracle's).
COMPARED = ("output shapes (forward hooks)", "params (fvcore parameter_count)",
            "MACs (fvcore FlopCountAnalysis vs archcalc's fvcore convention)",
            "activations (fvcore ActivationCountAnalysis)",
            "forward and total backward FLOPs (torch FlopCounterMode vs archcalc's torch convention)")

#: The compared quantities: (field, what archcalc gives, what the oracle is).
FIELDS = (
    ("shape", "output shape (batch included)", "forward hooks"),
    ("params", "parameters", "fvcore parameter_count"),
    ("fvcore_macs", "fvcore convention, MACs", "fvcore FlopCountAnalysis"),
    ("fvcore_activations", "Conv2d / Linear output elements", "fvcore ActivationCountAnalysis"),
    ("torch_forward_flops", "torch convention forward, FLOPs", "FlopCounterMode forward"),
    ("torch_backward_flops", "torch convention backward, FLOPs", "FlopCounterMode backward"),
)


@dataclass(frozen=True)
class Check:
    """One compared quantity: archcalc's value and the oracle's (``None`` when the oracle has none)."""

    field: str
    archcalc: Any
    oracle: Any

    @property
    def ok(self) -> bool:
        return self.oracle is None or self.archcalc == self.oracle


@dataclass(frozen=True)
class CheckRow:
    """One archcalc row (or a whole module, or the whole model ``""``) beside the oracles.

    ``checks`` holds the compared fields; ``verdict`` is ``"ok"``, ``"n/a"`` (nothing to compare, e.g. a
    functional op whose cost is covered by the whole-model row) or ``"MISMATCH: field, ..."``.
    """

    name: str
    kind: str
    module: str | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "MISMATCH: " + ", ".join(c.field for c in self.checks if not c.ok)
        return "ok" if any(c.oracle is not None for c in self.checks) else "n/a"

    def get(self, field: str) -> Check | None:
        """The check of ``field`` or None."""
        return next((c for c in self.checks if c.field == field), None)


@dataclass(frozen=True, repr=False)
class CrossCheck(Result):
    """Result of :func:`crosscheck`: per-row comparisons, the whole-model row, and what fvcore skipped.

    Attributes
    ----------
    model : str
        The archcalc network's name.
    twin : str
        What it was compared with (``"torchvision:vgg19"``, ``"archcalc:inception_small"``, a class name).
    input_shape, batch
        Per-sample input shape and batch size of the comparison.
    rows : tuple of CheckRow
        One per archcalc row, in execution order, then one per torch leaf module archcalc has no row for.
    total : CheckRow
        The whole model (``""``): every field summed.
    unsupported_ops : tuple of (str, int)
        Ops fvcore met but does not count (e.g. ``aten::max_pool2d``) and how many times.
    uncalled_modules : tuple of str
        Modules fvcore never saw called.
    unmodeled : tuple of str
        archcalc rows of kind ``Unmodeled`` (ops archcalc has no formula for: counted 0, listed here).
    """

    model: str
    twin: str
    input_shape: tuple[int, ...]
    batch: int
    rows: tuple[CheckRow, ...]
    total: CheckRow
    unsupported_ops: tuple[tuple[str, int], ...]
    uncalled_modules: tuple[str, ...]
    unmodeled: tuple[str, ...] = ()

    @property
    def mismatches(self) -> tuple[CheckRow, ...]:
        """Rows (including the whole-model row) where some field disagrees."""
        return tuple(r for r in (*self.rows, self.total) if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.mismatches




def _strip_root(key: str) -> str | None:
    """FlopCounterMode keys are ``"Root.a.b"`` (root class name first); ``"Global"`` is skipped."""
    if key == "Global":
        return None
    return key.split(".", 1)[1] if "." in key else ""


def _torch_counts(model: Any, x: Any) -> tuple[dict[str, list[tuple[int, ...]]], dict[str, int], dict[str, int]]:
    """Output shapes per leaf-module call, forward and backward FLOPs per module (one meta-device pass)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    shapes: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    handles = []
    for name, mod in model.named_modules():
        def hook(_m: Any, _inp: Any, out: Any, name: str = name) -> None:
            # a tuple output (a rotary embedding's cos and sin) has no one shape: that call has no oracle
            shapes[name].append(tuple(out.shape) if isinstance(out, torch.Tensor) else None)

        handles.append(mod.register_forward_hook(hook))
    try:
        with FlopCounterMode(display=False) as counter:
            out = model(x)
            fwd_raw = {k: sum(v.values()) for k, v in counter.flop_counts.items()}
            # a transformers model's tuple (hidden states, pooled ...): every float output reaches the loss
            outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if isinstance(o, torch.Tensor)]
            sum(o.sum() for o in outs if o.is_floating_point()).backward()
            all_raw = {k: sum(v.values()) for k, v in counter.flop_counts.items()}
    finally:
        for h in handles:
            h.remove()
    fwd: dict[str, int] = defaultdict(int)
    bwd: dict[str, int] = defaultdict(int)
    for key, value in all_raw.items():
        name = _strip_root(key)
        if name is not None:
            fwd[name] += fwd_raw.get(key, 0)
            bwd[name] += value - fwd_raw.get(key, 0)
    if "Global" in all_raw:  # the whole model: a backward op that runs before the root module's backward hook
        fwd[""], bwd[""] = fwd_raw.get("Global", 0), all_raw["Global"] - fwd_raw.get("Global", 0)  # (BERT's pooler)
    return dict(shapes), dict(fwd), dict(bwd)


def _fvcore_counts(model: Any, x: Any) -> tuple[dict[str, int], dict[str, int], dict[str, int], Any, Any]:
    """fvcore's flops (MACs), activations and parameters by module, unsupported ops, uncalled modules."""
    logger = logging.getLogger("fvcore")
    level = logger.level
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, parameter_count

        params = dict(parameter_count(model))
        # fvcore logs skipped ops as warnings; they are returned and printed by the caller instead.
        logger.setLevel(logging.ERROR)
        flops = FlopCountAnalysis(model, x)
        acts = ActivationCountAnalysis(model, x)
        for analysis in (flops, acts):
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
        by_flops = dict(flops.by_module())
        by_acts = dict(acts.by_module())
        unsupported = dict(flops.unsupported_ops())
        uncalled = flops.uncalled_modules()
    logger.setLevel(level)
    return by_flops, by_acts, params, unsupported, uncalled


def _real_copy(meta_model: Any) -> Any:
    """A CPU copy of a meta-device model with zeroed weights (fvcore must trace real tensors)."""
    import torch

    from archcalc.frontends.torch_trace import move_keeping_ties

    # to_empty makes one new tensor per module: shared parameters (a tied weight) must be tied again.
    model = move_keeping_ties(meta_model, lambda m: m.to_empty(device="cpu"))
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            t.zero_()
        for name, buf in model.named_buffers():
            if name.endswith("running_var"):
                buf.fill_(1.0)
    return model.eval()


@keeps_torch_state  # it runs on 2 threads; the caller's count comes back
def crosscheck_module(
    network: Graph,
    make_module: Callable[[str], Any],
    input_shape: tuple[int, int, int] | None = None,
    batch: int = 1,
    twin: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CrossCheck:
    """Compare ``network``'s rows with the torch module ``make_module(device)`` builds.

    Parameters
    ----------
    network : Graph
        The archcalc description; its layer names must be the module's dotted module names.
    make_module : callable
        ``device -> nn.Module``, called with ``"meta"`` (the module must build there; its weights are then
        replaced by zeros on the CPU for fvcore's traced run).
    input_shape : tuple, optional
        ``(C, H, W)``; defaults to the network's.
    batch : int
        Batch size of both runs.
    twin : str, optional
        Label of the torch side in the result (defaults to the module's class name).
    on_step : callable, optional
        Called with each name of :data:`STEPS` as that stage finishes (a progress bar's hook).

    Returns
    -------
    CrossCheck
    """
    import torch

    step = on_step or (lambda _name: None)

    torch.set_num_threads(2)
    shape = tuple(network.default_input if input_shape is None else input_shape)
    ev = evaluate(network, shape, batch)
    step(STEPS[0])
    meta = make_module("meta").eval()
    label = twin or type(meta).__name__
    dtype = getattr(torch, network.inputs[0].dtype)  # token ids are int64
    x_meta = torch.zeros((batch, *shape), device="meta", dtype=dtype)
    try:
        shapes, t_fwd, t_bwd = _torch_counts(meta, x_meta)
    except Exception as exc:  # the oracle itself cannot run this model on meta: one line, not a traceback
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"model: {label}: the torch side of the cross-check fails on the meta device "
                         f"({type(exc).__name__}: {first}); `archcalc {network.name}` still reports it") from None
    step(STEPS[1])
    # FlopCounterMode's backward pass left .grad on the meta parameters; to_empty drops them.
    real = _real_copy(meta)
    with torch.no_grad():
        fv_flops, fv_acts, fv_params, unsupported, uncalled = _fvcore_counts(real, torch.zeros((batch, *shape),
                                                                                               dtype=dtype))
    step(STEPS[2])
    leaves = {n for n, m in real.named_modules() if n and not any(True for _ in m.children())}
    rows = _compare_rows(ev, shapes, t_fwd, t_bwd, fv_flops, fv_acts, fv_params, leaves)
    total = _total_row(ev, shapes, t_fwd, t_bwd, fv_flops, fv_acts, fv_params)
    step(STEPS[3])
    return CrossCheck(
        network.name,
        label,
        shape,
        batch,
        rows,
        total,
        tuple(sorted(unsupported.items())),
        tuple(sorted(uncalled)),
        tuple(r.name for r in ev.rows if not traits(r.kind).modeled),
    )


def _compare_rows(
    ev: Evaluation,
    shapes: dict[str, list[tuple[int, ...]]],
    t_fwd: dict[str, int],
    t_bwd: dict[str, int],
    fv_flops: dict[str, int],
    fv_acts: dict[str, int],
    fv_params: dict[str, int],
    leaves: set[str],
) -> tuple[CheckRow, ...]:
    by_module: dict[str, list[Any]] = defaultdict(list)
    for r in ev.rows:
        if r.module is not None:
            by_module[r.module].append(r)
    # A call of a leaf module starts at the row named after it (``m`` or ``m:k``) and its output is the call's
    # last row's: a transformers leaf runs several ops (GPT-2's Conv1D: view, addmm, view).
    def starts(r: Any) -> bool:
        return r.name == r.module or re.fullmatch(re.escape(r.module) + r":\d+", r.name) is not None

    latest: dict[str, str] = {}
    last_rows: set[str] = set()
    for r in ev.rows:
        if r.module is not None:
            if starts(r) and r.module in latest:
                last_rows.add(latest[r.module])
            latest[r.module] = r.name
    last_rows.update(latest.values())
    calls: dict[str, int] = defaultdict(int)
    out: list[CheckRow] = []
    for r in ev.rows:
        if r.module is None:
            # A functional merge (torch.cat, a residual +) ends its block: the block module's output shape
            # is its shape (ResNet's block applies an elementwise ReLU after the add, shape-preserving).
            parent = r.name.rsplit(".", 1)[0] if "." in r.name else None
            seen = shapes.get(parent, []) if traits(r.kind).merges and parent else []
            oracle = seen[0] if len(seen) == 1 else None
            out.append(CheckRow(r.name, r.kind, None, (Check("shape", r.output_shape, oracle),)))
            continue
        first = calls[r.module] == 0
        if first or starts(r):
            calls[r.module] += 1
        call = calls[r.module] - 1
        seen = shapes.get(r.module, [])
        oracle = (seen[call] if call < len(seen) else "not called") if r.name in last_rows else None
        checks = [Check("shape", r.output_shape, oracle)]
        if first:  # module-level quantities once, summed over every call of the module
            group = by_module[r.module]
            acts = sum(g.activations for g in group if g.kind in FVCORE_ACTIVATION_KINDS)
            checks += [
                Check("params", sum(g.params for g in group), fv_params.get(r.module, 0)),
                Check("fvcore_macs", sum(fvcore_forward(g) for g in group), fv_flops.get(r.module, 0)),
                Check("fvcore_activations", acts, fv_acts.get(r.module, 0)),
                Check("torch_forward_flops", sum(torch_forward(g) for g in group), t_fwd.get(r.module, 0)),
                # Per module only the archcalc side: FlopCounterMode's ModuleTracker attributes backward ops
                # to the wrong modules (in vgg11 the eval-mode Dropout classifier.2 gets 30,179,459,072 of
                # the 30,262,951,936 backward FLOPs); its total is exact and is compared.
                Check("torch_backward_flops", sum(torch_backward(g) for g in group), None),
            ]
        out.append(CheckRow(r.name, r.kind, r.module, tuple(checks)))
    # Leaf modules of the torch model that archcalc has no row for: listed; any cost they carry mismatches.
    for name in sorted(leaves - set(by_module)):
        checks = (
            Check("params", 0, fv_params.get(name, 0)),
            Check("fvcore_macs", 0, fv_flops.get(name, 0)),
            Check("torch_forward_flops", 0, t_fwd.get(name, 0)),
        )
        out.append(CheckRow(name, "(no archcalc row)", name, checks))
    return tuple(out)


def _total_row(ev: Evaluation, shapes: dict[str, list[tuple[int, ...]]], t_fwd: dict[str, int],
               t_bwd: dict[str, int], fv_flops: dict[str, int], fv_acts: dict[str, int],
               fv_params: dict[str, int]) -> CheckRow:
    rows = ev.rows
    acts = sum(r.activations for r in rows if r.kind in FVCORE_ACTIVATION_KINDS)
    return CheckRow(
        "",
        "(whole model)",
        "",
        (
            Check("shape", ev.output_shape, shapes[""][0] if shapes.get("") else None),
            Check("params", ev.total("params"), fv_params.get("", 0)),
            Check("fvcore_macs", sum(fvcore_forward(r) for r in rows), fv_flops.get("", 0)),
            Check("fvcore_activations", acts, fv_acts.get("", 0)),
            Check("torch_forward_flops", sum(torch_forward(r) for r in rows), t_fwd.get("", 0)),
            Check("torch_backward_flops", sum(torch_backward(r) for r in rows), t_bwd.get("", 0)),
        ),
    )


def real_run_bytes(ev: Evaluation) -> int:
    """An upper bound of the CPU memory fvcore's traced forward needs: float32 parameters, a zeroed copy of
    them, and every tensor the forward allocates kept alive (no liveness: the bound is the sum)."""
    allocated = sum(r.activations for r in ev.rows if r.allocates)
    return 4 * (2 * ev.total("params") + allocated + sum(n for _, n in ev.unused_params))


def check_real_run_memory(ev: Evaluation, available: int | None = None) -> None:
    """Refuse, before torch is imported, a cross-check whose real forward cannot fit in memory."""
    from dlperf.resources import available_memory_bytes

    need = real_run_bytes(ev)
    have = available_memory_bytes() if available is None else available
    if have is not None and need > have:
        shape = "x".join(map(str, ev.input_shape))
        raise ArgumentError(("input_shape", "batch"), fix="give a smaller input shape or batch",
                            what=f"the real forward pass at {shape}, batch {ev.batch} needs up to "
                            f"{need / 2**30:,.1f} GiB and {have / 2**30:,.1f} GiB are available")


#: A CPU's fp32 rate no real forward pass beats (MAC/s; this VM's best GEMM is ~7.5e10 per thread), so that
#: :func:`real_run_seconds` is a lower bound, and the real forward passes fvcore's traces run.
CPU_MACS_PER_S = 1e11
REAL_PASSES = 2
#: The longest real run a cross-check starts (seconds, lower bound): beyond, it is refused up front.
REAL_RUN_LIMIT_S = 3600.0


def real_run_seconds(ev: Evaluation) -> float:
    """At least how long the CPU forward passes of a cross-check take: ``REAL_PASSES x MACs / CPU_MACS_PER_S``."""
    return REAL_PASSES * ev.total("macs") / CPU_MACS_PER_S


def check_real_run_time(ev: Evaluation) -> float:
    """The lower bound of :func:`real_run_seconds`; refuse a run over ``REAL_RUN_LIMIT_S`` before it starts."""
    seconds = real_run_seconds(ev)
    if seconds > REAL_RUN_LIMIT_S:
        shape = "x".join(map(str, ev.input_shape))
        raise ArgumentError(("input_shape", "batch"), fix="give a smaller input shape or batch",
                            what=f"the real forward passes at {shape}, batch {ev.batch} take at least "
                            f"{seconds / 3600:,.1f} h on a CPU ({REAL_PASSES} x {ev.total('macs'):,} MACs at "
                            f"<= {CPU_MACS_PER_S:.0e} MAC/s; the limit is {REAL_RUN_LIMIT_S / 3600:g} h)")
    return seconds


def crosscheck(model: str | Graph, input_shape: tuple[int, int, int] | None = None, batch: int = 1,
               on_step: Callable[[str], None] | None = None) -> CrossCheck:
    """Cross-check a zoo model (or any network with a ``twin``) against its real torch module.

    Parameters
    ----------
    model : str or Graph
        A zoo name with a torch twin (``vgg11`` ... ``resnet50``, ``inception-small``) or a Graph whose
        ``twin`` is ``"torchvision:NAME"`` or ``"archcalc:inception_small"``.
    input_shape : tuple, optional
        ``(C, H, W)``; defaults to the model's own.
    batch : int
        Batch size (1 keeps the fvcore run short).
    on_step : callable, optional
        Called with each name of :data:`STEPS` as that stage finishes.

    Returns
    -------
    CrossCheck
        ``.ok`` is True when every row and the whole model agree.

    Raises
    ------
    ValueError
        For a model without a torch twin, or a bad input shape / batch.
    """
    from dlperf.validate import check_type
    check_type("model", model, (str, Graph), "a zoo model name or archcalc Graph (archcalc.models.zoo.build, resolve_model or from_torch)")
    from archcalc.models.zoo import build

    network = build(model) if isinstance(model, str) else model
    if network.twin is None:
        raise ArgumentError("model", what=f"{network.name!r} has no torch twin to cross-check", fix="choose a zoo model with one")
    if network.twin.startswith("transformers:"):  # a zoo transformer: its twin is checked in the tests
        raise ArgumentError("model", what=f"{network.name!r} is a zoo transformer; its twin (transformers' model at "
                            "the zoo's sizes) is compared in the test suite, not here",
                            fix="cross-check the Hugging Face model itself by name, e.g. hf:gpt2")
    if not isinstance(batch, int) or batch < 1:
        raise ArgumentError("batch", batch, "give an integer >= 1")
    shape = tuple(network.default_input if input_shape is None else input_shape)
    ev = evaluate(network, shape, batch)  # validates the shape with archcalc's messages before torch is imported
    check_real_run_memory(ev)
    check_real_run_time(ev)
    return crosscheck_module(network, lambda device: build_twin(network.twin, shape, device), shape, batch,
                             twin=network.twin, on_step=on_step)
