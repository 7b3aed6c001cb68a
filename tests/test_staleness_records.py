"""Per-gradient files (issue 23 item 3): written block by block they hold every field of every row, equal to
the whole run's records kept in memory; the three left-out columns follow from their own rows."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import staleness_async_configs

from staleness import SimConfig, simulate
from staleness.records import (
    COLUMNS,
    CsvRecords,
    ParquetRecords,
    _file_columns,
    _PreviousPush,
    read_records,
)
from staleness.result import Gradients

CFGS = [SimConfig(learners=5, updates=700, seed=3),  # async, vectorised
        SimConfig(learners=4, policy="k-sync", k=2, updates=300, seed=4),  # discarded gradients
        SimConfig(learners=12, policy="ssp", bound=1, updates=400, seed=5),
        # latencies and an apply time: read_time, compute_start, push_time and apply_time all differ
        SimConfig(learners=3, updates=300, seed=6, pull_latency=0.25, push_latency=0.125, apply_time=0.1)]
IDS = ["async", "k-sync", "ssp", "latencies"]


def _csv(cfg, chunk, fallback=False):
    out = io.BytesIO()
    w = CsvRecords(out)
    if fallback:
        w.pa = None
    simulate(cfg, stream=True, records=True, chunk=chunk, on_block=w.write)
    w.close()
    return out.getvalue()


def _parse_by_hand(text: bytes) -> dict:
    """Every field of every row parsed in plain Python (an oracle independent of read_records); an empty
    field fails here. The left-out columns by their documented arithmetic on the row."""
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert list(rows[0]) == list(COLUMNS)
    ints = ("learner", "index", "read_version", "staleness")
    out: dict[str, list] = {c: [] for c in (*COLUMNS, "version_before_apply", "update")}
    for r in rows:
        assert all(r[c] != "" for c in COLUMNS) and None not in r, r  # every value present, nothing extra
        for c in COLUMNS:
            out[c].append({"true": True, "false": False}[r[c]] if c == "applied" else (int if c in ints else float)(r[c]))
        vba = int(r["read_version"]) + int(r["staleness"])
        out["version_before_apply"].append(vba)
        out["update"].append(vba + 1 if out["applied"][-1] else -1)
    return out


def _every_value_formatted(g: Gradients) -> bytes:
    """The lines Arrow's CSV writer gives the numeric columns themselves: each value formatted on its own."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    out = io.BytesIO()
    pcsv.write_csv(pa.table({c: getattr(g, c) for c in COLUMNS}), out, pcsv.WriteOptions(quoting_style="none"))
    return out.getvalue().replace(b'"', b"")  # the header's names are quoted by Arrow, not by the writer


def _as_lists(g: Gradients) -> dict:
    return {c: getattr(g, c).tolist() for c in (*COLUMNS, "version_before_apply", "update")}


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_csv_in_blocks_equals_the_whole_run(cfg):
    whole = simulate(cfg).gradients  # kept in memory: one array per column, no blocks
    small, default = _csv(cfg, 37), _csv(cfg, None)  # 37 records a block against one or two blocks
    assert small == default  # byte for byte
    assert _parse_by_hand(default) == _as_lists(whole)  # every field of every row, floats exactly
    assert read_records(io.BytesIO(default)) == whole
    if importlib.util.find_spec("pyarrow") is not None:
        # the text of a value reused for a column equal to it bit for bit (apply_time = push_time, compute_start
        # = read_time, read_time = the learner's previous push) is the text Arrow gives that column's own values
        assert default == _every_value_formatted(whole)
    fallback = _csv(cfg, 37, fallback=True)  # the writer without pyarrow: the same values
    assert _parse_by_hand(fallback) == _as_lists(whole)


def test_a_generic_reader_gets_the_runs_means():
    # the reason no field is ever left empty: a generic reader (numpy here, pandas alike) reads an empty field
    # as NaN, and nanmean / pandas' mean skip it, so the mean would be over the rows that were written. Read
    # without knowing the layout, every numeric column has no NaN and equals the in-memory column.
    g = simulate(CFGS[0]).gradients
    numeric = [c for c in COLUMNS if c != "applied"]
    table = np.genfromtxt(io.BytesIO(_csv(CFGS[0], 50)), delimiter=",", names=True, dtype=np.float64,
                          usecols=numeric)
    assert len(table) == len(g)
    for c in numeric:
        assert not np.isnan(table[c]).any() and table[c].tolist() == getattr(g, c).astype(np.float64).tolist(), c
    # compute_time = push_time - compute_start on every row (here compute_start = the learner's previous push)
    assert np.nanmean(table["compute_time"]) == np.mean(g.push_time - g.compute_start) > 0


