"""Transformers in the zoo, built from a config without torch: GPT-2 (small .. xl and a free-size ``gpt``),
BERT (base, large), a Llama-style decoder (RMSNorm, SwiGLU, rotary embeddings, grouped-query attention,
untied head) and torchvision's ViT-B/16.

Node names equal the ``transformers`` module names (``transformer.h.0.attn.c_attn`` for
``GPT2LMHeadModel``, ``encoder.layer.0.attention.self.query`` for ``BertModel``,
``model.layers.0.self_attn.q_proj`` for ``LlamaForCausalLM``); functional ops are named
``{module}.{function}`` with ``module=None``, as the torch tracer names them. The input is the token ids
``(L,)`` (int64, batched). Position ids are ``ids[0]`` (a view of shape ``(L,)``): the lookup of a learned
position table broadcasts over the batch as in ``transformers``. GPT-2's tied LM head names the
``transformer.wte.weight`` parameter, so it is counted once.

Sizes may be sympy symbols (closed forms in the config sizes): only ``layers`` must be an int.

Examples
--------
>>> from archcalc.ir import evaluate
>>> ev = evaluate(build_transformer(CONFIGS["gpt2"]), (1024,))
>>> ev.total("params"), ev.total("macs")
(124439808, 145824153600)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from archcalc.ir.build import GraphBuilder
from archcalc.ir.graph import Graph, TensorSpec
from archcalc.ir.graph_size import MAX_OPS
from archcalc.ops.arith import is_concrete
from dlperf.errors import ArgumentError, ref
from dlperf.validate import check_int

__all__ = ["TransformerConfig", "CONFIGS", "build_transformer", "transformer_models", "with_sizes", "transformer_ops",
           "check_transformer_size",
           "check_config", "check_seq", "vit_b_16"]


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of a transformer.

    Attributes
    ----------
    name, family : str
        Zoo name and architecture (``"gpt2"``, ``"bert"`` or ``"llama"``).
    layers, hidden, heads, ffn, vocab : int
        Blocks, model width ``d``, attention heads ``H`` (head size ``d / H``), feed-forward width, vocabulary.
    context : int or None
        Rows of the learned position table (GPT-2, BERT), the longest sequence; ``None`` for rotary
        positions (``--seq`` is free) -- then the default ``--seq`` is ``default_seq``.
    kv_heads : int
        Key / value heads (grouped-query attention; ``heads`` for ordinary multi-head attention).
    default_seq : int
        Sequence length used when ``--seq`` is not given (the context length).
    description, twin : str
    """

    name: str
    family: str
    layers: Any
    hidden: Any
    heads: Any
    ffn: Any
    vocab: Any
    context: Any
    kv_heads: Any
    default_seq: int
    description: str = ""
    twin: str | None = None

    @property
    def head_dim(self) -> Any:
        """Size of one head, ``hidden / heads``."""
        return self.hidden // self.heads


def _gpt2(name: str, layers: int, hidden: int, heads: int, what: str) -> TransformerConfig:
    return TransformerConfig(name, "gpt2", layers, hidden, heads, 4 * hidden, 50257, 1024, heads, 1024,
                             f"{what}: GPT2LMHeadModel, tied LM head, L up to 1024", f"transformers:{name}")


CONFIGS: dict[str, TransformerConfig] = {
    "gpt2": _gpt2("gpt2", 12, 768, 12, "GPT-2 small (124M)"),
    "gpt2-medium": _gpt2("gpt2-medium", 24, 1024, 16, "GPT-2 medium (355M)"),
    "gpt2-large": _gpt2("gpt2-large", 36, 1280, 20, "GPT-2 large (774M)"),
    "gpt2-xl": _gpt2("gpt2-xl", 48, 1600, 25, "GPT-2 xl (1.5B)"),
    "gpt": TransformerConfig("gpt", "gpt2", 12, 768, 12, 3072, 50257, None, 12, 1024,
                             "GPT-2 architecture, sizes from --layers --hidden --heads --ffn --vocab, "
                             "position table of --seq rows", "transformers:gpt2"),
    "bert-base": TransformerConfig("bert-base", "bert", 12, 768, 12, 3072, 30522, 512, 12, 512,
                                   "BERT-base: BertModel with its pooler, L up to 512", "transformers:bert-base"),
    "bert-large": TransformerConfig("bert-large", "bert", 24, 1024, 16, 4096, 30522, 512, 16, 512,
                                    "BERT-large: BertModel with its pooler, L up to 512", "transformers:bert-large"),
    "llama": TransformerConfig("llama", "llama", 32, 4096, 32, 11008, 32000, None, 32, 4096,
                               "Llama-style decoder (RMSNorm, SwiGLU, rotary, GQA, untied head); "
                               "default sizes Llama-2-7B", "transformers:llama"),
}


