"""The staleness command line: both exercises, output formats, plots, bad input (exit 2, one line)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from staleness.cli import main

ROOT = Path(__file__).resolve().parents[1]
EX1 = ["--times", "1,1,1,1", "--times", "2.5,2.5"]
EX2 = ["--times", "1.5,0.9,2.5,1.2,1.8,0.9", "--times", "3,2.5,1.7,3.0,0.7,0.8", "--times", "2.5,1.5,0.7,0.9,2.0,2.2"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exercise_1_table(capsys):
    code, out, _ = run_cli(capsys, "simulate", *EX1)
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│ g[" in line}
    # staleness column: L1 -> 0, 0, 1, 0; L2 -> 2, 2 (see test_staleness_engine for the arithmetic)
    stale = {name: int(line.split("│")[5]) for name, line in rows.items()}
    assert stale == {"g[L1,1]": 0, "g[L1,2]": 0, "g[L1,3]": 1, "g[L1,4]": 0, "g[L2,1]": 2, "g[L2,2]": 2}
    assert "g[L1,3], g[L1,4]" in rows["g[L2,2]"] and "g[L1,1], g[L1,2]" in rows["g[L2,1]"]
    assert "2.5, v3" in rows["g[L2,2]"] and "5, v5→v6" in rows["g[L2,2]"]


def test_exercise_1_tie_break_json(capsys):
    for tie, expected in (("fifo", 2), ("learner", 3)):
        code, out, _ = run_cli(capsys, "simulate", "--times", "1,1,1,1,1", "--times", "2.5,2.5", "--tie-break", tie,
                               "--json")
        doc = json.loads(out)
        g = {r["name"]: r for r in doc["gradients"]}
        assert code == 0 and g["g[L2,2]"]["staleness"] == expected and doc["config"]["tie_break"] == tie
        # fifo: v4 (g[L1,3]) and v5 (g[L1,4]) came between; learner: also v6 (g[L1,5])
        assert g["g[L2,2]"]["between"] == ["g[L1,3]", "g[L1,4]", "g[L1,5]"][: expected]


def test_exercise_2_sync_vs_async(capsys):
    # sync: 3 + 2.5 + 2.5 = 8 ms; async: third push at 2.5 ms (arithmetic in test_staleness_engine)
    _, out, _ = run_cli(capsys, "simulate", *EX2, "--policy", "sync", "--updates", "3", "--json")
    assert json.loads(out)["summary"]["time_to_updates"] == 8.0
    _, out, _ = run_cli(capsys, "simulate", *EX2, "--policy", "async", "--updates", "3", "--json")
    doc = json.loads(out)
    assert doc["summary"]["time_to_updates"] == 2.5 and doc["update_times"] == [1.5, 2.4, 2.5]


def test_json_shape_and_exact_ints(capsys):
    _, out, _ = run_cli(capsys, "simulate", "--learners", "3", "--updates", "50", "--json")
    doc = json.loads(out)
    assert set(doc) >= {"config", "gradients", "summary"}
    row = doc["gradients"][0]
    for key in ("learner", "index", "read_time", "read_version", "apply_time", "version_before_apply", "staleness"):
        assert key in row
    assert isinstance(row["staleness"], int) and isinstance(doc["summary"]["histogram"][0], int)
    for key in ("mean_staleness", "p50_staleness", "p95_staleness", "max_staleness", "histogram", "updates_per_time"):
        assert key in doc["summary"]


def test_large_runs_print_summary_and_histogram(capsys):
    code, out, _ = run_cli(capsys, "simulate", "--learners", "8", "--updates", "20000")
    assert code == 0 and "g[L1,1]" not in out
    assert "Staleness histogram" in out and "updates 2001..20000" in out
    _, out, _ = run_cli(capsys, "simulate", "--learners", "8", "--updates", "200000", "--json")
    assert "gradients" not in json.loads(out)  # left out above 100000 unless --gradients


def test_csv(capsys):
    _, out, _ = run_cli(capsys, "simulate", *EX1, "--csv")
    lines = out.splitlines()
    assert lines[0].startswith("name,learner,index,read_time") and len(lines) == 7
    assert lines[-1].startswith('"g[L2,2]",1,1,2.5,3')


def test_plots(tmp_path, capsys):
    timeline, hist = tmp_path / "t.png", tmp_path / "h.png"
    assert main(["simulate", *EX1, "--plot", str(timeline)]) == 0
    assert main(["simulate", "--learners", "4", "--updates", "2000", "--plot", str(hist)]) == 0
    err = capsys.readouterr().err
    assert "timeline" in err and "histogram" in err
    assert timeline.read_bytes()[:4] == b"\x89PNG" and hist.read_bytes()[:4] == b"\x89PNG"


def test_output_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["simulate", *EX1, "--json", "--output", str(out)]) == 0
    assert capsys.readouterr().out == "" and json.loads(out.read_text())["config"]["learners"] == 2


def test_theory_command(capsys):
    code, out, _ = run_cli(capsys, "theory", "--learners", "16", "--policy", "k-sync", "--k", "8", "--dist", "exp")
    # (H_16 - H_8) / mu with mu = 1: 95549/144144 = 0.6628718504
    assert code == 0 and "95549/144144" in out and "0.6628718504" in out and "harmonic(P)" in out
    _, out, _ = run_cli(capsys, "theory", "--policy", "async", "--learners", "4", "--json")
    assert {f["quantity"]: f["exact"] for f in json.loads(out)["formulas"]}["staleness_var"] == "12"
    # ssp with bound 0: staleness uniform on 0..3, mean 3/2; the bound is echoed; a missing bound is one line
    _, out, _ = run_cli(capsys, "theory", "--policy", "ssp", "--bound", "0", "--learners", "4", "--json")
    data = json.loads(out)
    assert data["bound"] == 0 and {f["quantity"]: f["exact"] for f in data["formulas"]}["staleness_mean"] == "3/2"
    code, out, err = run_cli(capsys, "theory", "--policy", "ssp", "--learners", "4")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--bound: missing for policy ssp" in err


def test_sweep_command(capsys, tmp_path):
    plot = tmp_path / "sweep.png"
    code, out, _ = run_cli(capsys, "sweep", "--learners", "2,4", "--policy", "async,k-sync", "--ks", "1,2,4",
                           "--updates", "1000", "--csv", "--plot", str(plot))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("policy,learners,k,dist")
    # async x {2, 4} + k-sync: K=1 x {2, 4}, K=2 x {2, 4}, K=4 x {4} (K > P skipped)
    assert len(lines) == 1 + 2 + 5 and plot.read_bytes()[:4] == b"\x89PNG"


def test_validate_command_json(capsys, monkeypatch):
    import importlib

    v = importlib.import_module("staleness.validate")  # staleness.validate is the function (the curated top level)

    monkeypatch.setattr(v, "DEFAULT_GRID", (v.Case("async", 4), v.Case("k-sync", 4, 2)))
    code, out, _ = run_cli(capsys, "validate", "--updates", "4000", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["all_ok"] and len(doc["checks"]) == 9


def test_validate_prints_one_line_per_policy_and_all_every_check(capsys, monkeypatch):
    import importlib

    v = importlib.import_module("staleness.validate")
    # async P=4: 7 closed forms (time, mean, var, pmf 0-2, speedup); k-sync P=4 K=2: 2 (time, mean) = 9
    monkeypatch.setattr(v, "DEFAULT_GRID", (v.Case("async", 4), v.Case("k-sync", 4, 2)))
    code, out, _ = run_cli(capsys, "validate", "--updates", "4000")
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    assert code == 0 and [[c.strip() for c in r[:4]] for r in rows] == [["async", "1", "7", "7"],
                                                                       ["k-sync", "1", "2", "2"]]
    assert all(float(r[4]) <= 1 for r in rows)  # every gap within one half-width: all inside
    assert "staleness_pmf_2" not in out and "Outside" not in out
    assert out.splitlines()[-1] == "9 of 9 checks within their interval (2 cases); --all lists every check"
    code, out, _ = run_cli(capsys, "validate", "--updates", "4000", "--all")
    quantities = ("time_per_update", "staleness_mean", "staleness_var", "staleness_pmf_0", "staleness_pmf_1",
                  "staleness_pmf_2", "speedup_async_over_sync")
    assert code == 0 and all(q in out for q in quantities)
    assert sum(line.startswith("│") for line in out.splitlines()) == 9
    assert out.splitlines()[-1] == "9 of 9 checks within their interval (2 cases)"


def test_validate_lists_the_checks_outside_their_interval(capsys, monkeypatch):
    import importlib

    v = importlib.import_module("staleness.validate")
    a, s = v.Case("async", 4), v.Case("sync", 4)
    checks = (v.Check(a, "staleness_mean", "(P - 1)/K", 3.0, 3.1, 0.2, True),   # |3.1 - 3| / 0.2 = 0.5
              v.Check(a, "staleness_var", "P*(P - 1)", 12.0, 14.5, 1.0, False),  # |14.5 - 12| / 1 = 2.5
              v.Check(s, "staleness_mean", "0", 0.0, 0.0, 0.0, True))            # a zero-width interval, equal
    monkeypatch.setattr(v, "validate", lambda *args, **kw: v.Validation(checks, 4000, 0, 0.999, 32))
    code, out, _ = run_cli(capsys, "validate", "--updates", "4000")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    assert code == 1
    assert rows[:2] == [["async", "1", "2", "1", "2.50"], ["sync", "1", "1", "1", "0.00"]]
    assert "Outside their interval" in out and rows[2][:2] == ["async (P=4, exp)", "staleness_var"]
    assert len(rows) == 3 and rows[2][-1] == "NO"
    assert out.splitlines()[-1] == "2 of 3 checks within their interval (2 cases); --all lists every check"


@pytest.mark.parametrize("argv,fragment", [
    (["simulate", "--learners", "0"], "--learners: got 0"),
    (["simulate", "--learners", "4", "--policy", "k-sync", "--k", "5"], "--k: got 5 > 4"),
    (["simulate", "--times", "1,-2"], "--times: got -2.0"),
    (["simulate", "--times", "1,x"], "--times: got '1,x'"),
    (["simulate", "--times", ""], "--times: got ''"),
    (["simulate", "--mean", "0"], "--mean: got 0.0"),
    (["simulate", "--mean", "-1"], "--mean: got -1.0"),
    (["simulate", "--policy", "bsp"], "--policy: got 'bsp'"),
    (["simulate", "--dist", "gamma"], "--dist: got 'gamma'"),
    (["simulate", "--policy", "ssp"], "--bound: missing"),
    (["simulate", "--policy", "sync", "--learners", "4", "--k", "9"], "--k: got 9 with policy sync"),
    (["simulate", "--policy", "async", "--k", "2"], "use --policy k-batch-async"),
    (["simulate", "--times", "1", "--learners", "3"], "--learners: got 3 but --times has 1 traces; leave it out"),
    (["simulate", "--speeds", "1,2", "--learners", "3"], "--speeds: got 2 values for 3 learners"),
    (["simulate", "--apply-time", "-1"], "--apply-time: got -1.0"),
    (["simulate", "--tie-break", "oldest"], "--tie-break: got 'oldest'"),
    (["theory", "--learners", "0"], "--learners: got 0"),
    (["validate", "--batches", "1"], "--batches: got 1"),
    (["validate", "--confidence", "1.5"], "--confidence: got 1.5"),
    (["simulate", "--dist", "pareto", "--shape", "1"], "--shape: got 1.0 for dist pareto"),
    (["simulate", "--mean", "nan"], "--mean: got nan"),
    (["simulate", "--engine", "gpu"], "--engine: got 'gpu'"),
    (["sweep", "--learners", "2,a"], "--learners: got '2,a'"),
])
def test_bad_input_one_line_exit_2(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["simulate", "--learners", "-3"], ["simulate", "--updates", "ten"]])
def test_subprocess_bad_input(argv):
    proc = subprocess.run([sys.executable, "-m", "staleness", *argv], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # argparse may add its usage line


def test_subprocess_exercise_1():
    proc = subprocess.run([sys.executable, "-m", "staleness", "simulate", *EX1, "--json"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert [r["staleness"] for r in json.loads(proc.stdout)["gradients"]] == [0, 0, 2, 1, 0, 2]


def test_unit_in_tables_and_json(capsys):
    # exercise 2 in ms: async makes 3 updates by 2.5 ms -> the table speaks of ms, the JSON carries the unit
    code, out, _ = run_cli(capsys, "simulate", "--unit", "ms", "--policy", "async", "--updates", "3", *EX2)
    assert code == 0 and "updates per ms (window)" in out and "ms per update" in out and "second" not in out
    _, out, _ = run_cli(capsys, "simulate", "--unit", "ms", "--updates", "3", "--json", *EX2)
    assert json.loads(out)["config"]["unit"] == "ms"


def test_large_runs_stream_and_json_says_what_it_lists(capsys, tmp_path):
    # 10^5 updates: streamed, no per-gradient rows in JSON (the old output listed 10^5 of them), exact counts
    code, out, _ = run_cli(capsys, "simulate", "--learners", "16", "--updates", "100000", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["gradients_listed"] is False and "gradients" not in doc and len(out) < 20_000
    # window: 90,000 updates x 1 gradient each
    assert sum(doc["summary"]["histogram"]) == 90_000 and len(doc["summary"]["series_mean_staleness"]) == 100
    # the table bins the tail: at most 24 histogram rows, percentiles in the caption
    _, out, _ = run_cli(capsys, "simulate", "--learners", "16", "--updates", "100000")
    hist = out[out.index("Staleness histogram") :]
    rows = [line for line in hist.splitlines() if line.startswith("│")]
    assert len(rows) <= 24 and "p50 / p90 / p99 / p99.9" in hist


def test_per_gradient_file(capsys, tmp_path):
    path = tmp_path / "g.csv"
    code, out, err = run_cli(capsys, "simulate", "--learners", "4", "--policy", "k-sync", "--k", "2", "--updates",
                             "500", "--per-gradient", str(path))
    lines = path.read_text().splitlines()
    # k-sync records every gradient of every iteration: 500 iterations x 4 learners = 2000 lines + header
    assert code == 0 and len(lines) == 2001 and lines[0].startswith("learner,index,read_time")
    assert "wrote 2000 gradients" in err


@pytest.mark.parametrize("system", [["--policy", "k-sync", "--k", "2", "--updates", "300"],
                                    ["--policy", "async", "--until", "50"], ["--policy", "ssp", "--bound", "1",
                                                                              "--updates", "300"]])
def test_per_gradient_parquet_reads_back_equal_to_the_csv(capsys, tmp_path, system):
    # the same run written both ways (streamed, in blocks of 2^14 records or fewer): every row and column of the
    # Parquet file equals the CSV field's value (no field empty), and both read back to the same records
    pq = pytest.importorskip("pyarrow.parquet")
    import csv

    from staleness.records import read_records

    argv = ["simulate", "--learners", "4", "--seed", "5", *system]
    assert run_cli(capsys, *argv, "--per-gradient", str(tmp_path / "g.csv"))[0] == 0
    code, _, err = run_cli(capsys, *argv, "--per-gradient", str(tmp_path / "g.parquet"))
    with open(tmp_path / "g.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = pq.read_table(tmp_path / "g.parquet").to_pydict()
    assert code == 0 and f"wrote {len(rows)} gradients" in err and len(rows) > 100
    assert list(table) == list(rows[0])  # the same columns in the same order
    for name, values in table.items():
        parse = {"applied": {"true": True, "false": False}.__getitem__}.get(name, type(values[0]))
        assert [parse(r[name]) for r in rows] == values, name  # an empty field would fail to parse
    g = read_records(tmp_path / "g.csv")
    assert g == read_records(tmp_path / "g.parquet") and len(g) == len(rows)
    assert g.push_time.tolist() == [float(r["push_time"]) for r in rows]  # shortest repr reads back exactly


def test_a_builtin_command_loads_only_its_own_module():
    # `staleness simulate` parses with a parser of that command alone: no other command module, no plugin
    # (mlcore's `train`) and no installed-metadata lookup are imported; the usage error is the frame's one line
    code = ("import sys; from staleness.cli import main; rc = main(['simulate', '--learners', '2', '--updates', "
            "'3', '--json']); assert rc == 0, rc; bad = [m for m in ('staleness.commands.sweep', 'mlcore', "
            "'importlib.metadata', 'staleness.paramserver') if m in sys.modules]; assert not bad, bad; "
            "assert main(['simulate', '--bogus']) == 2")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "staleness: error: unrecognized arguments: --bogus (see --help)"
    assert json.loads(out.stdout)["summary"]["updates"] == 3


def test_k_and_bound_are_required(capsys):
    for argv, fragment in ((["--policy", "k-async"], "--k: missing for policy k-async"),
                           (["--policy", "ssp"], "--bound: missing")):
        code, out, err = run_cli(capsys, "simulate", *argv)
        assert code == 2 and fragment in err
    code, _, err = run_cli(capsys, "sweep", "--policy", "k-sync", "--learners", "2")
    assert code == 2 and "--k: missing" in err
    code, out, _ = run_cli(capsys, "sweep", "--policy", "k-sync", "--learners", "2,4", "--k", "2,4", "--updates",
                           "500", "--csv")
    assert code == 0 and len(out.splitlines()) == 1 + 3  # K=2 x {2, 4}, K=4 x {4}


def test_huge_requests_refused_in_one_line(capsys):
    code, out, err = run_cli(capsys, "simulate", "--updates", "1000000000000")
    # 10^12 gradients x 4.4e-8 CPU s (the reference speed: the tests never calibrate) = 44,000 s = 12 h
    assert code == 2 and out == "" and err.count("\n") == 1 and "about 12 h of CPU" in err and "--force" in err
    code, out, err = run_cli(capsys, "simulate", "--learners", "10000000")
    assert code == 2 and "--learners:" in err and "available" in err


def test_tables_fold_at_80_columns_and_keep_full_width_in_pipes(capsys):
    # Exact times are long (repr of a float): on an 80-column console they fold onto the next line (every
    # line <= 80 characters, no cell cut with an ellipsis); a pipe gets the table's whole width.
    from dlperf.tables import plain_text
    from staleness import SimConfig, simulate
    from staleness.render import gradient_table

    res = simulate(SimConfig(learners=2, updates=4, seed=3))
    text = plain_text(gradient_table(res), width=80)
    assert all(len(line) <= 80 for line in text.splitlines()) and "\u2026" not in text
    assert main(["simulate", "--learners", "2", "--updates", "4", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "\u2026" not in out and repr(float(res.gradients.push_time[0])) in out  # exact, on one line
