"""Custom ``torch.autograd.Function`` backwards (:mod:`archcalc.frontends.torch_custom`): traced and counted
exactly where they can be, listed as not modelled where not.

Oracle: FlopCounterMode around the real module's forward and ``loss.backward()`` (:mod:`tests.backward_oracle`),
which runs each Function's own backward, recomputed forwards and inner ``.backward()`` calls included.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.backward_oracle import compare_backward

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.torch


class ScaledMatMul(torch.autograd.Function):
    """y = x @ w; its backward returns 2 g w^T for x and nothing for w (not autograd's own gradient)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(w)
        return x @ w

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return 2 * (g @ w.t()), None


class PenaltyGrad(torch.autograd.Function):
    """Its backward asks torch.autograd.grad for one gradient: not traceable as an analytical backward."""

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        with torch.enable_grad():
            z = torch.zeros(2, 3, requires_grad=True)
            (dz,) = torch.autograd.grad((z * z).sum(), z)
        return g + dz.sum()


class Reversible(torch.autograd.Function):
    """A RevNet block (Reformer's): y1 = x1 + f(x2), y2 = x2 + g(y1) without grad; the backward recomputes
    g(y1) and f(x2) with grad and calls ``.backward()`` through each, rebuilding x from y."""

    @staticmethod
    def forward(ctx, x, f, g):
        # detached halves: FlopCounterMode's module tracker cannot hook a grad-less view of x (Reformer's
        # reason for checking the whole model only in the coverage suite)
        x1, x2 = x.detach().chunk(2, -1)
        y1 = x1 + f(x2)
        y2 = x2 + g(y1)
        ctx.f, ctx.g = f, g
        ctx.save_for_backward(y1, y2)
        return torch.cat([y1, y2], -1)

    @staticmethod
    def backward(ctx, dy):
        y1, y2 = ctx.saved_tensors
        dy1, dy2 = dy.chunk(2, -1)
        with torch.enable_grad():
            y1.requires_grad = True
            gy1 = ctx.g(y1)
            gy1.backward(dy2)
        with torch.no_grad():
            x2 = y2 - gy1
            dx1 = dy1 + y1.grad
        with torch.enable_grad():
            x2.requires_grad = True
            fx2 = ctx.f(x2)
            fx2.backward(dx1)
        return torch.cat([dx1, dy2 + x2.grad], -1), None, None


class UsesScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(3, 3)
        self.w = nn.Parameter(torch.ones(3, 2))

    def forward(self, x):
        return ScaledMatMul.apply(self.pre(x), self.w)


class UsesPenalty(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(3, 3)

    def forward(self, x):
        return PenaltyGrad.apply(self.pre(x))


class RevBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre, self.f, self.g, self.head = nn.Linear(8, 8), nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(8, 3)

    def forward(self, x):
        return self.head(Reversible.apply(self.pre(x), self.f, self.g))


def _trace(model, *shape, training=True):
    from archcalc.frontends.torch_trace import from_torch

    return from_torch(model, shape[1:], batch=shape[0], training=training)


def test_a_custom_backward_is_counted_as_it_runs():
    # x 4x3. forward: pre 4*3*3 = 36, x @ w 4*3*2 = 24: 60 MACs = 120 FLOPs. backward: pre's weight 36 (its
    # input is the network input: no gradient); the Function's own backward g @ w^T 4*2*3 = 24 and nothing
    # for w (autograd's gradient of x @ w would be 24 + 24): 60 MACs = 120 FLOPs
    model = UsesScaled()
    graph = _trace(model, 4, 3)
    ours, theirs = compare_backward(model, [torch.zeros(4, 3)], graph, training=True)
    assert ours == theirs == (120, 120)
    (node,) = [n for n in graph.nodes if n.kind == "CustomBackward"]
    assert dict(node.hparams) == {"function": "ScaledMatMul", "backward_macs": 24}


def test_a_reversible_block_counts_its_recompute_and_inner_backwards():
    # x 2x8. forward: pre 2*8*8 = 128, f and g 2*4*4 = 32 each, head 2*8*3 = 48: 240 MACs = 480 FLOPs.
    # backward: head's weight and input 48 + 48; the Function's backward recomputes g (32) and f (32) and
    # back-propagates through each, weight and input 32 + 32 each (y1 and x2 are made leaves needing a
    # gradient): 192; pre's weight 128: 416 MACs = 832 FLOPs
    model = RevBlock()
    graph = _trace(model, 2, 8)
    # the traced backward leaves the module as it was: no gradient set on its parameters
    assert all(p.grad is None for p in model.parameters())
    ours, theirs = compare_backward(model, [torch.zeros(2, 8)], graph, training=True)
    assert ours == theirs == (480, 832)
    (node,) = [n for n in graph.nodes if n.kind == "CustomBackward"]
    assert dict(node.hparams)["backward_macs"] == 192


def test_a_custom_backward_that_cannot_be_traced_is_listed():
    from archcalc.costs.report import report
    from archcalc.frontends.torch_trace import unmodeled_nodes

    model = UsesPenalty()
    graph = _trace(model, 4, 3)
    ((op, hp),) = [(dict(n.hparams)["op"], n.hparams) for n in unmodeled_nodes(graph)]
    assert op == "custom autograd.Function backward (PenaltyGrad)"
    assert any("PenaltyGrad: backward not modelled" in n and "torch.autograd.grad" in n for n in graph.notes)
    # counted by kind in a training report; an inference report does not run the backward
    assert dict(report(graph, (3,), batch=4, training=True).unmodeled) == {op: 1}
    assert report(graph, (3,), batch=4).unmodeled == ()
    # the backward it cannot count is 0 in archcalc (pre's weight 4*3*3 = 36 MACs = 72 FLOPs only); the
    # Function's real backward adds no MACs (g + a sum), so here the totals still agree
    ours, theirs = compare_backward(model, [torch.zeros(4, 3)], graph, training=True)
    assert ours == theirs == (72, 72)


def test_a_backward_that_asserts_training_is_listed_in_eval_mode():
    class TrainOnly(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            raise AssertionError("put the model into training mode")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Linear(3, 3)

        def forward(self, x):
            return TrainOnly.apply(self.pre(x))

    graph = _trace(Net(), 2, 3, training=False)
    assert any("TrainOnly: backward not modelled (counted 0): its backward raised AssertionError: put the model"
               in n for n in graph.notes)


def test_strict_exits_non_zero_for_an_untraced_custom_backward(tmp_path):
    # FILE.py:NAME on the command line: --training lists the custom backward, --strict turns that into exit 1
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent('''
        import torch
        from torch import nn

        class PenaltyGrad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1.0

            @staticmethod
            def backward(ctx, g):
                with torch.enable_grad():
                    z = torch.zeros(2, requires_grad=True)
                    (dz,) = torch.autograd.grad((z * z).sum(), z)
                return g + dz.sum()

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.pre = nn.Linear(3, 3)

            def forward(self, x):
                return PenaltyGrad.apply(self.pre(x))
        '''))
    cmd = [sys.executable, "-m", "archcalc", "report", f"{path}:Net", "--input", "3", "--training", "--strict"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "custom autograd.Function backward (PenaltyGrad)" in run.stderr
    lenient = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=120)
    assert lenient.returncode == 0 and "PenaltyGrad" in lenient.stdout


def test_legacy_new_is_a_factory():
    # x.new(*sizes) (Reformer's undo-sort buffer) makes an uninitialised tensor: a Constant, no arithmetic
    class New(nn.Module):
        def forward(self, x):
            return x + x.new(*x.size()).zero_()

    graph = _trace(New(), 2, 5, training=False)
    assert [n.kind for n in graph.nodes] == ["Constant", "Fill", "Add"]


def test_softmax_backward_data_is_softmax_s_input_gradient():
    # torch._softmax_backward_data(g, y, dim, dtype) on 2x3x5: the same gradient autograd gives softmax's input,
    # no MACs (FlopCounterMode counts 0 too), 4 operations per element: 4 * 30 = 120
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.ops import formula

    x = torch.randn(2, 3, 5, requires_grad=True)
    g = torch.randn(2, 3, 5)
    y = torch.softmax(x, -1)
    (expected,) = torch.autograd.grad(y, x, g)
    with FlopCounterMode(display=False) as counter:
        got = torch._softmax_backward_data(g, y.detach(), -1, y.dtype)
    assert torch.allclose(got, expected) and counter.get_total_flops() == 0
    cost = formula("SoftmaxBackward")([(2, 3, 5), (2, 3, 5)], dim=-1)
    assert (cost.output_shape, cost.macs, cost.elementwise_ops) == ((2, 3, 5), 0, 120)


# -- what autograd keeps when only one operand needs a gradient (issue 18 item 3) --------------------------
# Each case runs y = x * w first (w a parameter: keeps x, 96 bytes, in both counts); d = y.detach() + c needs
# no gradient. Oracle: the bytes saved_tensors_hooks sees (tests/test_archcalc_op_kinds.check).


@pytest.mark.parametrize(("fn", "kind", "ops"), [
    (lambda y: y * (y.detach() + 1), "Mul", 48),  # y needs a gradient: keeps d only (96): 192 bytes in all
    (lambda y: (y.detach() + 1) * y, "Mul", 48),  # the same, operands swapped (24 + 24 ops: x * w and this one)
    (lambda y: y * y.flip(1), "Mul", 48),  # both need one: keeps both (the flip is a new tensor)
    (lambda y: y / (y.detach() + 1), "Div", 24),  # x / d keeps d only
    (lambda y: (y.detach() + 1) / y, "Div", 24),  # d / y keeps d and y (y's gradient -g d / y^2)
    (lambda y: y % (y.detach() + 2), "Remainder", 24),  # keeps nothing: x's gradient is g itself
    (lambda y: (y.detach() + 2) % y, "Remainder", 24),  # y's gradient -g floor(d / y): keeps d and y
])
def test_binary_ops_keep_only_what_the_needed_gradients_read(fn, kind, ops):
    from tests.test_archcalc_op_kinds import check

    check(fn, kind, ops)


class Gate(nn.Module):
    """``b(a(x) * d) % (x + 2)`` with ``d = x.flip(1) + 1``: d and the divisor come from the input (no gradient)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(512, 512), nn.Linear(512, 512)

    def forward(self, x):
        # h and d stay referenced until the forward returns (a trace on meta keeps input-derived values such
        # as d alive, so a temporary d would be released later than the real run releases it)
        h = self.a(x)
        d = x.flip(1) + 1
        return self.b(h * d) % (x + 2)


def test_training_peak_keeps_only_the_operand_a_gradient_reads(one_torch_thread):
    # 256 x 512 float32 tensors of 524,288 B. Autograd keeps d for a(x)'s gradient, not a(x) (d needs none),
    # and nothing for the remainder (its divisor needs no gradient). Oracle: glibc's live heap bytes sampled
    # through the real SGD step (tests/peak_tracker.py), within 2 %: 5,773,312 B predicted, 5,773,920 measured;
    # keeping h as well was 9 % high (6,297,600 B).
    from peak_tracker import measure_step

    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.peak import peak_memory

    torch.manual_seed(0)
    model, x = Gate(), torch.randn(256, 512)
    graph = from_torch(model, (512,), batch=256, training=True)
    predicted = peak_memory(graph, (512,), 256, training=True, optimizer="sgd", first_step=True).peak_bytes
    measured = measure_step(model, x, "sgd").peak_bytes
    assert abs(predicted - measured) <= 0.02 * measured, (predicted, measured)
