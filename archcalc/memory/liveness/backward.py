"""The backward pass and the optimizer step of the liveness schedule (:mod:`archcalc.memory.liveness.peak` says what
they allocate and when).

Examples
--------
>>> s = Schedule()
>>> w = s.new(400, "weights")
>>> optimizer_step(s, {"w": 100}, "adam", 4)  # weights, two moments, then sqrt and quotient together
>>> s.best[0], s.samples[-1].op  # 400 + 2 x 400 + 2 x 400 bytes
(2000, 'w')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archcalc.memory.liveness.schedule import Schedule, StorageKind
from archcalc.memory.optimizers import optimizer_spec
from archcalc.memory.precision import is_master, master_bytes, state_bytes
from archcalc.ops.collectives import gathered_bytes
from archcalc.ops.traits import traits

if TYPE_CHECKING:
    from archcalc.memory.liveness.step import GradTarget, Step

__all__ = ["Backward", "optimizer_step", "place_optimizer_state"]

ACT, OPTIMIZER_STATE = StorageKind.ACT, StorageKind.OPTIMIZER_STATE

@dataclass
class _NodeGradients:
    """What one node's backward makes, by when it is released or handed on."""

    new: list[tuple[str, int]] = field(default_factory=list)  # (activation value, its gradient's storage)
    wide: list[tuple[int | None, GradTarget]] = field(default_factory=list)  # broadcast: full-size storage
    wide_params: list[tuple[int, GradTarget]] = field(default_factory=list)
    conversions: list[int] = field(default_factory=list)  # freed after the node (added into .grad, reduced)
    later: list[GradTarget] = field(default_factory=list)  # 16-bit gradients of casts: fp32 after the node
    sums: list[tuple[str, int]] = field(default_factory=list)  # shared gradients added out of place


