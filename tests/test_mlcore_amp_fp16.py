"""``amp="fp16"`` on the CPU: float16 autocast with a GradScaler, against a hand-written loop on the same seed."""

import copy
import math

import pytest

torch = pytest.importorskip("torch")

from mlcore.lr_range import lr_range_test  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _problem(n=96, seed=0):
    """A seeded 2-class problem and a 6-16-2 MLP (6*16+16 + 16*2+2 = 146 parameters)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] - x[:, 2] > 0).long()
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    return torch.utils.data.TensorDataset(x, y), net


def _hand_loop(net, loader, lrs, seed=0):
    """The oracle: plain torch, SGD(momentum=0.9), float16 autocast on the CPU and torch.amp.GradScaler
    (scale the loss, backward, step through the scaler, update the scale), one batch per step."""
    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lrs[0], momentum=0.9)
    scaler = torch.amp.GradScaler("cpu")
    losses, batches = [], iter(())
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        batch = next(batches, None)
        if batch is None:  # the loader restarts when it runs out
            batches = iter(loader)
            batch = next(batches)
        x, y = batch
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16):
            out = net(x)
            loss = torch.nn.functional.cross_entropy(out, y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss.detach()))
    return losses


def test_lr_range_test_fp16_on_the_cpu_equals_a_hand_written_autocast_loop():
    ds, net = _problem()
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False)  # 6 batches, then it restarts
    ref = copy.deepcopy(net)
    n = 24
    res = lr_range_test(net, loader, start_lr=1e-3, end_lr=1.0, num_iter=n, amp="fp16", device="cpu",
                        show_progress=False)
    assert res.amp == "fp16"
    # the schedule: 1e-3 * (1.0 / 1e-3) ** (i / 23), i = 0 .. 23
    lrs = [1e-3 * 1000.0 ** (i / (n - 1)) for i in range(n)]
    hand = _hand_loop(ref, loader, lrs)
    assert len(res.raw_losses) >= 12 and all(math.isfinite(v) for v in res.raw_losses)
    # the same steps on the same batches: the same raw losses, bit for bit, as far as the test ran
    assert list(res.raw_losses) == hand[:len(res.raw_losses)]
    # autocast did run in float16: the first loss (weights untouched) differs from the float32 forward's, by
    # less than float16's relative precision allows over two small layers (2**-11 per rounding; < 1 % here)
    x, y = ds.tensors
    with torch.no_grad():
        fp32_first = float(torch.nn.functional.cross_entropy(_problem()[1](x[:16]), y[:16]))
    assert res.raw_losses[0] != fp32_first
    assert abs(res.raw_losses[0] - fp32_first) < 0.01 * fp32_first
