"""Issue 18's op kinds, each traced from a tiny module and checked against independent oracles.

For every case: ``from_torch`` traces it (its own check: every node's shapes equal the real forward's),
nothing is left ``Unmodeled``, the target kind's element-wise operations equal the hand count in the
case's comment, its MACs equal FlopCounterMode's (0 where FlopCounterMode counts nothing) and the bytes
autograd saves (``saved_tensors_hooks`` on a real CPU forward, each storage once, parameters left out)
equal archcalc's training estimate, dtype by dtype (float32, int64, bool).

Every case runs ``y = x * w`` first (``w`` a parameter) so what follows needs a gradient; that Mul keeps
``x`` (24 float32 elements) in both counts. ``x`` is ``(1, 2, 3, 4)`` (24 elements) unless a case says.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.ir import evaluate
from archcalc.ops import formula
from tests.strategies import fold_configs, shape_and_dim

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch

X = (2, 3, 4)


class Case(torch.nn.Module):
    """``fn(x * w, *rest)``: ``w`` a parameter so the op's inputs need a gradient."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.fn = fn

    def forward(self, x: Any, *rest: Any) -> Any:
        if hasattr(self, "sub"):  # a module the case calls (traced on its meta copy, so passed in)
            return self.fn(self.sub, x * self.w, *rest)
        return self.fn(x * self.w, *rest)


def _autograd_saved(module: Any, inputs: list[Any]) -> dict[str, int]:
    """Bytes autograd packs during the forward, by dtype, each storage once, parameters left out."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, tuple[str, int]] = {}

    def pack(t: Any) -> Any:
        s = t.untyped_storage()
        if s.data_ptr() not in params and s.data_ptr() not in seen:
            seen[s.data_ptr()] = (str(t.dtype).removeprefix("torch."), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(*inputs)
    out: dict[str, int] = defaultdict(int)
    for dtype, n in seen.values():
        out[dtype] += n
    return dict(out)


def _archcalc_saved(ev: Any) -> dict[str, int]:
    s = ev.saved()
    out = {"float32": 4 * (s["activation_elements"] + s["fp32_elements"]), "int64": 8 * s["int64_elements"],
           "bool": s["bool_elements"]}
    return {k: v for k, v in out.items() if v}


def _flop_counter_macs(module: Any, inputs: list[Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        module(*inputs)
    return fc.get_total_flops() // 2


def check(fn: Any, kind: str, ops: int, *, extra: tuple = (), extra_dtypes: tuple = (), make: Any = None,
          x: tuple = X, macs: int = 0, sub: Any = None) -> Any:
    """Trace ``Case(fn)`` and check ``kind``'s rows: element-wise ops, MACs, saved bytes against autograd.
    ``sub``: a module, registered so its parameters are the model's, and passed to ``fn`` first."""
    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    module = Case(fn)
    if sub is not None:
        module.sub = sub
    g = from_torch(module, x, *extra, input_dtypes=("float32", *extra_dtypes))
    assert unmodeled_nodes(g) == [], [n.hparams for n in unmodeled_nodes(g)]
    ev = evaluate(g, training=True)
    rows = [r for r in ev.rows if r.kind == kind]
    assert rows, [r.kind for r in ev.rows]
    assert sum(r.elementwise_ops for r in rows) == ops
    torch.manual_seed(0)
    inputs = [torch.randn(1, *x)] + (make() if make else [])
    assert sum(r.macs for r in ev.rows) == macs == _flop_counter_macs(module, inputs)
    assert _archcalc_saved(ev) == _autograd_saved(module, inputs)
    return rows


def _idx(*shape: int, high: int = 2) -> Any:
    return lambda: [torch.randint(0, high, (1, *shape))]


# -- layout ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [lambda y: y.repeat(1, 2, 1, 3), lambda y: torch.tile(y, (2,)), lambda y: y.tile(2, 1)])
def test_repeat_and_tile_copy_without_arithmetic(fn):
    (row,) = check(fn, "Repeat", 0)  # saved: x only (96 bytes), repeat keeps nothing
    assert row.allocates


@pytest.mark.parametrize("fn", [lambda y: y.repeat_interleave(2, dim=1), lambda y: torch.repeat_interleave(y, 3, 3),
                                lambda y: y.repeat_interleave(2)])
def test_repeat_interleave_int(fn):
    check(fn, "RepeatInterleave", 0)


