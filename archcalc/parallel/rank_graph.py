"""One tensor-parallel rank of a GPT-2-family transformer (Megatron-LM's split), as a graph for the liveness peak.

With ``t`` ranks (Shoeybi et al. 2019; Korthikanti et al. 2022) each rank holds, per layer:

- the QKV projection and the first MLP linear **column-parallel**: ``3 h / t`` and ``ffn / t`` outputs, so
  ``heads / t`` whole heads and ``ffn / t`` hidden units per rank;
- the attention output projection and the second MLP linear **row-parallel**: ``h / t`` and ``ffn / t``
  inputs; their partial sums are all-reduced in place (``AllReduce``, memory-neutral for one rank);
- the embedding and the tied LM head **vocabulary-parallel**: ``ceil(vocab / t)`` rows (Megatron pads the
  vocabulary to a multiple of ``t``); the embedding output is all-reduced.

LayerNorms, dropouts and residual adds are replicated: every rank holds the full ``(b, s, h)``. With
``sequence_parallel`` they run on a sequence shard ``(b, s / t, h)`` instead: the row-parallel outputs are
reduce-scattered (``ReduceScatter``), and the column-parallel linears gather the shard (``AllGatherLinear``),
keeping the **shard** for the backward as Megatron does (it gathers again there; the gathered buffer
is live while the linear runs). The final LayerNorm runs
on the shard too and the LM head gathers it.

Merging the heads back (``transpose(1, 2).reshape``) is a view: the flash attention kernels (CPU and CUDA)
lay their output out as ``(b, s, heads, e)``.

Node names are those of :func:`archcalc.zoo_transformers.build_transformer` (``transformer.h.0.attn.c_attn``
...), so at ``t = 1`` without sequence parallelism the graph is the zoo's plus identity all-reduces (and the
heads merge as a view).

Examples
--------
>>> from archcalc.zoo_transformers import CONFIGS
>>> g = rank_graph(CONFIGS["gpt2"], 1024, tensor_parallel=4)
>>> from archcalc.ir import evaluate
>>> ev = evaluate(g)
>>> next(r.output_shape for r in ev.rows if r.name == "transformer.h.0.attn.c_attn")  # 3 * 768 / 4
(1, 1024, 576)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete
from archcalc.ir.build import GraphBuilder
from archcalc.ir.graph import Graph, TensorSpec
from archcalc.zoo_transformers import TransformerConfig, check_config, check_seq
from dlperf.errors import ArgumentError, ref
from dlperf.validate import check_int

__all__ = ["rank_graph", "check_tensor_parallel", "layer_prefix"]


def layer_prefix(i: int) -> str:
    """Node-name prefix of layer ``i`` (``transformer.h.{i}.``)."""
    return f"transformer.h.{i}."


def check_tensor_parallel(cfg: TransformerConfig, tensor_parallel: Any, sequence_parallel: bool = False,
                          seq: Any = None) -> None:
    """Raise ``ValueError`` (naming ``tensor_parallel``) when ``t`` cannot split ``cfg``."""
    t = tensor_parallel
    check_int("tensor_parallel", t)
    if cfg.family != "gpt2":
        raise ArgumentError("tensor_parallel", t, f"per-rank graphs exist for the GPT-2 family (gpt2*, gpt) and "
                            f"{cfg.name} is {cfg.family}; give 1 or a GPT-2 model")
    if sequence_parallel and t == 1:
        raise ArgumentError("sequence_parallel", True, f"the sequence is split across the tensor-parallel ranks; "
                            f"give {ref('tensor_parallel')} 2 or more")
    for what, n in (("heads", cfg.heads), ("ffn", cfg.ffn)):
        if is_concrete(n) and n % t:
            raise ArgumentError("tensor_parallel", t, f"Megatron splits whole heads and feed-forward units across "
                                f"ranks: use a divisor of {ref(what)} ({n})")
    if sequence_parallel and seq is not None and is_concrete(seq) and seq % t:
        raise ArgumentError("seq", seq, f"sequence parallelism splits the sequence evenly: choose a multiple of "
                            f"{ref('tensor_parallel')} ({t})")


def rank_graph(cfg: TransformerConfig, seq: Any = None, *, tensor_parallel: int = 1,
               sequence_parallel: bool = False) -> Graph:
    """The graph one of ``tensor_parallel`` ranks runs for a GPT-2-family ``cfg`` on ``seq`` tokens.

    Raises ``ValueError`` naming ``tensor_parallel`` (or ``seq``) when the split is impossible.
    """
    check_config(cfg)
    seq = cfg.default_seq if seq is None else seq
    check_seq(cfg, seq)
    t, sp = tensor_parallel, sequence_parallel
    check_tensor_parallel(cfg, t, sp, seq)
    d, h, hd = cfg.hidden, cfg.heads // t, cfg.head_dim
    rows = cfg.context if cfg.context is not None else seq
    vocab = -(-cfg.vocab // t)
    name = cfg.name if t == 1 else f"{cfg.name} (rank of {t}{', sequence parallel' if sp else ''})"
    b = GraphBuilder(name, cfg.description, [TensorSpec("ids", (seq,), "int64")], twin=None)

    def row_out(y: str, at: str) -> str:  # the row-parallel output: all-reduced, or reduce-scattered with SP
        if sp:
            return b.op(f"{at}.reduce_scatter", "ReduceScatter", y, module=None, world=t, dim=1)
        return b.op(f"{at}.all_reduce", "AllReduce", y, module=None, world=t)

    def col_in(x: str, at: str, out: Any) -> str:  # the column-parallel linear (gathering the shard with SP)
        if sp:
            return b.op(at, "AllGatherLinear", x, out_features=out, world=t, dim=1)
        return b.op(at, "Conv1D", x, out_features=out)

    wte = b.op("transformer.wte", "Embedding", "ids", num_embeddings=vocab, embedding_dim=d)
    pos = b.op("transformer.position_ids", "GetItem", "ids", module=None, index=0)
    wpe = b.op("transformer.wpe", "Embedding", pos, num_embeddings=rows, embedding_dim=d)
    wte = b.op("transformer.wte.all_reduce", "AllReduce", wte, module=None, world=t)
    x = b.op("transformer.add", "Add", wte, wpe, module=None)
    if sp:  # Megatron scatters the summed embeddings to the sequence shards (a split: a new s / t tensor)
        x = b.op("transformer.scatter", "ReduceScatter", x, module=None, world=t, dim=1)
    x = b.op("transformer.drop", "Dropout", x, p=0.1)
    for i in range(cfg.layers):
        p = f"transformer.h.{i}"
        y = b.op(f"{p}.ln_1", "LayerNorm", x, normalized_shape=d)
        qkv = col_in(y, f"{p}.attn.c_attn", 3 * d // t)
        u = b.op(f"{p}.attn.view_qkv", "Unflatten", qkv, module=None, dim=2, sizes=(3, h, hd))
        u = b.op(f"{p}.attn.permute_qkv", "Permute", u, module=None, dims=(2, 0, 3, 1, 4))
        qh, kh, vh = b.op(f"{p}.attn.unbind_qkv", "Unbind", u, module=None, outputs=3, dim=0)
        a = b.op(f"{p}.attn.scaled_dot_product_attention", "ScaledDotProductAttention", qh, kh, vh, module=None,
                 is_causal=True)
        a = b.op(f"{p}.attn.transpose_out", "Transpose", a, module=None, dim0=1, dim1=2)
        a = b.op(f"{p}.attn.reshape", "Flatten", a, module=None, start_dim=2)  # a view, see the module doc
        y = row_out(b.op(f"{p}.attn.c_proj", "Conv1D", a, out_features=d), f"{p}.attn.c_proj")
        y = b.op(f"{p}.attn.resid_dropout", "Dropout", y, p=0.1)
        x = b.op(f"{p}.add", "Add", y, x, module=None)
        y = b.op(f"{p}.ln_2", "LayerNorm", x, normalized_shape=d)
        y = col_in(y, f"{p}.mlp.c_fc", cfg.ffn // t)
        y = b.op(f"{p}.mlp.act", "GELU", y, approximate="tanh")
        y = row_out(b.op(f"{p}.mlp.c_proj", "Conv1D", y, out_features=d), f"{p}.mlp.c_proj")
        y = b.op(f"{p}.mlp.dropout", "Dropout", y, p=0.1)
        x = b.op(f"{p}.add:2", "Add", x, y, module=None)
    x = b.op("transformer.ln_f", "LayerNorm", x, normalized_shape=d)
    wt = {"weight": "transformer.wte.weight"}
    if sp:
        out = b.op("lm_head", "AllGatherLinear", x, out_features=vocab, world=t, dim=1, bias=False, params=wt)
    else:
        out = b.op("lm_head", "Linear", x, out_features=vocab, bias=False, params=wt)
    return b.build(out)
