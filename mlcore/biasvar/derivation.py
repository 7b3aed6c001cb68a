"""Symbolic derivation of E[(y - g(x))^2] = bias^2 + variance + sigma^2 with sympy.

At a fixed test point x, write the target as ``y = f + eps`` and the fitted model (a random function of
the training set D) as ``g = gbar + delta`` with ``gbar = E_D[g]``, so ``E_D[delta] = 0`` and
``E_D[delta^2] = Var_D[g]``. Assumptions: ``E[eps] = 0``, ``E[eps^2] = sigma^2`` and eps independent
of D (the test noise is fresh), so ``E[eps^a delta^b] = E[eps^a] E[delta^b]``. Expanding the square
and taking expectations monomial by monomial leaves ``(f - gbar)^2 + Var_D[g] + sigma^2``; sympy checks
that the difference simplifies to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlperf.results import Result

__all__ = ["DerivationStep", "BiasVarianceDerivation", "derive_bias_variance"]


@dataclass(frozen=True)
class DerivationStep:
    """One line of the derivation: what was done, and the resulting sympy expression."""

    title: str
    expression: object  # a sympy expression or Eq
    latex_title: str = ""


@dataclass(frozen=True, repr=False)
class BiasVarianceDerivation(Result):
    """The derivation's steps, its assumptions, and whether sympy verified the identity."""

    assumptions: tuple[str, ...]
    steps: tuple[DerivationStep, ...]
    result: object  # sympy Eq: E[(y - g)^2] == bias^2 + variance + sigma^2
    verified: bool

    def to_text(self) -> str:
        """Plain-text rendering (sympy ``sstr``), one step per line."""
        import sympy as sp

        lines = ["Bias-variance decomposition of the expected squared error at a test point x", ""]
        lines += ["Assumptions:"] + [f"  - {a}" for a in self.assumptions] + [""]
        for i, step in enumerate(self.steps, 1):
            lines.append(f"{i}. {step.title}")
            lines.append(f"   {sp.sstr(step.expression)}")
        lines += ["", f"Result: {sp.sstr(self.result)}", f"Verified by sympy: {self.verified}"]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """LaTeX rendering: an ``align*`` block of the steps."""
        import sympy as sp

        names = {
            sp.Symbol("Var_D[g]", nonnegative=True): r"\operatorname{Var}_D[g]",
            sp.Symbol("E[(y - g)**2]"): r"\mathbb{E}\left[(y - g)^2\right]",
            sp.Symbol("epsilon", real=True): r"\varepsilon",
        }
        rows = [
            rf"&\text{{{s.latex_title or s.title}}}: && {sp.latex(s.expression, symbol_names=names)} \\"
            for s in self.steps
        ]
        body = "\n".join(rows)
        return "\\begin{align*}\n" + body + "\n\\end{align*}\n" + f"% verified by sympy: {self.verified}\n"


def derive_bias_variance() -> BiasVarianceDerivation:
    """Derive the decomposition symbolically and check it.

    >>> d = derive_bias_variance()
    >>> d.verified
    True
    >>> print(d.result)
    Eq(E[(y - g)**2], Var_D[g] + sigma**2 + (f - gbar)**2)
    """
    import sympy as sp

    f, gbar = sp.symbols("f gbar", real=True)
    sigma, var = sp.symbols("sigma Var_D[g]", nonnegative=True)
    eps, delta = sp.symbols("epsilon delta", real=True)
    g, y = sp.symbols("g y", real=True)
    e_sq = sp.Symbol("E[(y - g)**2]")

    moments_eps = {0: sp.Integer(1), 1: sp.Integer(0), 2: sigma**2}  # zero mean, variance sigma^2
    moments_delta = {0: sp.Integer(1), 1: sp.Integer(0), 2: var}  # delta = g - E_D[g]

    def expectation(expr):
        poly = sp.Poly(sp.expand(expr), eps, delta)
        # independence of the test noise and the training set: E[eps^a delta^b] = E[eps^a] E[delta^b]
        return sp.expand(sum(c * moments_eps[a] * moments_delta[b] for (a, b), c in poly.terms()))

    squared = (y - g) ** 2
    substituted = squared.subs({y: f + eps, g: gbar + delta})
    expanded = sp.expand(substituted)
    expected = expectation(substituted)
    bias_sq = (f - gbar) ** 2
    target = bias_sq + var + sigma**2
    verified = sp.simplify(expected - target) == 0
    steps = (
        DerivationStep("squared error at x", squared),
        DerivationStep(
            "write y = f + epsilon and g = gbar + delta, gbar = E_D[g]",
            substituted,
            r"substitute $y = f + \varepsilon$, $g = \bar g + \delta$",
        ),
        DerivationStep("expand", expanded),
        DerivationStep(
            "take expectations: E[eps] = E[delta] = 0, E[eps^2] = sigma^2, E[delta^2] = Var_D[g], "
            "E[eps delta] = E[eps] E[delta] = 0",
            expected,
            r"expectations, $\varepsilon \perp D$",
        ),
        DerivationStep(
            "collect: bias^2 = (f - gbar)^2",
            sp.Eq(e_sq, target, evaluate=False),
            r"collect, bias$^2 = (f - \bar g)^2$",
        ),
    )
    assumptions = (
        "y = f(x) + epsilon with E[epsilon] = 0 and E[epsilon^2] = sigma^2",
        "epsilon is independent of the training set D (fresh test noise)",
        "g = g_D(x) is the model fitted on D; gbar = E_D[g], Var_D[g] = E_D[(g - gbar)^2]",
        "expectations are over D and epsilon at a fixed test point x",
    )
    return BiasVarianceDerivation(assumptions, steps, sp.Eq(e_sq, target, evaluate=False), bool(verified))
