"""``torch.einsum`` counted as ATen runs it, against FlopCounterMode (meta device) forward and backward.

The oracles: ``torch.utils.flop_counter.FlopCounterMode`` for MACs (2 x MACs == its FLOPs: only the ``bmm``
steps count), an aten-level dispatch log for the element-wise work (``mul`` output elements, ``sum`` input
minus output elements), torch's own output shape, and torch's refusal of an invalid equation.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.ops import formula
from archcalc.ops.einsum import einsum_plan
from tests.strategies import einsum_cases

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _aten_einsum(equation, tensors, path=None):
    """ATen's einsum as torch.einsum calls it: left to right, or along ``path`` (what torch.einsum passes when
    opt_einsum is on), whatever ``torch.backends.opt_einsum`` says here."""
    return torch._VF.einsum(equation, tensors) if path is None else torch._VF.einsum(equation, tensors, path=path)


def _aten_counts(equation, tensors, path=None):
    """(output shape, FlopCounterMode FLOPs, mul + sum element-wise ops) of one einsum run by ATen on meta."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    ops = [0]
    aten = torch.ops.aten

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket is aten.mul:
                ops[0] += out.numel()
            elif func.overloadpacket is aten.sum:
                ops[0] += args[0].numel() - out.numel()
            return out

    with FlopCounterMode(display=False) as counter, Log():
        out = _aten_einsum(equation, tensors, path)
    return tuple(out.shape), counter.get_total_flops(), ops[0]


def _meta(shapes, grads=None):
    grads = grads or [False] * len(shapes)
    return [torch.zeros(s, device="meta", requires_grad=g) for s, g in zip(shapes, grads, strict=True)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(einsum_cases())
def test_forward_equals_aten(case):
    eq, shapes, path = case["equation"], case["shapes"], case["path"]
    try:
        shape, flops, ops = _aten_counts(eq, _meta(shapes), path)
    except RuntimeError:  # torch refuses the equation (sizes that do not broadcast, a bad output ...): so do we
        with pytest.raises(ValueError, match="Einsum"):
            einsum_plan(shapes, eq, None if path is None else tuple(path))
        return
    plan = einsum_plan(shapes, eq, None if path is None else tuple(path))
    assert plan.output_shape == shape
    assert 2 * plan.macs == flops
    assert plan.elementwise_ops == ops


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(einsum_cases(), st.lists(st.booleans(), min_size=4, max_size=4))
def test_backward_equals_flop_counter(case, wants_grad):
    """Only the operands that require grad get one: each bmm's MACs once per side that needs a gradient."""
    from torch.utils.flop_counter import FlopCounterMode

    eq, shapes, path = case["equation"], case["shapes"], case["path"]
    grads = wants_grad[: len(shapes)]
    tensors = _meta(shapes, grads)
    try:
        out = _aten_einsum(eq, tensors, path)
    except RuntimeError:
        return
    cost = formula("Einsum")(shapes, equation=eq, path=None if path is None else tuple(path))
    expected = sum(g for group, g in cost.grouped_grad_macs if any(grads[i] for i in group))
    if not out.requires_grad:
        assert expected == 0
        return
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    assert 2 * expected == counter.get_total_flops()


@settings(max_examples=100, deadline=None)
@given(einsum_cases(max_operands=3))
def test_symbolic_sizes_give_the_integer_counts(case):
    """The same formula on sympy symbols, substituted, equals the integer count (sizes >= 2: a symbol is taken
    to differ from 1, as a broadcast dimension must be a literal 1)."""
    import sympy

    eq, shapes = case["equation"], [tuple(d + 1 if d == 1 else d for d in s) for s in case["shapes"]]
    try:
        exact = einsum_plan(shapes, eq)
    except ValueError:
        return
    symbols = {v: sympy.Symbol(f"s{v}", positive=True, integer=True) for s in shapes for v in s}
    sym = einsum_plan([tuple(symbols[v] for v in s) for s in shapes], eq)
    back = {sym_: v for v, sym_ in symbols.items()}
    assert sympy.sympify(sym.macs).subs(back) == exact.macs
    assert sympy.sympify(sym.elementwise_ops).subs(back) == exact.elementwise_ops
    assert tuple(sympy.sympify(d).subs(back) for d in sym.output_shape) == exact.output_shape


def test_hand_cases():
    f = formula("Einsum")
    # outer product: torch multiplies (a mul), no bmm: 0 MACs, 64*64 = 4,096 multiplies
    outer = f([(64,), (64,)], equation="i,j->ij")
    assert (outer.macs, outer.elementwise_ops) == (0, 4096)
    # j only in the first operand: summed out first (8*16*4 - 8*4 = 480 adds), then bmm 8 x 4 x 5 = 160 MACs
    # (every index multiplied together would be 8*16*4*5 = 2,560, 16x high)
    one = f([(8, 16, 4), (4, 5)], equation="ijk,kl->il")
    assert (one.macs, one.elementwise_ops) == (160, 480)
    # three operands left to right: (ij,jk) bmm 6*7*8 = 336, then (ik,kl) bmm 6*8*9 = 432: 768 MACs
    # (the product of all sizes times 2 products per term would be 2*6*7*8*9 = 6,048)
    three = f([(6, 7), (7, 8), (8, 9)], equation="ij,jk,kl->il")
    assert three.macs == 768
    # the backward: the first pair's sides are operands 0 and 1, the second pair's (0, 1) and 2
    assert three.grouped_grad_macs == (((0,), 336), ((1,), 336), ((0, 1), 432), ((2,), 432))
    # opt_einsum's order (1, 2) then (0, 1): (jk,kl) 7*8*9 = 504, then (ij,jl) 6*7*9 = 378: 882 MACs
    assert f([(6, 7), (7, 8), (8, 9)], equation="ij,jk,kl->il", path=(1, 2, 0, 1)).macs == 882
    # ellipsis broadcasting: batch dims (2, 3) against (3,): bmm over 2*3 batches of 4x5 @ 5x6 = 720 MACs
    ell = f([(2, 3, 4, 5), (3, 5, 6)], equation="...ij,...jk->...ik")
    assert (ell.output_shape, ell.macs) == ((2, 3, 4, 6), 720)
    # a diagonal: "bii" takes the 3 diagonal entries, then bmm 2 batches x 3 summed x 5 = 30 MACs
    assert f([(2, 3, 3), (2, 3, 5)], equation="bii,bij->bj").macs == 30
    # one operand: a sum of 8*3*4 = 96 elements into 8: 88 adds
    assert (f([(8, 3, 4)], equation="bij->b").elementwise_ops, f([(8, 3, 4)], equation="bij->b").macs) == (88, 0)


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' has size 4"),
    ("ij->ik", [(2, 3)], "output subscript 'k'"),
    ("ij", [(2, 3, 4)], "operand 0 names 2 dimensions"),
    ("i.j", [(2, 3)], "not one '...'"),
    ("i1", [(2, 3)], "not a letter"),
    ("ij,jk", [(2, 3)], "names 2 operands, got 1"),
])
def test_refusals_name_the_problem(equation, shapes, message):
    with pytest.raises(ValueError, match=message):
        einsum_plan(shapes, equation)
    with pytest.raises(RuntimeError):  # and torch refuses them too
        torch.einsum(equation, *_meta(shapes))


