"""Exact forward and training counts per token, beside Kaplan et al.'s and Hoffmann et al.'s formulas.

The exact counts come from the op registry on the zoo graph (:mod:`archcalc.models.zoo_transformers`) at
sequence length ``L`` and batch ``B``, divided by the ``B L`` tokens. They are split into parts:

- MACs (FLOPs = 2 x MACs): ``weights`` (the blocks' QKV, projection and feed-forward matrices),
  ``QK^T`` and ``AV`` (over the full ``L x L`` scores, as torch's math path executes them), ``LM head``;
- element-wise operations (not MACs): ``biases``, ``norms``, ``softmax`` (5 per score), ``masking`` (1 per
  score when causal), ``scale`` (1 per score), ``activation functions``, ``residual adds and gating``,
  ``rotary``, ``other`` (dropout in a training graph; 0 at inference).

Kaplan's ``C_forward ~ 2N + 2 n_layer n_ctx d_attn`` counts the weights (``2N``) and ``QK^T`` (their
"mask" row); the difference to the exact count (2 x MACs + element-wise) is the ``AV`` product, the LM
head and the element-wise parts. Hoffmann et al. count every matmul (with the embeddings as a one-hot
matmul, ``2 V d`` per token) and 3 operations per softmax score. Both are defined for the GPT-2
architecture (``d_attn = d_model``, a two-matrix MLP); for the Llama-style model only the exact counts
are given.

Examples
--------
>>> from archcalc.models.zoo_transformers import CONFIGS
>>> pt = per_token(CONFIGS["gpt2"], 1024)
>>> pt.forward_macs, pt.parts["weights"] == 2 * pt.kaplan.n_params  # 145,824,153,600 MACs / 1024 tokens
(Fraction(142406400, 1), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from archcalc.ir.evaluate import Evaluation, Row, evaluate
from archcalc.lm.papers import Hoffmann, Kaplan, hoffmann, kaplan
from archcalc.models.zoo_transformers import TransformerConfig, build_transformer
from archcalc.ops.arith import prod
from archcalc.ops.traits import traits
from dlperf.errors import ArgumentError
from dlperf.results import Result, snake_key
from dlperf.validate import check_int

__all__ = ["PerToken", "per_token", "mac_parts", "elementwise_parts", "MAC_PARTS", "ELEMENTWISE_PARTS"]

MAC_PARTS = ("weights", "QK^T", "AV", "LM head")
ELEMENTWISE_PARTS = ("biases", "norms", "softmax", "masking", "scale", "activation functions",
                     "residual adds and gating", "rotary", "other")

#: The element-wise part of each op family (:attr:`~archcalc.ops.traits.OpTraits.family`) in a zoo transformer:
#: its linear layers' biases, norms, activation functions, rotary embeddings, and residual adds and gates.
_FAMILY_PART = {"linear": "biases", "norms": "norms", "activations": "activation functions", "rotary": "rotary",
                "elementwise": "residual adds and gating"}


def _scores(row: Row) -> Any:
    q, k = row.input_shapes[0], row.input_shapes[1]
    return prod(q[:-1]) * k[-2]


def mac_parts(ev: Evaluation) -> dict[str, Any]:
    """Forward MACs of ``ev`` (whole batch) by part (:data:`MAC_PARTS`)."""
    out: dict[str, Any] = dict.fromkeys(MAC_PARTS, 0)
    for r in ev.rows:
        if traits(r.kind).attention:
            s = _scores(r)
            out["QK^T"] += s * r.input_shapes[0][-1]
            out["AV"] += s * r.input_shapes[2][-1]
        elif r.name == "lm_head":
            out["LM head"] += r.macs
        else:
            out["weights"] += r.macs
    return out


def elementwise_parts(ev: Evaluation) -> dict[str, Any]:
    """Forward element-wise operations of ``ev`` (whole batch) by part (:data:`ELEMENTWISE_PARTS`).

    Every op of a module that runs an activation function counts as that function (transformers' ``gelu_new``:
    one module, eight ops: products, sums, a power and a tanh)."""
    out: dict[str, Any] = dict.fromkeys(ELEMENTWISE_PARTS, 0)
    acting = {r.module for r in ev.rows if r.module is not None and traits(r.kind).family == "activations"}
    for r in ev.rows:
        ops = r.elementwise_ops
        facts = traits(r.kind)
        if facts.attention:
            s = _scores(r)
            hp = dict(r.hparams)
            masked = bool(hp.get("is_causal")) or len(r.input_shapes) == 4
            out["softmax"] += 5 * s
            out["scale"] += s
            out["masking"] += s if masked else 0
            out["other"] += ops - s * (6 + (1 if masked else 0))  # attention dropout (training graphs only)
        elif r.module in acting:
            out["activation functions"] += ops
        else:
            out[_FAMILY_PART.get(facts.family, "other")] += ops
    return out


@dataclass(frozen=True, repr=False)
class PerToken(Result):
    """Counts per token (``Fraction``) of one model at sequence length ``seq`` and batch ``batch``.

    Attributes
    ----------
    model : str
    seq, batch, layers : int
    forward_macs, forward_flops : Fraction
        Exact forward MACs per token and 2 x that.
    forward_elementwise_ops : Fraction
        Exact forward element-wise operations (not MACs) per token.
    training_macs, training_flops : Fraction
        Forward + backward MACs per token (backward: gradients of activations and weights) and 2 x that.
    parts : dict
        FLOPs (2 x MACs) per token by :data:`MAC_PARTS`, then element-wise operations per token by
        :data:`ELEMENTWISE_PARTS` (MAC parts are in FLOPs so every part adds to ``forward_all``).
    kaplan, hoffmann : Kaplan or None, Hoffmann or None
        The papers' formulas at this size (None where they are not defined: the Llama-style model, BERT).
    """

    model: str
    seq: int
    batch: int
    layers: int
    forward_macs: Fraction
    forward_flops: Fraction
    forward_elementwise_ops: Fraction
    training_macs: Fraction
    training_flops: Fraction
    parts: dict[str, Fraction]
    kaplan: Kaplan | None
    hoffmann: Hoffmann | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; ``parts`` keyed in snake_case (``QK^T`` is ``qk_t``, ``LM head`` ``lm_head``)."""
        out = super().to_dict()
        out["parts"] = {snake_key(k): v for k, v in out["parts"].items()}
        return out

    @property
    def forward_all(self) -> Fraction:
        """Exact forward FLOPs plus element-wise operations per token."""
        return self.forward_flops + self.forward_elementwise_ops

    def kaplan_difference(self) -> dict[str, Fraction]:
        """``forward_all - C_forward`` itemised: every part Kaplan's approximation leaves out.

        The exact ``weights`` and ``QK^T`` parts equal Kaplan's ``2N`` and ``2 n_layer n_ctx d_attn``
        (tested), so the difference is the remaining parts; they add up to ``forward_all - c_forward``.
        """
        if self.kaplan is None:
            raise ArgumentError("model", self.model, "Kaplan et al.'s formula is not defined for it; use a GPT "
                                "model (gpt2, gpt)")
        out = {k: v for k, v in self.parts.items() if k not in ("weights", "QK^T")}
        out["weights - 2N"] = self.parts["weights"] - 2 * self.kaplan.n_params
        out["QK^T - 2 n_layer n_ctx d_attn"] = self.parts["QK^T"] - self.kaplan.mask
        return out

    def hoffmann_difference(self) -> dict[str, Fraction]:
        """``forward_all - Hoffmann forward`` per token, itemised (embeddings counted by them, not by torch;
        5 operations per softmax score instead of their 3; the parts they leave out)."""
        if self.hoffmann is None:
            raise ArgumentError("model", self.model, "Hoffmann et al.'s formula is not defined for it; use a "
                                "GPT model (gpt2, gpt)")
        h = self.hoffmann
        n_layer = self.layers
        per = h.per_token
        out = {k: v for k, v in self.parts.items() if k not in MAC_PARTS and k != "softmax"}
        out["embeddings (one-hot matmul in Hoffmann)"] = -per(h.embeddings)
        out["softmax (5 vs 3 per score)"] = self.parts["softmax"] - per(n_layer * h.softmax)
        matmuls = per(n_layer * (h.kqv + h.attention_logits + h.softmax_values + h.final_linear + h.dense) + h.logits)
        out["matmuls - Hoffmann's matmuls"] = sum((self.parts[k] for k in MAC_PARTS), Fraction(0)) - matmuls
        return out


