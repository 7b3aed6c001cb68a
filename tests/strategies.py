"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""

from hypothesis import strategies as st

# --- archcalc: layer hyper-parameters as torch.nn would take them (some invalid on purpose) ---------------


def _int_or_pair(low: int, high: int) -> st.SearchStrategy:
    one = st.integers(low, high)
    return one | st.tuples(one, one)


@st.composite
def conv2d_configs(draw) -> dict:
    """``{"input": (C, H, W), "hparams": {...}}`` for Conv2d; groups need not divide the channels, padding may be
    "same" / "valid", and the input may be too small: the tests check that archcalc rejects what torch rejects."""
    groups = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
    c_in = draw(st.integers(1, 4)) * (groups if draw(st.booleans()) else 1)
    out_channels = draw(st.integers(1, 4)) * (groups if draw(st.booleans()) else 1)
    hparams = {
        "out_channels": out_channels,
        "kernel_size": draw(_int_or_pair(1, 5)),
        "stride": draw(_int_or_pair(1, 3)),
        "padding": draw(_int_or_pair(0, 3) | st.sampled_from(["same", "valid"])),
        "dilation": draw(_int_or_pair(1, 3)),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return {"input": (c_in, draw(st.integers(1, 20)), draw(st.integers(1, 20))), "hparams": hparams}


@st.composite
def pool2d_configs(draw, kind: str = "MaxPool2d") -> dict:
    """``{"input": (C, H, W), "hparams": {...}}`` for MaxPool2d (with dilation) or AvgPool2d; padding may exceed
    half the kernel and the input may be too small."""
    hparams = {
        "kernel_size": draw(_int_or_pair(1, 4)),
        "stride": draw(st.none() | _int_or_pair(1, 3)),
        "padding": draw(_int_or_pair(0, 2)),
        "ceil_mode": draw(st.booleans()),
    }
    if kind == "MaxPool2d":
        hparams["dilation"] = draw(_int_or_pair(1, 2))
    return {"input": (draw(st.integers(1, 3)), draw(st.integers(1, 16)), draw(st.integers(1, 16))), "hparams": hparams}


@st.composite
def linear_configs(draw) -> dict:
    """``{"input": (F,), "hparams": {"out_features", "bias"}}`` for Linear."""
    return {
        "input": (draw(st.integers(1, 64)),),
        "hparams": {"out_features": draw(st.integers(1, 64)), "bias": draw(st.booleans())},
    }


# --- archcalc: small random layer stacks (conv / pool / linear) for cross-checks against torch and fvcore ---
@st.composite
def archcalc_layer_stacks(draw):
    """``(input_shape, specs)``: a per-sample input and 1-3 conv / pool specs, then a Linear head.

    A spec is ``("Conv2d", dict)``, ``("MaxPool2d", dict)`` or ``("AvgPool2d", dict)`` with torch's argument
    names; sizes are kept small and every stage keeps the spatial size >= 1.
    """
    c = draw(st.integers(1, 6))
    size = draw(st.integers(6, 20))
    shape = (c, size, draw(st.integers(6, 20)))
    specs = []
    h, w, ch = shape[1], shape[2], c
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["Conv2d", "Conv2d", "MaxPool2d", "AvgPool2d"]))
        k = draw(st.integers(1, min(5, h, w)))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        if kind == "Conv2d":
            d = draw(st.integers(1, 2)) if k > 1 and (k - 1) * 2 + 1 <= min(h, w) + 2 * p else 1
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if ch % g == 0]))
            out = groups * draw(st.integers(1, 4))
            spec = dict(out_channels=out, kernel_size=k, stride=s, padding=p, dilation=d, groups=groups,
                        bias=draw(st.booleans()))
            ch_next = out
            span_h, span_w = h + 2 * p - d * (k - 1) - 1, w + 2 * p - d * (k - 1) - 1
        else:
            spec = dict(kernel_size=k, stride=s, padding=p, ceil_mode=draw(st.booleans()))
            ch_next = ch
            span_h, span_w = h + 2 * p - k, w + 2 * p - k
        if span_h < 0 or span_w < 0:
            continue
        specs.append((kind, spec))
        h, w, ch = span_h // s + 1, span_w // s + 1, ch_next
    return shape, specs
