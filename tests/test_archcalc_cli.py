"""The archcalc command line: output formats, --output, --depth, --training, list, bad input, fast path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli import main
from archcalc.conventions import CONVENTIONS, Convention
from archcalc.ir.build import from_tree, layer, seq
from archcalc.render import table_text
from archcalc.report import report
from archcalc.zoo import MODELS, build

ROOT = Path(__file__).resolve().parents[1]
INCEPTION = ["inception-module", "--input", "256x32x32", "--c1", "128", "--c3", "192", "--c5", "96"]
REDUCED = [*INCEPTION, "--reduce3", "128", "--reduce5", "32", "--pool-proj", "64"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- output formats -----------------------------------------------------------------------------------


def test_table_is_the_default_and_names_the_unit(capsys):
    code, out, _ = run(capsys, "vgg19")
    assert code == 0
    assert out == run(capsys, "vgg19", "--table")[1] == run(capsys, "report", "vgg19", "--table")[1]
    assert "143,667,240" in out and "19,632,062,464" in out  # totals
    header = next(line for line in out.splitlines() if "layer" in line and "params" in line)
    assert "MACs" in header and "FLOPs" not in header
    assert "input 3x224x224 per sample, batch 1, dtype fp32" in out and "convention macs (MACs)" not in out
    # the default shows the 10 heaviest rows: the eight 3x3 convs of C_in = C_out at 224, 112, 56 and 28
    # (H*W*C*C*9 = 224*224*64*64*9 = 1,849,688,064 MACs each), then two 924,844,032 (C_out = 2 C_in, H halved);
    # 8 * 1,849,688,064 + 2 * 924,844,032 = 16,647,192,576 of 19,632,062,464 = 84.80%
    body = [line for line in out.splitlines() if line.startswith("│ features")]
    assert len(body) == 10 and sum("1,849,688,064" in line for line in body[:8]) == 8
    assert all("924,844,032" in line for line in body[8:]) and "features.0 " not in out
    assert "the 10 heaviest of 46 rows (84.8% of the MACs)" in out
    _, every, _ = run(capsys, "vgg19", "--all", "--explain")
    assert "features.0" in every and "86,704,128" in every  # 224*224*64 * 3*3*3 MACs, with separators
    assert "convention macs (MACs)" in every and "heaviest" not in every


def test_flops_convention_doubles_and_says_flops(capsys):
    code, out, _ = run(capsys, "vgg19", "--convention", "flops", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and "compute_flops" in rows[0]
    assert int(rows[-1]["compute_flops"]) == 2 * 19_632_062_464
    _, table, _ = run(capsys, "vgg19", "--convention", "flops")
    assert "FLOPs" in next(line for line in table.splitlines() if "params" in line)


def test_fixed_width_table_text():
    net = from_tree("tiny", "two layers", (1, 4, 4), seq("", [
        layer("conv", "Conv2d", out_channels=2, kernel_size=3), layer("relu", "ReLU")]))
    lines = [line.rstrip() for line in table_text(report(net)).splitlines()]
    # conv: 2x2x2 outputs x 1*3*3 = 72 MACs; params 2*9 + 2 = 20; 8 outputs x 4 bytes = 32
    assert lines[4] == "│ conv  │ Conv2d │ 1x2x2x2      │     20 │   72 │           8 │    32 │"
    assert lines[5] == "│ relu  │ ReLU   │ 1x2x2x2      │      0 │    0 │           8 │    32 │"
    assert lines[7] == "│ total │        │ 1x2x2x2      │     20 │   72 │          16 │    64 │"


def test_json_has_exact_ints_and_the_documented_keys(capsys):
    code, out, _ = run(capsys, "resnet50", "--input", "3x160x160", "--batch", "32", "--json")
    doc = json.loads(out)
    assert code == 0
    assert {"model", "input", "batch", "dtype", "convention", "rows", "totals"} <= set(doc)
    assert "layers" not in doc  # no second copy of the rows
    assert (doc["model"], doc["input"], doc["batch"], doc["dtype"], doc["convention"]) == (
        "resnet50", [3, 160, 160], 32, "fp32", "macs")
    first = doc["rows"][0]
    assert {"name", "kind", "output_shape", "params", "macs", "flops", "activations", "bytes"} <= set(first)
    # conv1 at 160: out (160 + 6 - 7) // 2 + 1 = 80; MACs = 32 * 64*80*80 * 3*7*7 = 1,926,758,400
    assert (first["name"], first["output_shape"], first["macs"]) == ("conv1", [32, 64, 80, 80], 1_926_758_400)
    for key in ("params", "macs", "flops", "activations"):
        assert isinstance(doc["totals"][key], int)
        assert doc["totals"][key] == sum(layer[key] for layer in doc["rows"])
    assert doc["totals"]["params"] == 25_557_032  # torchvision resnet50, sum(p.numel())


def test_csv_rows_and_total(capsys):
    _, out, _ = run(capsys, "alexnet", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "features.0" and rows[0]["output_shape"] == "1x64x55x55"
    # AlexNet conv1: 64*55*55 * 3*11*11 = 193,600 * 363 = 70,276,800 MACs
    assert int(rows[0]["macs"]) == 70_276_800
    assert rows[-1]["name"] == "total"
    assert int(rows[-1]["params"]) == sum(int(r["params"]) for r in rows[:-1]) == 61_100_840


def test_markdown_and_latex(capsys):
    _, md, _ = run(capsys, "vgg11_bn", "--markdown", "--depth", "1")
    table = [line for line in md.splitlines() if line.startswith("|")]
    # header, alignment row, features / avgpool / flatten / classifier, total
    assert len(table) == 7 and "| MACs |" in table[0] and table[-1].startswith("| **total**")
    _, tex, _ = run(capsys, "vgg11_bn", "--latex")
    assert r"\begin{tabular}{lllrrrr}" in tex and r"vgg11\_bn" in tex
    assert tex.count(r" \\") == 1 + len(report(build("vgg11_bn")).rows) + 1  # header, rows, total


# --- --output -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["--table", "--json", "--csv", "--markdown", "--latex"])
def test_output_writes_the_same_text_atomically(capsys, tmp_path, fmt):
    target = tmp_path / "out.txt"
    code, out, err = run(capsys, "alexnet", fmt, "--output", str(target))
    assert code == 0 and out == "" and "wrote" in err
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind
    if fmt != "--table":
        assert target.read_text() == run(capsys, "alexnet", fmt)[1]
    else:
        assert "70,276,800" in target.read_text() and "\x1b[" not in target.read_text()


def test_output_keeps_the_old_file_when_the_run_fails(capsys, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old\n")
    code, _, err = run(capsys, "vgg19", "--input", "3x8x8", "--json", "--output", str(target))
    assert code == 2 and "too small" in err
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["out.json"]


def test_output_into_a_missing_folder_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "alexnet", "--json", "--output", str(tmp_path / "nope" / "x.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err


# --- --depth ------------------------------------------------------------------------------------------


def test_depth_folds_and_keeps_totals(capsys):
    _, out, _ = run(capsys, "googlenet", "--json", "--depth", "1")
    doc = json.loads(out)
    names = [layer["name"] for layer in doc["rows"]]
    assert names[:5] == ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"] and "inception3a" in names
    inc = doc["rows"][names.index("inception3a")]
    # inception3a outputs 64 + 128 + 32 + 32 = 256 channels at 28x28 (its last layer is the concat)
    assert inc["output_shape"] == [1, 256, 28, 28] and inc["kind"].endswith("layers")
    _, full, _ = run(capsys, "googlenet", "--json")
    full_doc = json.loads(full)
    assert doc["totals"] == full_doc["totals"]
    assert inc["macs"] == sum(layer["macs"] for layer in full_doc["rows"] if layer["name"].startswith("inception3a."))


def test_depth_two_on_resnet_blocks(capsys):
    _, out, _ = run(capsys, "resnet18", "--json", "--depth", "2")
    names = [layer["name"] for layer in json.loads(out)["rows"]]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1",
                     "layer3.0", "layer3.1", "layer4.0", "layer4.1", "avgpool", "flatten", "fc"]


# --- --training ---------------------------------------------------------------------------------------


def test_training_json_memory_arithmetic(capsys):
    code, out, _ = run(capsys, *INCEPTION, "--training", "--optimizer", "adam", "--json")
    t = json.loads(out)["totals"]
    assert code == 0
    # params 1,089,952 (test_archcalc_handcount) x 4 bytes = 4,359,808 for weights and again for gradients;
    # Adam keeps 2 moments: 2 x 4,359,808 = 8,719,616.
    assert (t["weights_bytes"], t["gradients_bytes"], t["optimizer_bytes"]) == (4_359_808, 4_359_808, 8_719_616)
    # Saved for backward: the module input 256*32*32 = 262,144 elements (saved once, shared by the three
    # convs and the max-pool) + the three ReLU outputs (128 + 192 + 96)*1,024 = 425,984 -> 688,128 elements
    # x 4 = 2,752,512 bytes; plus the max-pool's int64 indices 262,144 x 8 = 2,097,152 -> 4,849,664 bytes.
    assert t["saved_activation_elements"] == 688_128 and t["saved_int64_elements"] == 262_144
    assert t["activations_bytes"] == 4_849_664
    # the training memory is the liveness peak of a steady-state step (archcalc peak), not the parts' sum
    # 4,359,808 + 4,359,808 + 8,719,616 + 4,849,664 = 22,288,896 (never all alive at once)
    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.zoo import inception_module

    peak = peak_memory(inception_module((256, 32, 32), 128, 192, 96), (256, 32, 32), 1, training=True,
                       optimizer="adam")
    assert t["training_bytes"] == peak.peak_bytes != 22_288_896
    # at the optimizer step weights, gradients and both moments are alive together: 17,439,232 at least
    assert peak.peak_bytes >= 4_359_808 + 4_359_808 + 8_719_616
    # Backward: the convs read the network input, which needs no gradient, so only weight gradients:
    # equal to the forward 1,115,684,864 MACs.
    assert t["backward_macs"] == 1_115_684_864


def test_training_dtype_optimizer_and_dropout_masks(capsys):
    _, out, _ = run(capsys, "vgg16", "--training", "--optimizer", "momentum", "--precision", "fp16", "--batch", "2", "--json")
    doc = json.loads(out)
    t = doc["totals"]
    # 138,357,544 params x 2 bytes = 276,715,088 for weights, gradients and the momentum buffer each
    assert t["weights_bytes"] == t["gradients_bytes"] == t["optimizer_bytes"] == 276_715_088
    # two dropout layers of 4096 per sample, batch 2: 16,384 one-byte masks
    assert t["saved_bool_elements"] == 16_384
    assert t["activations_bytes"] == (2 * t["saved_activation_elements"] + 4 * t["saved_fp32_elements"]
                                      + 8 * t["saved_int64_elements"] + t["saved_bool_elements"])
    # the liveness peak of a steady fp16 momentum step: at least weights, gradients and buffers, 3 x 276,715,088
    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.zoo import build

    peak = peak_memory(build("vgg16"), None, 2, training=True, optimizer="momentum", precision="fp16")
    assert t["training_bytes"] == peak.peak_bytes >= 3 * 276_715_088
    # backward = 2 x forward except the first conv, which needs no input gradient:
    # 2 * 2 * 15,470,264,320 - 2 * 86,704,128 = 61,707,649,024
    assert t["backward_macs"] == 2 * 2 * 15_470_264_320 - 2 * 86_704_128
    assert sum(layer["saved_bytes"] for layer in doc["rows"]) == t["activations_bytes"]


def test_training_table_lists_memory(capsys):
    _, out, _ = run(capsys, "alexnet", "--training")
    assert "backward MACs" in out and "optimizer state (sgd): 0 B" in out
    assert "training memory (peak of a steady-state step, as archcalc peak --training):" in out
    _, out, _ = run(capsys, "alexnet", "--training", "--precision", "int8", "--optimizer", "adamw")
    assert "optimizer state (adamw)" in out and "not modelled for --precision int8" in out


# --- list and conventions -----------------------------------------------------------------------------


def test_list_one_line_per_model(capsys):
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(MODELS)
    vgg19 = next(line for line in lines if line.startswith("vgg19 "))
    assert "3x224x224" in vgg19 and "143,667,240 params" in vgg19 and "19,632,062,464 MACs" in vgg19
    _, js, _ = run(capsys, "list", "--json")
    assert {m["name"] for m in json.loads(js)} == set(MODELS)


def test_convention_choices_are_read_at_parse_time(capsys, monkeypatch):
    monkeypatch.setitem(CONVENTIONS, "triple", Convention("triple", "FLOPs", "3 per MAC (a test preset)",
                                                          forward=lambda r: 3 * r.macs))
    code, out, _ = run(capsys, "alexnet", "--convention", "triple", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and int(rows[-1]["compute_triple"]) == 3 * 714_188_480
    _, table, _ = run(capsys, "alexnet", "--convention", "triple")
    assert "FLOPs (triple)" in table


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "inception-module" in capsys.readouterr().out


# --- bad input: one line on stderr, exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["vgg91"], "did you mean vgg19"),
        (["resnet"], "did you mean resnet"),
        (["vgg19", "--input", "3x16x16"], "layer features.36 (MaxPool2d)"),
        (["resnet50", "--input", "3x224"], "--input: got '3x224'"),
        (["resnet50", "--input", "3xax224"], "--input"),
        (["resnet50", "--input", "0x224x224"], "--input: got '0x224x224'"),
        (["resnet50", "--batch", "0"], "--batch: got 0"),
        (["resnet50", "--batch", "-3"], "--batch"),
        (["resnet50", "--batch", "two"], "--batch"),
        (["resnet50", "--depth", "0"], "--depth: got 0"),
        (["resnet50", "--json", "--csv"], "not allowed with"),
        (["resnet50", "--optimizer", "adam"], "--optimizer: got 'adam' without --training"),
        (["resnet50", "--precision", "fp64"], "--precision"),
        (["resnet50", "--convention", "gflops"], "--convention"),
        ([*INCEPTION[:-2], "--c5", "0"], "--c5: got 0"),
        ([*INCEPTION, "--reduce3", "16"], "give all three"),
        (["inception-module", "--c1", "1", "--c3", "1", "--c5", "1"], "--input"),
        (["inception-module", "--input", "256x2x2", "--c1", "1", "--c3", "1", "--c5", "1", "--c1", "-1"], "--c1"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "needle"), [(["vgg91"], "did you mean"), (["vgg19", "--input", "3x224"], "--input")])
def test_bad_input_subprocess(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "archcalc", *argv], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_fast_path_imports_neither_torch_nor_sympy():
    code = (
        "import sys, io, contextlib\n"
        "from archcalc.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as buf:\n"
        "    assert main(['vgg19', '--table']) == 0\n"
        "assert '19,632,062,464' in buf.getvalue()\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'sympy', 'fvcore', 'matplotlib') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