def per_token(cfg: TransformerConfig, seq: int | None = None, batch: int = 1) -> PerToken:
    """Exact per-token counts of ``cfg`` at ``seq`` (default its context) and ``batch``, with the papers'.

    Raises ``ValueError`` naming the flag for a bad size, sequence length or batch.
    """
    check_int("batch", batch)
    seq = cfg.default_seq if seq is None else seq
    graph = build_transformer(cfg, seq)
    ev = evaluate(graph, (seq,), batch)
    tokens = batch * seq
    macs = mac_parts(ev)
    elem = elementwise_parts(ev)
    parts = {k: Fraction(2 * v, tokens) for k, v in macs.items()}
    parts.update({k: Fraction(v, tokens) for k, v in elem.items()})
    fwd = Fraction(ev.total("macs"), tokens)
    train = fwd + Fraction(ev.total("backward_macs"), tokens)
    k = h = None
    if cfg.family == "gpt2":
        k = kaplan(cfg.layers, cfg.hidden, cfg.hidden, cfg.ffn, seq, cfg.vocab)
        h = hoffmann(cfg.layers, seq, cfg.vocab, cfg.hidden, cfg.head_dim, cfg.heads, cfg.ffn)
        # never a silent wrong number: the registry's contractions must be the papers' where both define them
        if (parts["weights"], parts["QK^T"], parts["LM head"]) != (2 * k.n_params, k.mask, k.de_embed):
            raise AssertionError(f"{cfg.name}: exact contractions differ from Kaplan et al.'s rows")
    return PerToken(cfg.name, seq, batch, cfg.layers, fwd, 2 * fwd, Fraction(ev.total("elementwise_ops"), tokens), train,
                    2 * train, parts, k, h)
