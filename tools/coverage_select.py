"""Choose the timm and transformers models of the coverage suites, and regenerate their expected gaps.

Selection (slow, rarely rerun; writes ``tests/coverage/{timm,hf}_models.json``)::

    python tools/coverage_select.py --select timm   # one timm model per family (the name's first token)
    python tools/coverage_select.py --select hf     # every decoder / encoder / encoder-decoder / vision /
                                                    # audio base model of transformers' auto mappings

Regeneration (one command after any fix; writes ``tests/coverage/known_gaps.json`` and the timm /
transformers section of ``docs/coverage.md``, prints its wall time)::

    python tools/coverage_select.py --gaps [-j 2]

After a fix that touches a few models, rerun only those (their entries in ``known_gaps.json`` and their rows of
``docs/coverage.md`` are replaced, every other row is kept as the last full run wrote it; the page says which
rows a partial run updated)::

    python tools/coverage_select.py --gaps --only fsmt,qwen3_next,gemma4_vit_167m_enc

Rules of the selection (the lists are data; this script reproduces them with the installed versions):

- timm: family = the name's first ``_``-separated token (``convnext_atto`` -> ``convnext``); per family, the
  five likeliest small names (:data:`SMALL` matches: pico, nano, tiny ..., then the shortest) are built on the
  meta device with ``pretrained=False`` and the one with the fewest modules is kept (ties: the shorter, then
  the alphabetically first name). Input: the model's default
  ``pretrained_cfg["input_size"]``, batch 1. A family whose candidates all fail to build, or whose
  plain torch forward fails on the meta device and on the CPU, is listed under ``excluded`` with the error.
- transformers: each model type of ``MODEL_MAPPING_NAMES`` (its base model class) whose kind is found in the
  auto mappings (encoder-decoder: seq-to-seq or speech-seq-to-seq LM; audio: audio classification or
  CTC; vision: image classification; encoder: masked LM; decoder: causal LM), without sub-configs
  (multimodal composites are left out), built from ``AutoConfig.for_model(type, **overrides)``. The overrides
  are tried in order: layer counts 2 (one block per stage) + small widths + vocabulary 1024, the same
  without the vocabulary, layer counts only, integer layer counts only; the first whose plain torch
  forward runs (meta device, else the CPU, for at most 30 M parameters) is kept. Inputs:
  32 token ids (encoder-decoders: 32 + 32 decoder ids), ``pixel_values`` at the config's image size,
  one second of 16 kHz audio, or the log-mel frames the config expects. A model type in :data:`TRAIN_ONLY`
  (its backward runs only in training mode: Reformer's reversible layers assert ``model.train()``) is checked
  in training mode (``"mode": "train"``), with the overrides listed there added.

The device of each model is recorded: ``meta`` where the plain torch forward runs there, ``cpu`` otherwise
(then the small widths keep the CPU run short).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import coverage_harness as harness  # noqa: E402

#: Finished selections (one JSON line per family / model type): an interrupted --select resumes there.
CACHE = Path(tempfile.gettempdir()) / "dlperf-coverage-select"
SEQ = 32
TIMEOUT_S = 120
#: The largest model the selection runs on the CPU (where its forward cannot run on the meta device).
CPU_PARAMS = 30_000_000
#: Candidates built per timm family (the likeliest small ones by name, then the fewest modules).
TIMM_CANDIDATES = 5
SMALL = re.compile(r"pico|nano|femto|atto|tiny|xxs|xs|small|mini|micro|lite|light|b0|050|_s\d*$|_t$|18|26")
LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
              "num_encoder_layers", "num_decoder_layers")
WIDTHS = {"hidden_size": 64, "d_model": 64, "n_embd": 64, "intermediate_size": 128, "ffn_dim": 128,
          "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "d_ff": 128, "num_attention_heads": 4, "n_head": 4,
          "encoder_attention_heads": 4, "decoder_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
          "d_kv": 16, "rotary_dim": 8, "emb_dim": 64, "n_heads": 4, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 32}

#: Model types checked in training mode, with the config overrides training needs at SEQ tokens. Reformer:
#: its reversible layers' custom autograd.Function asserts training mode in the backward, and training mode
#: wants the axial position shape to multiply to the sequence (4 x 8 = 32) and SEQ a multiple of the
#: attention chunks (16); 2 hash buckets (the default None sets them from the sequence at run time).
TRAIN_ONLY = {"reformer": {"axial_pos_shape": [4, 8], "lsh_attn_chunk_length": 16, "local_attn_chunk_length": 16,
                           "num_buckets": 2}}


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Timeout(f"over {TIMEOUT_S} s")


def _guarded(fn: Any, arg: Any) -> Any:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        return fn(arg)
    except Exception as exc:
        return {"error": harness._one_line(exc)}
    finally:
        signal.alarm(0)


def _pool_map(fn: Any, items: list[Any], jobs: int, cache: Path | None = None,
              renew: int | None = None) -> list[Any]:
    """``[fn(i) for i in items]`` on ``jobs`` processes (each replaced after ``renew`` items, to bound memory);
    with ``cache``, finished items are kept there (one JSON line each) and not run again, so an interrupted
    selection resumes."""
    done: dict[str, Any] = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            k, v = json.loads(line)
            done[k] = v
    todo = [i for i in items if json.dumps(i) not in done]
    out = cache.open("a") if cache is not None else None
    pool = None
    try:
        if jobs <= 1:
            results = ((i, _guarded(fn, i)) for i in todo)
        else:
            ctx = multiprocessing.get_context("spawn")
            pool = ctx.Pool(jobs, initializer=_one_thread, maxtasksperchild=renew)
            results = pool.imap_unordered(_keyed, [(fn, i) for i in todo], chunksize=1)
        for n, (i, r) in enumerate(results, 1):
            done[json.dumps(i)] = r
            said = r.get("error") or "; ".join(r.get("failures", [])) or "ok"
            print(f"[{n}/{len(todo)}] {str(i)[:50]}: {said[:100]}", file=sys.stderr, flush=True)
            if out is not None:
                out.write(json.dumps([json.dumps(i), r]) + "\n")
                out.flush()
    finally:
        if pool is not None:
            pool.terminate()
        if out is not None:
            out.close()
    return [done[json.dumps(i)] for i in items]


def _keyed(job: tuple[Any, Any]) -> tuple[Any, Any]:
    fn, item = job
    return item, _guarded(fn, item)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _forward_device(entry: dict[str, Any]) -> str:
    """``meta`` if the plain torch forward runs on meta, ``cpu`` if only there; raises if neither."""
    try:
        model = harness.build(entry, "meta")
        out = (harness.floats(model(*harness.inputs(entry, "meta"))) or [None])[0]
        if out is None:
            raise ValueError("no floating-point output")
        return "meta"
    except _Timeout:
        raise
    except Exception:
        import torch

        params = sum(p.numel() for p in harness.build(entry, "meta").parameters())
        if params > CPU_PARAMS:
            raise ValueError(f"the forward fails on meta and {params:,} parameters are too many for the CPU") from None
        with torch.no_grad():
            model = harness.build(entry, "cpu")
            out = (harness.floats(model(*harness.inputs(entry, "cpu"))) or [None])[0]
        if out is None:
            raise ValueError("no floating-point output") from None
        return "cpu"


# --------------------------------------------------------------------------------------------------- timm


def _timm_size(name: str) -> dict[str, Any]:
    import timm
    import torch

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return {"name": name, "modules": sum(1 for _ in model.modules()),
            "input": list(model.pretrained_cfg["input_size"])}


def _timm_family_pick(names: list[str]) -> dict[str, Any]:
    sizes = []
    for n in sorted(names, key=lambda n: (SMALL.search(n) is None, len(n), n))[:TIMM_CANDIDATES]:
        try:
            sizes.append(_timm_size(n))
        except Exception:  # noqa: S112 - a name that does not build is simply not a candidate
            continue
    if not sizes:
        return {"error": f"no model of {names[0]}... builds on meta"}
    errors = []
    for best in sorted(sizes, key=lambda s: (s["modules"], len(s["name"]), s["name"])):
        entry = {"source": "timm", "name": best["name"], "family": harness.timm_family(best["name"]), "input": best["input"]}
        try:
            entry["device"] = _forward_device(entry)
            return entry
        except Exception as exc:
            errors.append(f"{best['name']}: {harness._one_line(exc)}")
        if len(errors) >= 2:
            break
    return {"error": "; ".join(errors)}


def select_timm(jobs: int) -> dict[str, Any]:
    import timm

    families: dict[str, list[str]] = {}
    for name in timm.list_models():
        families.setdefault(harness.timm_family(name), []).append(name)
    picks = _pool_map(_timm_family_pick, [families[f] for f in sorted(families)], jobs, CACHE / "timm.jsonl", 10)
    chosen = [p for p in picks if "error" not in p]
    excluded = {f: p["error"] for f, p in zip(sorted(families), picks, strict=True) if "error" in p}
    return {"timm": timm.__version__, "families": len(families), "models": chosen, "excluded": excluded}


# ------------------------------------------------------------------------------------------- transformers


def hf_kind(model_type: str) -> str | None:
    """The family kind of a model type from transformers' auto mappings (None: not one the suite covers)."""
    from transformers.models.auto import modeling_auto as auto

    for kind, maps in (("encoder-decoder", ("SEQ_TO_SEQ_CAUSAL_LM", "SPEECH_SEQ_2_SEQ")),
                       ("audio", ("AUDIO_CLASSIFICATION", "CTC")), ("vision", ("IMAGE_CLASSIFICATION",)),
                       ("encoder", ("MASKED_LM",)), ("decoder", ("CAUSAL_LM",))):
        if any(model_type in getattr(auto, f"MODEL_FOR_{m}_MAPPING_NAMES") for m in maps):
            return kind
    return None


