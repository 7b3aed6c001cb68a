"""Options shared by ``archcalc peak`` and ``archcalc fit``: the model, its input, the step, the precision."""

from __future__ import annotations

import argparse
from typing import Any


def positive_int(flag: str, what: str | None = None):
    """The argparse type of a count (``--batch``, ``--data-parallel`` ...): :class:`dlperf.cli.Number`."""
    from dlperf.cli import Number

    return Number(int, minimum=1, what=what)


class _OldSeqSwitch:
    def __repr__(self) -> str:
        return "--search-seq"


#: ``fit --seq`` given without a value: the old spelling of ``--search-seq`` (kept for one release). Not a
#: string, which argparse would pass through the length's type.
OLD_SEQ_SWITCH: Any = _OldSeqSwitch()


def _seq_length(hint: str = ""):
    return positive_int("--seq", "the sequence length, a positive integer" + hint)


def add_seq_option(parser: argparse.ArgumentParser, old_switch: bool = False) -> None:
    """``--seq L``: the sequence length of a transformer (the zoo's or hf:NAME), as in ``archcalc MODEL`` and
    ``time``; ``--input L`` says the same. With ``old_switch`` (``fit``), ``--seq`` without a value is still the
    old spelling of ``--search-seq`` for one release (:data:`OLD_SEQ_SWITCH`; :func:`resolve_seq` warns)."""
    extra = {"nargs": "?", "const": OLD_SEQ_SWITCH} if old_switch else {}
    hint = " (to search the length: --search-seq)" if old_switch else ""
    parser.add_argument("--seq", type=_seq_length(hint), metavar="L", **extra,
                        help="sequence length of a transformer (zoo or hf:NAME text model; as --input L)")


def resolve_seq(args: argparse.Namespace) -> None:
    """Make ``--seq L`` and ``--input L`` one request: check the length against the model (errors name the
    flag given) and leave it in ``args.input``; ``args.length_flag`` says which flag gave it."""
    seq, name = getattr(args, "seq", None), args.model
    if seq is OLD_SEQ_SWITCH:
        import sys

        print("warning: fit --seq without a length is the old spelling of --search-seq (one more release)",
              file=sys.stderr)
        seq = args.seq = None
        args.search_seq = True
    args.length_flag = "--seq" if seq is not None else "--input"
    if seq is not None and args.input is not None:
        raise ValueError(f"--seq: got {seq} with --input {args.input}; give the sequence length once: drop one")
    if seq is not None and getattr(args, "search_seq", False):
        raise ValueError(f"--seq: got {seq} with --search-seq, which searches the length; drop --seq (or "
                         "--search-seq to search the batch at that length)")
    from archcalc.models.zoo_transformers import CONFIGS, check_seq

    if name.startswith("hf:"):
        if seq is not None:  # refuses a length beyond its positions, and a model that takes no token ids
            from archcalc.frontends import hf

            hf.hf_inputs(hf.hf_model(name[3:], _hf_options(args)["trust_remote_code"]), seq=seq,
                         decoder_seq=getattr(args, "decoder_seq", None))
    elif name in CONFIGS:
        length = seq
        if seq is None and args.input is not None:
            from archcalc.models.resolve import parse_input_shape

            shape = parse_input_shape(args.input)
            length = shape[-1] if len(shape) == 1 else None
        if length is not None:
            check_seq(CONFIGS[name], length, "seq" if seq is not None else "input_shape")
    elif seq is not None:
        raise ValueError(f"--seq: only for transformers ({', '.join(CONFIGS)}, or hf:NAME text models); "
                         f"{name} takes --input")
    if seq is not None:
        args.input = str(seq)


