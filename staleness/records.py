"""Per-gradient records written as a run streams: CSV (always) or Parquet (``.parquet``, needs pyarrow).

A record file has one row per gradient in apply / discard order and the columns :data:`COLUMNS`:
``learner, index, read_time, read_version, compute_start, push_time, compute_time, apply_time,
staleness, applied`` (meanings in :mod:`staleness.result`), every field of every row written. Three
columns of :class:`~staleness.result.Gradients` are left out, each being exact arithmetic on its own row
(a program that asks for one fails loudly instead of reading a wrong number):

- the name ``g[L{learner+1},{index+1}]``;
- ``version_before_apply`` = ``read_version + staleness``;
- ``update`` = ``version_before_apply + 1`` where ``applied``, else -1.

The writer checks both identities on every block and refuses records that break them;
:func:`read_records` adds the three columns back. Floats are written in a shortest form that reads back
exactly (``0.5``, ``1e+16``), the booleans as ``true`` / ``false``. With pyarrow installed each number is
formatted to text once by Arrow (the text its CSV writer gives it), a float column equal bit for bit to
another reusing that one's text (``apply_time`` = ``push_time``, ``compute_start`` = ``read_time``,
``read_time`` = the learner's previous ``push_time``, where every row of a slice has it so) and a run of
equal values in a column formatted once, and Arrow's CSV writer lays out the lines; without pyarrow a
numpy / Python fallback writes the same values (slower).

Examples
--------
>>> import io
>>> from staleness import SimConfig, simulate
>>> out = io.StringIO()
>>> w = CsvRecords(out)
>>> res = simulate(SimConfig(times=[[1, 1], [2.5]]), on_block=w.write)
>>> w.close()
>>> print(out.getvalue().strip())
learner,index,read_time,read_version,compute_start,push_time,compute_time,apply_time,staleness,applied
0,0,0,0,0,1,1,1,0,true
0,1,1,1,1,2,1,2,0,true
1,0,0,0,0,2.5,2.5,2.5,2,true
>>> read_records(io.StringIO(out.getvalue())) == res.gradients
True
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import fields
from typing import IO

import numpy as np

from dlperf.errors import ArgumentError
from staleness.result import _INT_COLUMNS, Gradients
from staleness.stream import Block

__all__ = ["CsvRecords", "ParquetRecords", "COLUMNS", "import_pyarrow", "read_records"]

#: Columns of a record file, in order.
COLUMNS = ("learner", "index", "read_time", "read_version", "compute_start", "push_time", "compute_time",
           "apply_time", "staleness", "applied")
_FLOATS = frozenset(f.name for f in fields(Gradients)) - frozenset(_INT_COLUMNS) - {"applied"}


def import_pyarrow(path: str, param: str = "per_gradient"):
    """``(pyarrow, pyarrow.compute)``; ValueError naming ``path`` and the real cause when it cannot be imported
    (not installed, or installed but built for another numpy)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError as exc:
        from importlib.util import find_spec

        if find_spec("pyarrow") is None:
            raise ArgumentError(param, path, "install it (pip install pyarrow), or give a .csv name",
                                what=f"got {path!r}, but Parquet needs pyarrow, which is not installed") from None
        import numpy

        raise ArgumentError(param, path, "upgrade numpy (pip install -U numpy), install a pyarrow built for this "
                            "numpy (pyarrow 15 is tested with numpy 1.26), or give a .csv name",
                            what=f"got {path!r}, but the installed pyarrow cannot be imported with numpy "
                            f"{numpy.__version__} ({exc})") from None
    return pa, pc


