"""Symbolic inputs for every registry kind: what ``archcalc formula KIND`` evaluates the formula on.

Each kind gets full input shapes and hyper-parameters written in positive-integer sympy symbols, and one
line saying where the formulas hold. Image kinds use ``B, C, H, W`` (``T`` for a 3-d depth, ``L`` for a 1-d
length); sequence kinds ``B`` (batch), ``L`` (length), ``D`` (model width), ``heads`` and ``E`` (head
width), ``S`` (key length); recurrent kinds ``I`` (input features) and ``H`` (hidden size). sympy is
imported inside the functions.

Examples
--------
>>> inputs, hparams, condition = sheet_spec("LSTM")
>>> inputs, sorted(hparams)
([(B, L, I)], ['batch_first', 'hidden_size'])
>>> "Unmodeled" in sheet_kinds(), "Constant" in sheet_kinds()
(False, True)
"""

from __future__ import annotations

from typing import Any

from dlperf.errors import ArgumentError

__all__ = ["sheet_spec", "sheet_symbols", "sheet_kinds", "NO_SHEET"]

#: Registry kinds without a sheet: Unmodeled stands for "no formula".
NO_SHEET = {"Unmodeled": "it stands for ops archcalc has no formula for (counted 0)"}

_BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Compare")
_UNARY = ("Neg", "Exp", "Log", "Sqrt", "Rsqrt", "Abs", "Square", "Clamp", "Erf", "Sin", "Cos", "Reciprocal")
_ACTIVATIONS = ("ReLU", "ReLU6", "Hardtanh", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Mish", "Hardsigmoid",
                "Hardswish", "Softplus")


def sheet_symbols() -> dict[str, Any]:
    """Every symbol a sheet uses, by name (positive integers; ``p`` non-negative)."""
    import sympy

    names = ["B", "C", "H", "W", "T", "L", "D", "E", "S", "F", "N", "K", "O", "G", "I", "V", "k", "s", "d", "g",
             "heads", "C_1", "C_2", "t"]
    out = {n: sympy.Symbol(n, integer=True, positive=True) for n in names}
    out["p"] = sympy.Symbol("p", integer=True, nonnegative=True)
    return out


