"""The backward pass and the optimizer step of the liveness schedule (:mod:`archcalc.memory.peak` says what
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

from typing import Any

from archcalc.memory.optimizers import optimizer_spec
from archcalc.memory.precision import is_master, master_bytes, state_bytes
from archcalc.memory.schedule import Schedule
from archcalc.ops.collectives import gathered_bytes

__all__ = ["backward", "optimizer_step", "place_optimizer_state"]

# Ops whose gradient w.r.t. each input aliases the incoming gradient (no allocation in the backward).
_GRAD_ALIASES = frozenset({"Add", "Identity", "View", "Reshape", "Flatten", "Unflatten", "Squeeze", "Unsqueeze",
                           "Permute", "Transpose", "Concat", "Contiguous", "StochasticDepth"})

def backward(s: Schedule, graph: Any, rows: tuple[Any, ...], saved_by: list[list[int]],
             grad_of_param_at: list[list[tuple[str, int, bool, int]]],
             act_inputs: list[list[tuple[str, int, int, int]]],
             par_b: int, shards: Any, param_elems: dict[str, int], plan: Any = None) -> None:
    """Run ``loss.backward()`` over ``graph.nodes`` in reverse on ``s`` (see :mod:`archcalc.memory.peak`).

    ``saved_by[i]``: storages node ``i``'s backward releases; ``grad_of_param_at[i]``: (parameter, elements,
    via a 16-bit cast, broadcast elements) it makes gradients for; ``act_inputs[i]``: (value, elements, bytes
    per element, broadcast elements) of the activations it makes gradients for, where broadcast elements is
    the output's size when the input was broadcast to it (else 0); ``shards``: :class:`~archcalc.memory.zero.Sharding`; ``plan``: the
    running :class:`~archcalc.memory.recompute.RecomputePlan` (or None).
    """
    nodes = graph.nodes
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

    # a shared parameter's gradient, held in the buffer of its AccumulateGrad node until every use has sent
    # one: the storage, and whether it is a view (then the next one is added out of place, as a new tensor)
    grad_sid: dict[str, int] = {}
    is_view: set[str] = set()

    def param_gradient(pname: str, elems: int, via_cast: bool, conversions: list[int],
                       later: list[tuple[str, int]], view: bool = False,
                       sums: list[tuple[str, int]] | None = None) -> None:
        if via_cast:  # the 16-bit gradient of the cast; the next node (ToCopyBackward) makes it fp32
            conversions.append(s.new(elems * 2))
            later.append((pname, elems))
        elif pname in has_grad:
            sid = s.new(elems * par_b)
            if pname in is_view and sums is not None and pname in grad_sid:
                sums.append((pname, sid))  # old + new into a third tensor, after the node
            else:
                conversions.append(sid)  # added into .grad, then freed
        else:
            has_grad.add(pname)
            sid = s.new(elems * par_b, shards.gradient_kind)
            grad_sid[pname] = sid
            if view:
                is_view.add(pname)
            if shards.zero >= 2:  # reduce-scattered into the gradient shard after this node
                conversions.append(sid)

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
        if plan is not None:
            plan.recompute(i, s, saved_by)
        gathered = shards.gather(s, [p for p, _, _, _ in grad_of_param_at[i]], param_elems, par_b)
        new_grads: list[tuple[str, int]] = []
        wide: list[tuple[int | None, str, int]] = []  # broadcast gradients: (full-size storage, value, bytes)
        for v, elems, per, bcast in act_inputs[i]:
            if r.kind in _GRAD_ALIASES:
                if bcast:  # the incoming gradient itself, summed to the input's shape after the node
                    wide.append((None, v, elems * per))
                    continue
                new_grads.append((v, incoming[0]))
                refs[incoming[0]] = refs.get(incoming[0], 0) + 1
            elif bcast:  # computed at the output's shape, summed after the node
                wide.append((s.new(bcast * per), v, elems * per))
            else:
                sid = s.new(elems * per)
                refs[sid] = 1
                new_grads.append((v, sid))
        conversions: list[int] = []
        later: list[tuple[str, int]] = []
        wide_params: list[tuple[int, str, int, bool]] = []
        sums: list[tuple[str, int]] = []
        views = {node.param_name(x) if isinstance(x, str) else node.inputs[x] for x in r.cost.view_gradients
                 if isinstance(x, str) or x < len(node.inputs)}
        for pname, elems, via_cast, bcast in grad_of_param_at[i]:
            if bcast:
                wide_params.append((s.new(bcast * (2 if via_cast else par_b)), pname, elems, via_cast))
            else:
                param_gradient(pname, elems, via_cast, conversions, later, pname in views and shards.zero < 2,
                               sums)
        if gathered_bytes(r, 1):  # gathered again for the weight gradient
            conversions.append(s.new(gathered_bytes(r, act_inputs[i][0][2] if act_inputs[i] else 4)))
        s.sample("backward", node.name)
        # autograd's engine sums each broadcast gradient to its input's shape (sum_to) after the node
        # returns, while the incoming gradients and the saved tensors are still held
        for full, v, nbytes in wide:
            sid = s.new(nbytes)
            refs[sid] = 1
            new_grads.append((v, sid))
            s.sample("backward", f"{node.name} (gradient of {v} summed to its shape)")
            if full is not None:
                s.free(full)
        for full, pname, elems, via_cast in wide_params:
            param_gradient(pname, elems, via_cast, conversions, later)
            s.sample("backward", f"{node.name} (gradient of {pname} summed to its shape)")
            s.free(full)
        for sid in gathered:
            s.free(sid)
        for sid in saved_by[i]:
            s.pins[sid] -= 1
            s.free(sid)
        for v in node.outputs:
            if v in grad:
                drop(grad.pop(v))
        for pname, sid in sums:  # the engine's InputBuffer: old_var + var, both released after
            total = s.new(s.bytes[sid], shards.gradient_kind)
            s.sample("backward", f"{node.name} (gradient of {pname} added out of place)")
            s.free(grad_sid[pname])
            s.free(sid)
            grad_sid[pname] = total
            is_view.discard(pname)
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
            s.new(n * master_b, "optimizer_state")
        for _ in range(spec.moments if created else 0):
            s.new(n * state_b, "optimizer_state")
    if created and spec.step_tensor_bytes and param_elems:
        s.new(spec.step_tensor_bytes * len(param_elems), "optimizer_state")


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
                s.new(n * par_b, "optimizer_state")
            if not spec.temporaries:
                s.sample("optimizer", name)
    if not spec.temporaries:
        return
    for name, n in param_elems.items():
        tmp = [s.new(n * par_b) for _ in range(spec.temporaries)]  # exp_avg_sq.sqrt() and its quotient
        s.sample("optimizer", name)
        for sid in tmp:
            s.free(sid)
