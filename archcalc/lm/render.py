"""Text and JSON of the language-model analyses (pure functions of their result objects).

Examples
--------
>>> exact(Fraction(7, 2)), exact(Fraction(285696, 1))
('7/2 (3.5)', '285,696')
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["exact", "snake_key", "per_token_text", "per_token_json", "inference_text", "inference_json", "closed_text",
           "closed_json"]


def exact(value: Any) -> str:
    """An exact number: an integer with thousands separators, or ``p/q (decimal)``."""
    v = Fraction(value)
    if v.denominator == 1:
        return f"{v.numerator:,}"
    return f"{v.numerator}/{v.denominator} ({float(v):,.6g})"


def _json_num(value: Any) -> Any:
    v = Fraction(value)
    return v.numerator if v.denominator == 1 else str(v)


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(a) for a, _ in rows)
    return [f"  {a.ljust(width)}  {b}" for a, b in rows]


def per_token_text(pt: Any) -> str:
    """The ``--per-token`` text: exact counts, the papers' formulas and the itemised differences."""
    lines = [f"{pt.model}: per token at L = {pt.seq}, batch {pt.batch} (exact: archcalc's op registry)"]
    lines += _table([
        ("forward MACs", exact(pt.forward_macs)),
        ("forward FLOPs (2 x MACs)", exact(pt.forward_flops)),
        ("forward element-wise ops", exact(pt.forward_elementwise_ops)),
        ("forward FLOPs + element-wise", exact(pt.forward_all)),
        ("training MACs (fwd + bwd)", exact(pt.training_macs)),
        ("training FLOPs (2 x MACs)", exact(pt.training_flops)),
    ])
    lines.append("exact parts (FLOPs for contractions, operations for element-wise):")
    lines += _table([(k, exact(v)) for k, v in pt.parts.items()])
    if pt.kaplan is not None:
        k = pt.kaplan
        lines.append("Kaplan et al. 2020, Table 1 (d_attn = d_model):")
        lines += _table([
            ("N (non-embedding params)", exact(k.n_params)),
            ("C_forward = 2N + 2 n_layer n_ctx d_attn", exact(k.c_forward)),
            ("training 6N", exact(k.c_train)),
            ("table sum (embed .. de-embed)", exact(k.table_forward)),
        ])
        lines.append("exact (FLOPs + element-wise) - C_forward, itemised:")
        diff = pt.kaplan_difference()
        lines += _table([(n, exact(v)) for n, v in diff.items()] + [("total", exact(pt.forward_all - k.c_forward))])
    if pt.hoffmann is not None:
        h = pt.hoffmann
        lines.append("Hoffmann et al. 2022, Appendix F (per token = per sequence / L):")
        lines += _table([
            ("forward", exact(h.per_token(h.total_forward))),
            ("training (3 x forward)", exact(h.per_token(h.total_training))),
        ])
        lines.append("exact (FLOPs + element-wise) - Hoffmann forward, itemised:")
        diff = pt.hoffmann_difference()
        lines += _table([(n, exact(v)) for n, v in diff.items()]
                        + [("total", exact(pt.forward_all - h.per_token(h.total_forward)))])
    if pt.kaplan is None:
        lines.append("Kaplan's and Hoffmann's formulas assume the GPT-2 block (two-matrix MLP, d_attn = d_model, "
                     "a decoder); only the exact counts are given for this model")
    return "\n".join(lines) + "\n"


def snake_key(label: str) -> str:
    """A part's label as a snake_case JSON key.

    >>> snake_key("QK^T"), snake_key("residual adds and gating")
    ('qk_t', 'residual_adds_and_gating')
    """
    import re

    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _itemised(diff: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"item": k, "value": _json_num(v)} for k, v in diff.items()]


def per_token_json(pt: Any) -> dict[str, Any]:
    """JSON-ready dict of a :class:`~archcalc.lm.per_token.PerToken` (fractions as ``"p/q"`` strings).

    ``parts`` is keyed by the part's label in snake_case (``QK^T`` is ``qk_t``); each ``difference`` is a
    list of ``{"item": label as printed, "value": number}`` (docs/json.md).
    """
    out: dict[str, Any] = {
        "model": pt.model, "seq": pt.seq, "batch": pt.batch,
        "forward_macs": _json_num(pt.forward_macs), "forward_flops": _json_num(pt.forward_flops),
        "forward_elementwise_ops": _json_num(pt.forward_elementwise_ops),
        "training_macs": _json_num(pt.training_macs), "training_flops": _json_num(pt.training_flops),
        "parts": {snake_key(k): _json_num(v) for k, v in pt.parts.items()},
    }
    if pt.kaplan is not None:
        out["kaplan"] = {"n_params": pt.kaplan.n_params, "c_forward": _json_num(pt.kaplan.c_forward),
                         "c_train": _json_num(pt.kaplan.c_train),
                         "difference": _itemised(pt.kaplan_difference())}
    if pt.hoffmann is not None:
        h = pt.hoffmann
        out["hoffmann"] = {"forward": _json_num(h.per_token(h.total_forward)),
                           "training": _json_num(h.per_token(h.total_training)),
                           "difference": _itemised(pt.hoffmann_difference())}
    return out