def _hf_inputs(kind: str, main: str, cfg: Any) -> list[dict[str, Any]]:
    ids = {"shape": [SEQ], "dtype": "int64"}
    if main == "pixel_values":
        size = getattr(cfg, "image_size", 224)
        h, w = (size, size) if isinstance(size, int) else size
        out = [{"name": "pixel_values", "shape": [getattr(cfg, "num_channels", 3), h, w], "dtype": "float32"}]
    elif main == "input_values":
        out = [{"name": "input_values", "shape": [16000], "dtype": "float32"}]
    elif main == "input_features":
        if hasattr(cfg, "num_mel_bins") and hasattr(cfg, "max_source_positions"):  # whisper-like: mels x frames
            shape = [cfg.num_mel_bins, 2 * cfg.max_source_positions]
        else:  # speech_to_text-like: frames x features
            shape = [4 * SEQ, getattr(cfg, "input_feat_per_channel", 80) * getattr(cfg, "input_channels", 1)]
        out = [{"name": "input_features", "shape": shape, "dtype": "float32"}]
    else:
        out = [{"name": main, **ids}]
    if kind == "encoder-decoder":
        out.append({"name": "decoder_input_ids", **ids})
    return out


def _hf_pick(model_type: str) -> dict[str, Any]:
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto import modeling_auto as auto

    kind = hf_kind(model_type)
    cls_name = auto.MODEL_MAPPING_NAMES[model_type]
    cls_name = cls_name[0] if isinstance(cls_name, list | tuple) else cls_name
    if not hasattr(transformers, cls_name):
        return {"error": f"transformers has no class {cls_name}"}
    default = AutoConfig.for_model(model_type)
    if any(hasattr(v, "to_dict") for v in vars(default).values()):
        return {"error": "composite config (sub-configs): multimodal, left out"}
    fields = default.to_dict()
    layers = {k: 2 for k in LAYER_KEYS if isinstance(fields.get(k), int)}
    for k in ("depths", "depth"):  # stages of a hierarchical vision model: one block each
        if isinstance(fields.get(k), list) and all(isinstance(v, int) for v in fields[k]):
            layers[k] = [1] * len(fields[k])
    widths = {k: v for k, v in WIDTHS.items() if isinstance(fields.get(k), int)}
    if "max_source_positions" in fields and "num_mel_bins" in fields:
        widths["max_source_positions"] = 64
    tries = [{**layers, **widths, **({"vocab_size": 1024} if "vocab_size" in fields else {})},
             {**layers, **widths}, layers, {k: v for k, v in layers.items() if isinstance(v, int)}]
    errors = []
    for overrides in tries:
        overrides = {**overrides, **({"use_cache": False} if "use_cache" in fields else {}),
                     **TRAIN_ONLY.get(model_type, {})}
        try:
            cfg = AutoConfig.for_model(model_type, **overrides)
            main = getattr(transformers, cls_name).main_input_name
            entry = {"source": "hf", "name": model_type, "model_type": model_type, "class": cls_name,
                     "kind": kind, "config": overrides, "inputs": _hf_inputs(kind, main, cfg)}
            if model_type in TRAIN_ONLY:
                entry["mode"] = "train"
            entry["device"] = _forward_device(entry)
            return entry
        except _Timeout:
            raise
        except Exception as exc:
            errors.append(harness._one_line(exc))
    return {"error": errors[-1]}


