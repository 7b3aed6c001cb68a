"""Any torch model: derive archcalc's layer description from a real ``nn.Module`` with torch.fx.

:func:`from_torch` traces the module symbolically, propagates shapes on the meta device and turns the
graph into a :class:`~archcalc.graph.Network`: a chain of layers where a tensor used by several layers
opens parallel branches, closed by ``torch.cat`` (Concat) or an addition (Add, residual connections,
identity shortcuts included). Conv2d (grouped and depthwise too), Linear, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, BatchNorm2d, ReLU, ReLU6, Dropout, Flatten and their functional forms are modelled;
every other op becomes an ``Unmodeled`` row that keeps its traced output shape, counts 0 and is listed in
the network's notes, never dropped. Row names are the module names (functional ops: the enclosing
module's name and the op, e.g. ``conv1.relu``).

Examples
--------
>>> import torch.nn as nn
>>> net = from_torch(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.ReLU6(), nn.Flatten(),
...                                nn.Linear(8 * 4 * 4, 2)), (3, 4, 4))
>>> [(layer.name, layer.kind) for layer in net.layers()]
[('0', 'Conv2d'), ('1', 'ReLU6'), ('2', 'Flatten'), ('3', 'Linear')]
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

from archcalc.graph import Layer, Network, Node, layer, parallel, seq

__all__ = ["from_torch", "from_torchvision", "unmodeled_layers"]


def unmodeled_layers(network: Network) -> list[Layer]:
    """The layers of ``network`` archcalc has no formula for (kind ``Unmodeled``)."""
    return [lay for lay in network.layers() if lay.kind == "Unmodeled"]


def _module_layer(mod: Any) -> tuple[str, dict[str, Any]] | None:
    """(kind, hparams) of a module archcalc models, or None."""
    from torch import nn

    if type(mod) is nn.Conv2d:
        padding = mod.padding if isinstance(mod.padding, str) else tuple(mod.padding)
        return "Conv2d", dict(out_channels=mod.out_channels, kernel_size=tuple(mod.kernel_size), stride=tuple(mod.stride),
                              padding=padding, dilation=tuple(mod.dilation), groups=mod.groups, bias=mod.bias is not None)
    if type(mod) is nn.Linear:
        return "Linear", dict(out_features=mod.out_features, bias=mod.bias is not None)
    if type(mod) is nn.MaxPool2d and not mod.return_indices:
        return "MaxPool2d", dict(kernel_size=mod.kernel_size, stride=mod.stride, padding=mod.padding,
                                 dilation=mod.dilation, ceil_mode=mod.ceil_mode)
    if type(mod) is nn.AvgPool2d:
        return "AvgPool2d", dict(kernel_size=mod.kernel_size, stride=mod.stride, padding=mod.padding,
                                 ceil_mode=mod.ceil_mode)
    if type(mod) is nn.AdaptiveAvgPool2d:
        size = mod.output_size
        return "AdaptiveAvgPool2d", dict(output_size=tuple(size) if isinstance(size, tuple | list) else size)
    if type(mod) is nn.BatchNorm2d:
        return "BatchNorm2d", dict(affine=mod.affine)
    if type(mod) is nn.ReLU:
        return "ReLU", dict(inplace=mod.inplace)
    if type(mod) is nn.ReLU6:
        return "ReLU6", dict(inplace=mod.inplace)
    if type(mod) is nn.Dropout:
        return "Dropout", dict(p=mod.p, inplace=mod.inplace)
    if type(mod) is nn.Flatten and mod.start_dim == 1 and mod.end_dim == -1:
        return "Flatten", {}
    return None


def _function_layer(node: Any) -> tuple[str, dict[str, Any]] | None:
    import torch
    import torch.nn.functional as F  # noqa: N812

    fn, args, kwargs = node.target, node.args, node.kwargs
    if fn in (F.relu, torch.relu, torch.relu_):
        return "ReLU", dict(inplace=bool(kwargs.get("inplace", fn is torch.relu_)))
    if fn is F.relu6:
        return "ReLU6", dict(inplace=bool(kwargs.get("inplace", False)))
    if fn is torch.flatten and (args[1:] or [kwargs.get("start_dim", 0)])[0] == 1:
        return "Flatten", {}
    if fn is F.adaptive_avg_pool2d:
        return "AdaptiveAvgPool2d", dict(output_size=args[1] if len(args) > 1 else kwargs["output_size"])
    if fn is F.dropout:
        return "Dropout", dict(p=kwargs.get("p", args[1] if len(args) > 1 else 0.5))
    return None


class _Converter:
    def __init__(self, gm: Any) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.names: Counter[str] = Counter()
        self.unmodeled: list[str] = []

    # -- node classification
    @staticmethod
    def is_tensor(node: Any) -> bool:
        from torch.fx.passes.shape_prop import TensorMetadata

        return isinstance(node.meta.get("tensor_meta"), TensorMetadata)

    def tensor_inputs(self, node: Any) -> list[Any]:
        return [n for n in node.all_input_nodes if self.is_tensor(n)]

    def users(self, node: Any) -> list[Any]:
        return [u for u in node.users if u.op != "output" and self.is_tensor(u)]

    def is_identity(self, node: Any) -> bool:
        """An ``nn.Identity`` call: it computes nothing and returns its input, so it gets no row."""
        from torch import nn

        return node.op == "call_module" and type(self.modules[node.target]) is nn.Identity

    def is_merge(self, node: Any) -> bool:
        return len(self.tensor_inputs(node)) > 1

    def shape(self, node: Any) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape[1:])

    # -- naming
    def unique(self, base: str) -> str:
        self.names[base] += 1
        return base if self.names[base] == 1 else f"{base}:{self.names[base]}"

    def scope(self, node: Any) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        return path if isinstance(path, str) else ""

    # -- conversion
    def to_layer(self, node: Any) -> Layer:
        import torch

        found: tuple[str, dict[str, Any]] | None = None
        module: str | None = None
        if node.op == "call_module":
            module = node.target
            found = _module_layer(self.modules[node.target])
            base = node.target
            desc = type(self.modules[node.target]).__name__
        else:
            name = getattr(node.target, "__name__", str(node.target))
            base = f"{self.scope(node)}.{name}".lstrip(".")
            desc = f"{node.op} {name}"
            if node.op == "call_function":
                found = _function_layer(node)
                if node.target is torch.cat and self._cat_dim(node) == 1:
                    found = ("Concat", {})
                if node.target in (operator.add, operator.iadd, torch.add) and self.is_merge(node) and len(
                        {self.shape(n) for n in self.tensor_inputs(node)}) == 1:
                    found = ("Add", {"inplace": node.target is operator.iadd})
            elif node.op == "call_method" and node.target in ("view", "reshape", "flatten") and len(self.shape(node)) == 1:
                found = ("Flatten", {})
        if found is None:
            self.unmodeled.append(f"{base} ({desc})")
            found = ("Unmodeled", dict(op=desc, traced_inputs=tuple(self.shape(n) for n in self.tensor_inputs(node)),
                                       output_shape=self.shape(node)))
        kind, hparams = found
        return layer(self.unique(base), kind, module=module, **hparams)

    def _cat_dim(self, node: Any) -> int:
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        rank = len(node.meta["tensor_meta"].shape)
        return dim % rank

    def chain(self, cur: Any, first: Any = None) -> tuple[list[Node], Any, Any]:
        """Layers after ``cur`` (starting with ``first`` if given) up to a merge needing other inputs."""
        items: list[Node] = []
        if first is not None:
            if not self.is_identity(first):
                items.append(self.to_layer(first))
            cur = first
        while True:
            users = self.users(cur)
            if not users:
                return items, cur, None
            if len(users) == 1:
                nxt = users[0]
                if self.is_merge(nxt):
                    return items, cur, nxt
                if not self.is_identity(nxt):
                    items.append(self.to_layer(nxt))
                cur = nxt
                continue
            branches = []
            for u in users:
                branches.append(([], cur, u) if self.is_merge(u) else self.chain(cur, u))
            merges = {m for _, _, m in branches}
            if len(merges) != 1 or None in merges:
                raise ValueError(f"from_torch: the branches after {cur.name} do not meet in one cat / add; "
                                 "archcalc describes series-parallel networks only")
            (merge,) = merges
            order = self.tensor_inputs(merge)
            if sorted(order, key=id) != sorted((end for _, end, _ in branches), key=id):
                raise ValueError(f"from_torch: {merge.name} also takes tensors from outside the branches at {cur.name}; "
                                 "archcalc describes series-parallel networks only")
            branches.sort(key=lambda b: order.index(b[1]))
            merge_layer = self.to_layer(merge)
            items.append(parallel(f"{merge_layer.name}.block",
                                  [seq(f"{merge_layer.name}.branch{i}", b[0]) for i, b in enumerate(branches)], merge_layer))
            cur = merge


def from_torch(module: Any, input_shape: tuple[int, int, int], name: str | None = None,
               twin: str | None = None) -> Network:
    """Derive the layer description of ``module`` for per-sample inputs ``input_shape`` ``(C, H, W)``.

    Parameters
    ----------
    module : torch.nn.Module
        Any module torch.fx can trace; it is not modified (a meta-device copy is traced).
    input_shape : tuple of int
        ``(C, H, W)``; shapes of ops archcalc does not model are recorded for this input.
    name : str, optional
        Network name (default: the module's class name).
    twin : str, optional
        Recorded as the network's ``twin`` (e.g. ``"torchvision:mobilenet_v2"``) so it can be cross-checked.

    Returns
    -------
    Network
        Its notes list the ops archcalc does not model (rows of kind ``Unmodeled``, counted as 0).

    Raises
    ------
    ValueError
        When the module cannot be traced or its graph is not series-parallel.
    """
    import copy

    import torch
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ValueError(f"input_shape: got {input_shape!r}; give (C, H, W) positive integers")
    meta = copy.deepcopy(module).to("meta").eval()
    try:
        gm = fx.symbolic_trace(meta)
    except Exception as exc:  # torch.fx raises many types; one line for the user
        raise ValueError(f"from_torch: torch.fx cannot trace {type(module).__name__}: {str(exc).splitlines()[0]}") from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ValueError(f"from_torch: {type(module).__name__}.forward takes {len(placeholders)} inputs; "
                         "archcalc describes modules with one image input")
    (placeholder,) = placeholders
    try:
        ShapeProp(gm).propagate(torch.zeros((1, *shape), device="meta"))
    except Exception as exc:  # shape errors of any kind: one line naming the input
        raise ValueError(f"input_shape: {type(module).__name__} fails on {'x'.join(map(str, shape))}: "
                         f"{str(exc).splitlines()[0]}") from None
    conv = _Converter(gm)
    items, _, merge = conv.chain(placeholder)
    if merge is not None:
        raise ValueError(f"from_torch: {merge.name} merges tensors that do not branch from one point")
    notes = (f"derived from {type(module).__name__} by torch.fx at input {'x'.join(map(str, shape))}",)
    if conv.unmodeled:
        notes += (f"not modeled (counted 0, shape as traced): {', '.join(conv.unmodeled)}",)
    return Network(name or type(module).__name__, f"{type(module).__name__} traced by torch.fx", shape,
                   seq("", items), twin=twin, notes=notes)


def from_torchvision(name: str, input_shape: tuple[int, int, int] = (3, 224, 224)) -> Network:
    """:func:`from_torch` on ``torchvision.models.NAME(weights=None)`` (built on the meta device).

    Examples
    --------
    >>> net = from_torchvision("mobilenet_v2")
    >>> sum(1 for lay in net.layers() if lay.kind == "ReLU6"), len(unmodeled_layers(net))
    (35, 0)
    """
    from archcalc.crosscheck import build_twin

    module = build_twin(f"torchvision:{name}", tuple(input_shape), "meta")
    return from_torch(module, input_shape, name=f"torchvision:{name}", twin=f"torchvision:{name}")
