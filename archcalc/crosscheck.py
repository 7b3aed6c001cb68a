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

Conventions are converted explicitly by those presets (see :mod:`archcalc.presets`); nothing is rescaled
here. Rows of a module called more than once (``relu``, ``relu:2``) are compared as one module; rows
without a module (functional ``F.relu``, ``torch.cat``) are covered by the whole-model row, and a functional
merge's output shape is compared with the output of the block module it ends. Ops fvcore
skipped and modules it never saw called are listed, never hidden. torch, torchvision and fvcore are
imported inside the functions.

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

from archcalc.frontends.torch_state import keeps_torch_state
from archcalc.ir.evaluate import Evaluation, evaluate
from archcalc.ir.graph import Graph
from archcalc.ops.traits import traits
from archcalc.presets import FVCORE_ACTIVATION_KINDS, fvcore_forward, torch_backward, torch_forward
from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = [
    "Check", "CheckRow", "CrossCheck", "crosscheck", "crosscheck_module", "build_twin", "FIELDS",
    "to_table", "to_json", "to_markdown", "table_rows", "footer", "header", "STEPS", "COMPARED", "DROP_ORDER",
    "real_run_bytes",
    "check_real_run_memory",
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




def build_twin(twin: str, input_shape: tuple[int, int, int], device: str = "cpu") -> Any:
    """Build the torch module named by a network's ``twin`` (random init, no pretrained weights).

    ``"torchvision:NAME"`` calls ``torchvision.models.NAME(weights=None)`` (googlenet without auxiliary
    heads); ``"archcalc:inception_small"`` builds :class:`archcalc.twins.InceptionSmall` for ``input_shape``.
    On ``device="meta"`` no memory is allocated and nothing is initialised.
    """
    import torch

    source, _, name = twin.partition(":")
    with torch.device(device):
        if source == "torchvision":
            import torchvision

            fn = getattr(torchvision.models, name, None)
            if fn is None or not callable(fn):
                raise ArgumentError("model", what=f"torchvision has no model {name!r}", fix="see torchvision.models.list_models()")
            if input_shape[0] != 3:
                raise ArgumentError("input_shape", "x".join(map(str, input_shape)),
                                    "torchvision models take 3 channels; give a shape such as 3x224x224")
            kwargs: dict[str, Any] = {"weights": None}
            if name in ("googlenet", "inception_v3"):
                kwargs.update(aux_logits=False, init_weights=False)
            model = fn(**kwargs)
        elif source == "timm":  # timm.create_model(NAME, pretrained=False): archcalc.frontends.timm_models
            import timm

            from archcalc.frontends.timm_models import check_timm_name

            check_timm_name(name)
            model = timm.create_model(name, pretrained=False)
        elif source == "hf":  # a fresh build (the real run moves it off meta): archcalc.frontends.hf
            from archcalc.frontends.hf import twin_module

            model = twin_module(name, device)
        elif twin == "archcalc:inception_small":
            from archcalc.twins import inception_small

            model = inception_small(tuple(input_shape))
        else:
            raise ArgumentError("twin", twin, "give torchvision:NAME, timm:NAME, hf:NAME or archcalc:inception_small")
    return model.eval()


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
    from archcalc.zoo import build

    network = build(model) if isinstance(model, str) else model
    if network.twin is None:
        raise ArgumentError("model", what=f"{network.name!r} has no torch twin to cross-check", fix="choose a zoo model with one")
    if not isinstance(batch, int) or batch < 1:
        raise ArgumentError("batch", batch, "give an integer >= 1")
    shape = tuple(network.default_input if input_shape is None else input_shape)
    ev = evaluate(network, shape, batch)  # validates the shape with archcalc's messages before torch is imported
    check_real_run_memory(ev)
    return crosscheck_module(network, lambda device: build_twin(network.twin, shape, device), shape, batch,
                             twin=network.twin, on_step=on_step)


# ----------------------------------------------------------------------------------------------------------
# Rendering (pure functions of a CrossCheck)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return f"{value:,}" if isinstance(value, int) else str(value)


#: Table columns: (header, field, side) with side "a" = archcalc, "o" = oracle.
_COLUMNS = (
    ("shape (archcalc)", "shape", "a"),
    ("shape (torch)", "shape", "o"),
    ("params", "params", "a"),
    ("params (fvcore)", "params", "o"),
    ("fvcore MACs (archcalc)", "fvcore_macs", "a"),
    ("fvcore MACs (fvcore)", "fvcore_macs", "o"),
    ("acts (archcalc)", "fvcore_activations", "a"),
    ("acts (fvcore)", "fvcore_activations", "o"),
    ("fwd FLOPs (archcalc torch)", "torch_forward_flops", "a"),
    ("fwd FLOPs (FlopCounterMode)", "torch_forward_flops", "o"),
    ("bwd FLOPs (archcalc torch)", "torch_backward_flops", "a"),
    ("bwd FLOPs (FlopCounterMode)", "torch_backward_flops", "o"),
)


def table_rows(result: CrossCheck) -> list[list[str]]:
    """Rows of the side-by-side table as strings: layer, kind, the :data:`_COLUMNS`, verdict."""
    out = []
    for row in (*result.rows, result.total):
        cells = [row.name or "(total)", row.kind]
        for _, field, side in _COLUMNS:
            check = row.get(field)
            cells.append("" if check is None else _fmt(check.archcalc if side == "a" else check.oracle))
        out.append([*cells, row.verdict])
    return out


#: Pairs of columns :func:`to_table` leaves out, first to last, when the console is narrower than the table
#: (then the kind column); the layer, the fvcore MACs pair and the verdict always stay. The verdict still
#: compares every field.
DROP_ORDER = ("fvcore_activations", "torch_backward_flops", "shape", "params", "torch_forward_flops")


def _rich_header(header: str) -> str:
    """A two-line header (``fvcore MACs`` over ``(fvcore)``): narrow columns, numbers never cut."""
    return header.replace(" (", "\n(", 1)


def to_table(result: CrossCheck, width: int | None = None, every_row: bool = True) -> Any:
    """A rich Table: one row per archcalc row, archcalc's value beside the oracle's, a verdict per row.

    With ``width`` (the console's), a wider table loses the column pairs of :data:`DROP_ORDER` one pair at a
    time, then the kind column, then its edges and padding, and then layer names, verdicts and kinds fold
    onto further lines (:func:`dlperf.tables.fit_table`); numbers are never cut, and the caption names what
    was left out. ``width=None`` keeps every column. ``every_row=False`` (the CLI's default; ``--all`` lists
    every row) keeps the mismatching rows and the total, and the caption counts the agreeing rows left out.

    Examples
    --------
    >>> result = crosscheck("inception-small", (1, 8, 8))
    >>> [c.header.replace("\\n", " ") for c in to_table(result, width=80).columns]
    ['layer', 'fvcore MACs (archcalc)', 'fvcore MACs (fvcore)', 'verdict']
    >>> to_table(result).caption is None
    True
    """
    from rich.table import Table

    from dlperf.tables import fit_table, fix_widths

    title = (f"{result.model} vs {result.twin}, input {_fmt(result.input_shape)}, batch {result.batch}: "
             + ("all agree" if result.ok else f"{len(result.mismatches)} mismatching rows"))
    table = Table(title=title, caption_justify="left")
    table.add_column("layer", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for header, _, _ in _COLUMNS:
        table.add_column(_rich_header(header), justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    rows = table_rows(result)
    shown = rows if every_row else [c for c in rows if c[-1].startswith("MISMATCH") or c is rows[-1]]
    for cells in shown:
        style = "red" if cells[-1].startswith("MISMATCH") else None
        table.add_row(*cells, style=style)
    hidden = len(rows) - len(shown)
    notes = [f"{hidden} agreeing rows not shown; --all lists every row"] if hidden else []
    table.caption = "\n".join(notes) or None
    if width is None:
        return table
    fix_widths(table)
    drop = [tuple(_rich_header(h) for h, f, _ in _COLUMNS if f == field) for field in DROP_ORDER] + ["kind"]
    dropped = fit_table(table, width, drop, fold=("layer", "verdict", "kind"))
    if dropped:
        names = ", ".join(dict.fromkeys(h.split("\n")[0] for h in dropped))  # a pair once: "shape", not both sides
        table.caption = "\n".join([*notes, f"left out to fit {width} columns: {names} (the verdict still compares "
                                    "every field; all columns with --markdown, --json, a pipe or a wider terminal)"])
    return table


def header(result: CrossCheck, input_given: bool = True, batch_given: bool = True, width: int = 110) -> str:
    """Lines stating what was run: the model and its twin, input and batch (and whether they are defaults), and
    what is compared.

    Examples
    --------
    >>> r = CrossCheck("vgg11", "torchvision:vgg11", (3, 224, 224), 1, (), CheckRow("", "", None, ()), (), ())
    >>> print(header(r, input_given=False, batch_given=False))
    archcalc vgg11 vs torchvision:vgg11 (built with weights=None: no download)
    input 3x224x224 per sample (the model's default; --input CxHxW for another), batch 1 (default; --batch N)
    compared per layer: output shapes (forward hooks); params (fvcore parameter_count); MACs (fvcore
      FlopCountAnalysis vs archcalc's fvcore convention); activations (fvcore ActivationCountAnalysis); forward
      and total backward FLOPs (torch FlopCounterMode vs archcalc's torch convention)
    """
    import textwrap

    inp = _fmt(result.input_shape) + (" per sample" if input_given else
                                      " per sample (the model's default; --input CxHxW for another)")
    batch = f"batch {result.batch}" + ("" if batch_given else " (default; --batch N)")
    compared = textwrap.wrap("compared per layer: " + "; ".join(COMPARED), width=width, subsequent_indent="  ")
    return "\n".join([f"archcalc {result.model} vs {result.twin} (built with weights=None: no download)",
                      f"input {inp}, {batch}", *compared])


def footer(result: CrossCheck) -> str:
    """Lines listing what fvcore skipped and the verdict."""
    ops = ", ".join(f"{op} x{n}" for op, n in result.unsupported_ops) or "none"
    lines = [f"ops fvcore skipped (counted 0 by fvcore): {ops}"]
    if result.unmodeled:
        lines.append(f"ops archcalc does not model (counted 0 by archcalc): {', '.join(result.unmodeled)}")
    if result.uncalled_modules:
        lines.append(f"modules fvcore never saw called: {', '.join(result.uncalled_modules)}")
    lines.append("-: no oracle for this cell (per-module backward: FlopCounterMode attributes it unreliably; "
                 "functional ops: covered by the total row)")
    lines.append("verdict: " + ("all rows agree" if result.ok else
                                f"MISMATCH in {', '.join(r.name or '(total)' for r in result.mismatches)}"))
    return "\n".join(lines)


def to_markdown(result: CrossCheck) -> str:
    """The side-by-side table as Markdown, followed by the :func:`footer` lines."""
    header = ["layer", "kind", *(h for h, _, _ in _COLUMNS), "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(_COLUMNS) + ["---"]) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(result)]
    return "\n".join(lines) + "\n\n" + footer(result).replace("\n", "  \n") + "\n"


def to_json(result: CrossCheck) -> dict[str, Any]:
    """A JSON-ready dict (exact ints stay ints; shapes are lists)."""
    def value(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    def row(r: CheckRow) -> dict[str, Any]:
        return {
            "name": r.name,
            "kind": r.kind,
            "module": r.module,
            "verdict": r.verdict,
            "checks": {c.field: {"archcalc": value(c.archcalc), "oracle": value(c.oracle)} for c in r.checks},
        }

    return {
        "model": result.model,
        "twin": result.twin,
        "input": list(result.input_shape),
        "batch": result.batch,
        "ok": result.ok,
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
        "unsupported_ops": dict(result.unsupported_ops),
        "uncalled_modules": list(result.uncalled_modules),
        "unmodeled": list(result.unmodeled),
    }
