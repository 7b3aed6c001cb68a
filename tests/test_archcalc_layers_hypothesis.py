"""Random Conv2d / MaxPool2d / AvgPool2d / Linear layers: archcalc's output shapes and parameter counts equal
torch's (the oracle is a real ``torch.nn`` module run on CPU), and what torch rejects archcalc rejects."""

from __future__ import annotations

import pytest
from hypothesis import given
from strategies import conv2d_configs, linear_configs, pool2d_configs

from archcalc.ir import evaluate
from archcalc.ir.build import from_tree, layer, seq
from archcalc.ops import REGISTRY

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def ours(kind: str, config: dict) -> tuple[tuple[int, ...], int]:
    """(output shape at batch 1, params) from a one-layer network; ValueError if archcalc rejects it."""
    net = from_tree("one", "", config["input"], seq("", [layer("l", kind, **config["hparams"])]))
    row = evaluate(net, config["input"], batch=1).rows[0]
    return row.output_shape, row.params


def theirs(module_factory, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int] | None:
    """(output shape at batch 1, params) from torch, or None when torch rejects the layer or the input."""
    try:
        module = module_factory()
        out = module(torch.zeros((1, *shape)))
    except (RuntimeError, ValueError):
        return None
    if 0 in out.shape:  # torch may return an empty tensor where archcalc reports "a dimension reaches zero"
        return None
    return tuple(out.shape), sum(p.numel() for p in module.parameters())


def check(kind: str, config: dict, expected) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            ours(kind, config)
    else:
        assert ours(kind, config) == expected


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's note on even kernels
@given(conv2d_configs())
def test_conv2d_matches_torch(config):
    hp = dict(config["hparams"])
    c_in = config["input"][0]

    def make():
        return torch.nn.Conv2d(c_in, **hp)

    check("Conv2d", config, theirs(make, config["input"]))


@given(pool2d_configs("MaxPool2d"))
def test_maxpool2d_matches_torch(config):
    check("MaxPool2d", config, theirs(lambda: torch.nn.MaxPool2d(**config["hparams"]), config["input"]))


@given(pool2d_configs("AvgPool2d"))
def test_avgpool2d_matches_torch(config):
    check("AvgPool2d", config, theirs(lambda: torch.nn.AvgPool2d(**config["hparams"]), config["input"]))


@given(linear_configs())
def test_linear_matches_torch(config):
    f_in = config["input"][0]
    hp = config["hparams"]
    expected = theirs(lambda: torch.nn.Linear(f_in, hp["out_features"], bias=hp["bias"]), config["input"])
    assert expected is not None
    cost = REGISTRY["Linear"]([(1, *config["input"])], **hp)
    assert (cost.output_shape, cost.params) == expected
