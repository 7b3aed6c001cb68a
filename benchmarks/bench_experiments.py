"""Training-experiment timings, each as a ratio against a peer measured in the same run.

1. Stale-gradient replay (``mlcore.stale_training``) against a plain torch SGD loop doing the same
   gradient steps on the same mini-batches (one learner, so no staleness): the cost of the replay's
   bookkeeping (parameter versions as vectors, schedule lookup). The final losses are checked equal
   before any timing is printed.
2. One small-Inception training step on digits (batch 64) with 1 torch thread against 2 threads: why
   ``--threads`` defaults to 1 on digits.
3. ``lr_range_test`` on a user's model and DataLoader (a 6-16-2 MLP, batch 32, 100 steps) against
   torch-lr-finder's ``range_test`` on an identical copy: the cost of the generic step. The smoothed
   histories are checked equal bit for bit before any timing is printed.
4. ``mlcore bias-variance`` refusing a study that exceeds memory (1e8 data sets x 15 degrees x 900 test
   points): wall time of the whole command in a fresh interpreter; the target is under a second.

Run:  python benchmarks/bench_experiments.py [--steps 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from mlcore.images import load_images  # noqa: E402
from mlcore.models import inception_small, mlp  # noqa: E402
from mlcore.stale_training import _learner_batches, stale_training  # noqa: E402


def plain_sgd(data, steps: int, lr: float, batch: int) -> float:
    torch.manual_seed(0)
    net = mlp(data.input_shape, 10)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    x, y = torch.tensor(np.array(data.train_x)), torch.tensor(np.array(data.train_y))
    stream = _learner_batches(len(y), batch, 0, 0)
    for _ in range(steps):
        idx = next(stream)
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        return float(F.cross_entropy(net(x), y))


def bench_replay(data, steps: int, repeats: int) -> None:
    times = [[1.0] * steps]
    res = stale_training(data, times=times, lr=0.1, batch_size=32, evaluations=1, device="cpu", show_progress=False)
    ref = plain_sgd(data, steps, 0.1, 32)
    assert abs(res.train_loss[-1] - ref) < 1e-4 * max(1.0, ref), (res.train_loss[-1], ref)
    t_replay, t_plain = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        stale_training(data, times=times, lr=0.1, batch_size=32, evaluations=1, device="cpu", show_progress=False)
        t_replay.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain_sgd(data, steps, 0.1, 32)
        t_plain.append(time.perf_counter() - t)
    r, p = statistics.median(t_replay), statistics.median(t_plain)
    print(f"| replay vs plain SGD, MLP, {steps} steps | {steps / r:,.0f} steps/s | {steps / p:,.0f} steps/s "
          f"| {r / p:.2f}x the time | final loss equal |")


def bench_threads(data, repeats: int) -> None:
    x = torch.tensor(np.array(data.train_x[:64]))
    y = torch.tensor(np.array(data.train_y[:64]))
    out = {}
    for threads in (1, 2) * repeats:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net = inception_small(data.input_shape)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        t = time.perf_counter()
        for _ in range(20):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        out.setdefault(threads, []).append((time.perf_counter() - t) / 20)
    one, two = statistics.median(out[1]), statistics.median(out[2])
    print(f"| Inception step, digits, batch 64 | 1 thread {1000 * one:.1f} ms | 2 threads {1000 * two:.1f} ms "
          f"| 2 threads take {two / one:.2f}x | - |")


def bench_lr_finder(repeats: int) -> None:
    import contextlib
    import copy
    import io

    from torch_lr_finder import LRFinder

    from mlcore.lr_range import lr_range_test

    torch.manual_seed(0)
    x = torch.randn(1024, 6)
    y = (x[:, 0] + x[:, 1] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def ours():
        return lr_range_test(net, loader, start_lr=1e-4, end_lr=1.0, num_iter=100, device="cpu",
                             show_progress=False)

    def peer():
        ref = copy.deepcopy(net)
        finder = LRFinder(ref, torch.optim.SGD(ref.parameters(), lr=1e-4, momentum=0.9),
                          torch.nn.CrossEntropyLoss(), device="cpu")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            finder.range_test(loader, start_lr=1e-4, end_lr=1.0, num_iter=100)
        return finder.history

    assert ours().losses.tolist() == peer()["loss"]
    t_ours, t_peer = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        peer()
        t_peer.append(time.perf_counter() - t)
    a, b = statistics.median(t_ours), statistics.median(t_peer)
    print(f"| lr_range_test vs torch-lr-finder, MLP + DataLoader, 100 steps | {1000 * a:.0f} ms | {1000 * b:.0f} ms "
          f"| {a / b:.2f}x the time | histories equal |")


def bench_refusal(repeats: int) -> None:
    import subprocess

    argv = [sys.executable, "-m", "mlcore", "bias-variance", "--datasets", "100000000", "--test-size", "900",
            "--train-size", "50"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert proc.returncode == 2 and "--force" in proc.stderr, proc.stderr
    print(f"| bias-variance refusal, 1e8 x 15 x 900 (16.6 TiB estimated), whole command | "
          f"{statistics.median(walls):.2f} s | target 1 s | - | exit 2, one line |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    data = load_images("digits")
    torch.set_num_threads(1)
    print("| what | ours | peer | ratio | check |\n|---|---|---|---|---|")
    bench_replay(data, args.steps, args.repeats)
    bench_threads(data, args.repeats)
    bench_lr_finder(args.repeats)
    bench_refusal(args.repeats)


if __name__ == "__main__":
    main()
