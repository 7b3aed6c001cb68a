"""Mappings for the last op kinds of issue 18's coverage suites (math functions, logical ops, triangular
matrices, complex views, in-forward initialisers ...), merged into :data:`archcalc.frontends.torch_ops.MAPPINGS`;
method, function and in-place forms alike.

Each entry turns one torch call into ``(kind, hparams, tensor inputs)``; an argument pattern a mapping does
not know raises, and the tracer keeps that call ``Unmodeled``. None of these names is in the other tables
(torch_ops checks).

Examples
--------
>>> sorted(k for k in KINDS if k.startswith("tri"))
['tril', 'tril_', 'triu', 'triu_']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archcalc.frontends.torch_args import Mapped, reduction
from archcalc.frontends.torch_args import arg as _a
from archcalc.frontends.torch_args import is_tensor as _is_tensor

__all__ = ["KINDS"]


def _unary(kind: str, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, ({"inplace": True} if inplace else {}), [args[0]]
    return m


def _binary(kind: str, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    """Tensor operands only (a number is no input); ``inplace`` writes the first."""
    def m(args: tuple, kw: dict) -> Mapped:
        if kw.get("alpha", 1) != 1 or kw.get("rounding_mode") is not None:
            raise ValueError("alpha / rounding_mode are not modelled here")
        tensors = [t for t in (args[0], _a(args, kw, 1, "other")) if _is_tensor(t)]
        return kind, ({"inplace": True} if inplace else {}), tensors
    return m


def _triangular(upper: bool, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        hp: dict[str, Any] = {"upper": upper, "diagonal": int(_a(args, kw, 1, "diagonal", 0))}
        if inplace:
            hp["inplace"] = True
        return "Triangular", hp, [args[0]]
    return m


def _solve_triangular(args: tuple, kw: dict) -> Mapped:
    """``torch.linalg.solve_triangular(A, B, *, upper, left=True, unitriangular=False)``."""
    return "SolveTriangular", {"upper": bool(_a(args, kw, 2, "upper")), "left": bool(kw.get("left", True)),
                               "unitriangular": bool(kw.get("unitriangular", False))}, [args[0], args[1]]


def _vector_norm(args: tuple, kw: dict) -> Mapped:
    """``torch.linalg.vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None)`` as ``Norm``."""
    if kw.get("dtype") is not None:
        raise ValueError("vector_norm with a dtype is not modelled")
    dim = _a(args, kw, 2, "dim")
    return "Norm", {"p": _a(args, kw, 1, "ord", 2), "dim": tuple(dim) if isinstance(dim, list | tuple) else dim,
                    "keepdim": bool(_a(args, kw, 3, "keepdim", False))}, [args[0]]


def _var(args: tuple, kw: dict) -> Mapped:
    """``x.var(dim, unbiased, keepdim)`` / ``x.var(unbiased)`` / ``x.var(dim, correction=c, keepdim=k)``."""
    dim = _a(args, kw, 1, "dim")
    if isinstance(dim, bool):  # the var(unbiased) overload: every element
        dim = None
    keepdim = kw.get("keepdim", args[3] if len(args) > 3 else False)
    return "Var", {"dim": tuple(dim) if isinstance(dim, list | tuple) else dim, "keepdim": bool(keepdim)}, [args[0]]


def _glu(args: tuple, kw: dict) -> Mapped:
    return "GLU", {"dim": _a(args, kw, 1, "dim", -1)}, [args[0]]


def _copy(args: tuple, kw: dict) -> Mapped:
    src = _a(args, kw, 1, "src")
    if not _is_tensor(src):
        raise ValueError("copy_ from a non-tensor")
    return "Copy", {}, [args[0], src]


def _sizes(args: tuple, kw: dict) -> tuple:
    if "size" in kw:
        return tuple(kw["size"])
    rest = args[1:]
    return tuple(rest[0]) if len(rest) == 1 and isinstance(rest[0], list | tuple) else tuple(int(v) for v in rest)


def _fill(args: tuple, kw: dict) -> Mapped:
    """An initialiser run inside a forward (``nn.init.kaiming_uniform_``, ``x.uniform_()``, a module built on
    the fly): a write of its tensor in place."""
    return "Fill", {"inplace": True}, [args[0] if args else kw["tensor"]]


def _constant(args: tuple, kw: dict) -> Mapped:
    return "Constant", {"output_shape": None}, []


def _legacy_new(args: tuple, kw: dict) -> Mapped:
    """``x.new(*sizes)`` / ``x.new(torch.Size)``: an uninitialised tensor like ``new_empty`` (data or a tensor as
    argument stays unmodelled)."""
    sizes = tuple(args[1]) if len(args) == 2 and isinstance(args[1], tuple | list) else args[1:]
    if kw or not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes) or not sizes:
        raise ValueError("x.new(data) is not a factory call")
    return _constant(args, kw)


KINDS: dict[str, Callable[[tuple, dict], Mapped]] = {
    # element-wise functions
    **{name: _unary(kind) for name, kind in (("expm1", "Expm1"), ("log1p", "Log1p"), ("floor", "Floor"),
                                             ("ceil", "Ceil"), ("sign", "Sign"), ("acos", "Acos"),
                                             ("arccos", "Acos"))},
    **{f"{name}_": _unary(kind, True) for name, kind in (("expm1", "Expm1"), ("log1p", "Log1p"),
                                                         ("floor", "Floor"), ("ceil", "Ceil"), ("sign", "Sign"),
                                                         ("acos", "Acos"), ("arccos", "Acos"))},
    "log_sigmoid": _unary("LogSigmoid"), "logsigmoid": _unary("LogSigmoid"), "glu": _glu,
    "remainder": _binary("Remainder"), "__mod__": _binary("Remainder"), "fmod": _binary("Remainder"),
    "remainder_": _binary("Remainder", True), "__imod__": _binary("Remainder", True),
    "fmod_": _binary("Remainder", True),
    **{name: _binary("Logical") for name in ("__or__", "__ror__", "__xor__", "__rxor__", "logical_and",
                                             "logical_or", "logical_xor", "bitwise_or", "bitwise_xor",
                                             "bitwise_and")},
    **{name: _binary("Logical", True) for name in ("__ior__", "__ixor__", "__iand__", "logical_and_",
                                                   "logical_or_", "logical_xor_")},
    # aliases of modelled ops
    "multiply": _binary("Mul"), "multiply_": _binary("Mul", True), "subtract": _binary("Sub"),
    "subtract_": _binary("Sub", True), "divide": _binary("Div"), "divide_": _binary("Div", True),
    "true_divide": _binary("Div"),
    "broadcast_to": lambda args, kw: ("Expand", {"shape": _sizes(args, kw)}, [args[0]]),
    "view_as": lambda args, kw: ("View", {"shape": tuple(_a(args, kw, 1, "other").shape)}, [args[0]]),
    "linalg_vector_norm": _vector_norm, "scalar_tensor": _constant, "new": _legacy_new,
    "_softmax_backward_data": lambda args, kw: ("SoftmaxBackward", {"dim": int(_a(args, kw, 2, "dim"))},
                                                [args[0], _a(args, kw, 1, "output")]),
    "as_strided": lambda args, kw: ("AsStrided", {"size": tuple(_a(args, kw, 1, "size"))}, [args[0]]),
    # reductions
    "logsumexp": reduction("LogSumExp"), "var": _var,
    "unique": lambda args, kw: ("Unique", {}, [args[0]]),
    # triangular matrices
    "tril": _triangular(False), "triu": _triangular(True), "tril_": _triangular(False, True),
    "triu_": _triangular(True, True), "linalg_solve_triangular": _solve_triangular,
    # in-place writes, complex numbers
    "copy_": _copy,
    **{name: _fill for name in ("uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                                "xavier_normal_", "trunc_normal_", "zeros_", "ones_", "constant_")},
    "polar": lambda args, kw: ("Polar", {}, [args[0], _a(args, kw, 1, "angle")]),
    "view_as_complex": lambda args, kw: ("ComplexView", {"to_complex": True}, [args[0]]),
    "view_as_real": lambda args, kw: ("ComplexView", {"to_complex": False}, [args[0]]),
}
