"""Cyclical learning rates and the batch-size sweep, against Smith's closed form and a hand-written loop."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlcore.batch_sweep import batch_size_sweep, batch_sweep_csv, doubling  # noqa: E402
from mlcore.clr import clr_bounds, train_clr  # noqa: E402
from mlcore.images import load_images  # noqa: E402
from mlcore.lr_range import range_test_curve  # noqa: E402
from mlcore.training import select_device  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]



@pytest.fixture(scope="module")
def tiny():
    return load_images("digits", subset=50, seed=0)  # 40 training + 10 validation images


def smith_clr(it, base, top, step, mode, gamma):
    """Smith (2017), section 3.1: cycle = floor(1 + it / (2 step)), x = |it / step - 2 cycle + 1|,
    lr = base + (top - base) * max(0, 1 - x) * scale(cycle, it)."""
    cycle = math.floor(1 + it / (2 * step))
    x = abs(it / step - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**it}[mode]
    return base + (top - base) * max(0.0, 1 - x) * scale


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_clr_learning_rates_follow_smith(tiny, mode):
    # 40 images / batch 8 = 5 steps per epoch; half cycle 0.4 epoch = 2 steps; 3 epochs = 15 steps
    res = train_clr(tiny, base_lr=0.001, max_lr=0.01, mode=mode, epochs=3, batch_size=8, step_size_epochs=0.4,
                    gamma=0.9, device="cpu", show_progress=False)
    assert res.step_size_up == 2 and len(res.lrs) == 15
    expected = [smith_clr(i, 0.001, 0.01, 2, mode, 0.9) for i in range(15)]
    np.testing.assert_allclose(res.lrs, expected, rtol=1e-9)
    assert res.train_loss.shape == res.val_acc.shape == (3,)
    assert all(0 <= a <= 1 for a in (*res.train_acc, *res.val_acc))


def test_clr_is_deterministic_and_matches_a_hand_written_loop(tiny):
    kwargs = {"base_lr": 0.01, "max_lr": 0.05, "epochs": 1, "batch_size": 16, "device": "cpu",
              "show_progress": False, "seed": 7}
    res = train_clr(tiny, **kwargs)
    again = train_clr(tiny, **kwargs)
    np.testing.assert_array_equal(res.train_loss, again.train_loss)
    np.testing.assert_array_equal(res.val_loss, again.val_loss)
    # Oracle: the same run written directly against torch (seeded init, seeded permutation, batches 16+16+8).
    from torch.nn import functional as F

    from mlcore.models import InceptionSmall

    torch.manual_seed(7)
    model = InceptionSmall(1, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.05, step_size_up=3)  # round(1.0 * ceil(40/16))
    x, y = torch.tensor(np.array(tiny.train_x)), torch.tensor(np.array(tiny.train_y))
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(7))
    total = 0.0
    for start in (0, 16, 32):
        idx = perm[start:start + 16]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach()) * len(idx)
    assert res.train_loss[0] == pytest.approx(total / 40, rel=1e-5)
    model.eval()
    with torch.no_grad():
        val = F.cross_entropy(model(torch.tensor(np.array(tiny.val_x))), torch.tensor(np.array(tiny.val_y)))
    assert res.val_loss[0] == pytest.approx(float(val), rel=1e-4)


def test_clr_bounds_from_a_range_curve():
    lrs = np.geomspace(1e-5, 1.0, 50)
    losses = np.concatenate([np.linspace(2.3, 0.5, 35), np.linspace(0.5, 3.0, 15)])
    res = range_test_curve(lrs, losses)
    base, top = clr_bounds(res)
    # max_lr = (lr at the smoothed minimum) / 10, base = max / 4
    assert top == pytest.approx(res.lrs[int(np.argmin(res.losses))] / 10)
    assert base == pytest.approx(top / 4)


@pytest.mark.parametrize(("kwargs", "match"), [({"base_lr": 0.1, "max_lr": 0.01}, "^max_lr: "),
                                               ({"mode": "cosine"}, "^mode: "), ({"epochs": 0}, "^epochs: ")])
def test_clr_bad_arguments(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_clr(tiny, **({"base_lr": 0.01, "max_lr": 0.1} | kwargs))


def test_batch_sweep_closed_forms(tiny):
    res = batch_size_sweep(tiny, lr=0.02, batch_sizes=doubling(8, 32), epochs=1, device="cpu", show_progress=False)
    assert res.rule == ("fixed",) * 3 + ("linear",) * 3
    # steps = epochs * ceil(40 / b): 5, 3, 2;  linear rule lr = 0.02 * b / 8: 0.02, 0.04, 0.08
    assert res.steps.tolist() == [5, 3, 2, 5, 3, 2]
    np.testing.assert_allclose(res.lr, [0.02, 0.02, 0.02, 0.02, 0.04, 0.08])
    # the linear-rule run at the base batch is the fixed run
    assert res.train_loss[3] == res.train_loss[0] and res.val_acc[3] == res.val_acc[0]
    again = batch_size_sweep(tiny, lr=0.02, batch_sizes=(8, 16, 32), epochs=1, device="cpu", show_progress=False)
    np.testing.assert_array_equal(res.train_loss, again.train_loss)
    assert batch_sweep_csv(res).splitlines()[0] == "rule,batch_size,lr,steps,train_loss,train_acc,val_loss,val_acc"
    assert not res.train_loss.flags.writeable


def test_doubling_and_bad_arguments(tiny):
    assert doubling(16, 100) == (16, 32, 64)
    with pytest.raises(ValueError, match="^max_batch: got"):
        doubling(64, 16)
    with pytest.raises(ValueError, match="^rules: got"):
        batch_size_sweep(tiny, rules=("sqrt",), device="cpu")
    with pytest.raises(ValueError, match="^device: got"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            select_device("cuda")