def add_step_options(parser: argparse.ArgumentParser) -> None:
    from archcalc.memory.optimizers import OPTIMIZERS
    from archcalc.memory.precision import DEVICES, PRECISIONS, precision_help

    parser.add_argument("model", help="zoo name (archcalc list), torchvision:NAME, timm:NAME or hf:NAME_OR_PATH (traced)")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape, or a sequence length L for token "
                        "ids (default: the model's own)")
    parser.add_argument("--input-dtype", metavar="DTYPE", help="FILE.py:NAME: dtype of its traced input "
                        "(default float32; int64 for token ids)")
    parser.add_argument("--decoder-seq", type=positive_int("--decoder-seq"), metavar="L",
                        help="decoder tokens of an hf: encoder-decoder (default min(L, its decoder positions))")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="hf:NAME: let a config's auto_map run the repository's own Python code")
    parser.add_argument("--training", action="store_true",
                        help="a training step N >= 2 (optimizer state alive throughout): zero_grad, "
                             "loss = model(x).sum(), backward, optimizer step")
    parser.add_argument("--first-step", action="store_true",
                        help="with --training: the first step instead, whose optimizer creates its state in step()")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer of the training step (default sgd)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", metavar="PRECISION",
                        help=precision_help() + " (default fp32)")
    parser.add_argument("--device", choices=device_names(), default="cpu", metavar="NAME",
                        help=f"the device modelled, whose autocast op lists apply: {' or '.join(DEVICES)}, or a device "
                             "profile of archcalc time that runs as one (h100, mi300x ...; archcalc time --device list) "
                             "(default cpu)")
    parser.add_argument("--checkpoint", type=positive_int("--checkpoint"), default=1, metavar="SEGMENTS",
                        help="train with checkpoint_sequential(features or the whole nn.Sequential, SEGMENTS, x); "
                             "VGG, AlexNet and nn.Sequential models only (default 1: none)")
    parser.add_argument("--data-parallel", type=positive_int("--data-parallel"), default=1, metavar="N",
                        help="data-parallel ranks: the batch is per device, the peak is one device's (default 1)")
    parser.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0,
                        help="ZeRO stage sharding model states over --data-parallel ranks (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys in docs/memory.md)")


def device_names() -> tuple[str, ...]:
    """What ``--device`` takes in ``peak`` / ``fit``: a torch device type whose autocast lists archcalc models
    (``cpu``, ``cuda``) or a built-in device profile that runs as one (``h100``, ``mi300x`` ...: the names
    ``archcalc time --device`` takes; the TPUs run as ``xla``, whose lists are not modelled)."""
    from archcalc.memory.precision import DEVICES
    from archcalc.time.profiles import builtin_profiles

    return DEVICES + tuple(key for key, p in builtin_profiles().items() if p.torch_device in DEVICES)


def autocast_device(name: str) -> str:
    """The torch device type of a ``--device`` name (:func:`device_names`): itself, or its profile's."""
    from archcalc.memory.precision import DEVICES

    if name in DEVICES:
        return name
    from archcalc.time.profiles import get_profile

    return get_profile(name).torch_device


def is_model_file(name: str) -> bool:
    from archcalc.frontends.model_file import is_model_file as check

    return check(name)


def _hf_options(args: Any) -> dict[str, Any]:
    return {"decoder_seq": getattr(args, "decoder_seq", None),
            "trust_remote_code": getattr(args, "trust_remote_code", False)}


def graph_factory(name: str, args: Any = None):
    """``graph_at(batch, per_sample_shape)``: a zoo graph as is, a torchvision, timm or hf: model traced at that
    shape (``args``: the parsed ``--decoder-seq`` / ``--trust-remote-code`` of an hf: model)."""
    from archcalc.models.resolve import resolve_model

    options = _hf_options(args) if name.startswith("hf:") else {}
    # a training step runs the model in training mode: its dropouts (and the attention kernel they select)
    # are in the step's memory, so a traced model is traced that way (eval mode without --training)
    mode = {"training": bool(getattr(args, "training", False))}
    if not name.startswith("hf:"):
        for flag, value in zip(("--decoder-seq", "--trust-remote-code"), _hf_options(args).values(), strict=True):
            if value not in (None, False):
                raise ValueError(f"{flag}: only for hf:NAME models; drop it for {name}")
    if name.startswith(("hf:", "timm:")):
        default_input(name, args)  # one line for an unknown name or a bad config before any search
        return lambda batch, shape: resolve_model(name, [tuple(shape)], batch, **options, **mode)
    if name.startswith("torchvision:"):
        from archcalc.frontends.torch_trace import from_torchvision

        resolve_model(name)  # one line for an unknown torchvision name before any search
        return lambda batch, shape: from_torchvision(name.partition(":")[2], tuple(shape), batch, **mode)
    dtype = getattr(args, "input_dtype", None)
    if is_model_file(name):  # a user's module, traced at each shape the search tries (as torchvision's)
        dtypes = (dtype,) if dtype is not None else ()
        return lambda batch, shape: resolve_model(name, [tuple(shape)], batch, dtypes, **mode)
    if dtype is not None:
        raise ValueError(f"--input-dtype: only for FILE.py:NAME models; {name} has its own input types")
    graph = resolve_model(name)

    def graph_at(batch: int, shape: tuple[int, ...]) -> Any:
        check_length(name, shape)
        return graph

    return graph_at