def _specs() -> dict[str, tuple[list[tuple[Any, ...]], dict[str, Any], str]]:
    y = sheet_symbols()
    B, C, H, W, T, L, D, E, S = (y[n] for n in ("B", "C", "H", "W", "T", "L", "D", "E", "S"))
    k, s, p, d, g, heads = y["k"], y["s"], y["p"], y["d"], y["g"], y["heads"]
    chw, seq = [(B, C, H, W)], [(B, L, D)]
    window = {"kernel_size": k, "stride": s, "padding": p}
    conv = {"out_channels": y["K"], "kernel_size": k, "stride": s, "padding": p, "dilation": d, "groups": g}
    spatial = {1: (L,), 2: (H, W), 3: (T, H, W)}
    specs: dict[str, tuple[list[tuple[Any, ...]], dict[str, Any], str]] = {}
    for n, sp in spatial.items():
        x = [(B, C, *sp)]
        specs[f"Conv{n}d"] = (x, conv, "g divides C and K; square kernel, stride, padding, dilation")
        specs[f"ConvTranspose{n}d"] = (x, conv, "g divides C and K; output_padding 0")
        specs[f"MaxPool{n}d"] = (x, {**window, "dilation": d}, "ceil_mode=False; p <= k/2")
        specs[f"AvgPool{n}d"] = (x, window, "ceil_mode=False; p <= k/2")
        specs[f"AdaptiveAvgPool{n}d"] = (x, {"output_size": y["O"]},
                                         "elementwise_ops exact when O divides every spatial size")
        specs[f"AdaptiveMaxPool{n}d"] = (x, {"output_size": y["O"]},
                                         "elementwise_ops exact when O divides every spatial size")
        specs[f"BatchNorm{n}d"] = (x, {}, "affine (weight and bias), inference arithmetic")
        specs[f"InstanceNorm{n}d"] = (x, {}, "affine=False (torch's default)")
    specs["Conv2d"] = (chw, conv, "g divides C and K; square kernel, stride, padding, dilation")
    specs["MaxPool2d"] = (chw, {**window, "dilation": d}, "ceil_mode=False; p <= k/2")
    specs["AdaptiveAvgPool2d"] = (chw, {"output_size": y["O"]},
                                  "elementwise_ops exact when O divides H and W (windows tile the input)")
    specs.update({kind: (chw, {}, "any input shape") for kind in _ACTIVATIONS})
    specs.update({kind: (seq + seq, {}, "two inputs of equal shape") for kind in _BINARY})
    specs.update({kind: (seq, {}, "any input shape") for kind in _UNARY})
    specs.update({kind: (seq, {"dim": -1}, "reduce the last dimension") for kind in ("Sum", "Mean", "Max", "Min")})
    split = [(B, L, heads * E)]
    heads_first = [(B, heads, L, E)]
    specs.update({
        "Linear": ([(B, y["F"])], {"out_features": y["N"]}, "input of F features (any leading dims)"),
        "MatMul": ([(B, heads, L, E), (B, heads, E, S)], {}, "batched matmul (attention's Q K^T)"),
        "BMM": ([(B, L, E), (B, E, S)], {}, "batches of L x E times E x S"),
        "AddMM": ([(B, y["N"]), (B, y["F"]), (y["F"], y["N"])], {}, "beta = alpha = 1"),
        "BAddBMM": ([(B, L, S), (B, L, E), (B, E, S)], {}, "beta = alpha = 1"),
        "Einsum": ([(B, L, E), (B, E, S)], {"equation": "ble,bes->bls"}, "two operands, one contracted index"),
        "ScaledDotProductAttention": (heads_first * 3, {"is_causal": True},
                                      "causal, no dropout; q, k, v of heads x L x E (full L x L computed)"),
        "MultiheadAttention": ([(B, L, heads * E)] * 3, {"embed_dim": heads * E, "num_heads": heads,
                                                         "batch_first": True}, "self-attention, bias, no dropout"),
        "BatchNorm2d": (chw, {}, "affine (weight and bias), inference arithmetic"),
        "GroupNorm": (chw, {"num_groups": y["G"]}, "G divides C; affine"),
        "LayerNorm": (seq, {"normalized_shape": (D,)}, "normalised over the last dim D; affine"),
        "RMSNorm": (seq, {"normalized_shape": (D,)}, "normalised over the last dim D; affine"),
        "GELU": (seq, {}, "erf form (approximate='none')"),
        "Softmax": (seq, {"dim": -1}, "over the last dim"),
        "LogSoftmax": (seq, {"dim": -1}, "over the last dim"),
        "SoftmaxBackward": ([(B, L, D)] * 2, {"dim": -1}, "gradient and softmax output, over the last dim"),
        "Where": ([(B, L, D)] * 3, {}, "condition and two inputs of equal shape"),
        "MaskedFill": ([(B, L, D), (B, L, D)], {}, "mask of the input's shape"),
        "Constant": ([], {"output_shape": (B, L, D)}, "a tensor made in the forward pass (zeros, arange, a mask)"),
        "CustomBackward": ([], {"function": "F", "backward_macs": y["K"]}, "a custom autograd.Function F whose "
                           "traced backward runs K MACs"),
        "Dropout": (chw, {}, "identity at inference"),
        "StochasticDepth": (chw, {}, "identity at inference"),
        "Embedding": ([(B, L)], {"num_embeddings": y["V"], "embedding_dim": D}, "token ids B x L, V x D table"),
        "Pad": (chw, {"pad": (p, p, p, p)}, "p on each side of H and W, constant mode"),
        "Interpolate": (chw, {"scale_factor": 2, "mode": "bilinear"}, "scale factor 2, bilinear"),
        "View": (split, {"shape": (B, L, heads, E)}, "split the width into heads"),
        "Reshape": (split, {"shape": (B, L, heads, E)}, "split the width into heads (a view)"),
        "Flatten": (chw, {}, "a view of C*H*W features"),
        "Unflatten": (split, {"dim": -1, "sizes": (heads, E)}, "split the width into heads"),
        "Permute": ([(B, L, heads, E)], {"dims": (0, 2, 1, 3)}, "heads before length"),
        "Transpose": (heads_first, {"dim0": -2, "dim1": -1}, "the last two dims swapped (a view)"),
        "Squeeze": ([(B, 1, D)], {"dim": 1}, "a size-1 dim removed"),
        "Unsqueeze": (seq, {"dim": 1}, "a size-1 dim inserted"),
        "Expand": ([(B, 1, D)], {"shape": (B, L, D)}, "a size-1 dim broadcast to L (a view)"),
        "Contiguous": (seq, {}, "a copy"),
        "Roll": (seq, {}, "a copy"),
        "Identity": (seq, {}, "no-op"),
        "GetItem": (seq, {"index": (slice(None), 0)}, "x[:, 0] (the first token)"),
        "Chunk": ([(B, L, 3 * D)], {"chunks": 3, "dim": -1}, "three equal views (q, k, v)"),
        "Split": ([(B, L, 3 * D)], {"split_size_or_sections": D, "dim": -1}, "three equal views (q, k, v)"),
        "Unbind": ([(B, 3, L, D)], {"dim": 1}, "three views"),
        "Concat": ([(B, y["C_1"], H, W), (B, y["C_2"], H, W)], {}, "two inputs of equal H and W"),
        "Stack": (seq + seq, {"dim": 1}, "two inputs of equal shape"),
        "Add": ([(B, C, H, W), (B, C, H, W)], {}, "two inputs of equal shape"),
    })
    specs.update({
        "Conv1D": ([(B, L, D)], {"out_features": y["N"]}, "GPT-2's transposed-weight linear layer (weight D x N)"),
        "ExpandAs": ([(B, 1, D), (B, L, D)], {}, "the first input broadcast to the second's shape (a view)"),
        "RotaryTables": ([(L,)], {"head_dim": 2 * E}, "cos and sin tables for positions 0..L-1, even head size"),
        "RotaryApply": ([(B, heads, L, 2 * E), (1, L, 2 * E), (1, L, 2 * E)], {}, "x cos + rotate_half(x) sin"),
    })
    specs.update({
        "ClampMin": (seq, {}, "max(x, lower): one comparison per element"),
        "ClampMax": (seq, {}, "min(x, upper): one comparison per element"),
        "Fill": (seq, {}, "x.zero_() / x.fill_(v) in place"),
        "Norm": (seq, {"dim": -1}, "p = 2 over the last dim (F.normalize's denominator)"),
    })
    specs.update(_more_specs(y, seq, chw))
    specs.update(_math_specs(y, seq))
    t = y["t"]
    specs.update({
        "AllReduce": (seq, {"world": t}, "partial sums over t tensor-parallel ranks, in place"),
        "ReduceScatter": ([(B, t * L, D)], {"world": t, "dim": 1}, "sequence parallel: each of t ranks keeps L"),
        "AllGatherLinear": (seq, {"out_features": y["N"], "world": t, "dim": 1},
                            "sequence parallel: the shard of L tokens gathered from t ranks, then a linear"),
    })
    specs.update({  # issue 18: mixture-of-experts and data-dependent kinds
        "GroupedMM": ([(S, y["F"]), (E, y["F"], y["N"]), (E,)], {}, "S routed rows, each through one of E groups "
                      "of F x N (a mixture of experts' tokens through their expert)"),
        "NonZero": ([(B, L)], {"output_shapes": ((y["N"], 2),)}, "N of the B x L elements nonzero (data-dependent: "
                    "the traced count)"),
        "Histc": ([(B, L)], {"bins": y["N"]}, "B x L values counted into N bins"),
    })
    rec = [(B, L, y["I"])]
    specs["RNN"] = (rec, {"hidden_size": H, "batch_first": True}, "tanh, bias, one layer, one direction")
    specs["GRU"] = (rec, {"hidden_size": H, "batch_first": True}, "bias, one layer, one direction")
    specs["LSTM"] = (rec, {"hidden_size": H, "batch_first": True}, "bias, one layer, one direction, no projection")
    return specs


