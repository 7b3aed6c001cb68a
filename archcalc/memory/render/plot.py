"""Memory over time: live bytes at every sample of the liveness schedule, phases shaded, the peak marked.

matplotlib is imported inside the functions (:mod:`dlperf.plotting`: no pyplot, no display needed).
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_timeline", "timeline_figure"]

_COLOURS = {"forward": "#dbe9f6", "backward": "#f6e3db", "optimizer": "#e3f6db"}


def timeline_figure(peak: Any) -> Any:
    """The figure of :func:`plot_timeline` (a matplotlib ``Figure``, not yet saved): phases shaded, the live
    bytes line and the peak marker, all three in the legend; integer op ticks."""
    from dlperf.plotting import integer_ticks, legend, new_figure

    samples = peak.timeline
    ys = [s.live_bytes / 2**20 for s in samples]
    fig, ax = new_figure(9, 3.6)
    start = 0
    for i in range(1, len(samples) + 1):
        if i == len(samples) or samples[i].phase != samples[start].phase:
            ax.axvspan(start - 0.5, i - 0.5, color=_COLOURS.get(samples[start].phase, "#eeeeee"), lw=0,
                       label=samples[start].phase)
            start = i
    ax.plot(range(len(ys)), ys, color="black", lw=1, label="live MiB")
    top = max(range(len(ys)), key=ys.__getitem__) if ys else 0
    if ys:
        ax.plot([top], [ys[top]], "o", color="crimson", label=f"peak {ys[top]:.1f} MiB")
        ax.annotate(f"peak {ys[top]:.1f} MiB\n{samples[top].op}", (top, ys[top]), textcoords="offset points",
                    xytext=(12, -34), fontsize=8, bbox={"boxstyle": "round", "fc": "white", "lw": 0.5})
    legend(ax, loc="upper left", fontsize=8)
    integer_ticks(ax)
    step = f"{peak.optimizer} step ({'first' if peak.first_step else 'steady state'})" if peak.training else "inference"
    ax.set_title(f"{peak.network}, batch {peak.batch}, {step}, {peak.precision}", fontsize=10)
    ax.set_xlabel("op (schedule order)")
    ax.set_ylabel("live MiB")
    return fig


def plot_timeline(peak: Any, path: str) -> str:
    """Write the timeline of ``peak`` (a :class:`~archcalc.memory.liveness.peak.PeakMemory`) to ``path`` (png, svg, pdf),
    atomically. Returns the path written. The x axis is the op index in schedule order, the y axis live MiB.
    """
    from dlperf.plotting import save

    save(timeline_figure(peak), path)
    return path