class Backward:
    """``loss.backward()`` over ``step``'s nodes in reverse (see :mod:`archcalc.memory.liveness.peak`).

    ``step`` is the :class:`~archcalc.memory.liveness.step.Step` whose forward pass ran: its ``saved_by[i]`` are the
    storages node ``i``'s backward releases, ``param_grads[i]`` / ``input_grads[i]`` the gradients it makes.
    """

    def __init__(self, step: Step) -> None:
        self.step, self.s = step, step.schedule
        self.grad: dict[str, int] = {}  # value -> its gradient's storage
        self.refs: dict[int, int] = {}  # gradient storage -> values holding it
        self.has_grad: set[str] = set()  # parameters whose .grad exists
        # a shared parameter's gradient, held in the buffer of its AccumulateGrad node until every use has sent
        # one: the storage, and whether it is a view (then the next one is added out of place, as a new tensor)
        self.grad_sid: dict[str, int] = {}
        self.is_view: set[str] = set()

    def run(self) -> None:
        """Seed ``d(sum)/d(out)``, run every node's backward, free what is left of the gradients."""
        for v in self.step.graph.outputs:  # ones expanded from one element (a view, no storage)
            self._hold(v, self.s.new(4))
        for i in range(len(self.step.nodes) - 1, -1, -1):
            self.run_node(i)
        for sid in list(self.refs):
            self.s.free(sid)

    def _hold(self, v: str, sid: int) -> None:
        if v in self.grad:  # accumulate in place into the gradient already there
            self._drop(sid, fresh=True)
            return
        self.grad[v] = sid
        self.refs[sid] = self.refs.get(sid, 0) + 1

    def _drop(self, sid: int, fresh: bool = False) -> None:
        if not fresh:
            self.refs[sid] -= 1
        if self.refs.get(sid, 0) <= 0:
            self.refs.pop(sid, None)
            self.s.free(sid)

    def run_node(self, i: int) -> None:
        """Node ``i``'s backward: its gradients allocated, one sample, then what it held released."""
        step, s = self.step, self.s
        node, r = step.nodes[i], step.rows[i]
        incoming = [self.grad[v] for v in node.outputs if v in self.grad]
        if not incoming:
            self._release_saved(i)
            return
        if step.plan is not None:
            step.plan.recompute(i, s, step.saved_by)
        gathered = step.shards.gather(s, [t.name for t in step.param_grads[i]], step.param_elems, step.par_b)
        made = _NodeGradients()
        self._input_gradients(i, incoming, made)
        self._param_gradients(i, made)
        if gathered_bytes(r, 1):  # gathered again for the weight gradient
            inputs = step.input_grads[i]
            made.conversions.append(s.new(gathered_bytes(r, inputs[0].itemsize if inputs else 4)))
        s.sample("backward", node.name)
        self._sum_broadcasts(node.name, made)
        for sid in gathered:
            s.free(sid)
        self._release_saved(i)
        for v in node.outputs:
            if v in self.grad:
                self._drop(self.grad.pop(v))
        self._add_out_of_place(node.name, made.sums)
        self._convert_to_fp32(node.name, made.later)
        for sid in made.conversions:
            s.free(sid)
        for v, sid in made.new:
            if v in self.grad:
                self._drop(sid)
            else:
                self.grad[v] = sid

    def _release_saved(self, i: int) -> None:
        for sid in self.step.saved_by[i]:
            self.s.unpin(sid)

    def _input_gradients(self, i: int, incoming: list[int], made: _NodeGradients) -> None:
        """Gradients of node ``i``'s activation inputs (aliases of the incoming one where the op allows)."""
        aliases = traits(self.step.rows[i].kind).grad_alias  # each input's gradient is the incoming one
        for target in self.step.input_grads[i]:
            if aliases:
                if target.broadcast:  # the incoming gradient itself, summed to the input's shape after the node
                    made.wide.append((None, target))
                    continue
                made.new.append((target.name, incoming[0]))
                self.refs[incoming[0]] = self.refs.get(incoming[0], 0) + 1
            elif target.broadcast:  # computed at the output's shape, summed after the node
                made.wide.append((self.s.new(target.broadcast * target.itemsize), target))
            else:
                sid = self.s.new(target.elements * target.itemsize)
                self.refs[sid] = 1
                made.new.append((target.name, sid))

    def _param_gradients(self, i: int, made: _NodeGradients) -> None:
        """Gradients of node ``i``'s parameters (broadcast ones are made after the node, by the engine)."""
        step, node = self.step, self.step.nodes[i]
        views = {node.param_name(x) if isinstance(x, str) else node.inputs[x] for x in step.rows[i].cost.view_gradients
                 if isinstance(x, str) or x < len(node.inputs)}
        for target in step.param_grads[i]:
            if target.broadcast:
                per = 2 if target.via_cast else step.par_b
                made.wide_params.append((self.s.new(target.broadcast * per), target))
            else:
                self._param_gradient(target, made, view=target.name in views and step.shards.zero < 2,
                                     out_of_place=True)

    def _param_gradient(self, target: GradTarget, made: _NodeGradients, view: bool = False,
                        out_of_place: bool = False) -> None:
        """One gradient for parameter ``target.name``: its ``.grad``, or one more added into it."""
        s, shards, pname = self.s, self.step.shards, target.name
        nbytes = target.elements * self.step.par_b
        if target.via_cast:  # the 16-bit gradient of the cast; the next node (ToCopyBackward) makes it fp32
            made.conversions.append(s.new(target.elements * 2))
            made.later.append(target)
        elif pname in self.has_grad:
            sid = s.new(nbytes)
            if pname in self.is_view and out_of_place and pname in self.grad_sid:
                made.sums.append((pname, sid))  # old + new into a third tensor, after the node
            else:
                made.conversions.append(sid)  # added into .grad, then freed
        else:
            self.has_grad.add(pname)
            sid = s.new(nbytes, shards.gradient_kind)
            self.grad_sid[pname] = sid
            if view:
                self.is_view.add(pname)
            if shards.zero >= 2:  # reduce-scattered into the gradient shard after this node
                made.conversions.append(sid)

    def _sum_broadcasts(self, name: str, made: _NodeGradients) -> None:
        """Autograd's engine sums each broadcast gradient to its input's shape (``sum_to``) after the node
        returns, while the incoming gradients and the saved tensors are still held."""
        s = self.s
        for full, target in made.wide:
            sid = s.new(target.elements * target.itemsize)
            self.refs[sid] = 1
            made.new.append((target.name, sid))
            s.sample("backward", f"{name} (gradient of {target.name} summed to its shape)")
            if full is not None:
                s.free(full)
        for full, target in made.wide_params:
            self._param_gradient(target, made)
            s.sample("backward", f"{name} (gradient of {target.name} summed to its shape)")
            s.free(full)

    def _add_out_of_place(self, name: str, sums: list[tuple[str, int]]) -> None:
        """The engine's InputBuffer for a shared gradient that is a view: ``old_var + var``, both released."""
        s = self.s
        for pname, sid in sums:
            total = s.new(s.bytes[sid], self.step.shards.gradient_kind)
            s.sample("backward", f"{name} (gradient of {pname} added out of place)")
            s.free(self.grad_sid[pname])
            s.free(sid)
            self.grad_sid[pname] = total
            self.is_view.discard(pname)

    def _convert_to_fp32(self, name: str, later: list[GradTarget]) -> None:
        """ToCopyBackward: a cast parameter's 16-bit gradient becomes its fp32 ``.grad`` (or is added to it)."""
        s, step = self.s, self.step
        for target in later:
            pname = target.name
            fp32 = s.new(target.elements * step.par_b, step.shards.gradient_kind if pname not in self.has_grad else ACT)
            s.sample("backward", f"{name} (fp32 gradient of {pname})")
            if pname in self.has_grad or step.shards.zero >= 2:
                s.free(fp32)
            self.has_grad.add(pname)