def _flag_int(name: str, value: Any, low: int = 1) -> None:
    check_int(name, value, minimum=low, symbolic=True, what=f"an integer >= {low}")


def check_config(cfg: TransformerConfig) -> None:
    """Raise :class:`~dlperf.errors.ArgumentError` (naming the size) for sizes no model can have."""
    if not isinstance(cfg.layers, int):
        raise ArgumentError("layers", cfg.layers, "give an integer >= 1")
    for name, v in (("layers", cfg.layers), ("hidden", cfg.hidden), ("heads", cfg.heads), ("ffn", cfg.ffn),
                    ("vocab", cfg.vocab), ("kv_heads", cfg.kv_heads)):
        _flag_int(name, v)
    if is_concrete(cfg.hidden, cfg.heads) and cfg.hidden % cfg.heads:
        raise ArgumentError("heads", cfg.heads, f"choose heads dividing {ref('hidden')} ({cfg.hidden}): head size = "
                            "hidden / heads")
    if is_concrete(cfg.heads, cfg.kv_heads) and cfg.heads % cfg.kv_heads:
        raise ArgumentError("kv_heads", cfg.kv_heads, f"choose key/value heads dividing {ref('heads')} "
                            f"({cfg.heads})")
    if cfg.family != "llama" and cfg.kv_heads != cfg.heads:
        raise ArgumentError("kv_heads", cfg.kv_heads, f"{cfg.name} has multi-head attention; key/value heads are "
                            "for the llama model: leave it out")
    if cfg.family == "llama" and is_concrete(cfg.head_dim) and cfg.head_dim % 2:
        raise ArgumentError("heads", cfg.heads, "rotary embeddings need an even head size",
                            what=f"head size {cfg.hidden} / {cfg.heads} = {cfg.head_dim} is odd")


def check_seq(cfg: TransformerConfig, seq: Any, param: str = "seq") -> None:
    """``seq`` must be positive and fit the position table; errors name ``param`` (the caller's parameter
    that carries the length, e.g. ``input_shape``)."""
    check_int(param, seq, symbolic=True, what="a sequence length >= 1")
    if cfg.context is not None and is_concrete(seq, cfg.context) and seq > cfg.context:
        hint = "use the `gpt` model for longer sequences" if cfg.family == "gpt2" else "use L <= the context"
        raise ArgumentError(param, seq, f"{cfg.name} has {cfg.context} positions; {hint}")


def with_sizes(cfg: TransformerConfig, **sizes: Any) -> TransformerConfig:
    """``cfg`` with the given sizes replaced (``None`` values ignored); ``kv_heads`` follows ``heads`` unless
    given. Only the ``gpt`` and ``llama`` entries take sizes."""
    given = {k: v for k, v in sizes.items() if v is not None}
    if given and cfg.name not in ("gpt", "llama"):
        name = next(iter(given))
        raise ArgumentError(name, given[name], f"{cfg.name} has fixed sizes; use the `gpt` or `llama` model to "
                            "choose sizes")
    if "heads" in given and "kv_heads" not in given:
        given["kv_heads"] = given["heads"]
    out = replace(cfg, **given)
    check_config(out)
    return out


def _heads(b: GraphBuilder, prefix: str, x: str, tag: str, heads: Any, head_dim: Any) -> str:
    """``(B, L, heads * head_dim) -> (B, heads, L, head_dim)``: two views."""
    u = b.op(f"{prefix}.view_{tag}", "Unflatten", x, module=None, dim=2, sizes=(heads, head_dim))
    return b.op(f"{prefix}.transpose_{tag}", "Transpose", u, module=None, dim0=1, dim1=2)