def test_a_file_with_an_empty_field_is_refused(monkeypatch, tmp_path):
    # a record file never has an empty field: one is refused by every reader, naming the column and record
    text = _csv(CFGS[1], None).decode().splitlines()
    fields_ = text[5].split(",")
    fields_[COLUMNS.index("compute_time")] = ""
    text[5] = ",".join(fields_)
    bad = "\n".join(text) + "\n"
    message = "'compute_time' is empty in record 5;"
    if importlib.util.find_spec("pyarrow") is not None:
        with pytest.raises(ValueError, match=message):
            read_records(io.StringIO(bad))
        import pyarrow as pa
        import pyarrow.parquet as pq

        g = simulate(CFGS[1]).gradients
        cols = {c: getattr(g, c) for c in COLUMNS}
        cols["compute_time"] = pa.array(cols["compute_time"], mask=np.arange(len(g)) == 4)  # a null in record 5
        pq.write_table(pa.table(cols), tmp_path / "g.parquet")
        with pytest.raises(ValueError, match=message):
            read_records(tmp_path / "g.parquet")
    import staleness.records as records

    def missing(*args, **kwargs):
        raise ValueError("no pyarrow")

    monkeypatch.setattr(records, "import_pyarrow", missing)
    with pytest.raises(ValueError, match=message):
        read_records(io.StringIO(bad))


