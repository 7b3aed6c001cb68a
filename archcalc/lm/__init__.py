"""Language-model analyses on the transformer zoo: the papers' FLOP formulas (:mod:`archcalc.lm.papers`),
exact per-token counts beside them (:mod:`archcalc.lm.per_token`), KV cache and prefill / decode
(:mod:`archcalc.lm.inference`), closed forms in B, L and the config sizes (:mod:`archcalc.lm.closed`),
and their text / JSON (:mod:`archcalc.lm.render`). Nothing here imports torch; sympy only for closed forms.
"""
