"""Hugging Face models by name: ``hf:NAME_OR_PATH`` built from its config on the meta device and traced.

The config comes from, in this order: a local folder holding ``config.json`` or a path to a ``.json``
file; archcalc's catalogue of well-known configs (``archcalc/frontends/hf_configs``, each the model's
public ``config.json`` as published on huggingface.co, generation-only fields left out), so that
``hf:mistralai/Mistral-7B-v0.1`` works offline; the Hugging Face cache; the hub, where the network allows
it. The model class is the config's ``architectures[0]`` from ``transformers`` (without it, the base model
of the config's ``model_type``), built under ``torch.device("meta")``: no weights are allocated or
downloaded. A config whose ``auto_map`` asks to run the repository's own code is refused unless
``trust_remote_code=True``.

Inputs: text models take ``seq`` token ids per sample (default ``min(2048, positions)``), an
encoder-decoder also ``decoder_seq`` decoder ids (default ``min(seq, decoder positions)``); vision models
``pixel_values`` of ``num_channels x image_size x image_size``; Whisper ``num_mel_bins x
2 max_source_positions`` log-mel frames. Caches are off (``use_cache=False``): a forward is counted.

Examples
--------
>>> "mistralai/Mistral-7B-v0.1" in catalogue_names()
True
>>> catalogue_config("gpt2")["n_layer"]
12
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlperf.errors import ArgumentError, ref

__all__ = ["HFInput", "HFModel", "catalogue_names", "catalogue_config", "load_config", "build_model", "hf_model",
           "hf_inputs", "from_hf", "sequence_limit", "default_input", "with_per_token", "twin_module", "with_moe",
           "with_kv_cache", "DEFAULT_MAX_SEQ"]

_CATALOGUE = Path(__file__).with_name("hf_configs")

#: Longest default sequence: ``--seq`` defaults to ``min(DEFAULT_MAX_SEQ, the model's positions)``.
DEFAULT_MAX_SEQ = 2048

_FIX = "give a local folder holding config.json, or the path of a config.json"


@dataclass(frozen=True)
class HFInput:
    """One forward argument: its keyword, per-sample shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class HFModel:
    """A transformers model built on the meta device, with where its config came from.

    Attributes
    ----------
    name : str
        ``hf:NAME_OR_PATH`` as given.
    module : torch.nn.Module
        On the meta device, eval mode, caches off.
    config : transformers.PretrainedConfig
    architecture : str
        The class built (``MistralForCausalLM``).
    notes : tuple of str
        Where the config came from and what was assumed (the report prints them).
    """

    name: str
    module: Any
    config: Any
    architecture: str
    notes: tuple[str, ...]


def catalogue_names() -> list[str]:
    """Hub names whose ``config.json`` ships with archcalc (no torch, no transformers needed)."""
    return sorted(p.stem.replace("--", "/") for p in _CATALOGUE.glob("*.json"))


def catalogue_config(name: str) -> dict[str, Any]:
    """The catalogue's ``config.json`` of ``name`` as a dict (``KeyError`` if it has none)."""
    path = _CATALOGUE / (name.replace("/", "--") + ".json")
    if "/" in name.replace("/", "", 1) or not path.is_file():
        raise KeyError(name)
    return json.loads(path.read_text())


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return True


def _reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the hub answers at all (a hub lookup otherwise retries for half a minute)."""
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(spec: str) -> bool:
    """A hub name is ``NAME`` or ``ORG/NAME``; anything else is meant as a file or folder."""
    return (spec.endswith(".json") or spec.startswith((".", "/", "~")) or spec.count("/") > 1
            or (os.sep != "/" and os.sep in spec))


def _read_json(path: Path, label: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model: {label}: cannot read {str(path)!r} as JSON ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}); {_FIX}") from None
    if not isinstance(data, dict):
        raise ArgumentError("model", what=f"{label}: {str(path)!r} holds a JSON {type(data).__name__}, not a config object", fix=f"{_FIX}")
    return data


def _config_dict(spec: str, label: str) -> tuple[dict[str, Any] | None, str]:
    """``(config dict or None for "ask the hub", where it came from)``."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ArgumentError("model", what=f"{label}: folder {str(path)!r} has no config.json", fix=f"{_FIX}")
        return _read_json(path / "config.json", label), f"config from {path / 'config.json'}"
    if path.is_file():
        return _read_json(path, label), f"config from {path}"
    try:
        data = catalogue_config(spec)
    except KeyError:
        if _looks_like_path(spec):
            raise ArgumentError("model", what=f"{label}: no such file or folder {spec!r}", fix=f"{_FIX}") from None
        return None, ""
    return data, (f"config from archcalc's catalogue: config.json of {spec} as published on huggingface.co "
                  "(generation-only fields left out)")


