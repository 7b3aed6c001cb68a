"""Library errors speak in the library's parameters; only the command lines speak in flags.

A library function refuses a bad argument with :class:`dlperf.errors.ArgumentError` (``.param``,
``.value``, ``.fix``) in its own parameter names; the CLI frame names each parameter by the chosen
command's flag (the option with that ``dest``, else the CLI's one ``FLAGS`` table). Checked two ways:

- statically: no string constant that reaches an error in a library module (a ``raise``, an exception's
  constructor, a validator such as ``check_int``) names a flag (``--batch``); CLI modules (``cli.py``, the
  ``commands`` folders and modules that build argparse options) are the only places flags are spoken;
- at run time: representative bad calls raise ``ArgumentError`` naming the parameter, without ``--``, and
  the same bad value on the command line names the flag.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dlperf.errors import ArgumentError

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(?<![\w-])--[a-z]")
# Calls whose string arguments end up in an error message.
_ERROR_CALL = re.compile(r"(Error|Exception|^_?check_\w*|^_bad|^_flag_int|^_length|^load_source|^user_code)$")


def _is_cli(path: Path, source: str) -> bool:
    return path.name == "cli.py" or "commands" in path.parts or "import argparse" in source


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def flag_strings_in_library_errors() -> list[str]:
    """``path:line: text`` of each string constant naming a flag inside a library error (see the docstring)."""
    found = []
    for package in ("archcalc", "staleness", "mlcore", "dlperf"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if _is_cli(path, source):
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Raise) or (isinstance(node, ast.Call) and _ERROR_CALL.search(_name(node.func))):
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and FLAG.search(sub.value):
                            found.append(f"{path.relative_to(ROOT)}:{sub.lineno}: {sub.value!r}")
    return sorted(set(found))


def test_no_library_error_names_a_flag():
    # before issue 20: 171 such strings in 27 modules (stale_training's "--workers", evaluate's "--batch", ...)
    assert flag_strings_in_library_errors() == []


def test_the_scan_finds_a_flag_in_a_raise(tmp_path, monkeypatch):
    tree = ast.parse('def f(batch):\n    raise ValueError(f"--batch: got {batch}")\n')
    hits = [n for node in ast.walk(tree) if isinstance(node, ast.Raise)
            for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str) and FLAG.search(n.value)]
    assert len(hits) == 1


def _raises(call, param):
    with pytest.raises(ArgumentError) as info:
        call()
    err = info.value
    assert err.param == param, (err.param, str(err))
    assert "--" not in str(err), str(err)
    assert str(err).startswith(f"{'/'.join(param) if isinstance(param, tuple) else param}: "), str(err)
    return err


def test_archcalc_errors_name_parameters():
    from archcalc.ir import evaluate
    from archcalc.report import parse_input_shape, report
    from archcalc.zoo import build, inception_module
    from archcalc.zoo_transformers import CONFIGS, with_sizes

    assert _raises(lambda: evaluate(build("vgg11"), (3, 32, 32), 0), "batch").value == 0
    assert _raises(lambda: evaluate(build("vgg11"), (3, 32), 1), "input_shape").value == "3x32"
    assert _raises(lambda: report(build("vgg11"), dtype="fp8"), "dtype").value == "fp8"
    assert _raises(lambda: parse_input_shape("3x0"), "input_shape").value == "3x0"
    err = _raises(lambda: with_sizes(CONFIGS["gpt"], hidden=768, heads=7), "heads")
    assert _raises(lambda: with_sizes(CONFIGS["gpt2"], heads=8), "heads").value == 8
    # 768 / 7 is not whole: the fix names the other parameter, hidden, by its library name
    assert err.value == 7 and "hidden (768)" in err.fix
    assert err.render({"heads": "--heads", "hidden": "--hidden"}).startswith("--heads: got 7; ")
    assert "--hidden (768)" in err.render({"heads": "--heads", "hidden": "--hidden"})
    _raises(lambda: inception_module((16, 8, 8), 8, 8, 8, reduce3=4), ("reduce3", "reduce5", "pool_proj"))


def test_time_and_parallel_errors_name_parameters():
    from archcalc.time.profiles import get_profile

    assert _raises(lambda: get_profile("no-such-gpu"), "name").value == "no-such-gpu"


def test_mlcore_errors_name_parameters():
    from mlcore.batch_sweep import doubling
    from mlcore.biasvar.study import BiasVarianceConfig, parse_degrees
    from mlcore.lr_range import lr_schedule, smooth_losses
    from mlcore.training import check_seed

    err = _raises(lambda: doubling(16, 8), "max_batch")
    assert err.fix == "give a value >= min_batch (16)"
    assert _raises(lambda: lr_schedule(1.0, 0.1, 5), "end_lr").value == 0.1
    _raises(lambda: smooth_losses([1.0], 1.5), "smooth_f")
    _raises(lambda: parse_degrees("3-1"), "degrees")
    _raises(lambda: BiasVarianceConfig(n_datasets=1), "n_datasets")
    _raises(lambda: check_seed(-1), "seed")


@pytest.mark.torch
def test_stale_training_names_learners_not_workers():
    # the example: stale_training(learners=0) said "--workers: got 0"
    from mlcore.images import load_images
    from mlcore.stale_training import stale_training

    data = load_images(subset=40)
    err = _raises(lambda: stale_training(data, learners=0, sim_time=1.0, device="cpu"), "learners")
    assert err.value == 0


def test_staleness_distributed_errors_name_parameters():
    from staleness.distributed import _check

    _raises(lambda: _check(0, 10, 0.1, 0.0, 10.0, 1.0, None), "workers")
    err = _raises(lambda: _check(1, 10, 0.1, 0.0, 10.0, 20.0, None), "heartbeat")
    assert "below timeout (10.0)" in err.fix


@pytest.mark.parametrize(("main", "argv", "line"), [
    ("archcalc.cli", ["vgg11", "--input", "3x32"], "archcalc: error: --input: got '3x32'; vgg11 takes"),
    ("archcalc.cli", ["gpt", "--hidden", "768", "--heads", "7"], "archcalc: error: --heads: got 7; choose heads dividing --hidden (768)"),
    ("mlcore.cli", ["batch-size-sweep", "--min-batch", "16", "--max-batch", "8"],
     "mlcore: error: --max-batch: got 8; give a value >= --min-batch (16)"),
])
def test_the_cli_names_flags(main, argv, line, capsys):
    import importlib

    assert importlib.import_module(main).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(line), err
