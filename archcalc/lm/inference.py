"""Inference memory and traffic: the KV cache, and a prefill / decode split of MACs and bytes moved.

KV cache elements = ``2 n_layer n_kv_heads d_head L B`` (keys and values of every layer); the count is
also read off the graph (the key and value tensors entering each attention) and the two must agree.

Prefill of ``L`` prompt tokens: the exact forward MACs of the graph at ``L``; bytes moved = the weights
read once plus the KV cache written. Decode of one new token per sequence with ``L`` tokens already cached:
the weight MACs of one token plus attention over the ``L + 1`` keys (the cache and the new token); bytes
moved = the weights read once, the cache read and the new keys and values written. Weights read: every
parameter once, except that a lookup table not shared with the LM head is read only at the looked-up rows.
Arithmetic intensity = FLOPs (2 x MACs) per byte moved: what decides whether a step is compute- or
bandwidth-bound.

Examples
--------
>>> from archcalc.models.zoo_transformers import CONFIGS, with_sizes
>>> kv_cache(CONFIGS["gpt2"], 1024).elements  # 2*12*12*64*1024
18874368
>>> kv_cache(with_sizes(CONFIGS["llama"], kv_heads=8), 4096).bytes_by_dtype["fp16"]  # 2*32*8*128*4096*2
536870912
>>> p = prefill_decode(CONFIGS["gpt2"], 1024)
>>> p.decode.macs  # 84,934,656 block weights + 38,597,376 LM head + 12*12*1024*128 = 18,874,368 attention
142406400
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from archcalc.costs.report import DTYPE_BYTES
from archcalc.ir.evaluate import Evaluation, evaluate
from archcalc.ir.graph import Graph
from archcalc.lm.papers import kv_cache_elements
from archcalc.memory.precision import PRECISION_TABLE
from archcalc.models.zoo_transformers import TransformerConfig, build_transformer, check_seq
from archcalc.ops.arith import prod
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = ["KVCache", "kv_cache", "Phase", "PrefillDecode", "prefill_decode", "weights_read"]


@dataclass(frozen=True, repr=False)
class KVCache(Result):
    """Key / value cache of one model at ``seq`` tokens and ``batch`` sequences.

    ``elements`` = ``2 n_layer n_kv_heads d_head L B``; ``bytes_by_dtype`` maps each element dtype to bytes.
    """

    model: str
    seq: int
    batch: int
    layers: int
    kv_heads: int
    head_dim: int
    elements: int
    bytes_by_dtype: dict[str, int]


def _master(dtype: str) -> bool:
    # a -master precision is a training layout; its cache is the 16-bit one already listed
    spec = PRECISION_TABLE.get(dtype)
    return spec is not None and spec.master


def _graph_kv_elements(ev: Evaluation) -> Any:
    return sum((prod(r.input_shapes[1]) + prod(r.input_shapes[2]) for r in ev.rows
                if traits(r.kind).attention), 0)


def kv_cache(cfg: TransformerConfig, seq: int | None = None, batch: int = 1) -> KVCache:
    """The KV cache of ``cfg`` holding ``seq`` tokens (default its context) for ``batch`` sequences."""
    seq = cfg.default_seq if seq is None else seq
    if cfg.family == "bert":
        raise ArgumentError("cfg", cfg.name, "an encoder keeps no KV cache; use a decoder (gpt2, gpt, llama)")
    ev = evaluate(build_transformer(cfg, seq), (seq,), batch)
    elements = kv_cache_elements(cfg.layers, cfg.kv_heads, cfg.head_dim, seq, batch)
    if elements != _graph_kv_elements(ev):  # never a silent wrong number
        raise AssertionError(f"{cfg.name}: KV formula {elements} != graph's key/value elements {_graph_kv_elements(ev)}")
    return KVCache(cfg.name, seq, batch, cfg.layers, cfg.kv_heads, cfg.head_dim, elements,
                   {d: elements * b for d, b in DTYPE_BYTES.items() if not _master(d)})


def weights_read(graph: Graph, ev: Evaluation) -> Any:
    """Parameter elements one forward step reads: all, but a lookup table not shared with another node
    only at its looked-up rows (its output elements)."""
    users: dict[str, int] = {}
    for node in graph.nodes:
        for name in {node.param_name(role) for role in ("weight", "bias")} | {v for _, v in node.params}:
            users[name] = users.get(name, 0) + 1
    total = ev.total("params")
    for r in ev.rows:
        if traits(r.kind).lookup and r.params and all(users.get(n, 0) == 1 for n in r.param_names):
            total += prod(r.output_shape) - r.params
    return total


@dataclass(frozen=True)
class Phase:
    """One inference phase: ``tokens`` processed per sequence, MACs, FLOPs and bytes moved (whole batch).

    ``intensity`` is FLOPs per byte moved (a Fraction).
    """

    name: str
    tokens: int
    macs: int
    flops: int
    weight_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int

    @property
    def bytes_moved(self) -> int:
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes

    @property
    def intensity(self) -> Fraction:
        return Fraction(self.flops, self.bytes_moved)


@dataclass(frozen=True, repr=False)
class PrefillDecode(Result):
    """Prefill of ``seq`` prompt tokens and the decode step of the ``seq``-th token, batch ``batch``."""

    model: str
    seq: int
    batch: int
    dtype: str
    prefill: Phase
    decode: Phase


def _attention_macs(ev: Evaluation) -> Any:
    return sum((r.macs for r in ev.rows if traits(r.kind).attention), 0)


def prefill_decode(cfg: TransformerConfig, seq: int | None = None, batch: int = 1, dtype: str = "fp16") -> PrefillDecode:
    """MACs and bytes moved of prefilling ``seq`` tokens and of decoding token ``seq`` with ``seq - 1``
    cached (``dtype`` weights and cache). Raises ``ValueError`` naming the flag for bad values."""
    if dtype not in DTYPE_BYTES:
        raise ArgumentError("dtype", dtype, f"choose one of {', '.join(DTYPE_BYTES)}")
    seq = cfg.default_seq if seq is None else seq
    size = DTYPE_BYTES[dtype]
    if cfg.family == "bert":
        raise ArgumentError("cfg", cfg.name, "an encoder has no decode step; use a decoder (gpt2, gpt, llama)")
    check_seq(cfg, seq)
    graph = build_transformer(cfg, seq)
    ev = evaluate(graph, (seq,), batch)
    kv = kv_cache(cfg, seq, batch).elements
    prefill = Phase("prefill", seq, ev.total("macs"), 2 * ev.total("macs"), weights_read(graph, ev) * size, 0, kv * size)
    one = build_transformer(cfg, 1)
    ev1 = evaluate(one, (1,), batch)
    per_key = kv_cache_elements(cfg.layers, cfg.heads, cfg.head_dim, 1, batch)  # q . k and a . v per key
    macs = ev1.total("macs") - _attention_macs(ev1) + per_key * seq
    new_kv = kv_cache_elements(cfg.layers, cfg.kv_heads, cfg.head_dim, 1, batch)
    decode = Phase("decode", 1, macs, 2 * macs, weights_read(one, ev1) * size, (kv - new_kv) * size, new_kv * size)
    return PrefillDecode(cfg.name, seq, batch, dtype, prefill, decode)
