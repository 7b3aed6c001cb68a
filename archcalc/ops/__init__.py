"""The op registry and its families: one module per family, every formula registered once.

Where is a formula? ``conv`` (Conv / ConvTranspose 1-3d), ``linear`` (Linear, MatMul, BMM, AddMM, BAddBMM),
``einsum`` (Einsum as ATen contracts it), ``attention`` (ScaledDotProductAttention, MultiheadAttention), ``norms``
(and WeightNorm), ``activations`` (and Softmax), ``elementwise`` (broadcasting arithmetic and reductions),
``pointwise`` (AddCMul, AddCDiv, RPow, Invert, Cumsum, Diff, Prod, All, Any, ClampTensor, FFT, Real), ``pooling``,
``recurrent`` (RNN, LSTM, GRU), ``shape`` (views, Concat, Stack, Chunk ...), ``layout`` (Repeat, RepeatInterleave,
Unfold, Im2Col, Col2Im, Meshgrid, TensorSplit, Cast, AsStrided), ``indexing`` (Gather, Scatter, IndexSelect, IndexAdd, OneHot,
ArgMax, MaxDim, TopK, Sort ...), ``misc`` (Dropout, FeatureDropout, Embedding, Pad, Interpolate, GridSample,
Constant, Unmodeled), ``collectives`` (tensor-parallel AllReduce, ReduceScatter, AllGatherLinear), ``rotary``
(rotary position embeddings: RotaryTables, RotaryApply), ``linalg`` (Triangular, SolveTriangular),
``mathfns`` (Expm1, Log1p, Floor, Ceil, Sign, Acos, LogSigmoid, GLU, Remainder, Logical, Copy, Polar,
ComplexView, LogSumExp, Var, Unique).

Examples
--------
>>> "LayerNorm" in REGISTRY and "Conv3d" in REGISTRY
True
"""

from archcalc.ops import (  # noqa: F401
    activations,
    attention,
    collectives,
    conv,
    einsum,
    elementwise,
    indexing,
    layout,
    linalg,
    linear,
    mathfns,
    misc,
    norms,
    pointwise,
    pooling,
    recurrent,
    rotary,
    shape,
)
from archcalc.ops.registry import REGISTRY, OpCost, formula, register

__all__ = ["REGISTRY", "OpCost", "formula", "register"]
