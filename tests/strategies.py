"""Hypothesis strategies shared by the test modules (one place, as attrs and more-itertools do)."""

import numpy as np
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

# Binary labels with tied scores (ROC / PR / PRG tests).


@st.composite
def labels_and_tied_scores(draw, min_size: int = 2, max_size: int = 60):
    """0/1 labels with both classes present and scores drawn from few levels, so ties are common."""
    n = draw(st.integers(min_size, max_size))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    levels = draw(st.integers(1, 12))
    raw = draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))
    scale = draw(st.sampled_from([1.0, 0.1, 1 / 7, 1e3]))
    return np.array(labels), np.array(raw, dtype=float) * scale



# ---- staleness -----------------------------------------------------------------------------------------

STALENESS_DISTS = ("constant", "exp", "shifted-exp", "uniform", "lognormal", "pareto")


@st.composite
def staleness_traces(draw, max_learners: int = 4, max_len: int = 6, allow_zero: bool = False):
    """Compute-time traces from a coarse grid of values, so that simultaneous pushes (ties) are common."""
    values = [0.5, 1.0, 1.5, 2.0, 2.5] + ([0.0] if allow_zero else [])
    p = draw(st.integers(1, max_learners))
    return [draw(st.lists(st.sampled_from(values), min_size=1, max_size=max_len)) for _ in range(p)]


@st.composite
def staleness_async_configs(draw):
    """A SimConfig on a vectorised path: (k-batch-)async, k-async, or sync / k-sync / k-batch-sync / ssp without
    traces; no latencies."""
    from staleness import SimConfig

    kw = {"tie_break": draw(st.sampled_from(("fifo", "learner", "random"))), "seed": draw(st.integers(0, 2**16))}
    if draw(st.booleans()):
        kw["times"] = draw(staleness_traces())
        p = len(kw["times"])
        if draw(st.booleans()):
            kw["updates"] = draw(st.integers(1, 12))
    else:
        p = draw(st.integers(1, 6))
        kw["learners"] = p
        kw["dist"] = draw(st.sampled_from(STALENESS_DISTS))
        kw["mean"] = draw(st.sampled_from((0.5, 1.0, 3.0)))
        if draw(st.booleans()):
            kw["speeds"] = draw(st.lists(st.sampled_from((0.5, 1.0, 2.0)), min_size=p, max_size=p))
        if draw(st.booleans()):
            kw["updates"] = draw(st.integers(1, 300))
        else:
            kw["until"] = draw(st.sampled_from((0.0, 1.0, 7.5, 40.0)))
    k = draw(st.integers(1, p))
    families = ["async", "k-async"] + ([] if "times" in kw else ["sync", "ssp"])
    family = draw(st.sampled_from(families))
    if family == "async":
        kw["policy"] = "async" if k == 1 and draw(st.booleans()) else "k-batch-async"
    elif family == "k-async":
        kw["policy"], kw["k"] = "k-async", k
    elif family == "sync":
        kw["policy"] = "sync" if k == p and draw(st.booleans()) else draw(st.sampled_from(("k-sync", "k-batch-sync")))
    else:
        kw["policy"], kw["bound"] = "ssp", draw(st.integers(0, 4))
    if kw["policy"] in ("k-batch-async", "k-sync", "k-batch-sync"):
        kw["k"] = k
    return SimConfig(**kw)


# --- training experiments (tests/test_mlcore_*.py) -------------------------------------------------


