"""Compute-time distributions, all parameterised by their mean, and per-learner random streams.

Each learner draws from its own generator (spawned from the seed), so learner i's j-th compute time is
the same number whatever order the simulator asks for it in: that is what lets the vectorised path and
the event engine be compared draw for draw. Draws are taken in chunks; numpy's generators give the same
values in chunks as in one call.

Examples
--------
>>> d = Distribution("shifted-exp", mean=2.0, shape=0.25)
>>> d.shift, d.sample(__import__("numpy").random.default_rng(0), 3).round(3).tolist()
(0.5, [1.52, 2.029, 0.53])
>>> Distribution("pareto", mean=1.0, shape=3.0).scale_xm
0.6666666666666666
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlperf.errors import ArgumentError
from staleness.config import DEFAULT_SHAPE, DISTS, SimConfig

__all__ = ["Distribution", "LearnerStreams", "TieKeys"]


@dataclass(frozen=True)
class Distribution:
    """A compute-time law with the given mean (seconds).

    ``constant``: X = mean. ``exp``: rate 1/mean. ``shifted-exp``: shift + Exp with shift = shape * mean.
    ``uniform``: on [mean (1 - shape), mean (1 + shape)]. ``lognormal``: log X ~ N(mu, shape^2) with
    mu = ln(mean) - shape^2 / 2. ``pareto``: type I with tail index alpha = shape and scale
    x_m = mean (alpha - 1) / alpha.
    """

    name: str
    mean: float = 1.0
    shape: float | None = None

    def __post_init__(self) -> None:
        if self.name not in DISTS:
            raise ArgumentError("dist", self.name, f"choose one of {', '.join(DISTS)}")
        if self.shape is None and self.name in DEFAULT_SHAPE:
            object.__setattr__(self, "shape", DEFAULT_SHAPE[self.name])

    @property
    def shift(self) -> float:
        """Shift delta of ``shifted-exp`` (0 for the others)."""
        return self.shape * self.mean if self.name == "shifted-exp" else 0.0

    @property
    def scale_xm(self) -> float:
        """Scale x_m of ``pareto``."""
        return self.mean * (self.shape - 1.0) / self.shape

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` compute times (float64 array)."""
        m, s = float(self.mean), self.shape
        if self.name == "constant":
            return np.full(n, m)
        if self.name == "exp":
            x = rng.standard_exponential(n)
            return x if m == 1.0 else x * m
        if self.name == "shifted-exp":
            return rng.standard_exponential(n) * (m - self.shift) + self.shift
        if self.name == "uniform":
            return rng.uniform(m * (1.0 - s), m * (1.0 + s), n)
        if self.name == "lognormal":
            return rng.lognormal(math.log(m) - s * s / 2.0, s, n)
        return (rng.pareto(s, n) + 1.0) * self.scale_xm  # pareto type I = (Lomax + 1) * x_m


@dataclass(frozen=True)
class SpawnedSeeds:
    """The children a caller's generator spawned for one run: ``generator(c)`` is child c as a fresh
    generator, drawing the same numbers every time it is built (so every pass of a run sees the same draws).

    ``rng.spawn(n)`` builds ``Generator(type(bit_generator)(seed_sequence_child))``; keeping the seed
    sequences rather than copying the generator works the same under every numpy that has ``spawn``
    (a ``copy.deepcopy`` of a Generator keeps its SeedSequence only from numpy 2.0 on).
    """

    bit_generator: type
    seeds: tuple

    def generator(self, c: int) -> np.random.Generator:
        return np.random.Generator(self.bit_generator(self.seeds[c]))


def spawn_seeds(rng: np.random.Generator, n: int) -> SpawnedSeeds:
    """Spawn ``n`` children of ``rng`` (its seed sequence moves on by ``n``, as ``rng.spawn(n)`` would).

    >>> a = spawn_seeds(np.random.default_rng(11), 4)
    >>> b = np.random.default_rng(11).spawn(4)
    >>> all(a.generator(c).random() == b[c].random() for c in range(4))
    True
    """
    seq = getattr(rng.bit_generator, "seed_seq", None) or getattr(rng.bit_generator, "_seed_seq", None)
    if not isinstance(seq, np.random.SeedSequence):
        raise ValueError(f"rng: got a generator without a SeedSequence ({type(seq).__name__}); "
                         "give np.random.default_rng(seed)")
    return SpawnedSeeds(type(rng.bit_generator), tuple(seq.spawn(n)))


