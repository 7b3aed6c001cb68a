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
    ``checkpoint_segments=``) follow :mod:`archcalc.memory.liveness.recompute`: they save nothing in the forward pass
    and run again in the backward. Data parallelism with ZeRO follows :mod:`archcalc.memory.liveness.zero`.

Mixed precision (``fp16-mixed`` / ``bf16-mixed``) follows :mod:`archcalc.memory.precision`: ops of the
``lower`` policy cast their fp32 inputs to the 16-bit dtype (casts of parameters are cached until the end
of the forward pass, or longer when autograd saved them) and output 16 bits; other ops keep their inputs'
dtype. Gradients have their value's dtype; a parameter's 16-bit gradient is converted to an fp32 ``.grad``.
``fp16-master`` / ``bf16-master`` run the model as ``fp16`` / ``bf16`` do; the optimizer keeps an fp32 master
copy of the weights from before step 1 and fp32 moments (the ``optimizer_state`` category: ZeRO's K), and
its step makes an fp32 gradient of every parameter first
(:func:`~archcalc.memory.liveness.backward.optimizer_step`).

What is counted: tensor storage bytes (elements x dtype size). Not counted: allocator slack, library
scratch space an op frees before returning, Python objects.

Examples
--------
>>> from archcalc.models.zoo import build
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

from archcalc.memory.liveness.recompute import RecomputePlan
from archcalc.memory.liveness.schedule import CATEGORIES, MemoryBreakdown, MemorySample, StorageKind
from archcalc.memory.optimizers import OPTIMIZERS
from archcalc.memory.precision import autocast_policy, dtype_bytes
from dlperf.errors import ArgumentError, ref
from dlperf.results import Result
from dlperf.validate import check_bool, check_int

__all__ = ["MemoryBreakdown", "MemorySample", "PeakMemory", "peak_memory", "CATEGORIES"]


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

    @classmethod
    def of(cls, step: Any, *, batch: int, checkpoint_segments: int = 1) -> PeakMemory:
        """The result of a finished :class:`~archcalc.memory.liveness.step.Step` (its schedule has run)."""
        s = step.schedule
        live, index, breakdown = s.best
        at = s.samples[index]
        kept = (StorageKind.WEIGHTS, StorageKind.GRADIENTS, StorageKind.OPTIMIZER_STATE)
        return cls(network=step.graph.name, batch=batch, training=step.training,
                   optimizer=step.optimizer if step.training else "none", precision=step.precision,
                   peak_bytes=live, peak_op=at.op, phase=at.phase, breakdown=breakdown,
                   model_state_bytes=sum(n for sid, n in s.bytes.items() if s.kind[sid] in kept),
                   timeline=tuple(s.samples), checkpoint_segments=checkpoint_segments,
                   data_parallel=step.data_parallel, zero=step.zero, first_step=step.first_step)

    @property
    def step(self) -> str:
        """Which step the numbers are for: ``"steady"`` (N >= 2), ``"first"`` or ``"inference"``."""
        return "inference" if not self.training else ("first" if self.first_step else "steady")


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
        (:mod:`archcalc.memory.liveness.checkpoint` says which graphs have a sequence); 1: no checkpointing.
    data_parallel, zero : int
        Data-parallel ranks and ZeRO stage (0-3; 1-3 need ``data_parallel >= 2``); ``batch`` is then the
        per-device batch and the result is one device's (:mod:`archcalc.memory.liveness.zero` says what is sharded
        and when).
    recompute : RecomputePlan, optional
        Checkpointed regions (:mod:`archcalc.memory.liveness.recompute`); training only. The segments of
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
    >>> from archcalc.models.zoo import build
    >>> p = peak_memory(build("resnet18"), (3, 64, 64), batch=8)
    >>> p.breakdown.weights_bytes  # 11,689,512 x 4 + running mean and var 2 x 4,800 x 4 + 20 counters x 8
    46796608
    """
    from archcalc.ir.evaluate import evaluate
    from archcalc.memory.liveness.step import Step

    _check_arguments(batch, optimizer, precision, device, data_parallel, zero, recompute, first_step, training)
    recompute = _with_segments(graph, recompute, checkpoint_segments)
    evaluation = evaluate(graph, input_shape, batch)
    plan = recompute.start(graph.nodes) if recompute is not None and training else None
    step = Step(graph, evaluation, training=training, optimizer=optimizer, precision=precision, device=device,
                first_step=first_step, data_parallel=data_parallel, zero=zero, plan=plan)
    step.run()
    return PeakMemory.of(step, batch=batch, checkpoint_segments=checkpoint_segments)


def _check_arguments(batch: Any, optimizer: Any, precision: Any, device: Any, data_parallel: Any, zero: Any,
                     recompute: Any, first_step: Any, training: Any) -> None:
    """``ValueError`` naming the argument for a value :func:`peak_memory` does not model."""
    from archcalc.memory.liveness.zero import check_sharding

    if optimizer not in OPTIMIZERS:
        raise ArgumentError("optimizer", optimizer, f"choose one of {', '.join(OPTIMIZERS)}")
    if not isinstance(first_step, bool):
        raise ArgumentError("first_step", first_step, "give True (step 1) or False (a step N >= 2)")
    check_bool("training", training)  # "no" is truthy: it would train
    check_int("batch", batch)
    dtype_bytes(precision)  # validates precision
    autocast_policy("Conv2d", device)  # validates device
    check_sharding(data_parallel, zero)
    if recompute is not None and not isinstance(recompute, RecomputePlan):
        raise ArgumentError("recompute", recompute, "give a RecomputePlan (archcalc.memory.liveness.recompute) or None")


def _with_segments(graph: Any, recompute: RecomputePlan | None, checkpoint_segments: int) -> RecomputePlan | None:
    """``recompute`` with the segments of ``checkpoint_sequential(..., checkpoint_segments)`` added."""
    from archcalc.memory.liveness.checkpoint import checkpoint_plan

    if checkpoint_segments == 1:
        return recompute
    segments = checkpoint_plan(graph, checkpoint_segments).recompute_plan(graph)
    return segments if recompute is None else _both(recompute, segments, checkpoint_segments)


def _both(recompute: RecomputePlan, segments: RecomputePlan, checkpoint_segments: int) -> RecomputePlan:
    """``recompute``'s regions and the checkpointed segments in one plan; nested checkpoints are refused."""
    mine = {name for region in recompute.regions for name in region}
    for region in segments.regions:
        for name in region:
            if name in mine:
                raise ArgumentError("checkpoint_segments", checkpoint_segments, "nested checkpoints are not "
                                    "modelled: give one of the two", what=f"node {name!r} is also in a region of "
                                    f"{ref('recompute')}")
    return RecomputePlan(recompute.regions + segments.regions)
