"""Mappings for the op kinds of issue 18 (indexing, ordering, layout, casts, ``addcmul`` ...), merged into
:data:`archcalc.frontends.torch_ops.MAPPINGS`; method, function and in-place forms alike.

Kept apart so the main table stays readable; each entry turns one torch call into ``(kind, hparams, tensor
inputs)``. :data:`REPLACES` names the entries of the main table an entry here supersedes (``clamp`` with
tensor bounds, ``baddbmm`` / ``addmm`` with keyword operands as BLOOM calls them). An argument pattern a
mapping does not know raises, and the tracer keeps that call ``Unmodeled``.

Examples
--------
>>> sorted(k for k in KINDS if k.startswith("scatter"))
['scatter', 'scatter_', 'scatter_add', 'scatter_add_', 'scatter_reduce', 'scatter_reduce_']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archcalc.frontends.torch_args import Mapped, reduction
from archcalc.frontends.torch_args import arg as _a
from archcalc.frontends.torch_args import is_tensor as _is_tensor

__all__ = ["KINDS", "REPLACES"]


def _ints(v: Any) -> Any:
    if _is_tensor(v):
        return tuple(int(i) for i in v.tolist()) if v.dim() else int(v)
    return tuple(int(i) for i in v) if isinstance(v, list | tuple) else v


def _rest_sizes(args: tuple, kw: dict, name: str) -> tuple:
    if name in kw:
        return tuple(kw[name])
    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], list | tuple):
        return tuple(rest[0])
    return tuple(int(v) for v in rest)


def _repeat(args: tuple, kw: dict) -> Mapped:
    return "Repeat", {"repeats": _rest_sizes(args, kw, "repeats")}, [args[0]]


def _tile(args: tuple, kw: dict) -> Mapped:
    x, dims = args[0], _rest_sizes(args, kw, "dims")
    return "Repeat", {"repeats": (1,) * (x.dim() - len(dims)) + dims}, [x]


def _repeat_interleave(args: tuple, kw: dict) -> Mapped:
    x, repeats, dim = args[0], _a(args, kw, 1, "repeats"), _a(args, kw, 2, "dim")
    if repeats is None:
        raise ValueError("torch.repeat_interleave(repeats) alone is data-dependent")
    if _is_tensor(repeats) and repeats.numel() == 1 and repeats.device.type != "meta":
        repeats = int(repeats)
    if _is_tensor(repeats):
        if repeats.device.type == "meta":
            raise ValueError("a tensor of repeats on meta has no values")
        return "RepeatInterleave", {"dim": dim, "output_size": int(repeats.sum())}, [x, repeats]
    return "RepeatInterleave", {"repeats": int(repeats), "dim": dim}, [x]


_FOLD_KW = ("kernel_size", "dilation", "padding", "stride")


def _unfold(args: tuple, kw: dict) -> Mapped:
    """``Tensor.unfold(dimension, size, step)`` or ``F.unfold(x, kernel_size, ...)`` (both are called
    ``unfold``): the tensor method takes exactly three ints, a window of 2 or more and a step of 1 or more;
    anything else is im2col. ``F.unfold(x, k, dilation, padding)`` with three ints, a dilation >= 2 and a
    padding >= 1 reads as the method; read the wrong way, it fails the tracer's shape check, never silently."""
    x = args[0]
    method = len(args) == 4 and all(isinstance(v, int) for v in args[1:]) and args[2] >= 2 and args[3] >= 1
    if "dimension" in kw or (not any(k in kw for k in _FOLD_KW) and method):
        return "Unfold", {"dimension": _a(args, kw, 1, "dimension"), "size": _a(args, kw, 2, "size"),
                          "step": _a(args, kw, 3, "step")}, [x]
    hp = {name: _ints(_a(args, kw, i + 1, name, 0 if name == "padding" else 1)) for i, name in enumerate(_FOLD_KW)}
    return "Im2Col", hp, [x]


def _im2col(args: tuple, kw: dict) -> Mapped:
    """``torch._C._nn.im2col(x, kernel_size, dilation, padding, stride)``."""
    return "Im2Col", {name: _ints(_a(args, kw, i + 1, name)) for i, name in enumerate(_FOLD_KW)}, [args[0]]


