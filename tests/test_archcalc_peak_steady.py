"""The steady-state training step (N >= 2) against the real run's step 3, and ``fit``'s batch surviving it.

``peak_memory(..., training=True)`` models a step N >= 2 by default: the optimizer state earlier steps
created (moments, momentum buffers, Adam's 0-d fp32 ``step`` tensors) is alive from the start of the forward
pass, the gradients are not (``zero_grad(set_to_none=True)``). The oracles run three steps of one optimizer
(tests/peak_profiler.py ``measure_steps_storage``: tensor storage bytes from torch.profiler's allocation
events; tests/peak_tracker.py ``measure_steps``: glibc's live heap) and the prediction is compared with
step 3 byte for byte, every residual explained; ``first_step=True`` keeps step 1's numbers.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from peak_profiler import measure_steps_storage  # noqa: E402
from peak_tracker import measure_steps  # noqa: E402

from archcalc.memory.liveness.peak import peak_memory  # noqa: E402


def _linear():
    torch.manual_seed(0)
    return torch.nn.Linear(100, 50), torch.randn(8, 100)


def _traced(module, shape, batch, optimizer, first_step=False):
    from archcalc.frontends.torch_trace import from_torch

    return peak_memory(from_torch(module, shape, batch=batch), shape, batch, training=True, optimizer=optimizer,
                       first_step=first_step)


def test_linear_momentum_steps_by_hand(one_torch_thread):
    # weight 50*100*4 = 20,000 + bias 200 + input 3,200 = 23,400. Step 1 ends its backward at 23,400 + 20,208
    # (as SGD's) and then clones each gradient into a momentum buffer: 23,400 + grads 20,200 + loss 4 +
    # buffers 20,200 = 63,804. Steps 2 and 3 start with the buffers (43,600) and peak in step(): buf.mul_(0.9)
    # wraps the Python float in a float64 0-d tensor (8): 43,600 + grads 20,200 + loss 4 + 8 = 63,812.
    model, x = _linear()
    one, two, three = measure_steps_storage(model, x, "momentum")
    assert (one.peak_bytes, two.before_bytes, two.peak_bytes, three.peak_bytes) == (63_804, 43_600, 63_812, 63_812)
    # archcalc, step 1: 23,400 + 20,200 + 20,200 = 63,800 (no loss). Steady: the buffers from the start, peak in
    # the backward at 43,600 + weight gradient 20,000 + bias gradient 200 + seed 4 = 63,804 (no loss, no scalar)
    model, x = _linear()
    assert _traced(model, (100,), 8, "momentum", first_step=True).peak_bytes == 63_800
    steady = _traced(model, (100,), 8, "momentum")
    assert (steady.peak_bytes, steady.phase, steady.step) == (63_804, "backward", "steady")
    # the real peak is in step(): archcalc's optimizer sample 63,800 + the loss 4 + mul_'s float64 scalar 8
    assert steady.timeline[-1].live_bytes + 4 + 8 == three.peak_bytes
    assert three.peak_bytes - steady.peak_bytes == 8


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_linear_adam_steps_by_hand(optimizer, one_torch_thread):
    # Step 3 starts with 23,400 + moments 2 x 20,200 + two fp32 step tensors 2 x 4 = 63,808. step(): gradients
    # 20,200 and the loss 4 (84,012); the weight's update holds exp_avg_sq.sqrt() 20,000 and its quotient by
    # bias_correction2_sqrt 20,000 (the Python float wrapped in a float64 0-d tensor, 8): 124,020 at aten::div.
    # AdamW's decoupled decay param.mul_(1 - lr*wd) is in place: the same bytes.
    model, x = _linear()
    steps = measure_steps_storage(model, x, optimizer)
    assert steps[2].before_bytes == 63_808
    assert [s.peak_bytes for s in steps] == [124_020] * 3 and steps[2].peak_where == "aten::div"
    # archcalc steady: 23,400 + 40,400 + 8 + 20,200 + 40,000 = 124,008 (no loss, no scalar); step 1 as before
    # without the step tensors: 124,000
    model, x = _linear()
    assert _traced(model, (100,), 8, optimizer, first_step=True).peak_bytes == 124_000
    steady = _traced(model, (100,), 8, optimizer)
    assert (steady.peak_bytes, steady.phase) == (124_008, "optimizer")
    assert steady.breakdown.optimizer_state_bytes == 40_400 + 8


def _twin(name: str, size: int):
    torch.manual_seed(0)
    tv = name.removeprefix("torchvision:")
    return getattr(torchvision.models, tv)(weights=None)


def _graph(name: str, size: int, batch: int):
    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        return from_torchvision(name.removeprefix("torchvision:"), (3, size, size), batch)
    from archcalc.zoo import build

    return build(name)


def _unmodelled_step3(model, optimizer: str, phase: str, peak_op: str) -> int:
    """Storage the real step 3 holds at its peak that the steady schedule leaves out, from the real model.

    Peak in the backward pass (SGD, momentum): the fp32 loss (4) and, momentum, the float64 scalar ``mul_(0.9)``
    makes in ``step()``, where the real run peaks 4 bytes above the backward's seed gradient: 4 + 4.
    Adam, peak at a parameter's quotient: the loss (4), the float64 scalar of ``/ bias_correction2_sqrt`` (8)
    and the previous parameter's ``denom``, kept by the loop's local variable. The step tensors are modelled.
    """
    if optimizer in ("sgd", "momentum"):
        assert phase == "backward"
        return 4 + 4
    names = [n for n, _ in model.named_parameters()]
    previous = dict(model.named_parameters())[names[names.index(peak_op) - 1]]
    return 4 + 8 + 4 * previous.numel()


CASES = [
    ("resnet18", 64, 1, "momentum"),  # step 1 140,361,860 B, step 3 141,372,808 B
    ("resnet18", 64, 1, "adam"),
    ("torchvision:shufflenet_v2_x1_0", 64, 1, "adam"),
    ("torchvision:mobilenet_v2", 64, 2, "momentum"),  # step 1 42,293,636 B, step 3 52,189,320 B (+23 %)
    ("torchvision:mobilenet_v2", 64, 2, "sgd"),  # no state: every step the same
]


@pytest.mark.parametrize("name, size, batch, optimizer", CASES)
def test_steady_state_matches_step_three_storage(name, size, batch, optimizer, one_torch_thread):
    model = _twin(name, size)
    steps = measure_steps_storage(model, torch.randn(batch, 3, size, size), optimizer)
    p = peak_memory(_graph(name, size, batch), (3, size, size), batch, training=True, optimizer=optimizer)
    assert steps[1].peak_bytes == steps[2].peak_bytes  # step 2 is already the steady state
    assert abs(p.peak_bytes - steps[2].peak_bytes) <= 0.02 * steps[2].peak_bytes  # the bar
    assert steps[2].peak_bytes - p.peak_bytes == _unmodelled_step3(model, optimizer, p.phase, p.peak_op), (p, steps)
    first = peak_memory(_graph(name, size, batch), (3, size, size), batch, training=True, optimizer=optimizer,
                        first_step=True)
    assert abs(first.peak_bytes - steps[0].peak_bytes) <= 0.02 * steps[0].peak_bytes  # step 1 stays modelled


@pytest.mark.slow
@pytest.mark.parametrize("name, batch, optimizer", [("resnet18", 8, "adam"), ("torchvision:mobilenet_v2", 8, "momentum")])
def test_steady_state_matches_step_three_heap(name, batch, optimizer, one_torch_thread):
    # glibc's live heap (malloc headers, autograd's nodes and page rounding on top of storage): within 2 %
    steps = measure_steps(_twin(name, 64), torch.randn(batch, 3, 64, 64), optimizer)
    p = peak_memory(_graph(name, 64, batch), (3, 64, 64), batch, training=True, optimizer=optimizer)
    assert abs(p.peak_bytes - steps[2].peak_bytes) <= 0.02 * steps[2].peak_bytes, (p.peak_bytes, steps)


def _small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 16 * 16, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))


def test_fit_batch_trains_three_real_steps_and_one_more_does_not(one_torch_thread):
    from archcalc.frontends.torch_trace import from_torch
    from archcalc.memory.liveness.fit import fit

    def at(batch, shape):
        return from_torch(_small_net(), shape, batch=batch)

    # 14,000,000 bytes, 5 % kept for the allocator: the peak must fit in 13,300,000
    f = fit(at, 14_000_000, input_shape=(3, 16, 16), training=True, optimizer="adam")
    assert (f.margin_bytes, f.usable_bytes) == (700_000, 13_300_000)
    fits = measure_steps_storage(_small_net(), torch.randn(f.batch, 3, 16, 16), "adam")
    over = measure_steps_storage(_small_net(), torch.randn(f.batch + 1, 3, 16, 16), "adam")
    assert max(s.peak_bytes for s in fits) <= f.usable_bytes < over[2].peak_bytes, (f.batch, fits, over)
    # step 1's batch is larger and its first step fits, but step 2 brings Adam's 2 x 2.1 MB of moments into
    # the backward pass: beyond the whole budget
    f1 = fit(at, 14_000_000, input_shape=(3, 16, 16), training=True, optimizer="adam", first_step=True)
    assert f1.batch > f.batch
    first = measure_steps_storage(_small_net(), torch.randn(f1.batch, 3, 16, 16), "adam")
    assert first[0].peak_bytes <= f1.usable_bytes and first[2].peak_bytes > f1.memory_bytes, (f1.batch, first)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_the_optimizer_table_is_what_torch_keeps(optimizer, one_torch_thread):
    # after a real step, each parameter's state holds `moments` tensors of its shape and, for Adam / AdamW, a
    # 0-d fp32 `step` count (4 bytes): what the steady schedule places before the forward pass
    from peak_tracker import make_optimizer

    from archcalc.memory.optimizers import optimizer_spec

    spec = optimizer_spec(optimizer)
    model, x = _linear()
    opt = make_optimizer(model, optimizer)
    model(x).sum().backward()
    opt.step()
    for p in model.parameters():
        state = [t for t in opt.state[p].values() if torch.is_tensor(t)]
        assert sum(t.shape == p.shape for t in state) == spec.moments
        scalars = [t for t in state if t.dim() == 0]
        assert sum(t.numel() * t.element_size() for t in scalars) == spec.step_tensor_bytes
