"""Every zoo model against its real torch twin (the oracle): total and per-module parameter counts
(``p.numel()``) and every module's output shape, from forward hooks on the meta device (shapes without
arithmetic), at 3x224x224 and at a second input."""

from __future__ import annotations

from collections import defaultdict

import pytest

from archcalc.costs.report import report
from archcalc.ir import evaluate
from archcalc.models.zoo import MODELS, build

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.torch

TORCHVISION = sorted(name for name in MODELS if build(name).twin == f"torchvision:{name}")


def torchvision_twin(name: str):
    kwargs = {"weights": None}
    if name == "googlenet":  # the inference graph: no auxiliary heads; skip the slow scipy initialisation
        kwargs.update(aux_logits=False, init_weights=False)
    return getattr(torchvision.models, name)(**kwargs)


def twin_shapes(model, shape: tuple[int, int, int]) -> dict[str, list[tuple[int, ...]]]:
    """Output shape (batch 1 included) of every call of every leaf module, in call order."""
    calls: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    handles = []
    for name, module in model.named_modules():
        if not list(module.children()):
            handles.append(
                module.register_forward_hook(lambda m, i, o, name=name: calls[name].append(tuple(o.shape)))
            )
    model.eval()
    with torch.no_grad():
        model(torch.empty((1, *shape), device="meta"))
    for h in handles:
        h.remove()
    return dict(calls)


def compare(name: str, model, shape: tuple[int, int, int]) -> None:
    ev = evaluate(build(name), shape)
    ours: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    our_params: dict[str, int] = defaultdict(int)
    for row in ev.rows:
        if row.module is not None:
            ours[row.module].append(tuple(row.output_shape))
            our_params[row.module] += row.params
        else:
            assert row.params == 0, f"{row.name}: a functional op has no parameters"
    theirs = twin_shapes(model, shape)
    assert ours == theirs
    modules = dict(model.named_modules())
    for module_name, params in our_params.items():
        assert params == sum(p.numel() for p in modules[module_name].parameters()), module_name
    assert ev.total("params") == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", TORCHVISION)
@pytest.mark.parametrize("shape", [(3, 224, 224), (3, 160, 128)], ids=["224", "160x128"])
def test_zoo_matches_torchvision(name, shape):
    with torch.device("meta"):
        model = torchvision_twin(name)
    compare(name, model, shape)


def test_inception_small_matches_its_twin():
    from archcalc.models import twins as models

    for shape in ((1, 28, 28), (3, 32, 32)):
        with torch.device("meta"):
            model = models.InceptionSmall(in_channels=shape[0], num_classes=10)
        compare("inception-small", model, shape)


def test_meta_shapes_are_cpu_shapes():
    """One real CPU model (not meta) as a guard that meta-device shapes are torch's shapes."""
    with torch.device("meta"):
        model = torchvision_twin("vgg11")
    model = model.to_empty(device="cpu")
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    assert tuple(out.shape) == report(build("vgg11"), (3, 64, 64)).output_shape


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "vgg11_bn", "alexnet"])
def test_zoo_equals_the_traced_twin(name):
    """The hand-built zoo graph and the graph traced from the real torchvision module agree per module:
    parameters, MACs, element-wise operations and output shapes (two independent routes to one number)."""
    from archcalc.frontends.torch_trace import from_torchvision

    def by_module(ev):
        out: dict[str, list] = defaultdict(lambda: [0, 0, 0])
        for row in ev.rows:
            key = row.module or row.name.rsplit(".", 1)[0]
            out[key][0] += row.params
            out[key][1] += row.macs
            out[key][2] += row.elementwise_ops
        return {k: tuple(v) for k, v in out.items() if any(v)}

    zoo, traced = evaluate(build(name)), evaluate(from_torchvision(name))
    assert by_module(zoo) == by_module(traced)
    assert (zoo.total("params"), zoo.total("macs"), zoo.output_shape) == (
        traced.total("params"), traced.total("macs"), traced.output_shape)
