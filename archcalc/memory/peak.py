"""Peak memory by liveness: schedule the forward pass (and one training step) over the graph's tensor values.

Every value lives in a storage (views and in-place outputs share their input's, as
:func:`~archcalc.ir.evaluate.evaluate` says). The schedule reproduces what eager PyTorch holds:

forward
    before an op: the weights (parameters and buffers), the graph inputs (the caller holds them) and every
    storage still needed; at the op its outputs are allocated (the sample point: inputs and outputs live
    together); afterwards a storage is freed when its last reader has run **and** the module calls that
    received it as an argument have returned (Python's frames hold a module's arguments until it returns:
    ``x = self.layer1(x)`` keeps the old ``x`` through the whole of ``layer1``). Module calls come from the
    dotted node names. In training, a tensor autograd saves stays until its node's backward has run, and
    the extra saved tensors (normalisation statistics, pooling indices, dropout masks) are allocated at the op.
backward (training)
    the step is ``loss = model(x).sum(); loss.backward(); optimizer.step()`` with
    ``zero_grad(set_to_none=True)`` before. Nodes run in reverse order; a node allocates the gradient of
    each input that needs one (none for views, concatenations and additions, whose gradients alias the
    incoming one), its parameters' gradients (which become ``.grad``), and is sampled while its incoming
    gradients and saved tensors are still alive (torch releases them after the node); two gradients
    reaching one value are added in place.
optimizer step
    SGD updates in place; momentum creates one buffer per parameter; Adam creates its two moments for every
    parameter, then for each parameter allocates two parameter-sized temporaries (``exp_avg_sq.sqrt()`` and
    its quotient, torch's single-tensor implementation on the CPU).

Mixed precision (``fp16-mixed`` / ``bf16-mixed``) follows :mod:`archcalc.memory.precision`: ops of the
``lower`` policy cast their fp32 inputs to the 16-bit dtype (casts of parameters are cached until the end
of the forward pass, or longer when autograd saved them) and output 16 bits; other ops keep their inputs'
dtype. Gradients have their value's dtype; a parameter's 16-bit gradient is converted to an fp32 ``.grad``.

What is counted: tensor storage bytes (elements x dtype size). Not counted: allocator slack, library
scratch space an op frees before returning, Python objects.

Examples
--------
>>> from archcalc.zoo import build
>>> p = peak_memory(build("vgg11"), (3, 32, 32), batch=1)
>>> p.peak_bytes == p.breakdown.total_bytes, p.phase
(True, 'forward')
>>> t = peak_memory(build("vgg11"), (3, 32, 32), batch=1, training=True, optimizer="adam")
>>> t.phase, t.breakdown.optimizer_state_bytes == 2 * t.breakdown.weights_bytes
('optimizer', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archcalc.arith import prod
from archcalc.memory.precision import autocast_policy, dtype_bytes, is_mixed, param_bytes
from archcalc.memory.states import OPTIMIZERS

__all__ = ["MemoryBreakdown", "MemorySample", "PeakMemory", "peak_memory", "CATEGORIES"]

#: Breakdown categories, in the order they are printed.
CATEGORIES = ("weights", "gradients", "optimizer_state", "saved", "transient", "inputs")

# Ops whose gradient w.r.t. each input aliases the incoming gradient (no allocation in the backward).
_GRAD_ALIASES = frozenset({"Add", "Identity", "View", "Reshape", "Flatten", "Unflatten", "Squeeze", "Unsqueeze",
                           "Permute", "Transpose", "Concat", "Contiguous", "StochasticDepth"})
_MOMENT_TENSORS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class MemoryBreakdown:
    """Live bytes by category at one instant; ``total_bytes`` is their sum.

    ``weights_bytes``: parameters and buffers. ``gradients_bytes``: parameters' ``.grad``.
    ``optimizer_state_bytes``: moments / momentum buffers. ``saved_bytes``: tensors autograd keeps for a
    backward that has not run yet (activations, statistics, masks, indices, 16-bit weight casts).
    ``transient_bytes``: everything else in flight (activations between ops, activation gradients, casts,
    optimizer temporaries). ``inputs_bytes``: the graph inputs.
    """

    weights_bytes: int
    gradients_bytes: int
    optimizer_state_bytes: int
    saved_bytes: int
    transient_bytes: int
    inputs_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_state_bytes + self.saved_bytes
                + self.transient_bytes + self.inputs_bytes)

    def as_dict(self) -> dict[str, int]:
        """``{category}_bytes`` keys, plus ``total_bytes``."""
        out = {f"{c}_bytes": getattr(self, f"{c}_bytes") for c in CATEGORIES}
        out["total_bytes"] = self.total_bytes
        return out


@dataclass(frozen=True)
class MemorySample:
    """Live bytes right after ``op`` ran in ``phase`` (``forward``, ``backward`` or ``optimizer``)."""

    phase: str
    op: str
    live_bytes: int


@dataclass(frozen=True)
class PeakMemory:
    """The liveness schedule's result.

    Attributes
    ----------
    network : str
    batch : int
    training : bool
    optimizer, precision : str
    peak_bytes : int
        Largest live bytes over the schedule.
    peak_op, phase : str
        The op (node name; ``optimizer`` ops are named after the parameter) and phase of the peak.
    breakdown : MemoryBreakdown
        Live bytes by category at the peak (sums to ``peak_bytes``).
    model_state_bytes : int
        Weights, gradients and optimizer states after the step (the part that does not scale with the batch).
    timeline : tuple of MemorySample
        Every sample in schedule order (for ``--plot``).
    checkpoint_segments, data_parallel, zero : int
        The ``checkpoint_sequential`` segments (1: none), the data-parallel ranks and the ZeRO stage; with
        ``data_parallel > 1``, ``batch`` and every byte count are per device.
    """

    network: str
    batch: int
    training: bool
    optimizer: str
    precision: str
    peak_bytes: int
    peak_op: str
    phase: str
    breakdown: MemoryBreakdown
    model_state_bytes: int
    timeline: tuple[MemorySample, ...]
    checkpoint_segments: int = 1
    data_parallel: int = 1
    zero: int = 0


class _Schedule:
    """Storages with bytes and a category; running totals; samples."""

    def __init__(self) -> None:
        self.bytes: dict[int, int] = {}
        self.kind: dict[int, str] = {}  # weights, gradients, optimizer_state, inputs, act
        self.pins: dict[int, int] = {}  # act storages: pending backward nodes that saved them
        self.next_id = 0
        self.samples: list[MemorySample] = []
        self.best: tuple[int, int, MemoryBreakdown | None] = (-1, -1, None)
        self.trace: list[tuple] | None = None  # events of a checkpointed node (archcalc.memory.checkpoint)

    def new(self, nbytes: int, kind: str = "act") -> int:
        self.next_id += 1
        self.bytes[self.next_id] = int(nbytes)
        self.kind[self.next_id] = kind
        if self.trace is not None:
            self.trace.append(("new", self.next_id, int(nbytes), kind))
        return self.next_id

    def free(self, sid: int) -> None:
        if sid in self.bytes and not self.pins.get(sid):
            del self.bytes[sid]
            self.kind.pop(sid, None)
            if self.trace is not None:
                self.trace.append(("free", sid))

    def breakdown(self) -> MemoryBreakdown:
        sums = dict.fromkeys(CATEGORIES, 0)
        for sid, n in self.bytes.items():
            kind = self.kind[sid]
            if kind in ("act", "cast"):
                kind = "saved" if self.pins.get(sid) else "transient"
            sums[kind] += n
        return MemoryBreakdown(*(sums[c] for c in CATEGORIES))

    def sample(self, phase: str, op: str) -> None:
        if self.trace is not None:
            self.trace.append(("sample",))
        live = sum(self.bytes.values())
        self.samples.append(MemorySample(phase, op, live))
        if live > self.best[0]:
            self.best = (live, len(self.samples) - 1, self.breakdown())


def _scope_path(node: Any) -> list[str]:
    base = node.module if node.module else ".".join(node.name.split(".")[:-1])
    parts = [re.sub(r":\d+$", "", p) for p in base.split(".") if p]
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _hold_until(nodes: tuple[Any, ...]) -> list[dict[str, int]]:
    """For node i, {scope path: index of the scope's last node} over the contiguous run of that module call."""
    runs: list[dict[str, tuple[int, int]]] = []
    open_runs: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        here = {}
        for key in _scope_path(node):
            run = open_runs.get(key)
            if run is None or run[1] != i - 1:
                run = [i, i]
                open_runs[key] = run
            run[1] = i
            here[key] = run
        runs.append(here)
    return [{k: (r[0], r[1]) for k, r in here.items()} for here in runs]


def _zoo_buffer_bytes(rows: tuple[Any, ...], nbytes: int) -> int:
    """BatchNorm running statistics (2 x C) and its int64 ``num_batches_tracked`` for a zoo graph."""
    total = 0
    for r in rows:
        if r.kind.startswith("BatchNorm"):
            total += 2 * r.output_shape[1] * nbytes + 8
    return total


def _sdpa_heads_merge(r: Any, node: Any, nodes: tuple[Any, ...], producer: dict[str, int]) -> bool:
    """``y.transpose(1, 2).reshape(b, t, d)`` of an attention output: a view on the CPU.

    The CPU flash-attention kernel lays its ``(b, h, t, e)`` output out as ``(b, t, h, e)`` in memory, so
    merging the heads back is a view there; the meta kernel a trace runs returns a contiguous ``(b, h, t, e)``
    and the trace records a copy.
    """
    if r.kind not in ("Reshape", "View") or not dict(r.hparams).get("copy") or not node.inputs:
        return False
    t = producer.get(node.inputs[0])
    if t is None or nodes[t].kind != "Transpose" or sorted((dict(nodes[t].hparams).get("dim0", 0) % 4,
                                                            dict(nodes[t].hparams).get("dim1", 1) % 4)) != [1, 2]:
        return False
    a = producer.get(nodes[t].inputs[0])
    return a is not None and nodes[a].kind == "ScaledDotProductAttention"


def peak_memory(graph: Any, input_shape: tuple[int, ...] | None = None, batch: int = 1, *, training: bool = False,
                optimizer: str = "sgd", precision: str = "fp32", device: str = "cpu", checkpoint_segments: int = 1,
                data_parallel: int = 1, zero: int = 0) -> PeakMemory:
    """Peak live bytes of inference (``training=False``) or of one training step, with the breakdown at the peak.

    Parameters
    ----------
    graph : Graph
        A zoo graph or a traced one (:func:`archcalc.from_torch`).
    input_shape : tuple of int, optional
        Per-sample input shape (default: the graph's).
    batch : int
    training : bool
        One training step (forward, backward, optimizer step) instead of a ``no_grad`` forward pass.
    optimizer : str
        ``sgd`` (no momentum), ``momentum``, ``adam`` or ``adamw`` (first step: states are created).
    precision : str
        ``fp32``, ``fp16``, ``bf16`` (the model converted), ``fp16-mixed`` or ``bf16-mixed`` (autocast).
    device : str
        ``cpu`` or ``cuda``: which autocast lists apply (and whether a dropout mask is a float or a byte).
    checkpoint_segments : int
        Train with ``checkpoint_sequential(sequence, checkpoint_segments, x, use_reentrant=False)``
        (:mod:`archcalc.memory.checkpoint` says which graphs have a sequence); 1: no checkpointing.
    data_parallel, zero : int
        Data-parallel ranks and ZeRO stage (0-3; 1-3 need ``data_parallel >= 2``); ``batch`` is then the
        per-device batch and the result is one device's (:mod:`archcalc.memory.zero` says what is sharded
        and when).

    Returns
    -------
    PeakMemory

    Examples
    --------
    >>> from archcalc.zoo import build
    >>> p = peak_memory(build("resnet18"), (3, 64, 64), batch=8)
    >>> p.breakdown.weights_bytes  # 11,689,512 x 4 + running mean and var 2 x 4,800 x 4 + 20 counters x 8
    46796608
    """
    from archcalc.ir.evaluate import evaluate
    from archcalc.memory.checkpoint import Recorder, checkpoint_plan
    from archcalc.memory.zero import Sharding, check_sharding

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} must be a positive integer")
    act_b, par_b, mixed = dtype_bytes(precision), param_bytes(precision), is_mixed(precision)
    autocast_policy("Conv2d", device)  # validates device
    check_sharding(data_parallel, zero)
    plan = checkpoint_plan(graph, checkpoint_segments) if checkpoint_segments != 1 else None
    if plan is not None and mixed:
        raise ValueError(f"checkpoint_segments={checkpoint_segments} with precision={precision!r} is not modelled "
                         "(autocast's casts in a rerun); use fp32, fp16 or bf16")
    ck = Recorder(plan, graph.nodes) if plan is not None and training else None
    ev = evaluate(graph, input_shape, batch)
    nodes, rows = graph.nodes, ev.rows
    s = _Schedule()

    # -- weights and inputs
    value_sid: dict[str, int] = {}
    value_bytes_per: dict[str, int] = {}
    value_elems: dict[str, int] = {}
    param_of: dict[str, str] = {}  # value name -> parameter name
    param_elems: dict[str, int] = {}
    for name, shape in graph.params:
        param_elems[name] = prod(shape)
    for r, node in zip(rows, nodes, strict=True):
        for role, shape in r.cost.param_shapes:
            param_elems.setdefault(node.param_name(role), prod(shape))
    shards = Sharding(data_parallel, zero, sum(param_elems.values()))
    param_sid = shards.weights(s, param_elems, par_b)
    for name, shape in graph.params:
        value_sid[name], value_bytes_per[name], value_elems[name] = param_sid[name], par_b, prod(shape)
        param_of[name] = name
    if graph.buffers:
        for name, shape in graph.buffers:
            per = 8 if name.endswith("num_batches_tracked") else par_b
            value_sid[name], value_bytes_per[name], value_elems[name] = s.new(prod(shape) * per, "weights"), per, prod(shape)
    elif rows:
        s.new(_zoo_buffer_bytes(rows, par_b), "weights")
    full_inputs = dict(ev.input_shapes)
    for spec in graph.inputs:
        per = {"int64": 8, "int32": 4, "bool": 1}.get(spec.dtype, 4 if mixed else act_b)
        value_sid[spec.name] = s.new(prod(full_inputs[spec.name]) * per, "inputs")
        value_bytes_per[spec.name], value_elems[spec.name] = per, prod(full_inputs[spec.name])

    # -- when each storage may be freed in the forward pass
    holds = _hold_until(nodes)
    produced_at: dict[str, int] = {}
    free_at: dict[str, int] = {}  # value -> last forward index that needs it
    for i, node in enumerate(nodes):
        for v in node.inputs:
            end = i
            for start, stop in holds[i].values():
                if start > produced_at.get(v, -1):
                    end = max(end, stop)
            free_at[v] = max(free_at.get(v, -1), end)
        for v in node.outputs:
            produced_at[v] = i
    for i, node in enumerate(nodes):
        # A concatenation is built for a consumer and, in torchvision's code, bound to a local of the module
        # call that made it (DenseNet's bn_function): it lives until that call returns.
        # The pieces of a split are unpacked into locals (``q, k, v = qkv.split(d, 2)``): the same.
        if node.kind in ("Concat", "Split", "Chunk", "Unbind") and holds[i]:
            innermost = holds[i][max(holds[i], key=len)]
            for v in node.outputs:
                free_at[v] = max(free_at.get(v, i), innermost[1])
    for v, k in getattr(graph, "released_after", ()):  # traced: when the real forward dropped the tensor
        free_at[v] = k
    last = len(nodes)
    for v in graph.outputs:
        free_at[v] = last

    producer = {v: k for k, n in enumerate(nodes) for v in n.outputs}
    sid_values: dict[int, list[str]] = {}
    s.values_of = sid_values  # storage -> the values living in it (for debugging a schedule)
    casts: dict[str, int] = {}  # parameter value name -> its cached 16-bit cast storage
    saved_by: list[list[int]] = [[] for _ in nodes]
    grad_of_param_at: list[list[tuple[str, int, bool]]] = [[] for _ in nodes]  # (param, elems, via 16-bit cast)
    act_inputs: list[list[tuple[str, int, int]]] = [[] for _ in nodes]  # (value, elems, bytes per element)
    low = 4 if not mixed else 2

    def release(sid: int) -> None:
        if s.kind.get(sid) == "act" and all(free_at.get(v, -1) <= cursor for v in sid_values.get(sid, [])):
            s.free(sid)

    for i, (node, r) in enumerate(zip(nodes, rows, strict=True)):
        cursor = i
        if ck is not None:
            s.trace = ck.trace(i)
            if node.inputs:
                ck.enter(i, s, value_sid.get(node.inputs[0], -1))
        policy = autocast_policy(r.kind, device) if mixed else None
        ins = list(node.inputs)
        eff: list[int] = []  # storages the op actually reads (after autocast casts)
        temp: list[int] = []
        for v in ins:
            sid, per = value_sid[v], value_bytes_per[v]
            if policy == "lower" and per == 4:
                if v in param_of:
                    if v not in casts:
                        casts[v] = s.new(value_elems[v] * low, "cast")  # cached until autocast exits
                    sid = casts[v]
                else:
                    sid = s.new(value_elems[v] * low)
                    temp.append(sid)
            elif policy == "fp32" and per == 2:
                sid = s.new(value_elems[v] * 4)
                temp.append(sid)
            eff.append(sid)
        own_params = [node.param_name(role) for role, _ in r.cost.param_shapes]  # zoo nodes declare theirs
        shards.gather(s, [*own_params, *(param_of[v] for v in ins if v in param_of)], param_elems, par_b)
        if policy == "lower" and par_b == 4:
            for pname in own_params:
                if pname not in casts:
                    casts[pname] = s.new(param_elems[pname] * low, "cast")
        in_pers = [value_bytes_per[v] for v in ins if v not in param_of]
        out_per = low if policy == "lower" else (4 if policy == "fp32" else max(in_pers, default=act_b if not mixed else 4))
        if not mixed:
            out_per = act_b
        alias = r.cost.alias_of
        dropout_train = r.kind in ("Dropout", "StochasticDepth") and training  # eval graphs alias them
        out_sids = []
        for k, (v, shape) in enumerate(zip(node.outputs, r.output_shapes, strict=True)):
            j = alias[k] if k < len(alias) else None
            if dropout_train:
                j = None
            if device == "cpu" and _sdpa_heads_merge(r, node, nodes, producer):
                j = 0
            if j is not None and j < len(ins):
                sid = value_sid[ins[j]]
                per = value_bytes_per[ins[j]]
            else:
                per = out_per
                sid = s.new(prod(shape) * per)
            value_sid[v], value_bytes_per[v], value_elems[v] = sid, per, prod(shape)
            sid_values.setdefault(sid, []).append(v)
            out_sids.append(sid)
        for v in ins:
            sid_values.setdefault(value_sid[v], []).append(v)
        if training:
            acts = [sid for v, sid in zip(ins, eff, strict=True) if v not in param_of and not v.startswith("constant")]
            pinned = set()
            if r.cost.saves_input:
                pinned.update(acts)
            if r.cost.saves_output:
                pinned.update(out_sids)
            if policy == "lower":
                pinned.update(casts[p] for p in [*ins, *own_params] if p in casts)
            cost = r.cost
            # CPU dropout multiplies by a float noise tensor (autograd saves it); CUDA's fused kernel a byte mask
            mask_per = (out_per if device == "cpu" else 1) if r.kind == "Dropout" else 1
            extra = (cost.saved_fp32_elements * 4 + cost.saved_index_elements * 8
                     + cost.saved_mask_elements * mask_per) if r.kind not in ("Dropout", "StochasticDepth") else 0
            if dropout_train:
                extra = r.output_shape[0] * out_per if r.kind == "StochasticDepth" else prod(r.output_shape) * mask_per
            if extra:
                pinned.add(s.new(extra))
            pinned = {sid for sid in pinned if s.kind.get(sid) in ("act", "cast")}
            if ck is None or not ck.record(i, sorted(pinned), bool(r.cost.saves_output)):
                for sid in pinned:
                    s.pins[sid] = s.pins.get(sid, 0) + 1
                    saved_by[i].append(sid)
            for pname in own_params:
                grad_of_param_at[i].append((pname, param_elems[pname], pname in casts and policy == "lower"))
            for v in ins:
                if v in param_of:
                    grad_of_param_at[i].append((param_of[v], value_elems[v], v in casts and policy == "lower"))
                elif r.input_requires_grad and v in value_elems and not v.startswith("constant"):
                    act_inputs[i].append((v, value_elems[v], value_bytes_per[v]))
        s.sample("forward", node.name)
        for sid in temp:
            if not s.pins.get(sid):
                s.free(sid)
        for sid in list(s.bytes):
            release(sid)
    s.trace = None

    cursor = last
    if training:  # loss = out.sum(): the outputs go unless saved; autocast's weight cache is cleared
        free_at.update(dict.fromkeys(graph.outputs, last - 1))
        cursor = last + 1
        for v in graph.outputs:
            release(value_sid[v])
        for sid in casts.values():
            s.free(sid)
        if ck is not None:
            ck.release_inputs(saved_by)
        shards.begin_backward(s, par_b)
        _backward(s, nodes, rows, saved_by, grad_of_param_at, act_inputs, par_b, graph, shards, param_elems, ck)
        if zero:
            shards.optimizer_step(s, optimizer, par_b)
        else:
            _optimizer_step(s, param_sid, param_elems, optimizer, par_b)
    for sid in casts.values():  # inference: autocast's cache is cleared when the region exits
        s.free(sid)
    live, index, breakdown = s.best
    at = s.samples[index]
    grads = sum(n for sid, n in s.bytes.items() if s.kind[sid] in ("weights", "gradients", "optimizer_state"))
    return PeakMemory(graph.name, batch, training, optimizer if training else "none", precision, live, at.op,
                      at.phase, breakdown, grads, tuple(s.samples), checkpoint_segments, data_parallel, zero)


