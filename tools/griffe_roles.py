"""Griffe extension for the API pages: Sphinx roles in numpydoc docstrings become Markdown.

The docstrings are written for numpydoc (``:func:`~archcalc.costs.report.report```, ``:mod:`dlperf.cli```,
```` ``code`` ````); mkdocstrings renders Markdown, where a role would show raw. Each role becomes inline
code, linked (an optional autorefs cross-reference) when its target is a dotted name inside the four packages;
``~`` keeps the last component as the text, as Sphinx does. Double backticks become single ones.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?([a-z]+):`(~?)([^`]+)`")
_PACKAGES = ("dlperf.", "archcalc.", "staleness.", "mlcore.")


def _role(match: re.Match) -> str:
    tilde, target = match.group(2), match.group(3).strip()
    text = target.rsplit(".", 1)[-1] if tilde else target
    if match.group(1) in ("func", "meth", "class", "mod", "data", "attr", "obj", "exc") and \
            target.startswith(_PACKAGES) and re.fullmatch(r"[\w.]+", target):
        # optional: a target with no page anchor (a constant without docstring, a lazy re-export) stays code
        return f'<autoref identifier="{target}" optional><code>{text}</code></autoref>'
    return f"`{text}`"


def markdown_roles(text: str) -> str:
    """``text`` with Sphinx roles as Markdown code (and cross-references).

    >>> markdown_roles("see :func:`~archcalc.costs.report.report` and :data:`COMMANDS`, ``x[-1]``")
    'see <autoref identifier="archcalc.costs.report.report" optional><code>report</code></autoref> and `COMMANDS`, `x[-1]`'
    """
    return _ROLE.sub(_role, text).replace("``", "`")


class Roles(griffe.Extension):
    """Rewrite every docstring's roles when griffe reads the object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_roles(obj.docstring.value)