def _hub_config(spec: str, label: str, trust_remote_code: bool) -> tuple[Any, str]:
    """``(config, where from)`` of hub model ``spec``: the Hugging Face cache, or the hub where it can be reached."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec, local_files_only=True, trust_remote_code=trust_remote_code)
        return config, f"config of {spec} from the Hugging Face cache"
    except OSError:
        pass
    if _offline() or not _reachable():
        raise ValueError(f"model: {label}: not a local folder or file, not in archcalc's catalogue and not in the "
                         f"Hugging Face cache, and the hub cannot be reached (no network); {_FIX} (download it where "
                         f"there is network), or one of the {len(catalogue_names())} catalogue names that work "
                         "offline (archcalc.frontends.hf.catalogue_names())")
    try:
        return AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code), f"config of {spec} from the hub"
    except OSError as exc:
        raise ValueError(f"model: {label}: the hub has no config for {spec!r} ({str(exc).splitlines()[0][:200]}); "
                         f"check the name, or {_FIX}") from None


def _remote_refusal(label: str, what: str) -> ValueError:
    return ArgumentError("trust_remote_code", what=f"{label}: {what} is not in transformers: the config's auto_map "
                         "asks to run the repository's own Python code", fix="give it (True) to allow that, after "
                         "reading that code")


def load_config(spec: str, trust_remote_code: bool = False) -> tuple[Any, str]:
    """``(transformers config, where it came from)`` for ``spec`` (a folder, a ``.json`` path or a hub name).

    Raises
    ------
    ValueError
        One line: a missing file or folder, unreadable JSON, an unknown ``model_type``, remote code not
        allowed, or a hub name that cannot be fetched (offline), each with its fix.
    """
    label = f"hf:{spec}"
    data, source = _config_dict(spec, label)
    _quiet()
    if data is None:
        return _hub_config(spec, label, trust_remote_code)
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = data.get("model_type")
    if not model_type:
        raise ValueError(f"model: {label}: the config has no model_type; give a config.json written by transformers "
                         "(it names model_type, e.g. \"llama\")")
    if model_type not in CONFIG_MAPPING:
        if data.get("auto_map", {}).get("AutoConfig"):
            if not trust_remote_code:
                raise _remote_refusal(label, f"model_type {model_type!r}")
            if not Path(spec).expanduser().is_dir():
                raise ValueError(f"model: {label}: remote code needs the repository's files; give the folder holding "
                                 "config.json and its Python files")
            from transformers import AutoConfig

            return AutoConfig.from_pretrained(str(Path(spec).expanduser()), trust_remote_code=True), source
        import transformers

        raise ValueError(f"model: {label}: model_type {model_type!r} is unknown to transformers "
                         f"{transformers.__version__}; upgrade transformers, or give a config of a known model_type")
    try:
        config = CONFIG_MAPPING[model_type].from_dict(data)
    except Exception as exc:  # a config transformers rejects: one line
        raise ValueError(f"model: {label}: transformers rejects the {model_type} config: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}") from None
    if data.get("auto_map"):
        config.auto_map = data["auto_map"]
    return config, source


def _quiet() -> None:
    import transformers

    transformers.logging.set_verbosity_error()


def _model_class(config: Any, label: str, trust_remote_code: bool) -> tuple[Any, str, tuple[str, ...]]:
    """``(factory(config) -> module, architecture name, notes)``."""
    import transformers

    archs = list(getattr(config, "architectures", None) or [])
    auto_map = getattr(config, "auto_map", None) or {}
    if archs:
        arch = archs[0]
        cls = getattr(transformers, arch, None)
        if cls is not None and (not trust_remote_code or not auto_map):
            return cls, arch, ()
        remote = [k for k in auto_map if k.startswith("AutoModel")]
        if remote:
            if not trust_remote_code:
                raise _remote_refusal(label, f"architecture {arch!r}")
            auto = getattr(transformers, remote[0])
            return (lambda c: auto.from_config(c, trust_remote_code=True)), arch, (
                f"built with the repository's own code ({auto_map[remote[0]]}, trust_remote_code)",)
        raise ValueError(f"model: {label}: transformers {transformers.__version__} has no architecture {arch!r}; "
                         "upgrade transformers, or edit architectures in config.json to a class it has")
    from transformers import AutoModel

    name = type(config).__name__
    try:
        cls = AutoModel._model_mapping[type(config)]
    except KeyError:
        raise ValueError(f"model: {label}: the config names no architectures and transformers has no base model for "
                         f"{name}; add \"architectures\": [\"...\"] to config.json") from None
    return cls, cls.__name__, (f"the config names no architectures: built the base model of its model_type, "
                               f"{cls.__name__} (no task head); add architectures to config.json for a head",)


def build_model(config: Any, label: str = "hf:model", trust_remote_code: bool = False,
                device: str = "meta") -> tuple[Any, str, tuple[str, ...]]:
    """``(module on the meta device, architecture, notes)`` for a transformers config; caches off.

    Raises
    ------
    ValueError
        One line: an architecture transformers does not have, remote code not allowed, or a build that fails.
    """
    import torch

    factory, arch, notes = _model_class(config, label, trust_remote_code)
    for cfg in (config, *(getattr(config, k, None) for k in ("text_config", "decoder"))):
        if cfg is not None and hasattr(cfg, "use_cache"):
            cfg.use_cache = False
    try:
        with torch.device(device):
            module = factory(config)
    except Exception as exc:  # any failure of transformers' constructor: one line naming the class
        raise ValueError(f"model: {label}: transformers cannot build {arch} from this config: {type(exc).__name__}: "
                         f"{(str(exc).strip().splitlines() or [''])[0][:200]}; check the config's sizes") from None
    return module.eval(), arch, notes


@functools.lru_cache(maxsize=4)
def hf_model(spec: str, trust_remote_code: bool = False) -> HFModel:
    """The model ``hf:spec`` names, built on the meta device (cached: the same object for the same spec)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ArgumentError("model", what=f"got hf:{spec!r}", fix="give hf:NAME_OR_PATH (a hub name, a folder or a config.json)")
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"model: hf:{spec} needs torch and transformers ({exc}); pip install 'dlperf[transformers]' "
                         "torch") from None
    config, source = load_config(spec, trust_remote_code)
    module, arch, notes = build_model(config, f"hf:{spec}", trust_remote_code)
    return HFModel(f"hf:{spec}", module, config, arch, (source, *notes))


