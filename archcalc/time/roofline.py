"""Per-op roofline time of an evaluated graph on a device profile: forward, backward, recomputation, the
optimizer step and the collectives of data and tensor parallelism.

For each op and pass::

    compute_s = flops / (peak(dtype) * eff_compute) + elementwise_ops / (vector_peak * eff_compute)
    memory_s  = bytes / (bandwidth * eff_memory)
    time_s    = max(compute_s, memory_s) + launch_overhead          (bound: the larger term)

with ``flops = 2 x MACs`` at the precision's compute dtype (``fp32``, ``bf16``, ``fp16``) and element-wise
operations at the device's fp32 (non-tensor) peak. Bytes of one op's forward: its activation inputs and
outputs at the compute dtype's size, plus the parameters it is the first to use at the parameters' size
(fp32 under autocast); a view (no kernel: no MACs, no element-wise operations, the output aliases the
input) costs nothing. Backward: reads the output's gradient, the saved input and the weights, writes the
input's gradient (where one is needed) and the weights' gradient; its MACs are archcalc's backward MACs and
its element-wise operations are taken equal to the forward's (archcalc counts none for the backward). The
optimizer step is memory-bound: it reads parameters, gradients and the state, and writes parameters and
state. Collectives follow :mod:`archcalc.time.collectives` over the profile's interconnect; nothing
overlaps (communication is added to computation), which is the pessimistic end.

Examples
--------
>>> from archcalc.time.profiles import get_profile
>>> h100 = get_profile("h100")
>>> t = op_time("gemm", "Linear", "forward", flops=2 * 4096**3, elementwise_ops=0, bytes_=3 * 4096**2 * 2,
...             profile=h100, dtype="bf16")
>>> t.bound, round(t.time_s * 1e6, 1)     # 137.4e9 FLOP / 989.4e12 FLOP/s = 138.9 us
('compute', 138.9)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from archcalc.memory.optimizers import OPTIMIZER_TABLE
from archcalc.memory.precision import PRECISION_TABLE, dtype_bytes, master_bytes, param_bytes, state_bytes
from archcalc.ops.arith import prod
from archcalc.ops.traits import traits
from archcalc.time.collectives import ring_all_gather, ring_all_reduce, ring_reduce_scatter
from archcalc.time.efficiency import backward_bytes, family_of
from archcalc.time.profiles import DeviceProfile
from dlperf.errors import ArgumentError

__all__ = ["Efficiency", "OpTime", "StepTime", "op_time", "step_time", "PEAK_DTYPE"]

#: The peak each ``--precision`` computes at (its compute dtype); fp32 is the non-tensor figure (no TF32).
PEAK_DTYPE: Mapping[str, str] = MappingProxyType({"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"})


@dataclass(frozen=True)
class Efficiency:
    """Fractions of peak a prediction assumes, and fixed costs (1.0, 1.0, 0, 0: the pure roofline).

    ``compute`` and ``memory`` multiply the peak FLOP/s and bandwidth; ``launch_overhead`` is seconds added
    per kernel (per op and pass); ``alpha`` the latency of one step of a ring collective, in seconds.
    """

    compute: float = 1.0
    memory: float = 1.0
    launch_overhead: float = 0.0
    alpha: float = 0.0

    def __post_init__(self) -> None:
        for name, value, top in (("compute_efficiency", self.compute, 1.0), ("memory_efficiency", self.memory, 1.0)):
            if not 0 < value <= top:
                raise ArgumentError(name, value, "give a fraction in (0, 1]")
        for name, value in (("launch_overhead", self.launch_overhead), ("latency", self.alpha)):
            if not value >= 0:
                raise ArgumentError(name, value, "give seconds >= 0")


@dataclass(frozen=True)
class OpTime:
    """One op in one pass (``forward``, ``backward``, ``recompute``, ``optimizer`` or ``communication``).

    ``flops`` are 2 x MACs; ``bytes`` what the pass reads and writes; ``compute_s``, ``memory_s`` and
    ``comm_s`` the three roofline terms; ``time_s`` the predicted time; ``bound`` which term set it.
    """

    name: str
    kind: str
    phase: str
    flops: int
    elementwise_ops: int
    bytes: int
    compute_s: float
    memory_s: float
    comm_s: float
    time_s: float
    bound: str


@dataclass(frozen=True)
class StepTime:
    """A step's predicted time on one device (one rank of ``data_parallel`` x ``tensor_parallel``).

    ``model_flops`` counts forward + backward (2 x MACs) of the model, ``hardware_flops`` also the recomputed
    forward; ``mfu`` = model_flops / (time_s x peak), ``hfu`` the same with hardware FLOPs.
    """

    model: str
    profile: DeviceProfile
    precision: str
    dtype: str
    efficiency: Efficiency
    training: bool
    optimizer: str | None
    batch: int
    data_parallel: int
    tensor_parallel: int
    recompute: str
    ops: tuple[OpTime, ...]
    model_flops: int
    hardware_flops: int
    notes: tuple[str, ...] = ()

    @property
    def time_s(self) -> float:
        return sum(o.time_s for o in self.ops)

    @property
    def peak_flops(self) -> float:
        return self.profile.peak(self.dtype)

    @property
    def achieved_flops(self) -> float:
        """Hardware FLOP/s the step would sustain: hardware FLOPs / predicted time."""
        return self.hardware_flops / self.time_s if self.time_s else 0.0

    @property
    def mfu(self) -> float:
        return self.model_flops / (self.time_s * self.peak_flops) if self.time_s else 0.0

    @property
    def hfu(self) -> float:
        return self.hardware_flops / (self.time_s * self.peak_flops) if self.time_s else 0.0

    def time_by(self, attribute: str) -> dict[str, float]:
        """Seconds summed by ``bound`` or ``phase``."""
        out: dict[str, float] = {}
        for o in self.ops:
            out[getattr(o, attribute)] = out.get(getattr(o, attribute), 0.0) + o.time_s
        return out


def op_time(name: str, kind: str, phase: str, *, flops: int, elementwise_ops: int, bytes_: int,
            profile: DeviceProfile, dtype: str, efficiency: Efficiency = Efficiency(), comm_s: float = 0.0,
            kernels: int = 1, family: str | None = None, weight_bytes: int = 0, after_bytes: int = 0) -> OpTime:
    """The roofline time of one op in one pass (see the module docstring for the formula); on a calibrated
    profile with the op's ``family`` given, the calibrated curves' time instead
    (:meth:`archcalc.time.efficiency.Calibration.op_seconds`; a ``backward`` phase on the family's backward
    curve; ``after_bytes``: the bytes the previous forward op moved, for the calibrated cold-cache cost)."""
    cal = profile.calibration
    if cal is not None and family is not None:
        backward = phase == "backward"
        compute_s, memory_s, _ = cal.op_seconds(family, flops, bytes_, weight_bytes, backward=backward)
        terms = {"compute": compute_s, "memory": memory_s, "communication": comm_s}
        bound = max(terms, key=terms.__getitem__)
        time_s = terms[bound] + kernels * cal.overhead_s[cal.curve_of(family, backward)]
        if not backward and after_bytes:  # the op before it left the caches cold
            time_s += cal.cold_seconds(after_bytes)
        return OpTime(name, kind, phase, flops, elementwise_ops, bytes_, compute_s, memory_s, comm_s, time_s,
                      bound)
    compute_s = (flops / (profile.peak(dtype) * efficiency.compute) if flops else 0.0) + (
        elementwise_ops / (profile.vector_peak * efficiency.compute) if elementwise_ops else 0.0)
    memory_s = bytes_ / (profile.memory_bandwidth * efficiency.memory)
    terms = {"compute": compute_s, "memory": memory_s, "communication": comm_s}
    bound = max(terms, key=terms.__getitem__)
    time_s = terms[bound] + kernels * efficiency.launch_overhead
    return OpTime(name, kind, phase, flops, elementwise_ops, bytes_, compute_s, memory_s, comm_s, time_s, bound)


def _elements(shapes: Any) -> int:
    return sum((prod(s) for s in shapes), 0)


def _is_view(row: Any) -> bool:
    """No kernel: no MACs, no element-wise work, the output aliases the input (a collective is not a view)."""
    return not row.allocates and not row.macs and not row.elementwise_ops and not traits(row.kind).collective


def step_time(evaluation: Any, profile: DeviceProfile, *, precision: str = "fp32", training: bool = False,
              optimizer: str = "sgd", efficiency: Efficiency = Efficiency(), data_parallel: int = 1,
              tensor_parallel: int = 1, recompute_rows: frozenset[str] = frozenset(), recompute: str = "none",
              model: str = "", zero: int = 0) -> StepTime:
    """Predicted time of one forward (inference) or training step of an evaluated graph on ``profile``.

    ``evaluation`` is :func:`archcalc.ir.evaluate.evaluate`'s result (concrete shapes); ``recompute_rows`` the
    names of the rows a recomputation plan runs twice (their forward again before their backward).
    ``data_parallel`` adds a ring all-reduce of the gradients; ``tensor_parallel`` graphs
    (:func:`archcalc.parallel.rank_graph.rank_graph`) time their ``AllReduce`` rows on the interconnect,
    forward and backward (Megatron's ``g`` and ``f``). ``zero`` (0-3, with ``data_parallel``) is the ZeRO
    stage's communication (Rajbhandari et al. 2020, section 7): stages 1 and 2 a reduce-scatter of the
    gradients and an all-gather of the updated parameters, the all-reduce's volume (2 x parameters per
    rank); stage 3 a reduce-scatter of the gradients and an all-gather of the parameters in the forward
    and again in the backward (3 x parameters, 1.5x).
    """
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"zero={zero!r}: give a ZeRO stage 0, 1, 2 or 3")
    if precision not in PRECISION_TABLE:
        raise ArgumentError("precision", precision, f"choose one of {', '.join(PRECISION_TABLE)}")
    if optimizer not in OPTIMIZER_TABLE:
        raise ArgumentError("optimizer", optimizer, f"choose one of {', '.join(OPTIMIZER_TABLE)}")
    dtype = PEAK_DTYPE[PRECISION_TABLE[precision].compute]
    profile.peak(dtype)  # refuse a dtype the device lacks before any arithmetic
    if profile.calibration is not None:
        if dtype != "fp32":
            raise ArgumentError("precision", precision,
                                what=f"the calibration of {profile.name} ({profile.key}) measured fp32 only",
                                fix="give fp32, or a profile without a calibration table")
        if efficiency != Efficiency(alpha=efficiency.alpha):
            raise ArgumentError("efficiency", efficiency,
                                what=f"{profile.key} is calibrated (its curves set the efficiencies)",
                                fix="leave the efficiencies and the launch overhead at their defaults")
    act_b, w_b = dtype_bytes(precision), param_bytes(precision)
    eff, bw = efficiency, profile.interconnect_bandwidth
    ops: list[OpTime] = []
    common = {"profile": profile, "dtype": dtype, "efficiency": eff}
    fwd_macs = bwd_macs = re_macs = previous = 0
    for row in evaluation.rows:
        if _is_view(row):
            continue
        in_b, out_b = _elements(row.input_shapes) * act_b, _elements(row.output_shapes) * act_b
        # the op's declared weights (a tied LM head reads the embedding's table), or those traced as inputs
        w = max(_elements(s for _, s in row.cost.param_shapes), row.params) * w_b
        # a lookup reads only the rows it gathers (its backward still writes a dense gradient of the table)
        facts = traits(row.kind)
        fam = family_of(row.kind, dict(row.hparams), input_shapes=row.input_shapes,
                        output_shapes=row.output_shapes, macs=row.macs)
        w_read = _elements(row.output_shapes) * w_b if facts.lookup else w
        comm = 0.0
        if facts.collective == "all_reduce" and dict(row.hparams).get("world", 1) > 1:
            comm = ring_all_reduce(out_b, dict(row.hparams)["world"], bw, eff.alpha)
        forward = op_time(row.name, row.kind, "forward", flops=2 * row.macs, elementwise_ops=row.elementwise_ops,
                          bytes_=in_b + out_b + w_read, comm_s=comm, family=fam, weight_bytes=w_read,
                          after_bytes=previous, **common)
        previous = w_read  # the weights it streamed: unlike its output, nothing after it reuses them
        ops.append(forward)
        fwd_macs += row.macs
        if not training:
            continue
        if row.name in recompute_rows:
            ops.append(op_time(row.name, row.kind, "recompute", flops=2 * row.macs,
                               elementwise_ops=row.elementwise_ops, bytes_=in_b + out_b + w_read, comm_s=comm,
                               family=fam, weight_bytes=w_read, **common))
            re_macs += row.macs
        if row.input_requires_grad or w or row.backward_macs:
            ops.append(op_time(row.name, row.kind, "backward", flops=2 * row.backward_macs,
                               elementwise_ops=row.elementwise_ops,
                               bytes_=backward_bytes(in_b, out_b, w_read, w, row.input_requires_grad),
                               comm_s=comm, family=fam, weight_bytes=w_read * row.backward_macs // max(row.macs, 1),
                               **common))
            bwd_macs += row.backward_macs
    notes = []
    cal = profile.calibration
    if cal is not None and cal.sequence_factor > 1.0 and ops:
        # the calibrated cost between ops (module calls, caches, a whole run's spread): one row per pass
        for phase in ("forward", "recompute", "backward"):
            spent = sum(o.time_s for o in ops if o.phase == phase)
            if spent:
                extra = (cal.sequence_factor - 1.0) * spent
                ops.append(OpTime("between ops", "Sequence", phase, 0, 0, 0, 0.0, 0.0, 0.0, extra,
                                  "overhead"))
        notes.append(f"between ops: {cal.sequence_factor - 1.0:.1%} of each pass's op time (the calibrated "
                     "sequence factor)")
    if training:
        params = evaluation.total("params")
        spec = OPTIMIZER_TABLE[optimizer]
        # read parameter, gradient and each moment; write parameter and each moment. A master copy: read the
        # 16-bit gradient, read and write the fp32 master and each fp32 moment, write the 16-bit weight
        state_b, master_b = state_bytes(precision), master_bytes(precision)
        moved = params * (w_b * (3 if not master_b else 2) + 2 * master_b + 2 * spec.moments * state_b)
        tensors = 3 + 2 * spec.moments + (2 if master_b else 0)
        ops.append(op_time("optimizer step", optimizer, "optimizer", flops=0, elementwise_ops=0, bytes_=moved,
                           family="elementwise", **common))
        if data_parallel > 1:
            grad_bytes = params * w_b
            def comm_op(label: str, kind: str, seconds: Any) -> None:
                ops.append(op_time(label, kind, "communication", flops=0, elementwise_ops=0, bytes_=0,
                                   comm_s=seconds, **common))

            if zero == 0:
                comm_op("gradient all-reduce", "AllReduce", ring_all_reduce(grad_bytes, data_parallel, bw, eff.alpha))
            else:
                comm_op("gradient reduce-scatter", "ReduceScatter",
                        ring_reduce_scatter(grad_bytes, data_parallel, bw, eff.alpha))
                for g in ("forward", "backward") if zero == 3 else ("updated",):
                    comm_op(f"parameter all-gather ({g})", "AllGather",
                            ring_all_gather(grad_bytes, data_parallel, bw, eff.alpha))
            if zero:
                notes.append(f"ZeRO-{zero}: " + ("reduce-scatter of gradients + all-gather of parameters in the "
                                                 "forward and the backward (1.5x data parallelism's volume)"
                                                 if zero == 3 else "reduce-scatter of gradients + all-gather of the "
                                                 "updated parameters (data parallelism's volume)"))
        notes.append("optimizer step: bytes only (memory-bound), "
                     f"{tensors} parameter-sized tensors read or written")
        notes.append("backward element-wise operations taken equal to the forward's")
    notes.append("no overlap: communication and computation add up")
    model_flops = 2 * (fwd_macs + bwd_macs)
    return StepTime(model=model or evaluation.network, profile=profile, precision=precision, dtype=dtype,
                    efficiency=eff, training=training, optimizer=optimizer if training else None,
                    batch=evaluation.batch, data_parallel=data_parallel, tensor_parallel=tensor_parallel,
                    recompute=recompute, ops=tuple(ops), model_flops=model_flops,
                    hardware_flops=model_flops + 2 * re_macs, notes=tuple(notes))
