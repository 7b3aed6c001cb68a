"""Each phase of the liveness schedule (archcalc.memory.liveness.step) on one four-node graph, bytes by hand.

The graph, batch 2, fp32 (4 bytes an element)::

    x (2x4, input)  -> fc1 = Linear(4, 8)  -> relu = ReLU -> fc2 = Linear(8, 4) -> add = fc2 + x (output)

    weights  fc1: 8x4 + 8 = 40 elements, fc2: 4x8 + 4 = 36: 76 x 4 = 304 B
    x        2x4 = 8 elements        32 B
    fc1, relu (outputs) 2x8 = 16     64 B each
    fc2, add  (outputs) 2x4 = 8      32 B each

Autograd saves: fc1 its input x (the caller's input: not an activation the schedule frees), relu its output,
fc2 its input (relu's output again), add nothing.
"""

from __future__ import annotations

import pytest

from archcalc.ir.build import GraphBuilder
from archcalc.ir.evaluate import evaluate
from archcalc.memory.liveness.recompute import RecomputePlan
from archcalc.memory.liveness.schedule import StorageKind
from archcalc.memory.liveness.step import GradTarget, Step, Value


def four_nodes():
    b = GraphBuilder("four", inputs=[("x", (4,))])
    h1 = b.op("fc1", "Linear", "x", out_features=8)
    h2 = b.op("relu", "ReLU", h1)
    h3 = b.op("fc2", "Linear", h2, out_features=4)
    return b.build(b.op("add", "Add", h3, "x", module=None))


def step(**kw) -> Step:
    g = four_nodes()
    return Step(g, evaluate(g, None, 2), **kw)


def live(s: Step) -> int:
    return sum(s.schedule.bytes.values())


def samples(s: Step) -> list[tuple[str, int]]:
    return [(x.op, x.live_bytes) for x in s.schedule.samples]


def forward(s: Step) -> Step:
    s.place_weights()
    s.place_inputs()
    s.place_optimizer_state()
    s.free_points()
    for i in range(4):
        s.run_node(i)
    return s


def test_place_weights():
    s = step(training=False)
    s.place_weights()
    assert live(s) == 304  # (8x4 + 8 + 4x8 + 4) x 4
    assert set(s.schedule.kind.values()) == {StorageKind.WEIGHTS}
    assert s.param_elems == {"fc1.weight": 32, "fc1.bias": 8, "fc2.weight": 32, "fc2.bias": 4}


def test_place_inputs_under_each_precision():
    s = step(training=False)
    s.place_inputs()
    assert s.values["x"] == Value(storage=s.values["x"].storage, itemsize=4, elements=8)
    assert live(s) == 32  # 2x4 x 4
    half = step(training=False, precision="fp16")
    half.place_inputs()
    assert live(half) == 16  # the model converted: 2x4 x 2
    mixed = step(training=False, precision="bf16-mixed")
    mixed.place_inputs()
    assert live(mixed) == 32  # autocast: the caller's input stays fp32


@pytest.mark.parametrize(("optimizer", "first_step", "nbytes"), [
    ("sgd", False, 0),
    ("momentum", False, 304),  # one buffer per parameter: 76 x 4
    ("adam", False, 624),  # two moments 2 x 304, and one 0-d fp32 step tensor per parameter 4 x 4
    ("adam", True, 0),  # step 1: the optimizer creates its state in step()
])
def test_place_optimizer_state(optimizer, first_step, nbytes):
    s = step(training=True, optimizer=optimizer, first_step=first_step)
    s.place_optimizer_state()
    assert live(s) == nbytes


def test_free_points():
    s = step(training=False)
    s.free_points()
    # x is read by fc1 (node 0) and add (3); each activation by the next node; the output lives past the end
    assert s.free_at == {"x": 3, "fc1": 1, "relu": 2, "fc2": 3, "add": 4}


def test_run_node_inference():
    s = forward(step(training=False))
    assert samples(s) == [
        ("fc1", 400),  # 304 + x 32 + fc1 64
        ("relu", 464),  # 304 + 32 + fc1 64 + relu 64: input and output live together
        ("fc2", 432),  # fc1 freed after relu: 304 + 32 + relu 64 + fc2 32
        ("add", 400),  # relu freed after fc2: 304 + 32 + fc2 32 + add 32
    ]


