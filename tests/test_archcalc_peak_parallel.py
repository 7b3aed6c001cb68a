"""Per-device peak under data parallelism and ZeRO: model states against the ZeRO paper's per-parameter formulas
(typed here), the schedule's timing on a hand-sized graph, zero 0 against today's peak, the CLI and its errors."""

from __future__ import annotations

import json

import pytest
from test_archcalc_peak import samples, tiny

from archcalc.memory.liveness.fit import fit
from archcalc.memory.liveness.peak import peak_memory
from archcalc.models.zoo import build

PSI = 11_689_512  # ResNet-18's parameters
BUFFERS = 2 * 4_800 * 4 + 20 * 8  # BatchNorm running mean and var (4,800 channels) + 20 int64 counters = 38,560


@pytest.mark.parametrize("ranks, expected", [
    # Rajbhandari et al. 2020, section 3.1, fp32 Adam under torch's layout (weights 4, gradients 4, K = 8):
    # stage 1: 4 Psi + 4 Psi + K Psi / N_d; stage 2: 4 Psi + (4 + K) Psi / N_d; stage 3: (4 + 4 + K) Psi / N_d
    # N_d = 4: Psi / 4 = 2,922,378: 8 x 11,689,512 + 8 x 2,922,378 = 116,895,120; 46,758,048 + 12 x 2,922,378
    #   = 81,826,584; 16 x 2,922,378 = 46,758,048
    (4, (116_895_120, 81_826_584, 46_758_048)),
    # N_d = 7 does not divide Psi: ceil(11,689,512 / 7) = 1,669,931 per shard: 93,516,096 + 13,359,448 = 106,875,544;
    #   46,758,048 + 20,039,172 = 66,797,220; 16 x 1,669,931 = 26,718,896
    (7, (106_875_544, 66_797_220, 26_718_896)),
])
def test_model_states_are_the_zero_formulas(ranks, expected):
    graph = build("resnet18")
    for stage, want in zip((1, 2, 3), expected, strict=True):
        p = peak_memory(graph, (3, 32, 32), 2, training=True, optimizer="adam", data_parallel=ranks, zero=stage,
                        first_step=True)
        assert p.model_state_bytes - BUFFERS == want, stage
        assert (p.data_parallel, p.zero) == (ranks, stage)
        # the steady step also counts the flat shard's one 0-d fp32 step tensor (4 bytes)
        s = peak_memory(graph, (3, 32, 32), 2, training=True, optimizer="adam", data_parallel=ranks, zero=stage)
        assert s.model_state_bytes - BUFFERS == want + 4, stage


def test_model_states_in_16_bits():
    graph = build("resnet18")
    # autocast keeps fp32 parameters (torch's layout, no master copy): stage 2 on 4 ranks, 4 Psi + (4 + 8) Psi / 4
    #   = 7 Psi = 81,826,584; buffers stay fp32 (38,560)
    p = peak_memory(graph, (3, 32, 32), 2, training=True, optimizer="adam", precision="bf16-mixed", data_parallel=4,
                    zero=2, first_step=True)
    assert p.model_state_bytes - BUFFERS == 81_826_584
    # pure bf16: (2 + 2 + 2 x 2) Psi / 4 = 2 Psi = 23,379,024 at stage 3; buffers 2 x 4,800 x 2 + 20 x 8 = 19,360
    p = peak_memory(graph, (3, 32, 32), 2, training=True, optimizer="adam", precision="bf16", data_parallel=4, zero=3,
                    first_step=True)
    assert p.model_state_bytes - 19_360 == 23_379_024
    # the steady step: the same plus the shard's fp32 step count (4 bytes; torch keeps it fp32 for bf16 models)
    p = peak_memory(graph, (3, 32, 32), 2, training=True, optimizer="adam", precision="bf16", data_parallel=4, zero=3)
    assert p.model_state_bytes - 19_360 == 23_379_024 + 4


def test_zero_0_is_todays_peak_at_the_per_device_batch():
    graph = build("resnet18")
    for optimizer in ("sgd", "adam"):
        alone = peak_memory(graph, (3, 32, 32), 4, training=True, optimizer=optimizer)
        shared = peak_memory(graph, (3, 32, 32), 4, training=True, optimizer=optimizer, data_parallel=8)
        assert (shared.peak_bytes, shared.breakdown, shared.timeline) == (alone.peak_bytes, alone.breakdown,
                                                                         alone.timeline)


