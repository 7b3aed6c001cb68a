"""Parts of the parameter server's fault handling that need no worker processes: the watchdog on a real
c10d store, record packing, exit-code words, argument checks and the CLI's flag mapping."""

import datetime
import threading
import time

import numpy as np
import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def _store():
    import torch.distributed as dist

    from staleness.paramserver.launch import listen

    sock = listen(None)
    port = sock.getsockname()[1]
    master = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False,
                           timeout=datetime.timedelta(seconds=10), master_listen_fd=sock.detach())
    return master, lambda: dist.TCPStore("127.0.0.1", port, is_master=False, timeout=datetime.timedelta(seconds=10))


def test_watchdog_names_the_silent_peer_within_grace():
    from staleness.paramserver.watchdog import Watchdog

    master, client = _store()
    fired, when = [], threading.Event()
    grace = 0.6
    server = Watchdog(client(), 0, [1, 2], grace, lambda m: (fired.append(m), when.set()))
    w1 = Watchdog(client(), 1, [0], grace, lambda m: None)
    w2 = Watchdog(client(), 2, [0], grace, lambda m: None)
    for w in (server, w1, w2):
        w.start()
    time.sleep(0.5)
    assert not fired  # everyone beats: no fault
    silenced = time.monotonic()
    w2.stop()  # what a SIGSTOP does to its heartbeat thread
    assert when.wait(5)
    # The watcher last saw rank 2's counter move at most two beats before the silence (period = grace / 10
    # = 0.06 s), and fires once it has not moved for grace: so no earlier than 0.6 - 2 * 0.06 = 0.48 s;
    # the upper bound only leaves room for a loaded 2-core machine.
    assert grace - 2 * 0.06 <= time.monotonic() - silenced < grace + 2.0
    assert fired == ["rank 2 (worker 2) stopped responding: no heartbeat for 0.6 s (dead, stopped or unreachable)"]
    # The first fault is published once; worker 1 learns it from the store on its next beat.
    assert master.get("fault").decode() == fired[0]
    for w in (server, w1):
        w.stop()


def test_watchdog_ignores_unwatched_and_not_yet_started_peers():
    from staleness.paramserver.watchdog import Watchdog

    _master, client = _store()
    fired = []
    dog = Watchdog(client(), 0, [1, 2], 0.3, fired.append)
    dog.unwatch(1)  # finished normally
    dog.start()
    time.sleep(1.0)  # rank 2 never beats: still starting, the launcher's business
    dog.stop()
    assert fired == []


def test_report_fault_keeps_the_first_message():
    from staleness.paramserver.watchdog import report_fault

    master, client = _store()
    assert report_fault(client(), "rank 1 (worker 1) died") == "rank 1 (worker 1) died"
    assert report_fault(client(), "rank 0 (server) lost the rendezvous store") == "rank 1 (worker 1) died"


def test_record_log_flushes_incrementally_and_exactly():
    from staleness.paramserver.node import collect
    from staleness.paramserver.roles import RecordLog

    master, _client = _store()
    log = RecordLog()
    rows = [(w % 3, 7 * w, 2**52 + w, float(w % 2), 0.125 * w, 1e-3 * w, 2.5 - w) for w in range(10)]
    for row in rows[:4]:
        log.add(row, bool(row[3]))
    log.flush(master)
    for row in rows[4:]:
        log.add(row, bool(row[3]))
    log.flush(master)
    log.flush(master)  # nothing new: nothing appended twice
    got = collect(master)
    # 2**52 + w is exact in float64 (53-bit significand), so versions survive the round trip.
    assert got["version_before_apply"].tolist() == [2**52 + w for w in range(10)]
    assert got["applied"].tolist() == [bool(w % 2) for w in range(10)]
    assert int(master.get("applied")) == 5  # odd w: 1, 3, 5, 7, 9
    assert np.isnan(got["initial_loss"])


def test_port_in_use_is_a_value_error_naming_port():
    from staleness.paramserver.launch import listen

    taken = listen(None)
    port = taken.getsockname()[1]
    with pytest.raises(ValueError, match=rf"^port: got {port}, but 127.0.0.1:{port} is already in use"):
        listen(port)
    taken.close()
    listen(port).close()  # free again: accepted


def test_bad_fault_arguments_name_the_parameter():
    from staleness.distributed import run_parameter_server

    x, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match=r"^heartbeat: got 0"):
        run_parameter_server(x, y, heartbeat=0)
    with pytest.raises(ValueError, match=r"^heartbeat: got 90"):
        run_parameter_server(x, y, heartbeat=90, timeout=60)
    with pytest.raises(ValueError, match=r"^port: got 70000"):
        run_parameter_server(x, y, port=70000)
    with pytest.raises(ValueError, match=r"^launch: got 'torchrun'"):  # not under torchrun
        run_parameter_server(x, y, launch="torchrun")


def test_cli_maps_parameters_to_flags(capsys):
    from staleness.cli import main

    assert main(["train", "--backend", "distributed", "--subset", "60", "--heartbeat", "-1", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("staleness: error: --heartbeat: got -1.0") and len(err.strip().splitlines()) == 1


def test_cli_port_in_use_is_one_line_exit_2(capsys):
    import socket

    from staleness.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        # The port is checked before any process starts, so this costs no worker start-up.
        assert main(["train", "--backend", "distributed", "--subset", "60", "--learners", "1", "--pushes", "5",
                     "--port", str(port), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"staleness: error: --port: got {port}, but 127.0.0.1:{port} is already in use; "
                                 "give a free port or leave it out to let the system pick one\n")


def test_exit_words_and_blamed_rank():
    from staleness.paramserver.launch import blamed_rank
    from staleness.paramserver.protocol import describe_exit

    assert describe_exit(-19) == "killed by SIGSTOP" and describe_exit(-15) == "killed by SIGTERM"
    assert blamed_rank("rank 12 (worker 12) died (killed by SIGKILL)") == 12
    assert blamed_rank("ranked") is None


def test_kolmogorov_distance_and_dkw_bound():
    from scipy import stats

    from staleness.distributed import _hist, _ks, dkw_bound

    # the distance between two staleness histograms equals scipy's two-sample KS statistic on the samples
    rng = np.random.default_rng(3)
    a, b = rng.geometric(0.3, 240) - 1, rng.geometric(0.25, 9000) - 1
    size = int(max(a.max(), b.max())) + 1
    assert _ks(_hist(a, size), _hist(b, size)) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert _ks(_hist(a, 3), _hist(a, size)) <= 1.0  # histograms of different lengths pad with zeros
    # DKW (Massart): sqrt(ln(4 / 0.001) / (2 * 240)) + sqrt(ln(4000) / (2 * 9000)) = 0.131451 + 0.021466
    assert dkw_bound(240, 9000, 0.999) == pytest.approx(0.131451 + 0.021466, abs=2e-6)
    with pytest.raises(ValueError, match="confidence: got 1"):
        dkw_bound(240, 9000, 1)
