"""A property-based fuzzer over every subcommand of ``archcalc``, ``staleness`` and ``mlcore`` (issue 22, item 7).

For each subcommand, Hypothesis draws a command line from the subcommand's own parser (walked at run time,
so renamed or added flags are fuzzed without an edit here): each option's choices, its default, numbers of
its type, values its help lists, and hostile strings and numbers (:mod:`tests.strategies`), on top of a few
cheap base options that keep an ordinary run short. The command runs in-process (``prog.cli.main(argv)``,
stdio captured) in a fresh folder holding a model file, score / label files, an .npz, junk, an empty file
and a folder, under a time limit. The properties:

- the exit status is 0 or 2 (1 is a bug here; 130 only comes from a real Ctrl-C);
- on status 0, stdout prints no bare ``nan`` / ``inf`` (an undefined result is said so, or null in JSON);
- on a non-zero status stderr is exactly one line, ``prog: error: ...``, and never a traceback;
- no file in the folder changed except the outputs the command line declares
  (:data:`dlperf.cli.OUTPUT_FILES`), and no temporary file is left behind;
- it ends within the time limit (a long request is refused up front with an estimate).

The seed is fixed (``derandomize``), so CI runs the same examples every time. The budget: ``EXAMPLES`` per
subcommand times its weight (about 30 s of CPU in all, measured with ``--durations``); for a release run set
``DLPERF_FUZZ_EXAMPLES`` (examples per subcommand, e.g. 500) and ``DLPERF_FUZZ_SEED`` (any integer: a new
set of examples), see docs/testing.md. Not fuzzed: ``--download`` and ``--trust-remote-code`` (the
network), and ``staleness train --backend distributed`` (real processes and ports; its faults have their
own tests in tests/test_staleness_distributed*.py).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from dlperf.cli import INPUT_FILES, OUTPUT_FILES
from tests.strategies import option_values

EXAMPLES = int(os.environ.get("DLPERF_FUZZ_EXAMPLES", "0") or 0)
SEED = int(os.environ.get("DLPERF_FUZZ_SEED", "0") or 0)
LIMIT_S = float(os.environ.get("DLPERF_FUZZ_LIMIT_S", "30"))
# No shrinking by default: one failing example of a slow command is shown as drawn, not minimised for minutes.
PHASES = tuple(Phase) if os.environ.get("DLPERF_FUZZ_SHRINK") else (Phase.explicit, Phase.generate)
#: With a file name here, failures are appended to it instead of failing the test (a survey run).
SURVEY = os.environ.get("DLPERF_FUZZ_SURVEY")

NET = textwrap.dedent("""
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(64, 10)
        def forward(self, x):
            return self.fc(self.flat(x))
