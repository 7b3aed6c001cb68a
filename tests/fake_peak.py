"""A peak-memory oracle that needs no memory: torch's own kernels on fake tensors, storages followed by weakrefs.

``peak_profiler.py`` reads the CPU allocator's events in a real run, so it can only run what fits in this
machine's memory. This oracle runs the same training loop (``peak_tracker._train_step``: forward, ``sum``,
``backward``, ``opt.step``) on ``torch._subclasses.fake_tensor.FakeTensorMode`` tensors: every op runs
torch's own shape logic (meta kernels and decompositions) and returns tensors with real sizes, dtypes and
storages but no data, so a batch needing 24 GiB runs in a few hundred MB of RAM. Over it sits a
``TorchDispatchMode`` that sees every ATen op that reaches the dispatcher below autograd (forward ops,
every op inside the backward's nodes, the optimizer's ops): it registers each output's storage once (a
``weakref`` whose callback fires when the last tensor on that storage dies, which is when the real
allocator would free it) and keeps the running sum of live storage bytes. ``torch.distributed._tools.
mem_tracker.MemTracker`` does the same (and documents running under ``FakeTensorMode``); this module is
the minimal form of it with the real oracle's sample points, so the two can be compared byte for byte.

Sample points, as ``peak_profiler.measure_steps_storage``'s ``peak_bytes``: after each ATen op of the
forward pass and the optimizer step, and after each autograd node of the backward pass (node post-hooks,
which run before the node's saved tensors are released; ops inside a node are not sampled on their own, as
the profiler oracle samples only a node's outermost record). The Python numbers torch wraps into 0-d
tensors for a Tensor parameter (``a / 3.0``: float64, 8 bytes) are allocated by the real allocator; they
arrive at a dispatch mode unwrapped, as Python numbers, and are counted for the op that takes them (and,
when autograd saves one, from the new node's ``_saved_*`` attributes, read by a ``TorchFunctionMode`` after
each call, until the node is released).

One correction for the observer: under any Python dispatch mode autograd's engine sums two gradients of one
input out of place (``InputBuffer::accumulate`` adds in place only when it holds the only reference, and
the mode's Python wrappers hold one), where the real run adds in place (ResNet-50: 16 sums per step, all
``aten::add_`` in the profiler; under the mode one gradient more is alive during each sum). The
ledger books every such sum (an ``add`` outside every node during ``backward``) as in place. Where the real
engine itself adds out of place (the first gradient still held elsewhere when the second arrives), the
ledger is short by that gradient during the sum; ResNet-50 and the tests' residual net have no such case.
``torch.distributed._tools.mem_tracker.MemTracker`` makes neither correction and samples inside backward
nodes op by op (``benchmarks/bench_fit_fake.py --memtracker`` puts it beside this ledger).

What it does not see, and the real allocator does: scratch space a kernel allocates and frees inside one
op (oneDNN's workspaces, a ``contiguous`` copy inside a CPU kernel; the profiler oracle's ``peak_bytes``
does not see it either, its ``peak_any_bytes`` does), storages a real kernel allocates that its meta kernel
does not (none found on ResNet-50; the comparison test would show them), and any allocator behaviour:
these are exact tensor storage bytes, no malloc headers, no page rounding, no CUDA caching-allocator
rounding to 512 B, no fragmentation. A CUDA run would also differ in kernels (cuDNN's workspaces,
``foreach``/fused Adam by default on CUDA, which this CPU loop does not select). Nothing here imports
archcalc.
"""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass

__all__ = ["FakeStep", "fake_steps", "StorageLedger"]


@dataclass(frozen=True)
class FakeStep:
    """One step's peak in storage bytes: ``before_bytes`` (parameters, buffers, input, optimizer state) plus
    the largest live sum after it; ``peak_where`` names the op or autograd node sampled there;
    ``engine_sums`` counts the engine's gradient sums booked in place (module docstring)."""

    peak_bytes: int
    peak_where: str
    before_bytes: int
    samples: int
    engine_sums: int


