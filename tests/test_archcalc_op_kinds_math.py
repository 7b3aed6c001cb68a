"""The last op kinds of issue 18's coverage suites (archcalc/ops/mathfns.py, archcalc/ops/linalg.py), each
traced from a tiny module and checked against independent oracles, as tests/test_archcalc_op_kinds.py does
(its ``check``: from_torch's own shape check against the real forward, nothing ``Unmodeled``, the kind's
element-wise operations equal the hand count in the comment, MACs equal FlopCounterMode's, the bytes
autograd saves (``saved_tensors_hooks``) equal archcalc's training estimate, dtype by dtype).

Every case runs ``y = x * w`` first (``w`` a parameter; that Mul keeps ``x``, 24 float32 elements, in both
counts); ``y`` is ``(1, 2, 3, 4)``, 24 elements.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.ir import evaluate
from archcalc.ops import formula
from tests.test_archcalc_op_kinds import Case, X, _autograd_saved, check

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch


# -- element-wise functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "kind"), [
    (lambda y: torch.expm1(y), "Expm1"),  # keeps its result
    (lambda y: y.flip(1).expm1_(), "Expm1"),  # in place: keeps the written tensor
    (lambda y: y.log1p(), "Log1p"),  # keeps y
    (lambda y: torch.floor(y), "Floor"),  # Floor, Ceil, Sign keep nothing
    (lambda y: y.ceil(), "Ceil"),
    (lambda y: y.sign(), "Sign"),
    (lambda y: y.flip(1).floor_(), "Floor"),
    (lambda y: torch.acos(y * 0.1), "Acos"),  # keeps its input
    (lambda y: y.arccos(), "Acos"),
])
def test_unary_functions_one_operation_per_element(fn, kind):
    check(fn, kind, 24)


def test_log_sigmoid_keeps_input_and_buffer():
    # 6 operations per element; keeps y and a 24-element float32 buffer: 96 + 96 + x's 96
    check(lambda y: F.logsigmoid(y), "LogSigmoid", 6 * 24)


@pytest.mark.parametrize(("fn", "out"), [(lambda y: F.glu(y), (1, 2, 3, 2)), (lambda y: F.glu(y, dim=1), (1, 1, 3, 4)),
                                         (lambda y: torch._C._nn.glu(y, 1), (1, 1, 3, 4))])
def test_glu_halves_dim_and_keeps_input(fn, out):
    (row,) = check(fn, "GLU", 5 * 12)  # 12 output elements x (sigmoid 4 + mul 1)
    assert row.output_shape == out


@pytest.mark.parametrize("fn", [lambda y: y % 3, lambda y: torch.remainder(y, y.flip(1) + 2), lambda y: y.fmod(2.0),
                                lambda y: y.flip(1).remainder_(3)])
def test_remainder(fn):
    check(fn, "Remainder", 24)  # a tensor divisor: keeps y and the divisor (192 bytes); a number: nothing


@pytest.mark.parametrize("fn", [lambda y: (y > 0) | (y < 1), lambda y: torch.logical_and(y > 0, y < 1),
                                lambda y: (y > 0) ^ True, lambda y: torch.logical_or(y > 0, (y < 1)[0, 0]),
                                lambda y: (y > 0).__ior__(y < 1)])
def test_logical_ops(fn):
    check(fn, "Logical", 24)  # one per output element, bool, not differentiable


def test_polar_counts_four_per_element_and_keeps_its_complex_result():
    from archcalc.frontends.torch_trace import from_torch

    module = Case(lambda y: torch.view_as_real(torch.polar(y.abs(), y)))
    ev = evaluate(from_torch(module, X, training=True), training=True)
    (row,) = [r for r in ev.rows if r.kind == "Polar"]
    assert row.elementwise_ops == 4 * 24
    (view,) = [r for r in ev.rows if r.kind == "ComplexView"]
    assert view.output_shape == (1, 2, 3, 4, 2) and not view.allocates
    # autograd: x (96 bytes), |y|'s input y (96) and the complex64 result (24 * 8 = 192): 384 bytes
    saved = _autograd_saved(module, [torch.randn(1, *X)])
    assert saved == {"float32": 192, "complex64": 192}
    assert 4 * sum(ev.saved().values()) == 384


def test_view_as_complex_and_back_are_views():
    rows = check(lambda y: torch.view_as_real(torch.view_as_complex(y.reshape(1, 2, 6, 2)) * 2), "ComplexView", 0)
    assert [r.output_shape for r in rows] == [(1, 2, 6), (1, 2, 6, 2)] and not any(r.allocates for r in rows)


# -- reductions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [lambda y: y.logsumexp(-1), lambda y: torch.logsumexp(y, dim=(1, 2), keepdim=True)])
def test_logsumexp_keeps_input_and_result(fn):
    check(fn, "LogSumExp", 4 * 24)


@pytest.mark.parametrize("fn", [lambda y: y.var(-1), lambda y: torch.var(y, dim=1, correction=0, keepdim=True),
                                lambda y: y.var(), lambda y: y.var(2, True, True)])
def test_var_keeps_input(fn):
    check(fn, "Var", 4 * 24)


@pytest.mark.parametrize(("fn", "ops"), [
    (lambda y: torch.linalg.vector_norm(y, dim=-1), 2 * 24),  # square 24, adds 24 - 6, roots 6
    (lambda y: torch.linalg.vector_norm(y, 1, dim=(1, 2), keepdim=True), 24 + 24 - 4),  # abs, adds, no root
    (lambda y: torch.linalg.vector_norm(y), 2 * 24),
])
def test_vector_norm_is_norm(fn, ops):
    check(fn, "Norm", ops)  # keeps input and result


def test_unique_sorts_and_keeps_the_traced_shapes():
    # 24 bool elements sorted: 24 * ceil(log2 24) = 24 * 5 comparisons
    (row,) = check(lambda y: y + (y > 0).unique().sum(), "Unique", 24 * 5)


# -- triangular matrices ------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [lambda y: y.tril(), lambda y: torch.triu(y, 1), lambda y: y.flip(1).tril_(-1),
                                lambda y: y.masked_fill(torch.ones(3, 4, dtype=torch.bool, device=y.device).triu(1), 0)])
def test_tril_triu_select_per_element(fn):
    rows = check(fn, "Triangular", 12 if "masked_fill" in fn.__code__.co_names else 24)
    assert all(r.allocates == ("tril_" not in fn.__code__.co_names) for r in rows)


def _flop_counter_backward(module, inputs):
    from torch.utils.flop_counter import FlopCounterMode

    out = module(*inputs)
    with FlopCounterMode(display=False) as fc:
        out.sum().backward()
    return fc.get_total_flops()


def _a(y):
    return y[..., :3] * 0.1 + torch.eye(3, device=y.device)  # (1, 2, 3, 3), the diagonal 1 + small


@pytest.mark.parametrize(("fn", "ops", "grad_macs"), [
    # A 2 x 3x3, B 2 x 3x4, unit diagonal: 2*4 right-hand sides x 3*2 ops = 48; gA = -gB X^T: 2 * 3*3*4 = 72 MACs
    (lambda y: torch.linalg.solve_triangular(_a(y), y, upper=False, unitriangular=True), 48, 72),
    # divisions too: 8 x (6 + 3) = 72
    (lambda y: torch.linalg.solve_triangular(_a(y), y, upper=True), 72, 72),
    # X A = B with B 2 x 4x3: k = 4 rows, the same counts
    (lambda y: torch.linalg.solve_triangular(_a(y), y.transpose(2, 3), upper=False, left=False), 72, 72),
    # A 3x3 broadcast over B's batch of 2: gA is a batch-2 product, summed: 72 MACs
    (lambda y: torch.linalg.solve_triangular(_a(y[0, 0]), y, upper=False), 72, 72),
    # A without gradient (a constant): only gB = A^-T gX, another solve: 0 MACs
    (lambda y: torch.linalg.solve_triangular(torch.eye(3, device=y.device) * 2, y, upper=False), 72, 0),
])
def test_solve_triangular_backward_is_one_matmul_for_a(fn, ops, grad_macs):
    from archcalc.frontends.torch_trace import from_torch

    check(fn, "SolveTriangular", ops)  # forward MACs 0 as FlopCounterMode; keeps A and X
    module = Case(fn)
    ev = evaluate(from_torch(module, X, training=True), training=True)
    assert ev.total("backward_macs") == grad_macs
    torch.manual_seed(0)
    assert _flop_counter_backward(module, [torch.randn(1, *X)]) == 2 * grad_macs


# -- in-place writes and aliases -----------------------------------------------------------------------


def test_copy_into_a_slice():
    def fn(y):
        z = y.new_zeros(1, 2, 3, 6)
        z[..., :4].copy_(y)
        z[..., 4:].copy_(y[..., :1])  # broadcast along the last dim
        return z

    rows = check(fn, "Copy", 0)  # a write; the gradient passes to y, nothing saved
    assert not any(r.allocates for r in rows)


def test_initialisers_in_a_forward_fill_in_place():
    def fn(y):
        t = torch.nn.init.kaiming_uniform_(torch.empty(1, 4, device=y.device))
        return y + t + torch.empty(4, device=y.device).uniform_()

    check(fn, "Fill", 0)


@pytest.mark.parametrize(("fn", "kind", "ops"), [
    (lambda y: torch.multiply(y, y.flip(1)), "Mul", 24 + 24),  # and x * w
    (lambda y: y.subtract(y.flip(1)), "Sub", 24),
    (lambda y: torch.divide(y, 2.0), "Div", 24),
    (lambda y: y[:, :1].broadcast_to(1, 2, 3, 4) * 2, "Expand", 0),
    (lambda y: y.view_as(y.reshape(1, 6, 4)), "View", 0),
    (lambda y: y + torch.scalar_tensor(1.0, device=y.device), "Constant", 0),
])
def test_aliases_of_modelled_kinds(fn, kind, ops):
    check(fn, kind, ops)


# -- Hypothesis: shapes against the real op ---------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 4), k=st.integers(1, 4),
       left=st.booleans(), drop_a_batch=st.booleans(), dim=st.integers(-3, 2))
def test_shapes_match_torch(batch, n, k, left, drop_a_batch, dim):
    a = torch.eye(n).expand(*([] if drop_a_batch else batch), n, n)
    b = torch.zeros(*batch, *((n, k) if left else (k, n)))
    x = torch.linalg.solve_triangular(a, b, upper=False, left=left)
    cost = formula("SolveTriangular")([tuple(a.shape), tuple(b.shape)], upper=False, left=left)
    assert cost.output_shape == tuple(x.shape)
    t = torch.zeros(*batch, 2 * n, k)
    d = dim % t.dim()
    if t.shape[d] % 2 == 0:
        assert formula("GLU")([tuple(t.shape)], dim=d).output_shape == tuple(F.glu(t, d).shape)
    assert formula("LogSumExp")([tuple(t.shape)], dim=d, keepdim=False).output_shape == tuple(t.logsumexp(d).shape)
    assert formula("Var")([tuple(t.shape)], dim=d, keepdim=True).output_shape == tuple(t.var(d, keepdim=True, correction=0).shape)
    c = torch.zeros(*batch, n, 2)
    assert formula("ComplexView")([tuple(c.shape)], to_complex=True).output_shape == tuple(
        torch.view_as_complex(c).shape)


def test_arithmetic_on_numbers_only_is_a_constant():
    # torch.div(int, int, rounding_mode="trunc") as Longformer counts its chunks: a tensor made from numbers
    check(lambda y: y + torch.div(y.shape[3], 2, rounding_mode="trunc"), "Constant", 0)


def test_a_buffer_written_with_a_gradient_passes_it_on():
    """``key_states = new_empty(...); key_states[..., :d].copy_(k)`` (GLM-4-MoE-Lite, HunYuan): the buffer needs a
    gradient once written, so a product of it has both input gradients: (3x2 @ 2x3) per 2 batches = 36 MACs
    forward, 72 backward (FlopCounterMode: 144 FLOPs)."""
    from archcalc.frontends.torch_trace import from_torch

    def fn(y):
        z = y.new_zeros(1, 2, 3, 2)
        z[..., :1].copy_(y[..., :1])
        z[..., 1:].copy_(y[..., 3:])
        return z @ z.transpose(2, 3)

    module = Case(fn)
    ev = evaluate(from_torch(module, X, training=True), training=True)
    assert ev.total("macs") == 2 * 3 * 3 * 2 and ev.total("backward_macs") == 72
    assert _flop_counter_backward(module, [torch.randn(1, *X)]) == 2 * 72


@pytest.mark.parametrize("fn", [lambda y: y.as_strided((1, 2, 2, 4), (24, 12, 4, 1), 4),
                                lambda y: torch.as_strided(y.flip(1), size=(1, 2, 3, 2), stride=(24, 12, 4, 2))])
def test_as_strided_is_a_view(fn):
    (row,) = check(fn, "AsStrided", 0)  # Longformer's overlapping chunks; nothing saved
    assert not row.allocates


# -- traits (archcalc/ops/traits.py) against torch ---------------------------------------------------------

_CALLS = {  # kind: the op on x (2 x 3 x 4, floating) returning its outputs
    "Expm1": lambda x: (x.expm1(),), "Log1p": lambda x: (x.log1p(),), "Floor": lambda x: (x.floor(),),
    "Ceil": lambda x: (x.ceil(),), "Sign": lambda x: (x.sign(),), "Acos": lambda x: (x.acos(),),
    "LogSigmoid": lambda x: (F.logsigmoid(x),), "GLU": lambda x: (F.glu(x),), "Remainder": lambda x: (x % 2,),
    "Logical": lambda x: ((x > 0) | (x < 1),), "LogSumExp": lambda x: (x.logsumexp(-1),), "Var": lambda x: (x.var(-1),),
    "Unique": lambda x: torch.unique(x, return_inverse=True), "Triangular": lambda x: (x.tril(),),
    "SolveTriangular": lambda x: (torch.linalg.solve_triangular(x[..., :3] + 3, x, upper=False),),
    "AsStrided": lambda x: (x.as_strided((2, 2), (4, 1)),), "Copy": lambda x: (x.clone().copy_(x),),
}


@pytest.mark.parametrize("kind", sorted(_CALLS))
def test_traits_are_torchs(kind):
    """Output dtypes from float32 and float64 inputs, whether the result needs a gradient (``differentiable``),
    and whether it shares the input's storage (``aliasing`` view), each against the real op."""
    from archcalc.ops.traits import traits

    t = traits(kind)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(2, 3, 4, dtype=dtype)
        outs = _CALLS[kind](x)
        name = str(dtype).removeprefix("torch.")
        assert [t.output_dtype(i, name) for i in range(len(outs))] == [str(o.dtype)[6:] for o in outs], kind
    x = torch.rand(2, 3, 4, requires_grad=True)
    assert _CALLS[kind](x)[0].requires_grad == (t.differentiable != ())
    x = torch.rand(2, 3, 4)
    if kind != "Copy":  # copy_ writes its first input (here a clone of x)
        shares = _CALLS[kind](x)[0].untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        assert shares == (t.aliasing in ("view", "maybe_view"))
    assert t.family in ("mathfns", "linalg", "layout")


def test_complex_traits():
    from archcalc.ops.traits import traits

    z = torch.view_as_complex(torch.rand(2, 3, 2))
    assert z.untyped_storage().data_ptr() == torch.view_as_real(z).untyped_storage().data_ptr()
    assert traits("ComplexView").aliasing == "view" and traits("Polar").broadcasting
    assert torch.polar(torch.rand(4), torch.rand(3, 1)).shape == formula("Polar")([(4,), (3, 1)]).output_shape
