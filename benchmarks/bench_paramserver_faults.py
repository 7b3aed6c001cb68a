"""Time from a fault's injection to the end of ``staleness train --backend distributed`` (issue 12, item 6).

For each fault: start the CLI (1 server + 2 workers on 127.0.0.1, --heartbeat 3, the default), wait until
the server has applied 5 updates, inject, and measure the seconds until the CLI exits and until no process
of the run is left; check that stderr is one line and no temporary file was left. Target: every fault ends
within 10 s of its injection. Usage: ``python benchmarks/bench_paramserver_faults.py [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAULTS = {"kill worker 2": (2, signal.SIGKILL), "stop worker 2 (SIGSTOP)": (2, signal.SIGSTOP),
          "kill server": (0, signal.SIGKILL), "SIGINT to the CLI": (None, signal.SIGINT),
          "kill the CLI (SIGKILL)": (None, signal.SIGKILL)}


def _tagged(tag: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if tag.encode() in (d / "environ").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def once(rank, sig) -> tuple[float, float, int, int, bool]:
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tag = f"bench-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, BENCH_TAG=tag, TMPDIR=tmp)
        proc = subprocess.Popen([sys.executable, "-m", "staleness", "train", "--backend", "distributed", "--subset",
                                 "60", "--device", "cpu", "--threads", "1", "--workers", "2", "--pushes", "1000000",
                                 "--delay", "0.01", "--port", str(port), "--json"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                # a shell's background job ignores SIGINT, and Python keeps it ignored
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=datetime.timedelta(seconds=60))
        while not (store.check(["applied"]) and int(store.get("applied")) >= 5):
            time.sleep(0.05)
        t0 = time.monotonic()
        os.kill(proc.pid if rank is None else int(store.get(f"pid/{rank}")), sig)
        _, err = proc.communicate(timeout=60)
        ended = time.monotonic() - t0
        while _tagged(tag) and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        gone = time.monotonic() - t0
        return ended, gone, len(err.strip().splitlines()), len(_tagged(tag)), not os.listdir(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    n = ap.parse_args().repeat
    print("| fault | runs | CLI ends after injection: median / max (s) | last process gone: max (s) | "
          "stderr lines | processes left | temp files left |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (rank, sig) in FAULTS.items():
        rows = [once(rank, sig) for _ in range(n)]
        ends = [r[0] for r in rows]
        print(f"| {name} | {n} | {statistics.median(ends):.2f} / {max(ends):.2f} | {max(r[1] for r in rows):.2f} | "
              f"{max(r[2] for r in rows)} | {max(r[3] for r in rows)} | {sum(not r[4] for r in rows)} |")


if __name__ == "__main__":
    main()
