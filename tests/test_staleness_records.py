"""Per-gradient files written block by block equal the whole run's records, row by row (issue 23 item 3)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from staleness import SimConfig, simulate
from staleness.records import COLUMNS, CsvRecords, ParquetRecords, name_bytes

CFGS = [SimConfig(learners=5, updates=700, seed=3),  # async, vectorised
        SimConfig(learners=4, policy="k-sync", k=2, updates=300, seed=4),  # discarded gradients
        SimConfig(learners=12, policy="ssp", bound=1, updates=400, seed=5)]


def _whole(cfg):
    g = simulate(cfg).gradients  # kept in memory: one array per column, no blocks
    names = [f"g[L{a + 1},{i + 1}]" for a, i in zip(g.learner.tolist(), g.index.tolist(), strict=True)]
    return {"name": names, **{c: getattr(g, c).tolist() for c in COLUMNS[1:]}}


def _csv(cfg, chunk, fallback=False):
    out = io.BytesIO()
    w = CsvRecords(out)
    if fallback:
        w.pa = None
    simulate(cfg, stream=True, records=True, chunk=chunk, on_block=w.write)
    w.close()
    return out.getvalue()


def _parse(text: bytes) -> dict:
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    conv = {"name": str, "applied": lambda v: {"True": True, "False": False}[v]}
    ints = ("learner", "index", "read_version", "version_before_apply", "staleness", "update")
    return {c: [conv.get(c, int if c in ints else float)(r[c]) for r in rows] for c in COLUMNS}


@pytest.mark.parametrize("cfg", CFGS, ids=["async", "k-sync", "ssp"])
def test_csv_in_blocks_equals_the_whole_run(cfg):
    whole = _whole(cfg)
    small, default = _csv(cfg, 37), _csv(cfg, None)  # 37 records a block against one or two blocks
    assert small == default  # byte for byte
    assert _parse(default) == whole  # every row and column, floats exactly (shortest form reads back equal)
    assert _parse(_csv(cfg, 37, fallback=True)) == whole  # the writer without pyarrow: the same values


@pytest.mark.parametrize("cfg", CFGS, ids=["async", "k-sync", "ssp"])
def test_parquet_in_blocks_equals_the_whole_run(cfg, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    tables = []
    for chunk, group in ((37, 100), (None, 1 << 20)):  # many small row groups against one
        w = ParquetRecords(str(tmp_path / f"{chunk}.parquet"), rows_per_group=group)
        simulate(cfg, stream=True, records=True, chunk=chunk, on_block=w.write)
        w.close()
        tables.append(pq.read_table(tmp_path / f"{chunk}.parquet"))
    assert pq.ParquetFile(tmp_path / "37.parquet").metadata.num_row_groups > 1
    assert tables[0].equals(tables[1])
    assert tables[0].to_pydict() == _whole(cfg)


def test_names_from_bytes_equal_python_formatting():
    # edge widths: 1, 9, 10, 99, 100, ... digits, and learner numbers of several widths in one block
    rng = np.random.default_rng(0)
    learner = np.concatenate([[0, 8, 9, 98, 99], rng.integers(0, 10**5, 300)])
    index = np.concatenate([[0, 9, 99, 999, 10**9 - 1], rng.integers(0, 10**9, 300)])
    offsets, data = name_bytes(learner, index)
    text = data.tobytes().decode()
    got = [text[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert got == [f"g[L{a + 1},{i + 1}]" for a, i in zip(learner.tolist(), index.tolist(), strict=True)]


def test_a_pyarrow_that_cannot_be_imported_is_named_with_the_users_path(monkeypatch, tmp_path):
    # pyarrow 26 installed beside numpy 1.26 fails at import with this message: say so, not "needs pyarrow"
    import builtins

    pytest.importorskip("pyarrow")
    real = builtins.__import__

    def broken(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("pyarrow requires NumPy 2.0 or newer, found 1.26.4")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(ValueError) as exc:
        ParquetRecords(str(tmp_path / "tmpXYZ.tmp"), name="runs/g.parquet")
    text = str(exc.value)
    assert "'runs/g.parquet'" in text and "tmpXYZ" not in text and "not installed" not in text
    assert "pyarrow requires NumPy 2.0 or newer, found 1.26.4" in text and "\n" not in text