def test_repeat_interleave_tensor_keeps_an_index():
    # repeats [1, 2, 3] along dim 2: length 6; autograd keeps an int64 index of 6 (48 bytes)
    check(lambda y: y.repeat_interleave(torch.tensor([1, 2, 3]), dim=2), "RepeatInterleave", 0)


def test_tensor_unfold_is_a_view():
    (row,) = check(lambda y: y.unfold(3, 2, 1), "Unfold", 0)
    assert row.output_shape == (1, 2, 3, 3, 2) and not row.allocates


@pytest.mark.parametrize("fn", [lambda y: F.unfold(y, 2), lambda y: F.unfold(y, kernel_size=(2, 3), padding=1, stride=2),
                                lambda y: torch._C._nn.im2col(y, (2, 2), (1, 1), (0, 0), (1, 1)),
                                lambda y: F.unfold(y, 2, 1, 0), lambda y: F.unfold(y, 2, 1, 1, 2)])
def test_im2col(fn):
    (row,) = check(fn, "Im2Col", 0)
    assert row.allocates


def test_col2im_adds_overlaps():
    # fold of unfold(k=2) back to 3x4: rows land 4 on 3 positions, columns 6 on 4: 2 * (4*6 - 3*4) = 24 adds
    check(lambda y: F.fold(F.unfold(y, 2), (3, 4), 2), "Col2Im", 24)
    # stride 2 with padding 1 on 3x4: rows 2 blocks (4 taps, 3 land, 3 covered), cols 3 blocks: no overlap
    check(lambda y: F.fold(F.unfold(y, 2, padding=1, stride=2), (3, 4), 2, padding=1, stride=2), "Col2Im", 0)


def test_reshape_as():
    check(lambda y: y.reshape_as(y.transpose(2, 3)), "Reshape", 0)


def test_meshgrid_outputs_are_views():
    rows = check(lambda y: torch.meshgrid(y[0, 0, 0], y[0, 0, :, 0], indexing="ij"), "Meshgrid", 0)
    assert rows[0].output_shapes == ((4, 3), (4, 3)) and not rows[0].allocates
    check(lambda y: torch.meshgrid([y[0, 0, 0], y[0, 0, :, 0]], indexing="xy"), "Meshgrid", 0)


@pytest.mark.parametrize("fn", [lambda y: y.tensor_split(3, dim=3), lambda y: torch.tensor_split(y, [1, 3], dim=3),
                                lambda y: y.tensor_split(2, 1)])
def test_tensor_split(fn):
    (row,) = check(fn, "TensorSplit", 0)
    assert not row.allocates


@pytest.mark.parametrize(("fn", "copies"), [(lambda y: (y > 0).long(), True), (lambda y: (y > 0).int(), True),
                                            (lambda y: y.bool(), True), (lambda y: (y > 0).bool(), False),
                                            (lambda y: y.long().long(), None)])
def test_casts(fn, copies):
    rows = check(fn, "Cast", 0)
    if copies is not None:
        assert rows[0].allocates is copies


# -- element-wise -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "kind", "ops"), [
    (lambda y: torch.addcmul(y, y.flip(1), y.roll(1, 3), value=0.5), "AddCMul", 72),  # 24 * (mul, scale, add)
    (lambda y: y.addcmul(y.flip(1), y.roll(1, 3)), "AddCMul", 48),  # 24 * (mul, add)
    (lambda y: y.flip(2).addcmul_(y.flip(1), y.roll(1, 3)), "AddCMul", 48),
    (lambda y: torch.addcdiv(y, y.flip(1), y.roll(1, 3), value=2), "AddCDiv", 72),
])
def test_addcmul_keeps_tensor1_and_tensor2(fn, kind, ops):
    check(fn, kind, ops)


def test_rpow_keeps_exponent_and_result():
    check(lambda y: 2 ** y, "RPow", 24)  # one power per element; keeps y and 2**y (48 float32)


def test_invert():
    check(lambda y: ~(y > 0), "Invert", 24)
    check(lambda y: torch.logical_not(y > 0), "Invert", 24)


@pytest.mark.parametrize(("fn", "ops"), [(lambda y: y.cumsum(2), 16), (lambda y: torch.cumsum(y, dim=-1), 18),
                                         (lambda y: y.flip(1).cumsum_(1), 12)])