def _storage(t):
    return t.untyped_storage()


class StorageLedger:
    """Live storage bytes above a starting point, kept by weakrefs on the storages that ops return.

    Examples
    --------
    >>> import torch
    >>> from torch._subclasses.fake_tensor import FakeTensorMode
    >>> with FakeTensorMode():
    ...     a = torch.ones(1000)
    ...     with StorageLedger.tracking() as ledger:
    ...         b = a * 2  # 4,000 bytes + the 2 wrapped in an int64 0-d tensor (8) at the sample after mul
    ...         c = b.sum()  # 4,000 + 4
    ...         del b
    >>> ledger.peak, ledger.live  # only c's 4 bytes are left
    (4008, 4)
    """

    def __init__(self, known=()) -> None:
        self.live = 0
        self.peak = 0
        self.where = ""
        self.samples = 0
        self._refs: dict[int, weakref.ref] = {}
        self._known = {id(_storage(t)) for t in known}
        self._in_node = 0
        self.in_backward = False
        self.engine_sums = 0
        self._nodes: set[int] = set()  # the graph keeps its nodes alive through the forward pass: ids are unique

    @classmethod
    def tracking(cls, known=()):
        """A context manager: the ledger with its dispatch mode entered."""
        return _Tracking(cls(known))

    def add(self, t) -> None:
        """Count ``t``'s storage once, until the last tensor on it dies."""
        st = _storage(t)
        key = id(st)
        if key in self._refs or key in self._known:
            return
        nbytes = st.nbytes()

        def freed(_ref, key=key, nbytes=nbytes):
            self.live -= nbytes
            del self._refs[key]

        self._refs[key] = weakref.ref(st, freed)
        self.live += nbytes

    def saved(self, out) -> None:
        """After each torch function: a Python number wrapped into a 0-d tensor that autograd saved (``h * 3.0``
        saves the 3.0 in ``MulBackward0``) lives as long as the node; it passes no dispatch mode and no pack
        hook (autograd skips them for wrapped numbers), so it is found in the new node's ``_saved_*``."""
        import torch
        from torch._subclasses.fake_tensor import FakeTensor
        from torch.utils._pytree import tree_leaves

        for t in tree_leaves(out):
            node = t.grad_fn if isinstance(t, torch.Tensor) else None
            if node is None or id(node) in self._nodes:
                continue
            self._nodes.add(id(node))
            for name in dir(node):
                v = getattr(node, name) if name.startswith("_saved_") else None
                if isinstance(v, torch.Tensor) and not isinstance(v, FakeTensor) and v.dim() == 0:
                    self.add(v)

    def sample(self, where: str) -> None:
        self.samples += 1
        if self.live > self.peak:
            self.peak, self.where = self.live, where

    def hook_graph(self, root) -> None:
        """Sample after each autograd node of ``root``'s graph instead of after each op inside it."""
        seen, todo = set(), [root]
        while todo:
            fn = todo.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            name = type(fn).__name__
            fn.register_prehook(lambda go: self._enter())
            fn.register_hook(lambda gi, go, name=name: self._leave(f"backward {name}"))
            todo.extend(f for f, _ in fn.next_functions)

    def _enter(self) -> None:
        self._in_node += 1

    def _leave(self, where: str) -> None:
        self._in_node -= 1
        self.sample(where)

    def on_op(self, func, args, kwargs, out) -> None:
        import torch
        from torch.utils._pytree import tree_leaves

        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.add(t)
        if not self._in_node:
            # an add outside every node during backward is the engine summing two gradients of one input:
            # the real engine adds in place when it holds the only reference to the first (ResNet-50: all 16
            # per step), but under any dispatch mode it adds out of place (the mode wraps every tensor in
            # a Python object, which holds a reference); book it as the in-place sum
            extra = _wrapped_scalar_bytes(func, args, kwargs)
            if self.in_backward and func is torch.ops.aten.add.Tensor:
                extra -= _storage(out).nbytes()
                self.engine_sums += 1
            self.live += extra
            self.sample(str(func))
            self.live -= extra


