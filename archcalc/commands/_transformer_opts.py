"""Transformer options of ``archcalc MODEL``: ``--seq``, the sizes of ``gpt`` / ``llama``, ``--per-token``,
``--kv-cache`` and ``--symbolic-config``.

Private helper of the report command (a leading underscore keeps it out of command discovery):
:func:`add_transformer_options` declares the flags, :func:`run_transformer` handles a transformer model
(returning the exit status) or returns ``None`` for any other model, after refusing transformer flags
on it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

#: ``(flag, attribute, help)`` of the size options.
SIZE_FLAGS = (
    ("--layers", "layers", "transformer blocks (gpt, llama)"),
    ("--hidden", "hidden", "model width d (gpt, llama)"),
    ("--heads", "heads", "attention heads; must divide --hidden (gpt, llama)"),
    ("--ffn", "ffn", "feed-forward width (gpt, llama)"),
    ("--vocab", "vocab", "vocabulary size (gpt, llama)"),
    ("--kv-heads", "kv_heads", "key/value heads of grouped-query attention; must divide --heads (llama)"),
)


def add_transformer_options(parser: argparse.ArgumentParser) -> None:
    """Add the transformer group to the report parser."""
    group = parser.add_argument_group("transformers (gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt, bert-base, "
                                      "bert-large, llama)")
    group.add_argument("--seq", type=int, metavar="L", help="sequence length (default: the model's context; "
                       "hf:NAME min(2048, its positions))")
    group.add_argument("--decoder-seq", type=int, metavar="L", help="decoder tokens of an hf: encoder-decoder "
                       "(default min(--seq, its decoder positions); Whisper 448)")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="hf:NAME: let a config's auto_map run the repository's own Python code")
    for flag, dest, text in SIZE_FLAGS:
        group.add_argument(flag, dest=dest, type=int, metavar="N", help=text)
    group.add_argument("--per-token", action="store_true",
                       help="exact forward / training MACs and FLOPs per token beside Kaplan's and Hoffmann's formulas")
    group.add_argument("--kv-cache", action="store_true",
                       help="KV cache bytes per dtype and the prefill / decode split of MACs and bytes moved")
    group.add_argument("--symbolic-config", action="store_true",
                       help="with --symbolic: closed forms in the config sizes too (n, H, k, f, V ...)")


def _given(args: argparse.Namespace) -> list[str]:
    flags = [f for f, d, _ in SIZE_FLAGS if getattr(args, d, None) is not None]
    flags += [f for f, d in (("--seq", "seq"), ("--per-token", "per_token"), ("--kv-cache", "kv_cache"),
                             ("--symbolic-config", "symbolic_config")) if getattr(args, d, None) not in (None, False)]
    return flags


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~archcalc.zoo_transformers.TransformerConfig` of ``args.model`` with the size flags applied."""
    from archcalc.zoo_transformers import CONFIGS, with_sizes

    return with_sizes(CONFIGS[args.model.lower()], **{d: getattr(args, d, None) for _, d, _ in SIZE_FLAGS})


def _write(text: str, args: argparse.Namespace) -> int:
    from dlperf.fileio import write_or_print

    if args.output is None and args.format != "json":  # a terminal: long lines break at spaces to fit its width
        from dlperf.tables import fit_text, terminal_width

        text = fit_text(text, terminal_width())
    write_or_print(text, args.output)
    return 0


def _per_token_and_kv_cache(cfg: Any, seq: int, args: argparse.Namespace) -> int:
    """``--per-token`` and / or ``--kv-cache``: text (both, one after the other) or one JSON object (their
    keys together; ``model``, ``seq`` and ``batch`` are shared). Other formats are refused, not ignored."""
    from archcalc.lm import render

    chosen = " and ".join(f for f, on in (("--per-token", args.per_token), ("--kv-cache", args.kv_cache)) if on)
    if args.symbolic:
        raise ValueError(f"--symbolic: {chosen} gives exact counts at one size; drop --symbolic or {chosen}")
    if args.format not in ("table", "json"):
        raise ValueError(f"--{args.format}: {chosen} prints text or --json; drop --{args.format}")
    texts, doc = [], {}
    if args.per_token:
        from archcalc.lm.per_token import per_token

        pt = per_token(cfg, seq, args.batch)
        texts.append(render.per_token_text(pt))
        doc.update(render.per_token_json(pt))
    if args.kv_cache:
        from archcalc.lm.inference import kv_cache, prefill_decode

        kv, pd = kv_cache(cfg, seq, args.batch), prefill_decode(cfg, seq, args.batch, args.dtype)
        texts.append(render.inference_text(kv, pd))
        doc.update(render.inference_json(kv, pd))
    return _write(json.dumps(doc, indent=2) + "\n" if args.format == "json" else "\n".join(texts), args)


def run_transformer(args: argparse.Namespace) -> int | None:
    """Handle ``args`` if the model is a transformer (return the exit status); else ``None``."""
    from archcalc.zoo_transformers import CONFIGS

    if args.model.startswith("hf:"):  # sequence flags go to archcalc.frontends.hf; the zoo's size flags do not apply
        given = [f for f in _given(args) if f != "--seq"]
        if given:
            raise ValueError(f"{given[0]}: only for the zoo's transformers ({', '.join(CONFIGS)}); {args.model} takes "
                             "its sizes from its config (--seq, --decoder-seq, --batch)")
        return None
    if args.model.lower() not in CONFIGS:
        given = _given(args)
        if given:
            raise ValueError(f"{given[0]}: only for transformer models ({', '.join(CONFIGS)}); "
                             f"{args.model} takes --input CxHxW")
        return None
    for flag, value in (("--decoder-seq", args.decoder_seq), ("--trust-remote-code", args.trust_remote_code)):
        if value not in (None, False):
            raise ValueError(f"{flag}: only for hf:NAME models; {args.model} is a zoo transformer")
    if args.input is not None:
        raise ValueError(f"--input: {args.model} takes token ids; give the sequence length with --seq L")
    if args.symbolic_config and not args.symbolic:
        raise ValueError("--symbolic-config: add --symbolic (closed forms) or drop --symbolic-config")
    cfg = config_from_args(args)
    from archcalc.zoo_transformers import build_transformer

    network = build_transformer(cfg, args.seq)  # validates --seq and the sizes
    seq = network.default_input[0]
    from archcalc.lm import render

    if args.per_token or args.kv_cache:
        return _per_token_and_kv_cache(cfg, seq, args)
    if args.symbolic:
        if args.format not in ("table", "json"):
            raise ValueError(f"--{args.format}: {args.model} --symbolic prints text or --json; drop --{args.format}")
        from archcalc.lm.closed import closed_form_sequence

        cf = closed_form_sequence(cfg, config=args.symbolic_config)
        at = {"B": args.batch, "L": seq}
        return _write(json.dumps(render.closed_json(cf, cfg, at), indent=2) + "\n" if args.format == "json"
                      else render.closed_text(cf, cfg, at), args)
    from archcalc.commands.report import emit, report_from_args

    return emit(report_from_args(network, args), args)
