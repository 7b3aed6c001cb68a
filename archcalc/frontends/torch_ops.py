"""How torch calls map to registry kinds: one small function per torch function name.

The torch front end (:mod:`archcalc.frontends.torch_trace`) sees every torch function call of a forward
pass (``F.conv2d``, ``torch.cat``, ``Tensor.view``, ``x + y`` ...). Each entry of :data:`MAPPINGS` turns
one call's arguments into ``(kind, hparams, tensor inputs in the formula's order)``; a call with no entry
is recorded as ``Unmodeled`` (listed, never dropped). :data:`DESCEND` lists the Python-level functionals
whose body the tracer follows instead (their inner calls are mapped).

Examples
--------
>>> MAPPINGS["conv2d"]  # doctest: +ELLIPSIS
<function _conv.<locals>.m at ...>
>>> "scaled_dot_product_attention" in MAPPINGS and "linear" in MAPPINGS
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archcalc.frontends.torch_args import Mapped
from archcalc.frontends.torch_args import arg as _a
from archcalc.frontends.torch_args import is_tensor as _is_tensor

__all__ = ["MAPPINGS", "DESCEND", "IGNORE", "Mapped"]


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list | tuple) else v


def _conv(n: int, transposed: bool) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        x, w, b = args[0], _a(args, kw, 1, "weight"), _a(args, kw, 2, "bias")
        if transposed:
            hp = dict(stride=_tup(_a(args, kw, 3, "stride", 1)), padding=_tup(_a(args, kw, 4, "padding", 0)),
                      output_padding=_tup(_a(args, kw, 5, "output_padding", 0)), groups=_a(args, kw, 6, "groups", 1),
                      dilation=_tup(_a(args, kw, 7, "dilation", 1)))
            kind = f"ConvTranspose{n}d"
        else:
            hp = dict(stride=_tup(_a(args, kw, 3, "stride", 1)), padding=_tup(_a(args, kw, 4, "padding", 0)),
                      dilation=_tup(_a(args, kw, 5, "dilation", 1)), groups=_a(args, kw, 6, "groups", 1))
            kind = f"Conv{n}d"
        return kind, hp, [x, w] + ([b] if b is not None else [])
    return m


def _folds(x: Any) -> bool:
    """Whether ``x.reshape(-1, x.shape[-1])`` is a view: the leading dimensions merge (size-1 ones aside)."""
    dims = [(n, st) for n, st in zip(x.shape[:-1], x.stride()[:-1], strict=True) if n != 1]
    return all(st == n * st2 for (_, st), (n, st2) in zip(dims, dims[1:], strict=False))


def _linear(args: tuple, kw: dict) -> Mapped:
    b = _a(args, kw, 2, "bias")
    # at::linear folds a 3-d+ input into a matrix with reshape: a copy when the leading dimensions do not merge
    hp = {"input_copy": True} if args[0].dim() > 2 and not _folds(args[0]) else {}
    return "Linear", hp, [args[0], _a(args, kw, 1, "weight")] + ([b] if b is not None else [])


def _bn(args: tuple, kw: dict) -> Mapped:
    x = args[0]
    w, b = _a(args, kw, 3, "weight"), _a(args, kw, 4, "bias")
    training = bool(_a(args, kw, 5, "training", False))
    n = max(x.dim() - 2, 1)
    return f"BatchNorm{n}d", {"affine": w is not None, "training": training}, [x] + [t for t in (w, b) if t is not None]


def _layer_norm(args: tuple, kw: dict) -> Mapped:
    w, b = _a(args, kw, 2, "weight"), _a(args, kw, 3, "bias")
    hp = {"normalized_shape": _tup(_a(args, kw, 1, "normalized_shape")), "elementwise_affine": w is not None,
          "bias": b is not None}
    return "LayerNorm", hp, [args[0]] + [t for t in (w, b) if t is not None]


def _group_norm(args: tuple, kw: dict) -> Mapped:
    w, b = _a(args, kw, 2, "weight"), _a(args, kw, 3, "bias")
    return "GroupNorm", {"num_groups": _a(args, kw, 1, "num_groups"), "affine": w is not None}, \
        [args[0]] + [t for t in (w, b) if t is not None]


def _instance_norm(args: tuple, kw: dict) -> Mapped:
    x = args[0]
    w, b = _a(args, kw, 3, "weight"), _a(args, kw, 4, "bias")
    return f"InstanceNorm{max(x.dim() - 2, 1)}d", {"affine": w is not None}, [x] + [t for t in (w, b) if t is not None]


def _rms_norm(args: tuple, kw: dict) -> Mapped:
    w = _a(args, kw, 2, "weight")
    return "RMSNorm", {"normalized_shape": _tup(_a(args, kw, 1, "normalized_shape")),
                       "elementwise_affine": w is not None}, [args[0]] + ([w] if w is not None else [])


def _act(kind: str, inplace_default: bool = False, inplace_pos: int | None = 1) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        inplace = kw.get("inplace", args[inplace_pos] if inplace_pos is not None and len(args) > inplace_pos
                         and isinstance(args[inplace_pos], bool) else inplace_default)
        return kind, {"inplace": bool(inplace)}, [args[0]]
    return m


def _hardtanh(args: tuple, kw: dict) -> Mapped:
    lo, hi = _a(args, kw, 1, "min_val", -1.0), _a(args, kw, 2, "max_val", 1.0)
    inplace = bool(_a(args, kw, 3, "inplace", False))
    return ("ReLU6" if (lo, hi) == (0.0, 6.0) else "Hardtanh"), {"inplace": inplace}, [args[0]]


def _gelu(args: tuple, kw: dict) -> Mapped:
    return "GELU", {"approximate": kw.get("approximate", "none")}, [args[0]]


def _softmax(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        dim = _a(args, kw, 1, "dim")
        if dim is None:
            dim = -1
        return kind, {"dim": dim}, [args[0]]
    return m


def _dropout(args: tuple, kw: dict) -> Mapped:
    p = _a(args, kw, 1, "p", 0.5)
    training = bool(_a(args, kw, 2, "training", True))
    return "Dropout", {"p": p, "training": training, "inplace": bool(_a(args, kw, 3, "inplace", False))}, [args[0]]


def _binary(kind: str, inplace: bool = False, reverse: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        other = _a(args, kw, 1, "other")
        tensors = [t for t in (args[0], other) if _is_tensor(t)]
        if not tensors:  # torch.div(7, 2, rounding_mode="trunc"): a tensor made from numbers (Longformer)
            return "Constant", {"output_shape": None}, []
        if reverse:
            tensors = tensors[::-1]
        alpha = kw.get("alpha", 1)
        extra = {"inplace": inplace} if inplace else {}
        if alpha != 1:
            extra["alpha"] = alpha
        return kind, extra, tensors
    return m


def _unary(kind: str, inplace: bool = False) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, ({"inplace": True} if inplace else {}), [args[0]]
    return m


def _reduce(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        dim = _a(args, kw, 1, "dim")
        return kind, {"dim": _tup(dim), "keepdim": bool(_a(args, kw, 2, "keepdim", False))}, [args[0]]
    return m


def _pool(kind: str, n: int) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        hp: dict[str, Any] = dict(kernel_size=_tup(_a(args, kw, 1, "kernel_size")), stride=_tup(_a(args, kw, 2, "stride")),
                                  padding=_tup(_a(args, kw, 3, "padding", 0)))
        if kind == "MaxPool":
            hp.update(dilation=_tup(_a(args, kw, 4, "dilation", 1)), ceil_mode=bool(_a(args, kw, 5, "ceil_mode", False)),
                      return_indices=bool(_a(args, kw, 6, "return_indices", False)))
        else:
            hp.update(ceil_mode=bool(_a(args, kw, 4, "ceil_mode", False)),
                      count_include_pad=bool(_a(args, kw, 5, "count_include_pad", True)))
        return f"{kind}{n}d", hp, [args[0]]
    return m


def _adaptive(kind: str, n: int) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        hp: dict[str, Any] = {"output_size": _tup(_a(args, kw, 1, "output_size"))}
        if kind == "AdaptiveMaxPool":
            hp["return_indices"] = bool(_a(args, kw, 2, "return_indices", False))
        return f"{kind}{n}d", hp, [args[0]]
    return m


def _cat(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        tensors = list(_a(args, kw, 0, "tensors"))
        return kind, {"dim": _a(args, kw, 1, "dim", 0)}, tensors
    return m


def _flatten(args: tuple, kw: dict) -> Mapped:
    return "Flatten", {"start_dim": _a(args, kw, 1, "start_dim", 0), "end_dim": _a(args, kw, 2, "end_dim", -1)}, [args[0]]


def _sizes(args: tuple, kw: dict, name: str = "shape") -> tuple:
    rest = args[1:]
    if name in kw:
        return tuple(kw[name])
    if len(rest) == 1 and isinstance(rest[0], list | tuple):
        return tuple(rest[0])
    return tuple(int(v) for v in rest)


def _view(kind: str, keyword: str = "shape") -> Callable[[tuple, dict], Mapped]:
    """``x.view(*shape)`` and its kin; ``keyword``: the name torch gives the sizes (``expand``'s ``size``)."""
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, {"shape": _sizes(args, kw, keyword)}, [args[0]]
    return m


def _permute(args: tuple, kw: dict) -> Mapped:
    return "Permute", {"dims": _sizes(args, kw, "dims")}, [args[0]]


def _transpose(args: tuple, kw: dict) -> Mapped:
    return "Transpose", {"dim0": _a(args, kw, 1, "dim0", 0), "dim1": _a(args, kw, 2, "dim1", 1)}, [args[0]]


def _matrix_t(args: tuple, kw: dict) -> Mapped:
    return "Transpose", {"dim0": -2, "dim1": -1} if args[0].dim() >= 2 else {}, [args[0]]


def _chunk(args: tuple, kw: dict) -> Mapped:
    return "Chunk", {"chunks": _a(args, kw, 1, "chunks"), "dim": _a(args, kw, 2, "dim", 0)}, [args[0]]


def _split(args: tuple, kw: dict) -> Mapped:
    s = _a(args, kw, 1, "split_size_or_sections", kw.get("split_size"))
    return "Split", {"split_size_or_sections": _tup(s), "dim": _a(args, kw, 2, "dim", 0)}, [args[0]]


def _unbind(args: tuple, kw: dict) -> Mapped:
    return "Unbind", {"dim": _a(args, kw, 1, "dim", 0)}, [args[0]]


def _squeeze(args: tuple, kw: dict) -> Mapped:
    return "Squeeze", {"dim": _tup(_a(args, kw, 1, "dim"))}, [args[0]]


def _unsqueeze(args: tuple, kw: dict) -> Mapped:
    return "Unsqueeze", {"dim": _a(args, kw, 1, "dim")}, [args[0]]


def _unflatten(args: tuple, kw: dict) -> Mapped:
    return "Unflatten", {"dim": _a(args, kw, 1, "dim"), "sizes": _tup(_a(args, kw, 2, "sizes"))}, [args[0]]


def _int_index(i: Any) -> Any:
    """A 0-dim integer tensor with a value (the CPU) indexes as the int it holds (a view, as in torch)."""
    if _is_tensor(i) and i.dim() == 0 and i.device.type == "cpu" and not i.is_floating_point() \
            and str(i.dtype) != "torch.bool":
        return int(i)
    return i


def _getitem(args: tuple, kw: dict) -> Mapped:
    index = args[1]
    items = tuple(_int_index(i) for i in (index if isinstance(index, tuple) else (index,)))
    index = items if isinstance(index, tuple) else items[0]
    if all(i is None or i is Ellipsis or isinstance(i, int | slice) for i in items) and not any(
            isinstance(i, bool) for i in items):
        return "GetItem", {"index": index}, [args[0]]
    tensors = [args[0]] + [i for i in items if _is_tensor(i)]
    return "GetItem", {"advanced": True}, tensors


def _matmul(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, {}, [args[0], _a(args, kw, 1, "other", kw.get("mat2"))]
    return m


def _rmatmul(args: tuple, kw: dict) -> Mapped:
    return "MatMul", {}, [args[1], args[0]]


def _addmm(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, {"beta": kw.get("beta", 1), "alpha": kw.get("alpha", 1)}, [args[0], args[1], args[2]]
    return m


def _einsum(args: tuple, kw: dict) -> Mapped:
    ops = list(args[1]) if len(args) == 2 and isinstance(args[1], list | tuple) else list(args[1:])
    path = _einsum_path(args[0], ops)
    return "Einsum", {"equation": args[0], **({"path": path} if path is not None else {})}, ops


def _einsum_path(equation: str, ops: list) -> tuple[int, ...] | None:
    """The contraction order ``torch.einsum`` hands ATen: opt_einsum's (flattened) for three operands or more
    when ``torch.backends.opt_einsum`` is enabled and opt_einsum is installed; None (left to right) else."""
    from torch.backends import opt_einsum

    if len(ops) <= 2 or not opt_einsum.enabled or not opt_einsum.is_available():
        return None
    pairs = opt_einsum.get_opt_einsum().contract_path(equation, *ops, optimize=opt_einsum.strategy)[0]
    return tuple(i for pair in pairs for i in pair)


def _sdpa(args: tuple, kw: dict) -> Mapped:
    mask = _a(args, kw, 3, "attn_mask")
    hp = {"is_causal": bool(_a(args, kw, 5, "is_causal", False)), "dropout_p": _a(args, kw, 4, "dropout_p", 0.0),
          "enable_gqa": bool(kw.get("enable_gqa", False))}
    q = args[0]
    if q.dim() == 4:  # the query's memory order (dimensions of size > 1), which the CPU's fused kernel gives its output
        hp["query_layout"] = tuple(sorted((d for d in range(4) if q.shape[d] > 1), key=lambda d: (-q.stride()[d], d)))
    return "ScaledDotProductAttention", hp, [args[0], args[1], args[2]] + ([mask] if mask is not None else [])


def _recurrent(kind: str, gates: int) -> Callable[[tuple, dict], Mapped]:
    """``_VF.lstm / gru / rnn_tanh / rnn_relu(input, hx, flat_weights, bias, layers, dropout, train, bidir,
    batch_first)`` as ``nn.LSTM`` etc. call them (the packed-sequence overload is left Unmodeled)."""
    def m(args: tuple, kw: dict) -> Mapped:
        if not isinstance(args[2], list | tuple):  # the packed overload: (data, batch_sizes, hx, weights ...)
            raise ValueError("packed sequences are not modelled")
        x, hx, weights = args[0], args[1], list(args[2])
        states = list(hx) if isinstance(hx, list | tuple) else [hx]
        bias, layers, dropout, train, bidir, batch_first = args[3:9]
        hidden = weights[0].shape[0] // gates
        h_out = weights[1].shape[1]
        hp: dict[str, Any] = dict(hidden_size=hidden, num_layers=int(layers), bias=bool(bias),
                                  batch_first=bool(batch_first), bidirectional=bool(bidir),
                                  dropout=float(dropout), training=bool(train))
        if h_out != hidden:
            hp["proj_size"] = h_out
        if kind.startswith("rnn_"):
            hp["nonlinearity"] = kind[4:]
        return ("RNN" if kind.startswith("rnn_") else kind), hp, [x, *states, *weights]
    return m


def _embedding(args: tuple, kw: dict) -> Mapped:
    return "Embedding", {}, [args[0], _a(args, kw, 1, "weight")]


def _pad(args: tuple, kw: dict) -> Mapped:
    return "Pad", {"pad": _tup(_a(args, kw, 1, "pad")), "mode": _a(args, kw, 2, "mode", "constant")}, [args[0]]


def _interpolate(args: tuple, kw: dict) -> Mapped:
    size, scale = _a(args, kw, 1, "size"), _a(args, kw, 2, "scale_factor")
    hp = {"size": _tup(size), "scale_factor": _tup(scale), "mode": _a(args, kw, 3, "mode", "nearest")}
    if _a(args, kw, 6, "antialias", False):
        hp["antialias"] = True
    return "Interpolate", hp, [args[0]]


def _contiguous(args: tuple, kw: dict) -> Mapped:
    return "Contiguous", {}, [args[0]]


def _identity_like(kind: str) -> Callable[[tuple, dict], Mapped]:
    def m(args: tuple, kw: dict) -> Mapped:
        return kind, {}, [args[0]]
    return m


def _movedim(args: tuple, kw: dict) -> Mapped:
    src, dst = _a(args, kw, 1, "source"), _a(args, kw, 2, "destination")
    x = args[0]
    src = [s % x.dim() for s in (src if isinstance(src, list | tuple) else [src])]
    dst = [d % x.dim() for d in (dst if isinstance(dst, list | tuple) else [dst])]
    order = [i for i in range(x.dim()) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return "Permute", {"dims": tuple(order)}, [x]


def _norm(args: tuple, kw: dict) -> Mapped:
    p = _a(args, kw, 1, "p", "fro")
    return "Norm", {"p": 2 if p in ("fro", None) else p, "dim": _tup(_a(args, kw, 2, "dim")),
                    "keepdim": bool(_a(args, kw, 3, "keepdim", False))}, [args[0]]


def _expand_as(args: tuple, kw: dict) -> Mapped:
    return "Expand", {"shape": tuple(_a(args, kw, 1, "other").shape)}, [args[0]]


def _stochastic_depth(args: tuple, kw: dict) -> Mapped:
    return "StochasticDepth", {"p": _a(args, kw, 1, "p"), "mode": _a(args, kw, 2, "mode"),
                               "training": bool(_a(args, kw, 3, "training", True))}, [args[0]]


MAPPINGS: dict[str, Callable[[tuple, dict], Mapped]] = {
    **{f"conv{n}d": _conv(n, False) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": _conv(n, True) for n in (1, 2, 3)},
    "linear": _linear, "batch_norm": _bn, "layer_norm": _layer_norm, "group_norm": _group_norm,
    "instance_norm": _instance_norm, "rms_norm": _rms_norm,
    "relu": _act("ReLU"), "relu_": _act("ReLU", True, None), "relu6": _act("ReLU6"), "hardtanh": _hardtanh,
    "leaky_relu": _act("LeakyReLU", inplace_pos=2), "elu": _act("ELU", inplace_pos=2), "gelu": _gelu,
    "silu": _act("SiLU"), "mish": _act("Mish"), "hardswish": _act("Hardswish"), "hardsigmoid": _act("Hardsigmoid"),
    "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"), "sigmoid_": _unary("Sigmoid", True),
    "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"), "dropout": _dropout,
    "__add__": _binary("Add"), "__radd__": _binary("Add"), "add": _binary("Add"), "__iadd__": _binary("Add", True),
    "add_": _binary("Add", True), "__sub__": _binary("Sub"), "__rsub__": _binary("Sub", reverse=True),
    "sub": _binary("Sub"), "__isub__": _binary("Sub", True), "sub_": _binary("Sub", True),
    "__mul__": _binary("Mul"), "__rmul__": _binary("Mul"), "mul": _binary("Mul"), "__imul__": _binary("Mul", True),
    "mul_": _binary("Mul", True), "__truediv__": _binary("Div"), "div": _binary("Div"),
    "__rtruediv__": _binary("Div", reverse=True), "__itruediv__": _binary("Div", True), "div_": _binary("Div", True),
    "__pow__": _binary("Pow"), "pow": _binary("Pow"), "maximum": _binary("Maximum"), "minimum": _binary("Minimum"),
    "__and__": _binary("Mul"), "neg": _unary("Neg"), "__neg__": _unary("Neg"), "exp": _unary("Exp"),
    "log": _unary("Log"), "sqrt": _unary("Sqrt"), "rsqrt": _unary("Rsqrt"), "abs": _unary("Abs"),
    "erf": _unary("Erf"), "sin": _unary("Sin"), "cos": _unary("Cos"), "reciprocal": _unary("Reciprocal"),
    "clamp": _unary("Clamp"), "clamp_": _unary("Clamp", True), "clip": _unary("Clamp"),
    "clamp_min": _unary("ClampMin"), "clamp_min_": _unary("ClampMin", True), "clamp_max": _unary("ClampMax"),
    "clamp_max_": _unary("ClampMax", True), "norm": _norm, "expand_as": _expand_as,
    "zero_": _unary("Fill", True), "fill_": _unary("Fill", True),
    "sum": _reduce("Sum"), "mean": _reduce("Mean"), "amax": _reduce("Max"), "amin": _reduce("Min"),
    **{f"max_pool{n}d": _pool("MaxPool", n) for n in (1, 2, 3)},
    **{f"max_pool{n}d_with_indices": _pool("MaxPool", n) for n in (1, 2, 3)},
    **{f"avg_pool{n}d": _pool("AvgPool", n) for n in (1, 2, 3)},
    **{f"adaptive_avg_pool{n}d": _adaptive("AdaptiveAvgPool", n) for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": _adaptive("AdaptiveMaxPool", n) for n in (1, 2, 3)},
    "cat": _cat("Concat"), "concat": _cat("Concat"), "concatenate": _cat("Concat"), "stack": _cat("Stack"),
    "flatten": _flatten, "view": _view("View"), "reshape": _view("Reshape"), "expand": _view("Expand", "size"),
    "permute": _permute, "transpose": _transpose, "t": _matrix_t, "T": _matrix_t, "mT": _matrix_t,
    "chunk": _chunk, "split": _split, "unbind": _unbind, "squeeze": _squeeze, "unsqueeze": _unsqueeze,
    "unflatten": _unflatten, "__getitem__": _getitem, "contiguous": _contiguous,
    "matmul": _matmul("MatMul"), "__matmul__": _matmul("MatMul"), "__rmatmul__": _rmatmul, "mm": _matmul("MatMul"),
    "bmm": _matmul("BMM"), "addmm": _addmm("AddMM"), "baddbmm": _addmm("BAddBMM"), "einsum": _einsum,
    "lstm": _recurrent("LSTM", 4), "gru": _recurrent("GRU", 3), "rnn_tanh": _recurrent("rnn_tanh", 1),
    "rnn_relu": _recurrent("rnn_relu", 1),
    "scaled_dot_product_attention": _sdpa, "embedding": _embedding, "pad": _pad, "interpolate": _interpolate,
    "stochastic_depth": _stochastic_depth, "clone": _identity_like("Contiguous"),
    **{name: _identity_like("Contiguous") for name in ("to", "float", "half", "bfloat16", "double", "type", "detach",
                                                        "type_as")},
    **{name: _binary("Compare") for name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "eq", "ne",
                                             "lt", "le", "gt", "ge")},
    "swapaxes": _transpose, "swapdims": _transpose, "moveaxis": lambda args, kw: _movedim(args, kw),
    "movedim": lambda args, kw: _movedim(args, kw),
    "roll": _identity_like("Roll"), "flip": _identity_like("Roll"),
    **{name: lambda args, kw: ("Constant", {"output_shape": None}, []) for name in (
        "new_zeros", "new_ones", "new_full", "new_empty", "zeros_like", "ones_like", "empty_like", "full_like",
        "zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "rand", "randn", "linspace")},
    "where": lambda args, kw: ("Where", {}, [t for t in args[:3] if _is_tensor(t)]) if len(args) + len(kw) > 1
    else ("NonZero", {}, [args[0]]),
    **{name: lambda args, kw: ("NonZero", {}, [args[0]]) for name in ("nonzero", "argwhere")},
    **{name: _binary("Compare") for name in ("greater", "greater_equal", "less", "less_equal", "not_equal")},
    "__floordiv__": _binary("Div"), "floor_divide": _binary("Div"), "__rfloordiv__": _binary("Div", reverse=True),
    "softplus": _act("Softplus"),
    "histc": lambda args, kw: ("Histc", {"bins": _a(args, kw, 1, "bins", 100)}, [args[0]]),
    **{name: lambda args, kw: ("GroupedMM", {}, [args[0], _a(args, kw, 1, "mat_b"), kw["offs"]])
       for name in ("grouped_mm", "_grouped_mm")},
    "masked_fill": lambda args, kw: ("MaskedFill", {}, [t for t in args[:2] if _is_tensor(t)]),
}

# Issue 18's op kinds (indexing, ordering, layout, casts, addcmul ...): their own module, merged here.
from archcalc.frontends.torch_ops_kinds import KINDS, REPLACES  # noqa: E402

if set(KINDS) & set(MAPPINGS) != REPLACES:
    raise RuntimeError(f"torch_ops_kinds overlaps MAPPINGS at {sorted(set(KINDS) & set(MAPPINGS) - REPLACES)}")
MAPPINGS.update(KINDS)

# The last kinds of the coverage suites (math functions, logical ops, triangular matrices ...): no overlap.
from archcalc.frontends.torch_ops_math import KINDS as MATH_KINDS  # noqa: E402

if set(MATH_KINDS) & set(MAPPINGS):
    raise RuntimeError(f"torch_ops_math overlaps MAPPINGS at {sorted(set(MATH_KINDS) & set(MAPPINGS))}")
MAPPINGS.update(MATH_KINDS)

#: Python-level functionals whose body the tracer follows (their inner torch calls are mapped instead).
DESCEND = frozenset({"multi_head_attention_forward", "_in_projection_packed", "_in_projection", "normalize",
                     "channel_shuffle", "native_channel_shuffle"})

#: Calls that return metadata, never tensors worth a node.
IGNORE = frozenset({"size", "dim", "numel", "__len__", "__bool__", "is_contiguous", "__get__", "__set__", "item",
                    "tolist", "data_ptr", "stride", "storage_offset", "element_size", "is_floating_point",
                    "requires_grad_", "__format__", "__repr__", "__hash__", "cpu", "cuda", "__iter__", "__contains__",
                    "_has_compatible_shallow_copy_type", "has_names", "is_complex", "get_device", "__index__",
                    "__int__", "__float__"})
