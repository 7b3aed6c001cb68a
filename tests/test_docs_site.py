"""The documentation site builds offline with ``mkdocs build --strict`` and has an API page per public module."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dlperf", "archcalc", "staleness", "mlcore")

# The README's own command, `mkdocs build --strict`, in a child process with torch importable as on any
# install (an earlier version blocked torch, which hid a docstring that broke the real build); the API
# reference is read statically by griffe (allow_inspection: false), so the build never needs it.
README_COMMAND = ["mkdocs", "build", "--strict"]


def public_modules() -> set[str]:
    """The oracle: every public module pkgutil finds by walking the four packages."""
    names = set()
    for package in PACKAGES:
        names.add(package)
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.add(info.name)
    return names


@pytest.mark.slow
def test_site_builds_strict_offline_with_api_pages(tmp_path):
    site = tmp_path / "site"
    assert "`" + " ".join(README_COMMAND) + "`" in (ROOT / "README.md").read_text()
    proc = subprocess.run([sys.executable, "-m", *README_COMMAND, "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # every hand-written page is in the nav (mkdocs only notes, even under --strict, a page left out; the
    # generated API pages are reached from api/index.md)
    left_out = re.findall(r"^  - (\S+\.md)$", proc.stderr, re.M)
    assert [page for page in left_out if not page.startswith("api/")] == [], proc.stderr
    pages = {p.name for p in (site / "api").iterdir() if p.is_dir()}
    assert pages == public_modules()
    # numpydoc sections became documented members (a function of each package, from its docstring)
    for module, member in (("dlperf.fileio", "write_atomic"), ("archcalc.models.zoo", "build"),
                           ("staleness.simulation", "simulate"), ("mlcore.curves", "roc_curve")):
        html = (site / "api" / module / "index.html").read_text()
        assert f'id="{module}.{member}"' in html, (module, member)
    # the hand-written pages and their plots are there, doctests shown as code
    staleness = (site / "staleness" / "index.html").read_text()
    assert "img/staleness_exercise2_sync.png" in staleness and 'class="language-pycon' in staleness
    assert (site / "img" / "staleness_exercise2_sync.png").is_file()
    # no page shows reStructuredText roles or doctest noise (96 of 143 API pages showed raw `:func:`)
    raw = re.compile(r":(func|meth|class|mod|data|attr|obj|exc):`")
    for page in site.rglob("index.html"):
        html = page.read_text()
        assert not raw.search(html), page
        assert "&lt;BLANKLINE&gt;" not in html, page
    # a role became a cross-reference: archcalc.commands' :func:`~archcalc.commands.report.add_report_options`
    assert ('href="../archcalc.commands.report/#archcalc.commands.report.add_report_options"><code>add_report_options'
            in (site / "api" / "archcalc.commands" / "index.html").read_text())
