"""The experiments on a user's model and loader: a tiny MLP on a TensorDataset, against torch-lr-finder
(run on an identical copy of the model with the same loader) and hand-written training loops."""

import contextlib
import copy
import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlcore.batch_sweep import batch_size_sweep  # noqa: E402
from mlcore.clr import train_clr  # noqa: E402
from mlcore.lr_range import lr_finder_history_curve, lr_range_test, range_test_curve  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _problem(n=256, seed=0):
    """A seeded separable 2-class problem and a 6-16-2 MLP (130 parameters: 6*16+16 + 16*2+2)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    assert sum(p.numel() for p in net.parameters()) == 6 * 16 + 16 + 16 * 2 + 2
    return torch.utils.data.TensorDataset(x, y), net


def _lr_finder(net, loader, *, num_iter, accumulation_steps=1, amp=None):
    lrf = pytest.importorskip("torch_lr_finder")
    import matplotlib

    matplotlib.use("Agg")
    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(ref.parameters(), lr=1e-4, momentum=0.9)
    kwargs = {}
    if amp is not None:  # torch.amp with bf16 autocast; bf16 needs no loss scaling (disabled scaler)
        kwargs = {"amp_backend": "torch", "amp_config": {"device_type": "cpu", "dtype": amp},
                  "grad_scaler": torch.amp.GradScaler("cpu", enabled=False)}
    finder = lrf.LRFinder(ref, opt, torch.nn.CrossEntropyLoss(), device="cpu", **kwargs)
    with contextlib.redirect_stdout(io.StringIO()):
        finder.range_test(loader, start_lr=1e-4, end_lr=10, num_iter=num_iter, step_mode="exp", smooth_f=0.05,
                          diverge_th=5, accumulation_steps=accumulation_steps)
        _, suggestion = finder.plot(skip_start=10, skip_end=5, suggest_lr=True)
    import matplotlib.pyplot as plt

    plt.close("all")
    return finder.history, suggestion


@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_lr_range_test_on_a_user_model_equals_torch_lr_finder(accumulation_steps):
    ds, net = _problem()
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=False)
    history, suggestion = _lr_finder(net, loader, num_iter=60, accumulation_steps=accumulation_steps)
    before = copy.deepcopy(net.state_dict())
    res = lr_range_test(net, loader, torch.nn.CrossEntropyLoss(), start_lr=1e-4, end_lr=10, num_iter=60,
                        accumulation_steps=accumulation_steps, device="cpu", show_progress=False)
    # the same steps on the same batches: the same smoothed history, bit for bit, and the same stop
    assert len(res.lrs) == len(history["lr"]) >= 20
    np.testing.assert_array_equal(res.losses, history["loss"])
    np.testing.assert_allclose(res.lrs, history["lr"], rtol=1e-14)  # 1e-4 * 1e5 ** (i / 59)
    assert res.suggestion == suggestion and res.accumulation_steps == accumulation_steps
    # torch-lr-finder's own history, smoothed once (as it is), gives its plot's suggestion
    assert lr_finder_history_curve(history).suggestion == suggestion
    # the model is put back as it was (torch-lr-finder's reset())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def test_history_is_not_smoothed_twice():
    # smoothed history s = [4, 2, 2]: used as is; smoothing it again (f = 0.05) would give
    # [4, 0.05*2 + 0.95*4 = 3.9, 0.05*2 + 0.95*3.9 = 3.805]
    with pytest.warns(UserWarning, match="no suggestion"):  # 3 points: none left after skipping 10 + 5
        once = lr_finder_history_curve({"lr": [1e-3, 1e-2, 1e-1], "loss": [4.0, 2.0, 2.0]})
        twice = range_test_curve([1e-3, 1e-2, 1e-1], [4.0, 2.0, 2.0])
    assert once.losses.tolist() == [4.0, 2.0, 2.0]
    np.testing.assert_allclose(twice.losses, [4.0, 3.9, 3.805], rtol=1e-15)


def test_amp_bf16_runs_on_the_cpu_and_equals_torch_lr_finder_with_torch_amp():
    ds, net = _problem(n=128)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=False)
    history, suggestion = _lr_finder(net, loader, num_iter=30, amp=torch.bfloat16)
    res = lr_range_test(net, loader, start_lr=1e-4, end_lr=10, num_iter=30, amp="bf16", device="cpu",
                        show_progress=False)
    assert res.amp == "bf16" and all(math.isfinite(v) for v in res.raw_losses)
    np.testing.assert_array_equal(res.losses, history["loss"])
    assert res.suggestion == suggestion
    # bf16 keeps 8 bits of mantissa: the first loss differs from the fp32 one, but by < 2 %
    fp32 = lr_range_test(net, loader, start_lr=1e-4, end_lr=10, num_iter=30, device="cpu", show_progress=False)
    assert res.raw_losses[0] != fp32.raw_losses[0]
    assert abs(res.raw_losses[0] - fp32.raw_losses[0]) < 0.02 * fp32.raw_losses[0]


def test_bad_amp_and_accumulation_name_the_option():
    ds, net = _problem(n=32)
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    with pytest.raises(ValueError, match="^amp: got 'int8'"):
        lr_range_test(net, loader, amp="int8", device="cpu")
    with pytest.raises(ValueError, match="^accumulation_steps: got 0"):
        lr_range_test(net, loader, accumulation_steps=0, device="cpu", num_iter=5)
    with pytest.raises(ValueError, match="model: got a loader but no model"):
        lr_range_test(None, loader, device="cpu")
    with pytest.raises(ValueError, match="^seed: got -1"):
        lr_range_test(net, loader, seed=-1, device="cpu")


def test_clr_on_a_user_model_equals_a_hand_written_loop():
    ds, net = _problem(n=96)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False)  # 6 batches per epoch
    val = torch.utils.data.DataLoader(ds, batch_size=50)
    ref = copy.deepcopy(net)
    res = train_clr(net, loader, val_loader=val, base_lr=0.01, max_lr=0.1, epochs=2, step_size_epochs=0.5,
                    device="cpu", show_progress=False)
    assert res.step_size_up == 3 and len(res.lrs) == 12 and res.batch_size == 16  # 0.5 * 6 = 3 steps
    # oracle: plain torch, the same CyclicLR, losses weighted by batch size
    opt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3)
    for epoch in range(2):
        total = 0.0
        for x, y in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(ref(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(y)
        assert res.train_loss[epoch] == pytest.approx(total / 96, rel=1e-12)
    with torch.no_grad():
        out = ref(ds.tensors[0])
        acc = int((out.argmax(1) == ds.tensors[1]).sum()) / 96
    assert res.val_acc[-1] == pytest.approx(acc, abs=1e-12)
    # without a validation loader the validation columns are NaN, not a made-up number
    nan = train_clr(copy.deepcopy(ref), loader, base_lr=0.01, max_lr=0.1, epochs=1, device="cpu",
                    show_progress=False)
    assert math.isnan(nan.val_loss[0]) and math.isnan(nan.val_acc[0])


def test_batch_sweep_on_a_user_model_starts_every_run_from_its_weights():
    ds, net = _problem(n=64)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)
    before = copy.deepcopy(net.state_dict())
    res = batch_size_sweep(net, loader, val_loader=torch.utils.data.DataLoader(ds, batch_size=64), lr=0.05,
                           batch_sizes=(8, 32), epochs=2, device="cpu", show_progress=False)
    # rows: fixed 8, fixed 32, linear 8 (= fixed 8, not retrained), linear 32 at lr 0.05 * 32 / 8 = 0.2
    assert list(zip(res.rule, res.batch_size.tolist(), res.lr.tolist(), res.steps.tolist(), strict=True)) == [
        ("fixed", 8, 0.05, 16), ("fixed", 32, 0.05, 4), ("linear", 8, 0.05, 16), ("linear", 32, 0.2, 4)]
    assert res.train_loss[0] == res.train_loss[2]
    for k, v in net.state_dict().items():  # the given model is copied, never trained
        assert torch.equal(v, before[k])
    # oracle for the fixed-rule run at batch 32: plain torch from the same weights, the same seeded order
    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    order = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        total = 0.0
        for x, y in order:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(ref(x), y)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
    assert res.train_loss[1] == pytest.approx(total / 64, rel=1e-12)


def test_a_regression_model_gets_its_loss_and_nan_accuracy():
    # MSE on a linear target: accuracy means nothing there and is NaN, never 0
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 3, generator=g)
    ds = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    net = torch.nn.Linear(3, 1)
    loader = torch.utils.data.DataLoader(ds, batch_size=10)
    res = train_clr(net, loader, torch.nn.MSELoss(), val_loader=loader, base_lr=0.001, max_lr=0.01, epochs=2,
                    device="cpu", show_progress=False)
    assert np.isnan(res.train_acc).all() and np.isnan(res.val_acc).all()
    with torch.no_grad():  # the validation loss is the mean squared error of the trained model
        mse = float(((net(x) - x.sum(1, keepdim=True)) ** 2).mean())
    assert res.val_loss[-1] == pytest.approx(mse, rel=1e-6)
