"""Saved-activation check: the bytes autograd really keeps for backward versus archcalc's estimate.

:func:`measure_saved` runs one forward pass of a real module in train mode under
``torch.autograd.graph.saved_tensors_hooks`` and records every tensor autograd packs, each storage once
(keyed by ``untyped_storage().data_ptr()``), leaving out parameters (they are weights, not activations;
archcalc counts them in the weights term) and the network input (it does not require a gradient, but
autograd saves it for the first layer's weight gradient: archcalc counts it too, so it stays in).
:func:`check_saved` compares that with :meth:`archcalc.ir.evaluate.Evaluation.saved` converted to bytes:
activation elements x 4 (fp32) + fp32 extras x 4 + int64 indices x 8 + bool masks x 1.

Remaining, explained difference: archcalc counts a dropout mask as 1 byte per element (CUDA's fused
``native_dropout`` keeps a bool mask); on the CPU ``F.dropout`` multiplies by a float32 noise tensor and
autograd keeps that, 4 bytes per element. :attr:`SavedCheck.ok` compares with the masks converted.
torch is imported inside the functions.

Examples
--------
>>> result = check_saved("inception-small", (1, 8, 8), batch=2)
>>> result.ok, result.torch_bytes, result.archcalc_bytes
(True, 524928, 524928)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from archcalc.frontends.torch_state import keeps_torch_state
from archcalc.ir.evaluate import evaluate
from archcalc.ir.graph import Graph
from dlperf.errors import ArgumentError

__all__ = [
    "SavedMeasurement", "SavedCheck", "measure_saved", "check_saved", "archcalc_saved_bytes", "saved_json",
    "saved_line",
]


@dataclass(frozen=True)
class SavedMeasurement:
    """What autograd saved in one forward pass: bytes by dtype name and the number of distinct storages."""

    bytes_by_dtype: tuple[tuple[str, int], ...]
    storages: int

    @property
    def total_bytes(self) -> int:
        return sum(b for _, b in self.bytes_by_dtype)


@dataclass(frozen=True)
class SavedCheck:
    """archcalc's saved-for-backward bytes beside autograd's, split by dtype.

    ``archcalc_by_dtype`` / ``torch_by_dtype`` map ``"float32"``, ``"int64"``, ``"bool"`` to bytes.
    """

    model: str
    input_shape: tuple[int, int, int]
    batch: int
    archcalc_by_dtype: tuple[tuple[str, int], ...]
    torch_by_dtype: tuple[tuple[str, int], ...]

    @property
    def archcalc_bytes(self) -> int:
        return sum(b for _, b in self.archcalc_by_dtype)

    @property
    def torch_bytes(self) -> int:
        return sum(b for _, b in self.torch_by_dtype)

    @property
    def archcalc_cpu_by_dtype(self) -> dict[str, int]:
        """archcalc's estimate with each dropout mask as float32, as torch keeps it on the CPU.

        On the CPU ``F.dropout`` runs ``input * noise`` with a float32 noise tensor scaled by 1/(1-p), and
        the multiplication saves that tensor (4 bytes per element); CUDA's fused ``native_dropout`` saves a
        bool mask (1 byte per element), which is what archcalc's training estimate counts.
        """
        out = dict(self.archcalc_by_dtype)
        mask = out.pop("bool", 0)
        if mask:
            out["float32"] = out.get("float32", 0) + 4 * mask
        return out

    @property
    def ok(self) -> bool:
        """archcalc (dropout masks as the CPU keeps them) equals autograd's bytes, dtype by dtype."""
        return self.archcalc_cpu_by_dtype == dict(self.torch_by_dtype)

    @property
    def difference_bytes(self) -> int:
        """autograd's bytes minus archcalc's (bool masks): 3 bytes per dropout-mask element on the CPU."""
        return self.torch_bytes - self.archcalc_bytes


