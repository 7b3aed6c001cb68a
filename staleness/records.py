"""Per-gradient records written as a run streams: CSV (always) or Parquet (``.parquet``, needs pyarrow).

One line per gradient in apply / discard order, the columns of :class:`staleness.result.Gradients`
after the gradient's name (quoted; Arrow's writer quotes the ``True`` / ``False`` strings too). Floats are
written in a shortest form that reads back exactly (``0.5``, ``1e+16``). Both writers work column by column on whole blocks: the names are built as bytes by numpy
(no Python string per row), and with pyarrow installed the CSV lines are formatted by Arrow's CSV writer;
without it, a numpy / Python fallback writes the same values (about 4x slower: 1.3 against 0.33 CPU s
for 300,000 gradients at P = 16).

Examples
--------
>>> import io
>>> from staleness import SimConfig, simulate
>>> out = io.StringIO()
>>> w = CsvRecords(out)
>>> _ = simulate(SimConfig(times=[[1, 1], [2.5]]), on_block=w.write)
>>> w.close()
>>> row = out.getvalue().splitlines()[3].split(",")
>>> row[:3], float(row[4]), row[-1]
(['"g[L2', '1]"', '1'], 0.0, '3')
"""

from __future__ import annotations

import io
from dataclasses import fields
from typing import IO

import numpy as np

from dlperf.errors import ArgumentError
from staleness.result import _INT_COLUMNS, Gradients
from staleness.stream import Block

__all__ = ["CsvRecords", "ParquetRecords", "COLUMNS", "name_bytes", "import_pyarrow"]

#: Columns of a record file, in order.
COLUMNS = ("name", *(f.name for f in fields(Gradients)))
_FIELDS = tuple(f.name for f in fields(Gradients))


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


def _digit_count(v: np.ndarray) -> np.ndarray:
    """Decimal digits of each positive integer of ``v`` (sorted search among the powers of ten)."""
    top = int(v.max()) if len(v) else 0
    powers = [10**k for k in range(1, len(str(top)))]
    return np.searchsorted(np.array(powers, dtype=np.int64), v, side="right").astype(np.int64) + 1


def _digit_rows(v: np.ndarray, width: int) -> np.ndarray:
    """``v``'s last ``width`` decimal digits as ASCII, one row per digit position (least significant first)."""
    out = np.empty((width, len(v)), dtype=np.uint8)
    # 32-bit division is ~4x faster than 64-bit; numbers of 10 digits or more keep 64 bits
    rest = v.astype(np.uint32) if width < 10 else v.astype(np.uint64)
    q = np.empty_like(rest)
    for j in range(width):
        np.floor_divide(rest, 10, out=q)
        rest -= q * 10  # the digit
        out[j] = rest
        rest, q = q, rest
    out += 48
    return out


