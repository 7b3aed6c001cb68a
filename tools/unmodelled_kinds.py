"""Which torch calls come out ``Unmodeled`` when archcalc traces a sample of timm and Hugging Face models.

Usage (from the repository root)::

    PYTHONPATH=$PWD python tools/unmodelled_kinds.py [--timm N] [--hf] [--json OUT]

Prints one line per model (unmodelled calls by name, or the error) and the totals by op name. The timm
sample is the first model of each of N families (``timm.list_models()`` sorted, family = the name up to
the first ``_`` or digit run), built with ``pretrained=False`` and traced at the model's default input
size, batch 1, on the meta device. The Hugging Face sample is built from small configs written here.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from typing import Any

#: Families chosen for the ops they use (attention with relative positions, folding, windowing ...).
TIMM_SAMPLE = (
    "volo_d1_224", "tnt_s_patch16_224", "halonet26t", "botnet26t_256", "lambda_resnet26t", "swin_tiny_patch4_window7_224",
    "swinv2_cr_tiny_224", "maxvit_tiny_tf_224", "coatnet_0_rw_224", "levit_128s", "hiera_tiny_224", "xcit_nano_12_p16_224",
    "cait_xxs24_224", "crossvit_tiny_240", "beit_base_patch16_224", "convit_tiny", "pit_ti_224", "efficientformer_l1",
    "mobilevit_xxs", "poolformer_s12", "twins_svt_small", "visformer_tiny", "nest_tiny", "sequencer2d_s", "gcvit_xxtiny",
    "davit_tiny", "edgenext_xx_small", "eva02_tiny_patch14_224", "focalnet_tiny_srf", "mvitv2_tiny", "nfnet_f0",
    "resnest14d", "tresnet_m", "efficientvit_b0", "fastvit_t8", "tiny_vit_5m_224", "pvt_v2_b0", "coat_lite_tiny",
    "vit_relpos_small_patch16_224", "nextvit_small", "mambaout_femto", "rdnet_tiny", "gmlp_ti16_224",
    "resmlp_12_224", "convmixer_768_32", "inception_next_tiny", "vitamin_small_224", "deit3_small_patch16_224",
    "regnetz_b16", "ghostnetv2_100", "sebotnet33ts_256", "eca_halonext26ts", "cs3darknet_focus_s", "vgg11",
)


def _timm_models(names: tuple[str, ...]) -> list[tuple[str, Any]]:
    import timm

    out = []
    for name in names:
        def build(name=name):
            import torch

            with torch.device("meta"):
                m = timm.create_model(name, pretrained=False)
            cfg = m.pretrained_cfg.get("input_size", (3, 224, 224))
            return m, [tuple(cfg)], ()
        out.append((f"timm:{name}", build))
    return out


def _first_of_each_family() -> list[str]:
    """The first name (sorted) of each timm family: the name up to its first ``_`` or digit."""
    import timm

    seen: dict[str, str] = {}
    for name in sorted(timm.list_models()):
        seen.setdefault(re.split(r"[_\d]", name)[0], name)
    return list(seen.values())


def _hf_models() -> list[tuple[str, Any]]:
    import transformers as tr

    small = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=1000)
    text = [
        ("bloom", lambda: tr.BloomForCausalLM(tr.BloomConfig(n_layer=2, hidden_size=64, n_head=4, vocab_size=1000,
                                                                            use_cache=False))),
        ("mamba", lambda: tr.MambaForCausalLM(tr.MambaConfig(num_hidden_layers=2, hidden_size=64, vocab_size=1000,
                                                             state_size=8, use_cache=False))),
        ("fnet", lambda: tr.FNetModel(tr.FNetConfig(**small))),
        ("bert", lambda: tr.BertModel(tr.BertConfig(**small))),
        ("gpt2", lambda: tr.GPT2LMHeadModel(tr.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000,
                                                                        use_cache=False))),
        ("t5", lambda: tr.T5EncoderModel(tr.T5Config(num_layers=2, d_model=64, num_heads=4, d_ff=128, d_kv=16,
                                                     vocab_size=1000))),
        ("funnel", lambda: tr.FunnelModel(tr.FunnelConfig(block_sizes=[1, 1], d_model=64, n_head=4, d_head=16,
                                                          d_inner=128, vocab_size=1000))),
        ("xlnet", lambda: tr.XLNetModel(tr.XLNetConfig(n_layer=2, d_model=64, n_head=4, d_inner=128,
                                                       vocab_size=1000))),
        ("llama", lambda: tr.LlamaForCausalLM(tr.LlamaConfig(**small, num_key_value_heads=2, use_cache=False))),
        ("rwkv", lambda: tr.RwkvModel(tr.RwkvConfig(num_hidden_layers=2, hidden_size=64, vocab_size=1000,
                                                    attention_hidden_size=64, intermediate_size=128))),
    ]
    vision = [
        ("swin", lambda: tr.SwinModel(tr.SwinConfig(image_size=64, embed_dim=32, depths=[1, 1], num_heads=[2, 2],
                                                    window_size=4))),
        ("convnext", lambda: tr.ConvNextModel(tr.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1],
                                                                num_stages=2))),
        ("deit", lambda: tr.DeiTModel(tr.DeiTConfig(**small, image_size=64, patch_size=16))),
        ("mobilevit", lambda: tr.MobileViTModel(tr.MobileViTConfig(image_size=64))),
        ("segformer", lambda: tr.SegformerModel(tr.SegformerConfig(num_encoder_blocks=2, depths=[1, 1],
                                                                   sr_ratios=[2, 1], hidden_sizes=[16, 32],
                                                                   num_attention_heads=[1, 2], patch_sizes=[7, 3],
                                                                   strides=[4, 2]))),
    ]
    out = []
    for name, make in text:
        out.append((f"hf:{name}", lambda make=make: (make(), [(32,)], ("int64",))))
    for name, make in vision:
        size = 64 if name != "segformer" else 64
        out.append((f"hf:{name}", lambda make=make, size=size: (make(), [(3, size, size)], ())))
    return out


def survey(models: list[tuple[str, Any]]) -> tuple[Counter, list[dict]]:
    import torch

    from archcalc.frontends.torch_trace import from_torch, unmodeled_nodes

    torch.manual_seed(0)
    total: Counter[str] = Counter()
    lines = []
    for label, build in models:
        t0 = time.perf_counter()
        try:
            module, shapes, dtypes = build()
            module.eval()
            g = from_torch(module, *shapes, input_dtypes=dtypes, name=label)
            found: Counter[str] = Counter(dict(n.hparams)["op"] for n in unmodeled_nodes(g))
            total.update({k: 1 for k in found})  # models that use the op
            lines.append({"model": label, "unmodelled": dict(found), "seconds": round(time.perf_counter() - t0, 1)})
        except Exception as exc:  # noqa: BLE001  (a survey: every failure is reported, the loop goes on)
            lines.append({"model": label, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
        print(json.dumps(lines[-1]), flush=True)
    return total, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm", type=int, default=len(TIMM_SAMPLE), help="how many of the timm sample to trace")
    ap.add_argument("--families", action="store_true",
                    help="instead of the fixed sample: the first timm model of every family")
    ap.add_argument("--hf", action="store_true", help="also the Hugging Face sample")
    ap.add_argument("--only", default=None, help="regex on model labels")
    ap.add_argument("--json", default=None, help="write the per-model lines here")
    args = ap.parse_args(argv)
    names = _first_of_each_family() if args.families else TIMM_SAMPLE[: args.timm]
    models = _timm_models(tuple(names)) + (_hf_models() if args.hf else [])
    if args.only:
        models = [m for m in models if re.search(args.only, m[0])]
    total, lines = survey(models)
    traced = sum(1 for line in lines if "error" not in line)
    clean = sum(1 for line in lines if "error" not in line and not line["unmodelled"])
    print(f"{len(lines)} models, {traced} traced, {clean} with no unmodelled op")
    print("unmodelled op (models using it):", ", ".join(f"{k} {n}" for k, n in total.most_common()) or "none")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"models": lines, "by_op": dict(total)}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