class _Fn(torch.nn.Module):
    def __init__(self, fn, **tensors):
        super().__init__()
        self.fn = fn
        for k, v in tensors.items():
            if isinstance(v, torch.nn.Parameter):
                self.register_parameter(k, v)
            else:
                self.register_buffer(k, v)

    def forward(self, x):
        return self.fn(self, x)


def _traced_vs_flop_counter(model, shape, batch=2):
    """(archcalc forward + backward FLOPs, FlopCounterMode's) for ``model`` traced at ``shape``."""
    from archcalc.check.conventions import get_convention
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate
    from tests.backward_oracle import torch_flops

    ev = evaluate(from_torch(model, shape, batch=batch), batch=batch)
    conv = get_convention("torch")
    ours = (sum(conv.forward(r) for r in ev.rows), sum(conv.backward(r) for r in ev.rows))
    return ours, torch_flops(model, [torch.zeros(batch, *shape)])


@pytest.mark.parametrize("enabled", [False, True])
def test_traced_three_operands_follow_torchs_order(enabled):
    """A traced 3-operand einsum on a parameter and a buffer, with torch.backends.opt_einsum off and on (on
    needs opt_einsum installed: the tracer then records opt_einsum's path as torch hands it to ATen)."""
    from torch.backends import opt_einsum

    if enabled and not opt_einsum.is_available():
        pytest.skip("opt_einsum is not installed: torch contracts left to right")
    model = _Fn(lambda m, x: torch.einsum("bij,jk,kl->bil", x, m.w, m.c),
                w=torch.nn.Parameter(torch.zeros(5, 30)), c=torch.zeros(30, 2))
    with opt_einsum.flags(enabled=enabled):
        ours, theirs = _traced_vs_flop_counter(model, (4, 5))
    assert ours == theirs
    if not enabled:
        # left to right: (x w) 2*4 x 5 x 30 = 1,200 MACs, then (. c) 2*4 x 30 x 2 = 480: 3,360 FLOPs forward;
        # backward: w's gradient 1,200 MACs and the intermediate's 480 (w needs one; x and c do not): 3,360
        assert ours == (3360, 3360)