class _PreviousPush:
    """The ``push_time`` of each row's learner's previous row, across blocks (0.0 before its first), and that
    row's position in the block (-1 where it is in an earlier block, or there is none)."""

    def __init__(self) -> None:
        self.last = np.zeros(0)

    def __call__(self, learner: np.ndarray, push: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(learner)
        top = int(learner.max()) + 1
        if top > len(self.last):
            self.last = np.concatenate([self.last, np.zeros(top - len(self.last))])
        # a stable sort groups each learner's rows, keeping their order (radix sort on 8- or 16-bit keys)
        key = learner.astype(np.uint8 if top <= 1 << 8 else np.uint16) if top <= 1 << 16 else learner
        order = np.argsort(key, kind="stable")
        ls, ps = learner[order], push[order]
        prev = np.empty(n)
        prev[1:] = ps[:-1]
        row = np.empty(n, dtype=np.int64)
        row[1:] = order[:-1]
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(ls[1:], ls[:-1], out=first[1:])
        firsts = np.flatnonzero(first)
        prev[firsts] = self.last[ls[firsts]]
        row[firsts] = -1
        ends = np.append(firsts[1:] - 1, n - 1)
        self.last[ls[ends]] = ps[ends]
        out, out_row = np.empty(n), np.empty(n, dtype=np.int64)
        out[order], out_row[order] = prev, row
        return out, out_row


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two float64 arrays are equal bit for bit (``-0.0`` is not ``0.0``): then their text is too."""
    return bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def _file_columns(g: Gradients) -> dict[str, np.ndarray]:
    """The file's columns of ``g``, after checking that the left-out ones follow from them."""
    vba = g.read_version + g.staleness
    if not (np.array_equal(vba, g.version_before_apply)
            and np.array_equal(np.where(g.applied, vba + 1, -1), g.update)):
        raise ValueError("records: version_before_apply or update is not derivable from read_version, staleness "
                         "and applied; the file would not hold the run's records")
    return {name: getattr(g, name) for name in COLUMNS}


def _gradients(block: Block) -> Gradients:
    g = block.gradients
    assert g is not None, "the run must build records (simulate(..., records=True))"
    return g


def _float_text(pa, pc, v: np.ndarray):
    """``v``'s Arrow text. Where at most half the values start a run of bit-equal ones (k-sync's shared read
    and apply times), only each run's first value is formatted and the others take its text."""
    bits = v.view(np.int64)
    first = np.empty(len(v), dtype=bool)
    first[:1] = True
    np.not_equal(bits[1:], bits[:-1], out=first[1:])
    if np.count_nonzero(first) * 2 > len(v):
        return pc.cast(pa.array(v), pa.string())
    return pc.cast(pa.array(v[first]), pa.string()).take(pa.array(np.cumsum(first) - 1))


class CsvRecords:
    """Append every block's gradients to an open file (text or binary) as CSV (a header first)."""

    def __init__(self, fh: IO) -> None:
        self.fh = fh
        self.text = isinstance(fh, io.TextIOBase)
        try:
            self.pa, self.pc = import_pyarrow("")
            import pyarrow.csv as pcsv

            self.pcsv = pcsv
        except ValueError:
            self.pa = None
        self._previous = _PreviousPush()
        self._put(",".join(COLUMNS) + "\n")
        self.rows = 0

    def _put(self, text) -> None:
        """Write ``text`` (a str, or bytes / an Arrow buffer of UTF-8) to the file, in the file's mode."""
        if self.text:
            self.fh.write(text if isinstance(text, str) else memoryview(text).tobytes().decode())
        else:
            self.fh.write(text.encode() if isinstance(text, str) else text)

    def write(self, block: Block) -> None:
        g = _gradients(block)
        if not len(g):
            return
        cols = _file_columns(g)
        if self.pa is None:
            self._put(self._numpy_lines(cols))
        else:
            # slices of 2^16 rows: Arrow formats a slice's numbers faster than a long array's, and a slice's
            # text stays far below string offsets' 2 GiB
            step = 1 << 16
            for i in range(0, len(g), step):
                self._put(self._arrow_slice({k: v[i : i + step] for k, v in cols.items()}))
        self.rows += len(g)

    def _arrow_slice(self, cols: dict):
        # Every number is formatted to text once (Arrow's shortest exact form, the same text its CSV writer
        # gives the number) and written as text. A float column whose values are, bit for bit, those of
        # another one reuses that one's text: apply_time is push_time, compute_start read_time, and read_time
        # the learner's previous push_time (in the plain async run: 2 floats formatted a row instead of 5);
        # within a float column, runs of equal values are formatted once (_float_text).
        pa, pc = self.pa, self.pc

        def text(v: np.ndarray):
            return _float_text(pa, pc, v) if v.dtype == np.float64 else pc.cast(pa.array(v), pa.string())

        out = {name: text(v) for name, v in cols.items() if name in _INT_COLUMNS}
        out["push_time"] = text(cols["push_time"])
        prev, row = self._previous(cols["learner"], cols["push_time"])
        if _same(cols["read_time"], prev):
            head = row < 0  # pushed in an earlier block (or never: 0): formatted here, the others are taken
            idx = np.where(head, np.cumsum(head) - 1, int(head.sum()) + row)
            out["read_time"] = pa.concat_arrays([text(prev[head]), out["push_time"]]).take(pa.array(idx))
        else:
            out["read_time"] = text(cols["read_time"])
        same = {"compute_start": "read_time", "apply_time": "push_time"}
        for name in ("compute_start", "compute_time", "apply_time"):
            twin = same.get(name)
            out[name] = out[twin] if twin and _same(cols[name], cols[twin]) else text(cols[name])
        out["applied"] = cols["applied"]
        buf = pa.BufferOutputStream()  # an Arrow buffer, handed to the file without a copy
        self.pcsv.write_csv(pa.table({name: out[name] for name in COLUMNS}), buf, self.pcsv.WriteOptions(
            include_header=False, batch_size=1 << 16, quoting_style="none"))  # numbers and booleans: no quotes
        return buf.getvalue()

    @staticmethod
    def _numpy_lines(cols: dict) -> str:
        text = []
        for name, v in cols.items():
            if name == "applied":
                text.append(np.where(v, "true", "false").tolist())
            elif name in _FLOATS:
                text.append(list(map(repr, v.tolist())))
            else:
                text.append(v.astype(str).tolist())
        return "\n".join(map(",".join, zip(*text, strict=True))) + "\n"

    def close(self) -> None:
        """Nothing is buffered (each block is written whole); kept for symmetry with :class:`ParquetRecords`."""


class ParquetRecords:
    """The same records as a Parquet file (pyarrow), in row groups of about ``rows_per_group`` rows.

    ``path`` is the file written; ``name`` the path to name in messages (the user's, when ``path`` is a
    temporary file renamed onto it afterwards); ``compression`` Parquet's codec. The integer columns are
    delta-encoded (``DELTA_BINARY_PACKED``: consecutive indexes and versions pack into a few bits) and
    nothing is compressed by default: at 10^7 gradients the file takes 44 bytes a row (the five float64
    columns are 40 of them) against 41 with snappy, for about 70 % of snappy's CPU time.
    """

    def __init__(self, path: str, *, name: str | None = None, rows_per_group: int = 1 << 20,
                 compression: str | None = None) -> None:
        pa, pc = import_pyarrow(path if name is None else name)
        import pyarrow.parquet as pq

        self.pa, self.pc = pa, pc
        self.schema = pa.schema([pa.field(f, pa.bool_() if f == "applied" else pa.int64() if f in _INT_COLUMNS
                                          else pa.float64(), nullable=False) for f in COLUMNS])
        # no dictionary pages (most columns are distinct floats: building the dictionaries cost 3x the rest)
        # and no column statistics: both cost time and nothing reads them here
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=False, write_statistics=False,
                                       compression=compression, column_encoding={
                                           c: "DELTA_BINARY_PACKED" for c in COLUMNS if c in _INT_COLUMNS})
        self.rows_per_group = int(rows_per_group)
        self._pending: list = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, block: Block) -> None:
        g = _gradients(block)
        if not len(g):
            return
        pa = self.pa
        self._pending.append(pa.RecordBatch.from_arrays([pa.array(v) for v in _file_columns(g).values()],
                                                        schema=self.schema))
        self._pending_rows += len(g)
        self.rows += len(g)
        if self._pending_rows >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = self.pa.Table.from_batches(self._pending, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(self.rows_per_group, self._pending_rows))
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


