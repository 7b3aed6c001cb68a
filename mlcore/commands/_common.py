"""Options and output handling shared by the training-experiment commands (not a command itself)."""

from __future__ import annotations

import argparse
import sys

from dlperf.cli import hidden_alias
from dlperf.tables import print_table
from mlcore.images import DATASETS
from mlcore.training import DEVICES


def add_common(parser: argparse.ArgumentParser, *, epochs: int | None, batch_size: int | None = 64,
               dataset: bool = True, user_inputs: bool = False) -> None:
    """--dataset/--root/--download/--subset, --epochs, --batch, --device, --seed, --json, --plot;
    with ``user_inputs`` also --data, --model and --amp."""
    if dataset:
        parser.add_argument("--dataset", default=None, choices=DATASETS,
                            help="digits (offline, scikit-learn) or fashion-mnist (torchvision; default: digits)")
    if dataset and user_inputs:
        parser.add_argument("--data", metavar="PATH", default=None,
                            help="your data instead: a .npz file (arrays x, y, optionally x_val, y_val) or an "
                            "image folder (PATH/CLASS/*.png)")
        parser.add_argument("--model", metavar="FILE.py:NAME", default=None,
                            help="your model instead of the small Inception: an nn.Module, or a class / "
                            "function building one with no arguments, named NAME in FILE.py")
        parser.add_argument("--amp", choices=("bf16", "fp16"), default=None,
                            help="mixed precision (torch.autocast); bf16 also runs on the CPU (default: off)")
    if dataset:
        parser.add_argument("--root", default="data", help="folder holding FashionMNIST/raw/ (default: data)")
        parser.add_argument("--download", action="store_true", help="let torchvision download FashionMNIST")
        parser.add_argument("--subset", type=int, default=None, help="use only N images in total (train + val)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training data (default: {epochs})")
    if batch_size is not None:
        parser.add_argument("--batch", dest="batch_size", type=int, default=batch_size,
                            help=f"mini-batch size (default: {batch_size})")
        hidden_alias(parser, "--batch-size", "--batch")  # the old spelling, kept for one release
    parser.add_argument("--device", default="auto", choices=DEVICES, help="auto picks CUDA when present (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 for digits, "
                        "robust on a busy machine; 2 is ~1.5x faster on an idle one; else torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data split, initialisation and batches (default: 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", metavar="FILE", default=None, help="save a plot to FILE (format by extension: .png, .pdf or .svg)")


def check_before_loading(args: argparse.Namespace) -> None:
    """The options of :func:`load_data` and :func:`load_model` that need no data, checked before anything loads
    (scikit-learn, torch and torchvision take seconds to import): a bad value costs no more than the start-up."""
    from mlcore.images import check_root, check_subset
    from mlcore.training import check_seed

    check_seed(args.seed)
    if getattr(args, "threads", None) is not None:
        from dlperf.validate import check_threads

        check_threads("--threads", args.threads)
    check_subset(getattr(args, "subset", None))
    if getattr(args, "data", None) is None and getattr(args, "dataset", None) == "fashion-mnist":
        check_root(args.root, args.download)
    # --model is FILE.py:NAME where add_common declared it beside --data (user_inputs); staleness train's own
    # --model is a choice of network
    if "data" in vars(args) and getattr(args, "model", None) is not None:
        from mlcore.user_inputs import check_model_spec

        check_model_spec(args.model)


def load_data(args: argparse.Namespace):
    """The data of --data, else of --dataset (default digits); checks the options first
    (:func:`check_before_loading`)."""
    from mlcore.images import load_images

    check_before_loading(args)
    if getattr(args, "data", None) is not None:
        if args.dataset is not None or args.subset is not None:
            flag = "--dataset" if args.dataset is not None else "--subset"
            raise ValueError(f"{flag}: applies to the built-in data sets, not to --data {args.data}; drop one")
        from mlcore.user_inputs import load_data_path

        set_threads(args, "user")
        return load_data_path(args.data, seed=args.seed)
    dataset = args.dataset or "digits"
    set_threads(args, dataset)
    return load_images(dataset, root=args.root, download=args.download, subset=args.subset, seed=args.seed)


def load_model(args: argparse.Namespace, data=None):
    """The --model module, or None for the built-in small Inception; with ``data``, tried once on it up
    front and guarded (:func:`mlcore.user_inputs.check_model`), so any failure of the user's code is one line."""
    if getattr(args, "model", None) is None:
        return None
    from mlcore.user_inputs import check_model, load_model_spec

    model = load_model_spec(args.model)
    return model if data is None else check_model(model, data)


def set_threads(args: argparse.Namespace, dataset: str) -> None:
    """Apply --threads (default 1 for digits)."""
    threads = args.threads if args.threads is not None else (1 if dataset == "digits" else None)
    if threads is not None:
        from dlperf.validate import check_threads

        check_threads("--threads", threads)
        import torch

        torch.set_num_threads(threads)


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bar only on a terminal and never while JSON goes to stdout."""
    return sys.stderr.isatty() and not args.json


def emit(args: argparse.Namespace, table, json_text: str, plot) -> None:
    """Print the table or the JSON, and save the plot when asked."""
    if args.json:
        sys.stdout.write(json_text + "\n")
    else:
        print_table(table, min_width=120)
    if args.plot:
        plot(args.plot)
        wrote(args.plot)


def wrote(path) -> None:
    """Say on stderr which file was written, as every command does."""
    print(f"wrote {path}", file=sys.stderr)
