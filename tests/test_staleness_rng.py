"""A caller's generator (``simulate(..., rng=...)``): every pass of a run draws the same numbers, on any numpy
with ``Generator.spawn`` (issue 20 item 7: numpy 1.26's deepcopy of a Generator lost its SeedSequence, and
the counting pass of a streamed ``until`` run then drew other numbers than the run: a shape error)."""

import copy

import numpy as np
import pytest

from staleness import SimConfig, simulate


@pytest.mark.parametrize("kw", [{}, {"policy": "ssp", "bound": 2}, {"policy": "k-async", "k": 2},
                                {"policy": "k-sync", "k": 3}])
def test_streamed_until_run_equals_the_kept_one_and_the_event_engine(kw, monkeypatch):
    def no_deepcopy(*_a, **_k):  # the run must not depend on copying the generator
        raise AssertionError("copy.deepcopy called")

    monkeypatch.setattr(copy, "deepcopy", no_deepcopy)
    cfg = SimConfig(learners=4, until=80.0, seed=1, **kw)
    streamed = simulate(cfg, rng=np.random.default_rng(11), stream=True)
    kept = simulate(cfg, rng=np.random.default_rng(11))
    event = simulate(cfg, rng=np.random.default_rng(11), engine="event")
    assert streamed.summary == kept.summary == event.summary and streamed.summary.updates > 50


def test_the_callers_generator_moves_on_by_one_spawn_per_run():
    # as rng.spawn(2P) would: the children are those of the generator's seed sequence, spawned once
    rng, twin = np.random.default_rng(11), np.random.default_rng(11)
    simulate(SimConfig(learners=3, updates=50), rng=rng, stream=True)
    twin.spawn(6)
    assert rng.bit_generator.seed_seq.n_children_spawned == 6
    assert rng.spawn(1)[0].random() == twin.spawn(1)[0].random()


def test_a_generator_is_required():
    with pytest.raises(ValueError, match=r"^rng: got 'int'; give a numpy.random.Generator"):
        simulate(SimConfig(learners=2, updates=5), rng=11)