def _backward(s: _Schedule, nodes, rows, saved_by, grad_of_param_at, act_inputs, par_b, graph, shards, param_elems,
              ck) -> None:
    grad: dict[str, int] = {}  # value -> gradient storage
    refs: dict[int, int] = {}
    has_grad: set[str] = set()

    def hold(v: str, sid: int) -> None:
        if v in grad:  # accumulate in place into the gradient already there
            drop(sid, fresh=True)
            return
        grad[v] = sid
        refs[sid] = refs.get(sid, 0) + 1

    def drop(sid: int, fresh: bool = False) -> None:
        if not fresh:
            refs[sid] -= 1
        if refs.get(sid, 0) <= 0:
            refs.pop(sid, None)
            s.free(sid)

    for v in graph.outputs:  # d(sum)/d(out): ones expanded from one element (a view, no storage)
        hold(v, s.new(4))
    for i in range(len(nodes) - 1, -1, -1):
        node, r = nodes[i], rows[i]
        incoming = [grad[v] for v in node.outputs if v in grad]
        if not incoming:
            for sid in saved_by[i]:
                s.pins[sid] -= 1
                s.free(sid)
            continue
        if ck is not None:
            ck.recompute(i, s, saved_by)
        gathered = shards.gather(s, [p for p, _, _ in grad_of_param_at[i]], param_elems, par_b)
        new_grads: list[tuple[str, int]] = []
        for v, elems, per in act_inputs[i]:
            if r.kind in _GRAD_ALIASES:
                new_grads.append((v, incoming[0]))
                refs[incoming[0]] = refs.get(incoming[0], 0) + 1
            else:
                sid = s.new(elems * per)
                refs[sid] = 1
                new_grads.append((v, sid))
        conversions, later = [], []
        for pname, elems, via_cast in grad_of_param_at[i]:
            if via_cast:  # the 16-bit gradient of the cast; the next node (ToCopyBackward) makes it fp32
                conversions.append(s.new(elems * 2))
                later.append((pname, elems))
            elif pname in has_grad:
                conversions.append(s.new(elems * par_b))  # added into .grad, then freed
            else:
                has_grad.add(pname)
                sid = s.new(elems * par_b, shards.gradient_kind)
                if shards.zero >= 2:  # reduce-scattered into the gradient shard after this node
                    conversions.append(sid)
        s.sample("backward", node.name)
        for sid in gathered:
            s.free(sid)
        for sid in saved_by[i]:
            s.pins[sid] -= 1
            s.free(sid)
        for v in node.outputs:
            if v in grad:
                drop(grad.pop(v))
        for pname, elems in later:
            fp32 = s.new(elems * par_b, shards.gradient_kind if pname not in has_grad else "act")
            s.sample("backward", f"{node.name} (fp32 gradient of {pname})")
            if pname in has_grad or shards.zero >= 2:
                s.free(fp32)
            has_grad.add(pname)
        for sid in conversions:
            s.free(sid)
        for v, sid in new_grads:
            if v in grad:
                drop(sid)
            else:
                grad[v] = sid
    for sid in list(refs):
        s.free(sid)


def _optimizer_step(s: _Schedule, param_sid, param_elems, optimizer: str, par_b: int) -> None:
    moments = _MOMENT_TENSORS[optimizer]
    if moments == 0:
        s.sample("optimizer", "step")
        return
    for name, n in param_elems.items():
        for _ in range(moments):
            s.new(n * par_b, "optimizer_state")
        if optimizer == "momentum":
            s.sample("optimizer", name)
    if optimizer == "momentum":
        return
    for name, n in param_elems.items():
        a, b = s.new(n * par_b), s.new(n * par_b)  # exp_avg_sq.sqrt() and its quotient, alive together
        s.sample("optimizer", name)
        s.free(a)
        s.free(b)
