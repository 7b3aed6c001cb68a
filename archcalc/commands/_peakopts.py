"""Options shared by ``archcalc peak`` and ``archcalc fit``: the model, its input, the step, the precision."""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["add_step_options", "graph_factory", "step_kwargs", "positive_int", "flagged"]

_FLAGS = {"batch": "--batch", "optimizer": "--optimizer", "precision": "--precision", "device": "--device",
          "memory": "--memory", "size": "--memory", "seq": "--seq"}


def flagged(exc: ValueError) -> ValueError:
    """The library's message with parameter names (``batch=0``) spoken as flags (``--batch 0``)."""
    pattern = r"\b(" + "|".join(_FLAGS) + r")=('?)([^\s;,']*)\2"
    return ValueError(re.sub(pattern, lambda m: f"{_FLAGS[m.group(1)]} {m.group(3)}", str(exc)))


def positive_int(flag: str):
    def convert(text: str) -> int:
        if not re.fullmatch(r"\s*[0-9]+\s*", text) or int(text) < 1:
            raise argparse.ArgumentTypeError(f"got {text!r}; give a positive integer")
        return int(text)
    convert.__name__ = flag
    return convert


def add_step_options(parser: argparse.ArgumentParser) -> None:
    from archcalc.memory.precision import DEVICES, PRECISIONS
    from archcalc.memory.states import OPTIMIZERS

    parser.add_argument("model", help="zoo name (archcalc list) or torchvision:NAME (traced)")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape (default: the model's own)")
    parser.add_argument("--training", action="store_true",
                        help="one training step: zero_grad, loss = model(x).sum(), backward, optimizer step")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer of the training step (default sgd)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32, fp16, bf16 (model converted) or fp16-mixed, bf16-mixed (torch.autocast)")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="whose autocast op lists apply (default cpu)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys in docs/memory.md)")


def graph_factory(name: str):
    """``graph_at(batch, per_sample_shape)``: a zoo graph as is, a torchvision model traced at that shape."""
    from archcalc.report import resolve_model

    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        resolve_model(name)  # one line for an unknown torchvision name before any search
        return lambda batch, shape: from_torchvision(name.partition(":")[2], tuple(shape), batch)
    graph = resolve_model(name)
    return lambda batch, shape: graph


def step_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.optimizer is not None and not args.training:
        raise ValueError(f"--optimizer: got {args.optimizer!r} without --training; add --training or drop --optimizer")
    return {"training": args.training, "optimizer": args.optimizer or "sgd", "precision": args.precision,
            "device": args.device}


def input_shape(args: argparse.Namespace, graph: Any) -> tuple[int, ...]:
    from archcalc.report import parse_input_shape

    return parse_input_shape(args.input) if args.input is not None else tuple(graph.default_input)
