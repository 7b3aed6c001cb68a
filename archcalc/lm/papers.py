"""The published transformer FLOP and memory formulas, typed as written, in exact rational arithmetic.

- Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1: parameters and forward FLOPs per
  token by part; ``N = 2 d_model n_layer (2 d_attn + d_ff)`` (non-embedding parameters),
  ``C_forward ~ 2N + 2 n_layer n_ctx d_attn``, training ``~ 6N`` per token.
- Hoffmann et al. 2022 ("Chinchilla"), Appendix F: forward FLOPs of one sequence of length ``L``
  (embeddings, per-layer attention and dense blocks, logits); backward = 2 x forward.
- The KV cache: ``2 n_layer n_kv_heads d_head L B`` elements.

Everything is a :class:`fractions.Fraction` (per-token values need not be integers).

Examples
--------
>>> k = kaplan(n_layer=12, d_model=768, d_attn=768, d_ff=3072, n_ctx=1024, n_vocab=50257)
>>> k.n_params, k.c_forward  # N = 2*768*12*(2*768 + 3072); 2N + 2*12*1024*768
(84934656, Fraction(188743680, 1))
>>> hoffmann(n_layer=12, seq=1024, vocab=50257, d_model=768, key_size=64, heads=12, ffn=3072).total_forward
Fraction(371148718080, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["Kaplan", "kaplan", "Hoffmann", "hoffmann", "kv_cache_elements"]


@dataclass(frozen=True)
class Kaplan:
    """Kaplan et al. (2020) Table 1 at one size (FLOPs per token, forward).

    Attributes
    ----------
    n_params : int
        ``N = 2 d_model n_layer (2 d_attn + d_ff)``: non-embedding parameters.
    embed, qkv, mask, project, feedforward, de_embed : Fraction
        Forward FLOPs per token of each row of Table 1.
    c_forward : Fraction
        ``2N + 2 n_layer n_ctx d_attn`` (their approximation of the forward pass).
    c_train : Fraction
        ``6N`` (training: backward = 2 x forward, the context term dropped).
    table_forward : Fraction
        Sum of every row of the table (embed and de-embed included).
    """

    n_params: int
    embed: Fraction
    qkv: Fraction
    mask: Fraction
    project: Fraction
    feedforward: Fraction
    de_embed: Fraction
    c_forward: Fraction
    c_train: Fraction

    @property
    def table_forward(self) -> Fraction:
        return self.embed + self.qkv + self.mask + self.project + self.feedforward + self.de_embed


def kaplan(n_layer: int, d_model: int, d_attn: int, d_ff: int, n_ctx: int, n_vocab: int) -> Kaplan:
    """Kaplan et al. Table 1 (``d_attn = d_model`` for GPT-2)."""
    n = 2 * d_model * n_layer * (2 * d_attn + d_ff)
    return Kaplan(
        n_params=n,
        embed=Fraction(4 * d_model),
        qkv=Fraction(2 * n_layer * d_model * 3 * d_attn),
        mask=Fraction(2 * n_layer * n_ctx * d_attn),
        project=Fraction(2 * n_layer * d_attn * d_model),
        feedforward=Fraction(2 * n_layer * 2 * d_model * d_ff),
        de_embed=Fraction(2 * d_model * n_vocab),
        c_forward=Fraction(2 * n + 2 * n_layer * n_ctx * d_attn),
        c_train=Fraction(6 * n),
    )


@dataclass(frozen=True)
class Hoffmann:
    """Hoffmann et al. (2022) Appendix F: forward FLOPs of one sequence, by part.

    Attributes
    ----------
    embeddings, logits : Fraction
        ``2 L V d`` each.
    kqv, attention_logits, softmax, softmax_values, final_linear, dense : Fraction
        Per layer: ``2*3*L*d*(k*H)``, ``2*L*L*(k*H)``, ``3*H*L*L``, ``2*L*L*(k*H)``, ``2*L*(k*H)*d``,
        ``2*L*(d*f + d*f)``.
    total_forward : Fraction
        ``embeddings + n_layer (attention + dense) + logits``.
    total_backward, total_training : Fraction
        ``2 x forward`` and ``3 x forward``.
    seq : int
    """

    seq: int
    embeddings: Fraction
    kqv: Fraction
    attention_logits: Fraction
    softmax: Fraction
    softmax_values: Fraction
    final_linear: Fraction
    dense: Fraction
    logits: Fraction
    total_forward: Fraction

    @property
    def total_backward(self) -> Fraction:
        return 2 * self.total_forward

    @property
    def total_training(self) -> Fraction:
        return 3 * self.total_forward

    def per_token(self, value: Fraction) -> Fraction:
        """``value / L``."""
        return Fraction(value, self.seq)


def hoffmann(n_layer: int, seq: int, vocab: int, d_model: int, key_size: int, heads: int, ffn: int) -> Hoffmann:
    """Hoffmann et al. Appendix F for one sequence of ``seq`` tokens (``L``, ``V``, ``d``, ``k``, ``H``, ``f``)."""
    L, V, d, k, H, f = seq, vocab, d_model, key_size, heads, ffn
    emb = Fraction(2 * L * V * d)
    kqv = Fraction(2 * 3 * L * d * (k * H))
    att_logits = Fraction(2 * L * L * (k * H))
    soft = Fraction(3 * H * L * L)
    sv = Fraction(2 * L * L * (k * H))
    final = Fraction(2 * L * (k * H) * d)
    dense = Fraction(2 * L * (d * f + d * f))
    logits = Fraction(2 * L * d * V)
    total = emb + n_layer * (kqv + att_logits + soft + sv + final + dense) + logits
    return Hoffmann(L, emb, kqv, att_logits, soft, sv, final, dense, logits, total)


def kv_cache_elements(n_layer: Any, kv_heads: Any, head_dim: Any, seq: Any, batch: Any) -> Any:
    """Elements of the key and value caches: ``2 n_layer n_kv_heads d_head L B`` (times bytes per element)."""
    return 2 * n_layer * kv_heads * head_dim * seq * batch