def place_optimizer_state(s: Schedule, param_elems: dict[str, int], optimizer: str, par_b: int,
                          precision: str = "fp32", created: bool = True) -> None:
    """The optimizer state alive before the forward pass of a step.

    With ``created`` (a step N >= 2: the steps before made it): the moments (``zeros_like(param)``: the
    parameters' dtype; fp32 under a ``-master`` precision) and, for Adam / AdamW, one 0-d fp32 ``step``
    tensor per parameter (4 bytes each). Under a ``-master`` precision also the fp32 master copy of every
    parameter (4 bytes per element), which exists from the optimizer's construction, before step 1. All in
    the ``optimizer_state`` category (ZeRO's K).

    Examples
    --------
    >>> s = Schedule()
    >>> place_optimizer_state(s, {"w": 100, "b": 10}, "adam", 4)
    >>> sum(s.bytes.values())  # 2 moments x 110 x 4 + 2 step tensors x 4
    888
    >>> s = Schedule()
    >>> place_optimizer_state(s, {"w": 100, "b": 10}, "adam", 2, "bf16-master")
    >>> sum(s.bytes.values())  # master 110 x 4 + 2 fp32 moments x 110 x 4 + 2 step tensors x 4
    1328
    """
    spec = optimizer_spec(optimizer)
    state_b, master_b = (state_bytes(precision), master_bytes(precision)) if is_master(precision) else (par_b, 0)
    for n in param_elems.values():
        if master_b:
            s.new(n * master_b, OPTIMIZER_STATE)
        for _ in range(spec.moments if created else 0):
            s.new(n * state_b, OPTIMIZER_STATE)
    if created and spec.step_tensor_bytes and param_elems:
        s.new(spec.step_tensor_bytes * len(param_elems), OPTIMIZER_STATE)


def optimizer_step(s: Schedule, param_elems: dict[str, int], optimizer: str, par_b: int,
                   created: bool = False, precision: str = "fp32") -> None:
    """``optimizer.step()`` on unsharded states: the first step creates the moments; with ``created`` (a
    step N >= 2, :func:`place_optimizer_state` ran) they exist and are updated in place.

    Under a ``-master`` precision the step is apex O2's and Megatron's: every 16-bit gradient is first
    converted to an fp32 gradient of its master (``master.grad = param.grad.float()``, all of them before the
    update), the optimizer updates the fp32 master copy with fp32 moments and temporaries, the master is
    copied back into the 16-bit weight in place, and the fp32 gradients are freed.

    Examples
    --------
    >>> s = Schedule()
    >>> w, g, m = s.new(200, "weights"), s.new(200, "gradients"), s.new(400, "optimizer_state")
    >>> optimizer_step(s, {"w": 100}, "sgd", 2, precision="bf16-master")  # + the fp32 gradient 400
    >>> s.best[0], sorted(s.bytes.values())
    (1200, [200, 200, 400])
    """
    if is_master(precision):
        fp32_grads = [s.new(n * master_bytes(precision)) for n in param_elems.values()]
        _update(s, param_elems, optimizer, state_bytes(precision), created)
        for sid in fp32_grads:
            s.free(sid)
        return
    _update(s, param_elems, optimizer, par_b, created)


def _update(s: Schedule, param_elems: dict[str, int], optimizer: str, par_b: int, created: bool) -> None:
    spec = optimizer_spec(optimizer)
    moments = spec.moments
    if moments == 0 or (created and not spec.temporaries):
        s.sample("optimizer", "step")
        return
    if not created:
        for name, n in param_elems.items():
            for _ in range(moments):
                s.new(n * par_b, OPTIMIZER_STATE)
            if not spec.temporaries:
                s.sample("optimizer", name)
    if not spec.temporaries:
        return
    for name, n in param_elems.items():
        tmp = [s.new(n * par_b) for _ in range(spec.temporaries)]  # exp_avg_sq.sqrt() and its quotient
        s.sample("optimizer", name)
        for sid in tmp:
            s.free(sid)