def _split_heads(b: GraphBuilder, prefix: str, qkv: str, heads: Any, head_dim: Any) -> tuple[str, str, str]:
    """Packed ``(B, L, 3 d) -> 3 x (B, heads, L, head_dim)``: three views (unflatten, permute, unbind) where
    torch runs split + view + transpose per tensor; the same shapes and storage, fewer rows."""
    u = b.op(f"{prefix}.view_qkv", "Unflatten", qkv, module=None, dim=2, sizes=(3, heads, head_dim))
    t = b.op(f"{prefix}.permute_qkv", "Permute", u, module=None, dims=(2, 0, 3, 1, 4))
    return b.op(f"{prefix}.unbind_qkv", "Unbind", t, module=None, outputs=3, dim=0)


def _merge(b: GraphBuilder, prefix: str, a: str) -> str:
    """``(B, H, L, hd) -> (B, L, H * hd)``: a transpose and a copying reshape."""
    t = b.op(f"{prefix}.transpose_out", "Transpose", a, module=None, dim0=1, dim1=2)
    return b.op(f"{prefix}.reshape", "Flatten", t, module=None, start_dim=2, copy=True)


def _gelu_new(b: GraphBuilder, m: str, x: str) -> str:
    """transformers' ``gelu_new`` (``NewGELUActivation``) as it runs: eight element-wise ops,
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3)))``; a scalar operand is not an input.
    Autograd keeps ``x`` (pow), the tanh output and both operands of the last product: three tensors of
    ``x``'s size besides ``x``, where one fused tanh-GELU op keeps ``x`` only."""
    half = b.op(m, "Mul", x, module=m)
    inner = b.op(f"{m}.add", "Add", x, b.op(f"{m}.mul", "Mul", b.op(f"{m}.pow", "Pow", x, module=m), module=m),
                 module=m)
    t = b.op(f"{m}.tanh", "Tanh", b.op(f"{m}.mul:2", "Mul", inner, module=m), module=m)
    return b.op(f"{m}.mul:3", "Mul", half, b.op(f"{m}.add:2", "Add", t, module=m), module=m)


def _gpt2_graph(cfg: TransformerConfig, seq: Any) -> Graph:
    d, h, hd = cfg.hidden, cfg.heads, cfg.head_dim
    rows = cfg.context if cfg.context is not None else seq
    b = GraphBuilder(cfg.name, cfg.description, [TensorSpec("ids", (seq,), "int64")], twin=cfg.twin)
    wte = b.op("transformer.wte", "Embedding", "ids", num_embeddings=cfg.vocab, embedding_dim=d)
    pos = b.op("transformer.position_ids", "GetItem", "ids", module=None, index=0)
    wpe = b.op("transformer.wpe", "Embedding", pos, num_embeddings=rows, embedding_dim=d)
    x = b.op("transformer.add", "Add", wte, wpe, module=None)
    x = b.op("transformer.drop", "Dropout", x, p=0.1)
    for i in range(cfg.layers):
        p = f"transformer.h.{i}"
        y = b.op(f"{p}.ln_1", "LayerNorm", x, normalized_shape=d)
        qkv = b.op(f"{p}.attn.c_attn", "Conv1D", y, out_features=3 * d)
        qh, kh, vh = _split_heads(b, f"{p}.attn", qkv, h, hd)
        # GPT2Attention passes attn_pdrop (0.1) to SDPA in training: on the CPU the math kernel runs
        a = b.op(f"{p}.attn.scaled_dot_product_attention", "ScaledDotProductAttention", qh, kh, vh, module=None,
                 is_causal=True, dropout_p=0.1)
        y = b.op(f"{p}.attn.c_proj", "Conv1D", _merge(b, f"{p}.attn", a), out_features=d)
        y = b.op(f"{p}.attn.resid_dropout", "Dropout", y, p=0.1)
        x = b.op(f"{p}.add", "Add", y, x, module=None)
        y = b.op(f"{p}.ln_2", "LayerNorm", x, normalized_shape=d)
        y = b.op(f"{p}.mlp.c_fc", "Conv1D", y, out_features=cfg.ffn)
        y = _gelu_new(b, f"{p}.mlp.act", y)
        y = b.op(f"{p}.mlp.c_proj", "Conv1D", y, out_features=d)
        y = b.op(f"{p}.mlp.dropout", "Dropout", y, p=0.1)
        x = b.op(f"{p}.add:2", "Add", x, y, module=None)
    x = b.op("transformer.ln_f", "LayerNorm", x, normalized_shape=d)
    out = b.op("lm_head", "Linear", x, out_features=cfg.vocab, bias=False, params={"weight": "transformer.wte.weight"})
    return b.build(out)


