"""Attention: ``scaled_dot_product_attention`` (causal or masked, dropout, grouped-query) and
``nn.MultiheadAttention`` as one composite op.

SDPA on ``q (..., L, E)``, ``k (..., S, E)``, ``v (..., S, Ev)``: MACs = ``batch x L x S x (E + Ev)``
(``Q K^T`` and ``A V`` over the full ``L x S``, as torch's math path executes them, causal or not).
Element-wise: the scale (1 per score), the mask add (1 per score when masked or causal), softmax (5 per
score, see :mod:`archcalc.ops.activations`) and dropout (2 per score in training). Backward (the math
path): ``dA = dO V^T`` and ``dV = A^T dO`` (``L S Ev`` each), ``dQ = dS K`` and ``dK = dS^T Q`` (``L S E``
each): twice the forward MACs, ``dA`` booked to the query.

Examples
--------
>>> from archcalc.ops import formula
>>> a = formula("ScaledDotProductAttention")([(1, 12, 1024, 64)] * 3, is_causal=True)
>>> a.output_shape, a.macs  # 12 * 1024*1024 * (64 + 64)
((1, 12, 1024, 64), 1610612736)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.linear import linear
from archcalc.ops.misc import drops
from archcalc.ops.registry import OpCost, Shape, broadcast_shapes, register
from archcalc.ops.traits import contraction, traits

__all__ = ["sdpa", "multihead_attention", "sdpa_kernel", "math_saved_elements", "heads_merge_is_view"]


@register("ScaledDotProductAttention", traits=contraction(training_sensitive=True, kernel_saves=True, attention=True))
def sdpa(in_shapes: list[Shape], *, is_causal: bool = False, dropout_p: Any = 0.0, scale: Any = None,
         enable_gqa: bool = False, training: bool = False, query_layout: Any = None) -> OpCost:
    """softmax(Q K^T * scale + mask) V over the full ``L x S`` scores; a 4th input is the mask.

    ``query_layout`` (traced): the query's dimensions from outermost to innermost in memory, which the CPU's
    fused kernel gives its output (:mod:`archcalc.memory.liveness.peak` uses it; no count depends on it).
    """
    if len(in_shapes) not in (3, 4):
        raise ValueError(f"ScaledDotProductAttention takes q, k, v and optionally a mask, got {len(in_shapes)} inputs")
    q, k, v = (tuple(s) for s in in_shapes[:3])
    if len(q) < 2 or len(k) != len(q) or len(v) != len(q):
        raise ValueError(f"ScaledDotProductAttention: q, k, v must have equal rank >= 2, got {q}, {k}, {v}")
    if is_concrete(q[-1], k[-1]) and q[-1] != k[-1]:
        raise ValueError(f"ScaledDotProductAttention: q and k head sizes differ ({q[-1]} vs {k[-1]})")
    if is_concrete(k[-2], v[-2]) and k[-2] != v[-2]:
        raise ValueError(f"ScaledDotProductAttention: k and v lengths differ ({k[-2]} vs {v[-2]})")
    lead_q = q[:-2]
    if enable_gqa and len(q) >= 3 and is_concrete(q[-3], k[-3]):
        if q[-3] % k[-3]:
            raise ValueError(f"ScaledDotProductAttention: {k[-3]} key/value heads must divide {q[-3]} query heads")
        lead = lead_q
    else:
        lead = broadcast_shapes([lead_q, k[:-2], v[:-2]], "ScaledDotProductAttention")
    L, S, E, Ev = q[-2], k[-2], q[-1], v[-1]
    scores = prod(lead) * L * S
    macs = scores * (E + Ev)
    masked = is_causal or len(in_shapes) == 4
    drop = drops(dropout_p, training)
    ops = scores * (1 + (1 if masked else 0) + 5 + (2 if drop else 0))
    out = (*lead, L, Ev)
    return OpCost(output_shape=out, macs=macs, activations=prod(out), elementwise_ops=ops,
                  input_grad_macs=(scores * (E + Ev), scores * E, scores * Ev), saves_input=True, saves_output=True,
                  saved_fp32_elements=prod(lead) * L, saved_mask_elements=scores if drop else 0)


def sdpa_kernel(device: str, dropout_p: Any) -> str:
    """The kernel ``F.scaled_dot_product_attention`` runs: ``"math"`` or ``"fused"``.

    On the CPU a dropout (``dropout_p > 0``) rules the fused flash kernel out (torch's
    ``use_flash_attention_cpp`` refuses dropout), and the composite math path runs: it keeps every
    ``L x S`` matrix autograd needs. Without dropout, and on CUDA, a fused kernel runs (it saves q, k, v, the
    output and the log-sum-exp rows; a bool mask is converted to a float one). What each saves was read with
    ``torch.autograd.graph.saved_tensors_hooks`` on torch 2.14.

    >>> sdpa_kernel("cpu", 0.1), sdpa_kernel("cpu", 0.0), sdpa_kernel("cuda", 0.1)
    ('math', 'fused', 'fused')
    """
    return "math" if device == "cpu" and drops(dropout_p) else "fused"


def math_saved_elements(in_shapes: list[Shape], *, enable_gqa: bool = False) -> Any:
    """Elements the CPU math path of SDPA with dropout saves, all in the activation dtype and none of them
    the inputs: ``q * scale`` and ``(k * scale)^T`` and ``v`` folded to ``(B*H, ., E)`` for the two batched
    matrix products (new tensors), the softmax output, the dropout noise and the dropped weights (three
    ``L x S`` matrices per head).

    >>> math_saved_elements([(2, 4, 256, 64)] * 3)  # 3 * 2*4*256*64 + 3 * 2*4*256*256
    1966080
    """
    q, k, v = (tuple(x) for x in in_shapes[:3])
    lead = q[:-2] if enable_gqa else broadcast_shapes([q[:-2], k[:-2], v[:-2]], "ScaledDotProductAttention")
    n = prod(lead)
    return n * (q[-2] * q[-1] + k[-2] * k[-1] + v[-2] * v[-1]) + 3 * n * q[-2] * k[-2]


@register("MultiheadAttention", traits=contraction(training_sensitive=True))
def multihead_attention(in_shapes: list[Shape], *, embed_dim: Any, num_heads: Any, bias: bool = True,
                        batch_first: bool = False, kdim: Any = None, vdim: Any = None, dropout: Any = 0.0,
                        need_weights: bool = False, is_causal: bool = False, training: bool = False) -> OpCost:
    """``nn.MultiheadAttention`` on query / key / value ``(L, N, E)`` (or batch first): the input
    projections, SDPA over ``num_heads`` heads of ``E / num_heads``, and the output projection."""
    if len(in_shapes) not in (3, 4):
        raise ValueError(f"MultiheadAttention takes query, key, value and optionally a mask, got {len(in_shapes)}")
    q, k, v = (tuple(s) for s in in_shapes[:3])
    if is_concrete(embed_dim, num_heads) and embed_dim % num_heads:
        raise ValueError(f"MultiheadAttention: num_heads {num_heads} must divide embed_dim {embed_dim}")
    head = embed_dim // num_heads
    projs = [linear([q], out_features=embed_dim, bias=bias), linear([k], out_features=embed_dim, bias=bias),
             linear([v], out_features=embed_dim, bias=bias)]
    if len(q) == 3:
        n_, l_, s_ = (q[0], q[1], k[1]) if batch_first else (q[1], q[0], k[0])
        att = sdpa([(n_, num_heads, l_, head), (n_, num_heads, s_, head), (n_, num_heads, s_, head)]
                   + ([in_shapes[3]] if len(in_shapes) == 4 else []), is_causal=is_causal, dropout_p=dropout,
                   training=training)
    else:
        att = sdpa([(num_heads, q[0], head), (num_heads, k[0], head), (num_heads, k[0], head)], is_causal=is_causal)
    out_proj = linear([q], out_features=embed_dim, bias=bias)
    parts = [*projs, att, out_proj]
    kd = embed_dim if kdim is None else kdim
    vd = embed_dim if vdim is None else vdim
    if kd == embed_dim and vd == embed_dim:
        params = (("in_proj_weight", (3 * embed_dim, embed_dim)),)
    else:
        params = (("q_proj_weight", (embed_dim, embed_dim)), ("k_proj_weight", (embed_dim, kd)),
                  ("v_proj_weight", (embed_dim, vd)))
    if bias:
        params += (("in_proj_bias", (3 * embed_dim,)),)
    params += (("out_proj.weight", (embed_dim, embed_dim)),) + ((("out_proj.bias", (embed_dim,)),) if bias else ())
    macs = sum((p.macs for p in parts), 0)
    return OpCost(output_shape=q, more_outputs=(), param_shapes=params, macs=macs, activations=prod(q),
                  elementwise_ops=sum((p.elementwise_ops for p in parts), 0),
                  # input gradient: the projections' (their forward MACs) and SDPA's backward (twice its forward)
                  input_grad_macs=(macs + att.macs,),
                  backward_weight_macs=sum((p.backward_weight_macs for p in (*projs, out_proj)), 0),
                  saves_input=True)


def heads_merge_is_view(node: Any, nodes: Any, producer: dict[str, int], training: bool) -> bool:
    """Whether ``node``, a reshape recorded as a copy, is a view on the CPU: it merges the heads of a fused
    attention's output after dimension reorders that bring it back to the query's memory order.

    The CPU flash-attention kernel allocates its ``(b, h, t, e)`` output in the query's memory order (HF's
    ``q`` from ``(b, t, h, e).transpose(1, 2)``: ``(b, t, h, e)`` in memory; torchvision's from
    ``(t, b * h, e)``: ``(t, b, h, e)``), so reordering the heads back to that order and merging them is a
    view there; the meta kernel a trace runs returns a contiguous ``(b, h, t, e)`` and the trace records a
    copy. The math path (dropout on the CPU) returns a contiguous output: its reshape is the copy recorded.

    ``nodes``: the graph's nodes (each with ``kind``, ``inputs``, ``options``); ``producer``: value name ->
    index of the node that makes it. Asks only the kinds' traits (``reshapes``, ``dim_order``, ``attention``).
    """
    if not traits(node.kind).reshapes or not node.options.get("copy") or not node.inputs:
        return False
    chain = []
    k = producer.get(node.inputs[0])
    while k is not None and nodes[k].inputs:
        facts, options = traits(nodes[k].kind), nodes[k].options
        # a reorder of dimensions, or HF's reshape(b, -1, t, e): the same 4-d view
        if facts.dim_order is None and not (facts.reshapes and not options.get("copy")
                                            and len(options.get("shape", ())) == 4):
            break
        chain.append(nodes[k])
        k = producer.get(nodes[k].inputs[0])
    if k is None or not traits(nodes[k].kind).attention or not chain:
        return False
    attention = nodes[k].options
    if training and sdpa_kernel("cpu", attention.get("dropout_p", 0.0)) != "fused":
        return False
    order = [0, 1, 2, 3]  # which dimension of the attention output sits at each position
    for op in reversed(chain):
        reorder = traits(op.kind).dim_order
        if reorder is not None:
            order = reorder(op.options, order)
    layout = tuple(attention.get("query_layout", (0, 2, 1, 3)))  # size-1 dimensions left out: any place fits
    return tuple(d for d in order if d in layout) == layout