def select_hf(jobs: int) -> dict[str, Any]:
    import transformers
    from transformers.models.auto import modeling_auto as auto

    types = sorted(t for t in auto.MODEL_MAPPING_NAMES if hf_kind(t) is not None)
    picks = _pool_map(_hf_pick, types, jobs, CACHE / "hf.jsonl", 10)
    chosen = [p for p in picks if "error" not in p]
    excluded = {t: p["error"] for t, p in zip(types, picks, strict=True) if "error" in p}
    return {"transformers": transformers.__version__, "candidates": len(types), "models": chosen,
            "excluded": excluded}


# -------------------------------------------------------------------------------------------- the gaps


def _check(entry: dict[str, Any]) -> dict[str, Any]:
    o = harness.check(entry)
    return {"name": o.name, "device": o.device, "failures": o.failures(), "params": o.params, "macs": o.macs,
            "backward_macs": o.backward_macs, "nodes": o.nodes, "seconds": round(o.seconds, 2),
            "source": entry["source"], "input": _input_text(entry)}


def _input_text(entry: dict[str, Any]) -> str:
    if entry["source"] == "timm":
        return "x".join(map(str, entry["input"]))
    return " + ".join(f"{i['name']} {'x'.join(map(str, i['shape']))}" for i in entry["inputs"])