def inference_text(kv: Any, pd: Any) -> str:
    """The ``--kv-cache`` text: cache bytes per dtype, then prefill and decode MACs, bytes and intensity.

    The phases are columns and the quantities rows, so the text fits 80 columns whatever the model's size.
    """
    lines = [f"{kv.model}: KV cache at L = {kv.seq}, batch {kv.batch}:",
             f"  2 x {kv.layers} layers x {kv.kv_heads} kv heads x {kv.head_dim} x L x B = {kv.elements:,} elements"]
    lines += _table([(d, f"{b:,} B ({b / 2**20:,.1f} MiB)") for d, b in kv.bytes_by_dtype.items()])
    lines.append(f"prefill of {pd.seq} tokens and decode of token {pd.seq} ({pd.seq - 1} cached),")
    lines.append(f"{pd.dtype} weights and cache, whole batch:")
    phases = (pd.prefill, pd.decode)
    rows = [("", [p.name for p in phases])]
    rows += [(title, [f"{getattr(p, attr):,}" for p in phases]) for title, attr in (
        ("MACs", "macs"), ("FLOPs", "flops"), ("weights B", "weight_bytes"), ("KV read B", "kv_read_bytes"),
        ("KV write B", "kv_write_bytes"))]
    rows.append(("FLOPs/B", [f"{float(p.intensity):,.2f}" for p in phases]))
    first = max(len(title) for title, _ in rows)
    widths = [max(len(cells[i]) for _, cells in rows) for i in range(len(phases))]
    lines += ["  " + title.ljust(first) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
              for title, cells in rows]
    return "\n".join(lines) + "\n"


def inference_json(kv: Any, pd: Any) -> dict[str, Any]:
    """JSON-ready dict of the KV cache and the prefill / decode phases."""
    def phase(p: Any) -> dict[str, Any]:
        return {"tokens": p.tokens, "macs": p.macs, "flops": p.flops, "weight_bytes": p.weight_bytes,
                "kv_read_bytes": p.kv_read_bytes, "kv_write_bytes": p.kv_write_bytes,
                "bytes_moved": p.bytes_moved, "flops_per_byte": _json_num(p.intensity)}

    return {"model": kv.model, "seq": kv.seq, "batch": kv.batch,
            "kv_cache": {"elements": kv.elements, "bytes": dict(kv.bytes_by_dtype)},
            "dtype": pd.dtype, "prefill": phase(pd.prefill), "decode": phase(pd.decode)}


def _legend(cf: Any, cfg: Any) -> str:
    names = {"B": "batch", "L": "sequence length", "n": "layers", "H": "heads", "k": "head size (d = H k)",
             "f": "feed-forward width", "V": "vocabulary", "G": "key/value heads", "P": "position-table rows"}
    return ", ".join(f"{s} {names[s]}" for s in cf.symbols)


def closed_text(cf: Any, cfg: Any, at: dict[str, int]) -> str:
    """Closed forms as text, with their values at the given ``B`` and ``L`` (and the config's sizes)."""
    import sympy

    lines = [f"{cf.model}: totals as closed forms ({_legend(cf, cfg)})"]
    lines += [f"  {f} = {sympy.sstr(e)}" for f, e in cf.totals.items()]
    values = _values(cf, cfg, at)
    lines.append("at " + ", ".join(f"{k}={v}" for k, v in values.items()) + ":")
    lines += _table([(f, f"{cf.at(f, **values):,}") for f in cf.totals])
    return "\n".join(lines) + "\n"


def _values(cf: Any, cfg: Any, at: dict[str, int]) -> dict[str, int]:
    sizes = {"n": cfg.layers, "H": cfg.heads, "k": cfg.head_dim, "f": cfg.ffn, "V": cfg.vocab, "G": cfg.kv_heads,
             "P": cfg.context}
    return {s: at[s] if s in at else sizes[s] for s in cf.symbols}


def closed_json(cf: Any, cfg: Any, at: dict[str, int]) -> dict[str, Any]:
    """JSON-ready closed forms (strings ``sympy.sympify`` parses) and their values."""
    values = _values(cf, cfg, at)
    return {"model": cf.model, "symbols": list(cf.symbols), "totals": {f: str(e) for f, e in cf.totals.items()},
            "at": {"values": values, "totals": {f: cf.at(f, **values) for f in cf.totals}}}
