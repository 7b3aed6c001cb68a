"""The peak options together: checkpoint_sequential segments and explicit recompute regions (one RecomputePlan),
autocast in a rerun, tensor parallelism with ZeRO over the data-parallel ranks, and ``fit`` with all of them.

Oracles: the real CPU run (tests/peak_tracker.py, sampled after every kernel), the real per-rank torch shard's
parameter count (tests/tp_shard.py) in the ZeRO paper's per-parameter formulas, and ``peak_memory`` itself for
what ``fit`` and the CLI report.
"""

from __future__ import annotations

import json

import pytest

from archcalc.memory.liveness.peak import peak_memory
from archcalc.memory.liveness.recompute import RecomputePlan
from archcalc.models.zoo import build
from archcalc.models.zoo_transformers import CONFIGS, with_sizes
from archcalc.parallel.step import rank_peak

SMALL = with_sizes(CONFIGS["gpt"], layers=2, hidden=128, heads=4, ffn=512, vocab=1000)


def test_segments_and_regions_are_one_plan():
    g = build("vgg11")  # 4 segments: features.0-4, 5-9, 10-14 checkpointed (21 // 4 = 5), 15-20 plain
    region = RecomputePlan((("features.16", "features.17"),))
    both = peak_memory(g, (3, 32, 32), 2, training=True, checkpoint_segments=4, recompute=region)
    segments = tuple(tuple(f"features.{i}" for i in range(a, a + 5)) for a in (0, 5, 10))
    same = peak_memory(g, (3, 32, 32), 2, training=True, recompute=RecomputePlan(region.regions + segments))
    assert both.timeline == same.timeline
    reruns = [s.op.split()[0] for s in both.timeline if s.op.endswith("(recompute)")]
    # each region reruns up to its last saving node when the backward reaches that node, last region first
    assert reruns == [f"features.{i}" for i in (16, 17, 10, 11, 12, 13, 14, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4)]
    with pytest.raises(ValueError, match="checkpoint_segments: node 'features.4' is also in a region of recompute"):
        peak_memory(g, (3, 32, 32), 2, training=True, checkpoint_segments=4,
                    recompute=RecomputePlan((("features.4",),)))


def _cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                         nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 16 * 16, 10))


def _measured_and_predicted(torch, segments, region, mode, autocast_dtype=None, batch=8):
    from peak_tracker import measure_step
    from torch.utils.checkpoint import checkpoint

    from archcalc.frontends.torch_trace import from_torch

    torch.manual_seed(0)
    seq = _cnn(torch)
    a, b = region if region else (len(seq), len(seq))

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seq = seq

        def forward(self, x):
            size = len(self.seq) // segments
            end = size * (segments - 1)
            for start in range(0, end, size):  # what checkpoint_sequential(seq, segments, x) runs
                x = checkpoint(self.seq[start:start + size], x, use_reentrant=False)
            i = end
            while i < len(self.seq):  # its plain last segment, modules a..b under one more checkpoint
                x = checkpoint(self.seq[a:b + 1], x, use_reentrant=False) if i == a else self.seq[i](x)
                i = b + 1 if i == a else i + 1
            return x

    graph = from_torch(seq, (3, 64, 64), batch=batch, name="cnn")
    measured = measure_step(Step(), torch.randn(batch, 3, 64, 64), mode, autocast_dtype, every_kernel=True)
    plan = RecomputePlan((tuple(n.name for n in graph.nodes[a:b + 1]),)) if region else None
    precision = "bf16-mixed" if autocast_dtype is not None else "fp32"
    p = peak_memory(graph, (3, 64, 64), batch, training=True, optimizer=mode, precision=precision,
                    checkpoint_segments=segments, recompute=plan, first_step=True)  # measure_step runs step 1
    return measured, p


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("segments, region, mode", [(2, (6, 8), "sgd"), (3, (7, 9), "adam"), (1, (3, 5), "sgd")])
def test_segments_with_a_region_match_the_real_run(segments, region, mode, one_torch_thread):
    # e.g. 2 segments: modules 0-4 checkpointed (11 // 2 = 5), 5-10 plain but conv, ReLU, pool 6-8 checkpointed
    torch = pytest.importorskip("torch")
    measured, p = _measured_and_predicted(torch, segments, region, mode)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("segments, mode", [(2, "sgd"), (3, "sgd"), (5, "adam")])
