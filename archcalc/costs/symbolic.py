"""Symbolic mode: the formula registry evaluated on sympy symbols.

:func:`closed_form` evaluates a whole network on an input ``C x H x W`` and batch ``B`` with ``H``, ``W``
and ``B`` symbols. Its totals are exact for every input the network accepts (they keep the ``floor`` /
``ceiling`` of strided layers). Each total is also given as a polynomial in ``H``, ``W``, ``B`` that is
exact under a stated condition, ``H = r (mod m)`` and ``W = r' (mod m')``: the smallest modulus, found
from the floor terms themselves, for which every floor resolves (for VGG 224 = 32 for the five pools x 7
for the adaptive pooling to 7x7 to tile its input).

:func:`formula_sheet` gives the per-layer formulas of one registry kind on symbols (``archcalc formula``).
sympy is imported inside the functions.

Examples
--------
>>> from archcalc.models.zoo import build
>>> cf = closed_form(build("vgg11"))
>>> cf.condition
'H = 0 (mod 224), W = 0 (mod 224), H >= 32, W >= 32'
>>> str(cf.simplified["macs"])
'149184*B*H*W + 123633664*B'
>>> cf.at("macs", 224, 224, 1) == 7609090048
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.ir.evaluate import evaluate
from archcalc.ir.graph import Graph
from archcalc.ops.registry import formula
from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = ["ClosedForm", "closed_form", "merge_nested_floors", "FormulaSheet", "formula_sheet", "SHEET_FIELDS", "TOTALS", "symbols"]

#: Totals given as closed forms (the names of :meth:`archcalc.ir.evaluate.Evaluation.total`).
TOTALS = ("params", "macs", "activations", "elementwise_ops", "backward_macs")


def symbols() -> tuple[Any, Any, Any]:
    """The positive-integer sympy symbols ``H``, ``W``, ``B`` every closed form is written in."""
    import sympy

    return sympy.symbols("H W B", integer=True, positive=True)


@dataclass(frozen=True, repr=False)
class ClosedForm(Result):
    """Totals of a network as closed forms in ``H``, ``W`` and ``B``.

    Attributes
    ----------
    network : str
        Network name.
    channels : int
        Input channels ``C`` (fixed; the closed forms are in ``H``, ``W``, ``B``).
    totals : dict
        Field -> sympy expression with ``floor`` / ``ceiling``: exact for every accepted input.
    simplified : dict
        Field -> polynomial in ``H``, ``W``, ``B``: exact where ``condition`` holds.
    modulus, residue : tuple of int
        ``(m_H, m_W)`` and ``(r_H, r_W)``: the simplified forms hold for ``H = r_H (mod m_H)`` and likewise W.
    min_size : int
        The smallest square input the network accepts (H and W must be at least this).
    condition : str
        The validity condition of ``simplified`` in words.
    """

    network: str
    channels: int
    totals: dict[str, Any]
    simplified: dict[str, Any]
    modulus: tuple[int, int]
    residue: tuple[int, int]
    min_size: int
    condition: str

    def holds(self, h: int, w: int) -> bool:
        """Whether ``H = h``, ``W = w`` satisfy :attr:`condition` (where ``simplified`` is exact)."""
        return (
            h % self.modulus[0] == self.residue[0]
            and w % self.modulus[1] == self.residue[1]
            and min(h, w) >= self.min_size
        )

    def at(self, field: str, h: int, w: int, b: int = 1, simplified: bool = False) -> int:
        """The total ``field`` at ``H = h``, ``W = w``, ``B = b`` as an exact int."""
        hs, ws, bs = symbols()
        expr = (self.simplified if simplified else self.totals)[field]
        value = expr.subs({hs: h, ws: w, bs: b})
        if not value.is_integer:
            raise ValueError(f"{field} at H={h}, W={w}, B={b} is {value}, not an integer; check the condition")
        return int(value)


def _floor_atoms(expr: Any) -> list[Any]:
    import sympy

    return [a for a in expr.atoms(sympy.floor, sympy.ceiling)]


def merge_nested_floors(expr: Any) -> Any:
    """``expr`` with nested floors (and nested ceilings) merged into one: ``floor(floor(H/2)/2) -> floor(H/4)``.

    The rule: for a real ``y``, an integer ``k`` and an integer ``n >= 1``,
    ``floor((floor(y) + k)/n) = floor((y + k)/n)`` and ``ceiling((ceiling(y) + k)/n) = ceiling((y + k)/n)``
    (``m = floor(y) + k`` is the largest integer ``<= y + k``, and ``floor(m/n) = q`` iff ``q*n <= m``, iff
    ``q*n <= y + k``). sympy leaves such nests alone; a chain of strided layers makes one per layer. A floor
    whose argument is not ``(floor(y) + k)/n`` in that form is kept as it is.

    Examples
    --------
    >>> import sympy
    >>> H = sympy.Symbol("H", integer=True, positive=True)
    >>> merge_nested_floors(sympy.floor(sympy.floor(H/2 - sympy.Rational(1, 2))/2) + 1)
    floor(H/4 - 1/4) + 1
    >>> merge_nested_floors(sympy.ceiling((sympy.ceiling(H/3) + 1)/2))
    ceiling(H/6 + 1/2)
    """
    import sympy

    def merge(outer: Any) -> Any:
        kind = type(outer)
        arg = sympy.expand(outer.args[0])
        inner = [a for a in arg.atoms(kind) if not any(a in b.args[0].atoms(kind) for b in arg.atoms(kind) if b != a)]
        if len(inner) != 1:
            return outer
        (f,) = inner
        d = sympy.Dummy("d")
        e = sympy.expand(arg.subs(f, d))
        try:
            if sympy.Poly(e, d).degree() != 1:
                return outer
        except sympy.PolynomialError:
            return outer
        a = e.coeff(d, 1)
        rest = sympy.expand(e - a * d)
        if not (a.is_Rational and a > 0 and a.p == 1 and d not in rest.free_symbols):
            return outer
        n = a.q
        if (rest * n).is_integer is not True:
            return outer
        return kind(sympy.expand((f.args[0] + rest * n) / n))

    previous = None
    while previous != expr:  # innermost first: each pass merges one level of every nest
        previous = expr
        expr = expr.replace(lambda x: isinstance(x, sympy.floor | sympy.ceiling), merge)
    return expr


def _resolve_modulus(exprs: list[Any], sym: Any, default: int) -> tuple[int, int]:
    """Smallest modulus m (grown from the innermost floors' coefficients) making ``sym = m*k + r`` floor-free.

    ``r`` is ``default mod m`` so the default input satisfies the condition.
    """
    import sympy

    k = sympy.Symbol("k", integer=True, nonnegative=True)
    m = 1
    for _ in range(64):
        r = default % m
        subs = [e.subs(sym, m * k + r) for e in exprs]
        innermost = []
        for e in subs:
            for atom in _floor_atoms(e):
                if sym in atom.free_symbols or k not in atom.free_symbols:
                    continue
                if not _floor_atoms(atom.args[0]):
                    innermost.append(atom)
        if not innermost:
            if any(k in a.free_symbols for e in subs for a in _floor_atoms(e)):
                raise ValueError(f"could not resolve the floor terms in {sym}; use the floor form")
            return m, r
        factor = 1
        for atom in innermost:
            coeff = sympy.Rational(sympy.Poly(atom.args[0], k).coeff_monomial(k))
            factor = sympy.ilcm(factor, coeff.q)
        if factor == 1:  # coefficient integral but a constant fraction left: cannot happen with integer k
            raise ValueError(f"could not resolve the floor terms in {sym}; use the floor form")
        m *= int(factor)
    raise ValueError(f"modulus for {sym} grew too large; use the floor form")


def closed_form(network: Graph, channels: int | None = None, convention: str | None = None) -> ClosedForm:
    """Evaluate ``network`` on ``C x H x W`` inputs, batch ``B``, as closed forms.

    Parameters
    ----------
    network : Graph
        A zoo network or one built by hand, on a ``C x H x W`` input.
    channels : int, optional
        Input channels ``C``; defaults to the network's own.
    convention : str, optional
        A name in :data:`archcalc.check.conventions.CONVENTIONS`: adds its totals as ``compute`` (and
        ``backward_compute`` where it counts a backward pass), e.g. ``"fvcore"`` or ``"torch"``.

    Returns
    -------
    ClosedForm
        Floor forms exact for every accepted input, and simplified polynomials with their condition.

    Examples
    --------
    >>> from archcalc.models.zoo import build
    >>> cf = closed_form(build("resnet18"))
    >>> cf.condition
    'H = 0 (mod 32), W = 0 (mod 32), H >= 1, W >= 1'
    >>> cf.at("params", 64, 96)
    11689512
    """
    from dlperf.validate import check_type
    check_type("network", network, Graph, "an archcalc Graph (archcalc.models.zoo.build, resolve_model or from_torch)")
    import sympy

    from archcalc.ir.evaluate import _smallest_square

    if len(network.default_input) != 3:
        raise ArgumentError("network", network.name, "closed forms in H, W, B are for image models (a C x H x W "
                            "input)")
    c = network.default_input[0] if channels is None else channels
    if not isinstance(c, int) or c < 1:
        raise ArgumentError("channels", c, "give an integer >= 1")
    hs, ws, bs = symbols()
    ev = evaluate(network, (c, hs, ws), bs)
    totals = {f: merge_nested_floors(sympy.sympify(ev.total(f))) for f in TOTALS}
    if convention is not None:
        from archcalc.check.conventions import get_convention

        conv = get_convention(convention)
        totals["compute"] = merge_nested_floors(sympy.sympify(sum((conv.forward(r) for r in ev.rows), 0)))
        if conv.backward is not None:
            totals["backward_compute"] = merge_nested_floors(sympy.sympify(sum((conv.backward(r) for r in ev.rows), 0)))
    exprs = list(totals.values())
    mh, rh = _resolve_modulus(exprs, hs, network.default_input[1])
    mw, rw = _resolve_modulus(exprs, ws, network.default_input[2])
    kh, kw = sympy.symbols("k_h k_w", integer=True, nonnegative=True)
    simplified = {}
    for f, e in totals.items():
        poly = sympy.expand(e.subs({hs: mh * kh + rh, ws: mw * kw + rw}))
        simplified[f] = sympy.expand(poly.subs({kh: (hs - rh) / mh, kw: (ws - rw) / mw}))
    smallest = _smallest_square(network, c) or 1
    cond = f"H = {rh} (mod {mh}), W = {rw} (mod {mw}), H >= {smallest}, W >= {smallest}"
    return ClosedForm(network.name, c, totals, simplified, (mh, mw), (rh, rw), smallest, cond)


# ----------------------------------------------------------------------------------------------------------
# Per-kind formula sheets


#: Fields of a formula sheet, in print order.
SHEET_FIELDS = ("output_shape", "params", "macs", "activations", "elementwise_ops", "backward_macs")


@dataclass(frozen=True, repr=False)
class FormulaSheet(Result):
    """The formulas of one layer kind on symbols.

    ``inputs`` are the symbolic input shapes (batch ``B`` first), ``hparams`` the symbolic hyper-parameters,
    ``formulas`` maps each of :data:`SHEET_FIELDS` to a sympy expression (``output_shape`` to a tuple) and
    ``condition`` says where the formulas hold.
    """

    kind: str
    inputs: tuple[tuple[Any, ...], ...]
    hparams: tuple[tuple[str, Any], ...]
    formulas: dict[str, Any]
    condition: str

    def text(self, latex: bool = False) -> list[tuple[str, str]]:
        """``(field, formula)`` pairs as sympy text or LaTeX."""
        import sympy

        show = sympy.latex if latex else sympy.sstr
        out = [("input", " , ".join(_shape_text(s, show, latex) for s in self.inputs))]
        out += [(k, show(v)) for k, v in self.hparams]
        for f in SHEET_FIELDS:
            v = self.formulas[f]
            out.append((f, _shape_text(v, show, latex) if f == "output_shape" else show(v)))
        return out


def _shape_text(shape: tuple[Any, ...], show: Any, latex: bool) -> str:
    sep = r" \times " if latex else " x "
    left, right = (r"\left(", r"\right)") if latex else ("(", ")")
    return sep.join(show(s) if getattr(s, "is_Atom", True) or s.is_Mul else f"{left}{show(s)}{right}" for s in shape)


def _sheet_spec(kind: str) -> tuple[list[tuple[Any, ...]], dict[str, Any], str]:
    from archcalc.ops.sheets import sheet_spec

    return sheet_spec(kind)


def formula_sheet(kind: str) -> FormulaSheet:
    """Formulas of registry ``kind`` on symbols: output size, params, MACs, activations, backward MACs.

    Backward MACs are the weight gradient plus the input gradient (the input needs one).

    Examples
    --------
    >>> sheet = formula_sheet("Linear")
    >>> str(sheet.formulas["macs"]), str(sheet.formulas["backward_macs"])
    ('B*F*N', '2*B*F*N')
    """
    inputs, hparams, condition = _sheet_spec(kind)
    import sympy

    cost = formula(kind)(inputs, **hparams)
    grads = cost.input_grad_macs
    formulas = {
        "output_shape": tuple(cost.output_shape),
        "params": sympy.sympify(cost.params),
        "macs": sympy.sympify(cost.macs),
        "activations": sympy.sympify(cost.activations),
        "elementwise_ops": sympy.sympify(cost.elementwise_ops),
        "backward_macs": sympy.sympify((grads[0] if grads else 0) + cost.backward_weight_macs
                                       + sum((g for group, g in cost.grouped_grad_macs if 0 in group), 0)),
    }
    return FormulaSheet(kind, tuple(tuple(s) for s in inputs), tuple(hparams.items()), formulas, condition)