""")

NON_FINITE = re.compile(r"(?<![\w.])[-+]?(nan|inf|NaN|Infinity)(?![\w.])")
#: Flags never drawn: they reach the network.
NEVER = {"--download", "--trust-remote-code", "--debug", "--help", "--version"}
#: Choices never drawn, by flag: real processes and ports (own tests).
NEVER_VALUES = {"--backend": {"distributed"}}
#: Models for archcalc's MODEL: cheap zoo entries, the fuzz folder's model file, and broken references.
MODELS = ("alexnet", "inception-small", "resnet18", "gpt", "gpt2", "bert-base", "llama", "vgg11", "net.py:Net",
          "net.py:Nope", "junk.txt:Net", "missing.py:Net", "empty.txt:Net", "torchvision:nosuch", "hf:nosuch-model",
          "nosuch", "", "dir/:Net", "net.py:", ":Net")
#: Values known for a flag whose parser names none (a shape, a dtype, a device profile).
EXTRA = {
    "--input": ("3x32x32", "1x8x8", "8", "64", "3x224x224", "0x5", "3x-1x2", "1x2x3x4x5x6", "3x20000x20000",
                "axb", "8x"),
    "--input-dtype": ("float32", "int64", "float16", "bool", "bogus"),
    "--device": ("h100", "a100-80gb", "list", "nosuch"),
    "--degrees": ("1-3", "1,2", "3-1", "1-1000000", "0", "1.5"),
    "kind": ("Conv2d", "Linear", "LayerNorm", "LSTM", "conv2d", "Nope"),
    "--scores": ("scores.txt", "a=scores.txt", "=scores.txt", "a=", "labels.txt"),
    "--labels": ("labels.txt", "scores.txt"),
    "--pos-label": ("1", "0", "True", "2"),
    "--times": ("1,2,3", "1e308,1", "0,0", "-1", "nan"),
    "--speeds": ("1,2", "1e300,1,1,1", "0,1"),
    "--learners": ("2", "2,4", "4", "0", "-3"),  # 10^6 runs a legitimate minute (estimate-guarded): not here
    "--policy": ("async", "sync", "ssp", "k-sync"),
}


@dataclass(frozen=True)
class Target:
    """One subcommand: base options that keep an ordinary run cheap, and its share of the budget."""

    prog: str
    command: str
    base: tuple[str, ...] = ()
    weight: float = 1.0
    positional: dict = field(default_factory=dict)


# Ordinary runs must stay short: the base options below bound each command's work, and the fuzzer's
# options come after them (the last occurrence wins), so a drawn value replaces a base one.
TARGETS = (
    Target("archcalc", "calibrate", ("--quick", "--repeats", "3"), 0.25),
    Target("archcalc", "crosscheck", ("inception-small",), 0.25),
    Target("archcalc", "fit", ("alexnet", "--memory", "16GB")),
    Target("archcalc", "formula", ("Conv2d",), 0.5),
    Target("archcalc", "inception-module", ("--c1", "8", "--c3", "8", "--c5", "8", "--input", "16x8x8"), 0.5),
    Target("archcalc", "list", (), 0.3),
    Target("archcalc", "memory", ("--params", "1000000")),
    Target("archcalc", "peak", ("alexnet",)),
    Target("archcalc", "report", ("alexnet",), 2.0),
    Target("archcalc", "time", ("alexnet", "--device", "h100")),
    Target("staleness", "simulate", ("--updates", "200")),
    Target("staleness", "sweep", ("--updates", "200", "--learners", "2,4")),
    Target("staleness", "theory", (), 0.5),
    Target("staleness", "validate", ("--updates", "1000", "--batches", "32"), 0.25),
    Target("staleness", "train", ("--subset", "64", "--epochs", "1"), 0.25),
    Target("mlcore", "batch-size-sweep", ("--dataset", "digits", "--subset", "96", "--epochs", "1",
                                          "--max-batch", "32"), 0.25),
    Target("mlcore", "bias-variance", ("--datasets", "4", "--degrees", "1-3")),
    Target("mlcore", "clr", ("--dataset", "digits", "--subset", "96", "--epochs", "1", "--base-lr", "0.001",
                             "--max-lr", "0.01"), 0.25),
    Target("mlcore", "curves", ("--scores", "scores.txt", "--labels", "labels.txt")),
    Target("mlcore", "derive", ("bias-variance",), 0.3),
    Target("mlcore", "lr-range-test", ("--dataset", "digits", "--subset", "96", "--num-iter", "8"), 0.25),
)
DEFAULT_EXAMPLES = 12


def _subparser(prog: str, command: str) -> argparse.ArgumentParser:
    parser = importlib.import_module(f"{prog}.cli").FRAME.build_parser(command, lazy=True)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _role(action: argparse.Action) -> str:
    if action.dest in OUTPUT_FILES:
        return "output"
    if action.dest in INPUT_FILES and action.dest != "model":
        return "input"
    if action.dest == "root":
        return "folder"
    return "value"


@st.composite
def command_lines(draw, target: Target) -> list[str]:
    """``[command, *base, *drawn options]``: a subset of the parser's options with drawn values."""
    parser = _subparser(target.prog, target.command)
    actions = [a for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not NEVER & set(a.option_strings)]
    argv = [target.command]
    positionals = [a for a in actions if not a.option_strings]
    base = list(target.base)
    for action in positionals:  # the base gives the ordinary positional; sometimes a drawn one replaces it
        ordinary = base.pop(0) if base else None
        if ordinary is not None and draw(st.integers(0, 3)):
            argv.append(ordinary)
        elif action.dest == "model":
            argv.append(draw(st.sampled_from(MODELS)))
        else:
            argv.append(draw(option_values(action, "value", EXTRA.get(action.dest, ()))))
    argv += base
    options = [a for a in actions if a.option_strings]
    for action in draw(st.lists(st.sampled_from(options), max_size=4, unique_by=lambda a: a.dest)
                       if options else st.just([])):
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
            continue
        if action.dest == "model":
            values = st.sampled_from(("net.py:Net", "net.py:Nope", "junk.txt:Net", "missing.py:Net", "net.py"))
        else:
            values = option_values(action, _role(action), EXTRA.get(action.option_strings[0], ()))
        value = draw(values.filter(lambda v, f=flag: v not in NEVER_VALUES.get(f, ())))
        argv += [flag, value]
        if action.nargs in ("+", "*") and draw(st.booleans()):
            argv.append(draw(values))
    return argv


