"""The run-size guard: its model's arithmetic, the calibration cache, and (slow) the estimate against real
runs within 2x, CPU time and peak memory, at small sizes (large sizes: benchmarks/RESULTS.md)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from staleness import SimConfig, simulate
from staleness import calibration as calib
from staleness.estimate import _BASE, PATHS, estimate, record_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_record_bytes_are_the_kept_columns():
    g = simulate(SimConfig(learners=3, updates=20, seed=0)).gradients
    cols = [getattr(g, name) for name in g.__dataclass_fields__]
    # 11 int64 / float64 columns and one bool: 11 * 8 + 1 = 89
    assert record_bytes() == sum(c.itemsize for c in cols) == 89


def test_time_model_arithmetic_with_the_reference_speed():
    # P = 16, async, streamed: 10^6 gradients x 4.4e-8 s + 16 learners x 2.4e-5 s (flat below P = 5,000)
    e = estimate(SimConfig(learners=16, updates=10**6), stream=True, calibrate=False)
    assert e.path == "vectorised async" and e.calibration == "reference"
    assert e.seconds == pytest.approx(1e6 * 4.4e-8 + 16 * 2.4e-5, rel=1e-12)
    # kept: + 1.5e-7 s per gradient
    kept = estimate(SimConfig(learners=16, updates=10**6), calibrate=False)
    assert kept.seconds == pytest.approx(1e6 * (4.4e-8 + 1.5e-7) + 16 * 2.4e-5, rel=1e-12)
    # P = 10^4 lies halfway between 10^3 and 10^5 on a log axis: the geometric mean of the two per-gradient
    # costs; per learner, 10^4 is log(2)/log(20) of the way from 5,000 (2.4e-5) to 10^5 (4.1e-5)
    a, b = PATHS["vectorised async"]["gradient"][1:]
    learner = 2.4e-5 * (4.1 / 2.4) ** (math.log(2) / math.log(20))
    mid = estimate(SimConfig(learners=10**4, updates=10**6), stream=True, calibrate=False)
    assert mid.seconds == pytest.approx(1e6 * math.sqrt(a * b) + 1e4 * learner, rel=1e-9)
    # beyond 10^5 the last slopes go on: at 10^7 the per-gradient cost is b * (b / a), per learner
    # 4.1e-5 * (4.1 / 2.4)^(log(100) / log(20))
    far = estimate(SimConfig(learners=10**7, updates=10**8), stream=True, calibrate=False)
    learner = 4.1e-5 * (4.1 / 2.4) ** (math.log(100) / math.log(20))
    assert far.seconds == pytest.approx(1e8 * b * b / a + 1e7 * learner, rel=1e-9)
    # the paths: k-async (1 < K < P) its own; K = P the sync path; latencies the event engine
    assert estimate(SimConfig(learners=8, policy="k-async", k=2, updates=9), calibrate=False).path == \
        "vectorised k-async"
    assert estimate(SimConfig(learners=8, policy="k-async", k=8, updates=9), calibrate=False).path == \
        "vectorised sync"
    assert estimate(SimConfig(learners=8, updates=9, push_latency=0.1), calibrate=False).path == "event"
    # stopped by time and streamed: two passes over (10^5 x 16 + 16) gradients
    e1 = estimate(SimConfig(learners=16, until=1e5), stream=True, calibrate=False)
    assert e1.seconds == pytest.approx(2 * ((1e5 * 16 + 16) * 4.4e-8 + 16 * 2.4e-5), rel=1e-9)


def test_memory_model_arithmetic():
    # kept, P = 16, 10^6 updates: 2 x (10^6 x 89 + 8 x 10^6) bytes + a chunk of 16,384 pushes x 150 + 16 x 6 KB
    # (the async path's bytes per learner)
    e = estimate(SimConfig(learners=16, updates=10**6), calibrate=False)
    assert e.bytes == _BASE + 2 * (10**6 * 89 + 8 * 10**6) + 16384 * 150 + 16 * 6000
    # streamed, P = 10^5: a chunk of 32 P = 3.2 x 10^6 pushes x 150 + 10^5 x 6 KB
    s = estimate(SimConfig(learners=10**5, updates=10**7), stream=True, calibrate=False)
    assert s.bytes == _BASE + 32 * 10**5 * 150 + 10**5 * 6000


def test_calibration_is_cached_per_machine(tmp_path, monkeypatch):
    monkeypatch.delenv("STALENESS_CALIBRATION", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calib, "_memo", None)
    calls = []
    monkeypatch.setattr(calib, "measure", lambda: calls.append(1) or calib.Calibration(2.0, 3.0, "measured"))
    # a small run never measures (its estimate is far below CALIBRATE_ABOVE)
    assert estimate(SimConfig(learners=4, updates=100)).calibration == "reference" and not calls
    # a big one measures once, caches, and scales: 2.0 x per gradient, 3.0 x per learner
    big = SimConfig(learners=16, updates=10**8)
    e = estimate(big, stream=True)
    assert e.calibration == "measured" and calls == [1]
    assert e.seconds == pytest.approx(2.0 * 1e8 * 4.4e-8 + 3.0 * 16 * 2.4e-5, rel=1e-12)
    saved = json.loads(calib.cache_path().read_text())
    assert saved["gradient"] == 2.0 and saved["machine"]["host"]
    monkeypatch.setattr(calib, "_memo", None)  # a new process reads the cache
    assert estimate(big, stream=True).calibration == "cached" and calls == [1]
    # another machine (or model version) in the cache: measured again
    saved["machine"]["cpus"] = -1
    calib.cache_path().write_text(json.dumps(saved))
    monkeypatch.setattr(calib, "_memo", None)
    assert estimate(big, stream=True).calibration == "measured" and calls == [1, 1]
    # a corrupt cache or one that cannot be written: measured, never an error
    calib.cache_path().write_text("{not json")
    monkeypatch.setattr(calib, "_memo", None)
    assert estimate(big, stream=True).calibration == "measured"
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-dir")
    monkeypatch.setattr(calib, "_memo", None)
    assert estimate(big, stream=True).calibration == "measured"
    # a failing measurement falls back to the reference speed
    monkeypatch.setattr(calib, "measure", lambda: 1 / 0)
    monkeypatch.setattr(calib, "_memo", None)
    assert estimate(big, stream=True).calibration == "reference"
    monkeypatch.setenv("STALENESS_CALIBRATION", "off")
    assert estimate(big, stream=True, calibrate=True).calibration == "reference"


_RUN = """
import json, resource, sys, time
from staleness import SimConfig, simulate
cfg = SimConfig(**json.loads(sys.argv[1]))
t = time.process_time()
simulate(cfg, stream=sys.argv[2] == "1", force=True)
cpu = time.process_time() - t
# VmHWM: this process's own peak (ru_maxrss would keep the forking parent's size across exec)
hwm = [int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(cpu, hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _fresh_run(kw: dict, stream: bool) -> tuple[float, int]:
    """(CPU seconds of the run, peak resident bytes of the process) in a fresh interpreter, as a user's run."""
    out = subprocess.run([sys.executable, "-c", _RUN, json.dumps(kw), "1" if stream else "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=True)
    cpu, peak = out.stdout.split()[-2:]
    return float(cpu), int(peak)


#: Small sizes of every path, kept and streamed (large sizes: benchmarks/RESULTS.md, "run-size guard").
SMALL = [
    ({"learners": 16, "updates": 2 * 10**6}, True),
    ({"learners": 16, "updates": 10**6}, False),
    ({"learners": 5000, "updates": 10**4}, True),  # the learners' cost dominates
    ({"learners": 20_000, "updates": 2 * 10**5}, True),
    ({"learners": 1000, "policy": "sync", "updates": 1000}, True),
    ({"learners": 16, "policy": "ssp", "bound": 2, "updates": 5 * 10**5}, True),
    ({"learners": 16, "policy": "k-async", "k": 2, "updates": 2 * 10**5}, True),
    ({"learners": 16, "updates": 10**5, "push_latency": 0.01}, True),  # the event engine
]


@pytest.mark.slow
def test_estimate_within_2x_of_real_runs(tmp_path, monkeypatch):
    # CPU time: the faster of two fresh runs (load only slows a run down); memory: the peak resident set of
    # the process (interpreter, imports and the run)
    monkeypatch.delenv("STALENESS_CALIBRATION", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calib, "_memo", None)
    bad = []
    for kw, stream in SMALL:
        est = estimate(SimConfig(seed=0, **kw), stream=stream, calibrate=True)
        runs = [_fresh_run({"seed": 0, **kw}, stream) for _ in range(2)]
        cpu, peak = min(r[0] for r in runs), min(r[1] for r in runs)
        if not (0.5 <= est.seconds / cpu <= 2.0 and 0.5 <= est.bytes / peak <= 2.0):
            bad.append((kw, stream, est.path, round(est.seconds, 3), round(cpu, 3), est.bytes >> 20, peak >> 20))
    assert not bad, "\n".join(map(str, bad))
