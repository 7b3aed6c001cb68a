"""The documentation site builds offline with ``mkdocs build --strict`` and has an API page per public module."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dlperf", "archcalc", "staleness", "mlcore")

# Build in a child process where `import torch` fails: the API reference is read statically by griffe,
# so a build that imported torch (slow, and absent on a docs-only machine) would break here.
BUILD = """
import sys
sys.modules["torch"] = None
from mkdocs.__main__ import cli
cli(["build", "--strict", "--quiet", "-d", sys.argv[1]])
"""


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
    proc = subprocess.run([sys.executable, "-c", BUILD, str(site)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = {p.name for p in (site / "api").iterdir() if p.is_dir()}
    assert pages == public_modules()
    # numpydoc sections became documented members (a function of each package, from its docstring)
    for module, member in (("dlperf.fileio", "write_atomic"), ("archcalc.zoo", "build"),
                           ("staleness.simulation", "simulate"), ("mlcore.curves", "roc_curve")):
        html = (site / "api" / module / "index.html").read_text()
        assert f'id="{module}.{member}"' in html, (module, member)
    # the hand-written pages and their plots are there, doctests shown as code
    staleness = (site / "staleness" / "index.html").read_text()
    assert "img/staleness_exercise2_sync.png" in staleness and 'class="language-pycon' in staleness
    assert (site / "img" / "staleness_exercise2_sync.png").is_file()
