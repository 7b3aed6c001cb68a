"""Predicted peaks against the peak the real CPU run reaches (tests/peak_tracker.py: glibc's live heap bytes
sampled after every torch call and autograd node of the real step), within 2 %.

A representative slice that fits CI (about two minutes on two cores); ``benchmarks/bench_peak.py`` runs the
full grid (every zoo model and seven torchvision models, batch 1 / 8 / 32, inference / SGD / Adam, fp32 and
bf16 autocast); pure bf16 (``model.to(torch.bfloat16)``) is checked here on ResNet-18 and records it in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.slow]
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from peak_tracker import measure_step  # noqa: E402

from archcalc.memory.peak import peak_memory  # noqa: E402

CASES = [
    *[("resnet18", b, mode, "fp32") for b in (1, 8, 32) for mode in ("inference", "sgd", "adam")],
    ("vgg11", 8, "inference", "fp32"), ("vgg11", 8, "sgd", "fp32"),
    ("googlenet", 8, "sgd", "fp32"), ("inception-small", 8, "sgd", "fp32"),
    ("torchvision:mobilenet_v2", 8, "sgd", "fp32"), ("torchvision:densenet121", 8, "inference", "fp32"),
    ("torchvision:efficientnet_b0", 8, "adam", "fp32"), ("torchvision:shufflenet_v2_x1_0", 8, "sgd", "fp32"),
    ("resnet18", 8, "inference", "bf16-mixed"), ("resnet18", 32, "sgd", "bf16-mixed"),
    ("torchvision:mobilenet_v2", 8, "sgd", "bf16-mixed"), ("resnet18", 8, "adam", "bf16"),
]


def _twin(name: str, size: int):
    torch.manual_seed(0)
    if name == "inception-small":
        from mlcore.models import inception_small

        return inception_small((3, size, size))
    tv = name.removeprefix("torchvision:")
    kwargs = {"aux_logits": False, "init_weights": False} if tv == "googlenet" else {}
    return getattr(torchvision.models, tv)(weights=None, **kwargs)


@pytest.mark.parametrize("name, batch, mode, precision", CASES)
def test_peak_matches_the_real_run(name, batch, mode, precision, one_torch_thread):
    size = 32 if name == "inception-small" else 64
    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        graph = from_torchvision(name.removeprefix("torchvision:"), (3, size, size), batch)
    else:
        from archcalc.zoo import build

        graph = build(name)
    x, model = torch.randn(batch, 3, size, size), _twin(name, size)
    if precision == "bf16":  # the model and its input converted, no autocast
        x, model = x.to(torch.bfloat16), model.to(torch.bfloat16)
    measured = measure_step(model, x, mode, torch.bfloat16 if precision == "bf16-mixed" else None)
    p = peak_memory(graph, (3, size, size), batch, training=mode != "inference",
                    optimizer="adam" if mode == "adam" else "sgd", precision=precision)
    # the oracle counts malloc's block headers and page rounding on top of tensor bytes; 2 % is the bar
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)
    assert p.breakdown.total_bytes == p.peak_bytes