def _wrapped_scalar_bytes(func, args, kwargs) -> int:
    """Bytes of the 0-d tensors torch wraps Python numbers into for a Tensor parameter (``a / 3.0``): the real
    allocator holds them through the op; the dispatch mode receives them unwrapped, as Python numbers."""
    total = 0
    for i, arg in enumerate(func._schema.arguments):
        value = args[i] if i < len(args) else kwargs.get(arg.name)
        if str(arg.type) == "Tensor" and isinstance(value, (bool, int, float, complex)):
            total += 1 if isinstance(value, bool) else 16 if isinstance(value, complex) else 8
    return total


class _Tracking:
    def __init__(self, ledger: StorageLedger) -> None:
        import torch
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if torch.is_grad_enabled():
                    ledger.saved(out)
                return out

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                ledger.on_op(func, args, kwargs or {}, out)
                return out

        self.ledger = ledger
        self.modes = (_Functions(), _Mode())

    def __enter__(self) -> StorageLedger:
        for mode in self.modes:
            mode.__enter__()
        return self.ledger

    def __exit__(self, *exc) -> None:
        for mode in reversed(self.modes):
            mode.__exit__(*exc)


def _state_tensors(opt) -> list:
    import torch

    return [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def _bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        st = _storage(t)
        if id(st) not in seen:
            seen.add(id(st))
            total += st.nbytes()
    return total


def fake_steps(make_model, input_shape: tuple[int, ...], optimizer: str = "adam", steps: int = 3,
               dtype=None, fake: bool = True) -> tuple[FakeStep, ...]:
    """Each step's peak storage bytes over ``steps`` steps of ``optimizer``, on fake tensors.

    ``make_model()`` builds the module (inside the fake mode, so its parameters are fake from the start);
    ``input_shape`` includes the batch. The loop is ``peak_tracker``'s: ``opt.zero_grad(set_to_none=True)``,
    then ``model(x).sum().backward()`` and ``opt.step()`` (``peak_tracker.make_optimizer``'s optimizers:
    single-tensor, as torch picks on the CPU). ``before_bytes`` counts the storages alive before each step
    (parameters, buffers, input, optimizer state), as ``peak_profiler.measure_steps_storage`` does.
    ``fake=False`` runs the same ledger on real tensors (a check of the ledger alone).

    Examples
    --------
    >>> import torch
    >>> first, second, third = fake_steps(lambda: torch.nn.Linear(100, 50), (8, 100), "adam")
    >>> # step 3: 23,400 + moments 2 x 20,200 + two step counts 8 = 63,808 before it; the peak at the weight's
    >>> # Adam update: + gradients 20,200 + loss 4 + sqrt 20,000 + its quotient 20,000 + the wrapped float 8
    >>> third.before_bytes, third.peak_bytes
    (63808, 124020)
    """
    import contextlib

    import torch
    from peak_tracker import make_optimizer
    from torch._subclasses.fake_tensor import FakeTensorMode

    out = []
    with FakeTensorMode() if fake else contextlib.nullcontext():
        model = make_model()
        model.train(True)
        x = torch.randn(*input_shape, dtype=dtype)
        opt = make_optimizer(model, optimizer)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            gc.collect()
            held = [*model.parameters(), *model.buffers(), x, *_state_tensors(opt)]
            before = _bytes(held)
            with StorageLedger.tracking(known=held) as ledger:
                _step(model, opt, x, ledger)
            del held
            out.append(FakeStep(peak_bytes=before + ledger.peak, peak_where=ledger.where, before_bytes=before,
                                samples=ledger.samples, engine_sums=ledger.engine_sums))
    return tuple(out)


def _step(model, opt, x, ledger: StorageLedger) -> None:
    loss = model(x).sum()
    ledger.hook_graph(loss.grad_fn)
    ledger.in_backward = True
    loss.backward()
    ledger.in_backward = False
    opt.step()
    ledger.sample("end")