@st.composite
def lr_loss_curves(draw, min_size: int = 2, max_size: int = 120):
    """(lrs, raw_losses): an increasing learning-rate grid and positive mini-batch losses on it."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(1e-7, 1e-2))
    decades = draw(st.floats(1.0, 8.0))
    losses = draw(st.lists(st.floats(0.01, 20.0, allow_nan=False), min_size=n, max_size=n))
    lrs = [start * 10 ** (decades * i / (n - 1)) for i in range(n)]
    return lrs, losses


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


# --- archcalc.memory: transformer shapes as Megatron accepts them ---------------------------------------


@st.composite
def megatron_shapes(draw) -> dict:
    """``{"seq", "batch", "hidden", "heads", "tensor_parallel"}`` with heads | hidden and t | heads."""
    tensor_parallel = draw(st.sampled_from([1, 2, 4, 8]))
    heads = tensor_parallel * draw(st.integers(1, 16))
    return {"seq": draw(st.integers(1, 8192)), "batch": draw(st.integers(1, 64)),
            "hidden": heads * draw(st.integers(1, 256)), "heads": heads, "tensor_parallel": tensor_parallel}


@st.composite
def transformer_sizes(draw) -> dict:
    """Valid sizes of the ``gpt`` / ``llama`` zoo models: heads divide hidden (even head size), kv-heads divide
    heads; a sequence length and a batch."""
    kv_heads = draw(st.integers(1, 4))
    heads = kv_heads * draw(st.integers(1, 3))
    hidden = heads * 2 * draw(st.integers(1, 8))
    return {"layers": draw(st.integers(1, 3)), "hidden": hidden, "heads": heads, "kv_heads": kv_heads,
            "ffn": draw(st.integers(1, 64)), "vocab": draw(st.integers(2, 500)), "seq": draw(st.integers(1, 40)),
            "batch": draw(st.integers(1, 3))}


@st.composite
def shape_and_dim(draw, max_rank: int = 4, max_size: int = 5) -> tuple:
    """``(shape, dim)``: a tensor shape of rank 1..max_rank (sizes 1..max_size) and a dim of it."""
    shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_rank)))
    return shape, draw(st.integers(0, len(shape) - 1))


@st.composite
def fold_configs(draw) -> dict:
    """``F.unfold`` / ``F.fold`` arguments on a ``(1, c, h, w)`` input whose dilated kernel fits the padded
    input: ``{"c", "h", "w", "kernel_size", "stride", "padding", "dilation"}``."""
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7))
    padding, dilation = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    kernel = draw(st.integers(1, (min(h, w) + 2 * padding - 1) // dilation + 1))
    return {"c": c, "h": h, "w": w, "kernel_size": kernel, "stride": draw(st.integers(1, 3)), "padding": padding,
            "dilation": dilation}
# --- archcalc.ops.einsum: einsum equations torch may accept or reject -----------------------------------


@st.composite
def einsum_cases(draw, max_operands: int = 4) -> dict:
    """``{"equation", "shapes", "path"}``: 1-``max_operands`` operands over random letters (upper and lower
    case), indices summed in one operand or several, outer products, batch indices, size-1 broadcasts,
    repeated indices (diagonals), ``...`` in some operands and maybe the output, explicit or implicit output;
    ``path`` is None or a random pairwise order in opt_einsum's format (the pair's result goes last).
    Sizes are 1-4; a few equations are invalid on purpose (torch and archcalc must both refuse them)."""
    letters = draw(st.lists(st.sampled_from("abcdefgijkABC"), min_size=1, max_size=6, unique=True))
    size = {c: draw(st.integers(1, 4)) for c in letters}
    ell = draw(st.lists(st.integers(1, 3), max_size=2)) if draw(st.booleans()) else None
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, max_operands))):
        labels = draw(st.lists(st.sampled_from(letters), max_size=4))
        shape = [size[c] if draw(st.integers(0, 5)) else 1 for c in labels]
        for k, c in enumerate(labels):  # a repeated label is a diagonal: torch needs equal sizes there
            shape[k] = shape[labels.index(c)]
        if ell is not None and draw(st.booleans()):
            at = draw(st.integers(0, len(labels)))
            covered = ell[len(ell) - draw(st.integers(0, len(ell))):]
            covered = [v if draw(st.integers(0, 4)) else 1 for v in covered]
            labels, shape = labels[:at] + ["..."] + labels[at:], shape[:at] + covered + shape[at:]
        if shape and not draw(st.integers(0, 9)):  # now and then a size that may clash: torch must refuse it
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(1, 4))
        terms.append("".join(labels))
        shapes.append(tuple(shape))
    equation = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t if c != "."})
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        if ell is not None and draw(st.booleans()):
            out.insert(draw(st.integers(0, len(out))), "...")
        equation += "->" + "".join(out)
    path = None
    if len(shapes) > 2 and draw(st.booleans()):
        path, n = [], len(shapes)
        while n > 1:
            i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            path += [i, j]
            n -= 1
    return {"equation": equation, "shapes": shapes, "path": path}


# --- command lines: option values drawn from an argparse action (tests/test_cli_fuzz.py) ------------------

#: Numbers no option should take quietly: zero, negatives, non-finite, overflowing, denormal, huge.
HOSTILE_NUMBERS = ("0", "-1", "-0", "-5", "nan", "inf", "-inf", "1e308", "1e999", "1e-320", "1e3", "1.5", "0.5",
                   "100000000000000000000", "999999999", "0x10", "1_000")
#: Text no option should take quietly: empty, blank, separators only, control bytes, a flag, very long.
HOSTILE_TEXT = ("", " ", ",", ",,", "-", "--", "x" * 300, "\t", "a\nb", "é", "None", "-h2", "1,", ",1", "a=b=c",
                "..", "/", "nan,nan", "1e308,1e308", "-1,2", "1,0", "0,0")
#: Paths a command may be given, relative to the fuzz folder (tests/test_cli_fuzz.py creates them).
INPUT_PATHS = ("net.py", "scores.txt", "labels.txt", "data.npz", "junk.txt", "empty.txt", "missing.txt", "dir",
               "dir/", "/dev/null", "")
OUTPUT_PATHS = ("out.json", "out.png", "out.svg", "out.pdf", "out.csv", "out.jpg", "dir", "dir/", "newdir/x.png",
                "net.py", "scores.txt", "/dev/null", "", "n" * 250 + ".png", ".")


def _numbers(default, integer: bool) -> st.SearchStrategy:
    ordinary = [1, 2, 3] + ([default] if isinstance(default, (int, float)) and not isinstance(default, bool) else [])
    if integer:
        ordinary = [int(v) for v in ordinary]
    return st.sampled_from([str(v) for v in ordinary]) | st.sampled_from(HOSTILE_NUMBERS)


def help_words(text: str | None) -> list[str]:
    """Values an option's help lists after a colon (``policy: async, sync, k-sync (default async)``)."""
    import re

    head = (text or "").split("(default")[0]
    listed = head.rpartition(":")[2] if ":" in head else head
    words = [w.strip() for w in listed.split(",")]
    return [w for w in words if w and re.fullmatch(r"[a-z][a-z0-9_-]*", w)]