def test_stage_3_gathers_each_layer_around_its_use():
    p = peak_memory(tiny(), batch=2, training=True, optimizer="sgd", data_parallel=2, zero=3)
    # 186 parameters over 2 ranks: a flat shard of 93 x 4 = 372 bytes; input 1,536; conv output 2,048; head 1,024
    # forward conv: 372 + 1,536 + conv's gathered (108 + 4) x 4 = 448 + output 2,048 = 4,404
    # relu (in place): the gathered conv weights are gone: 372 + 1,536 + 2,048 = 3,956
    # head: + gathered (72 + 2) x 4 = 296 + output 1,024 = 5,276
    # backward head: gradient shard 372 from the start; d(sum) 4, head gathered 296, gradient of its input
    #   2,048, its full parameter gradients 296 (reduce-scattered after the node), saved relu output 2,048:
    #   372 + 1,536 + 372 + 4 + 296 + 2,048 + 296 + 2,048 = 6,972
    # backward relu: incoming 2,048 + new 2,048 + saved 2,048: 372 + 1,536 + 372 + 6,144 = 8,424
    # backward conv: incoming 2,048, gathered 448, full gradients 448: 372 + 1,536 + 372 + 2,944 = 5,224
    # SGD on the shard: 372 + 1,536 + 372 = 2,280
    assert samples(p) == [("forward", "conv", 4404), ("forward", "relu", 3956), ("forward", "head", 5276),
                          ("backward", "head", 6972), ("backward", "relu", 8424), ("backward", "conv", 5224),
                          ("optimizer", "flat shard", 2280)]
    assert p.model_state_bytes == 8 * 93  # (4 + 4) x ceil(186 / 2)


def test_stage_1_adam_steps_on_the_flat_shard():
    p = peak_memory(tiny(), batch=2, training=True, optimizer="adam", data_parallel=2, zero=1, first_step=True)
    # full weights 744 and gradients 744, input 1,536, moments 2 x 372, temporaries 2 x 372: 4,512
    assert samples(p)[-1] == ("optimizer", "flat shard", 744 + 744 + 1536 + 744 + 744)
    assert p.model_state_bytes == 744 + 744 + 2 * 372
    # steady: the shard's moments and its step count (4) exist from the forward pass on: 4,516 at the step,
    # and every forward sample is 744 + 4 above step 1's
    s = peak_memory(tiny(), batch=2, training=True, optimizer="adam", data_parallel=2, zero=1)
    assert samples(s)[-1] == ("optimizer", "flat shard", 4512 + 4)
    assert [x[2] - y[2] for x, y in zip(samples(s)[:3], samples(p)[:3], strict=True)] == [748] * 3


def test_fit_searches_the_per_device_batch():
    # inference is not sharded: peak(B) = 744 + 2,304 B as in test_fit_is_the_closed_form, B = 4 per device
    f = fit(lambda b, s: tiny(), 10_000, input_shape=(3, 8, 8), data_parallel=3, margin=0)
    assert (f.batch, f.global_batch) == (4, 12)


@pytest.mark.parametrize("kwargs, message", [
    ({"data_parallel": 0}, "data_parallel: got 0; give a positive number of ranks"),
    ({"data_parallel": 2, "zero": 4}, "zero: got 4; choose a ZeRO stage"),
    ({"zero": 2}, "zero: got 2 with 1 data-parallel rank; ZeRO shards over data-parallel ranks: give data_parallel"),
])
def test_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        peak_memory(tiny(), training=True, **kwargs)