def _more_specs(y: dict[str, Any], seq: list[tuple[Any, ...]], chw: list[tuple[Any, ...]]
                ) -> dict[str, tuple[list[tuple[Any, ...]], dict[str, Any], str]]:
    """Layout, indexing and pointwise kinds (issue 18)."""
    B, C, H, W, L, D, S, k, s, p, d = (y[n] for n in ("B", "C", "H", "W", "L", "D", "S", "k", "s", "p", "d"))
    last = {"dim": -1}
    return {
        "Repeat": (seq, {"repeats": (1, k, 1)}, "the length repeated k times"),
        "RepeatInterleave": (seq, {"repeats": k, "dim": 1}, "each position repeated k times"),
        "Unfold": (seq, {"dimension": 1, "size": k, "step": s}, "windows of k every s along L (a view)"),
        "Im2Col": (chw, {"kernel_size": k, "stride": s, "padding": p, "dilation": d}, "square windows"),
        "Meshgrid": ([(H,), (W,)], {}, "two 1-d inputs, ij indexing (views)"),
        "Cast": (seq, {"dtype": "int64"}, "to int64, a copy"),
        "Gather": ([(B, L, D), (B, L, k)], last, "k indices per row of the last dim"),
        "Scatter": ([(B, L, D), (B, L, k), (B, L, k)], {"dim": -1, "reduce": "add"}, "scatter_add of k per row"),
        "IndexSelect": ([(B, L, D), (k,)], {"dim": 1}, "k positions of L"),
        "IndexAdd": ([(B, L, D), (k,), (B, k, D)], {"dim": 1}, "k rows added into L, alpha = 1"),
        "OneHot": ([(B, L)], {"num_classes": y["V"]}, "V classes"),
        **{kind: (seq, last, "over the last dim") for kind in ("ArgMax", "ArgMin", "MaxDim", "MinDim", "Cumsum",
                                                                 "Prod", "All", "Any")},
        "TopK": (seq, {"k": 2, "dim": -1}, "the top 2 of the last dim"),
        "Diff": (seq, last, "first order along the last dim"),
        "AddCMul": (seq * 3, {}, "three inputs of equal shape, value = 1"),
        "AddCDiv": (seq * 3, {}, "three inputs of equal shape, value = 1"),
        "RPow": (seq, {}, "a number to the power x"),
        "RDiv": (seq, {}, "a number divided by x"),
        "Invert": (seq, {}, "any input shape"),
        "ClampTensor": (seq * 3, {}, "lower and upper bounds as tensors of the input's shape"),
        "GridSample": ([(B, C, H, W), (B, L, S, 2)], {}, "bilinear, an L x S grid"),
        "WeightNorm": ([(y["K"], C, k, k), (y["K"], 1, 1, 1)], {}, "a conv weight normalised per output channel"),
        # these count with concrete sizes along one dim (a loop over positions, ceil(log2 n), size % n)
        "Col2Im": ([(B, 9 * C, 16)], {"output_size": (6, 6), "kernel_size": 3},
                   "3 x 3 columns folded back to 6 x 6 (sizes along the folded dims are numbers)"),
        "TensorSplit": ([(B, L, 6)], {"indices_or_sections": 3, "dim": -1}, "a last dim of 6 in 3 pieces"),
        "Sort": ([(B, L, 8)], {"dim": -1}, "rows of 8 (ceil(log2 n) needs a number)"),
        "FFT": ([(B, L, 8)], {"dim": -1}, "rows of 8 (ceil(log2 n) needs a number)"),
        "Real": (seq, {}, "the real parts of a complex tensor (a view)"),
        "FeatureDropout": (chw, {}, "identity at inference"),
        "ArgSort": ([(B, L, 8)], {"dim": -1}, "rows of 8 (ceil(log2 n) needs a number)"),
    }


