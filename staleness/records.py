"""Per-gradient records written as a run streams: CSV (always) or Parquet (``.parquet``, needs pyarrow).

One line per gradient in apply / discard order, the columns of :class:`staleness.result.Gradients`
after the gradient's name. Floats are written in their shortest exact form (they read back equal).

Examples
--------
>>> import io
>>> from staleness import SimConfig, simulate
>>> out = io.StringIO()
>>> w = CsvRecords(out)
>>> _ = simulate(SimConfig(times=[[1, 1], [2.5]]), on_block=w.write)
>>> print(out.getvalue().splitlines()[3])
"g[L2,1]",1,0,0.0,0,0.0,2.5,2.5,2.5,2,2,True,3
"""

from __future__ import annotations

from dataclasses import fields
from typing import IO

import numpy as np

from dlperf.errors import ArgumentError
from staleness.result import Gradients
from staleness.stream import Block

__all__ = ["CsvRecords", "ParquetRecords", "COLUMNS"]

#: Columns of a record file, in order.
COLUMNS = ("name", *(f.name for f in fields(Gradients)))


class CsvRecords:
    """Append every block's gradients to an open text file as CSV (a header first)."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        fh.write(",".join(COLUMNS) + "\n")
        self.rows = 0

    def write(self, block: Block) -> None:
        g = block.gradients
        assert g is not None, "the run must build records (simulate(..., records=True))"
        if not len(g):
            return
        names = np.char.add(np.char.add(np.char.add('"g[L', (g.learner + 1).astype(str)), ","),
                            (g.index + 1).astype(str))
        cols = [np.char.add(names, ']"')] + [getattr(g, f.name).astype(str) for f in fields(Gradients)]
        self.fh.write("\n".join(",".join(row) for row in zip(*(c.tolist() for c in cols), strict=True)) + "\n")
        self.rows += len(g)


class ParquetRecords:
    """The same records as a Parquet file (pyarrow), one row group per block."""

    def __init__(self, path: str) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ArgumentError("per_gradient", path, "give a .csv name, or install pyarrow (pip install pyarrow)",
                                what=f"got {path!r}, but Parquet needs pyarrow") from None
        import pyarrow.compute as pc

        self.pa, self.pc = pa, pc
        schema = pa.schema([("name", pa.string())] + [
            (f.name, pa.bool_() if f.name == "applied" else pa.int64() if f.name in (
                "learner", "index", "read_version", "version_before_apply", "staleness", "update") else pa.float64())
            for f in fields(Gradients)])
        # no dictionary pages: most columns are distinct floats, and building the dictionaries cost 3x the rest
        self.writer = pq.ParquetWriter(path, schema, use_dictionary=False)
        self.rows = 0

    def write(self, block: Block) -> None:
        g = block.gradients
        pa, pc = self.pa, self.pc
        # the names built by Arrow's kernels (a Python string per row cost 15x the simulation)
        learner, index = (pc.cast(pa.array(a + 1), pa.string()) for a in (g.learner, g.index))
        names = pc.binary_join_element_wise("g[L", learner, ",", index, "]", "")
        table = pa.table({"name": names, **{f.name: getattr(g, f.name) for f in fields(Gradients)}})
        self.writer.write_table(table)
        self.rows += len(g)

    def close(self) -> None:
        self.writer.close()