def test_run_node_training_saves_and_notes_gradients():
    s = forward(step(training=True, first_step=True))
    relu = s.values["relu"].storage
    assert s.saved_by == [[], [relu], [relu], []]  # relu's output, saved by relu and by fc2
    assert s.schedule.pins[relu] == 2
    assert samples(s)[-1] == ("add", 464)  # 304 + x 32 + relu 64 (saved) + fc2 32 + add 32
    assert s.param_grads[2] == [GradTarget(name="fc2.weight", elements=32, itemsize=4),
                                GradTarget(name="fc2.bias", elements=4, itemsize=4)]
    assert s.input_grads[0] == []  # x does not require grad
    assert s.input_grads[3] == [GradTarget(name="fc2", elements=8, itemsize=4)]


def test_end_forward_frees_the_output():
    s = forward(step(training=True, first_step=True))
    s.end_forward()
    assert live(s) == 400  # 304 + x 32 + relu 64 (saved); add's output went with loss = out.sum()
    assert s.schedule.breakdown().saved_bytes == 64


def test_backward():
    s = forward(step(training=True, first_step=True))
    s.end_forward()
    s.backward()
    assert samples(s)[4:] == [
        ("add", 404),  # 400 + d(sum)/d(add) 4 bytes; add's gradient aliases the incoming one
        ("fc2", 612),  # 404 + fc2's .grad (32 + 4) x 4 = 144 + relu's gradient 64
        ("relu", 672),  # relu 64 saved, grads 144, relu's gradient 64 and fc1's 64: 304 + 32 + 64 + 144 + 128
        ("fc1", 704),  # relu's output and gradient gone: 304 + 32 + 144 + fc1's gradient 64 + fc1's .grad 160
    ]
    assert live(s) == 640  # weights 304 + x 32 + .grad 304
    assert s.schedule.breakdown().gradients_bytes == 304


@pytest.mark.parametrize(("optimizer", "first_step", "peak", "at"), [
    ("sgd", True, 640, "step"),  # in place: weights 304 + x 32 + .grad 304
    # step 1: both moments of every parameter (608), then fc1.weight's sqrt and quotient 2 x 32 x 4 = 256
    ("adam", True, 640 + 608 + 256, "fc1.weight"),
    ("adam", False, 640 + 624 + 256, "fc1.weight"),  # the state (step tensors too) exists before the step
])
def test_optimizer_step(optimizer, first_step, peak, at):
    s = forward(step(training=True, optimizer=optimizer, first_step=first_step))
    s.end_forward()
    s.backward()
    s.optimizer_step()
    top = max(s.schedule.samples[8:], key=lambda x: x.live_bytes)
    assert (top.op, top.live_bytes) == (at, peak)


def test_recompute_reruns_the_region():
    g = four_nodes()
    plan = RecomputePlan((("relu", "fc2"),)).start(g.nodes)
    s = Step(g, evaluate(g, None, 2), training=True, first_step=True, plan=plan)
    s.run()
    assert samples(s) == [
        ("fc1", 400),
        ("relu", 464),
        ("fc2", 496),  # the checkpoint keeps the region's input fc1 (64): 304 + 32 + 64 + relu 64 + fc2 32
        ("add", 464),  # relu's output is not saved inside the region: 304 + 32 + fc1 64 + fc2 32 + add 32
        ("add", 404),  # 304 + 32 + fc1 64 + 4
        ("relu (recompute)", 468),  # the rerun makes relu's output again: 404 + 64
        ("fc2 (recompute)", 468),  # early stop: fc2 saves only its input, so its output is not recomputed
        ("fc2", 676),  # 468 + fc2's .grad 144 + relu's gradient 64
        ("relu", 736),  # 304 + 32 + fc1 64 + relu 64 + .grad 144 + relu's and fc1's gradients 2 x 64
        ("fc1", 704),  # as without checkpointing
        ("step", 640),
    ]