def option_values(action, role: str, extra: tuple[str, ...] = ()) -> st.SearchStrategy:
    """Strings for one argparse ``action``: its choices, its default, numbers of its type, a few values named
    by its help, ``extra`` (values known for the flag) and hostile ones. ``role`` is "output", "input",
    "folder" or "value" (a path role draws paths)."""
    if role == "output":
        return st.sampled_from(OUTPUT_PATHS)
    if role == "input":
        return st.sampled_from(INPUT_PATHS)
    if role == "folder":
        return st.sampled_from(("dir", "missing", "junk.txt", "", "/dev/null"))
    type_name = getattr(action.type, "__name__", type(action.type).__name__ if action.type else "")
    hostile = st.sampled_from(HOSTILE_TEXT + HOSTILE_NUMBERS)
    if action.choices:
        return st.sampled_from([str(c) for c in action.choices]) | hostile
    own: list[str] = list(extra) + help_words(action.help)
    if isinstance(action.default, str):
        own.append(action.default)
    if isinstance(action.default, list):
        own.append(",".join(map(str, action.default)))
    if action.type is int or type_name == "int":
        values = _numbers(action.default, integer=True)
    elif action.type is float or type_name == "float":
        values = _numbers(action.default, integer=False)
    elif action.type is not None and not own:  # a validator (sizes, percents, counts): numbers and the default
        values = _numbers(action.default, integer=False) | st.sampled_from(("1", "8", "16GB", "80GB", "1PB", "10%"))
    else:
        values = st.nothing()
    if own:
        values = values | st.sampled_from(own)
    return st.one_of(values, values, values, values, hostile)
