"""Memory over time: live bytes at every sample of the liveness schedule, phases shaded, the peak marked.

matplotlib is imported inside :func:`plot_timeline` only (the Agg backend, no display needed).
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_timeline"]

_COLOURS = {"forward": "#dbe9f6", "backward": "#f6e3db", "optimizer": "#e3f6db"}


def plot_timeline(peak: Any, path: str) -> str:
    """Write the timeline of ``peak`` (a :class:`~archcalc.memory.peak.PeakMemory`) to ``path`` (png, svg, pdf).

    Returns the path written. The x axis is the op index in schedule order, the y axis live MiB.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = peak.timeline
    ys = [s.live_bytes / 2**20 for s in samples]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    start = 0
    for i in range(1, len(samples) + 1):
        if i == len(samples) or samples[i].phase != samples[start].phase:
            ax.axvspan(start - 0.5, i - 0.5, color=_COLOURS.get(samples[start].phase, "#eeeeee"), lw=0,
                       label=samples[start].phase)
            start = i
    ax.plot(range(len(ys)), ys, color="black", lw=1)
    top = max(range(len(ys)), key=ys.__getitem__) if ys else 0
    if ys:
        ax.plot([top], [ys[top]], "o", color="crimson")
        ax.annotate(f"peak {ys[top]:.1f} MiB\n{samples[top].op}", (top, ys[top]), textcoords="offset points",
                    xytext=(12, -34), fontsize=8, bbox={"boxstyle": "round", "fc": "white", "lw": 0.5})
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), loc="upper left", fontsize=8)
    step = f"{peak.optimizer} step" if peak.training else "inference"
    ax.set_title(f"{peak.network}, batch {peak.batch}, {step}, {peak.precision}", fontsize=10)
    ax.set_xlabel("op (schedule order)")
    ax.set_ylabel("live MiB")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