@pytest.mark.parametrize("cfg", CFGS, ids=IDS)
def test_parquet_in_blocks_equals_the_whole_run(cfg, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    tables = []
    for chunk, group in ((37, 100), (None, 1 << 20)):  # many small row groups against one
        w = ParquetRecords(str(tmp_path / f"{chunk}.parquet"), rows_per_group=group)
        simulate(cfg, stream=True, records=True, chunk=chunk, on_block=w.write)
        w.close()
        tables.append(pq.read_table(tmp_path / f"{chunk}.parquet"))
    meta = pq.ParquetFile(tmp_path / "37.parquet").metadata
    assert meta.num_row_groups > 1 and "DELTA_BINARY_PACKED" in meta.row_group(0).column(0).encodings
    assert tables[0].equals(tables[1]) and tables[0].column_names == list(COLUMNS)
    whole = simulate(cfg).gradients
    assert read_records(tmp_path / "37.parquet") == whole
    # no nulls, and none allowed: every column equals the in-memory column
    assert all(not f.nullable for f in tables[0].schema) and tables[0].to_pydict() == {
        c: getattr(whole, c).tolist() for c in COLUMNS}


@pytest.mark.parametrize("cfg", CFGS[:2], ids=IDS[:2])
def test_csv_read_back_without_pyarrow(cfg, monkeypatch, tmp_path):
    import staleness.records as records

    path = tmp_path / "g.csv"
    path.write_bytes(_csv(cfg, None))

    def missing(*args, **kwargs):
        raise ValueError("no pyarrow")

    monkeypatch.setattr(records, "import_pyarrow", missing)
    assert read_records(path) == simulate(cfg).gradients
    assert read_records(io.BytesIO(path.read_bytes())) == simulate(cfg).gradients


def test_previous_push_carries_across_blocks():
    # learner 1 pushes at 1, 4; learner 0 at 2, 3 then (next block) learner 1 at 5, learner 0 at 6, learner 2 at 7
    prev = _PreviousPush()
    values, rows = prev(np.array([1, 0, 0, 1]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert values.tolist() == [0.0, 0.0, 2.0, 1.0] and rows.tolist() == [-1, -1, 1, 0]
    values, rows = prev(np.array([1, 0, 2]), np.array([5.0, 6.0, 7.0]))
    assert values.tolist() == [4.0, 3.0, 0.0] and rows.tolist() == [-1, -1, -1]  # earlier block, or none
    # learner numbers beyond 8 and 16 bits (the sort key's width follows the largest): a loop as the oracle
    rng = np.random.default_rng(1)
    for top in (3, 300, 70_000):
        learner, push = rng.integers(0, top, 2000), rng.random(2000)
        prev, last, want, want_rows = _PreviousPush(), {}, [], []
        for r, (a, t) in enumerate(zip(learner.tolist(), push.tolist(), strict=True)):
            want.append(last.get(a, (0.0, -1))[0])
            want_rows.append(last.get(a, (0.0, -1))[1] - (700 if r >= 700 else 0))  # the row in its own block
            last[a] = (t, r)
        (v1, r1), (v2, r2) = prev(learner[:700], push[:700]), prev(learner[700:], push[700:])
        assert np.concatenate([v1, v2]).tolist() == want
        assert np.concatenate([r1, r2]).tolist() == [w if w >= 0 else -1 for w in want_rows]


def test_runs_of_equal_floats_are_formatted_once_and_read_the_same():
    # 8 values in 3 runs of equal bits (-0.0 and 0.0 differ in bits and in text): the run path; 8 distinct values:
    # the plain path. Each gives the text of formatting every value on its own.
    pa = pytest.importorskip("pyarrow")
    import pyarrow.compute as pc

    from staleness.records import _float_text

    for v in ([1.5, 1.5, 1.5, -0.0, 0.0, 0.0, 0.0, 0.0], [0.1 * k for k in range(8)]):
        v = np.array(v)
        assert _float_text(pa, pc, v).to_pylist() == [pc.cast(pa.array([x]), pa.string())[0].as_py() for x in v]
    assert _float_text(pa, pc, np.array([1.5, 1.5, -0.0, 0.0])).to_pylist() == ["1.5", "1.5", "-0", "0"]


def test_a_block_longer_than_a_slice_writes_the_same_lines():
    # the writer formats 2^16 rows at a time; a block of 150,000 (three slices) gives the lines of small blocks
    pytest.importorskip("pyarrow")
    cfg = SimConfig(learners=7, updates=150_000, seed=8)
    assert _csv(cfg, 150_000) == _csv(cfg, 5_000)


def test_records_whose_versions_do_not_follow_are_refused():
    # update must be version_before_apply + 1 (the file leaves it out): a record breaking that is not written
    g = simulate(CFGS[0]).gradients
    cols = {c: getattr(g, c) for c in ("learner", "index", "read_time", "read_version", "compute_start",
                                       "push_time", "compute_time", "apply_time", "version_before_apply",
                                       "staleness", "applied")}
    bad = Gradients.from_columns(**cols, update=g.update + 1)
    with pytest.raises(ValueError, match="not derivable"):
        _file_columns(bad)


def test_an_old_file_with_every_column_reads_back():
    # files written before the columns were left out (name, version_before_apply, update; True / False)
    g = simulate(CFGS[1]).gradients
    names = ("name", "learner", "index", "read_time", "read_version", "compute_start", "push_time", "compute_time",
             "apply_time", "version_before_apply", "staleness", "applied", "update")
    lines = [",".join(names)] + [",".join([f'"{g.name(r)}"'] + [repr(getattr(g, c)[r].item()) for c in names[1:]])
                                 for r in range(len(g))]
    assert read_records(io.StringIO("\n".join(lines) + "\n")) == g


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


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=staleness_async_configs(), lat=st.sampled_from([None, (0.25, 0.0, 0.0), (0.0, 0.125, 0.5)]),
       engine=st.sampled_from(["auto", "event"]), chunk=st.sampled_from([3, 37, None]))
def test_any_run_written_in_blocks_reads_back_equal(tmp_path_factory, cfg, lat, engine, chunk):
    # every policy, vectorised or event engine, with or without latencies / an apply time, cut into blocks of
    # any size: both files read back to the records of the run kept in memory, bit for bit
    if lat is not None:
        cfg = dataclasses.replace(cfg, pull_latency=lat[0], push_latency=lat[1], apply_time=lat[2])
    whole = simulate(cfg, engine=engine).gradients
    out = io.BytesIO()
    w = CsvRecords(out)
    simulate(cfg, engine=engine, stream=True, records=True, chunk=chunk, on_block=w.write)
    assert w.rows == len(whole) and read_records(io.BytesIO(out.getvalue())) == whole
    assert _parse_by_hand(out.getvalue()) == _as_lists(whole) if len(whole) else True
    if importlib.util.find_spec("pyarrow") is not None and len(whole):
        assert out.getvalue() == _every_value_formatted(whole)
    if importlib.util.find_spec("pyarrow") is not None:
        path = str(tmp_path_factory.mktemp("pq") / "g.parquet")
        p = ParquetRecords(path, rows_per_group=50)
        simulate(cfg, engine=engine, stream=True, records=True, chunk=chunk, on_block=p.write)
        p.close()
        assert read_records(path) == whole
