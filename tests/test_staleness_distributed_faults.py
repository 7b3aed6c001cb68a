"""Fault injection into ``staleness train --backend distributed``: kill or stop a worker, kill the server,
Ctrl-C, kill the parent (a port in use: tests/test_staleness_distributed_units.py). Each must end within
10 s of the injection with one line on stderr naming the rank, what completed as JSON on stdout, no
process left and no temporary file left."""

import contextlib
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
DONE_WITHIN = 10.0  # seconds from injection to the end of the run (the bound)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ``tag`` (the run and all its descendants)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if tag.encode() in (d / "environ").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


class Run:
    """The CLI in a subprocess with its own port, TMPDIR and environment tag; a store client to watch it."""

    def __init__(self, tmp_path: Path, workers: int, heartbeat: float = 2.0):
        import torch.distributed as dist

        self.tag, self.port = f"dlperf-fault-{uuid.uuid4().hex}", _free_port()
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        env = dict(os.environ, DLPERF_FAULT_TAG=self.tag, TMPDIR=str(self.tmp))
        cmd = [sys.executable, "-m", "staleness", "train", "--backend", "distributed", "--subset", "60",
               "--device", "cpu", "--threads", "1", "--learners", str(workers), "--pushes", "1000000",
               "--delay", "0.01", "--timeout", "100", "--heartbeat", str(heartbeat), "--port", str(self.port),
               "--json"]
        # preexec_fn: under a shell's background job SIGINT is ignored, and Python would keep it ignored.
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.store = dist.TCPStore("127.0.0.1", self.port, is_master=False, timeout=datetime.timedelta(seconds=60))

    def wait_running(self, applied: int = 3) -> None:
        """Until the server has flushed ``applied`` updates (bounded: a slow start fails the test)."""
        end = time.monotonic() + 60
        while time.monotonic() < end and self.proc.poll() is None:
            if self.store.check(["applied"]) and int(self.store.get("applied")) >= applied:
                return
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"the run never got going: {self.proc.communicate()[1]}")

    def pid(self, rank: int) -> int:
        return int(self.store.get(f"pid/{rank}"))

    def finish(self) -> tuple[int, str, str, float]:
        """Exit status, stdout, stderr and the seconds since this call."""
        start = time.monotonic()
        try:
            out, err = self.proc.communicate(timeout=DONE_WITHIN + 20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, out, err, time.monotonic() - start

    def kill(self) -> None:
        for pid in _tagged(self.tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def assert_clean(self) -> None:
        end = time.monotonic() + 5  # the resource tracker leaves when its pipe closes
        while _tagged(self.tag) and time.monotonic() < end:
            time.sleep(0.1)
        left = _tagged(self.tag)
        if left:
            self.kill()
        assert left == [], "orphan processes"
        assert list(self.tmp.iterdir()) == [], "temporary files left behind"


def _check_partial(out: str, message: str) -> dict:
    """The JSON of what completed: the server's own invariant holds on the records kept."""
    data = json.loads(out)
    assert data["complete"] is False and data["fault"] == message
    applied = data["records"]["applied"]
    done = sum(applied)
    assert done >= 3 and data["applied_updates"] == done
    # The k-th applied update saw version k - 1 before it: no update lost or duplicated in the flushes.
    versions = [v for v, a in zip(data["records"]["version_before_apply"], applied, strict=True) if a]
    assert versions == list(range(done))
    assert message.endswith(f"; {done} of 1000000 updates completed")
    return data


@pytest.mark.parametrize(("workers", "rank", "sig", "expected", "status"), [
    (2, 2, signal.SIGKILL, r"rank 2 \(worker 2\) died \(killed by SIGKILL\)", 1),
    (1, 1, signal.SIGSTOP, r"rank 1 \(worker 1\) stopped", 1),
    (1, 0, signal.SIGKILL, r"rank 0 \(server\) died \(killed by SIGKILL\)", 1),
    (1, None, signal.SIGINT, r"interrupted \(Ctrl-C or SIGTERM\)", 130),
], ids=["kill-worker", "stop-worker", "kill-server", "sigint-parent"])
def test_fault_ends_the_run_in_one_line(tmp_path, workers, rank, sig, expected, status):
    run = Run(tmp_path, workers)
    try:
        run.wait_running()
        os.kill(run.proc.pid if rank is None else run.pid(rank), sig)
        code, out, err, seconds = run.finish()
    finally:
        if run.proc.poll() is None:
            run.kill()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.match(rf"staleness: error: {expected}", lines[0]), lines[0]
    assert code == status
    # stop-worker: 2 s heartbeat + up to 1 s for the server's last flush + the interpreter's exit.
    assert seconds < DONE_WITHIN
    _check_partial(out, lines[0].removeprefix("staleness: error: "))
    run.assert_clean()


def test_killed_parent_takes_its_children_and_leaves_no_file(tmp_path):
    run = Run(tmp_path, workers=1)
    try:
        run.wait_running()
        children = [run.pid(0), run.pid(1)]
        run.proc.kill()
        run.proc.wait(10)
        end = time.monotonic() + DONE_WITHIN
        while time.monotonic() < end and any(Path(f"/proc/{p}").exists() for p in children):
            time.sleep(0.1)
    finally:
        run.assert_clean()  # PR_SET_PDEATHSIG: the kernel ends the children; no file was ever written