def test_cumsum(fn, ops):
    # dim 2 (size 3): 8 rows * 2 adds; dim -1 (size 4): 6 rows * 3; dim 1 (size 2): 12 rows * 1
    check(fn, "Cumsum", ops)


@pytest.mark.parametrize(("fn", "ops"), [(lambda y: y.diff(dim=3), 18), (lambda y: torch.diff(y, n=2, dim=3), 30),
                                         (lambda y: y.diff(dim=1, prepend=y.flip(1)), 36)])
def test_diff(fn, ops):
    # 6 rows: order 1 makes 3 each (18), order 2 two more each (12); prepend along dim 1: 12 rows of 2+2 -> 12*3
    check(fn, "Diff", ops)


@pytest.mark.parametrize(("fn", "ops"), [(lambda y: y.prod(), 23), (lambda y: torch.prod(y, 2), 16),
                                         (lambda y: y.prod(dim=1, keepdim=True), 12)])
def test_prod_keeps_input_and_result(fn, ops):
    check(fn, "Prod", ops)  # 24 - 1, 24 - 8, 24 - 12 multiplies


@pytest.mark.parametrize(("fn", "kind", "ops"), [(lambda y: (y > 0).all(), "All", 23), (lambda y: (y > 0).any(1), "Any", 12),
                                                 (lambda y: torch.all(y > 0, dim=3, keepdim=True), "All", 18)])
def test_all_any(fn, kind, ops):
    check(fn, kind, ops)  # 24 - 1, 24 - 12, 24 - 6 logical operations; nothing saved


@pytest.mark.parametrize(("fn", "ops"), [
    (lambda y: torch.fft.fftn(y, dim=(2, 3)).real, 24 * 5 * (2 + 2)),  # 5 N ceil(log2 n): n = 3 -> 2, n = 4 -> 2
    (lambda y: torch.fft.fft(y).imag, 24 * 5 * 2),
    (lambda y: torch.fft.ifftn(y).real, 24 * 5 * (0 + 1 + 2 + 2)),  # every dim: 1, 2, 3, 4
    (lambda y: torch.fft.fft(torch.fft.fftn(y, dim=(2, 3)), dim=1).real, 24 * 5 * (2 + 2 + 1)),
])
def test_fft_counts_five_n_log_n_and_flop_counter_counts_zero(fn, ops):
    check(fn, "FFT", ops)  # a 1-d fft of a real tensor keeps it (96 bytes), fftn and complex inputs nothing
    assert not any(r.allocates for r in check(fn, "Real", 0))  # .real / .imag are views


def test_clamp_with_tensor_bounds():
    check(lambda y: y.clamp(min=y.flip(1)), "ClampTensor", 24)  # one comparison per element per bound
    check(lambda y: torch.clamp(y, y.flip(1), y.roll(1, 3)), "ClampTensor", 48)
    check(lambda y: y.clamp(0, 1), "Clamp", 48)  # number bounds: as before


def test_square_and_rdiv():
    check(lambda y: y.square(), "Square", 24)
    check(lambda y: y.__rdiv__(2.0), "RDiv", 24)  # keeps 1/y (96 bytes)
    check(lambda y: 2 / y, "RDiv", 24)


# -- masks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [lambda y: y.masked_fill(y > 0, 0.0), lambda y: torch.masked_fill(y, y > 0, 1.0),
                                lambda y: y.flip(1).masked_fill_(y > 0, 0.0)])
def test_masked_fill_keeps_its_bool_mask(fn):
    check(fn, "MaskedFill", 24)  # one write per element; autograd keeps the 24-byte bool mask only


def test_where_keeps_its_condition():
    check(lambda y: torch.where(y > 0, y, y.flip(1)), "Where", 24)


# -- reductions, selection, ordering -------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "kind", "ops"), [
    (lambda y: y.max(), "Max", 23),  # 23 comparisons; keeps y and the result
    (lambda y: torch.min(y), "Min", 23),
    (lambda y: y.max(1), "MaxDim", 12),  # 24 - 12; keeps 12 int64 indices
    (lambda y: torch.max(y, dim=2, keepdim=True), "MaxDim", 16),
    (lambda y: y.min(3)[0], "MinDim", 18),
    (lambda y: torch.max(y, y.flip(1)), "Maximum", 24),
    (lambda y: y.argmax(1), "ArgMax", 12),
    (lambda y: torch.argmin(y), "ArgMin", 23),
    (lambda y: y.argmax(dim=3, keepdim=True), "ArgMax", 18),
])
def test_max_min_argmax(fn, kind, ops):
    check(fn, kind, ops)