def _col2im(args: tuple, kw: dict) -> Mapped:
    """``torch._C._nn.col2im(x, output_size, kernel_size, dilation, padding, stride)`` (what ``F.fold`` calls)."""
    hp = {"output_size": _ints(_a(args, kw, 1, "output_size"))}
    hp.update({name: _ints(_a(args, kw, i + 2, name)) for i, name in enumerate(_FOLD_KW)})
    return "Col2Im", hp, [args[0]]


def _meshgrid(args: tuple, kw: dict) -> Mapped:
    tensors = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else list(args)
    return "Meshgrid", {"indexing": kw.get("indexing") or "ij"}, tensors


def _tensor_split(args: tuple, kw: dict) -> Mapped:
    spec = next((kw[k] for k in ("indices_or_sections", "sections", "indices", "tensor_indices_or_sections")
                 if k in kw), args[1] if len(args) > 1 else None)
    return "TensorSplit", {"indices_or_sections": _ints(spec), "dim": _a(args, kw, 2, "dim", 0)}, [args[0]]


def _cast(dtype: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        x = args[0]
        return "Cast", {"dtype": dtype, "copy": str(x.dtype).removeprefix("torch.") != dtype}, [x]
    return m


def _addc(kind: str, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        t1, t2 = _a(args, kw, 1, "tensor1"), _a(args, kw, 2, "tensor2")
        hp: dict[str, Any] = {"value": _a(args, kw, 3, "value", 1)}
        if inplace:
            hp["inplace"] = True
        return kind, hp, [args[0], t1, t2]
    return m


def _max_min(name: str, elementwise: str) -> Callable[[tuple, dict], Mapped]:
    """``x.max()`` (a reduction over everything), ``x.max(dim, keepdim)`` (values and indices), ``x.max(other)``
    (element-wise: kind ``elementwise``)."""
    def m(args: tuple, kw: dict) -> Mapped:
        x, second = args[0], _a(args, kw, 1, "dim", kw.get("other"))
        if second is None:
            return name, {"dim": None, "keepdim": False}, [x]
        if _is_tensor(second):
            return elementwise, {}, [x, second]
        return f"{name}Dim", {"dim": second, "keepdim": bool(_a(args, kw, 2, "keepdim", False))}, [x]
    return m


def _inplace_of(kind: str, base: Callable[[tuple, dict], Mapped]) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        k, hp, tensors = base(args, kw)
        return k, {**hp, "inplace": True}, tensors
    return m


def _masked_fill(args: tuple, kw: dict) -> Mapped:
    return "MaskedFill", {}, [args[0], _a(args, kw, 1, "mask")]


def _grid_sampler(args: tuple, kw: dict) -> Mapped:
    """``torch.grid_sampler(x, grid, mode, padding_mode, align_corners)`` (what ``F.grid_sample`` calls; the
    mode as an enum: 0 bilinear, 1 nearest, 2 bicubic)."""
    mode = _a(args, kw, 2, "interpolation_mode", 0)
    return "GridSample", {"mode": ("bilinear", "nearest", "bicubic")[mode]}, [args[0], _a(args, kw, 1, "grid")]


def _weight_norm(args: tuple, kw: dict) -> Mapped:
    return "WeightNorm", {"dim": _a(args, kw, 2, "dim", 0)}, [args[0], _a(args, kw, 1, "g")]


def _addmm(kind: str, first: str, second: str) -> Callable[[tuple, dict], Mapped]:
    """``addmm`` / ``baddbmm`` in function and method form, operands by position or keyword
    (``alibi.baddbmm(batch1=q, batch2=k, beta=b, alpha=a)`` in BLOOM)."""
    def m(args: tuple, kw: dict) -> Mapped:
        x = args[0] if args else kw["input"]
        return kind, {"beta": kw.get("beta", 1), "alpha": kw.get("alpha", 1)}, \
            [x, _a(args, kw, 1, first), _a(args, kw, 2, second)]
    return m


def _gather(args: tuple, kw: dict) -> Mapped:
    return "Gather", {"dim": _a(args, kw, 1, "dim")}, [args[0], _a(args, kw, 2, "index")]


def _scatter(reduce: Any, inplace: bool = False, keeps_all: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        src = _a(args, kw, 3, "src", kw.get("value"))
        how = _a(args, kw, 4, "reduce", None) if reduce == "given" else reduce
        hp: dict[str, Any] = {"dim": _a(args, kw, 1, "dim"), "reduce": how}
        if keeps_all:
            hp["keeps_all"] = True
        if inplace:
            hp["inplace"] = True
        return "Scatter", hp, [args[0], _a(args, kw, 2, "index")] + ([src] if _is_tensor(src) else [])
    return m


def _index_select(args: tuple, kw: dict) -> Mapped:
    return "IndexSelect", {"dim": _a(args, kw, 1, "dim")}, [args[0], _a(args, kw, 2, "index")]


def _index_add(inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        hp: dict[str, Any] = {"dim": _a(args, kw, 1, "dim"), "alpha": kw.get("alpha", 1)}
        if inplace:
            hp["inplace"] = True
        return "IndexAdd", hp, [args[0], _a(args, kw, 2, "index"), _a(args, kw, 3, "source")]
    return m


def _diff(args: tuple, kw: dict) -> Mapped:
    pre, post = _a(args, kw, 3, "prepend"), _a(args, kw, 4, "append")
    if (pre is not None and not _is_tensor(pre)) or (post is not None and not _is_tensor(post)):
        raise ValueError("diff with non-tensor prepend / append")
    extra = [t for t in (pre, post) if t is not None]
    return "Diff", {"n": _a(args, kw, 1, "n", 1), "dim": _a(args, kw, 2, "dim", -1)}, [args[0], *extra]


def _topk(args: tuple, kw: dict) -> Mapped:
    return "TopK", {"k": int(_a(args, kw, 1, "k")), "dim": _a(args, kw, 2, "dim", -1)}, [args[0]]


def _sort(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        dim = _a(args, kw, 1, "dim", -1)
        if isinstance(dim, bool):  # torch.sort(x, stable, dim=...) overload
            dim = kw.get("dim", -1)
        return kind, {"dim": dim}, [args[0]]
    return m


def _one_hot(args: tuple, kw: dict) -> Mapped:
    x, n = args[0], _a(args, kw, 1, "num_classes", -1)
    if n == -1:
        if x.device.type == "meta":
            raise ValueError("one_hot without num_classes reads the values")
        n = int(x.max()) + 1
    return "OneHot", {"num_classes": int(n)}, [x]


def _cumsum(inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return "Cumsum", ({"dim": _a(args, kw, 1, "dim"), "inplace": True} if inplace
                          else {"dim": _a(args, kw, 1, "dim")}), [args[0]]
    return m


def _clamp(inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    """``clamp`` / ``clip``: tensor bounds make ClampTensor (they are inputs), number bounds Clamp /
    ClampMin / ClampMax as before."""
    def m(args: tuple, kw: dict) -> Mapped:
        lo, hi = _a(args, kw, 1, "min"), _a(args, kw, 2, "max")
        extra = {"inplace": True} if inplace else {}
        tensors = [t for t in (lo, hi) if _is_tensor(t)]
        if tensors:
            return "ClampTensor", {"bounds": sum(1 for b in (lo, hi) if b is not None), **extra}, [args[0], *tensors]
        return "Clamp", extra, [args[0]]
    return m


def _unary(kind: str, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, ({"inplace": True} if inplace else {}), [args[0]]
    return m


def _fft(nd: bool) -> Callable[[tuple, dict], Mapped]:
    """``torch.fft.fft(x, n, dim)`` / ``fftn(x, s, dim)`` and inverses at the input's size (``n`` / ``s``
    None); a resizing transform raises (the call stays Unmodeled)."""
    def m(args: tuple, kw: dict) -> Mapped:
        if _a(args, kw, 1, "s" if nd else "n") is not None:
            raise ValueError("an FFT that pads or crops is not modelled")
        dim = _a(args, kw, 2, "dim", None if nd else -1)
        hp: dict[str, Any] = {"dim": tuple(dim) if isinstance(dim, list | tuple) else dim}
        if not nd and not args[0].is_complex():  # the 1-d transform of a real tensor keeps it for backward
            hp["keeps_input"] = True
        return "FFT", hp, [args[0]]
    return m


def _feature_dropout(inplace: bool) -> Callable[[tuple, dict], Mapped]:
    """``torch.feature_dropout(x, p, train)`` (what ``F.dropout1d / 2d / 3d`` call), and its in-place form."""
    def m(args: tuple, kw: dict) -> Mapped:
        return "FeatureDropout", {"p": _a(args, kw, 1, "p"), "training": bool(_a(args, kw, 2, "train")),
                                  "inplace": inplace}, [args[0]]
    return m


def _rdiv(args: tuple, kw: dict) -> Mapped:
    """``number / x`` (``x.__rtruediv__(number)``, the older ``__rdiv__``): RDiv; a tensor numerator is Div."""
    other = _a(args, kw, 1, "other")
    if _is_tensor(other):
        return "Div", {}, [other, args[0]]
    return "RDiv", {}, [args[0]]


KINDS: dict[str, Callable[[tuple, dict], Mapped]] = {
    # layout
    "repeat": _repeat, "tile": _tile, "repeat_interleave": _repeat_interleave, "unfold": _unfold,
    "im2col": _im2col, "col2im": _col2im, "meshgrid": _meshgrid, "tensor_split": _tensor_split,
    "reshape_as": lambda args, kw: ("Reshape", {"shape": tuple(_a(args, kw, 1, "other").shape)}, [args[0]]),
    **{name: _cast(dtype) for name, dtype in (("long", "int64"), ("int", "int32"), ("short", "int16"),
                                              ("char", "int8"), ("byte", "uint8"), ("bool", "bool"))},
    # element-wise
    "addcmul": _addc("AddCMul"), "addcmul_": _addc("AddCMul", True), "addcdiv": _addc("AddCDiv"),
    "addcdiv_": _addc("AddCDiv", True), "__rpow__": lambda args, kw: ("RPow", {}, [args[0]]),
    "__invert__": _unary("Invert"), "logical_not": _unary("Invert"), "bitwise_not": _unary("Invert"),
    "logical_not_": _unary("Invert", True), "bitwise_not_": _unary("Invert", True),
    "cumsum": _cumsum(), "cumsum_": _cumsum(True), "diff": _diff, "prod": reduction("Prod"),
    "all": reduction("All"), "any": reduction("Any"),
    "square": _unary("Square"), "__rdiv__": _rdiv, "__rtruediv__": _rdiv,
    "clamp": _clamp(), "clip": _clamp(), "clamp_": _clamp(True), "clip_": _clamp(True),
    "masked_fill_": _inplace_of("MaskedFill", _masked_fill), "masked_fill": _masked_fill,
    # reductions, selection, ordering
    "max": _max_min("Max", "Maximum"), "min": _max_min("Min", "Minimum"), "argmax": reduction("ArgMax"), "argmin": reduction("ArgMin"),
    "topk": _topk, "sort": _sort("Sort"), "argsort": _sort("ArgSort"), "one_hot": _one_hot,
    # indexing
    "gather": _gather, "index_select": _index_select, "index_add": _index_add(), "index_add_": _index_add(True),
    "scatter": _scatter("given"), "scatter_": _scatter("given", True), "scatter_add": _scatter("add"),
    "scatter_add_": _scatter("add", True), "scatter_reduce": _scatter("given", keeps_all=True),
    "scatter_reduce_": _scatter("given", True, keeps_all=True),
    # sampling, parametrisations, contractions by keyword
    "grid_sampler": _grid_sampler, "_weight_norm": _weight_norm,
    "addmm": _addmm("AddMM", "mat1", "mat2"), "baddbmm": _addmm("BAddBMM", "batch1", "batch2"),
    "eye": lambda args, kw: ("Constant", {"output_shape": None}, []),
    "feature_dropout": _feature_dropout(False), "feature_dropout_": _feature_dropout(True),
    # Fourier transforms at the input's size (FNet), and the real / imaginary views of a complex tensor
    "fft_fft": _fft(False), "fft_ifft": _fft(False), "fft_fftn": _fft(True), "fft_ifftn": _fft(True),
    "real": lambda args, kw: ("Real", {}, [args[0]]), "imag": lambda args, kw: ("Real", {}, [args[0]]),
}

#: Entries of the main table that KINDS supersedes (the same kinds, more argument forms).
REPLACES = frozenset({"clamp", "clip", "clamp_", "masked_fill", "addmm", "baddbmm", "__rtruediv__"})
