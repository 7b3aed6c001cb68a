"""Peak memory by liveness: schedule the forward pass (or a training step) over the graph's tensor values.

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
    reaching one value are added in place. A binary element-wise op that broadcast an input
    (squeeze-excitation's ``x * s``, a layer scale) computes that input's gradient at the output's shape;
    autograd's engine sums it to the input's shape (``sum_to``) before it releases anything, a second sample.
optimizer step
    SGD updates in place; momentum creates one buffer per parameter; Adam creates its two moments for every
    parameter, then for each parameter allocates two parameter-sized temporaries (``exp_avg_sq.sqrt()`` and
    its quotient, torch's single-tensor implementation on the CPU).
which step (training)
    by default a step N >= 2, the one every later step repeats: the optimizer state the earlier steps created
    (moments, momentum buffers, Adam's 0-d fp32 ``step`` tensors, :mod:`archcalc.memory.optimizers`) is alive
    from the start of the forward pass, and the gradients are not (``zero_grad(set_to_none=True)`` ran
    before it); the optimizer updates its state in place. ``first_step=True``: step 1, whose optimizer
    creates its state during ``step()``, so the backward pass runs without it.
checkpointing (training)
    regions run under ``torch.utils.checkpoint`` (``recompute=``, and the segments of
    ``checkpoint_segments=``) follow :mod:`archcalc.memory.recompute`: they save nothing in the forward pass
    and run again in the backward. Data parallelism with ZeRO follows :mod:`archcalc.memory.zero`.

Mixed precision (``fp16-mixed`` / ``bf16-mixed``) follows :mod:`archcalc.memory.precision`: ops of the
``lower`` policy cast their fp32 inputs to the 16-bit dtype (casts of parameters are cached until the end
of the forward pass, or longer when autograd saved them) and output 16 bits; other ops keep their inputs'
dtype. Gradients have their value's dtype; a parameter's 16-bit gradient is converted to an fp32 ``.grad``.
``fp16-master`` / ``bf16-master`` run the model as ``fp16`` / ``bf16`` do; the optimizer keeps an fp32 master
copy of the weights from before step 1 and fp32 moments (the ``optimizer_state`` category: ZeRO's K), and
its step makes an fp32 gradient of every parameter first (:func:`~archcalc.memory.backward.optimizer_step`).

What is counted: tensor storage bytes (elements x dtype size). Not counted: allocator slack, library
scratch space an op frees before returning, Python objects.

Examples
--------
>>> from archcalc.zoo import build
>>> p = peak_memory(build("vgg11"), (3, 32, 32), batch=1)
>>> p.peak_bytes == p.breakdown.total_bytes, p.phase
(True, 'forward')
>>> t = peak_memory(build("vgg11"), (3, 32, 32), batch=1, training=True, optimizer="adam", first_step=True)
>>> t.step, t.phase, t.breakdown.optimizer_state_bytes == 2 * t.breakdown.weights_bytes
('first', 'optimizer', True)
>>> u = peak_memory(build("vgg11"), (3, 32, 32), batch=1, training=True, optimizer="adam")
>>> u.step, u.peak_bytes - t.peak_bytes  # the same peak plus 22 fp32 step tensors (11 layers x weight, bias)
('steady', 88)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.arith import prod
from archcalc.memory.backward import backward, optimizer_step, place_optimizer_state
from archcalc.memory.optimizers import OPTIMIZERS
from archcalc.memory.precision import autocast_policy, dtype_bytes, is_mixed, param_bytes, value_bytes
from archcalc.memory.recompute import RecomputePlan
from archcalc.memory.schedule import CATEGORIES, MemoryBreakdown, MemorySample, Schedule
from archcalc.ops.attention import math_saved_elements, sdpa_kernel
from archcalc.ops.collectives import gathered_bytes
from archcalc.ops.misc import drops
from dlperf.results import Result
from dlperf.validate import check_int

__all__ = ["MemoryBreakdown", "MemorySample", "PeakMemory", "peak_memory", "CATEGORIES"]

# binary element-wise ops that broadcast their inputs (autograd reduces such a gradient with sum_to)
_BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum"})


@dataclass(frozen=True, repr=False)
class PeakMemory(Result):
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

    _table_field = "timeline"

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
    first_step: bool = False

    _repr_fields = ("network", "batch", "training", "optimizer", "precision", "peak_bytes", "phase", "peak_op",
                    "model_state_bytes", "zero", "data_parallel")

    @property
    def step(self) -> str:
        """Which step the numbers are for: ``"steady"`` (N >= 2), ``"first"`` or ``"inference"``."""
        return "inference" if not self.training else ("first" if self.first_step else "steady")


def _scope_path(node: Any) -> list[str]:
    return list(node.scopes)  # the IR's module scopes (never the node's name)


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


def _sdpa_heads_merge(r: Any, node: Any, nodes: tuple[Any, ...], producer: dict[str, int], training: bool) -> bool:
    """A reshape (or ``contiguous``) of a fused attention output, after permutes: a view on the CPU.

    The CPU flash-attention kernel allocates its ``(b, h, t, e)`` output in the query's memory order (HF's
    ``q`` from ``(b, t, h, e).transpose(1, 2)``: ``(b, t, h, e)`` in memory; torchvision's from
    ``(t, b * h, e)``: ``(t, b, h, e)``), so permuting the heads back to that order and merging them is a view
    there; the meta kernel a trace runs returns a contiguous ``(b, h, t, e)`` and the trace records a copy.
    The math path (dropout on the CPU) returns a contiguous output: its reshape is the copy recorded.
    """
    if r.kind not in ("Reshape", "View", "Contiguous") or not dict(r.hparams).get("copy") or not node.inputs:
        return False
    chain = []
    k = producer.get(node.inputs[0])
    while k is not None and nodes[k].inputs and (nodes[k].kind in ("Transpose", "Permute") or (
            nodes[k].kind in ("Reshape", "View") and not nodes[k].options.get("copy")
            and len(nodes[k].options.get("shape", ())) == 4)):  # HF's reshape(b, -1, t, e): the same 4-d view
        chain.append(nodes[k])
        k = producer.get(nodes[k].inputs[0])
    if k is None or nodes[k].kind != "ScaledDotProductAttention" or not chain:
        return False
    attention = nodes[k].options
    if training and sdpa_kernel("cpu", attention.get("dropout_p", 0.0)) != "fused":
        return False
    cur = [0, 1, 2, 3]  # which dimension of the attention output sits at each position
    for op in reversed(chain):
        hp = op.options
        if op.kind == "Transpose":
            a, b = hp.get("dim0", 0) % 4, hp.get("dim1", 1) % 4
            cur[a], cur[b] = cur[b], cur[a]
        elif op.kind == "Permute":
            cur = [cur[d % 4] for d in hp["dims"]]
    layout = tuple(attention.get("query_layout", (0, 2, 1, 3)))  # size-1 dimensions left out: any place fits
    return tuple(d for d in cur if d in layout) == layout


def peak_memory(graph: Any, input_shape: tuple[int, ...] | None = None, batch: int = 1, *, training: bool = False,
                optimizer: str = "sgd", precision: str = "fp32", device: str = "cpu", checkpoint_segments: int = 1,
                data_parallel: int = 1, zero: int = 0, recompute: Any = None, first_step: bool = False) -> PeakMemory:
    """Peak live bytes of inference (``training=False``) or of a training step, with the breakdown at the peak.

    Parameters
    ----------
    graph : Graph
        A zoo graph or a traced one (:func:`archcalc.from_torch`).
    input_shape : tuple of int, optional
        Per-sample input shape (default: the graph's).
    batch : int
    training : bool
        A training step (forward, backward, optimizer step; the steady state N >= 2 unless ``first_step``)
        instead of a ``no_grad`` forward pass.
    optimizer : str
        ``sgd`` (no momentum), ``momentum``, ``adam`` or ``adamw`` (:mod:`archcalc.memory.optimizers`).
    precision : str
        ``fp32``, ``fp16``, ``bf16`` (the model converted), ``fp16-mixed`` or ``bf16-mixed`` (autocast),
        ``fp16-master`` or ``bf16-master`` (the model converted, an fp32 master copy and fp32 optimizer states;
        :mod:`archcalc.memory.precision`).
    device : str
        ``cpu`` or ``cuda``: which autocast lists apply (and whether a dropout mask is a float or a byte).
    checkpoint_segments : int
        Train with ``checkpoint_sequential(sequence, checkpoint_segments, x, use_reentrant=False)``
        (:mod:`archcalc.memory.checkpoint` says which graphs have a sequence); 1: no checkpointing.
    data_parallel, zero : int
        Data-parallel ranks and ZeRO stage (0-3; 1-3 need ``data_parallel >= 2``); ``batch`` is then the
        per-device batch and the result is one device's (:mod:`archcalc.memory.zero` says what is sharded
        and when).
    recompute : RecomputePlan, optional
        Checkpointed regions (:mod:`archcalc.memory.recompute`); training only. The segments of
        ``checkpoint_segments`` are regions of the same kind; the two may be given together if no node is
        in both.
    first_step : bool
        Training: model step 1 (the optimizer creates its state in ``step()``) instead of the steady step
        N >= 2 (its state alive throughout, the default).

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
    from archcalc.memory.checkpoint import checkpoint_plan
    from archcalc.memory.zero import Sharding, check_sharding

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    if not isinstance(first_step, bool):
        raise ValueError(f"first_step={first_step!r} must be True (step 1) or False (a step N >= 2)")
    check_int("batch", batch)
    act_b, par_b, mixed = dtype_bytes(precision), param_bytes(precision), is_mixed(precision)
    autocast_policy("Conv2d", device)  # validates device
    check_sharding(data_parallel, zero)
    if recompute is not None and not isinstance(recompute, RecomputePlan):
        raise ValueError(f"recompute={recompute!r} must be a RecomputePlan (archcalc.memory.recompute) or None")
    if checkpoint_segments != 1:
        segments = checkpoint_plan(graph, checkpoint_segments).recompute_plan(graph)
        recompute = segments if recompute is None else _both(recompute, segments, checkpoint_segments)
    ev = evaluate(graph, input_shape, batch)
    nodes, rows = graph.nodes, ev.rows
    info = ev.info()  # each value's dtype, requires-grad and constness (IR facts, never its name)
    s = Schedule()
    plan = recompute.start(nodes) if recompute is not None and training else None

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
    declared = dict(graph.dtypes)
    if graph.buffers:
        for name, shape in graph.buffers:
            per = value_bytes(declared.get(name, "float32"), par_b)
            value_sid[name], value_bytes_per[name], value_elems[name] = s.new(prod(shape) * per, "weights"), per, prod(shape)
    elif rows:
        s.new(_zoo_buffer_bytes(rows, par_b), "weights")
    full_inputs = dict(ev.input_shapes)
    for spec in graph.inputs:
        per = value_bytes(spec.dtype, 4 if mixed else act_b)
        value_sid[spec.name] = s.new(prod(full_inputs[spec.name]) * per, "inputs")
        value_bytes_per[spec.name], value_elems[spec.name] = per, prod(full_inputs[spec.name])
    trained = {n: k for n, k in param_elems.items() if n not in graph.frozen_params}  # frozen: no gradient, no state
    if training:  # a step N >= 2: the earlier steps' optimizer state is alive; a master copy from the start
        if zero:
            shards.place_state(s, optimizer, par_b, precision, created=not first_step)
        else:
            place_optimizer_state(s, trained, optimizer, par_b, precision, created=not first_step)

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
    grad_of_param_at: list[list[tuple[str, int, bool, int]]] = [[] for _ in nodes]  # (param, elems, cast, broadcast)
    act_inputs: list[list[tuple[str, int, int, int]]] = [[] for _ in nodes]  # (value, elems, bytes, broadcast)
    low = 4 if not mixed else 2

    def release(sid: int) -> None:
        if s.kind.get(sid) == "act" and all(free_at.get(v, -1) <= cursor for v in sid_values.get(sid, [])):
            s.free(sid)

    for i, (node, r) in enumerate(zip(nodes, rows, strict=True)):
        cursor = i
        if plan is not None:
            s.trace = plan.trace(i)
            plan.enter(i, s, value_sid)
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
        # eval graphs alias them; p = 0 is the identity in training too (torch returns the input)
        dropout_train = r.kind in ("Dropout", "StochasticDepth") and training and drops(
            dict(node.hparams).get("p", 0.5 if r.kind == "Dropout" else 0.0))
        out_sids = []
        for k, (v, shape) in enumerate(zip(node.outputs, r.output_shapes, strict=True)):
            j = alias[k] if k < len(alias) else None
            if dropout_train:
                j = None
            if device == "cpu" and _sdpa_heads_merge(r, node, nodes, producer, training):
                j = 0
            if j is not None and j < len(ins):
                sid = value_sid[ins[j]]
                per = value_bytes_per[ins[j]]
            else:
                per = value_bytes(info[v].dtype, out_per)
                sid = s.new(prod(shape) * per)
            value_sid[v], value_bytes_per[v], value_elems[v] = sid, per, prod(shape)
            sid_values.setdefault(sid, []).append(v)
            out_sids.append(sid)
        for v in ins:
            sid_values.setdefault(value_sid[v], []).append(v)
        if training:
            acts = [sid for k, (v, sid) in enumerate(zip(ins, eff, strict=True))
                    if v not in param_of and not info[v].constant and r.cost.saves_input_at(k)]
            # autograd records (and saves for) only an op with an output that requires grad
            recorded = any(info[o].requires_grad for o in node.outputs)
            pinned = set()
            # SDPA on the CPU with dropout: the math path saves copies and L x S matrices, not q, k, v, out
            math = r.kind == "ScaledDotProductAttention" and sdpa_kernel(device, node.options.get("dropout_p", 0.0)) == "math"
            if (r.cost.saves_input or r.cost.saved_inputs) and not math:
                pinned.update(acts)
            if r.cost.saves_output and not math:
                pinned.update(out_sids)
            if policy == "lower":
                pinned.update(casts[p] for p in [*ins, *own_params] if p in casts)
            cost = r.cost
            # CPU dropout multiplies by a float noise tensor (autograd saves it); CUDA's fused kernel a byte mask
            mask_per = (out_per if device == "cpu" else 1) if r.kind == "Dropout" else 1
            # a kept bool mask or int64 index tensor that is one of the op's own inputs or outputs (where's
            # condition, gather's index, topk's indices) is that value's storage held longer, not a new tensor
            kept = {"bool": cost.saved_mask_elements, "int64": cost.saved_index_elements}
            for v, sid in [*zip(ins, eff, strict=True), *zip(node.outputs, out_sids, strict=True)]:
                dtype = info[v].dtype
                if kept.get(dtype) and value_elems.get(v) == kept[dtype] and v not in param_of:
                    pinned.add(sid)
                    kept[dtype] = 0
            extra = (cost.saved_fp32_elements * 4 + kept["int64"] * 8 + cost.saved_copy_elements * out_per
                     + kept["bool"] * mask_per) if r.kind not in ("Dropout", "StochasticDepth") else 0
            if dropout_train:
                extra = r.output_shape[0] * out_per if r.kind == "StochasticDepth" else prod(r.output_shape) * mask_per
            if r.kind == "ScaledDotProductAttention" and not math and len(ins) == 4 and info[ins[3]].dtype == "bool":
                # the fused kernel converts a bool mask to a float one and saves that, not the bool mask
                pinned.discard(eff[3])
                extra += value_elems[ins[3]] * out_per
            if math:
                extra = math_saved_elements(list(r.input_shapes), enable_gqa=node.options.get("enable_gqa", False)) * out_per
            if not recorded:
                pinned, extra = set(), 0
            if extra:
                pinned.add(s.new(extra))
            # a checkpointed region keeps nothing: what it would save is noted for the rerun
            if plan is None or not plan.record(i, s, pinned, bool(r.cost.saves_output)):
                for sid in pinned:
                    if s.kind.get(sid) in ("act", "cast"):
                        s.pins[sid] = s.pins.get(sid, 0) + 1
                        saved_by[i].append(sid)
            for pname in own_params:
                grad_of_param_at[i].append((pname, param_elems[pname], pname in casts and policy == "lower", 0))
            # a broadcast input's gradient first has the output's shape; autograd sums it to the input's
            out_elems = prod(r.output_shapes[0]) if r.kind in _BROADCASTING and r.output_shapes else 0
            for v in ins:
                wide = out_elems if value_elems.get(v, out_elems) < out_elems else 0
                if v in param_of and info[v].requires_grad:
                    grad_of_param_at[i].append((param_of[v], value_elems[v], v in casts and policy == "lower",
                                                wide))
                elif r.input_requires_grad and v in value_elems and info[v].requires_grad and not info[v].constant:
                    act_inputs[i].append((v, value_elems[v], value_bytes_per[v], wide))
        if gathered_bytes(r, 1):  # a sequence-parallel all-gather's buffer, alive while the linear runs
            temp.append(s.new(gathered_bytes(r, value_bytes_per[ins[0]])))
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
        if plan is not None:
            plan.release_inputs(saved_by)
        shards.begin_backward(s, par_b)
        backward(s, graph, rows, saved_by, grad_of_param_at, act_inputs, par_b, shards, param_elems, plan)
        if zero:
            shards.optimizer_step(s, optimizer, par_b, created=not first_step, precision=precision)
        else:
            optimizer_step(s, trained, optimizer, par_b, created=not first_step, precision=precision)
    for sid in casts.values():  # inference: autocast's cache is cleared when the region exits
        s.free(sid)
    live, index, breakdown = s.best
    at = s.samples[index]
    grads = sum(n for sid, n in s.bytes.items() if s.kind[sid] in ("weights", "gradients", "optimizer_state"))
    return PeakMemory(graph.name, batch, training, optimizer if training else "none", precision, live, at.op,
                      at.phase, breakdown, grads, tuple(s.samples), checkpoint_segments, data_parallel, zero,
                      first_step=first_step)


def _both(recompute: RecomputePlan, segments: RecomputePlan, checkpoint_segments: int) -> RecomputePlan:
    """``recompute``'s regions and the checkpointed segments in one plan; nested checkpoints are refused."""
    mine = {name for region in recompute.regions for name in region}
    for region in segments.regions:
        for name in region:
            if name in mine:
                raise ValueError(f"checkpoint_segments={checkpoint_segments}: node {name!r} is also in a region of "
                                 "recompute; nested checkpoints are not modelled: give one of the two")
    return RecomputePlan(recompute.regions + segments.regions)
