"""Closed forms of a transformer's totals in the batch ``B`` and sequence length ``L`` (and optionally in
its config sizes), from the same op registry evaluated on sympy symbols.

With ``config=True`` the sizes are symbols too: ``n`` layers, ``H`` heads of size ``k`` (width
``d = H k``; ``k`` even), feed-forward width ``f``, vocabulary ``V``, ``G`` key/value heads (Llama-style) and
``P`` rows of a fixed position table (GPT-2 and BERT; the ``gpt`` model's table has ``L`` rows). The
blocks are identical, so the graph is evaluated with one and with two blocks and the total is
``T(1) + (n - 1) (T(2) - T(1))``: exact for every ``n``.

The forms are polynomials (no floor: every size divides exactly by construction), exact wherever the
config is valid. sympy is imported inside the functions.

Examples
--------
>>> from archcalc.models.zoo_transformers import CONFIGS
>>> cf = closed_form_sequence(CONFIGS["gpt2"])
>>> str(cf.totals["macs"])  # 12 layers x 2 x 768 = 18432 (QK^T and AV); 84,934,656 + 38,597,376 weights
'18432*B*L**2 + 123532032*B*L'
>>> cf.at("macs", L=1024, B=1)
145824153600
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from archcalc.ir.evaluate import evaluate
from archcalc.models.zoo_transformers import TransformerConfig, build_transformer

__all__ = ["SequenceClosedForm", "closed_form_sequence", "FIELDS"]

#: Totals given as closed forms.
FIELDS = ("params", "macs", "activations", "elementwise_ops", "backward_macs")


@dataclass(frozen=True)
class SequenceClosedForm:
    """Totals of a transformer as polynomials.

    Attributes
    ----------
    model : str
    symbols : tuple of str
        The symbols the forms are written in (``B``, ``L``, then the config's where ``config``).
    totals : dict
        Field (:data:`FIELDS`) -> expanded sympy expression.
    config : bool
        Whether the config sizes are symbols.
    """

    model: str
    symbols: tuple[str, ...]
    totals: dict[str, Any]
    config: bool

    def at(self, field: str, **values: int) -> int:
        """The total ``field`` with the symbols replaced by ``values`` (an ``int``)."""
        expr = self.totals[field]
        subs = {s: values[s.name] for s in expr.free_symbols}
        return int(expr.subs(subs))


def _symbols(config: bool, cfg: TransformerConfig) -> tuple[dict[str, Any], TransformerConfig]:
    import sympy

    def sym(name: str, **kw: Any) -> Any:
        return sympy.Symbol(name, integer=True, positive=True, **kw)

    out = {"B": sym("B"), "L": sym("L")}
    if not config:
        return out, cfg
    out.update(n=sym("n"), H=sym("H"), k=sym("k", even=True), f=sym("f"), V=sym("V"))
    sizes: dict[str, Any] = {"hidden": out["H"] * out["k"], "heads": out["H"], "ffn": out["f"], "vocab": out["V"],
                             "kv_heads": out["H"]}
    if cfg.family == "llama":
        out["G"] = sym("G")
        sizes["kv_heads"] = out["G"]
    if cfg.context is not None:
        out["P"] = sym("P")
        sizes["context"] = out["P"]
    return out, replace(cfg, **sizes)


def closed_form_sequence(cfg: TransformerConfig, config: bool = False) -> SequenceClosedForm:
    """Totals of ``cfg`` as polynomials in ``B`` and ``L`` (and, with ``config``, in its sizes)."""
    import sympy

    syms, sized = _symbols(config, cfg)
    b, length = syms["B"], syms["L"]

    def totals(layers: int) -> dict[str, Any]:
        ev = evaluate(build_transformer(replace(sized, layers=layers), length), (length,), b)
        return {f: sympy.expand(ev.total(f)) for f in FIELDS}

    if not config:
        return SequenceClosedForm(cfg.name, ("B", "L"), totals(cfg.layers), False)
    one, two = totals(1), totals(2)
    n = syms["n"]
    forms = {f: sympy.expand(one[f] + (n - 1) * (two[f] - one[f])) for f in FIELDS}
    return SequenceClosedForm(cfg.name, tuple(syms), forms, True)