def archcalc_saved_bytes(network: Graph, input_shape: tuple[int, int, int], batch: int) -> dict[str, int]:
    """archcalc's estimate in bytes by dtype (float32 activations and BN statistics, int64, bool)."""
    saved = evaluate(network, input_shape, batch, training=True).saved()
    out = {
        "float32": 4 * (saved["activation_elements"] + saved["fp32_elements"]),
        "int64": 8 * saved["int64_elements"],
        "bool": saved["bool_elements"],
    }
    return {k: v for k, v in out.items() if v}


def measure_saved(module: Any, x: Any) -> SavedMeasurement:
    """Bytes autograd saves during ``module(x)`` in train mode, each storage once.

    Parameters and buffers (BatchNorm's running mean and variance, which batch_norm's backward receives)
    are model state that exists whatever autograd does, so they are left out.
    """
    import torch

    state = {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}
    seen: dict[int, tuple[str, int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in state and ptr not in seen:
            seen[ptr] = (str(t.dtype).removeprefix("torch."), storage.nbytes())
        return t

    module.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    by_dtype: dict[str, int] = defaultdict(int)
    for dtype, nbytes in seen.values():
        by_dtype[dtype] += nbytes
    return SavedMeasurement(tuple(sorted(by_dtype.items())), len(seen))


@keeps_torch_state  # it runs on 2 threads with seed 0; the caller's count and RNG state come back
def check_saved(model: str | Graph, input_shape: tuple[int, int, int] | None = None, batch: int = 2) -> SavedCheck:
    """Compare archcalc's saved-for-backward bytes with what autograd keeps on the real model.

    Parameters
    ----------
    model : str or Graph
        A zoo name with a torch twin, or a Graph with ``twin`` set.
    input_shape : tuple, optional
        ``(C, H, W)``; defaults to the model's. Small inputs keep the real forward pass short.
    batch : int
        Batch size (>= 2: BatchNorm in train mode needs more than one value per channel).

    Returns
    -------
    SavedCheck
    """
    import torch

    from archcalc.crosscheck import build_twin
    from archcalc.zoo import build

    network = build(model) if isinstance(model, str) else model
    if network.twin is None:
        raise ArgumentError("model", what=f"{network.name!r} has no torch twin", fix="choose a zoo model with one")
    if not isinstance(batch, int) or batch < 2:
        raise ArgumentError("batch", batch, "give an integer >= 2 (BatchNorm trains on > 1 value per channel)")
    shape = tuple(network.default_input if input_shape is None else input_shape)
    expected = archcalc_saved_bytes(network, shape, batch)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    module = build_twin(network.twin, shape, "cpu")
    measured = measure_saved(module, torch.randn((batch, *shape)))
    return SavedCheck(network.name, shape, batch, tuple(sorted(expected.items())), measured.bytes_by_dtype)


def saved_json(check: SavedCheck) -> dict[str, Any]:
    """A JSON-ready dict of a :class:`SavedCheck` (bytes by dtype, exact ints)."""
    return {
        "batch": check.batch,
        "archcalc_bytes": dict(check.archcalc_by_dtype),
        "archcalc_cpu_bytes": check.archcalc_cpu_by_dtype,
        "torch_bytes": dict(check.torch_by_dtype),
        "difference_bytes": check.difference_bytes,
        "ok": check.ok,
    }


def saved_line(check: SavedCheck) -> str:
    """One line: both totals, the verdict and, where it applies, the explained dropout-mask difference."""
    verdict = "agree" if check.ok else "MISMATCH"
    note = ""
    if check.ok and check.difference_bytes:
        note = (f" (autograd keeps {check.difference_bytes:,} bytes more: on the CPU dropout saves float32 masks, "
                "archcalc counts CUDA's 1-byte masks)")
    return (f"saved for backward at batch {check.batch}: archcalc {check.archcalc_bytes:,} bytes, "
            f"autograd {check.torch_bytes:,} bytes: {verdict}{note}")