def _make_folder(folder: Path) -> None:
    (folder / "net.py").write_text(NET)
    (folder / "scores.txt").write_text("".join(f"{v}\n" for v in (0.1, 0.9, 0.4, 0.8, 0.3, 0.7, 0.2, 0.6)))
    (folder / "labels.txt").write_text("0\n1\n0\n1\n0\n1\n1\n0\n")
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x=rng.normal(size=(40, 1, 8, 8)).astype(np.float32),
             y=np.arange(40) % 10)
    (folder / "junk.txt").write_bytes(b"\x00\xffnot a model = (\n")
    (folder / "empty.txt").write_text("")
    (folder / "dir").mkdir()


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st_ = p.lstat()
        body = p.read_bytes() if stat.S_ISREG(st_.st_mode) else None
        out[str(p.relative_to(folder))] = (stat.S_IFMT(st_.st_mode), body, st_.st_mtime_ns)
    return out


class Overtime(BaseException):
    """Raised by the alarm when a command passes the time limit (not an Exception: nothing swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    def alarm(signum, frame):
        raise Overtime(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _global_state_kept():
    """Undo what one in-process run may change for the next: the working folder, torch's thread count."""
    cwd = os.getcwd()
    torch = importlib.import_module("torch") if "torch" in sys.modules else None
    threads = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        os.chdir(cwd)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads or 1)


def _declared_outputs(target: Target, argv: list[str], folder: Path) -> set[str]:
    """Folder-relative names of the outputs ``argv`` declares (every value given to an output flag)."""
    parser = _subparser(target.prog, target.command)
    flags = {s for a in parser._actions if a.dest in OUTPUT_FILES for s in a.option_strings}
    out = set()
    for action in parser._actions:  # an output with a default file (calibrate's profile) is written unasked
        if action.dest in OUTPUT_FILES and isinstance(action.default, str) and action.default:
            out.add(os.path.normpath(action.default))
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in flags and value:
            path = Path(os.path.normpath(folder / value))
            with contextlib.suppress(ValueError):
                out.add(str(path.relative_to(folder)))
    return out


def check_command(target: Target, argv: list[str], capsys) -> None:
    """Run ``argv`` with :func:`_check`; in a survey run (``DLPERF_FUZZ_SURVEY``), log a failure and go on."""
    if not SURVEY:
        _check(target, argv, capsys)
        return
    try:
        _check(target, argv, capsys)
    except (AssertionError, pytest.fail.Exception) as exc:
        with open(SURVEY, "a") as fh:
            fh.write(f"{str(exc).splitlines()[0][:400]}\n" + "".join(f"    {line}\n" for line in str(exc).splitlines()[1:])[-1500:])


