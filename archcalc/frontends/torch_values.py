"""Value propagation for the torch tracer: small tensors that never touch a weight carry real values.

A model traced on the meta device has no values, yet many forwards read some: Hugging Face's masking
helpers ask ``(position_ids[:, -1] == 0).all()``, a cache builds empty tensors, a loop runs over
``mask.nonzero()``. Those values derive only from the inputs (token ids, masks) and from factory calls
(``arange``, ``zeros``, ``tensor``), never from a parameter. :class:`Values` places every traced call:

- a call whose tensors are all *real* (CPU tensors made by the trace: the inputs and what derives from
  them) runs on the CPU, a factory asked for the meta device included, so ``.item()`` and ``nonzero`` just
  work; a result above :data:`CAP` elements (a 4096 x 4096 mask) is computed on meta instead (its shape is
  known from a meta run first, so nothing big is ever allocated);
- a call that touches a meta tensor (a parameter, a buffer, anything computed from them) runs on meta, the
  real tensors moved to meta for that call; an in-place write of meta values into a real tensor keeps the
  tensor real but marks its values *unknown* (it counts as meta from then on);
- a value-dependent call on a meta value (``.item()``, ``nonzero``, ``torch.where(cond)``, a boolean
  mask ...) is refused in one line naming the op and the module, with one stated exception, mixture-of-
  experts routing: ``topk`` on computed values returns real indices that assign the rows round-robin, so
  every index gets the same number of rows where that divides (:meth:`Values.topk`). The assumption is
  recorded (:attr:`Values.assumptions`) for the graph's notes, and the values derived from those indices
  are marked (:meth:`Values.assumed`) so the nodes that depend on them are identifiable.

Examples
--------
>>> import torch
>>> v = Values()
>>> v.call(torch.arange, "arange", (4,), {"device": "meta"}).device.type  # a factory on meta: real values
'cpu'
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Values", "DataDependentError", "CAP", "INPUT_CAP", "DATA_DEPENDENT", "SCALAR_READS"]

#: Largest real tensor (elements) the trace computes on the CPU; bigger results are computed on meta
#: (a 2048 x 2048 mask is real, a 4096 x 4096 one is meta; position ids of 64 x 32768 tokens are real).
CAP = 1 << 22

#: Largest input (elements) the trace makes real: token ids and masks always, an image batch too.
INPUT_CAP = 1 << 24

#: Calls that read a tensor's values into Python (refused on meta values).
SCALAR_READS = frozenset({"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "equal", "allclose",
                          "is_nonzero", "numpy"})

#: Calls whose output shape depends on values (refused on meta values unless an assumption covers them).
DATA_DEPENDENT = frozenset({"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "bincount"})


class DataDependentError(RuntimeError):
    """A value-dependent op met a value computed from the weights (which a meta trace does not have)."""


def _map(obj: Any, fn: Callable[[Any], Any]) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(_map(o, fn) for o in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(_map(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    return obj


def _flat(obj: Any) -> list[Any]:
    out: list[Any] = []
    _map(obj, lambda t: out.append(t) or t)
    return out


def _is_device(d: Any, types: tuple[str, ...]) -> bool:
    import torch

    return (isinstance(d, torch.device) and d.type in types) or (isinstance(d, str) and d in types)


def _device_to(obj: Any, device: str, types: tuple[str, ...] = ("meta",)) -> Any:
    """``obj`` with a device argument of one of ``types`` replaced by ``device`` (top level of args /
    kwargs)."""
    if isinstance(obj, dict):
        return {k: (device if _is_device(v, types) else v) for k, v in obj.items()}
    return tuple(device if _is_device(v, types) else v for v in obj)


def _numel(obj: Any) -> int:
    return sum(t.numel() for t in _flat(obj))


def _inplace(fname: str) -> bool:
    return (fname.endswith("_") and not fname.endswith("__")) or fname in (
        "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__", "__iand__",
        "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__setitem__")


class _IdSet:
    """Tensors by identity (a WeakSet would compare tensors with ``==``)."""

    def __init__(self) -> None:
        self._refs: dict[int, Any] = {}

    def add(self, t: Any) -> None:
        self._refs[id(t)] = weakref.ref(t)

    def __contains__(self, t: Any) -> bool:
        ref = self._refs.get(id(t))
        return ref is not None and ref() is t


class Values:
    """Where each traced call runs (real CPU values or meta) and what was assumed on the way."""

    def __init__(self, cap: int = CAP) -> None:
        self.cap = cap
        self.unknown = _IdSet()  # real tensors written from meta values: their values are not known
        self._assumed = _IdSet()  # tensors whose values (or shapes) come from a routing assumption
        self.assumptions: list[tuple[str, str]] = []  # (module, what was assumed)
        self.where = ""  # the module running now, for messages

    def is_real(self, t: Any) -> bool:
        return t.device.type == "cpu" and t not in self.unknown

    def assumed(self, t: Any) -> bool:
        """Whether ``t`` derives from an assumption (routing indices, or rows gathered by them)."""
        return t in self._assumed

    def real_input(self, t: Any) -> Any:
        """An input tensor of the trace: real up to :data:`INPUT_CAP` elements, else meta."""
        return t if t.numel() <= max(self.cap, INPUT_CAP) else t.to("meta")

    # -- the one entry point
    def call(self, func: Any, fname: str, args: tuple, kwargs: dict) -> Any:
        tensors = _flat((args, kwargs))
        metas = [t for t in tensors if not self.is_real(t)]
        if fname in SCALAR_READS:
            if metas:
                self._refuse(fname)
            return func(*args, **kwargs)
        if metas:
            out = self._on_meta(func, fname, args, kwargs, tensors)
        else:
            out = self._on_cpu(func, fname, args, kwargs)
        if any(self.assumed(t) for t in tensors):
            keep = {tuple(t.shape) for t in tensors if not self.assumed(t)}
            for o in _flat(out):
                if tuple(o.shape) not in keep:
                    self._assumed.add(o)
        return out

    def _refuse(self, fname: str) -> None:
        at = f"module {self.where}" if self.where else "the top-level forward"
        raise DataDependentError(f"{fname} in {at} reads values computed from the weights, which a trace without "
                                 "weights does not have (a data-dependent forward)")

    def _on_cpu(self, func: Any, fname: str, args: tuple, kwargs: dict) -> Any:
        import torch

        shaped = None
        if not _inplace(fname):
            meta_args = _map(_device_to(args, "meta", ("cpu", "meta")), self._to_meta)
            meta_kwargs = _map(_device_to(kwargs, "meta", ("cpu", "meta")), self._to_meta)
            try:  # shapes first, on meta: nothing big is allocated on the CPU
                with torch.device("meta"):
                    shaped = func(*meta_args, **meta_kwargs)
            except Exception:  # a value-dependent op (nonzero ...) has no meta kernel: its output is small
                shaped = None
            if shaped is not None and _numel(shaped) > self.cap:
                return shaped
        args, kwargs = _device_to(args, "cpu"), _device_to(kwargs, "cpu")
        try:
            return func(*args, **kwargs)
        except (NotImplementedError, RuntimeError):
            # a call the model makes for another device than the CPU (histc of integers, as on CUDA): its
            # shapes are known, its values are not
            if shaped is None:
                raise
            for t in _flat(shaped):
                self.unknown.add(t)
            return shaped

    def _to_meta(self, t: Any) -> Any:
        return t if t.device.type == "meta" else t.to("meta")

    def _on_meta(self, func: Any, fname: str, args: tuple, kwargs: dict, tensors: list[Any]) -> Any:
        import torch

        if fname == "topk":
            return self.topk(func, args, kwargs)
        if fname in DATA_DEPENDENT or (fname == "where" and len(args) + len(kwargs) == 1) or (
                fname == "repeat_interleave" and any(isinstance(a, torch.Tensor) for a in (*args[1:2], *kwargs.values()))):
            self._refuse(fname)
        if fname in ("grouped_mm", "_grouped_mm"):
            return self._grouped_mm(func, args, kwargs)
        if _inplace(fname) and tensors and self.is_real(tensors[0]) and tensors[0] is args[0]:
            # meta values written into a real tensor: same shapes, values no longer known
            target = args[0]
            out = func(*_map(args, self._zeros_for_meta), **_map(kwargs, self._zeros_for_meta))
            self.unknown.add(target)
            return out
        if fname in ("to", "type_as", "new_empty", "new_zeros", "new_ones", "new_full", "new_tensor"):
            # asked for the CPU or an accelerator: a value computed from the weights stays meta
            args, kwargs = _device_to(args, "meta", ("cpu", "cuda")), _device_to(kwargs, "meta", ("cpu", "cuda"))
        try:
            if fname in ("__getitem__", "__setitem__") and len(args) > 1:  # indices may stay on the CPU (a 0-dim
                # index tensor is read as an int, which a meta copy could not give)
                moved = (self._to_meta(args[0]), args[1], *_map(args[2:], self._to_meta))
                return func(*moved, **kwargs)
            return func(*_map(args, self._to_meta), **_map(kwargs, self._to_meta))
        except RuntimeError as exc:
            if "meta" in str(exc) and ("data-dependent" in str(exc) or "cannot be called" in str(exc)):
                self._refuse(fname)
            raise

    def _zeros_for_meta(self, t: Any) -> Any:
        import torch

        return torch.zeros(t.shape, dtype=t.dtype) if not self.is_real(t) else t

    def _grouped_mm(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """``grouped_mm(a, b, offs=)`` on meta: torch's meta kernel accepts only bf16; the shape is torch's
        rule (2-D ``(S, K)`` by 3-D ``(E, K, N)`` groups the rows: ``(S, N)``)."""
        moved_args, moved_kwargs = _map(args, self._to_meta), _map(kwargs, self._to_meta)
        try:
            return func(*moved_args, **moved_kwargs)
        except RuntimeError:
            a, b = args[0], args[1] if len(args) > 1 else kwargs["mat_b"]
            if a.dim() != 2 or b.dim() != 3:
                raise
            dtype = kwargs.get("out_dtype") or a.dtype
            # (S, K) @ (K, N) has torch's output shape and keeps autograd's graph back to both operands (the
            # trace reads which tensors get a gradient from it); the mode records the call as grouped_mm
            out = self._to_meta(a) @ self._to_meta(b).sum(0)
            return out if out.dtype == dtype else out.to(dtype)

    # -- the routing assumption
    def topk(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """``topk`` of computed values: the values on meta, real indices assigning rows round-robin.

        Row ``r`` (over every dimension but ``dim``) gets indices ``(r k + j) mod n`` for ``j < k``: distinct
        within a row when ``k <= n``, and each index gets ``rows k / n`` rows when that divides (balanced
        routing: the assumption a mixture of experts is sized under).
        """
        import torch

        x = args[0]
        out = func(*_map(args, self._to_meta), **_map(kwargs, self._to_meta))
        values, meta_idx = out[0], out[1]
        dim = kwargs.get("dim", args[2] if len(args) > 2 else -1)
        k = meta_idx.shape[dim] if meta_idx.dim() else 1
        n = x.shape[dim] if x.dim() else 1
        if meta_idx.numel() > self.cap:
            return out
        moved = list(meta_idx.shape)
        moved.append(moved.pop(dim % max(meta_idx.dim(), 1)))
        flat = torch.arange(meta_idx.numel(), dtype=torch.int64) % max(n, 1)
        idx = flat.reshape(moved).movedim(-1, dim) if meta_idx.dim() else flat.reshape(())
        rows = meta_idx.numel() // max(k, 1)
        per = rows * k / max(n, 1)
        share = f"{int(per)} rows per index" if per == int(per) else f"{int(per)} or {int(per) + 1} rows per index"
        self.assumptions.append((self.where, f"topk {k} of {n} over {rows} rows taken balanced (round-robin "
                                             f"indices, {share}); in a real run the values pick which rows meet "
                                             f"which index, not how many rows ({rows} x {k}) there are"))
        self._assumed.add(idx)
        return type(out)((values, idx))
