"""Data parallelism with ZeRO in the liveness schedule: which model states one device holds, and when.

Every one of the ``data_parallel`` ranks runs the step on its own batch (``batch`` is the per-device batch),
so activations are those of one device. Model states are sharded as in :mod:`archcalc.memory.formulas.states`
(ZeRO's flat partition, ``S = ceil(Psi / data_parallel)`` elements per rank, Psi the parameter count;
parameters and gradients in the parameters' dtype, moments too except under a ``-master`` precision, whose
fp32 master copy and fp32 moments are the optimizer states of ZeRO's K, sharded from stage 1 on):

stage 0
    nothing sharded: the peak is exactly that of single-device training at the per-device batch
    (DDP's gradient buckets and communication buffers are not counted).
stage 1
    full weights and full gradients (all-reduced); the optimizer keeps its moments for its flat shard only
    (``moments x S`` elements) and steps on that one flat tensor, so Adam's two temporaries
    (``exp_avg_sq.sqrt()`` and the quotient) are ``S`` elements each.
stage 2
    as stage 1, and gradients are reduce-scattered as the backward produces them: a flat gradient shard of
    ``S`` elements exists from the start of the backward pass; a parameter's full gradient lives only
    while its node's backward runs (it is then reduced into the shards and freed; bucketing not modelled).
stage 3
    as stage 2, and the weights are the flat shard of ``S`` elements; an op that uses parameters gathers
    their full tensors just before it runs, in the forward pass and again in its backward, and frees them
    right after (FSDP's and DeepSpeed's gather around each layer; no prefetching modelled). Buffers
    (BatchNorm statistics) are not sharded.

So after the step a device holds ``per_device_bytes`` of
:func:`~archcalc.memory.formulas.states.model_state_bytes` with the same precision, plus the buffers.

Examples
--------
>>> Sharding(4, 3, 1_000_003).shard_elements  # ceil(1,000,003 / 4)
250001
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.memory.optimizers import optimizer_spec
from archcalc.memory.precision import is_master, master_bytes, state_bytes
from dlperf.errors import ArgumentError, ref
from dlperf.validate import check_int

__all__ = ["Sharding", "check_sharding"]


def check_sharding(data_parallel: Any, zero: Any) -> None:
    """``ValueError`` naming the parameter for ranks below 1, a stage outside 0-3, or ZeRO on one rank."""
    check_int("data_parallel", data_parallel, what="a positive number of ranks")
    if isinstance(zero, bool) or zero not in (0, 1, 2, 3):
        raise ArgumentError("zero", zero, "choose a ZeRO stage: 0, 1, 2 or 3")
    if zero and data_parallel == 1:
        raise ArgumentError("zero", zero, f"ZeRO shards over data-parallel ranks: give {ref('data_parallel')} N "
                            "(N >= 2), or stage 0", what=f"got {zero} with 1 data-parallel rank")


@dataclass(frozen=True)
class Sharding:
    """ZeRO stage ``zero`` over ``data_parallel`` ranks for a model of ``params`` parameter elements."""

    data_parallel: int
    zero: int
    params: int

    @property
    def shard_elements(self) -> int:
        return -(-self.params // self.data_parallel)

    def weights(self, s: Any, param_elems: dict[str, int], par_b: int) -> dict[str, int]:
        """Parameter name -> storage: one per parameter, or (stage 3) one flat shard for all."""
        if self.zero < 3:
            return {name: s.new(n * par_b, "weights") for name, n in param_elems.items()}
        flat = s.new(self.shard_elements * par_b, "weights")
        return dict.fromkeys(param_elems, flat)

    def gather(self, s: Any, names: list[str], param_elems: dict[str, int], par_b: int) -> list[int]:
        """Stage 3: the full tensors of ``names`` (transient storages); nothing otherwise."""
        if self.zero < 3:
            return []
        return [s.new(param_elems[n] * par_b) for n in dict.fromkeys(names)]

    def begin_backward(self, s: Any, par_b: int) -> None:
        if self.zero >= 2:
            s.new(self.shard_elements * par_b, "gradients")

    @property
    def gradient_kind(self) -> str:
        """Stage 2 and 3: a parameter's full gradient is transient (reduce-scattered after its node)."""
        return "act" if self.zero >= 2 else "gradients"

    def place_state(self, s: Any, optimizer: str, par_b: int, precision: str = "fp32", created: bool = True) -> None:
        """Stage 1 and up: before the forward pass, the flat shard's fp32 master copy (``-master`` precisions,
        from the optimizer's construction on) and, a step N >= 2 (``created``), its moments (fp32 under a
        master copy) and Adam's one ``step`` tensor (the shard is one parameter to the optimizer)."""
        spec = optimizer_spec(optimizer)
        state_b = state_bytes(precision) if is_master(precision) else par_b
        if is_master(precision):
            s.new(self.shard_elements * master_bytes(precision), "optimizer_state")
        if not created:
            return
        for _ in range(spec.moments):
            s.new(self.shard_elements * state_b, "optimizer_state")
        if spec.step_tensor_bytes:
            s.new(spec.step_tensor_bytes, "optimizer_state")

    def optimizer_step(self, s: Any, optimizer: str, par_b: int, created: bool = False,
                       precision: str = "fp32") -> None:
        """Stage 1 and up: moments (created by the first step) and Adam's temporaries for the one flat shard;
        under a ``-master`` precision on the fp32 master shard, after its fp32 gradient is made from the
        16-bit gradient shard (DeepSpeed's ``single_partition_of_fp32_groups[i].grad``), freed after the step."""
        spec = optimizer_spec(optimizer)
        master = is_master(precision)
        n = self.shard_elements * (state_bytes(precision) if master else par_b)
        fp32_grad = s.new(self.shard_elements * master_bytes(precision)) if master else None
        if not created:
            for _ in range(spec.moments):
                s.new(n, "optimizer_state")
        tmp = [s.new(n) for _ in range(spec.temporaries)]
        s.sample("optimizer", "flat shard")
        for sid in tmp:
            s.free(sid)
        if fp32_grad is not None:
            s.free(fp32_grad)
