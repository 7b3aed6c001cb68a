"""Liveness peak memory on a hand-sized graph: every sample checked against arithmetic typed from torch's rules.

The graph is conv(3->4, 3x3, pad 1) -> in-place ReLU -> conv(4->2, 3x3, pad 1) on 2x3x8x8, fp32:
weights (4*3*9 + 4) + (2*4*9 + 2) = 112 + 74 = 186 parameters = 744 bytes; input 2*3*8*8*4 = 1,536 bytes;
first conv's output 2*4*8*8*4 = 2,048 bytes (the ReLU works in place on it); head output 2*2*8*8*4 = 1,024.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from archcalc.ir.graph import Graph, Node, TensorSpec
from archcalc.memory.liveness.fit import fit
from archcalc.memory.liveness.peak import peak_memory
from archcalc.memory.precision import autocast_policy, dtype_bytes, param_bytes


def tiny() -> Graph:
    conv = (("kernel_size", 3), ("padding", 1))
    return Graph("tiny", "", (TensorSpec("x", (3, 8, 8)),), (
        Node("conv", "Conv2d", ("x",), ("conv",), (("out_channels", 4), *conv), module="conv"),
        Node("relu", "ReLU", ("conv",), ("relu",), (("inplace", True),), module="relu"),
        Node("head", "Conv2d", ("relu",), ("head",), (("out_channels", 2), *conv), module="head")), ("head",))


def samples(p):
    return [(s.phase, s.op, s.live_bytes) for s in p.timeline]


def test_inference_frees_after_last_use():
    p = peak_memory(tiny(), batch=2)
    # conv: 744 + 1,536 + 2,048 = 4,328; in-place relu allocates nothing; head: + 1,024 = 5,352
    assert samples(p) == [("forward", "conv", 4328), ("forward", "relu", 4328), ("forward", "head", 5352)]
    assert (p.peak_bytes, p.peak_op, p.phase) == (5352, "head", "forward")
    assert p.breakdown.to_dict() == {"weights_bytes": 744, "gradients_bytes": 0, "optimizer_state_bytes": 0,
                                     "saved_bytes": 0, "transient_bytes": 3072, "inputs_bytes": 1536,
                                     "total_bytes": 5352}


def test_training_step_sgd():
    p = peak_memory(tiny(), batch=2, training=True, optimizer="sgd")
    # backward head: saved ReLU output 2,048 + d(sum) 4 + grad of its input 2,048 + head grads (72 + 2) * 4 = 296:
    #   744 + 1,536 + 2,048 + 4 + 2,048 + 296 = 6,676
    # backward relu: incoming 2,048 + new gradient 2,048 + saved 2,048 + 296: 744 + 1,536 + 6,144 + 296 = 8,720
    # backward conv: incoming 2,048, its grads (108 + 4) * 4 = 448: 744 + 1,536 + 296 + 448 + 2,048 = 5,072
    # SGD in place: 744 + 744 + 1,536 = 3,024
    assert samples(p)[3:] == [("backward", "head", 6676), ("backward", "relu", 8720), ("backward", "conv", 5072),
                              ("optimizer", "step", 3024)]
    assert (p.peak_bytes, p.peak_op, p.phase) == (8720, "relu", "backward")
    b = p.breakdown
    assert (b.saved_bytes, b.transient_bytes, b.gradients_bytes) == (2048, 4096, 296)
    assert p.model_state_bytes == 744 + 744


def test_adam_step_states_and_temporaries():
    p = peak_memory(tiny(), batch=2, training=True, optimizer="adam", first_step=True)
    opt = [s for s in samples(p) if s[0] == "optimizer"]
    # moments 2 * 744 = 1,488; at conv.weight two 432-byte temporaries (sqrt and quotient):
    # 744 + 744 + 1,488 + 1,536 + 864 = 5,376
    assert opt[0] == ("optimizer", "conv.weight", 5376)
    assert [s[2] for s in opt] == [4512 + 2 * n for n in (432, 16, 288, 8)]
    assert p.model_state_bytes == 4 * 744
    # a step N >= 2: the moments and four 0-d fp32 step tensors (4 x 4 = 16) alive from the start; the
    # optimizer's samples are the same plus 16, the backward's plus 1,488 + 16
    s = peak_memory(tiny(), batch=2, training=True, optimizer="adam")
    assert [x[2] for x in samples(s) if x[0] == "optimizer"] == [4512 + 16 + 2 * n for n in (432, 16, 288, 8)]
    assert s.model_state_bytes == 4 * 744 + 16 and s.step == "steady" and p.step == "first"
    back = [(x[2], y[2]) for x, y in zip(samples(p), samples(s), strict=True) if x[0] != "optimizer"]
    assert all(b - a == 1488 + 16 for a, b in back)


def test_steady_momentum_step_updates_in_place():
    # first step: backward as SGD (peak 8,720, test_training_step_sgd), then 744 of buffers: 3,024 + 744 = 3,768.
    # steady: the 744-byte buffers live throughout: backward relu 8,720 + 744 = 9,464; step() in place: 3,768
    first = peak_memory(tiny(), batch=2, training=True, optimizer="momentum", first_step=True)
    steady = peak_memory(tiny(), batch=2, training=True, optimizer="momentum")
    assert (first.peak_bytes, first.phase) == (8720, "backward")
    assert (steady.peak_bytes, steady.phase, samples(steady)[-1]) == (9464, "backward", ("optimizer", "step", 3768))
    assert steady.breakdown.optimizer_state_bytes == 744
    # SGD keeps no state: both steps are the same
    assert samples(peak_memory(tiny(), batch=2, training=True)) == samples(
        peak_memory(tiny(), batch=2, training=True, first_step=True))


def test_fit_is_the_closed_form():
    # inference peak(B) = 744 + B * (768 + 1,024 + 512) = 744 + 2,304 B; 10,000 bytes: B = floor(9,256 / 2,304) = 4
    f = fit(lambda b, s: tiny(), 10_000, input_shape=(3, 8, 8), margin=0)
    assert (f.batch, f.peak.peak_bytes, f.next_peak_bytes) == (4, 744 + 4 * 2304, 744 + 5 * 2304)
    with pytest.raises(ValueError, match=r"memory_bytes: 3000 bytes: nothing fits; batch 1 already peaks at 3.0 kB"):
        fit(lambda b, s: tiny(), 3000, input_shape=(3, 8, 8))
    # the default margin keeps 5 % free: 10,000 - 500 = 9,500; B = floor(8,756 / 2,304) = 3, 2,344 bytes left
    f = fit(lambda b, s: tiny(), 10_000, input_shape=(3, 8, 8))
    assert (f.batch, f.margin_bytes, f.usable_bytes, f.left_bytes) == (3, 500, 9500, 10_000 - 744 - 3 * 2304)
    with pytest.raises(ValueError, match=r"give more memory or a smaller margin \(5 % of the memory"):
        fit(lambda b, s: tiny(), 3100, input_shape=(3, 8, 8))  # batch 1's 3,048 fits 3,100, not 2,945
    with pytest.raises(ValueError, match=r"margin: got 1.5; give a fraction"):
        fit(lambda b, s: tiny(), 3100, input_shape=(3, 8, 8), margin=1.5)


def test_mixed_precision_casts_weights_and_halves_activations():
    p = peak_memory(tiny(), batch=2, precision="bf16-mixed")
    # conv: fp32 input cast to bf16 (768) and weights cached as bf16 ((108 + 4) * 2 = 224), bf16 output 1,024:
    #   744 + 1,536 + 768 + 224 + 1,024 = 4,296; relu: the cast input is gone, 4,296 - 768 = 3,528;
    #   head reads bf16 already: its weight casts 74 * 2 = 148 and a bf16 output 512: 3,528 + 660 = 4,188
    assert samples(p) == [("forward", "conv", 4296), ("forward", "relu", 3528), ("forward", "head", 4188)]


def test_results_are_frozen_and_arguments_checked():
    p = peak_memory(tiny(), batch=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.peak_bytes = 0
    for kwargs, message in (({"optimizer": "lamb"}, "optimizer: got 'lamb'; choose one of"),
                            ({"precision": "fp8"}, "precision: got 'fp8'; choose one of"),
                            ({"batch": 0}, "batch: got 0; give a positive integer"),
                            ({"device": "tpu"}, "device: got 'tpu'; choose one of")):
        with pytest.raises(ValueError, match=message):
            peak_memory(tiny(), **kwargs)


def test_precision_helpers():
    assert [dtype_bytes(p) for p in ("fp32", "fp16", "bf16", "fp16-mixed", "bf16-mixed")] == [4, 2, 2, 2, 2]
    assert [param_bytes(p) for p in ("fp32", "fp16", "bf16", "fp16-mixed", "bf16-mixed")] == [4, 2, 2, 4, 4]


@pytest.mark.torch
def test_autocast_lists_match_torch_on_cpu():
    """Each kind's policy against the dtype torch.autocast("cpu", bfloat16) really produces from fp32 inputs."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x4, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    m, q = torch.randn(2, 4, 4), torch.randn(1, 2, 4, 8)
    calls = {"Conv2d": lambda: F.conv2d(x4, w), "Linear": lambda: F.linear(m, m[0]), "MatMul": lambda: m @ m,
             "BMM": lambda: torch.bmm(m, m), "AddMM": lambda: torch.addmm(m[0], m[0], m[0]),
             "BAddBMM": lambda: torch.baddbmm(m, m, m), "ScaledDotProductAttention": lambda: F.scaled_dot_product_attention(q, q, q),
             "LayerNorm": lambda: F.layer_norm(m, (4,)), "Softmax": lambda: m.softmax(-1), "ReLU": lambda: F.relu(m),
             "BatchNorm2d": lambda: F.batch_norm(x4, None, None, training=True), "Add": lambda: m + m,
             "AvgPool3d": lambda: F.avg_pool3d(x4[None].to(torch.bfloat16), 1)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = {k: f().dtype for k, f in calls.items()}
    for kind, dtype in got.items():
        want = {"lower": torch.bfloat16, "fp32": torch.float32, None: torch.float32}[autocast_policy(kind, "cpu")]
        assert dtype == want, kind


def test_cli_peak_json_and_plot(tmp_path, capsys):
    from archcalc.cli import main

    out = tmp_path / "timeline.png"
    assert main(["peak", "resnet18", "--input", "3x64x64", "--batch", "2", "--training", "--optimizer", "adam",
                 "--json", "--plot", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"peak_bytes", "peak_op", "phase", "model_state_bytes", "breakdown", "precision"}
    assert data["peak_bytes"] == data["breakdown"]["total_bytes"] and out.stat().st_size > 1000


def test_cli_fit_json(capsys):
    from archcalc.cli import main

    assert main(["fit", "vgg11", "--input", "3x32x32", "--device-memory", "1GiB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["peak_bytes"] <= data["usable_bytes"] < data["next_peak_bytes"] and data["vary"] == "batch"
    assert (data["margin_bytes"], data["usable_bytes"]) == (53_687_091, 2**30 - 53_687_091)  # 5 %, rounded down
    assert data["left_bytes"] == 2**30 - data["peak_bytes"]


def test_cli_says_which_step_and_what_is_left(capsys):
    from archcalc.cli import main

    base = ["vgg11", "--input", "3x32x32", "--training", "--optimizer", "momentum"]
    assert main(["peak", *base]) == 0
    assert "steady-state (N >= 2) momentum training step" in capsys.readouterr().out
    assert main(["peak", *base, "--first-step", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == "first"
    # 2 GiB with a 10 % margin: 214,748,364 bytes kept (VGG-11's weights, gradients and momentum buffers
    # alone are 3 x 531.5 MB); the text says what is left beyond the peak
    assert main(["fit", *base, "--device-memory", "2GiB", "--margin", "10%", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["margin_bytes"], data["step"]) == (214_748_364, "steady")
    assert data["peak_bytes"] <= 2**31 - 214_748_364 < data["next_peak_bytes"]
    assert main(["fit", *base, "--device-memory", "2GiB", "--margin", "0"]) == 0
    out = capsys.readouterr().out
    assert "left beyond the peak:" in out and "no margin kept for the allocator: --margin 0" in out


@pytest.mark.parametrize("argv, message", [
    (["fit", "vgg11", "--device-memory", "24XB"], "argument --device-memory: '24XB' is not a size in bytes"),
    (["fit", "vgg11", "--device-memory", "1MB"], "--device-memory: 1000000 bytes: nothing fits; batch 1 already peaks"),
    (["fit", "vgg11", "--device-memory", "1GB", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["peak", "vgg11", "--batch", "0"], "argument --batch: got '0'; give a positive integer"),
    (["peak", "vgg11", "--optimizer", "adam"], "--optimizer: got 'adam' without --training"),
    (["peak", "vgg11", "--first-step"], "--first-step: given without --training"),
    (["fit", "vgg11", "--device-memory", "1GB", "--margin", "150%"], "argument --margin: got '150%'; give a percentage"),
    (["fit", "vgg11", "--device-memory", "1GB", "--margin", "lots"], "argument --margin: got 'lots'; give a percentage"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    from archcalc.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