def _bert_graph(cfg: TransformerConfig, seq: Any) -> Graph:
    d, h, hd = cfg.hidden, cfg.heads, cfg.head_dim
    b = GraphBuilder(cfg.name, cfg.description, [TensorSpec("ids", (seq,), "int64")], twin=cfg.twin)
    words = b.op("embeddings.word_embeddings", "Embedding", "ids", num_embeddings=cfg.vocab, embedding_dim=d)
    # token_type_ids: BertModel's all-zero buffer expanded to the ids' shape (B, L).
    types = b.op("embeddings.token_type_embeddings", "Embedding", "ids", num_embeddings=2, embedding_dim=d)
    x = b.op("embeddings.add", "Add", words, types, module=None)
    pos = b.op("embeddings.position_ids", "GetItem", "ids", module=None, index=0)
    pe = b.op("embeddings.position_embeddings", "Embedding", pos, num_embeddings=cfg.context, embedding_dim=d)
    x = b.op("embeddings.add:2", "Add", x, pe, module=None, inplace=True)
    x = b.op("embeddings.LayerNorm", "LayerNorm", x, normalized_shape=d)
    x = b.op("embeddings.dropout", "Dropout", x, p=0.1)
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        s = f"{p}.attention.self"
        q, k, v = (_heads(b, s, b.op(f"{s}.{t}", "Linear", x, out_features=d), t, h, hd) for t in ("query", "key", "value"))
        # attention_probs_dropout_prob (0.1) goes to SDPA in training: on the CPU the math kernel runs
        a = b.op(f"{s}.scaled_dot_product_attention", "ScaledDotProductAttention", q, k, v, module=None,
                 dropout_p=0.1)
        y = b.op(f"{p}.attention.output.dense", "Linear", _merge(b, s, a), out_features=d)
        y = b.op(f"{p}.attention.output.dropout", "Dropout", y, p=0.1)
        y = b.op(f"{p}.attention.output.add", "Add", y, x, module=None)
        x = b.op(f"{p}.attention.output.LayerNorm", "LayerNorm", y, normalized_shape=d)
        y = b.op(f"{p}.intermediate.dense", "Linear", x, out_features=cfg.ffn)
        y = b.op(f"{p}.intermediate.intermediate_act_fn", "GELU", y)
        y = b.op(f"{p}.output.dense", "Linear", y, out_features=d)
        y = b.op(f"{p}.output.dropout", "Dropout", y, p=0.1)
        y = b.op(f"{p}.output.add", "Add", y, x, module=None)
        x = b.op(f"{p}.output.LayerNorm", "LayerNorm", y, normalized_shape=d)
    first = b.op("pooler.first_token", "GetItem", x, module=None, index=(slice(None), 0))
    pooled = b.op("pooler.dense", "Linear", first, out_features=d)
    pooled = b.op("pooler.activation", "Tanh", pooled)
    return b.build(x, pooled)


