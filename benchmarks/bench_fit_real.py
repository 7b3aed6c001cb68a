"""`fit`'s batch on the real Hugging Face GPT-2 against the real run's step 3 (issue 19, item 1).

For transformers' ``GPT2LMHeadModel`` built from ``GPT2Config()`` (the published 124M size, random weights,
no download; tied ``wte`` / ``lm_head``, ``gelu_new`` as ops, SDPA attention), trained with plain SGD on
``model(ids).sum()``: archcalc's :func:`~archcalc.memory.liveness.fit.fit` picks the largest batch ``B``
whose steady-state step peak fits a budget, with ``margin=0`` and with the default 5 % margin. Then three
real steps run at ``B`` and at ``B + 1`` under ``tests/peak_profiler.py`` ``measure_steps_storage`` (tensor
storage bytes from the CPU allocator's own allocation events, after the usual warm-up step on a copy): every
step at ``B`` must fit what ``fit`` promised (the budget, or the budget less the margin) and step 3 at
``B + 1`` must not, by the same accounting.

The graph ``fit`` searches is traced from the same module in training mode (what ``archcalc fit hf:gpt2
--training`` traces); the command line's own answer for the default-dropout case is printed beside it.

Usage::

    python benchmarks/bench_fit_real.py                       # the cases below, a table on stdout
    python benchmarks/bench_fit_real.py --cases 128:default:1331MiB --write   # and its section of RESULTS.md

A case is ``SEQ:DROPOUT:BUDGET`` (``DROPOUT`` ``default`` for the config's own 0.1). One torch thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

DEFAULT_CASES = "256:default:2GiB,256:0:1536MiB,128:default:1331MiB"
TITLE = "## archcalc fit on the real Hugging Face GPT-2: the batch and one more, three real steps (issue 19)"


@dataclass(frozen=True)
class Row:
    seq: int
    dropout: str
    budget: int
    margin: str
    usable: int
    batch: int
    predicted: int
    next_predicted: int
    measured: tuple[int, int, int]
    next_measured: tuple[int, int, int]

    @property
    def fits(self) -> bool:
        return max(self.measured) <= self.usable

    @property
    def next_does_not(self) -> bool:
        return self.next_measured[2] > self.usable


def _module(dropout: str, device: str):
    import torch
    import transformers
    from torch import nn

    transformers.logging.set_verbosity_error()
    kw = {} if dropout == "default" else {k: float(dropout) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = transformers.GPT2LMHeadModel(transformers.GPT2Config(**kw))

        def forward(self, ids):
            return self.lm(ids, use_cache=False).logits

    with torch.device(device):
        torch.manual_seed(0)
        return LM()


def _fit(seq: int, dropout: str, budget: int, margin: float | None):
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.fit import fit

    meta = _module(dropout, "meta")

    def at(batch, shape):
        return from_torch(meta, shape, batch=batch, input_dtypes=("int64",), training=True)

    extra = {} if margin is None else {"margin": margin}
    return fit(at, budget, input_shape=(seq,), training=True, optimizer="sgd", **extra)


_MEASURED: dict[tuple[int, str, int], tuple[int, int, int]] = {}


def _steps(seq: int, dropout: str, batch: int) -> tuple[int, int, int]:
    """The three steps' storage peaks at ``batch`` (measured once per case)."""
    key = (seq, dropout, batch)
    if key not in _MEASURED:
        import gc

        import torch
        from peak_profiler import measure_steps_storage

        model = _module(dropout, "cpu")
        ids = torch.randint(0, model.lm.config.vocab_size, (batch, seq))
        t0 = time.time()
        _MEASURED[key] = tuple(s.peak_bytes for s in measure_steps_storage(model, ids, "sgd", steps=3))
        print(f"  measured seq {seq} dropout {dropout} batch {batch}: {_MEASURED[key]} "
              f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        del model
        gc.collect()
    return _MEASURED[key]


def run_case(seq: int, dropout: str, budget: int) -> list[Row]:
    from archcalc.memory.liveness.fit import DEFAULT_MARGIN

    rows = []
    for label, margin in (("0", 0.0), (f"default ({DEFAULT_MARGIN:.0%})", None)):
        f = _fit(seq, dropout, budget, margin)
        rows.append(Row(seq, dropout, budget, label, f.usable_bytes, f.batch, f.peak.peak_bytes,
                        f.next_peak_bytes, _steps(seq, dropout, f.batch), _steps(seq, dropout, f.batch + 1)))
    return rows


def cli_answer(seq: int, budget: str) -> str:
    """What ``archcalc fit hf:gpt2 --training`` says (the catalogue's config: dropout 0.1)."""
    cmd = [sys.executable, "-m", "archcalc", "fit", "hf:gpt2", "--device-memory", budget, "--input", str(seq),
           "--training", "--optimizer", "sgd"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    return (out.stdout.splitlines() or [out.stderr.strip()])[0]


def _pct(p: int, m: int) -> str:
    return f"{100 * (p - m) / m:+.4f}"


def table(rows: list[Row]) -> str:
    head = ("| seq | dropout | budget | margin | usable | fit's batch B | predicted step peak at B | measured steps "
            "1-3 at B | error % (step 3) | predicted at B + 1 | measured step 3 at B + 1 | error % | B fits, B + 1 "
            "does not |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ok = "yes" if r.fits and r.next_does_not else "**no**"
        lines.append(f"| {r.seq} | {r.dropout} | {r.budget:,} | {r.margin} | {r.usable:,} | {r.batch} | "
                     f"{r.predicted:,} | {' / '.join(f'{m:,}' for m in r.measured)} | "
                     f"{_pct(r.predicted, r.measured[2])} | {r.next_predicted:,} | {r.next_measured[2]:,} | "
                     f"{_pct(r.next_predicted, r.next_measured[2])} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="SEQ:DROPOUT:BUDGET,... (default %(default)s)")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    import torch

    from archcalc.memory.units import parse_bytes

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    start = time.time()
    rows, cli = [], []
    for case in args.cases.split(","):
        seq, dropout, budget = case.split(":")
        rows += run_case(int(seq), dropout, parse_bytes(budget))
        if dropout == "default":
            cli.append(f"`archcalc fit hf:gpt2 --device-memory {budget} --input {seq} --training --optimizer sgd`: "
                       f"{cli_answer(int(seq), budget)}")
    text = table(rows)
    print(text)
    print("\n".join(cli))
    load_after = os.getloadavg()
    bad = [r for r in rows if not (r.fits and r.next_does_not)]
    if args.write:
        from results import replace_section

        command = " ".join(["python", "benchmarks/bench_fit_real.py", *argv])
        clis = "\n".join(f"- {c}" for c in cli)
        replace_section(TITLE, f"""{TITLE}

`fit`'s batch for transformers' `GPT2LMHeadModel(GPT2Config(...))` (124M parameters, random weights, tied
head, SDPA attention), plain SGD on `model(ids).sum()`, traced in training mode, against three real steps
at B and at B + 1 (`tests/peak_profiler.py` `measure_steps_storage`: tensor storage bytes from the CPU
allocator's events, after a warm-up step on a copy; one torch thread). "fits": every real step at B peaks
within the usable memory (the budget less the margin); "B + 1 does not": its step 3 peaks above it.
Errors are (predicted - measured) / measured; "measured steps 1-3" are the three steps' peaks.

`{command}`: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {time.time() - start:.0f} s, load average
(1-min) {load_before[0]:.2f} before / {load_after[0]:.2f} after; {platform.machine()}, Python
{platform.python_version()}, torch {torch.__version__.split("+")[0]}. {len(rows) - len(bad)} of {len(rows)} rows: B
fits and B + 1 does not.

{text}

The command line on the catalogue's `hf:gpt2` (the published config, dropout 0.1), same budget and length,
the default margin:

{clis}
""")

    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