def name_bytes(learner: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The names ``g[L{learner+1},{index+1}]`` as one byte buffer and its offsets (Arrow's string layout),
    built by numpy without a Python string per row: each name is laid out right-aligned in a fixed-width
    row (index digits in fixed columns, the rest placed by its length), and the last ``length`` bytes of
    every row, read in order, are the buffer.

    >>> offsets, data = name_bytes(np.array([0, 11]), np.array([8, 99]))
    >>> offsets.tolist(), data.tobytes()
    ([0, 7, 17], b'g[L1,9]g[L12,100]')
    """
    lv, iv = np.asarray(learner, dtype=np.int64) + 1, np.asarray(index, dtype=np.int64) + 1
    n = len(lv)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.uint8)
    nl, ni = _digit_count(lv), _digit_count(iv)
    wl, wi = int(nl.max()), int(ni.max())
    width = wl + wi + 5
    rows = np.empty((n, width), dtype=np.uint8)
    rows[:, -1] = ord("]")
    rows[:, width - 1 - wi : width - 1] = _digit_rows(iv, wi)[::-1].T  # index digits; left of a short one: garbage
    flat = rows.reshape(-1)
    comma = np.arange(n, dtype=np.int64) * width + (width - 2) - ni  # flat position of each row's comma
    flat[comma] = ord(",")
    digits = _digit_rows(lv, wl)
    for k in range(wl):  # learner digits; past a short learner number they are overwritten by the prefix below
        flat[comma - 1 - k] = digits[k]
    for k, ch in enumerate(b"L[g"):
        flat[comma - 1 - nl - k] = ch
    length = nl + ni + 5
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    keep = np.arange(width)[None, :] >= (width - length)[:, None]
    return offsets, rows[keep]


def _arrow_names(pa, g: Gradients):
    offsets, data = name_bytes(g.learner, g.index)
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(len(g), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(len(g), pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _gradients(block: Block) -> Gradients:
    g = block.gradients
    assert g is not None, "the run must build records (simulate(..., records=True))"
    return g


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
        self._put(",".join(COLUMNS) + "\n")
        self.rows = 0

    def _put(self, text: str | bytes) -> None:
        if self.text:
            self.fh.write(text if isinstance(text, str) else text.decode())
        else:
            self.fh.write(text if isinstance(text, bytes) else text.encode())

    def write(self, block: Block) -> None:
        g = _gradients(block)
        if not len(g):
            return
        if self.pa is not None:
            self._put(self._arrow_lines(g))
        else:
            self._put(self._numpy_lines(g))
        self.rows += len(g)

    def _arrow_lines(self, g: Gradients) -> bytes:
        pa, pc = self.pa, self.pc
        cols = {"name": _arrow_names(pa, g)}
        for name in _FIELDS:
            col = getattr(g, name)
            # Python's spelling of the booleans, as the fallback writes them (Arrow quotes every string)
            cols[name] = pc.if_else(pa.array(col), "True", "False") if name == "applied" else col
        out = io.BytesIO()
        self.pcsv.write_csv(pa.table(cols), out, self.pcsv.WriteOptions(include_header=False, batch_size=1 << 16))
        return out.getvalue()

    def _numpy_lines(self, g: Gradients) -> str:
        offsets, data = name_bytes(g.learner, g.index)
        raw = data.tobytes().decode()
        names = [f'"{raw[a:b]}"' for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
        cols = [names] + [(getattr(g, f).astype(str) if f in _INT_COLUMNS or f == "applied"
                           else getattr(g, f)).tolist() for f in _FIELDS]
        cols = [c if isinstance(c[0], str) else list(map(repr, c)) for c in cols]
        return "\n".join(map(",".join, zip(*cols, strict=True))) + "\n"

    def close(self) -> None:
        """Nothing is buffered (each block is written whole); kept for symmetry with :class:`ParquetRecords`."""


class ParquetRecords:
    """The same records as a Parquet file (pyarrow), in row groups of about ``rows_per_group`` rows.

    ``path`` is the file written; ``name`` the path to name in messages (the user's, when ``path`` is a
    temporary file renamed onto it afterwards); ``compression`` Parquet's codec (``None``: about half the
    encoding time for a 1.5x larger file).
    """

    def __init__(self, path: str, *, name: str | None = None, rows_per_group: int = 1 << 20,
                 compression: str | None = "snappy") -> None:
        pa, pc = import_pyarrow(path if name is None else name)
        import pyarrow.parquet as pq

        self.pa, self.pc = pa, pc
        self.schema = pa.schema([("name", pa.string())] + [
            (f, pa.bool_() if f == "applied" else pa.int64() if f in _INT_COLUMNS else pa.float64())
            for f in _FIELDS])
        # no dictionary pages (most columns are distinct floats: building the dictionaries cost 3x the rest)
        # and no column statistics: both cost time and nothing reads them here
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=False, write_statistics=False,
                                       compression=compression)
        self.rows_per_group = int(rows_per_group)
        self._pending: list = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, block: Block) -> None:
        g = _gradients(block)
        if not len(g):
            return
        pa = self.pa
        arrays = [_arrow_names(pa, g)] + [pa.array(getattr(g, f)) for f in _FIELDS]
        self._pending.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
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