def run_all(jobs: int, only: frozenset[str] | None = None) -> list[dict[str, Any]]:
    entries = [e for source in ("hf", "timm") for e in harness.load(source)
               if only is None or harness.key(e) in only]
    results = _pool_map(_check, entries, jobs)
    for e, r in zip(entries, results, strict=True):
        if "failures" not in r:  # the guard caught a timeout or a crash of the harness itself
            r.update(name=harness.key(e), device=e.get("device", "meta"), failures=[f"harness: {r.pop('error')}"],
                     params=None, macs=None, backward_macs=None, nodes=0, seconds=float(TIMEOUT_S),
                     source=e["source"], input=_input_text(e))
    return results


def write_gaps(results: list[dict[str, Any]]) -> None:
    from dlperf.fileio import write_atomic

    gaps = {s: {r["name"]: r["failures"] for r in sorted(results, key=lambda r: r["name"])
                if r["source"] == s and r["failures"]} for s in ("hf", "timm")}
    write_atomic(harness.GAPS, json.dumps(gaps, indent=1, sort_keys=True) + "\n")


MARK = "<!-- tools/coverage_select.py --gaps writes from here to the end -->"
PAGE = ROOT / "docs" / "coverage.md"
_TITLES = {"hf": "### transformers architectures", "timm": "### timm models"}
_WALL = re.compile(r"^Regenerated in (\d+) s wall\.$", re.M)


