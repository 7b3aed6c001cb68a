"""``archcalc memory``: ZeRO rows and Megatron activations from the command line, JSON keys, errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli import main
from archcalc.memory.formulas import megatron_activation_bytes, megatron_table2, model_state_bytes
from archcalc.memory.render.formulas import rows_table, states_table, table2_table

ROOT = Path(__file__).resolve().parents[1]
MEGATRON = ["memory", "--megatron", "--seq", "2048", "--hidden", "12288", "--heads", "96", "--layers", "96",
            "--batch", "1", "--tensor-parallel", "8"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _text(renderable, width: int = 200) -> list[str]:
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return [" ".join(line.split()) for line in console.export_text().splitlines()]


def test_zero_figure_1_table(capsys):
    code, out, err = run(capsys, "memory", "--params", "7.5B", "--data-parallel", "64", "--zero", "0,1,2,3")
    assert code == 0 and err == ""
    # Figure 1: 16 Psi = 120e9; 4 Psi + 12 Psi/64 = 31.40625e9; 2 Psi + 14 Psi/64 = 16.640625e9; 16 Psi/64 = 1.875e9
    for cells in ("0 │ nothing │ 16Psi │ 120,000,000,000 │ 120.0 GB (111.8 GiB)",
                  "1 │ optimizer states │ 4Psi + 12Psi/N_d │ 31,406,250,000 │ 31.4 GB (29.2 GiB)",
                  "2 │ optimizer states, gradients │ 2Psi + 14Psi/N_d │ 16,640,625,000 │ 16.6 GB (15.5 GiB)",
                  "3 │ optimizer states, gradients, weights │ 16Psi/N_d │ 1,875,000,000 │ 1.9 GB (1.7 GiB)"):
        assert cells in [" ".join(line.split()) for line in out.splitlines()]
    assert "= 16 (K = 12)" in out and "model states 120.0 GB (111.8 GiB)" in out


def test_zero_json_keys_and_spellings_of_params(capsys):
    docs = [json.loads(run(capsys, "memory", "--params", p, "--data-parallel", "64", "--json")[1])
            for p in ("7.5B", "7.5e9", "7500M", "7_500_000_000")]
    assert all(doc == docs[0] for doc in docs)
    doc = docs[0]
    assert doc["params"] == 7_500_000_000 and doc["model_state_bytes"] == 120_000_000_000
    assert doc["bytes_per_param"] == {"weights": 2, "gradients": 2, "master_weights": 4, "optimizer_states": 8,
                                      "k": 12, "total": 16}
    assert [s["per_device_bytes"] for s in doc["stages"]] == [120_000_000_000, 31_406_250_000, 16_640_625_000,
                                                              1_875_000_000]
    assert [s["zero"] for s in doc["stages"]] == [0, 1, 2, 3] and doc["stages"][1]["formula"] == "4Psi + 12Psi/N_d"
    # 7.5e9 / 64 = 117,187,500 parameters per rank in a sharded state
    assert doc["stages"][3]["shard_params"] == 117_187_500 and doc["device_memory_bytes"] is None


@pytest.mark.parametrize("argv", [["--precision", "bf16-mixed"], ["--memory-convention", "torch"],
                                  ["--precision", "bf16-mixed", "--memory-convention", "torch"]])
def test_autocast_layout_and_device_memory(argv, capsys):
    # bf16-mixed is torch.autocast in every command; the old --memory-convention torch (hidden) says the same
    code, out, _ = run(capsys, "memory", "--params", "125M", "--data-parallel", "8", "--zero", "2",
                       *argv, "--device-memory", "24GiB", "--json")
    doc = json.loads(out)
    # autocast: fp32 weights 4 + fp32 grads 4 + Adam moments 8, no master copy; stage 2 on 8 ranks:
    # 4 * 125e6 + (4 + 8) * 125e6 / 8 = 500,000,000 + 187,500,000 = 687,500,000 bytes
    assert code == 0 and doc["precision"] == "bf16-mixed" and doc["layout"].startswith("torch.autocast")
    assert doc["bytes_per_param"] == {"weights": 4, "gradients": 4, "master_weights": 0, "optimizer_states": 8,
                                      "k": 8, "total": 16}
    assert doc["stages"] == [{"zero": 2, "shards": "optimizer states, gradients", "formula": "4Psi + 12Psi/N_d",
                              "shard_params": 15_625_000, "per_device_bytes": 687_500_000}]
    assert doc["device_memory_bytes"] == 24 * 2**30


def test_device_memory_share_column():
    stages = [model_state_bytes(7_500_000_000, data_parallel=64, zero=z) for z in (1, 3)]
    lines = _text(states_table(stages, 32 * 10**9))
    # 31.40625e9 / 32e9 = 98.14...%; 1.875e9 / 32e9 = 5.859...%
    assert lines[0].endswith("of 32.0 GB (29.8 GiB)")
    assert lines[2].endswith("│ 98.1%") and lines[3].endswith("│ 5.9%")


def test_megatron_table2_side_by_side(capsys):
    code, out, err = run(capsys, *MEGATRON, "--sequence-parallel", "--recompute", "selective")
    assert code == 0 and err == ""
    lines = [" ".join(line.split()) for line in out.splitlines()]
    # GPT-3 175B, t = 8: sbh = 25,165,824; 114, 23, 14.25, 13, 4.25 and 2 sbh per layer
    for row in ("│ no parallelism │ sbh(34 + 5as/h) │ 2,868,903,936 │",
                "│ tensor parallel (baseline) │ sbh(10 + 24/t + 5as/(ht)) │ 578,813,952 │",
                "│ tensor + sequence parallel │ sbh(34/t + 5as/(ht)) │ 358,612,992 │",
                "│ tensor parallel + selective recompute │ sbh(10 + 24/t) │ 327,155,712 │",
                "* │ tensor + sequence parallel + selective recompute │ sbh(34/t) │ 106,954,752 │",
                "│ full recompute │ 2sbh │ 50,331,648 │"):
        assert any(row in line for line in lines), row
    # all 96 layers: 96 * 106,954,752 = 10,267,656,192 bytes
    assert "10,267,656,192 bytes" in out and "total per layer │ │ │ │ 106,954,752" in lines


def test_megatron_json(capsys):
    doc = json.loads(run(capsys, *MEGATRON, "--json")[1])
    assert doc["bytes_per_layer"] == 578_813_952 and doc["total_bytes"] == 96 * 578_813_952
    assert [v["bytes_per_layer"] for v in doc["table2"]] == [2_868_903_936, 578_813_952, 358_612_992, 327_155_712,
                                                             106_954_752, 50_331_648]
    assert sum(r["bytes"] for r in doc["rows"]) == doc["bytes_per_layer"] and len(doc["rows"]) == 14
    # softmax output 2as^2b / t = 2*96*2048^2 / 8 = 100,663,296
    assert {r["item"]: (r["divisor"], r["bytes"]) for r in doc["rows"]}["softmax output"] == (8, 100_663_296)


def test_rows_table_marks_recomputed_items():
    m = megatron_activation_bytes(2048, 1, 12288, 96, tensor_parallel=8, recompute="selective")
    lines = _text(rows_table(m))
    assert "attention │ softmax output │ 2as^2b │ recomputed │ 0" in lines
    # QKV input stays replicated without sequence parallelism: 2sbh = 50,331,648
    assert "attention │ QKV matmul input │ 2sbh │ 1 │ 50,331,648" in lines
    marked = [line for line in _text(table2_table(megatron_table2(2048, 1, 12288, 96, tensor_parallel=8), m))
              if line.startswith("*")]
    assert len(marked) == 1 and "sbh(10 + 24/t)" in marked[0]


@pytest.mark.parametrize(("argv", "flag"), [
    (["--params", "7.5X"], "--params"),
    (["--params", "0"], "--params"),
    (["--params", "1B", "--data-parallel", "0"], "--data-parallel"),
    (["--params", "1B", "--precision", "fp8"], "--precision"),
    (["--params", "1B", "--optimizer", "lamb"], "--optimizer"),
    (["--params", "1B", "--memory-convention", "apex"], "--memory-convention"),
    (["--params", "1B", "--zero", "0,4"], "--zero"),
    (["--params", "1B", "--device-memory", "80XB"], "--device-memory"),
    (["--params", "1B", "--device-memory", "1.5B"], "--device-memory"),
    ([], "--params"),
    (["--megatron", "--seq", "2048", "--hidden", "1000", "--heads", "96"], "--heads: got 96; use a head count that divides --hidden (1000)"),
    (["--megatron", "--seq", "2048", "--hidden", "12288", "--heads", "96", "--tensor-parallel", "5"],
     "--tensor-parallel: got 5"),
    (["--megatron", "--hidden", "12288", "--heads", "96"], "--seq"),
    (["--megatron", "--seq", "2048", "--hidden", "12288", "--heads", "96", "--recompute", "some"], "--recompute"),
    (["--megatron", "--seq", "-1", "--hidden", "12288", "--heads", "96"], "--seq"),
    (["--params", "1B", "--seq", "2048"], "--seq needs --megatron"),
    ([*MEGATRON[1:], "--params", "1B"], "--params is a model-state flag"),
])
def test_errors_are_one_line_naming_the_flag(capsys, argv, flag):
    code, out, err = run(capsys, "memory", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "archcalc", "memory", "--params", "175B", "--data-parallel", "1024",
                           "--zero", "3", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    # 175e9 / 1024 = 170,898,437.5: a rank holds ceil = 170,898,438 params of each state, x 16 bytes =
    # 2,734,375,008 (the paper's exact 16 Psi / N_d = 2,734,375,000 plus half a parameter of padding)
    stage = json.loads(proc.stdout)["stages"][0]
    assert proc.returncode == 0 and stage["shard_params"] == 170_898_438
    assert stage["per_device_bytes"] == 2_734_375_008


def test_report_takes_the_master_precisions(capsys):
    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.models.zoo import build

    code, out, _ = run(capsys, "resnet18", "--training", "--optimizer", "adam", "--dtype", "bf16-master", "--json")
    totals = json.loads(out)["totals"]
    # ResNet-18, Psi = 11,689,512: bf16 weights 2 Psi = 23,379,024 and gradients the same; ZeRO's K = 12 for
    # the fp32 master copy (4) and Adam's fp32 moments (8): 12 Psi = 140,274,144
    assert code == 0 and totals["params"] == 11_689_512
    assert (totals["weights_bytes"], totals["gradients_bytes"], totals["optimizer_bytes"]) == (
        23_379_024, 23_379_024, 140_274_144)
    # the training peak is archcalc peak's, in the same precision
    assert totals["training_bytes"] == peak_memory(build("resnet18"), None, 1, training=True, optimizer="adam",
                                                   precision="bf16-master").peak_bytes
    # autocast gives each op its own dtype: report's one element type cannot say it (archcalc peak does)
    assert run(capsys, "resnet18", "--dtype", "bf16-mixed")[0] == 2
