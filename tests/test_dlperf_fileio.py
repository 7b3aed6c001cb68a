"""dlperf.fileio: atomic writes with the permissions an ordinary open() gives, symlinks written through, no
temporary file left on any exit path, and figure formats chosen by the extension."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlperf.fileio import check_figure_path, save_figure, write_atomic, write_atomic_with

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_new_file_gets_what_open_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "out.txt", "x")
        with open(tmp_path / "oracle.txt", "w") as fh:  # the oracle: a plain open() under the same umask
            fh.write("x")
    finally:
        os.umask(old)
    # e.g. umask 0o027: 0o666 & ~0o027 = 0o640
    assert _mode(tmp_path / "out.txt") == _mode(tmp_path / "oracle.txt") == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o755])
def test_existing_file_keeps_its_mode(tmp_path, mode):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(mode)
    write_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == mode


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new" and _mode(real) == 0o640
    assert _leftovers(tmp_path) == [] and _leftovers(real.parent) == []


@pytest.mark.parametrize("exc", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, exc):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def writer(tmp):
        Path(tmp).write_text("half")
        raise exc

    with pytest.raises(type(exc)):
        write_atomic_with(target, writer)
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_sigterm_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from dlperf.fileio import write_atomic_with
        def writer(tmp):
            Path(tmp).write_text("half")
            print("ready", flush=True)
            time.sleep(30)
        write_atomic_with({str(target)!r}, writer)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    assert len(_leftovers(tmp_path)) == 1  # the temporary file exists while the writer runs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    assert _leftovers(tmp_path) == [] and not target.exists()


def test_figure_format_follows_extension(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    magic = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
    for fmt in magic:
        save_figure(fig, tmp_path / f"plot.{fmt.upper() if fmt == 'pdf' else fmt}")
    for fmt, head in magic.items():
        name = f"plot.{fmt.upper() if fmt == 'pdf' else fmt}"
        assert (tmp_path / name).read_bytes().startswith(head), name
    with pytest.raises(ValueError, match=r"--plot: got '.*plot\.jpg'; .* \.png, \.pdf or \.svg"):
        save_figure(fig, tmp_path / "plot.jpg")
    with pytest.raises(ValueError, match="give a file ending in"):
        check_figure_path("--plot", "plot")
    with pytest.raises(FileNotFoundError, match="--plot: folder .* does not exist"):
        check_figure_path("--plot", tmp_path / "missing" / "p.png")
    assert not (tmp_path / "plot.jpg").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(("prog", "argv", "work"), [
    ("mlcore", ["bias-variance", "--plot", "{}/bv.jpg"], "mlcore.biasvar.bias_variance_study"),
    ("mlcore", ["lr-range-test", "--plot", "{}/lr.jpeg"], "mlcore.commands._common.load_data"),
    ("staleness", ["sweep", "--plot", "{}/s.gif"], "staleness.sweep.sweep"),
    ("staleness", ["simulate", "--plot", "{}/t.tiff"], "staleness.simulation.simulate"),
])
def test_unknown_figure_format_refused_before_the_work(tmp_path, capsys, monkeypatch, prog, argv, work):
    import importlib

    module, _, name = work.rpartition(".")
    monkeypatch.setattr(importlib.import_module(module), name, lambda *a, **k: pytest.fail("the work ran"))
    main = importlib.import_module(f"{prog}.cli").main
    assert main([a.format(tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: --plot: got ") and ".png, .pdf or .svg" in err


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    # root ignores mode bits; sysfs refuses new files even to root (EACCES), a real read-only place
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("running as root without /sys: no folder root cannot write to")
    return Path("/sys/kernel")


def test_unwritable_folder_is_one_line_exit_2(tmp_path):
    folder = _unwritable_folder(tmp_path)
    out = folder / "out.txt"
    proc = subprocess.run([sys.executable, "-m", "staleness", "simulate", "--updates", "10", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == (f"staleness: error: '{out}': Permission denied; check the permissions of the file and "
                           "its folder, or write somewhere else\n")
    if os.geteuid() != 0:
        folder.chmod(0o755)
        assert _leftovers(folder) == []


def test_unwritable_folder_with_debug_shows_traceback(tmp_path):
    out = _unwritable_folder(tmp_path) / "out.txt"
    proc = subprocess.run([sys.executable, "-m", "staleness", "simulate", "--updates", "10", "--output", str(out),
                           "--debug"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "PermissionError" in proc.stderr