def _llama_graph(cfg: TransformerConfig, seq: Any) -> Graph:
    d, h, kv, hd = cfg.hidden, cfg.heads, cfg.kv_heads, cfg.head_dim
    b = GraphBuilder(cfg.name, cfg.description, [TensorSpec("ids", (seq,), "int64")], twin=cfg.twin)
    x = b.op("model.embed_tokens", "Embedding", "ids", num_embeddings=cfg.vocab, embedding_dim=d)
    pos = b.op("model.position_ids", "GetItem", "ids", module=None, index=0)
    cos, sin = b.op("model.rotary_emb", "RotaryTables", pos, outputs=2, head_dim=hd)
    for i in range(cfg.layers):
        p = f"model.layers.{i}"
        s = f"{p}.self_attn"
        y = b.op(f"{p}.input_layernorm", "RMSNorm", x, normalized_shape=d)
        q = _heads(b, s, b.op(f"{s}.q_proj", "Linear", y, out_features=h * hd, bias=False), "q", h, hd)
        k = _heads(b, s, b.op(f"{s}.k_proj", "Linear", y, out_features=kv * hd, bias=False), "k", kv, hd)
        v = _heads(b, s, b.op(f"{s}.v_proj", "Linear", y, out_features=kv * hd, bias=False), "v", kv, hd)
        q = b.op(f"{s}.rotary_q", "RotaryApply", q, cos, sin, module=None)
        k = b.op(f"{s}.rotary_k", "RotaryApply", k, cos, sin, module=None)
        a = b.op(f"{s}.scaled_dot_product_attention", "ScaledDotProductAttention", q, k, v, module=None,
                 is_causal=True, enable_gqa=kv != h)
        y = b.op(f"{s}.o_proj", "Linear", _merge(b, s, a), out_features=d, bias=False)
        x = b.op(f"{p}.add", "Add", x, y, module=None)
        y = b.op(f"{p}.post_attention_layernorm", "RMSNorm", x, normalized_shape=d)
        g = b.op(f"{p}.mlp.gate_proj", "Linear", y, out_features=cfg.ffn, bias=False)
        g = b.op(f"{p}.mlp.act_fn", "SiLU", g)
        u = b.op(f"{p}.mlp.up_proj", "Linear", y, out_features=cfg.ffn, bias=False)
        y = b.op(f"{p}.mlp.down_proj", "Linear", b.op(f"{p}.mlp.mul", "Mul", g, u, module=None), out_features=d,
                 bias=False)
        x = b.op(f"{p}.add:2", "Add", x, y, module=None)
    x = b.op("model.norm", "RMSNorm", x, normalized_shape=d)
    return b.build(b.op("lm_head", "Linear", x, out_features=cfg.vocab, bias=False))


