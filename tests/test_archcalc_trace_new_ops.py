"""Ops the tracer learned for the torchvision sweep: ``norm`` / ``clamp_min`` / ``expand_as`` (``F.normalize``
in Swin V2's cosine attention), ``zero_`` / ``fill_``, and RegNet's CPU build without initialisation."""

from __future__ import annotations

import pytest

from archcalc.ir import evaluate
from archcalc.ops import formula

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_normalize_traced_into_norm_clamp_expand_div():
    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    class Cosine(torch.nn.Module):
        def forward(self, x):
            b = x.clone()
            b[:, :2].zero_()
            return torch.nn.functional.normalize(b, dim=-1)

    g = from_torch(Cosine(), (5, 8))  # the tracer checks every shape against torch's
    assert unmodeled_nodes(g) == []
    rows = {r.kind: r for r in evaluate(g).rows}
    assert {"Norm", "ClampMin", "Expand", "Div", "Fill"} <= set(rows)
    # norm over 8: 5*8 squares + 5*7 adds + 5 roots = 80 = 2 * 40 input elements
    assert rows["Norm"].output_shape == (1, 5, 1) and rows["Norm"].elementwise_ops == 80
    assert rows["ClampMin"].elementwise_ops == 5  # one comparison per norm
    assert rows["Fill"].elementwise_ops == 0 and not rows["Fill"].allocates  # in place on a view
    assert not rows["Expand"].allocates


@pytest.mark.parametrize(("p", "ops"), [(1, 2 * 24 - 4), (2, 2 * 24), (3, 3 * 24), (float("inf"), 2 * 24 - 4)])
def test_norm_operation_counts(p, ops):
    # 4 rows of 6: p=1 abs + adds: 24 + 20; p=2: 24 squares + 20 adds + 4 roots; p=3: 48 + 20 + 4; inf: abs + max
    cost = formula("Norm")([(4, 6)], p=p, dim=-1)
    assert cost.output_shape == (4,) and cost.elementwise_ops == ops
    assert tuple(torch.zeros(4, 6).norm(p, -1).shape) == cost.output_shape


def test_regnet_builds_without_initialising_and_matches_cpu_build():
    # RegNet computes its widths with tensors at build time, so it cannot be built on meta directly.
    import torchvision

    from archcalc.frontends.torch_trace import build_torchvision_meta

    model = build_torchvision_meta("regnet_x_400mf")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    real = torchvision.models.regnet_x_400mf(weights=None)
    assert [(n, p.shape) for n, p in model.named_parameters()] == [(n, p.shape) for n, p in real.named_parameters()]
    assert sum(p.numel() for p in model.parameters()) == 5_495_976  # torchvision's documented num_params