@pytest.mark.parametrize(("fn", "kind", "ops"), [
    (lambda y: y.topk(2, dim=3), "TopK", 24),  # 6 rows of 4, heap of 2: 4 * 1 each
    (lambda y: torch.topk(y, 3), "TopK", 48),  # heap of 3: ceil(log2 3) = 2
    (lambda y: y.sort(3), "Sort", 48),  # 6 rows * 4 * ceil(log2 4)
    (lambda y: torch.sort(y, dim=1, descending=True), "Sort", 24),  # 12 rows * 2 * 1
    (lambda y: y.argsort(3), "ArgSort", 48),
])
def test_topk_and_sort_keep_indices(fn, kind, ops):
    check(fn, kind, ops)


def test_one_hot():
    (row,) = check(lambda y, i: F.one_hot(i, 5), "OneHot", 0, extra=((2, 3, 2),),
                   extra_dtypes=("int64",), make=_idx(2, 3, 2))
    assert row.output_shape == (1, 2, 3, 2, 5)


# -- indexing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [lambda y, i: y.gather(3, i), lambda y, i: torch.gather(y, 3, i)])
def test_gather_keeps_input_and_index(fn):
    check(fn, "Gather", 0, extra=((2, 3, 2),), extra_dtypes=("int64",), make=_idx(2, 3, 2, high=4))


@pytest.mark.parametrize(("fn", "ops"), [
    (lambda y, i: y.scatter(3, i, y.flip(1)), 0),
    (lambda y, i: torch.scatter(y, 3, i, 1.5), 0),
    (lambda y, i: y.scatter_add(3, i, y.flip(1)), 12),  # one add per index element (1*2*3*2)
    (lambda y, i: y.flip(1).scatter_add_(3, i, y), 12),
    (lambda y, i: y.scatter_reduce(3, i, y.flip(1), "amax"), 12),  # keeps self, src and the result too
    (lambda y, i: torch.scatter_reduce(y, 3, i, y.flip(1), "sum", include_self=False), 12),
])
def test_scatter_keeps_the_index(fn, ops):
    check(fn, "Scatter", ops, extra=((2, 3, 2),), extra_dtypes=("int64",), make=_idx(2, 3, 2, high=4))


def test_index_select_and_index_add():
    check(lambda y: y.index_select(3, torch.arange(2, device=y.device)), "IndexSelect", 0)
    check(lambda y: torch.index_select(y, 1, torch.arange(1, device=y.device)), "IndexSelect", 0)
    # source 1*2*3*2 = 12 elements: 12 adds, 12 more multiplies by alpha = 2
    check(lambda y: y.index_add(3, torch.arange(2, device=y.device), y[..., :2].flip(1), alpha=2), "IndexAdd", 24)
    check(lambda y: y.flip(1).index_add_(3, torch.arange(2, device=y.device), y[..., :2].flip(1)), "IndexAdd", 12)


# -- sampling, parametrisations, contractions ------------------------------------------------------------


def test_grid_sample():
    # output 1x2x5x6 = 60 elements x 7 (bilinear taps) + 30 grid points x 2 coordinates x 2 = 540
    check(lambda y, grid: F.grid_sample(y, grid, align_corners=False), "GridSample", 540,
          extra=((5, 6, 2),), make=lambda: [torch.rand(1, 5, 6, 2) * 2 - 1])
    check(lambda y, grid: F.grid_sample(y, grid, mode="nearest", align_corners=True), "GridSample", 120,
          extra=((5, 6, 2),), make=lambda: [torch.rand(1, 5, 6, 2) * 2 - 1])


def test_weight_norm_parametrisation():
    from torch.nn.utils.parametrizations import weight_norm

    lin = weight_norm(torch.nn.Linear(4, 5))
    # v 5x4 (20), g 5x1 (5): 3*20 + 5 = 65 operations; keeps the 5 float32 norms
    rows = check(lambda sub, y: sub(y), "WeightNorm", 65, macs=1 * 2 * 3 * 5 * 4, sub=lin)
    assert rows[0].output_shape == (5, 4)