def _rebuild(cols: dict[str, np.ndarray]) -> Gradients:
    """Records from a file's columns (the left-out ones computed from their rows)."""
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"records: the file has no column {missing[0]!r}; a record file has {', '.join(COLUMNS)}")
    out = {name: cols[name] for name in COLUMNS}
    applied = np.asarray(cols["applied"], dtype=bool)
    vba = np.asarray(cols["read_version"], dtype=np.int64) + np.asarray(cols["staleness"], dtype=np.int64)
    return Gradients.from_columns(**out, version_before_apply=vba, update=np.where(applied, vba + 1, -1))


def _empty_field(name: str, row: int) -> ValueError:
    return ValueError(f"records: column {name!r} is empty in record {row + 1}; a record file has a value in every "
                      "field (write it again with staleness simulate)")


def read_records(source: str | os.PathLike[str] | IO) -> Gradients:
    """The records of a file written by ``staleness simulate --per-gradient`` (CSV, or Parquet for a
    ``.parquet`` path), the left-out columns added back; equal to the run's ``result.gradients``.
    ``source`` is a path or an open CSV file (text or binary). A missing column or an empty field is refused.
    """
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(".parquet"):
        import_pyarrow(os.fspath(source), "source")
        import pyarrow.parquet as pq

        return _from_table(pq.read_table(source, columns=list(COLUMNS)))
    try:
        import_pyarrow("")
        import pyarrow.csv as pcsv
    except ValueError:
        return _from_csv_text(source)
    import pyarrow as pa

    types = {c: pa.bool_() if c == "applied" else pa.int64() if c in _INT_COLUMNS else pa.float64() for c in COLUMNS}
    if isinstance(source, io.TextIOBase):
        source = io.BytesIO(source.read().encode())
    table = pcsv.read_csv(source, convert_options=pcsv.ConvertOptions(
        column_types=types, include_columns=list(COLUMNS), null_values=[""], strings_can_be_null=False))
    return _from_table(table)


def _from_table(table) -> Gradients:
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if col.null_count:
            raise _empty_field(name, int(np.argmax(col.is_null().to_numpy(zero_copy_only=False))))
        cols[name] = col.to_numpy()
    return _rebuild(cols)


def _from_csv_text(source) -> Gradients:
    """The CSV reader without pyarrow (Python's csv module)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, newline="") as fh:
            return _from_csv_text(io.StringIO(fh.read()))
    text = source if isinstance(source, io.TextIOBase) else io.StringIO(source.read().decode())
    rows = csv.DictReader(text)
    raw: dict[str, list[str]] = {c: [] for c in rows.fieldnames or ()}
    for r in rows:
        for c in raw:
            raw[c].append(r[c])
    cols = {}
    for name, vals in raw.items():
        if name not in COLUMNS:
            continue
        if "" in vals:
            raise _empty_field(name, vals.index(""))
        if name == "applied":
            cols[name] = np.array([{"true": True, "false": False, "True": True, "False": False}[v] for v in vals],
                                  dtype=bool)
        else:
            cols[name] = np.array([(int if name in _INT_COLUMNS else float)(v) for v in vals],
                                  dtype=np.int64 if name in _INT_COLUMNS else np.float64)
    return _rebuild(cols)
