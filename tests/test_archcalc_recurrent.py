"""Recurrent ops (RNN, LSTM, GRU): formulas against real torch modules and FlopCounterMode on the meta device."""

from __future__ import annotations

import pytest

from archcalc.ir.evaluate import evaluate
from archcalc.ops import formula

pytestmark = pytest.mark.torch

CONFIGS = [
    # (kind, kwargs of the torch module and the formula)
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "bias": False}),
    ("RNN", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {}),
    ("GRU", {"num_layers": 3, "bias": False}),
    ("GRU", {"bidirectional": True, "batch_first": True}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 3, "batch_first": True}),
]
IN, H, L, N = 3, 5, 4, 2


def _module(kind, kw):
    import torch.nn as nn

    return getattr(nn, kind)(IN, H, **kw)


def _flops_and_outputs(module, x, backward=False):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    meta = module.to("meta")
    with FlopCounterMode(display=False) as counter:
        out, state = meta(x)
        if backward:
            out.sum().backward()
    states = state if isinstance(state, tuple) else (state,)
    assert all(isinstance(t, torch.Tensor) for t in states)
    return counter.get_total_flops(), (tuple(out.shape), *(tuple(s.shape) for s in states))


@pytest.mark.parametrize(("kind", "kw"), CONFIGS)
def test_params_shapes_and_flops_equal_torch(kind, kw):
    import torch

    module = _module(kind, kw)
    shape = (N, L, IN) if kw.get("batch_first") else (L, N, IN)
    cost = formula(kind)([shape], hidden_size=H, **kw)
    # Parameter names and shapes exactly torch's, in _flat_weights order.
    assert cost.param_shapes == tuple((n, tuple(p.shape)) for n, p in zip(
        module._flat_weights_names, module._flat_weights, strict=True))
    assert cost.params == sum(p.numel() for p in module.parameters())
    flops, shapes = _flops_and_outputs(module, torch.zeros(shape, device="meta"))
    assert 2 * cost.macs == flops
    assert cost.output_shapes == shapes


def test_lstm_by_hand():
    # nn.LSTM(3, 5), L=4, N=2: 4 gates x 5 = 20 rows.
    # params: w_ih 20*3 + w_hh 20*5 + 2 biases 20 = 60 + 100 + 40 = 200
    # MACs: L*N * 20 * (3 + 5) = 8 * 160 = 1,280
    # element-wise: L*N*H * (22 + 8) = 8 * 5 * 30 = 1,200
    # backward: input grad 8 * 20*3 = 480; h0 grad N * 20*5 = 200; weight work 2*1280 - 480 - 200 = 1,880
    cost = formula("LSTM")([(L, N, IN)], hidden_size=H)
    assert (cost.params, cost.macs, cost.elementwise_ops) == (200, 1280, 1200)
    assert cost.input_grad_macs == (480, 200) and cost.backward_weight_macs == 1880
    # output 4*2*5 + h_n 1*2*5 + c_n 1*2*5 = 40 + 10 + 10
    assert cost.activations == 60


def test_gru_and_rnn_elementwise_by_hand():
    # GRU, bias: 22 ops per unit and step; 2 layers bidirectional: L*N * D*layers*H = 8 * 2*2*5 = 160 units
    assert formula("GRU")([(L, N, IN)], hidden_size=H, num_layers=2, bidirectional=True).elementwise_ops == 160 * 22
    # RNN without bias: ih + hh, relu = 2 per unit: 8 * 5 * 2 = 80
    assert formula("RNN")([(L, N, IN)], hidden_size=H, bias=False, nonlinearity="relu").elementwise_ops == 80
    # LSTM dropout between 3 layers in training: + 2 ops x (3 - 1) layers x 8 tokens x 5 = 160; mask 80
    base = formula("LSTM")([(L, N, IN)], hidden_size=H, num_layers=3)
    drop = formula("LSTM")([(L, N, IN)], hidden_size=H, num_layers=3, dropout=0.5, training=True)
    assert drop.elementwise_ops - base.elementwise_ops == 160 and drop.saved_mask_elements == 80


@pytest.mark.parametrize(("kind", "kw"), [CONFIGS[2], CONFIGS[4], CONFIGS[7], CONFIGS[9]])
@pytest.mark.parametrize("input_grad", [False, True])
def test_backward_equals_flop_counter(kind, kw, input_grad):
    # FlopCounterMode counts the decomposition's backward mm / addmm: forward + backward flops.
    import torch

    shape = (N, L, IN) if kw.get("batch_first") else (L, N, IN)
    cost = formula(kind)([shape], hidden_size=H, **kw)
    x = torch.zeros(shape, device="meta", requires_grad=input_grad)
    flops, _ = _flops_and_outputs(_module(kind, kw), x, backward=True)
    backward_macs = cost.backward_weight_macs + (cost.input_grad_macs[0] if input_grad else 0)
    assert flops == 2 * (cost.macs + backward_macs)


def test_unbatched_input():
    import torch

    module = _module("LSTM", {"num_layers": 2})
    cost = formula("LSTM")([(L, IN)], hidden_size=H, num_layers=2)
    flops, shapes = _flops_and_outputs(module, torch.zeros(L, IN, device="meta"))
    assert cost.output_shapes == shapes == ((L, H), (2, H), (2, H))
    assert 2 * cost.macs == flops


@pytest.mark.parametrize(("kind", "kw"), [CONFIGS[1], CONFIGS[5], CONFIGS[9]])
def test_traced_module_is_one_node(kind, kw):
    from archcalc.frontends.torch_trace import from_torch

    module = _module(kind, kw)
    graph = from_torch(module, (L, IN), batch=N)  # (N, L, IN) is (L=N, N=L, IN) for a sequence-first module
    nodes = [n for n in graph.nodes if n.kind != "Constant"]
    assert [n.kind for n in nodes] == [kind]
    ev = evaluate(graph, batch=N)
    assert ev.total("params") == sum(p.numel() for p in module.parameters())
    full = (N, L, IN)
    flops, shapes = _flops_and_outputs(module, __import__("torch").zeros(full, device="meta"))
    assert 2 * ev.total("macs") == flops
    assert [r for r in ev.rows if r.kind == kind][0].output_shapes == shapes


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"num_layers": 0}, "num_layers"),
    ({"nonlinearity": "gelu"}, "nonlinearity"),
    ({"proj_size": 2}, "proj_size"),
])
def test_bad_hparams_raise(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        formula("RNN")([(L, N, IN)], hidden_size=H, **kwargs)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="expects an input"):
        formula("GRU")([(N, L, IN, 1)], hidden_size=H)
    with pytest.raises(ValueError, match="initial state"):
        formula("LSTM")([(L, N, IN), (1, N, H), (1, N, H), (20, 3)], hidden_size=H)
    weights = [(20, 4), (20, 5), (20,), (20,)]  # weight_ih has 4 columns but the input 3 features
    with pytest.raises(ValueError, match="weight_ih_l0"):
        formula("LSTM")([(L, N, IN), (1, N, H), (1, N, H), *weights], hidden_size=H)
