"""One inference pass or training step on the liveness schedule, phase by phase.

:func:`archcalc.memory.liveness.peak.peak_memory` says what each phase allocates and frees and why; this module is the
bookkeeping, in the order it runs::

    step = Step(graph, evaluation, training=True, ...)
    step.place_weights()            # parameters (or their ZeRO shard) and buffers
    step.place_inputs()             # the graph inputs
    step.place_optimizer_state()    # a step N >= 2: the earlier steps' moments
    step.free_points()              # when each value's storage may go in the forward pass
    for i in range(len(graph.nodes)):
        step.run_node(i)            # autocast casts, outputs, saved tensors, gradients to make; one sample
    step.end_forward()              # loss = out.sum(): outputs and autocast's weight cache go
    step.backward()                 # archcalc.memory.liveness.backward, checkpointed regions recomputed there
    step.optimizer_step()

Every tensor value of the graph has a :class:`Value` record (its storage, bytes per element, elements and
whether it is a parameter); what node ``i``'s backward needs is kept in ``saved_by[i]`` (storages it
releases), ``param_grads[i]`` and ``input_grads[i]`` (:class:`GradTarget` records).

Examples
--------
>>> from archcalc.ir.build import GraphBuilder
>>> from archcalc.ir.evaluate import evaluate
>>> b = GraphBuilder("mlp", inputs=[("x", (8,))])
>>> g = b.build(b.op("fc", "Linear", "x", out_features=4))
>>> step = Step(g, evaluate(g, None, 2), training=False)
>>> step.place_weights(); step.place_inputs(); step.free_points(); step.run_node(0)
>>> step.schedule.samples[-1].live_bytes  # (weight 4x8 + bias 4 + input 2x8 + output 2x4) x 4 bytes
240
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.memory.liveness.backward import Backward, optimizer_step, place_optimizer_state
from archcalc.memory.liveness.schedule import Schedule, StorageKind
from archcalc.memory.precision import autocast_policy, dtype_bytes, is_mixed, param_bytes, value_bytes
from archcalc.ops.arith import prod
from archcalc.ops.attention import heads_merge_is_view, math_saved_elements, sdpa_kernel
from archcalc.ops.collectives import gathered_bytes
from archcalc.ops.misc import drops
from archcalc.ops.traits import traits

__all__ = ["GradTarget", "Step", "Value"]

ACT, CAST, WEIGHTS, INPUTS = StorageKind.ACT, StorageKind.CAST, StorageKind.WEIGHTS, StorageKind.INPUTS

# drops whose noise the schedule books itself: dropout's mask per element, stochastic depth's per sample (a
# channel drop's noise is its formula's saved_fp32_elements)
_BOOKED_DROPS = ("element", "sample")


@dataclass
class Value:
    """A tensor value of the graph on the schedule.

    ``storage``: the schedule's storage id (shared by views and in-place outputs); ``itemsize``: bytes per
    element; ``elements``: its element count; ``param``: whether it is a parameter of the graph.
    """

    storage: int
    itemsize: int
    elements: int
    param: bool = False


@dataclass(frozen=True)
class GradTarget:
    """A gradient a node's backward makes: of ``name`` (a parameter or an activation value), ``elements``
    elements of ``itemsize`` bytes; ``broadcast``: the output's elements when the input was broadcast to
    it (the gradient is computed at that size, then summed to the input's; 0: not broadcast);
    ``via_cast``: a parameter used through autocast's 16-bit cast (its gradient is 16-bit first)."""

    name: str
    elements: int
    itemsize: int
    broadcast: int = 0
    via_cast: bool = False


@dataclass
class Step:
    """The schedule's state for one pass over ``graph`` (see the module docstring for the phases)."""

    graph: Any
    evaluation: Any
    training: bool
    optimizer: str = "sgd"
    precision: str = "fp32"
    device: str = "cpu"
    first_step: bool = False
    data_parallel: int = 1
    zero: int = 0  # ZeRO stage (archcalc.memory.liveness.zero)
    plan: Any = None  # the running archcalc.memory.liveness.recompute plan, or None
    schedule: Schedule = field(default_factory=Schedule)
    values: dict[str, Value] = field(default_factory=dict)
    param_elems: dict[str, int] = field(default_factory=dict)  # parameter name -> elements
    free_at: dict[str, int] = field(default_factory=dict)  # value -> last forward index that needs it
    casts: dict[str, int] = field(default_factory=dict)  # parameter -> its cached 16-bit cast's storage
    values_of: dict[int, list[str]] = field(default_factory=dict)  # storage -> the values living in it
    cursor: int = 0  # the node running (len(nodes) + 1 once the loss is computed)

    def __post_init__(self) -> None:
        from archcalc.memory.liveness.zero import Sharding

        self.nodes, self.rows = self.graph.nodes, self.evaluation.rows
        self.info = self.evaluation.info()  # each value's dtype, requires-grad and constness (never its name)
        self.act_b, self.par_b = dtype_bytes(self.precision), param_bytes(self.precision)
        self.mixed = is_mixed(self.precision)
        self.low = 2 if self.mixed else 4  # autocast's lower dtype
        self.producer = {v: k for k, n in enumerate(self.nodes) for v in n.outputs}
        self.saved_by: list[list[int]] = [[] for _ in self.nodes]  # storages node i's backward releases
        self.param_grads: list[list[GradTarget]] = [[] for _ in self.nodes]
        self.input_grads: list[list[GradTarget]] = [[] for _ in self.nodes]
        for name, shape in self.graph.params:
            self.param_elems[name] = prod(shape)
        for r, node in zip(self.rows, self.nodes, strict=True):
            for role, shape in r.cost.param_shapes:  # zoo nodes declare theirs
                self.param_elems.setdefault(node.param_name(role), prod(shape))
        self.shards = Sharding(self.data_parallel, self.zero, sum(self.param_elems.values()))
        self.schedule.values_of = self.values_of  # for debugging a schedule

    @property
    def trained(self) -> dict[str, int]:
        """Parameters that get a gradient and optimizer state (frozen ones do not)."""
        return {n: k for n, k in self.param_elems.items() if n not in self.graph.frozen_params}

    def run(self) -> Schedule:
        """Every phase in order; the finished schedule."""
        self.place_weights()
        self.place_inputs()
        self.place_optimizer_state()
        self.free_points()
        for i in range(len(self.nodes)):
            self.run_node(i)
        self.end_forward()
        if self.training:
            self.backward()
            self.optimizer_step()
        self.clear_casts()
        return self.schedule

    # -- placing what exists before the first op

    def place_weights(self) -> None:
        """Parameters (one storage each, or ZeRO-3's flat shard) and buffers."""
        s, graph = self.schedule, self.graph
        storage = self.shards.weights(s, self.param_elems, self.par_b)
        for name, shape in graph.params:
            self.values[name] = Value(storage=storage[name], itemsize=self.par_b, elements=prod(shape), param=True)
        declared = dict(graph.dtypes)
        if graph.buffers:
            for name, shape in graph.buffers:
                per = value_bytes(declared.get(name, "float32"), self.par_b)
                self.values[name] = Value(storage=s.new(prod(shape) * per, WEIGHTS), itemsize=per,
                                          elements=prod(shape))
        elif self.rows:
            s.new(_zoo_buffer_bytes(self.rows, self.par_b), WEIGHTS)

    def place_inputs(self) -> None:
        """The graph inputs (fp32 under autocast, else the precision's dtype; ids keep their own)."""
        full = dict(self.evaluation.input_shapes)
        for spec in self.graph.inputs:
            per = value_bytes(spec.dtype, 4 if self.mixed else self.act_b)
            n = prod(full[spec.name])
            self.values[spec.name] = Value(storage=self.schedule.new(n * per, INPUTS), itemsize=per, elements=n)

    def place_optimizer_state(self) -> None:
        """A training step N >= 2: the optimizer state the earlier steps created is alive; a ``-master``
        precision's fp32 master copy from the start of step 1 too."""
        if not self.training:
            return
        created = not self.first_step
        if self.shards.zero:
            self.shards.place_state(self.schedule, self.optimizer, self.par_b, self.precision, created=created)
        else:
            place_optimizer_state(self.schedule, self.trained, self.optimizer, self.par_b, self.precision,
                                  created=created)

    # -- when storages may go

    def free_points(self) -> None:
        """``free_at``: the last forward node that needs each value (module frames and locals included)."""
        nodes, holds = self.nodes, _hold_until(self.nodes)
        produced_at: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for v in node.inputs:
                end = i
                for start, stop in holds[i].values():
                    if start > produced_at.get(v, -1):
                        end = max(end, stop)
                self.free_at[v] = max(self.free_at.get(v, -1), end)
            for v in node.outputs:
                produced_at[v] = i
        for i, node in enumerate(nodes):
            # A concatenation is built for a consumer and, in torchvision's code, bound to a local of the
            # module call that made it (DenseNet's bn_function): it lives until that call returns. The
            # pieces of a split are unpacked into locals (``q, k, v = qkv.split(d, 2)``): the same.
            if traits(node.kind).lists and holds[i]:
                innermost = holds[i][max(holds[i], key=len)]
                for v in node.outputs:
                    self.free_at[v] = max(self.free_at.get(v, i), innermost[1])
        for v, k in getattr(self.graph, "released_after", ()):  # traced: when the real forward dropped it
            self.free_at[v] = k
        for v in self.graph.outputs:
            self.free_at[v] = len(nodes)

    def release(self, sid: int) -> None:
        """Free activation storage ``sid`` if every value in it is past its free point."""
        s = self.schedule
        if s.kind.get(sid) == ACT and all(self.free_at.get(v, -1) <= self.cursor for v in self.values_of.get(sid, [])):
            s.free(sid)

    # -- the forward pass

    def run_node(self, i: int) -> None:
        """Node ``i``'s forward: casts, outputs, what autograd saves; sampled with inputs and outputs live."""
        s, node, r = self.schedule, self.nodes[i], self.rows[i]
        self.cursor = i
        if self.plan is not None:
            s.trace = self.plan.trace(i)
            self.plan.enter(i, s, self.values)
        policy = autocast_policy(r.kind, self.device) if self.mixed else None
        ins = list(node.inputs)
        reads, temp = self._read_inputs(ins, policy)
        own_params = [node.param_name(role) for role, _ in r.cost.param_shapes]  # zoo nodes declare theirs
        self.shards.gather(s, [*own_params, *(v for v in ins if self.values[v].param)], self.param_elems, self.par_b)
        if policy == "lower" and self.par_b == 4:
            for pname in own_params:
                if pname not in self.casts:
                    self.casts[pname] = s.new(self.param_elems[pname] * self.low, CAST)
        out_per = self._output_itemsize(ins, policy)
        outs = self._write_outputs(i, ins, out_per)
        for v in ins:
            self.values_of.setdefault(self.values[v].storage, []).append(v)
        if self.training:
            self._save_for_backward(i, reads, outs, own_params, policy, out_per)
            self._note_gradients(i, own_params, policy)
        if gathered_bytes(r, 1):  # a sequence-parallel all-gather's buffer, alive while the linear runs
            temp.append(s.new(gathered_bytes(r, self.values[ins[0]].itemsize)))
        s.sample("forward", node.name)
        for sid in temp:
            if not s.pins.get(sid):
                s.free(sid)
        for sid in list(s.bytes):
            self.release(sid)
        s.trace = None

    def _read_inputs(self, ins: list[str], policy: str | None) -> tuple[list[int], list[int]]:
        """The storages the op reads after autocast's casts, and the casts it frees after it runs."""
        s, reads, temp = self.schedule, [], []
        for v in ins:
            val = self.values[v]
            sid = val.storage
            if policy == "lower" and val.itemsize == 4:
                if val.param:
                    if v not in self.casts:
                        self.casts[v] = s.new(val.elements * self.low, CAST)  # cached until autocast exits
                    sid = self.casts[v]
                else:
                    sid = s.new(val.elements * self.low)
                    temp.append(sid)
            elif policy == "fp32" and val.itemsize == 2:
                sid = s.new(val.elements * 4)
                temp.append(sid)
            reads.append(sid)
        return reads, temp

    def _output_itemsize(self, ins: list[str], policy: str | None) -> int:
        """Bytes per element of a floating output: the precision's, or autocast's choice for the op."""
        if not self.mixed:
            return self.act_b
        if policy == "lower":
            return self.low
        if policy == "fp32":
            return 4
        return max((self.values[v].itemsize for v in ins if not self.values[v].param), default=4)

    def _dropout_in_training(self, i: int) -> bool:
        """A dropout that drops in this pass (eval graphs alias it; p = 0 is the identity: torch returns x)."""
        node, facts = self.nodes[i], traits(self.rows[i].kind)
        return facts.drop in _BOOKED_DROPS and self.training and drops(dict(node.hparams).get("p", facts.default_p))

    def _write_outputs(self, i: int, ins: list[str], out_per: int) -> list[int]:
        """Each output's storage: its input's (a view, an in-place op) or a new one."""
        node, r = self.nodes[i], self.rows[i]
        alias = () if self._dropout_in_training(i) else r.cost.alias_of
        merge = self.device == "cpu" and heads_merge_is_view(node, self.nodes, self.producer, self.training)
        outs = []
        for k, (v, shape) in enumerate(zip(node.outputs, r.output_shapes, strict=True)):
            j = 0 if merge else alias[k] if k < len(alias) else None
            if j is not None and j < len(ins):
                source = self.values[ins[j]]
                val = Value(storage=source.storage, itemsize=source.itemsize, elements=prod(shape))
            else:
                per = value_bytes(self.info[v].dtype, out_per)
                val = Value(storage=self.schedule.new(prod(shape) * per), itemsize=per, elements=prod(shape))
            self.values[v] = val
            self.values_of.setdefault(val.storage, []).append(v)
            outs.append(val.storage)
        return outs

    def _save_for_backward(self, i: int, reads: list[int], outs: list[int], own_params: list[str],
                           policy: str | None, out_per: int) -> None:
        """Pin what autograd saves for node ``i`` (a checkpointed region only notes it for the rerun)."""
        s, node, r = self.schedule, self.nodes[i], self.rows[i]
        pinned, extra = self._saved(i, reads, outs, own_params, policy, out_per)
        if not any(self.info[o].requires_grad for o in node.outputs):
            pinned, extra = set(), 0  # autograd records (and saves for) only an op with an output that requires grad
        if extra:
            pinned.add(s.new(extra))
        if self.plan is None or not self.plan.record(i, s, pinned, bool(r.cost.saves_output)):
            for sid in pinned:
                if s.kind.get(sid) in (ACT, CAST):
                    s.pin(sid)
                    self.saved_by[i].append(sid)

    def _saved(self, i: int, reads: list[int], outs: list[int], own_params: list[str], policy: str | None,
               out_per: int) -> tuple[set[int], int]:
        """The storages node ``i`` saves and the bytes of the tensors it saves besides them."""
        node, r, info = self.nodes[i], self.rows[i], self.info
        cost, ins, facts = r.cost, list(node.inputs), traits(r.kind)
        # SDPA on the CPU with dropout: the math path saves copies and L x S matrices, not q, k, v, out
        math = facts.kernel_saves and sdpa_kernel(self.device, node.options.get("dropout_p", 0.0)) == "math"
        pinned: set[int] = set()
        if (cost.saves_input or cost.saved_inputs) and not math:
            keep = facts.saved_given([info[v].requires_grad for v in ins])  # None: as the formula says
            pinned.update(sid for k, (v, sid) in enumerate(zip(ins, reads, strict=True))
                          if not self.values[v].param and not info[v].constant and cost.saves_input_at(k)
                          and (keep is None or k in keep))
        if cost.saves_output and not math:
            pinned.update(outs)
        if policy == "lower":
            pinned.update(self.casts[p] for p in [*ins, *own_params] if p in self.casts)
        # CPU dropout multiplies by a float noise tensor (autograd saves it); CUDA's fused kernel a byte mask
        mask_per = (out_per if self.device == "cpu" else 1) if facts.drop == "element" else 1
        # a kept bool mask or int64 index tensor that is one of the op's own inputs or outputs (where's
        # condition, gather's index, topk's indices) is that value's storage held longer, not a new tensor
        kept = {"bool": cost.saved_mask_elements, "int64": cost.saved_index_elements}
        for v, sid in [*zip(ins, reads, strict=True), *zip(node.outputs, outs, strict=True)]:
            dtype = info[v].dtype
            if kept.get(dtype) and self.values[v].elements == kept[dtype] and not self.values[v].param:
                pinned.add(sid)
                kept[dtype] = 0
        extra = (cost.saved_fp32_elements * 4 + kept["int64"] * 8 + cost.saved_copy_elements * out_per
                 + kept["bool"] * mask_per) if facts.drop not in _BOOKED_DROPS else 0
        if self._dropout_in_training(i):
            extra = r.output_shape[0] * out_per if facts.drop == "sample" else prod(r.output_shape) * mask_per
        if facts.attention and not math and len(ins) == 4 and info[ins[3]].dtype == "bool":
            # the fused kernel converts a bool mask to a float one and saves that, not the bool mask
            pinned.discard(reads[3])
            extra += self.values[ins[3]].elements * out_per
        if math:
            extra = math_saved_elements(list(r.input_shapes), enable_gqa=node.options.get("enable_gqa", False)) * out_per
        return pinned, extra

    def _note_gradients(self, i: int, own_params: list[str], policy: str | None) -> None:
        """The gradients node ``i``'s backward will make: its parameters' and its activation inputs'."""
        node, r, info = self.nodes[i], self.rows[i], self.info
        for pname in own_params:
            self.param_grads[i].append(GradTarget(name=pname, elements=self.param_elems[pname], itemsize=self.par_b,
                                                  via_cast=pname in self.casts and policy == "lower"))
        # a broadcast input's gradient first has the output's shape; autograd sums it to the input's
        out_elems = prod(r.output_shapes[0]) if traits(r.kind).broadcasting and r.output_shapes else 0
        for v in node.inputs:
            val = self.values[v]
            wide = out_elems if val.elements < out_elems else 0
            if val.param and info[v].requires_grad:
                self.param_grads[i].append(GradTarget(name=v, elements=val.elements, itemsize=self.par_b,
                                                      broadcast=wide, via_cast=v in self.casts and policy == "lower"))
            elif r.input_requires_grad and info[v].requires_grad and not info[v].constant:
                self.input_grads[i].append(GradTarget(name=v, elements=val.elements, itemsize=val.itemsize,
                                                      broadcast=wide))

    def end_forward(self) -> None:
        """After the last node. Training: ``loss = out.sum()`` frees the outputs unless saved, autocast's
        weight cache is cleared, checkpointed regions hand their kept inputs to the backward."""
        s, last = self.schedule, len(self.nodes)
        self.cursor = last
        if not self.training:
            return
        self.free_at.update(dict.fromkeys(self.graph.outputs, last - 1))
        self.cursor = last + 1
        for v in self.graph.outputs:
            self.release(self.values[v].storage)
        for sid in self.casts.values():
            s.free(sid)
        if self.plan is not None:
            self.plan.release_inputs(self.saved_by)

    # -- backward and the optimizer

    def backward(self) -> None:
        """``loss.backward()`` (:class:`archcalc.memory.liveness.backward.Backward`)."""
        self.shards.begin_backward(self.schedule, self.par_b)
        Backward(self).run()

    def optimizer_step(self) -> None:
        """``optimizer.step()`` (creating its state on the first step), sharded under ZeRO 1-3."""
        created = not self.first_step
        if self.shards.zero:
            self.shards.optimizer_step(self.schedule, self.optimizer, self.par_b, created=created,
                                       precision=self.precision)
        else:
            optimizer_step(self.schedule, self.trained, self.optimizer, self.par_b, created=created,
                           precision=self.precision)

    def clear_casts(self) -> None:
        """Autocast's cache is cleared when the region exits."""
        for sid in self.casts.values():
            self.schedule.free(sid)


def _hold_until(nodes: tuple[Any, ...]) -> list[dict[str, tuple[int, int]]]:
    """For node i, {scope: (first, last) node index} of the contiguous run of that module call."""
    runs: list[dict[str, list[int]]] = []
    open_runs: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        here = {}
        for key in node.scopes:  # the IR's module scopes (never the node's name)
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
        if traits(r.kind).running_stats:
            total += 2 * r.output_shape[1] * nbytes + 8
    return total
