"""Library calls leave no global state changed: torch's thread count and RNG, the formula registry, and
the conventions (listed explicitly, not registered by an import's side effect)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from archcalc.ir.evaluate import evaluate
from archcalc.models.zoo import build
from archcalc.ops.registry import REGISTRY, formula

ROOT = Path(__file__).resolve().parents[1]


def _torch_state(torch):
    return torch.get_num_threads(), torch.random.get_rng_state().clone()


def _assert_same(torch, before):
    threads, rng = before
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)


@pytest.mark.torch
def test_crosscheck_restores_the_thread_count():
    torch = pytest.importorskip("torch")
    from archcalc.check.crosscheck import crosscheck

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # anything but the 2 crosscheck runs on
    try:
        before = _torch_state(torch)
        assert crosscheck("inception-small", (1, 8, 8), batch=2).ok
        _assert_same(torch, before)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.torch
def test_check_saved_restores_the_thread_count_and_the_rng():
    torch = pytest.importorskip("torch")
    from archcalc.check.saved import check_saved

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(1234)  # a caller's own stream: check_saved seeds 0 inside, then gives this one back
    try:
        before = _torch_state(torch)
        expected_next = torch.randn(3)
        torch.random.set_rng_state(before[1])
        check_saved("inception-small", (1, 28, 28), batch=2)
        _assert_same(torch, before)
        assert torch.equal(torch.randn(3), expected_next)  # the caller's stream goes on where it was
    finally:
        torch.set_num_threads(threads)


@pytest.mark.torch
def test_torch_state_restores_after_an_exception():
    torch = pytest.importorskip("torch")
    from archcalc.frontends.torch_state import torch_state

    before = _torch_state(torch)
    with pytest.raises(RuntimeError), torch_state(threads=1, seed=7):
        torch.randn(5)
        raise RuntimeError("inside")
    _assert_same(torch, before)


def test_a_formula_override_applies_to_one_call_only():
    # resnet18 at 3x32x32: conv MACs 1,813,561,344 at 224x224 (test_archcalc_presets_peers) / 49 = 37,011,456
    # (every map (32/224)^2 as large), fc 512 x 1000 = 512,000; with Conv2d counted twice for this one call,
    # 2 x 37,011,456 + 512,000 = 74,534,912; the registry is untouched after it
    def double(shapes, **hp):
        cost = formula("Conv2d")(shapes, **hp)
        return dataclasses.replace(cost, macs=2 * cost.macs)

    graph = build("resnet18")
    plain = evaluate(graph, (3, 32, 32))
    conv = sum(r.macs for r in plain.rows if r.kind == "Conv2d")
    fc = sum(r.macs for r in plain.rows if r.kind == "Linear")
    assert (conv, fc) == (37_011_456, 512_000)
    registered = REGISTRY["Conv2d"]
    assert evaluate(graph, (3, 32, 32), formulas={"Conv2d": double}).total("macs") == 74_534_912
    assert REGISTRY["Conv2d"] is registered
    assert evaluate(graph, (3, 32, 32)).total("macs") == plain.total("macs") == conv + fc


def test_a_formula_override_is_checked():
    with pytest.raises(ValueError, match="op kind: got 'Conv9d'"):
        evaluate(build("resnet18"), (3, 32, 32), formulas={"Conv9d": lambda shapes, **hp: None})
    with pytest.raises(ValueError, match="formulas: the formula for 'ReLU' is 3"):
        evaluate(build("resnet18"), (3, 32, 32), formulas={"ReLU": 3})


def test_presets_are_listed_explicitly_without_an_import_cycle():
    from archcalc.check.conventions import CONVENTIONS

    assert list(CONVENTIONS) == ["macs", "flops", "fvcore", "torch", "ptflops", "thop"]
    # presets.py holds formulas and imports nothing from conventions.py (the cycle that registered them)
    tree = ast.parse((ROOT / "archcalc" / "check" / "presets.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "archcalc.check.conventions" not in imported