def twin_module(spec: str, device: str = "meta") -> Any:
    """A fresh build of ``hf:spec`` whose forward returns a tuple of its output tensors, for ``archcalc
    crosscheck``: its real run moves the module off the meta device, so it is never the cached one."""
    import torch

    config, _ = load_config(spec)
    module = build_model(config, f"hf:{spec}", device=device)[0]
    cls_forward = type(module).forward
    # With a cache, transformers skips its packed-sequence probe (an .item() the meta device cannot answer);
    # the cache's concatenations are no FLOPs. Only tensors come back (fvcore traces them).
    cache = {"use_cache": True} if "use_cache" in _forward_args(module) else {}

    def forward(x: Any) -> Any:
        out = cls_forward(module, x, **cache)
        out = out.to_tuple() if hasattr(out, "to_tuple") else out
        return tuple(t for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor))

    module.forward = forward
    return module


def _positions(config: Any, *keys: str) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def sequence_limit(model: HFModel) -> int | None:
    """The positions a text model's config allows (``max_position_embeddings`` ...; None: not stated)."""
    return _positions(model.config, "max_position_embeddings", "n_positions", "n_ctx")


def default_input(model: HFModel) -> tuple[int, ...]:
    """The per-sample shape of the first input :func:`hf_inputs` uses by default (``(L,)`` for text)."""
    return hf_inputs(model)[0].shape


def _forward_args(module: Any) -> list[str]:
    import inspect

    return list(inspect.signature(module.forward).parameters)


