"""``tools/coverage_select.py --gaps --only NAME,...``: a partial rerun replaces only the named models' rows.

Checked without running any model: reading the checked-in page back (:func:`page_results`, failures from
``known_gaps.json``) and rendering it again gives the page byte for byte, so the rows a partial run keeps
are exactly the last full run's; merging replaces the named rows and keeps the order; an unknown name is
one line and exit status 2.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

pytest.importorskip("torch")

import coverage_harness as harness  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def cs():
    spec = importlib.util.spec_from_file_location("coverage_select", harness.ROOT / "tools" / "coverage_select.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page_parts(cs):
    page = cs.PAGE.read_text()
    tail = page.split(cs.MARK, 1)[1]
    versions = next(line for line in tail.splitlines() if line.startswith("- torch"))[2:]
    return page, tail, versions


def test_page_reads_back_exactly(cs):
    page, tail, versions = _page_parts(cs)
    results, wall = cs.page_results(page, {s: harness.known_gaps(s) for s in ("hf", "timm")})
    assert len(results) == len(harness.load("hf")) + len(harness.load("timm"))
    last = tail.rstrip("\n").rsplit("\n", 1)[-1]
    partial = last if last.startswith("Rows of ") else ""  # the note a partial run leaves
    assert cs.render(results, wall, versions, partial) == cs.MARK + tail


def test_merge_replaces_only_the_named_rows(cs):
    page, _, versions = _page_parts(cs)
    old, wall = cs.page_results(page, {s: harness.known_gaps(s) for s in ("hf", "timm")})
    first = old[0]
    fresh = {**first, "failures": ["unmodelled: made_up x 1"], "nodes": first["nodes"] + 1}
    merged = cs.merge_results(old, [fresh])
    assert merged[0] == fresh and merged[1:] == old[1:]
    text = cs.render(merged, wall, versions, "Rows of x rerun.")
    assert "unmodelled: made_up x 1" in text and text.endswith("Rows of x rerun.\n")


def test_unknown_name_is_one_line_exit_2(cs, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["coverage_select.py"])
    with pytest.raises(SystemExit) as exc:
        cs.main(["--gaps", "--only", "bert,no_such_model"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--only 'bert,no_such_model': no_such_model is not in" in err  # bert is listed, not blamed
