"""Several machines without torchrun (``--nnodes``/``--node-rank``/``--master-addr``/``--master-port``): the
rendezvous is bounded by ``--timeout`` (issue 23 item 1). Separate launchers on 127.0.0.1 stand for the nodes."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from staleness.paramserver.nodes import Nodes, _rendezvous, check_nodes  # noqa: E402

pytestmark = [pytest.mark.torch]
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"timeout": 2.0, "heartbeat": 1.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_node_zero_alone_names_the_missing_ranks_and_the_address_at_the_deadline():
    nodes = Nodes(nnodes=2, node_rank=0, nproc=2, master_addr="127.0.0.1", master_port=_free_port())
    t = time.monotonic()
    store, message = _rendezvous(nodes, SETTINGS, t + 1.0)
    took = time.monotonic() - t
    assert 1.0 <= took < 2.0 and store is not None
    assert message == (f"ranks 2-3 (workers 2-3) of node 1 did not join the rendezvous at 127.0.0.1:{nodes.master_port}"
                       " within timeout=2 s; start it (--node-rank 1, the same --master-addr/--master-port) or "
                       "raise --timeout")
    assert store.get("fault").decode() == message  # published: every node that did join reads the same line


def test_a_node_without_node_zero_names_rank_zero_and_the_address():
    nodes = Nodes(nnodes=3, node_rank=2, nproc=1, master_addr="127.0.0.1", master_port=_free_port())
    t = time.monotonic()
    store, message = _rendezvous(nodes, SETTINGS, t + 1.0)
    assert 1.0 <= time.monotonic() - t < 2.5 and store is None
    assert message == (f"rank 0 (server) of node 0 did not open the rendezvous at 127.0.0.1:{nodes.master_port} "
                       "within timeout=2 s; start it (--node-rank 0) or check --master-addr/--master-port")


def test_late_nodes_within_the_timeout_join_in_either_order():
    # node 1 starts before node 0 (it polls the address), node 2 after it; all three get the store, no fault
    port = _free_port()
    out = {}

    def node(r, delay):
        time.sleep(delay)
        out[r] = _rendezvous(Nodes(3, r, 1, "127.0.0.1", port), SETTINGS, time.monotonic() + 5.0)

    threads = [threading.Thread(target=node, args=(r, d)) for r, d in ((1, 0.0), (0, 0.5), (2, 1.0))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert sorted(out) == [0, 1, 2] and all(store is not None and msg is None for store, msg in out.values())


def test_a_node_that_is_missing_among_three_is_named_by_every_node_that_joined():
    port = _free_port()
    out = {}

    def node(r, seconds):
        out[r] = _rendezvous(Nodes(3, r, 1, "127.0.0.1", port), SETTINGS, time.monotonic() + seconds)

    threads = [threading.Thread(target=node, args=(0, 1.5)), threading.Thread(target=node, args=(1, 1.0))]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    for th in threads:
        th.join(10)
    assert out[0][1] == out[1][1] and out[0][1].startswith("rank 2 (worker 2) of node 2 did not join")


@pytest.mark.parametrize("bad, fix", [(dict(node_rank=2), "node_rank: got 2 with nnodes 2; give 0..1"),
                                      (dict(nproc=0), "nproc_per_node: got 0; give an integer >= 1"),
                                      (dict(master_port=0), "master_port: got 0; give a TCP port 1..65535")])
def test_bad_node_options_are_one_line_naming_the_parameter(bad, fix):
    kw = dict(nnodes=2, node_rank=0, nproc=2, master_addr="127.0.0.1", master_port=29500) | bad
    with pytest.raises(ValueError, match=fix.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_nodes(**kw)


def _node_cmd(port: int, rank: int, timeout: float) -> list[str]:
    return [sys.executable, "-m", "staleness", "train", "--backend", "distributed", "--subset", "200", "--device",
            "cpu", "--threads", "1", "--pushes", "60", "--delay", "0.01", "--timeout", str(timeout), "--json",
            "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
            "--master-port", str(port)]


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_the_cli_alone_on_one_node_ends_within_the_timeout_with_one_line(rank):
    # the rendezvous (before the data loads) ends --timeout seconds after the process started (imports count), so the
    # command ends by then plus its exit: measured 12.2 s for --timeout 12 at load average 10 on 2 cores
    port, timeout = _free_port(), 12
    t = time.monotonic()
    out = subprocess.run(_node_cmd(port, rank, timeout), cwd=ROOT, capture_output=True, text=True, timeout=90,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    took = time.monotonic() - t
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    missing = "ranks 2-3 (workers 2-3) of node 1 did not join" if rank == 0 else "of node 0 did not open"
    assert missing in lines[0] and f"127.0.0.1:{port}" in lines[0] and "timeout=12 s" in lines[0]
    assert took < timeout + 5, took


@pytest.mark.slow
def test_a_node_started_late_within_the_timeout_still_runs():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen(_node_cmd(port, 0, 100), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    time.sleep(4)
    second = subprocess.Popen(_node_cmd(port, 1, 100), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        outs = [p.communicate(timeout=150) for p in (first, second)]
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert [first.returncode, second.returncode] == [0, 0], [e for _o, e in outs]
    assert outs[1][0] == ""  # only node 0 reports
    run = json.loads(outs[0][0])
    rec = run["records"]
    # 2 nodes x 2 processes: the server and 3 workers, two of them on node 1; every update applied once, in order
    assert run["workers"] == 3 and sorted(set(rec["worker"])) == [0, 1, 2]
    assert sum(rec["applied"]) == 60
    assert [v for v, a in zip(rec["version_before_apply"], rec["applied"], strict=True) if a] == list(range(60))
    applied_staleness = sum(s for s, a in zip(rec["staleness"], rec["applied"], strict=True) if a)
    assert applied_staleness + run["lost_staleness"] == 2 * 60  # (P - 1) x pushes, P = 3 workers




@pytest.mark.parametrize("argv, line", [
    (["--nnodes", "2", "--node-rank", "2"], "--node-rank: got 2 with --nnodes 2; give 0..1"),
    (["--nnodes", "2", "--port", "5000"], "--port: got 5000; with --nnodes the rendezvous is "
                                          "--master-addr/--master-port: leave --port out"),
    (["--nnodes", "2", "--learners", "5"], "--learners: got 5, but 2 nodes x 2 processes are 1 server + 3 workers; "
                                           "leave --learners out"),
    (["--nnodes", "2", "--master-port", "0"], "--master-port: got 0; give a TCP port 1..65535, the same on every node"),
])
def test_cli_node_options_are_one_line_exit_2(capsys, argv, line):
    from staleness.cli import main

    # refused before any rendezvous or data loading
    assert main(["train", "--backend", "distributed", "--subset", "60", "--json", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"staleness: error: {line}\n"


def test_cli_node_options_with_the_simulated_backend_are_refused(capsys):
    from staleness.cli import main

    assert main(["train", "--nnodes", "2", "--subset", "60"]) == 2
    assert capsys.readouterr().err.startswith("staleness: error: --nnodes: got 2; it applies to --backend distributed")