def hf_inputs(model: HFModel, seq: int | None = None, decoder_seq: int | None = None,
              input_shape: tuple[int, ...] | None = None) -> tuple[HFInput, ...]:
    """The forward arguments archcalc traces ``model`` with, per sample.

    ``seq`` is the token count of a text model (``input_shape`` ``(L,)`` says the same); vision and audio
    models take ``input_shape`` or their config's size. Lengths beyond the model's position table are
    refused (the meta device would not notice an index past the table).
    """
    config, label, main = model.config, model.name, getattr(model.module, "main_input_name", "input_ids")
    args = _forward_args(model.module)
    if main == "input_ids":
        name = "seq"
        if input_shape is not None:
            if len(input_shape) != 1:
                raise ArgumentError("input_shape", input_shape,
                                    f"{label} takes token ids; give the sequence length ({ref('seq')})")
            if seq is not None and seq != input_shape[0]:
                raise ArgumentError("seq", seq, f"give one sequence length ({ref('input_shape')} says "
                                    f"{input_shape[0]})")
            seq, name = input_shape[0], "input_shape"
        seq = _length(name, seq, sequence_limit(model), label)
        inputs = [HFInput("input_ids", (seq,), "int64")]
        if getattr(config, "is_encoder_decoder", False):
            dec_limit = _positions(config, "max_target_positions", "max_decoder_position_embeddings") or \
                sequence_limit(model)
            inputs.append(HFInput("decoder_input_ids", (_length("decoder_seq", decoder_seq, dec_limit, label,
                                                                cap=seq),), "int64"))
        elif decoder_seq is not None:
            raise ArgumentError("decoder_seq", decoder_seq, f"{label} is not an encoder-decoder; leave it out")
        return tuple(inputs)
    if seq is not None:
        raise ArgumentError("seq", seq, f"{label} takes {main}, not token ids; leave it out" +
                            ("" if main == "input_features" else f" (give {ref('input_shape')} to change its size)"))
    if main == "pixel_values":
        if decoder_seq is not None:
            raise ArgumentError("decoder_seq", decoder_seq, f"{label} is not an encoder-decoder; leave it out")
        if input_shape is None:
            size = getattr(config, "image_size", None)
            size = (size, size) if isinstance(size, int) else tuple(size or ())
            if len(size) != 2:
                raise ArgumentError("input_shape", None, f"{label}'s config gives no image_size; give the image "
                                    "shape, e.g. 3x224x224", what="not given")
            input_shape = (getattr(config, "num_channels", 3), *size)
        return (HFInput("pixel_values", tuple(input_shape), "float32"),)
    if main == "input_features" and getattr(config, "is_encoder_decoder", False):  # Whisper: log-mel frames
        mel, src = getattr(config, "num_mel_bins", None), _positions(config, "max_source_positions")
        if input_shape is None:
            if not (mel and src):
                raise ArgumentError("input_shape", None, f"{label}'s config gives no num_mel_bins / "
                                    "max_source_positions; give the feature shape, e.g. 80x3000", what="not given")
            input_shape = (mel, 2 * src)  # the encoder's two convolutions halve the frames to its positions
        dec_limit = _positions(config, "max_target_positions")
        dec = _length("decoder_seq", decoder_seq, dec_limit, label)
        return (HFInput("input_features", tuple(input_shape), "float32"), HFInput("decoder_input_ids", (dec,), "int64"))
    if input_shape is None:
        raise ArgumentError("input_shape", None, f"{label} takes {main}; give its per-sample shape",
                            what="not given")
    if main not in args:
        raise ArgumentError("model", what=f"{label}: its forward takes no {main!r}", fix="archcalc cannot tell its inputs")
    return (HFInput(main, tuple(input_shape), "float32"),)


def _length(name: str, value: int | None, limit: int | None, label: str, cap: int | None = None) -> int:
    if value is None:
        default = min(x for x in (DEFAULT_MAX_SEQ, limit, cap) if x is not None)
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(name, value, "give a positive integer")
    if limit is not None and value > limit:
        raise ArgumentError(name, value, f"{label} has {limit} positions; give at most {limit}")
    return value


def _bind_forward(module: Any, names: tuple[str, ...]) -> None:
    """Let the tracer's positional inputs reach the forward by keyword (``decoder_input_ids`` ...), caches off."""
    cls_forward = type(module).forward
    accepts_cache = "use_cache" in _forward_args(module)

    def forward(*xs: Any) -> Any:
        kwargs = dict(zip(names, xs, strict=True))
        if accepts_cache:
            kwargs["use_cache"] = False
        return cls_forward(module, **kwargs)

    module.forward = forward