def sheet_kinds() -> frozenset[str]:
    """Kinds that have a sheet (every registry kind but those in :data:`NO_SHEET`)."""
    return frozenset(_specs())


def sheet_spec(kind: str) -> tuple[list[tuple[Any, ...]], dict[str, Any], str]:
    """``(symbolic full input shapes, symbolic hparams, condition)`` of registry ``kind``.

    Raises ``ValueError`` naming the kind for ``Unmodeled`` and for unknown kinds.
    """
    from archcalc.ops.registry import formula

    if kind in NO_SHEET:
        raise ArgumentError("kind", kind, f"{NO_SHEET[kind]}, so it has no formula sheet")
    formula(kind)  # the registry's "unknown kind" message, before the sheets' sympy symbols load
    specs = _specs()
    if kind not in specs:
        formula(kind)  # raises the registry's "unknown kind" message
        raise ArgumentError("kind", kind, f"no symbolic sheet for it yet (known: {', '.join(sorted(specs))})")
    return specs[kind]


def _math_specs(y: dict[str, Any], seq: list[tuple[Any, ...]]
                ) -> dict[str, tuple[list[tuple[Any, ...]], dict[str, Any], str]]:
    """Math functions, logical ops, triangular matrices (issue 18's coverage suites)."""
    B, L, D, S = (y[n] for n in ("B", "L", "D", "S"))
    return {
        **{kind: (seq, {}, "any input shape") for kind in ("Expm1", "Log1p", "Floor", "Ceil", "Sign", "Acos",
                                                           "LogSigmoid")},
        "GLU": ([(B, L, 2 * D)], {"dim": -1}, "the last dim 2D halved (a * sigmoid(b))"),
        "Remainder": (seq + seq, {}, "x % y, two inputs of equal shape"),
        "Logical": (seq + seq, {}, "x | y, two bool inputs of equal shape"),
        "Copy": (seq + seq, {}, "x.copy_(src), src of x's shape, in place"),
        "Polar": (seq + seq, {}, "abs and angle of equal shape"),
        "ComplexView": ([(B, L, D, 2)], {"to_complex": True}, "view_as_complex of pairs"),
        "LogSumExp": (seq, {"dim": -1}, "over the last dim"),
        "Var": (seq, {"dim": -1}, "over the last dim"),
        "Unique": ([(16,)], {"output_shapes": ((y["N"],),)}, "16 values, N distinct (data-dependent: the traced "
                   "count; ceil(log2 n) needs a number)"),
        "Triangular": ([(B, L, L)], {"upper": False}, "tril of L x L matrices"),
        "SolveTriangular": ([(B, L, L), (B, L, S)], {"upper": False}, "A X = B, A lower triangular L x L, S "
                            "right-hand sides, divisions by the diagonal"),
        "AsStrided": (seq, {"size": (B, L, D)}, "a view of the input's own sizes"),
    }
