"""MkDocs hook: one API reference page per module of dlperf, archcalc, staleness and mlcore, found on disk.

Nothing to maintain by hand: a new module (``archcalc/ir/graph.py``, a new ``archcalc/ops/`` package) gets
its page on the next build. Private modules (a name starting with ``_``) and ``__main__`` are left out;
mkdocstrings reads the numpydoc docstrings statically with griffe, so torch is never imported.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dlperf", "archcalc", "staleness", "mlcore")


def api_modules(root: Path = ROOT) -> list[str]:
    """Dotted names of the public modules of the four packages, packages first, sorted."""
    names = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts[-1] == "__main__" or any(p.startswith("_") for p in parts):
                continue
            names.append(".".join(parts))
    return sorted(set(names), key=lambda n: (n.split(".")[0] != "dlperf", n.split(".")))


def _page(module: str) -> str:
    return f"# `{module}`\n\n::: {module}\n"


def _index(modules: list[str]) -> str:
    lines = ["# API reference", "", "Generated from the numpydoc docstrings of every public module.", ""]
    for package in PACKAGES:
        lines += [f"## {package}", ""]
        lines += [f"- [`{m}`]({m}.md)" for m in modules if m.split(".")[0] == package]
        lines.append("")
    return "\n".join(lines)


def on_files(files, config):
    modules = api_modules()
    files.append(File.generated(config, "api/index.md", content=_index(modules)))
    for module in modules:
        files.append(File.generated(config, f"api/{module}.md", content=_page(module)))
    return files


def fence_doctests(markdown: str) -> str:
    """Wrap each run of ``>>>`` lines and their output (up to a blank line) in a ``pycon`` code fence.

    The pages keep bare doctests so that pytest runs them (``--doctest-glob=*.md``); the site shows them
    as code instead of paragraphs, without the doctest noise: a command line's exit status ``0`` printed
    after ``>>> main([...])`` and ``<BLANKLINE>`` markers (shown as the blank lines they stand for).
    """
    out, in_fence, in_doctest, last_input = [], False, False, ""
    lines = markdown.splitlines()
    for n, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_doctest and line.startswith(">>>"):
            out.append("```pycon")
            in_doctest = True
        elif in_doctest and not line.strip():
            out.append("```")
            in_doctest = False
        if in_doctest:
            if line.startswith(">>>"):
                last_input = line
            elif line.startswith("..."):
                last_input += line
            elif line.strip() == "0" and "main(" in last_input and not "".join(lines[n + 1:n + 2]).strip():
                continue  # the exit status of a command run in the doctest
            line = "" if line.strip() == "<BLANKLINE>" else line
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out) + "\n"


def on_page_markdown(markdown, page, config, files):
    return fence_doctests(markdown)


def on_page_content(html, page, config, files):
    # docstring examples rendered by mkdocstrings: a <BLANKLINE> marker is an empty output line
    return html.replace("&lt;BLANKLINE&gt;", "")