class LearnerStreams:
    """Per-learner compute times and tie keys, drawn lazily in chunks from per-learner generators.

    ``time(i, j)`` is learner i's j-th compute time (None when its trace is used up); ``tie(i, j)`` its
    random tie key. The streams are spawned from ``SeedSequence(seed)``: children 0..P-1 draw compute
    times, children P..2P-1 draw tie keys.
    """

    CHUNK = 4096

    def __init__(self, cfg: SimConfig, rng: np.random.Generator | SpawnedSeeds | None = None) -> None:
        p = cfg.learners
        self.cfg = cfg
        self.traces = cfg.times
        self._root = None
        # child c of SeedSequence(seed).spawn(2P) is SeedSequence(seed, spawn_key=(c,)): build each generator
        # when first used (P = 10^5 learners would otherwise spend seconds spawning tie streams never drawn)
        self._seeds = spawn_seeds(rng, 2 * p) if isinstance(rng, np.random.Generator) else rng
        if self._seeds is None:
            self._root = int(cfg.seed)
        self._time_rngs, self._tie_rngs = [None] * p, [None] * p
        self.dist = None if cfg.times is not None else Distribution(cfg.dist, cfg.mean, cfg.shape)
        self._speed = [float(s) for s in cfg._speeds] if any(s != 1.0 for s in cfg._speeds) else None
        self._arrays: dict[int, np.ndarray] = {}  # compute times drawn so far (times_array), per learner
        self._lists: dict[int, list[float]] = {}  # the same as Python floats (time)
        self._list_base: dict[int, int] = {}  # index of _lists[i][0] (time drops what the engine has used)
        self._tie_arrays: dict[int, np.ndarray] = {}
        self._tie_lists: dict[int, list[float]] = {}
        self._tie_base: dict[int, int] = {}
        self._taken = [0] * p  # take_times: draws handed out so far, per learner

    def _rng(self, i: int, tie: bool) -> np.random.Generator:
        rngs = self._tie_rngs if tie else self._time_rngs
        r = rngs[i]
        if r is None:
            c = i + self.cfg.learners if tie else i
            if self._seeds is not None:
                r = rngs[i] = self._seeds.generator(c)
            else:
                r = rngs[i] = np.random.default_rng(np.random.SeedSequence(self._root, spawn_key=(c,)))
        return r

    def _sample(self, i: int, n: int) -> np.ndarray:
        x = self.dist.sample(self._rng(i, False), n)
        if self._speed is not None:
            x /= self._speed[i]
        return x

    def take_times(self, i: int, n: int) -> np.ndarray:
        """The next ``n`` compute times of learner i (fewer when its trace runs out), nothing kept.

        Learner i's draws come in order whatever the sizes asked for (numpy's generators give the same
        values in pieces as in one call), so a streaming run sees the same numbers as ``times_array``.
        """
        j = self._taken[i]
        if self.traces is not None:
            out = np.asarray(self.traces[i][j : j + n], dtype=np.float64)
        else:
            out = self._sample(i, n)
        self._taken[i] = j + len(out)
        return out

    def take_ties(self, i: int, n: int) -> np.ndarray:
        """The next ``n`` random tie keys of learner i (a stream of its own, separate from ``take_times``)."""
        return self._rng(i, True).random(n)

    def times_array(self, i: int, n: int) -> np.ndarray:
        """The first ``n`` compute times of learner i (fewer if its trace is shorter)."""
        if self.traces is not None:
            return np.asarray(self.traces[i][:n], dtype=np.float64)
        have = self._arrays.get(i, np.empty(0))
        if len(have) < n:
            more = max(n - len(have), self.CHUNK)
            have = np.concatenate([have, self._sample(i, more)])
            self._arrays[i] = have
        return have[:n]

    def ties_array(self, i: int, n: int) -> np.ndarray:
        """The first ``n`` random tie keys of learner i."""
        have = self._tie_arrays.get(i, np.empty(0))
        if len(have) < n:
            have = np.concatenate([have, self._rng(i, True).random(max(n - len(have), self.CHUNK))])
            self._tie_arrays[i] = have
        return have[:n]

    def _block(self) -> int:
        # Python floats kept per learner by the event engine: about 1 MB in all, at least 16 per learner
        return max(16, min(self.CHUNK, (1 << 17) // self.cfg.learners))

    def time(self, i: int, j: int) -> float | None:
        """Learner i's j-th compute time, or None when its trace has no j-th entry.

        ``j`` only grows per learner (the event engine asks in order), so only a block of draws is kept.
        """
        if self.traces is not None:
            trace = self.traces[i]
            return trace[j] if j < len(trace) else None
        have, base = self._lists.get(i), self._list_base.get(i, 0)
        if have is None or j - base >= len(have):
            assert have is None or j - base == len(have), "time() must be asked in order"
            base = j
            have = self._lists[i] = self._sample(i, self._block()).tolist()
            self._list_base[i] = base
        return have[j - base]

    def tie(self, i: int, j: int) -> float:
        """Learner i's j-th random tie key (asked in order, like :meth:`time`)."""
        have, base = self._tie_lists.get(i), self._tie_base.get(i, 0)
        if have is None or j - base >= len(have):
            assert have is None or j - base == len(have), "tie() must be asked in order"
            base = j
            have = self._tie_lists[i] = self._rng(i, True).random(self._block()).tolist()
            self._tie_base[i] = base
        return have[j - base]


class TieKeys:
    """Learner i's j-th random tie key, ``keys(i, j)``, read from :meth:`LearnerStreams.take_ties` 64 at a
    time; j only grows per learner, so the keys before it are dropped (the vectorised k-async and
    k-batch-sync paths)."""

    def __init__(self, streams: LearnerStreams, p: int) -> None:
        self.streams = streams
        self.ties: list[list[float]] = [[] for _ in range(p)]
        self.tie_base = [0] * p  # index of ties[i][0]

    def __call__(self, i: int, j: int) -> float:
        have, base = self.ties[i], self.tie_base[i]
        while j - base >= len(have):
            base += len(have)
            have = self.streams.take_ties(i, 64).tolist()
        self.ties[i], self.tie_base[i] = have, base
        return have[j - base]