def _check(target: Target, argv: list[str], capsys) -> None:
    """Run ``argv`` in a fresh folder and assert the fuzzer's properties (see the module docstring)."""
    folder = Path(tempfile.mkdtemp(prefix="dlperf-fuzz-"))
    _make_folder(folder)
    before = _snapshot(folder)
    main = importlib.import_module(f"{target.prog}.cli").main
    shown = f"{target.prog} {' '.join(map(repr, argv))}"
    capsys.readouterr()
    with _global_state_kept():
        os.chdir(folder)
        try:
            with _time_limit(LIMIT_S):
                status = main(list(argv))
        except Overtime as exc:
            pytest.fail(f"{shown}: {exc}")
        except SystemExit as exc:
            pytest.fail(f"{shown}: SystemExit({exc.code!r}) escaped main()")
        except Exception as exc:  # the frame lets a bug through with its traceback
            pytest.fail(f"{shown}: {type(exc).__name__} escaped main(): {exc}")
    out, err = capsys.readouterr()
    if os.environ.get("DLPERF_FUZZ_LOG"):  # every run: status, command line, stderr's last line
        with open(os.environ["DLPERF_FUZZ_LOG"], "a") as fh:
            fh.write(f"{status}\t{shown}\t{(err.strip().splitlines() or [''])[-1][:200]}\n")
    assert status in (0, 2), f"{shown}: exit {status}\n{err[-2000:]}"
    assert "Traceback" not in err, f"{shown}: traceback\n{err[-3000:]}"
    if not status:  # a result is a number or said to be undefined: never a bare nan / inf
        assert not NON_FINITE.search(out), f"{shown}: non-finite number printed: {NON_FINITE.search(out).group(0)!r}"
    if status:
        lines = err.splitlines()
        one_line = len(lines) == 1 and lines[0].startswith(target.prog) and ": error: " in lines[0]
        assert one_line, f"{shown}: stderr {err!r}"
    after = _snapshot(folder)
    allowed = _declared_outputs(target, argv, folder)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} - allowed
    leftovers = [k for k in after if k.endswith(".tmp") and k not in before]
    assert not leftovers, f"{shown}: temporary files left: {leftovers}"
    assert not changed, f"{shown}: changed outside the declared outputs: {sorted(changed)}"
    shutil.rmtree(folder, ignore_errors=True)


def _examples(target: Target) -> int:
    return max(1, round((EXAMPLES or DEFAULT_EXAMPLES) * target.weight))


def _case(target: Target):
    @seed(SEED)
    @settings(max_examples=_examples(target), deadline=None, database=None, phases=PHASES,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(argv=command_lines(target))
    def run(argv, capsys):
        check_command(target, argv, capsys)

    return run


#: Imported before the first timed run: an import cut by the time limit would leave a half-initialised
#: module behind (``torch._dynamo has no attribute utils`` in every later run of the worker).
WARM = ("torch", "torch.optim", "torch._dynamo", "torchvision", "fvcore.nn", "sklearn.datasets", "sympy",
        "matplotlib.pyplot", "rich.console")


@pytest.fixture(scope="module")
def _warm_imports():
    import matplotlib

    matplotlib.use("Agg")
    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, one_torch_thread, _warm_imports):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.prog}-{t.command}")
def test_fuzz_command_line(target, capsys):
    _case(target)(capsys=capsys)


def test_every_subcommand_is_fuzzed():
    """The targets cover every subcommand of the three CLIs (a new command must be added here)."""
    have = {(t.prog, t.command) for t in TARGETS}
    for prog in ("archcalc", "staleness", "mlcore"):
        frame = importlib.import_module(f"{prog}.cli").FRAME
        assert {(prog, name) for name in frame.command_names()} <= have, prog
