"""Figures shared by the three packages: one way to make, label and save a matplotlib figure.

:func:`new_figure` makes a ``Figure`` with constrained layout (labels never overlap, no ``tight_layout``) and
without pyplot (no global figure list, no display, nothing to close); :func:`integer_ticks` puts major ticks
on whole numbers only (epochs, degrees, op indices, staleness); :func:`legend` draws a legend that holds
every labelled line and patch once and refuses a drawn line without a label; :func:`save` writes the figure
atomically in the format its extension names (:func:`dlperf.fileio.save_figure`). matplotlib is imported
inside the functions.

Examples
--------
>>> import pathlib, tempfile
>>> fig, ax = new_figure(4, 3)
>>> _ = ax.plot([1, 2, 3], [3.0, 1.5, 1.0], label="loss")
>>> _ = ax.axhline(1.0, color="grey", label="floor")
>>> integer_ticks(ax)
>>> [t.get_text() for t in legend(ax).get_texts()]
['loss', 'floor']
>>> path = pathlib.Path(tempfile.mkdtemp()) / "loss.png"
>>> save(fig, path)
>>> path.read_bytes()[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["new_figure", "integer_ticks", "legend", "save"]


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplots: Any) -> tuple[Any, Any]:
    """A ``(figure, axes)`` pair: a ``width`` x ``height`` inch Figure with constrained layout and its
    ``nrows`` x ``ncols`` axes (one Axes, or an array as ``Figure.subplots`` gives; ``subplots`` is passed on,
    e.g. ``sharey=True``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, **subplots)


def integer_ticks(ax: Any, axis: str = "x") -> None:
    """Major ticks of ``ax``'s ``axis`` (``"x"`` or ``"y"``) on whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def legend(ax: Any, **kwargs: Any) -> Any:
    """A legend of every labelled artist of ``ax`` (lines, bars, spans), each label once; returns it.

    A drawn line without a label is a plotting bug (the reader could not tell what it is): it raises
    ``AssertionError`` naming the axes. ``kwargs`` go to ``Axes.legend`` (``fontsize``, ``loc``, ``ncol``).
    """
    unlabelled = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert not unlabelled, f"{len(unlabelled)} line(s) drawn on {ax.get_title()!r} without a label"
    handles, labels = ax.get_legend_handles_labels()
    once = dict(zip(labels, handles, strict=True))  # phases shaded several times: one entry each
    return ax.legend(list(once.values()), list(once), **kwargs)


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 120, flag: str = "--plot") -> None:
    """Write ``fig`` to ``path`` atomically, as png, pdf or svg by its extension; ``flag`` names the option
    in the one-line error a bad path gives."""
    from dlperf.fileio import save_figure

    save_figure(fig, path, dpi=dpi, flag=flag)