@pytest.mark.parametrize(("fn", "ops"), [
    (lambda y: _c(y).baddbmm(batch1=_b1(y), batch2=_b2(y), beta=0.5, alpha=2.0), 54),  # 18 * (add, 2 scales)
    (lambda y: _c(y).baddbmm(_b1(y), _b2(y)), 18),  # 18 adds
    (lambda y: torch.baddbmm(_c(y), _b1(y), _b2(y), alpha=0.5), 36),
])
def test_baddbmm_method_and_keyword_forms(fn, ops):
    # bmm of 2 x (3x4 @ 4x3): 2*3*3*4 = 72 MACs (FlopCounterMode: 144 FLOPs); keeps batch1 and batch2 only
    check(fn, "BAddBMM", ops, macs=72)


def _c(y):
    return y[0, :, :, :3].flip(0)


def _b1(y):
    return y[0].flip(0)


def _b2(y):
    return y[0].transpose(1, 2).flip(0)


def test_eye_is_a_constant():
    check(lambda y: y[0, 0, :, :3] + torch.eye(3, device=y.device), "Constant", 0)


# -- Hypothesis: formulas against the real op on random shapes ------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(shape_dim=shape_and_dim(), data=st.data())
def test_shapes_match_torch(shape_dim, data):
    shape, d = shape_dim
    x = torch.zeros(shape)
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 1)))
    assert formula("Repeat")([shape], repeats=reps).output_shape == tuple(x.repeat(*reps).shape)
    k = data.draw(st.integers(1, shape[d]))
    assert formula("TopK")([shape], k=k, dim=d).output_shape == tuple(x.topk(k, d).values.shape)
    n = data.draw(st.integers(1, 4))
    assert formula("TensorSplit")([shape], indices_or_sections=n, dim=d).output_shapes == tuple(
        tuple(t.shape) for t in x.tensor_split(n, d))
    size, step = data.draw(st.integers(1, shape[d])), data.draw(st.integers(1, 3))
    assert formula("Unfold")([shape], dimension=d, size=size, step=step).output_shape == tuple(
        x.unfold(d, size, step).shape)
    assert formula("Cumsum")([shape], dim=d).elementwise_ops == x.numel() - x.numel() // shape[d]  # n - 1 per row
    assert formula("MaxDim")([shape], dim=d).output_shapes == tuple(tuple(t.shape) for t in x.max(d))


@settings(max_examples=25, deadline=None)
@given(cfg=fold_configs())
def test_fold_unfold_against_torch(cfg):
    """Im2Col's shape and Col2Im's adds against torch: the adds are the columns summed onto positions already
    written, ``landed - covered``, measured by folding ones (every landed entry adds 1, so the folded sum minus
    the positions reached is the count)."""
    c, h, w = cfg["c"], cfg["h"], cfg["w"]
    args = {k: cfg[k] for k in ("kernel_size", "dilation", "padding", "stride")}
    cols = F.unfold(torch.ones(1, c, h, w), **args)
    assert formula("Im2Col")([(1, c, h, w)], **args).output_shape == tuple(cols.shape)
    folded = F.fold(torch.ones_like(cols), (h, w), **args)
    back = formula("Col2Im")([tuple(cols.shape)], output_size=(h, w), **args)
    assert back.output_shape == tuple(folded.shape)
    assert back.elementwise_ops == int(folded.sum()) - int((folded > 0).sum())


@pytest.mark.parametrize("inplace", [False, True])
def test_feature_dropout_keeps_one_noise_value_per_channel(inplace):
    from archcalc.frontends.torch_trace import from_torch

    module = Case(lambda y: F.dropout2d(y.flip(1), 0.5, training=True, inplace=inplace))
    ev = evaluate(from_torch(module, X, training=True), training=True)
    (row,) = [r for r in ev.rows if r.kind == "FeatureDropout"]
    assert row.elementwise_ops == 24 + 2  # a multiply per element, a scaled draw per (sample, channel): 1*2
    # autograd: x (96 bytes) and the 1x2x1x1 float noise (8 bytes)
    assert _archcalc_saved(ev) == _autograd_saved(module, [torch.randn(1, *X)]) == {"float32": 104}
    (row,) = [r for r in evaluate(from_torch(Case(lambda y: F.dropout2d(y, 0.5, training=False)), X)).rows
              if r.kind == "FeatureDropout"]
    assert row.elementwise_ops == 0 and not row.allocates  # the identity at inference
