"""`archcalc FILE.py:NAME --input ...`: a user's own model traced by the torch front end, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli import main

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]

SOURCE = '''
import torch.nn as nn


class Tagger(nn.Module):
    """Token ids and a float mask: two inputs of different dtypes."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids, mask):
        return self.fc(self.emb(ids) * mask.unsqueeze(-1)).logcumsumexp(1)


def make_mlp():
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 2))


class NeedsArgs(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
'''


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(SOURCE)
    return path


def test_two_inputs_with_dtypes_and_unmodelled_listing(model_file, capsys):
    args = [f"{model_file}:Tagger", "--input", "12", "--input", "12", "--input-dtype", "int64", "--batch", "2"]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # Embedding 100*16 = 1,600 + Linear 16*4 + 4 = 68 -> 1,668 parameters; the Linear on 2x12x16:
    # 2*12 * 16*4 = 1,536 MACs; logcumsumexp has no formula: listed, counted 0
    assert doc["totals"]["params"] == 1_668 and doc["totals"]["macs"] == 1_536
    assert doc["unmodeled"] == {"logcumsumexp": 1}
    assert doc["output_shape"] == [2, 12, 4]
    assert main([*args, "--strict"]) == 1
    assert "--strict: not modelled (counted 0): 1 x logcumsumexp" in capsys.readouterr().err


def test_factory_and_gelu(model_file, capsys):
    assert main([f"{model_file}:make_mlp", "--input", "8", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # 8*32 + 32 + 32*2 + 2 = 354 params; MACs 8*32 + 32*2 = 320; GELU 32 elements x 5 ops (erf form)
    assert (doc["totals"]["params"], doc["totals"]["macs"]) == (354, 320)
    gelu = next(r for r in doc["rows"] if r["kind"] == "GELU")
    assert gelu["elementwise_ops"] == 32 * 5 and doc["unmodeled"] == {}


@pytest.mark.parametrize(("spec", "extra", "needle"), [
    ("{f}:Missing", ["--input", "8"], "has no 'Missing'; it defines NeedsArgs, Tagger, make_mlp"),
    ("{f}:NeedsArgs", ["--input", "8"], "NeedsArgs() raised TypeError"),
    ("{f}:make_mlp", [], "--input: "),
    ("{f}:make_mlp", ["--input", "7"], "--input: make_mlp fails on input 1x7"),
    ("nowhere.py:Net", ["--input", "8"], "does not exist"),
    ("{f}:make_mlp", ["--input", "8", "--input", "8"], "takes 2 positional arguments but 3 were given"),
])
def test_bad_model_files_are_one_line_exit_2(model_file, spec, extra, needle):
    proc = subprocess.run([sys.executable, "-m", "archcalc", spec.format(f=model_file), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_input_dtype_rejected_for_zoo_models(capsys):
    assert main(["resnet18", "--input-dtype", "int64"]) == 2
    assert "--input-dtype" in capsys.readouterr().err


_NET = ("import sys\nimport torch.nn as nn\n{top}\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(8, 2)\n    def forward(self, x):\n        {body}\n")


@pytest.mark.parametrize(("top", "body", "needle"), [
    ("sys.exit(3)", "return self.fc(x)", "running the file called sys.exit(3)"),
    ("raise KeyboardInterrupt", "return self.fc(x)", "raised KeyboardInterrupt itself (no Ctrl-C was pressed)"),
    ("", "sys.exit(5)", "Net in '{f}': forward called sys.exit(5)"),
    ("", "raise KeyboardInterrupt", "forward raised KeyboardInterrupt itself"),
])
def test_exits_and_interrupts_in_the_model_file_are_one_line(tmp_path, capsys, top, body, needle):
    """issue 22: sys.exit(3) or KeyboardInterrupt raised by the user's file no longer leaks out as the
    command's exit status (3, 130): one line, exit 2, naming the file and the object."""
    src = tmp_path / "net.py"
    src.write_text(_NET.format(top=top, body=body))
    assert main([f"{src}:Net", "--input", "8", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err and needle.format(f=src) in err, err


def test_prints_in_the_model_file_keep_json_valid(tmp_path, capsys):
    src = tmp_path / "net.py"
    src.write_text(_NET.format(top="print('at import')", body="print('in forward'); return self.fc(x)"))
    assert main([f"{src}:Net", "--input", "8", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["totals"]["params"] == 8 * 2 + 2  # Linear(8, 2): 18 parameters
    assert "at import" in err and "in forward" in err


LINEAR = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)
'''


@pytest.mark.parametrize("dtype", ["int64", "int32", "float16", "bool"])
def test_an_input_dtype_real_torch_refuses_is_refused(tmp_path, capsys, dtype):
    # the oracle: the real module on a real input of that dtype raises (float32 weights; meta kernels do not
    # check, so the trace printed a full report); archcalc refuses in one line naming both dtypes
    import torch

    namespace: dict = {}
    exec(LINEAR, namespace)
    with pytest.raises(RuntimeError):
        namespace["Net"]()(torch.zeros(1, 8, dtype=getattr(torch, dtype)))
    (tmp_path / "net.py").write_text(LINEAR)
    assert main([f"{tmp_path}/net.py:Net", "--input", "8", "--input-dtype", dtype]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"linear got operands of dtypes {dtype} and float32" in err


def test_the_same_model_on_float32_still_traces(tmp_path, capsys):
    (tmp_path / "net.py").write_text(LINEAR)
    assert main([f"{tmp_path}/net.py:Net", "--input", "8", "--input-dtype", "float32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["macs"] == 16  # 8 x 2


def test_a_misspelt_name_is_refused_from_the_file_s_syntax_before_it_runs(tmp_path, capsys):
    # the file would print and import torch if it ran; the name it lacks is read from its syntax (ast), so
    # nothing of it runs: no print on stderr beyond the one line
    path = tmp_path / "net.py"
    path.write_text("print('ran')\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n\n\nnet = Net()\n")
    assert main([f"{path}:Nte", "--input", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ran" not in err and "has no 'Nte'; it defines Net, net" in err


@pytest.mark.parametrize("source", ["from torch.nn import *\n", "globals()['Net'] = 1\n", "def __getattr__(n):\n    return 1\n",
                                    "import sys\nsys.modules[__name__].Net = 1\n", "def f(:\n"])
def test_the_syntax_check_stands_aside_where_names_can_appear_unseen(tmp_path, source):
    from dlperf.usercode import defined_names

    path = tmp_path / "m.py"
    path.write_text(source)
    assert defined_names(path) is None  # the file is run and looked up as before


def test_names_bound_in_every_top_level_form_are_seen(tmp_path):
    from dlperf.usercode import defined_names

    path = tmp_path / "m.py"
    path.write_text("import os.path\nfrom json import dumps as d\na, (b, *c) = 1, (2, 3)\nx: int = 1\n"
                    "if True:\n    y = 1\nelse:\n    z = 2\ntry:\n    w = 1\nexcept OSError as e:\n    pass\n"
                    "for i in range(1):\n    pass\nwith open(__file__) as fh:\n    pass\n(q := 3)\n"
                    "class K:\n    inner = 1\n")
    names, listed = defined_names(path)
    assert names == {"os", "d", "a", "b", "c", "x", "y", "z", "w", "e", "i", "fh", "q", "K"}  # not K's inner
    assert listed == ("K",)