def default_input(name: str, args: Any = None) -> tuple[int, ...]:
    """The model's own per-sample input (a traced model's without tracing it)."""
    if name.startswith("hf:"):
        from archcalc.frontends import hf

        return hf.default_input(hf.hf_model(name[3:], _hf_options(args)["trust_remote_code"]))
    if name.startswith("timm:"):
        from archcalc.frontends.timm_models import timm_input_size

        return timm_input_size(name[5:])
    if name.startswith("torchvision:"):
        return (3, 224, 224)
    if is_model_file(name):  # no input of its own: --input gives it
        if args is None or getattr(args, "input", None) is None:
            raise ValueError(f"--input: {name} is traced at a given input; give its per-sample shape, e.g. "
                             "--input 3x224x224")
        from archcalc.models.resolve import parse_input_shape

        return parse_input_shape(args.input)
    return tuple(graph_factory(name, args)(1, (1,)).default_input)


def sequence_limit(name: str, args: Any = None) -> int | None:
    """The positions a zoo transformer's learned table holds (``None``: any length, or not a sequence model);
    an hf: model's positions from its config."""
    from archcalc.models.zoo_transformers import CONFIGS

    if name.startswith("hf:"):
        from archcalc.frontends import hf

        return hf.sequence_limit(hf.hf_model(name[3:], _hf_options(args)["trust_remote_code"]))

    cfg = CONFIGS.get(name)
    return None if cfg is None else cfg.context


def check_length(name: str, shape: tuple[int, ...]) -> None:
    """Refuse a sequence longer than a zoo transformer's position table, as ``--seq`` is (the graph would
    evaluate, but no such model runs): :func:`~archcalc.models.zoo_transformers.check_seq` (:func:`resolve_seq`
    checked the length given, naming its flag; this guards every length a search tries)."""
    from archcalc.models.zoo_transformers import CONFIGS, check_seq

    cfg = CONFIGS.get(name)
    if cfg is not None and shape:
        check_seq(cfg, shape[-1])  # resolve_seq checked the length the user gave; this guards the search


def step_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.optimizer is not None and not args.training:
        raise ValueError(f"--optimizer: got {args.optimizer!r} without --training; add --training or drop --optimizer")
    if args.zero and args.data_parallel == 1:
        raise ValueError(f"--zero: got {args.zero} without --data-parallel; ZeRO shards over ranks: add "
                         "--data-parallel N (N >= 2) or drop --zero")
    if getattr(args, "first_step", False) and not args.training:
        raise ValueError("--first-step: given without --training; it chooses which training step: add --training "
                         "or drop --first-step")
    if args.checkpoint != 1 and not args.training:
        raise ValueError(f"--checkpoint: got {args.checkpoint} without --training; checkpointing changes only a "
                         "training step: add --training or drop --checkpoint")
    return {"training": args.training, "optimizer": args.optimizer or "sgd", "precision": args.precision,
            "device": autocast_device(args.device), "checkpoint_segments": args.checkpoint, "data_parallel": args.data_parallel,
            "zero": args.zero, "first_step": bool(getattr(args, "first_step", False))}


def input_shape(args: argparse.Namespace, graph: Any) -> tuple[int, ...]:
    from archcalc.models.resolve import parse_input_shape

    return parse_input_shape(args.input) if args.input is not None else tuple(graph.default_input)