def _number(text: str) -> int | None:
    return None if text == "-" else int(text.replace(",", ""))


def page_results(page: str, gaps: dict[str, dict[str, list[str]]]) -> tuple[list[dict[str, Any]], float]:
    """The rows the last run wrote into ``page`` (as :func:`_check` returns them; the failures from ``gaps``,
    ``known_gaps.json``, which the page's status column abbreviates) and that run's wall time."""
    part = page.split(MARK, 1)[1] if MARK in page else ""
    results, source = [], None
    for line in part.splitlines():
        source = next((s for s, title in _TITLES.items() if line.startswith(title)), source)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if source is None or len(cells) != 9 or cells[0] in ("model", "---"):
            continue
        name, device, text, nodes, params, macs, back, seconds, _ = cells
        results.append({"name": name, "device": device, "failures": gaps.get(source, {}).get(name, []),
                        "params": _number(params), "macs": _number(macs), "backward_macs": _number(back),
                        "nodes": int(nodes), "seconds": float(seconds), "source": source, "input": text})
    wall = _WALL.search(part)
    return results, float(wall.group(1)) if wall else 0.0


def merge_results(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with the rows of ``new`` in place of theirs (a listed model the old page lacks is added)."""
    fresh = {(r["source"], r["name"]): r for r in new}
    kept = [fresh.pop((r["source"], r["name"]), r) for r in old]
    return kept + list(fresh.values())


def _cause(failure: str) -> str:
    """The kind of a failure line, for the summary (``unmodelled: gather``, ``backward``, ``trace: ...``)."""
    head = failure.split(":", 1)[0] if ":" in failure else failure.split(" ", 1)[0]
    return head


def render(results: list[dict[str, Any]], wall_s: float, versions: str, partial: str = "") -> str:
    lines = [MARK, "", "## timm and transformers models", "",
             "Generated by `python tools/coverage_select.py --gaps` (do not edit by hand) from the lists "
             "`tests/coverage/timm_models.json` and `tests/coverage/hf_models.json` (chosen by "
             "`tools/coverage_select.py --select`); `tests/test_archcalc_coverage_{timm,hf}.py` check every row, "
             "the failures listed here are `tests/coverage/known_gaps.json` (strict xfail).", "",
             f"- {versions}",
             "- each model, batch 1, eval mode: archcalc's `from_torch` trace against "
             "`FlopCounterMode` on the same module (forward, then `out.sum().backward()` of the first floating "
             "output; torch's grouped-conv weight-gradient count divided by groups, see "
             "`tests/coverage_harness.py`), on the meta device, or on the CPU at the small config listed "
             "where the plain torch forward cannot run on meta.",
             "- params: archcalc's parameters (= the model's unique parameters when the row passes); MACs and "
             "backward MACs: archcalc's (2 x MACs = FlopCounterMode FLOPs when the row passes).",
             "- time (s): build + trace + oracle, one thread on a shared 2-core machine; not a benchmark.", ""]
    for source, title in (("hf", "transformers architectures (small configs)"), ("timm", "timm models")):
        rows = [r for r in results if r["source"] == source]
        ok = sum(1 for r in rows if not r["failures"])
        causes: dict[str, int] = {}
        for r in rows:
            for c in sorted({_cause(f) for f in r["failures"]}):
                causes[c] = causes.get(c, 0) + 1
        total_s = sum(r["seconds"] for r in rows)
        lines += [f"### {title}", "",
                  f"**{len(rows)} models; {ok} pass (params, forward, backward, output shape, no unmodelled op); "
                  f"{len(rows) - ok} known gaps; {total_s:.0f} s in all.**", ""]
        if causes:
            lines += ["Failures by kind (a model can have several): "
                      + ", ".join(f"{c} {n}" for c, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))) + ".",
                      ""]
        lines += ["| model | device | input | nodes | params | MACs | backward MACs | time (s) | status |",
                  "|---|---|---|---:|---:|---:|---:|---:|---|"]
        for r in sorted(rows, key=lambda r: r["name"]):
            def num(v: Any) -> str:
                return "-" if v is None else f"{v:,}"

            status = "ok" if not r["failures"] else "; ".join(r["failures"]).replace("|", "/")
            lines.append(f"| {r['name']} | {r['device']} | {r['input']} | {r['nodes']} | {num(r['params'])} | "
                         f"{num(r['macs'])} | {num(r['backward_macs'])} | {r['seconds']:.2f} | {status} |")
        lines.append("")
    lines.append(f"Regenerated in {wall_s:.0f} s wall.")
    if partial:
        lines += ["", partial]
    return "\n".join(lines) + "\n"


def write_page(text: str) -> None:
    from dlperf.fileio import write_atomic

    old = PAGE.read_text() if PAGE.exists() else ""
    head = old.split(MARK, 1)[0].rstrip("\n")
    write_atomic(PAGE, (head + "\n\n" if head else "") + text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", choices=("timm", "hf"), help="choose the models anew and write the list")
    parser.add_argument("--gaps", action="store_true", help="run every listed model; write known_gaps.json and "
                                                            "the timm / transformers part of docs/coverage.md")
    parser.add_argument("--only", metavar="NAME,...", help="with --gaps: rerun only these models (timm names or "
                                                            "transformers model types) and replace only their "
                                                            "entries and rows")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)
    if not args.select and not args.gaps:
        parser.error("give --select timm, --select hf or --gaps")
    only = None
    if args.only is not None:
        if not args.gaps:
            parser.error("--only needs --gaps")
        only = frozenset(n.strip() for n in args.only.split(",") if n.strip())
        known = {harness.key(e) for source in ("hf", "timm") for e in harness.load(source)}
        unknown = sorted(only - known)
        if not only or unknown:
            parser.error(f"--only {args.only!r}: {', '.join(unknown) or 'no name'} is not in "
                         "tests/coverage/{hf,timm}_models.json; give listed model names separated by commas")
    from dlperf.fileio import write_atomic

    start = time.perf_counter()
    CACHE.mkdir(exist_ok=True)
    if args.select:
        data = select_timm(args.jobs) if args.select == "timm" else select_hf(args.jobs)
        write_atomic(harness.LISTS[args.select], json.dumps(data, indent=1) + "\n")
        print(f"{len(data['models'])} models chosen, {len(data['excluded'])} excluded; "
              f"wrote {harness.LISTS[args.select].relative_to(ROOT)}", file=sys.stderr)
    if args.gaps:
        import timm
        import torch
        import transformers

        results = run_all(args.jobs, only)
        wall = time.perf_counter() - start
        partial = ""
        if only is not None:  # the other rows as the last full run wrote them
            old, wall_full = page_results(PAGE.read_text() if PAGE.exists() else "",
                                          {s: harness.known_gaps(s) for s in ("hf", "timm")})
            partial = (f"Rows of {', '.join(sorted(only))} rerun with `--only` in {wall:.0f} s; the others as the "
                       "last full run wrote them.")
            results, wall = merge_results(old, results), wall_full
        write_gaps(results)
        versions = f"torch {torch.__version__}, timm {timm.__version__}, transformers {transformers.__version__}"
        write_page(render(results, wall, versions, partial))
        failing = sum(1 for r in results if r["failures"])
        print(f"{len(results)} models, {failing} known gaps; wrote {harness.GAPS.relative_to(ROOT)} and "
              f"{PAGE.relative_to(ROOT)}", file=sys.stderr)
    print(f"wall time {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
