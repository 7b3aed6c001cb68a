"""Two torchrun "nodes" on 127.0.0.1 (separate torchrun invocations, env:// rendezvous, the server on rank 0)
run ``staleness train --backend distributed`` and their measured staleness matches the simulator within
the bounds of tests/test_mlcore_stale_training.py::test_distributed_parameter_server_agrees_with_the_simulator."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torchrun_nodes_match_the_simulator(tmp_path):
    port, pushes, workers = _free_port(), 240, 3
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
               "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port),
               "-m", "staleness", "train", "--backend", "distributed", "--subset", "400", "--device", "cpu",
               "--threads", "1", "--pushes", str(pushes), "--delay", "0.02", "--timeout", "90", "--json"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=dict(os.environ, TMPDIR=str(tmp_path))))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert [p.returncode for p in procs] == [0, 0], [e for _o, e in outs]
    assert outs[1][0] == ""  # only rank 0 (node 0) reports
    run = json.loads(outs[0][0])
    rec = run["records"]
    applied = rec["applied"]
    # 2 nodes x 2 processes = 4 ranks: the server and 3 workers (--workers defaults to WORLD_SIZE - 1).
    assert run["workers"] == workers and sorted(set(rec["worker"])) == [0, 1, 2]
    assert sum(applied) == pushes and len(applied) - sum(applied) == workers - 1
    assert [v for v, a in zip(rec["version_before_apply"], applied, strict=True) if a] == list(range(pushes))
    # The same checks as the single-machine test: the exact identity sum(staleness) + lost = (P - 1) * pushes,
    # the simulator replaying the measured intervals reproduces every staleness, the steady-state mean is
    # P - 1 = 2 within 0.1, and the distribution is within the two-sample DKW bound at 99.9 % in Kolmogorov
    # distance (sqrt(ln 4000 / 480) = 0.1315 for 240 pushes, plus about 0.02 for the simulated side).
    applied_staleness = sum(s for s, a in zip(rec["staleness"], applied, strict=True) if a)
    assert applied_staleness + run["lost_staleness"] == (workers - 1) * pushes
    assert run["replay_matches"] == 1.0
    assert abs(run["simulated_mean"] - 2) < 0.1
    assert 0.1315 < run["ks_bound"] < 0.16 and run["confidence"] == 0.999
    assert run["ks_distance"] <= run["ks_bound"] and run["distribution_ok"]
    # Times as on one machine: the exchange after the start-up (here: the rendezvous with node 1), apart
    assert run["startup_seconds"] > 0 and run["startup_seconds"] + run["exchange_seconds"] <= run["wall_seconds"]
    assert max(rec["arrival_time"]) <= run["exchange_seconds"] < max(rec["arrival_time"]) + 1.0
    assert run["final_loss"] < run["initial_loss"]
    # (TMPDIR is tmp_path only to keep /tmp clean: torchrun's agents leave their own torchelastic_* folders.)