def from_hf(spec: str, seq: int | None = None, batch: int = 1, decoder_seq: int | None = None,
            input_shape: tuple[int, ...] | None = None, trust_remote_code: bool = False,
            training: bool = False) -> Any:
    """Trace the transformers model ``spec`` names (see the module docstring) into a checked graph.

    Parameters
    ----------
    spec : str
        A hub name (``"mistralai/Mistral-7B-v0.1"``; offline: the catalogue or the Hugging Face cache), a
        folder holding ``config.json`` or a ``.json`` path.
    seq : int, optional
        Tokens per sample of a text model (default ``min(2048, the model's positions)``).
    batch : int
        Batch size.
    decoder_seq : int, optional
        Decoder tokens of an encoder-decoder (default ``min(seq, decoder positions)``; Whisper: 448).
    input_shape : tuple of int, optional
        Per-sample shape of a vision or audio model's input (default from the config); for a text model
        ``(L,)`` is the same as ``seq=L``.
    trust_remote_code : bool
        Allow a config's ``auto_map`` to run the repository's own code.
    training : bool
        Trace in training mode: the config's dropouts run (and, with attention dropout, the attention kernel
        torch selects for it), as a training step runs them; eval mode (the default) leaves them out.

    Returns
    -------
    Graph
        Named ``hf:spec``; its notes say where the config came from and at which inputs it was traced.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"],
    ...      "num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
    ...      "vocab_size": 100, "max_position_embeddings": 32}))
    >>> g = from_hf(str(folder), seq=16)
    >>> g.inputs[0].shape, g.inputs[0].dtype
    ((16,), 'int64')
    >>> g.notes[0].startswith("config from ")
    True
    """
    from archcalc.frontends.torch_trace import from_torch

    model = hf_model(spec, trust_remote_code)
    inputs = hf_inputs(model, seq, decoder_seq, input_shape)
    _bind_forward(model.module, tuple(i.name for i in inputs))
    graph = from_torch(model.module, *(i.shape for i in inputs), batch=batch,
                       input_dtypes=tuple(i.dtype for i in inputs), name=model.name,
                       twin=model.name if len(inputs) == 1 and not trust_remote_code else None, training=training)
    from dataclasses import replace

    used = ", ".join(f"{i.name} {'x'.join(map(str, (batch, *i.shape)))}" for i in inputs)
    defaults = []
    if inputs[0].name == "input_ids" and seq is None and input_shape is None:
        limit = sequence_limit(model)
        defaults.append(f"seq {inputs[0].shape[0]} by default (min({DEFAULT_MAX_SEQ}, "
                        f"{'its ' + str(limit) + ' positions' if limit else 'no stated positions'}))")
    if inputs[-1].name == "decoder_input_ids" and decoder_seq is None:
        defaults.append(f"decoder seq {inputs[-1].shape[0]} by default")
    if inputs[0].name != "input_ids" and input_shape is None:
        defaults.append(f"{inputs[0].name} {'x'.join(map(str, inputs[0].shape))} from the config")
    notes = (*model.notes, *(["inputs: " + "; ".join(defaults)] if defaults else []), *graph.notes)
    return replace(graph, description=f"{model.architecture} (transformers) traced at {used}", notes=notes)


def with_per_token(rep: Any, graph: Any) -> Any:
    """``rep`` (a :class:`~archcalc.costs.report.Report` of a text model's graph) with a note on its forward MACs
    per token: the whole forward's MACs over its ``batch x seq`` tokens (attention makes it grow with the
    length, so it is the average over the positions). Other graphs' reports come back unchanged."""
    from dataclasses import replace
    from fractions import Fraction

    if len(graph.inputs) != 1 or graph.inputs[0].dtype != "int64" or graph.traced_at is None:
        return rep
    tokens = graph.traced_at[0][0] * graph.traced_at[0][1]
    macs = rep.totals["macs"]
    per = Fraction(macs, tokens)
    shown = f"{per.numerator:,}" if per.denominator == 1 else f"{float(per):,.1f}"
    flops = 2 * per
    shown_f = f"{flops.numerator:,}" if flops.denominator == 1 else f"{float(flops):,.1f}"
    attention = bool(rep.totals.get("activation_macs"))  # activation-activation products grow with the length
    note = (f"forward per token: {shown} MACs = {shown_f} FLOPs ({macs:,} MACs over {graph.traced_at[0][0]} x "
            f"{graph.traced_at[0][1]} = {tokens:,} tokens" + ("; attention's share grows with the sequence length)" if attention
                                                              else ")"))
    return replace(rep, notes=(*rep.notes, note))


