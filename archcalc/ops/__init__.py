"""The op registry and its families: one module per family, every formula registered once.

Where is a formula? ``conv`` (Conv / ConvTranspose 1-3d), ``linear`` (Linear, MatMul, BMM, AddMM, BAddBMM),
``einsum`` (Einsum as ATen contracts it), ``attention`` (ScaledDotProductAttention, MultiheadAttention), ``norms``, ``activations``
(and Softmax), ``elementwise`` (broadcasting arithmetic and reductions), ``pooling``, ``recurrent`` (RNN,
LSTM, GRU), ``shape`` (views, Concat, Stack, Chunk ...), ``misc`` (Dropout, Embedding, Pad, Interpolate,
Constant, Unmodeled), ``collectives`` (tensor-parallel AllReduce, ReduceScatter,
AllGatherLinear), ``rotary`` (rotary position embeddings: RotaryTables, RotaryApply).

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
    linear,
    misc,
    norms,
    pooling,
    recurrent,
    rotary,
    shape,
)
from archcalc.ops.registry import REGISTRY, OpCost, formula, register

__all__ = ["REGISTRY", "OpCost", "formula", "register"]
