"""A rich progress bar on stderr, off when stderr is not a terminal or when asked to be quiet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(what: str, total: int, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yield ``step(label)``, which advances the bar by one (a no-op when the bar is off)."""
    if quiet or not sys.stderr.isatty():
        yield lambda label: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda label: bar.update(task, advance=1, description=f"{what}: {label}")
