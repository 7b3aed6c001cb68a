"""One writer for benchmarks/RESULTS.md: replace a benchmark's own ``## `` section, or append it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def replace_section(title: str, text: str) -> None:
    """Put ``text`` (which starts with the ``## title`` line) in place of the section headed ``title`` (up
    to the next ``## `` heading), or at the end when there is none; written atomically."""
    sys.path.insert(0, str(ROOT))
    from dlperf.fileio import write_atomic

    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(r"^" + re.escape(title) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    body = text.rstrip("\n") + "\n"
    new = pattern.sub(lambda _: body + "\n", old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + body
    write_atomic(RESULTS, new.rstrip("\n") + "\n")