def test_cli_json_keys(capsys):
    from archcalc.cli import main

    assert main(["peak", "resnet18", "--input", "3x32x32", "--batch", "2", "--training", "--optimizer", "adam",
                 "--data-parallel", "4", "--zero", "3", "--json", "--first-step"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["data_parallel"], data["zero"], data["batch"], data["global_batch"]) == (4, 3, 2, 8)
    assert data["model_state_bytes"] == 46_758_048 + BUFFERS  # 16 Psi / 4, as above
    assert data["step"] == "first"
    assert main(["peak", "resnet18", "--input", "3x32x32", "--batch", "2", "--training", "--optimizer", "adam",
                 "--data-parallel", "4", "--zero", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["step"], data["model_state_bytes"]) == ("steady", 46_758_048 + 4 + BUFFERS)  # and the step count
    assert main(["fit", "vgg11", "--input", "3x32x32", "--device-memory", "1GiB", "--data-parallel", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["global_batch"] == 2 * data["batch"] and data["checkpoint_segments"] == 1


@pytest.mark.parametrize("argv, message", [
    (["peak", "vgg11", "--training", "--zero", "2"], "--zero: got 2 without --data-parallel"),
    (["peak", "vgg11", "--data-parallel", "0"], "argument --data-parallel: got '0'; give a positive integer"),
    (["peak", "vgg11", "--data-parallel", "2", "--zero", "4"], "argument --zero: invalid choice: 4"),
    (["fit", "vgg11", "--device-memory", "1GB", "--zero", "1"], "--zero: got 1 without --data-parallel"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    from archcalc.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_stage_1_master_steps_on_the_fp32_shard():
    # bf16-master on 2 ranks, step 1: 186 parameters, a flat shard of 93. bf16 weights 372 and gradients 372,
    # the bf16 input 768 and the fp32 master shard 93 x 4 = 372 (alive from the start); the step makes the
    # shard's fp32 gradient 372, Adam's fp32 moments 2 x 372 and temporaries 2 x 372: 3,744
    p = peak_memory(tiny(), batch=2, training=True, optimizer="adam", precision="bf16-master", data_parallel=2,
                    zero=1, first_step=True)
    assert samples(p)[-1] == ("optimizer", "flat shard", 372 + 372 + 768 + 372 + 372 + 744 + 744)
    # after it: ZeRO-1's 4 Psi + K Psi / N_d = 744 + 12 x 93 = 1,860 (the fp32 gradient and temporaries gone)
    assert p.model_state_bytes == 4 * 186 + 12 * 93
    # every forward sample holds the master shard above pure bf16's
    b = peak_memory(tiny(), batch=2, training=True, optimizer="adam", precision="bf16", data_parallel=2, zero=1,
                    first_step=True)
    assert [x[2] - y[2] for x, y in zip(samples(p)[:3], samples(b)[:3], strict=True)] == [372] * 3


@pytest.mark.parametrize("precision, stage", [("bf16-master", 2), ("bf16-master", 3), ("fp16-master", 1),
                                              ("bf16-mixed", 2), ("bf16", 3)])
def test_memory_and_peak_agree_on_llama_7b(precision, stage, capsys):
    # the case: Llama-2-7B (Psi = 6,738,415,616), Adam, 8 ranks. `archcalc memory` and the liveness
    # schedule name the same layout: the step's model states are memory's per-device bytes plus the shard's
    # 0-d fp32 step count (4); bf16-master at stage 2: 2 Psi + 14 Psi / 8 = 25,269,058,560 (ZeRO's formula)
    from archcalc.cli import main

    psi = 6_738_415_616
    assert main(["memory", "--params", str(psi), "--data-parallel", "8", "--zero", str(stage), "--precision",
                 precision, "--json"]) == 0
    states = json.loads(capsys.readouterr().out)["stages"][0]["per_device_bytes"]
    p = peak_memory(build("llama"), (128,), 1, training=True, optimizer="adam", precision=precision,
                    data_parallel=8, zero=stage)
    assert p.model_state_bytes == states + 4
    if (precision, stage) == ("bf16-master", 2):
        assert states == 2 * psi + 14 * psi // 8 == 25_269_058_560


def test_fit_takes_the_master_layout_with_zero(capsys):
    from archcalc.cli import main

    assert main(["fit", "llama", "--memory", "80GiB", "--training", "--optimizer", "adam", "--precision",
                 "bf16-master", "--data-parallel", "8", "--zero", "2", "--input", "1024", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    peaks = [peak_memory(build("llama"), (1024,), b, training=True, optimizer="adam", precision="bf16-master",
                         data_parallel=8, zero=2).peak_bytes for b in (doc["batch"], doc["batch"] + 1)]
    # 80 GiB less the 5 % margin: 81,604,378,624 usable bytes
    assert peaks[0] <= 81_604_378_624 < peaks[1] and doc["precision"] == "bf16-master"
