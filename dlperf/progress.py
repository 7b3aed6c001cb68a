"""A rich progress bar on stderr, shown only on a terminal (or when asked), one shape for every command.

Examples
--------
>>> with progress(3, "fitting", enabled=False) as bar:
...     for k in range(3):
...         bar.advance(label=f"degree {k}")
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["Bar", "progress"]


class Bar:
    """The handle :func:`progress` yields; a disabled bar ignores every call."""

    def __init__(self, bar=None, task=None, description: str = "") -> None:
        self._bar, self._task, self._description = bar, task, description

    def advance(self, n: float = 1, label: str | None = None) -> None:
        """Move ``n`` steps on; ``label`` (the item just finished) is shown after the description."""
        if self._bar is not None:
            desc = self._description if label is None else f"{self._description}: {label}"
            self._bar.update(self._task, advance=n, description=desc)

    def update(self, completed: float) -> None:
        """Set the number of completed steps."""
        if self._bar is not None:
            self._bar.update(self._task, completed=completed)


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool | None = None) -> Iterator[Bar]:
    """A transient bar of ``total`` steps; ``enabled=None`` shows it only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        yield Bar(bar, bar.add_task(description, total=total), description)
