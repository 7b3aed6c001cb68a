"""Checks on matplotlib figures through their artists: legends, integer ticks, overlapping text."""

from __future__ import annotations


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, f"axes {ax.get_title()!r} has no legend"
    return [t.get_text() for t in legend.get_texts()]


def assert_every_line_in_legend(ax) -> None:
    """Each drawn line (Line2D with data, including axhline / axvline) has a label shown in the legend."""
    shown = set(legend_texts(ax))
    for line in ax.get_lines():
        label = line.get_label()
        assert not label.startswith("_"), f"a line in {ax.get_title()!r} has no label ({label})"
        assert label in shown, f"{label!r} is drawn in {ax.get_title()!r} but not in its legend"


def assert_integer_xticks(ax) -> None:
    """Every major x tick inside the view is an integer (epochs, degrees, batch sizes)."""
    lo, hi = sorted(ax.get_xlim())
    ticks = [t for t in ax.xaxis.get_major_locator()() if lo <= t <= hi]
    assert ticks, f"no x ticks in view on {ax.get_title()!r}"
    assert all(float(t).is_integer() for t in ticks), f"non-integer x ticks {ticks} on {ax.get_title()!r}"


def draw(fig):
    """Lay out and render ``fig`` on an Agg canvas (so text has its final size and position); return the renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _text_boxes(fig):
    """(name, bbox) of every visible non-empty text on the figure: titles, axis labels, tick labels, legends."""
    renderer = draw(fig)
    boxes = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        boxes.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    for i, ax in enumerate(fig.axes):
        texts = [("title", ax.title), ("xlabel", ax.xaxis.label), ("ylabel", ax.yaxis.label)]
        for axis, tag in ((ax.xaxis, "xtick"), (ax.yaxis, "ytick")):
            lo, hi = sorted(axis.get_view_interval())
            texts += [(f"{tag} {t.label1.get_text()}", t.label1) for t in axis.get_major_ticks()
                      if lo <= t.get_loc() <= hi]  # ticks outside the view are not drawn
        for name, t in texts:
            if t.get_visible() and t.get_text():
                boxes.append((f"axes {i} {name}", t.get_window_extent(renderer)))
        if ax.get_legend() is not None:
            boxes.append((f"axes {i} legend", ax.get_legend().get_window_extent(renderer)))
    return boxes


def assert_no_overlapping_text(fig) -> None:
    """No two text boxes (or legends) of the figure overlap by more than a pixel."""
    boxes = _text_boxes(fig)
    for i, (na, a) in enumerate(boxes):
        for nb, b in boxes[i + 1:]:
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert w <= 1 or h <= 1, f"{na} overlaps {nb}"