def vit_b_16() -> Graph:
    """torchvision's ``vit_b_16`` on 3x224x224: a 16x16 patch convolution, a class token (a parameter
    expanded to the batch) and 197 learned positions, 12 encoder blocks of ``nn.MultiheadAttention`` (12
    heads of 64, written as torch runs it: the packed input projection, SDPA, the output projection) and a
    3072-wide GELU MLP, the class token's final state into a 1000-way head."""
    d, layers = 768, 12
    b = GraphBuilder("vit-b-16", "", [TensorSpec("x", (3, 224, 224))], twin="torchvision:vit_b_16")
    x = b.op("conv_proj", "Conv2d", "x", out_channels=d, kernel_size=16, stride=16)
    x = b.op("reshape", "Flatten", x, module=None, start_dim=2)
    x = b.op("permute", "Permute", x, module=None, dims=(0, 2, 1))
    slot = b.op("class_token_slot", "GetItem", x, module=None, index=(slice(None), None, 0))  # (B, 1, d)
    cls = b.op("class_token_expand", "ExpandAs", "class_token", slot, module=None)
    x = b.op("cat", "Concat", cls, x, module=None, dim=1)
    x = b.op("encoder.add", "Add", x, "encoder.pos_embedding", module=None)
    x = b.op("encoder.dropout", "Dropout", x, p=0.0)
    for i in range(layers):
        p = f"encoder.layers.encoder_layer_{i}"
        y = b.op(f"{p}.ln_1", "LayerNorm", x, normalized_shape=d)
        a = f"{p}.self_attention"  # nn.MultiheadAttention's fast path, as torch runs it: in_proj, SDPA, out_proj
        qkv = b.op(f"{a}.linear", "Linear", y, module=None, out_features=3 * d,
                   params={"weight": f"{a}.in_proj_weight", "bias": f"{a}.in_proj_bias"})
        qh, kh, vh = _split_heads(b, a, qkv, 12, d // 12)
        y = b.op(f"{a}.scaled_dot_product_attention", "ScaledDotProductAttention", qh, kh, vh, module=None)
        y = b.op(f"{a}.linear:2", "Linear", _merge(b, a, y), module=None, out_features=d,
                 params={"weight": f"{a}.out_proj.weight", "bias": f"{a}.out_proj.bias"})  # F.linear in MHA
        y = b.op(f"{p}.dropout", "Dropout", y, p=0.0)
        x = b.op(f"{p}.add", "Add", y, x, module=None)
        y = b.op(f"{p}.ln_2", "LayerNorm", x, normalized_shape=d)
        y = b.op(f"{p}.mlp.0", "Linear", y, out_features=4 * d)
        y = b.op(f"{p}.mlp.1", "GELU", y)
        y = b.op(f"{p}.mlp.2", "Dropout", y, p=0.0)
        y = b.op(f"{p}.mlp.3", "Linear", y, out_features=d)
        y = b.op(f"{p}.mlp.4", "Dropout", y, p=0.0)
        x = b.op(f"{p}.add:2", "Add", x, y, module=None)
    x = b.op("encoder.ln", "LayerNorm", x, normalized_shape=d)
    x = b.op("class_state", "GetItem", x, module=None, index=(slice(None), 0))
    out = b.op("heads.head", "Linear", x, out_features=1000)
    return Graph("vit-b-16", "", b.inputs, tuple(b.nodes), (out,), twin=b.twin,
                 params=(("class_token", (1, 1, d)), ("encoder.pos_embedding", (1, 197, d))))


_BUILDERS = {"gpt2": _gpt2_graph, "bert": _bert_graph, "llama": _llama_graph}


def build_transformer(cfg: TransformerConfig, seq: Any = None) -> Graph:
    """The graph of ``cfg`` on token ids of length ``seq`` (default ``cfg.default_seq``; may be a symbol).

    Raises :class:`~dlperf.errors.ArgumentError` naming the size for a bad config or sequence length.

    Examples
    --------
    >>> g = build_transformer(with_sizes(CONFIGS["llama"], layers=2, hidden=256, heads=8, kv_heads=2), 128)
    >>> [n.name for n in g.nodes][3:6]
    ['model.layers.0.input_layernorm', 'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.view_q']
    >>> build_transformer(CONFIGS["gpt2"], 0)
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: seq: got 0; give a sequence length >= 1
    """
    check_config(cfg)
    seq = cfg.default_seq if seq is None else seq
    check_seq(cfg, seq)
    check_transformer_size(cfg)  # 100,000 layers: refused with the estimate, not minutes of silence
    return _BUILDERS[cfg.family](cfg, seq)


def transformer_ops(cfg: Any) -> int:
    """The op count of ``cfg``'s graph, from one- and two-layer builds (each layer adds the same ops).

    Examples
    --------
    >>> transformer_ops(with_sizes(CONFIGS["gpt"], layers=100))  # 31 + 99 x 24 (gelu_new: eight ops)
    2407
    """
    one, per = _per_layer(cfg)
    return one + (cfg.layers - 1) * per


def _per_layer(cfg: Any) -> tuple[int, int]:
    """The ops of a one-layer graph and the ops each further layer adds."""
    one = len(_BUILDERS[cfg.family](replace(cfg, layers=1), 1).nodes)
    return one, len(_BUILDERS[cfg.family](replace(cfg, layers=2), 1).nodes) - one


def check_transformer_size(cfg: Any) -> None:
    """Raise ``ValueError`` naming ``layers`` when ``cfg``'s graph would pass
    :data:`~archcalc.ir.graph_size.MAX_OPS` ops.

    Examples
    --------
    >>> check_transformer_size(with_sizes(CONFIGS["gpt"], layers=100000))
    Traceback (most recent call last):
    ...
    dlperf.errors.ArgumentError: layers: got 100000; the graph would hold 2,400,007 ops, over the 20,000 analysed in seconds; give layers <= 833 (every layer is the same: a layer's figures times the layer count give the totals)
    """
    if not isinstance(cfg.layers, int) or cfg.layers <= 64:  # every real model: nothing to estimate
        return
    one, per = _per_layer(cfg)
    ops = one + (cfg.layers - 1) * per
    if ops > MAX_OPS:
        most = 1 + (MAX_OPS - one) // per  # 31 + 832 x 24 = 19,999 ops for gpt
        from dlperf.errors import ArgumentError, ref

        raise ArgumentError("layers", cfg.layers, f"give {ref('layers')} <= {most} (every layer is the same: a layer's "
                            "figures times the layer count give the totals)",
                            what=f"got {cfg.layers}; the graph would hold {ops:,} ops, over the {MAX_OPS:,} "
                                 "analysed in seconds")


def transformer_models() -> list[tuple[str, str, Any]]:
    """``(name, description, builder)`` of every transformer zoo entry (the hook :mod:`archcalc.models.zoo` uses)."""
    out = [(name, cfg.description, (lambda c=cfg: build_transformer(c))) for name, cfg in CONFIGS.items()]
    return out + [("vit-b-16", "ViT-B/16, 3x224x224, torchvision twin (vit_b_16)", vit_b_16)]
