"""``mlcore curves`` with several named scorers, True/False and --pos-label labels, "wrote FILE", and one-line
errors for unreadable, binary and mismatched files and a bad --seed."""

from __future__ import annotations

import json

import pytest

from mlcore.cli import main
from mlcore.curves import curve_areas


def _write(tmp_path, name, values):
    p = tmp_path / name
    p.write_text("\n".join(str(v) for v in values) + "\n")
    return str(p)


LABELS = [1, 1, 0, 0, 1, 0]
A = [0.8, 0.8, 0.6, 0.4, 0.4, 0.2]  # reference implementation: AUPRG 0.7083333333333334
B = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2]


def test_named_scorers_json_plot_and_wrote(tmp_path, capsys):
    y = _write(tmp_path, "y.txt", LABELS)
    a, b = _write(tmp_path, "a.txt", A), _write(tmp_path, "b.txt", B)
    png = tmp_path / "c.png"
    assert main(["curves", "--scores", f"model_a={a}", "--scores", f"model_b={b}", "--labels", y, "--json",
                 "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert list(out["models"]) == ["model_a", "model_b"]
    assert abs(out["models"]["model_a"]["auprg"] - 0.7083333333333334) <= 1e-12
    # model_b against the library on the same vectors; AUROC by pair counting: positives 0.1, 0.9, 0.5 vs
    # negatives 0.3, 0.7, 0.2: pairs won 0 + 3 + 2 = 5 of 9
    assert out["models"]["model_b"]["auroc"] == pytest.approx(5 / 9)
    assert out["models"]["model_b"]["auprg"] == curve_areas(LABELS, B).auprg
    assert set(out) >= {"dataset", "n_positive", "n_negative", "positive_rate", "all_positive", "models"}
    assert captured.err == f"wrote {png}\n" and png.read_bytes()[:4] == b"\x89PNG"


def test_table_lists_every_scorer(tmp_path, capsys):
    y = _write(tmp_path, "y.txt", LABELS)
    args = ["curves", "--labels", y]
    for name, values in (("first", A), ("second", B), ("third", A[::-1])):
        args += ["--scores", f"{name}={_write(tmp_path, name, values)}"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in ("first", "second", "third"))


def test_true_false_labels_and_pos_label(tmp_path, capsys):
    a = _write(tmp_path, "a.txt", A)
    as_bool = _write(tmp_path, "yb.txt", ["True" if v else "false" for v in LABELS])
    as_words = _write(tmp_path, "yw.txt", ["donor" if v else "no" for v in LABELS])
    as_numbers = _write(tmp_path, "yn.txt", [2 if v else 1 for v in LABELS])
    results = []
    for extra in (["--labels", as_bool], ["--labels", as_words, "--pos-label", "donor"],
                  ["--labels", as_numbers, "--pos-label", "2.0"]):
        assert main(["curves", "--scores", f"m={a}", *extra, "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out)["models"]["m"])
    assert results[0] == results[1] == results[2]
    assert abs(results[0]["auprg"] - 0.7083333333333334) <= 1e-12


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mlcore: error: ")
    return err


def test_unreadable_and_binary_files_name_the_file_and_argument(tmp_path, capsys):
    y = _write(tmp_path, "y.txt", LABELS)
    binary = tmp_path / "scores.npy"
    binary.write_bytes(b"\x93NUMPY\x01\x00\x00\xff\xfe")
    err = _error(capsys, ["curves", "--scores", f"m={binary}", "--labels", y])
    assert f"--scores m: '{binary}' is a binary file" in err
    err = _error(capsys, ["curves", "--scores", f"m={tmp_path}", "--labels", y])  # a folder
    assert "--scores m: cannot read" in err and str(tmp_path) in err
    words = _write(tmp_path, "yw.txt", ["yes", "no", "yes", "no", "yes", "no"])
    err = _error(capsys, ["curves", "--scores", _write(tmp_path, "a.txt", A), "--labels", words])
    assert "--labels: line 1" in err and "--pos-label" in err
    err = _error(capsys, ["curves", "--scores", _write(tmp_path, "a.txt", A), "--labels", words, "--pos-label", "x"])
    assert "no line equals --pos-label 'x'" in err


def test_scorer_names_and_lengths(tmp_path, capsys):
    y = _write(tmp_path, "y.txt", LABELS)
    a, short = _write(tmp_path, "a.txt", A), _write(tmp_path, "s.txt", A[:4])
    assert "given twice" in _error(capsys, ["curves", "--scores", f"m={a}", "--scores", f"m={a}", "--labels", y])
    err = _error(capsys, ["curves", "--scores", f"m={a}", "--scores", f"short={short}", "--labels", y])
    assert "--scores short:" in err and "holds 4 values but --labels" in err and "holds 6" in err
    assert "--scores: got '=x'" in _error(capsys, ["curves", "--scores", "=x", "--labels", y])


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_seed_errors_name_seed(capsys, seed):
    assert f"--seed: got {seed}" in _error(capsys, ["curves", "--seed", seed])
    assert f"--seed: got {seed}" in _error(capsys, ["bias-variance", "--seed", seed])


@pytest.mark.parametrize(("scores", "labels", "bad"), [
    # issue 22: a blank at row 3 of the scores and row 5 of the labels; dropped independently, rows 3-5
    # paired score i+1 with label i. Refused at the first blank found (the labels are read first).
    ("0.9\n0.8\n\n0.7\n0.2\n0.1\n", "1\n1\n0\n1\n\n0\n", "--labels: line 5 of"),
    ("0.9\n0.8\n\n0.7\n0.2\n0.1\n", "1\n1\n0\n1\n0\n0\n", "--scores s: line 3 of"),
    ("0.9\n0.8\n0.7\n0.2\n0.1\n", "1\n\n1\n0\n0\n", "--labels: line 2 of"),
    ("\n0.9\n0.1\n", "1\n0\n", "--scores s: line 1 of"),
    ("0.9\n  \t\n0.1\n", "1\n0\n", "--scores s: line 2 of"),  # whitespace only is blank
])
def test_blank_lines_inside_a_file_are_refused_naming_file_and_line(tmp_path, capsys, scores, labels, bad):
    (tmp_path / "s.txt").write_text(scores)
    (tmp_path / "y.txt").write_text(labels)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    status = main(["curves", "--scores", f"s={tmp_path / 's.txt'}", "--labels", str(tmp_path / "y.txt"),
                   "--plot", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert bad in err and "is blank" in err and "by line" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no plot written


def test_blank_lines_after_the_last_value_are_ignored(tmp_path, capsys):
    # trailing blanks shift no row: same areas as the clean files (oracle: curve_areas on the pairs)
    (tmp_path / "s.txt").write_text("0.9\n0.8\n0.3\n0.1\n\n\n")
    (tmp_path / "y.txt").write_text("1\n0\n1\n0\n\n")
    assert main(["curves", "--scores", f"s={tmp_path / 's.txt'}", "--labels", str(tmp_path / "y.txt"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    # 4 pairs: positives at .9 and .3, negatives at .8 and .1; AUROC = P(pos > neg) = (2 + 1) / 4 = 0.75
    want = curve_areas([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert want.auroc == 0.75
    assert got["n_positive"] == 2 and got["n_negative"] == 2
    assert got["models"]["s"]["auroc"] == want.auroc and got["models"]["s"]["auprg"] == want.auprg
