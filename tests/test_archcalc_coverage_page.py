"""docs/coverage.md cannot rot: three of its rows recomputed now equal the checked-in ones."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]


def _coverage_script():
    spec = importlib.util.spec_from_file_location("bench_coverage", ROOT / "benchmarks" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page_rows():
    cov = _coverage_script()
    return cov, cov.parse((ROOT / "docs" / "coverage.md").read_text())


def test_page_lists_every_model_clean(page_rows):
    import torchvision

    _, rows = page_rows
    assert set(rows) == set(torchvision.models.list_models(module=torchvision.models))
    for name, row in rows.items():
        assert row["unmodelled"] == "0", name
        assert row["2 x MACs"] == row["FlopCounterMode FLOPs"], name
        assert row["fvcore convention"] == row["FlopCountAnalysis"], name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1", "mobilenet_v3_small"])
def test_checked_in_row_equals_fresh_run(page_rows, name, one_torch_thread):
    cov, rows = page_rows
    fresh = dict(zip(cov.COLUMNS, cov.measure(name).cells(), strict=True))
    checked_in = rows[name]
    for column in cov.COLUMNS:
        if column != "trace (s)":  # a timing, not a number archcalc computes
            assert checked_in[column] == fresh[column], (name, column)
    # resnet18: 11,689,512 parameters (torchvision's documented num_params)
    assert name != "resnet18" or checked_in["params"] == "11,689,512"
