"""``archcalc crosscheck MODEL [--input CxHxW] [--batch N] [--saved] [--json | --markdown]``.

archcalc beside fvcore, torch's FLOP counter and the real model's shapes (and, with ``--saved``, the bytes
autograd saves). Exit status 0 when everything agrees, 1 on any mismatch, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from dlperf.jsonio import json_text


def register(subparsers) -> None:
    from archcalc.commands._peakopts import positive_int

    parser = subparsers.add_parser(
        "crosscheck",
        help="compare every layer with the real torch model (fvcore, torch's FLOP counter, shapes); exit 1 on mismatch",
        description="Build the real model (weights=None) and compare per layer: output shapes (forward hooks), "
        "parameters and FlopCountAnalysis / ActivationCountAnalysis (fvcore), FlopCounterMode forward and "
        "backward FLOPs (torch). Exit status 1 on any mismatch.",
    )
    parser.add_argument("model", metavar="MODEL",
                        help="zoo model with a torch twin (vgg11..vgg19_bn, alexnet, googlenet, resnet18/34/50, "
                        "inception-small), torchvision:NAME, timm:NAME or hf:NAME_OR_PATH (one input)")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape (default: the model's own)")
    parser.add_argument("--batch", type=int, default=None, metavar="N", help="batch size (default 1)")
    parser.add_argument("--saved", action="store_true",
                        help="also compare the bytes saved for backward with what autograd keeps (a real train-mode "
                        "forward pass on the CPU at this input, batch >= 2)")
    parser.add_argument("--time", action="store_true",
                        help="instead: predicted vs measured forward time per op and end to end on this CPU "
                        "(archcalc.time.measure; calibrate a profile first with `archcalc calibrate`)")
    parser.add_argument("--device", default=None, metavar="NAME",
                        help="with --time: the profile to predict with (default: calibrate on the spot, --quick)")
    parser.add_argument("--device-file", metavar="FILE", help="with --time: the profile file (archcalc calibrate's)")
    parser.add_argument("--threads", type=positive_int("--threads"), default=1, metavar="N", help="with --time: torch threads (default 1)")
    parser.add_argument("--repeats", type=positive_int("--repeats"), default=20, metavar="N",
                        help="with --time: timed runs; the fastest counts (default 20)")
    parser.add_argument("--all", action="store_true",
                        help="the table lists every row (default: the mismatching rows and the total)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of the table")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    parser.set_defaults(func=run)


def _say_how_long(network, shape, batch: int) -> None:
    """One stderr line before a real run of a minute or more (a lower bound; over an hour is refused)."""
    from archcalc.check.crosscheck import check_real_run_memory, check_real_run_time
    from archcalc.ir.evaluate import evaluate

    if network.twin is None:
        return  # crosscheck refuses it in one line
    ev = evaluate(network, tuple(network.default_input if shape is None else shape), batch)
    check_real_run_memory(ev)  # a refusal is the only line
    seconds = check_real_run_time(ev)
    if seconds >= 60:
        sys.stderr.write(f"crosscheck: the real forward passes take at least {seconds / 60:,.0f} min on this CPU\n")


def run(args: argparse.Namespace) -> int:
    from archcalc.check.crosscheck import STEPS, crosscheck
    from archcalc.check.crosscheck_render import footer, header, to_json, to_markdown, to_table
    from archcalc.models.resolve import parse_input_shape, resolve_model
    from dlperf.progress import progress

    if args.time:
        return _run_time(args)
    for flag, given in (("--device", args.device), ("--device-file", args.device_file)):
        if given is not None:
            raise ValueError(f"{flag}: only with --time; add --time")
    shape = parse_input_shape(args.input) if args.input is not None else None
    batch_given = args.batch is not None
    args.batch = 1 if args.batch is None else args.batch
    network = resolve_model(args.model, [shape] if shape else None, args.batch)
    if network.twin is None and args.model.startswith("hf:"):
        raise ValueError(f"model: {args.model} takes {len(network.inputs)} inputs; crosscheck compares models with "
                         "one input (a decoder or encoder, a vision model): use `archcalc {args.model}` for its report")
    _say_how_long(network, shape, args.batch)
    with progress(len(STEPS), f"crosscheck {network.name}") as bar:  # stderr, on a terminal only
        result = crosscheck(network, shape, args.batch, on_step=lambda name: bar.advance(label=name))
    saved = None
    if args.saved:
        from archcalc.check.crosscheck_render import saved_json, saved_line
        from archcalc.check.saved import check_saved

        saved = check_saved(network, shape, max(2, args.batch))
    if args.json:
        data = to_json(result)
        if saved is not None:
            data["saved"] = saved_json(saved)
        sys.stdout.write(json_text(data, indent=2) + "\n")
    elif args.markdown:
        head = header(result, input_given=args.input is not None, batch_given=batch_given)
        sys.stdout.write(head.replace("\n", "  \n") + "\n\n" + to_markdown(result))
        if saved is not None:
            sys.stdout.write("\n" + saved_line(saved) + "\n")
    else:
        from dlperf.tables import output_console

        console, width = output_console()  # a terminal's width; a file or a pipe every column
        head = header(result, input_given=args.input is not None, batch_given=batch_given, width=min(width or 110, 110))
        console.print(head, highlight=False)
        console.print(to_table(result, width=width, every_row=args.all))
        console.print(footer(result), highlight=False)
        if saved is not None:
            console.print(saved_line(saved), highlight=False)
    return 0 if result.ok and (saved is None or saved.ok) else 1



def _run_time(args: argparse.Namespace) -> int:
    """``--time``: predicted vs measured forward time (archcalc.time.measure); exit 0 (a comparison, no
    pass / fail: the errors are the answer)."""
    from archcalc.models.builders import build_twin
    from archcalc.models.resolve import parse_input_shape, resolve_model

    if args.saved:
        raise ValueError("--saved: not with --time; run them separately")
    if args.device_file is not None and args.device is None:
        raise ValueError("--device-file: give --device NAME too (the profile's name in the file)")
    shape = parse_input_shape(args.input) if args.input is not None else None
    batch = 1 if args.batch is None else args.batch
    network = resolve_model(args.model, [shape] if shape else None, batch)
    if network.twin is None or len(getattr(network, "inputs", ()) or ()) > 1:
        raise ValueError(f"model: {args.model} has no torch twin with one input to time; give a zoo model with "
                         "one, torchvision:NAME or timm:NAME")
    shape = tuple(network.default_input if shape is None else shape)
    from archcalc.ir.evaluate import evaluate

    ev = evaluate(network, shape, batch)
    if args.device is not None:
        from archcalc.time.profiles import get_profile

        profile = get_profile(args.device, args.device_file)
    else:
        from archcalc.time.calibrate import calibrate
        from archcalc.time.profiles import profile_from_mapping

        profile = profile_from_mapping("cpu-calibrated", calibrate(threads=args.threads, quick=True).profile,
                                       "archcalc calibrate --quick (on the spot)")
    import torch

    from archcalc.time.measure import time_check_module, time_lines

    module = build_twin(network.twin, shape, "cpu")
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    check = time_check_module(module, (x,), ev, profile, threads=args.threads, repeats=args.repeats,
                              model=args.model)
    if args.json:
        sys.stdout.write(json_text({
            "model": check.model, "profile": check.profile, "threads": check.threads, "repeats": check.repeats,
            "statistic": "minimum", "ops": [{"name": o.name, "kind": o.kind, "family": o.family,
                                             "predicted_s": o.predicted_s, "measured_s": o.measured_s,
                                             "error": o.error} for o in check.ops],
            "unmatched_rows": check.unmatched_rows, "median_error": check.median_error,
            "end_to_end": {"predicted_s": check.predicted_s, "measured_s": check.measured_s, "error": check.error},
        }, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(time_lines(check)) + "\n")
    return 0
