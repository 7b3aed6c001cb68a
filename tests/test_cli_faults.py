"""Faults a user meets from outside the arguments: a port already taken, a plot writer killed mid-write."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_port_in_use_is_one_line_naming_port():
    pytest.importorskip("torch")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "staleness", "train", "--backend", "distributed", "--port",
                               str(port), "--subset", "200", "--pushes", "5"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"staleness: error: --port: got {port}, but 127.0.0.1:{port} is already in use; give a "
                           "free port or leave it out to let the system pick one\n")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".big.png.") and p.name.endswith(".tmp"))


# The writer draws a figure big enough that savefig takes seconds, and says "ready" once the temporary file
# exists (a watcher thread polls the folder), so the signal lands mid-write.
_WRITER = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from dlperf.fileio import save_figure

    folder = Path(sys.argv[1])
    def watch():
        while not any(p.name.endswith(".tmp") for p in folder.iterdir()):
            time.sleep(0.005)
        print("ready", flush=True)
    threading.Thread(target=watch, daemon=True).start()
    fig, ax = plt.subplots(figsize=(12, 12))
    rng = np.random.default_rng(0)
    for _ in range(800):  # many small artists: Python runs between them, so SIGTERM's handler gets its turn
        ax.plot(rng.random(200), rng.random(200), lw=0.3)
    save_figure(fig, folder / "big.png", dpi=200)
""")


@pytest.mark.slow
def test_plot_writer_killed_mid_write(tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        assert len(_leftovers(tmp_path)) == 1  # caught mid-write: the temporary file exists, the target not yet
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # SIGKILL cannot be caught: it would leave the temporary file
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert _leftovers(tmp_path) == [] and not (tmp_path / "big.png").exists()