def with_moe(rep: Any, model: HFModel) -> Any:
    """``rep`` with a mixture-of-experts model's total vs active parameters (a note and ``totals["active_params"]``,
    ``totals["expert_params"]``); a dense model's report comes back unchanged."""
    from dataclasses import replace
    from types import MappingProxyType

    from archcalc.frontends.moe import moe_params

    if _positions(model.config, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts") is None:
        return rep  # a dense model
    try:
        moe = moe_params(model.module)
    except ValueError:  # experts it cannot find or split evenly: no number is better than a wrong one
        return replace(rep, notes=(*rep.notes, "mixture of experts: active parameters not stated (the experts do "
                                   "not split into equal experts archcalc can find)"))
    counted = rep.totals["params"] + sum(n for _, n in rep.unused_params)
    if moe.total != counted:  # never a silent wrong number
        raise AssertionError(f"{model.name}: {moe.total} parameters in the module but {counted} counted")
    note = (f"mixture of experts: {moe.top_k} of {moe.num_experts} experts per token; {moe.total:,} parameters in "
            f"total, {moe.active:,} active per token (the {moe.expert:,} expert parameters x "
            f"{moe.top_k}/{moe.num_experts} + the other {moe.total - moe.expert:,}); MACs count each token through "
            f"{moe.top_k} experts, which no routing changes (balanced routing is assumed only for the per-expert rows)")
    totals = MappingProxyType({**rep.totals, "active_params": moe.active, "expert_params": moe.expert})
    return replace(rep, notes=(*rep.notes, note), totals=totals)


def with_kv_cache(rep: Any, graph: Any, model: HFModel) -> Any:
    """``rep`` of a causal LM with its KV cache at the traced length: ``2 n_layer n_kv_heads d_head L B``
    elements (keys and values of every layer, from the config), which must equal the key and value tensors
    entering the graph's attentions (else no number is printed); ``totals["kv_cache_elements"]``,
    ``totals["kv_cache_bytes"]`` in the report's dtype."""
    from dataclasses import replace
    from types import MappingProxyType

    from archcalc.ir.evaluate import evaluate
    from archcalc.lm.inference import _graph_kv_elements

    config = model.config
    causal = model.architecture.endswith(("ForCausalLM", "LMHeadModel"))
    if not causal or getattr(config, "is_encoder_decoder", False) or graph.traced_at is None or len(graph.inputs) != 1:
        return rep
    heads = _positions(config, "num_attention_heads")
    layers = _positions(config, "num_hidden_layers")
    kv_heads = _positions(config, "num_key_value_heads") or heads
    head_dim = _positions(config, "head_dim") or (config.hidden_size // heads if heads else None)
    batch, seq = graph.traced_at[0][:2]
    if not (heads and layers and kv_heads and head_dim):
        return rep
    elements = 2 * layers * kv_heads * head_dim * seq * batch
    traced = _graph_kv_elements(evaluate(graph, batch=batch))
    if traced != elements:  # another attention layout (eager, cross-attention ...): no number is better than a wrong one
        return replace(rep, notes=(*rep.notes, f"KV cache not stated: 2 x {layers} layers x {kv_heads} kv heads x "
                                   f"{head_dim} x {seq} x {batch} = {elements:,} elements by the config, but the "
                                   f"traced attentions read {traced:,} key and value elements"))
    size = elements * rep.dtype_bytes
    window = getattr(config, "sliding_window", None)
    extra = (f"; sliding_window {window}: a rolling cache would keep {window} positions in its windowed layers"
             if isinstance(window, int) and 0 < window < seq else "")
    note = (f"KV cache at {seq} tokens x batch {batch}: 2 x {layers} layers x {kv_heads} kv heads x {head_dim} "
            f"x {seq} x {batch} = {elements:,} elements = {size:,} bytes in {rep.dtype} (the traced attentions' keys "
            f"and values){extra}")
    totals = MappingProxyType({**rep.totals, "kv_cache_elements": elements, "kv_cache_bytes": size})
    return replace(rep, notes=(*rep.notes, note), totals=totals)