def test_autocast_segments_match_the_real_run(segments, mode, one_torch_thread):
    # torch.autocast("cpu", bfloat16): the rerun casts the weights again, saved casts live until their backward
    torch = pytest.importorskip("torch")
    measured, p = _measured_and_predicted(torch, segments, None, mode, torch.bfloat16)
    assert abs(p.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes, (p.peak_bytes, measured)


@pytest.mark.torch
@pytest.mark.parametrize("t", [1, 2])
def test_tensor_parallel_rank_states_are_sharded_over_data_parallel_ranks(t):
    pytest.importorskip("torch")
    from tp_shard import RankGPT

    psi = sum(p.numel() for p in RankGPT(1000, 256, 128, 2, 4, 512, t).parameters())  # one rank's parameters
    shard = -(-psi // 4)
    # Rajbhandari et al. 2020, fp32 Adam in torch's layout (weights 4, gradients 4, K = 8) over N_d = 4:
    # stage 0: 16 Psi; 1: 8 Psi + 8 Psi / 4; 2: 4 Psi + 12 Psi / 4; 3: 16 Psi / 4 (t = 1: Psi = 557,568)
    want = (16 * psi, 8 * psi + 8 * shard, 4 * psi + 12 * shard, 16 * shard)
    for stage in range(4):
        p = rank_peak(SMALL, 256, 8, tensor_parallel=t, recompute="full", optimizer="adam", data_parallel=4,
                      zero=stage, first_step=True)
        assert p.model_state_bytes == want[stage], stage  # the rank graph has no buffers
        # the steady step adds the 0-d fp32 step counts: one per parameter tensor, one for a ZeRO flat shard
        s = rank_peak(SMALL, 256, 8, tensor_parallel=t, recompute="full", optimizer="adam", data_parallel=4,
                      zero=stage)
        steps = 4 * len(list(RankGPT(1000, 256, 128, 2, 4, 512, t).parameters())) if stage == 0 else 4
        assert s.model_state_bytes == want[stage] + steps, stage


def test_tensor_parallel_with_zero_0_is_the_rank_alone():
    alone = rank_peak(SMALL, 256, 4, tensor_parallel=2, sequence_parallel=True, recompute="selective")
    shared = rank_peak(SMALL, 256, 4, tensor_parallel=2, sequence_parallel=True, recompute="selective",
                       data_parallel=8)
    assert shared.timeline == alone.timeline
    stage_3 = rank_peak(SMALL, 256, 4, tensor_parallel=2, sequence_parallel=True, recompute="selective",
                        data_parallel=8, zero=3)
    assert stage_3.peak_bytes < alone.peak_bytes


def test_fit_with_every_option(capsys):
    from archcalc.cli import main

    argv = ["fit", "gpt2", "--device-memory", "3GiB", "--training", "--optimizer", "adam", "--tensor-parallel", "4",
            "--sequence-parallel", "--recompute", "full", "--data-parallel", "8", "--zero", "3", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    b = data["batch"]
    at = [rank_peak(CONFIGS["gpt2"], 1024, n, tensor_parallel=4, sequence_parallel=True, recompute="full",
                    optimizer="adam", data_parallel=8, zero=3).peak_bytes for n in (b, b + 1)]
    assert at[0] == data["peak_bytes"] <= data["usable_bytes"] < at[1] == data["next_peak_bytes"]
    assert data["usable_bytes"] == 3 * 2**30 - int(3 * 2**30 * 0.05)  # the default 5 % margin
    assert (data["global_batch"], data["zero"]) == (8 * b, 3)
    assert main(["fit", "vgg11", "--input", "3x32x32", "--device-memory", "2GiB", "--training", "--checkpoint", "4",
                 "--data-parallel", "2", "--zero", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    p = peak_memory(build("vgg11"), (3, 32, 32), data["batch"], training=True, checkpoint_segments=4,
                    data_parallel=2, zero=2)
    assert (data["peak_bytes"], data["checkpoint_segments"]) == (p.peak_bytes, 4)


@pytest.mark.parametrize("argv, message", [
    (["peak", "vgg16", "--training", "--checkpoint", "4", "--recompute", "full"],
     "--checkpoint: got 4 with --recompute full; --checkpoint makes checkpoint_sequential segments"),
    (["fit", "gpt2", "--device-memory", "2GiB", "--training", "--checkpoint", "2", "--tensor-parallel", "2"],
     "--checkpoint: got 2 with --tensor-parallel;"),
])
def test_checkpoint_and_parallel_options_refuse_in_one_line(argv, message, capsys):
    from archcalc.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