def test_fnet_tpu_fourier_exact():
    """HF FNet with use_tpu_fourier_optimizations: its DFT runs as einsum("bij,jk,ni->bnk", x, hidden DFT,
    sequence DFT), both DFT matrices buffers (no gradient)."""
    transformers = pytest.importorskip("transformers")
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.ir.evaluate import evaluate
    from tests.backward_oracle import compare_backward

    cfg = transformers.FNetConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, intermediate_size=64,
                                  max_position_embeddings=64, tpu_short_seq_length=16,
                                  use_tpu_fourier_optimizations=True)
    model = transformers.FNetModel(cfg).eval()
    graph = from_torch(model, (16,), batch=2, input_dtypes=("int64",))
    rows = [r for r in evaluate(graph, batch=2).rows if r.kind == "Einsum"]
    # per layer: (x, hidden DFT) bmm (b i) x j x k = 2*16 x 32 x 32 = 32,768 MACs, then (that, sequence DFT)
    # summing i: left-only b, k = 2*32, summed i = 16, right-only n = 16: 16,384; 49,152 MACs (complex64
    # counted as FlopCounterMode counts any bmm); every index multiplied together would be 2*16*32*32*16*2)
    assert [r.macs for r in rows] == [49152, 49152]
    ours, theirs = compare_backward(model, [torch.zeros(2, 16, dtype=torch.long)], graph)
    assert ours == theirs


@pytest.mark.parametrize("attention", ["local", "transient-global"])
def test_longt5_ellipsis_einsums_exact(attention):
    """LongT5's local and transient-global attention: einsums with '...' ("...qhd,...khd->...hqk",
    "...hqk,...khd->...qhd", "...nd,...ng->...gd"), the scores then updated in place (+= position bias);
    forward and backward FLOPs equal FlopCounterMode's on the meta device (they were refused)."""
    transformers = pytest.importorskip("transformers")
    from archcalc.frontends.torch_trace import _to_meta
    from tests.backward_oracle import compare_backward

    cfg = transformers.LongT5Config(vocab_size=256, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                                    local_radius=4, global_block_size=4, encoder_attention_type=attention)
    model = _to_meta(transformers.LongT5EncoderModel(cfg))
    ours, theirs = compare_backward(model, [torch.zeros(2, 16, dtype=torch.long, device="meta")], training=True)
    assert ours == theirs


def test_owlvit_class_head_einsum_exact():
    """OWL-ViT's class head: einsum("...pd,...qd->...pq", image class embeddings, query embeddings)."""
    transformers = pytest.importorskip("transformers")
    from archcalc.frontends.torch_trace import _to_meta
    from tests.backward_oracle import compare_backward

    text = dict(vocab_size=100, eos_token_id=2, bos_token_id=1, pad_token_id=0, hidden_size=32,
                intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, max_position_embeddings=16)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=32,
                  patch_size=8)
    cfg = transformers.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)
    model = _to_meta(transformers.OwlViTForObjectDetection(cfg))
    inputs = [torch.zeros(1, 16, dtype=torch.long, device="meta"), torch.zeros(1, 3, 32, 32, device="meta")]
    ours, theirs = compare_backward(model, inputs, training=True)
    assert ours == theirs


def test_sympy_one_broadcasts_like_the_int():
    # a size that a symbolic evaluation reduced to sympy's 1 (a pooled dimension) broadcasts as 1 does:
    # (1, 4) * (n, 4) is a mul of n*4 elements whatever the order, output (n, 4)
    import sympy

    n = sympy.Symbol("n", positive=True, integer=True)
    for shapes in ([(sympy.Integer(1), 4), (n, 4)], [(n, 4), (sympy.Integer(1), 4)]):
        plan = einsum_plan(shapes, "ij,ij->ij")
        assert (plan.output_shape, plan.macs, plan.elementwise_ops) == ((n, 4), 0, 4 * n)
