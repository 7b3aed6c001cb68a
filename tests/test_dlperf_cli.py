"""The one error boundary of the three command lines (dlperf.cli): exit codes, one-line messages, --debug,
--version and the entry-point plugin that puts ``train`` on the ``staleness`` command line."""

from __future__ import annotations

import errno
import tomllib
from pathlib import Path

import pytest

import dlperf
from dlperf import cli

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _demo(action):
    """A one-command parser whose command runs ``action()``."""
    parser = cli.OneLineParser(prog="demo")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("go").set_defaults(func=lambda args: action())
    return parser


def _raise(exc):
    def action(*args, **kwargs):
        raise exc
    return action


def test_version_matches_pyproject(capsys):
    from archcalc.cli import main as archcalc_main
    from mlcore.cli import main as mlcore_main
    from staleness.cli import main as staleness_main

    number = PYPROJECT["project"]["version"]
    assert dlperf.__version__ == number  # the fallback when no metadata is installed
    for prog, main in (("archcalc", archcalc_main), ("staleness", staleness_main), ("mlcore", mlcore_main)):
        assert main(["--version"]) == 0
        assert capsys.readouterr().out == f"{prog} {number}\n"


@pytest.mark.parametrize(("exc", "code", "line"), [
    (KeyboardInterrupt(), 130, "demo: interrupted"),
    (MemoryError(), 2, "demo: error: out of memory; choose smaller sizes (fewer samples, a smaller batch or model)"),
    (ValueError("--k: got 0; give 1 <= K <= P"), 2, "demo: error: --k: got 0; give 1 <= K <= P"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out.json"), 2,
     "demo: error: '/mnt/ro/out.json': Read-only file system; the file system is read-only; write somewhere else "
     "(for example under /tmp)"),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/out.png"), 2,
     "demo: error: '/srv/out.png': Permission denied; check the permissions of the file and its folder, or write "
     "somewhere else"),
    (OSError(errno.ENOSPC, "No space left on device", "big.csv"), 2,
     "demo: error: 'big.csv': No space left on device; the disk is full; free some space or write to another disk"),
    (FileNotFoundError("--plot: folder 'nope' does not exist; create it first"), 2,
     "demo: error: --plot: folder 'nope' does not exist; create it first"),
])
def test_user_and_machine_errors_are_one_line(capsys, exc, code, line):
    assert cli.run_cli(_demo(_raise(exc)), ["go"]) == code
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        cli.run_cli(_demo(lambda: 1 / 0), ["go"])


@pytest.mark.parametrize("argv", [["--debug", "go"], ["go", "--debug"]])
def test_debug_flag_anywhere_shows_the_traceback(argv):
    with pytest.raises(ValueError, match="bad"):
        cli.run_cli(_demo(_raise(ValueError("bad"))), argv)
    with pytest.raises(KeyboardInterrupt):
        cli.run_cli(_demo(_raise(KeyboardInterrupt())), argv)


def test_debug_environment_variable(monkeypatch):
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(OSError):
        cli.run_cli(_demo(_raise(OSError(errno.ENOSPC, "No space left on device", "x"))), ["go"])
    monkeypatch.setenv(cli.DEBUG_ENV, "0")
    assert cli.run_cli(_demo(_raise(OSError(errno.ENOSPC, "No space left on device", "x"))), ["go"]) == 2


def test_warnings_are_one_line(tmp_path):
    import subprocess
    import sys

    # zero noise: the z-score of every degree is undefined (0 / 0 standard error); the library warns
    argv = ["bias-variance", "--noise-std", "0", "--degrees", "1,2", "--datasets", "5", "--json"]
    proc = subprocess.run([sys.executable, "-m", "mlcore", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == ("mlcore: warning: z_score: the Monte-Carlo standard error is 0 (noise-free targets); "
                           "undefined (NaN, null in JSON)\n")


def test_ctrl_c_in_a_real_command(capsys, monkeypatch):
    from staleness import simulation
    from staleness.cli import main

    monkeypatch.setattr(simulation, "simulate", _raise(KeyboardInterrupt()))
    assert main(["simulate", "--updates", "10"]) == 130
    assert capsys.readouterr().err == "staleness: interrupted\n"


def test_archcalc_model_shortcut_with_debug(capsys):
    from archcalc.cli import main

    assert main(["--debug", "alexnet", "--json"]) == 0
    assert '"model": "alexnet"' in capsys.readouterr().out


def test_staleness_train_comes_from_the_entry_point(capsys):
    from staleness.cli import build_parser, main

    declared = PYPROJECT["project"]["entry-points"]["dlperf.staleness.commands"]
    assert declared == {"train": "mlcore.commands:STALENESS_TRAIN"}  # a Command row: --help imports no module
    assert cli.plugin_commands("staleness") == declared
    assert "train" in build_parser()._subparsers._group_actions[0].choices
    assert main(["train", "--help"]) == 0
    assert "usage: staleness train" in capsys.readouterr().out
    # mlcore's own command line does not list it (the module name starts with an underscore)
    from mlcore.cli import build_parser as mlcore_parser

    assert "train" not in mlcore_parser()._subparsers._group_actions[0].choices
