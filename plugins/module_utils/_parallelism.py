# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parallelism arithmetic of one SGLang instance, checked before any host is contacted.

Every rule mirrors an assertion (or a placement computation) of SGLang 0.5.23; the comment on
each rule names the file under ``sglang/srt/`` it comes from. Pure Python: no Ansible imports,
so the topology planner and the ``parallelism_check`` module share it and it is unit tested alone.
"""
from __future__ import annotations

import glob
import json
import os
import struct
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

_CONFIG_FIX = (
    "set sglang_model_config: {num_attention_heads: N, num_key_value_heads: M} in the inventory "
    "(add n_routed_experts for a MoE model), or put the model's config.json at the local path "
    "or in the Hugging Face cache on the controller."
)


class ModelConfigError(Exception):
    """The head counts of a model could not be found; the message says where it looked."""


_LLAMA = "LlamaForCausalLM"
_QWEN2 = "Qwen2ForCausalLM"


def _dense(architecture: str, heads: int, kv_heads: int, layers: int, hidden_size: int) -> dict:
    return {"architectures": [architecture], "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "num_hidden_layers": layers, "hidden_size": hidden_size, "torch_dtype": "bfloat16"}


# The fields of the real config.json files that the checks read, for offline validation.
_DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "num_hidden_layers": 61,
    "hidden_size": 7168,
    "torch_dtype": "bfloat16",
    "n_routed_experts": 256,
}
KNOWN_MODELS: Dict[str, dict] = {
    "Qwen/Qwen2.5-7B": _dense(_QWEN2, 28, 4, 28, 3584),
    "Qwen/Qwen2.5-7B-Instruct": _dense(_QWEN2, 28, 4, 28, 3584),
    "Qwen/Qwen2.5-72B": _dense(_QWEN2, 64, 8, 80, 8192),
    "Qwen/Qwen2.5-72B-Instruct": _dense(_QWEN2, 64, 8, 80, 8192),
    "meta-llama/Meta-Llama-3-8B": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Meta-Llama-3-8B-Instruct": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Meta-Llama-3-70B": _dense(_LLAMA, 64, 8, 80, 8192),
    "meta-llama/Meta-Llama-3-70B-Instruct": _dense(_LLAMA, 64, 8, 80, 8192),
    # Hugging Face renamed Meta-Llama-3.1-* to Llama-3.1-*; both ids still resolve.
    "meta-llama/Llama-3.1-8B": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Llama-3.1-8B-Instruct": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Meta-Llama-3.1-8B": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Meta-Llama-3.1-8B-Instruct": _dense(_LLAMA, 32, 8, 32, 4096),
    "meta-llama/Llama-3.1-70B": _dense(_LLAMA, 64, 8, 80, 8192),
    "meta-llama/Llama-3.1-70B-Instruct": _dense(_LLAMA, 64, 8, 80, 8192),
    "meta-llama/Meta-Llama-3.1-70B": _dense(_LLAMA, 64, 8, 80, 8192),
    "meta-llama/Meta-Llama-3.1-70B-Instruct": _dense(_LLAMA, 64, 8, 80, 8192),
    "meta-llama/Llama-3.1-405B": _dense(_LLAMA, 128, 8, 126, 16384),
    "meta-llama/Llama-3.1-405B-Instruct": _dense(_LLAMA, 128, 8, 126, 16384),
    "meta-llama/Meta-Llama-3.1-405B": _dense(_LLAMA, 128, 8, 126, 16384),
    "meta-llama/Meta-Llama-3.1-405B-Instruct": _dense(_LLAMA, 128, 8, 126, 16384),
    "deepseek-ai/DeepSeek-V3": _DEEPSEEK_V3,
    "deepseek-ai/DeepSeek-V3-0324": _DEEPSEEK_V3,
    "deepseek-ai/DeepSeek-R1": _DEEPSEEK_V3,
}

# DeepSeek names them n_routed_experts, Qwen MoE num_experts, Mixtral num_local_experts.
_EXPERT_FIELDS = ("n_routed_experts", "num_experts", "num_local_experts")
_MLA_ARCHITECTURES = frozenset({"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"})


# ---------------------------------------------------------------- model config


def _positive_int(value: object) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and value > 0:
        return value
    return None


def _normalize(raw: dict, source: str) -> dict:
    # SGLang reads heads and experts from the text config of a multimodal model (hf_text_config).
    fields = dict(raw)
    text_config = raw.get("text_config")
    if isinstance(text_config, dict):
        fields.update(text_config)
    heads = _positive_int(fields.get("num_attention_heads"))
    if heads is None:
        raise ModelConfigError(
            "%s has no positive integer num_attention_heads (got %r). Fix: %s"
            % (source, fields.get("num_attention_heads"), _CONFIG_FIX))
    kv_heads = heads  # transformers' default when num_key_value_heads is absent
    if fields.get("num_key_value_heads") is not None:
        kv_heads = _positive_int(fields["num_key_value_heads"])
        if kv_heads is None:
            raise ModelConfigError(
                "%s has num_key_value_heads %r, not a positive integer. Fix: %s"
                % (source, fields["num_key_value_heads"], _CONFIG_FIX))
    experts = next((_positive_int(fields[name]) for name in _EXPERT_FIELDS if fields.get(name)), None)
    architectures = raw.get("architectures") or fields.get("architectures")
    architecture = architectures[0] if isinstance(architectures, list) and architectures else None
    is_mla = fields.get("kv_lora_rank") is not None or architecture in _MLA_ARCHITECTURES
    return {
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "num_routed_experts": experts,
        "is_mla": is_mla,
        "architecture": architecture,
        "kv_bytes_per_token": _kv_bytes_per_token(fields, heads, kv_heads, is_mla),
        "kv_element_bytes": _DTYPE_BYTES.get(_dtype(fields)),
        "stale_quantization": None,
    }


# Bytes of one element of the KV cache at the model's dtype (SGLang's --kv-cache-dtype auto).
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "float": 4}


def _dtype(fields: dict) -> str:
    # transformers writes torch_dtype (renamed dtype in 4.56); absent, SGLang loads the weights as bfloat16.
    return str(fields.get("dtype") or fields.get("torch_dtype") or "bfloat16")


def _kv_bytes_per_token(fields: dict, heads: int, kv_heads: int, is_mla: bool) -> Optional[int]:
    """Bytes of KV cache one token holds over all layers, at the model's dtype; None when config.json does not say.

    MLA (DeepSeek V2/V3) caches one compressed latent per token and layer: kv_lora_rank + qk_rope_head_dim
    elements. Other attention caches a key and a value per KV head and layer: 2 * num_key_value_heads * head_dim
    elements (head_dim, else hidden_size / num_attention_heads). This is what a prefill hands its decode for each
    prompt token (one copy, whatever the TP layout of either side).
    """
    layers = _positive_int(fields.get("num_hidden_layers"))
    dtype_bytes = _DTYPE_BYTES.get(_dtype(fields))
    if layers is None or dtype_bytes is None:
        return None
    if is_mla:
        rank, rope = _positive_int(fields.get("kv_lora_rank")), _positive_int(fields.get("qk_rope_head_dim"))
        return None if rank is None or rope is None else layers * (rank + rope) * dtype_bytes
    head_dim = _positive_int(fields.get("head_dim"))
    if head_dim is None:
        hidden = _positive_int(fields.get("hidden_size"))
        head_dim = hidden // heads if hidden is not None and hidden % heads == 0 else None
    return None if head_dim is None else layers * 2 * kv_heads * head_dim * dtype_bytes


# A safetensors header larger than this is not a header (the format caps it at 100 MB).
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def _checkpoint_tensor_names(directory: str) -> Optional[List[str]]:
    """The tensor names of the checkpoint beside config.json, from its index or its single file's header."""
    try:
        with open(os.path.join(directory, "model.safetensors.index.json"), encoding="utf-8") as handle:
            weight_map = json.load(handle).get("weight_map")
        if isinstance(weight_map, dict):
            return list(weight_map)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        with open(os.path.join(directory, "model.safetensors"), "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size)) if size <= _MAX_SAFETENSORS_HEADER else None
        if isinstance(header, dict):
            return [name for name in header if name != "__metadata__"]
    except (OSError, ValueError, struct.error):
        pass
    return None


def _stale_quantization(raw: dict, directory: str) -> Optional[str]:
    """Why config.json's FP8 block quantization does not match the weights beside it, or None.

    An fp16/bf16 checkpoint that kept the quantization_config of the FP8 model it came from makes SGLang
    quantize layers whose TP slices are not whole blocks: "Weight output_partition_size = 576 is not divisible
    by weight quantization block_n = 128" (SGLang's DeepSeek usage guide, sgl-project/sglang#3491). FP8 block
    checkpoints carry a scale per weight (`<name>.weight_scale_inv`); a checkpoint without any is not one.
    """
    quantization = raw.get("quantization_config")
    if not isinstance(quantization, dict) or quantization.get("quant_method") != "fp8" \
            or not quantization.get("weight_block_size"):
        return None
    names = _checkpoint_tensor_names(directory)
    if not names or any(name.endswith("weight_scale_inv") for name in names):
        return None
    return ("config.json declares FP8 block quantization (weight_block_size %s) but none of the %d tensors of the "
            "checkpoint in %s is an FP8 scale (*.weight_scale_inv): the weights are fp16/bf16"
            % (quantization["weight_block_size"], len(names), directory))


def _read_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as error:
        raise ModelConfigError("cannot read %s: %s. Fix: %s" % (path, error, _CONFIG_FIX))
    if not isinstance(raw, dict):
        raise ModelConfigError("%s does not hold a JSON object. Fix: %s" % (path, _CONFIG_FIX))
    config = _normalize(raw, path)
    config["stale_quantization"] = _stale_quantization(raw, os.path.dirname(path))
    return config


def _hf_cache_dir(hf_cache: Optional[str]) -> str:
    if hf_cache:
        return os.path.expanduser(hf_cache)
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return os.path.expanduser("~/.cache/huggingface/hub")


def _looks_like_hf_id(model: str) -> bool:
    return not os.path.isabs(model) and not model.startswith(("." + os.sep, "~")) and model.count("/") <= 1


def _hf_cache_config(model: str, cache_dir: str) -> Optional[str]:
    """config.json of ``model`` in an HF hub cache: the snapshot refs/main names, else the newest."""
    repo_dir = os.path.join(cache_dir, "models--" + model.replace("/", "--"))
    if not os.path.isdir(repo_dir) and os.path.isdir(cache_dir):
        # Hub ids are case-insensitive; the cache keeps the spelling of the first download.
        wanted = os.path.basename(repo_dir).lower()
        repo_dir = next((os.path.join(cache_dir, entry) for entry in sorted(os.listdir(cache_dir))
                         if entry.lower() == wanted), repo_dir)
    try:
        with open(os.path.join(repo_dir, "refs", "main"), encoding="utf-8") as handle:
            main_config = os.path.join(repo_dir, "snapshots", handle.read().strip(), "config.json")
        if os.path.isfile(main_config):
            return main_config
    except OSError:
        pass
    snapshots = glob.glob(os.path.join(glob.escape(repo_dir), "snapshots", "*", "config.json"))
    return max(snapshots, key=os.path.getmtime) if snapshots else None


def _name_key(model: str) -> str:
    # "/models/Llama-3-8B" and "meta-llama/Meta-Llama-3-8B" name the same model.
    name = model.rstrip("/").rsplit("/", 1)[-1].lower()
    return name[len("meta-"):] if name.startswith("meta-") else name


def _known_model(model: str) -> Optional[str]:
    wanted = model.rstrip("/").lower()
    for model_id in KNOWN_MODELS:
        if model_id.lower() == wanted:
            return model_id
    key = _name_key(model)
    return next((model_id for model_id in KNOWN_MODELS if _name_key(model_id) == key), None)


def load_model_config(model: Optional[str], model_config: Optional[dict] = None,
                      hf_cache: Optional[str] = None) -> tuple[dict, str]:
    """Return the normalized config of a model and where it came from.

    Sources, first match wins: ``model_config`` (config.json fields, possibly partial), ``model``
    as a local directory holding config.json, the HF hub cache, then ``KNOWN_MODELS``.
    """
    if model_config:
        return _normalize(model_config, "model_config"), "model_config"
    if not model:
        raise ModelConfigError("neither a model nor a model_config was given. Fix: " + _CONFIG_FIX)
    tried = ["model_config (not given)"]
    local_config = os.path.join(os.path.expanduser(model), "config.json")
    if os.path.isfile(local_config):
        return _read_config(local_config), local_config
    tried.append("%s (no such file)" % local_config)
    if _looks_like_hf_id(model):
        cache_dir = _hf_cache_dir(hf_cache)
        cached_config = _hf_cache_config(model, cache_dir)
        if cached_config:
            return _read_config(cached_config), cached_config
        tried.append("the HF cache %s (no models--%s/snapshots/*/config.json)"
                     % (cache_dir, model.replace("/", "--")))
    known = _known_model(model)
    if known:
        return _normalize(KNOWN_MODELS[known], "known model " + known), "known_models:" + known
    tried.append("the built-in table of known models (no entry)")
    raise ModelConfigError("cannot find the config of model %r; tried %s. Fix: %s"
                           % (model, ", ".join(tried), _CONFIG_FIX))


# ---------------------------------------------------------------- arithmetic


@dataclass
class ParallelismError:
    variable: str  # parameter name; the planner prefixes it with sglang_
    rule: str
    message: str
    fix: str
    suggested_values: Dict[str, List[int]] = field(default_factory=dict)  # what `fix` proposes


@dataclass
class ParallelismReport:
    num_attention_heads: int
    num_key_value_heads: int
    num_routed_experts: Optional[int]
    attn_tp_size: Optional[int]  # None when tp_size is not a positive multiple of the DP-attention size
    valid_tp_sizes: List[int]
    errors: List[ParallelismError]

    def to_dict(self) -> dict:
        return asdict(self)


def _divisors(number: int) -> List[int]:
    return [candidate for candidate in range(1, number + 1) if number % candidate == 0]


def _kv_heads_fit(num_kv_heads: int, attn_tp_size: int) -> bool:
    # More KV heads than ranks: they are split; fewer: each is replicated on attn_tp/kv ranks.
    if num_kv_heads >= attn_tp_size:
        return num_kv_heads % attn_tp_size == 0
    return attn_tp_size % num_kv_heads == 0


def valid_attn_tp_sizes(num_heads: int, num_kv_heads: int, is_mla: bool) -> List[int]:
    """Attention-TP sizes that pass SGLang's head assertions (MLA carries only the heads one)."""
    return [size for size in _divisors(num_heads) if is_mla or _kv_heads_fit(num_kv_heads, size)]


def _choice(variable: str, values: List[int]) -> str:
    if len(values) == 1:
        return "set %s to %d" % (variable, values[0])
    return "use %s in %s" % (variable, ", ".join(str(value) for value in values))


def _error(variable: str, rule: str, message: str, choices: Dict[str, List[int]],
           notes: Optional[Dict[str, str]] = None, tail: str = "") -> ParallelismError:
    """An error whose fix offers ``choices`` (each alone clears the rule), ``notes`` explaining one."""
    suggested = {name: values for name, values in choices.items() if values}
    notes = notes or {}
    fix = ", or ".join(_choice(name, values) + notes.get(name, "") for name, values in suggested.items())
    return ParallelismError(variable, rule, message, fix + tail, suggested)


def check_parallelism(config: dict, *, tp_size: int, dp_size: int = 1, pp_size: int = 1, ep_size: int = 1,
                      enable_dp_attention: bool = False, ep_num_redundant_experts: int = 0,
                      nnodes: int = 1, gpus_per_node: int = 8) -> ParallelismReport:
    """Check one instance's sizes against SGLang's assertions; every error found is reported."""
    heads = config["num_attention_heads"]
    kv_heads = config["num_key_value_heads"]
    experts = config.get("num_routed_experts")
    is_mla = bool(config.get("is_mla"))
    # `--dp-size N --enable-dp-attention` becomes attention DP of width N and no replicas
    # (arg_groups/parallel_hook.py: handle_deprecated_dp_attention).
    attn_dp_size = dp_size if enable_dp_attention and dp_size > 0 else 1
    replicas = 1 if enable_dp_attention else dp_size
    valid_attn_tp = valid_attn_tp_sizes(heads, kv_heads, is_mla)
    valid_tp = [size * attn_dp_size for size in valid_attn_tp]
    report = ParallelismReport(heads, kv_heads, experts, None, valid_tp, [])
    errors = report.errors

    sizes = {"tp_size": tp_size, "dp_size": dp_size, "pp_size": pp_size, "ep_size": ep_size,
             "nnodes": nnodes, "gpus_per_node": gpus_per_node}
    for variable, value in sizes.items():
        if value < 1:
            errors.append(_error(variable, "positive", "%s is %d; every parallelism size must be at least 1."
                                 % (variable, value), {variable: [1]}))
    if ep_num_redundant_experts < 0:
        errors.append(_error("ep_num_redundant_experts", "non_negative",
                             "ep_num_redundant_experts is %d; it counts extra expert replicas."
                             % ep_num_redundant_experts, {"ep_num_redundant_experts": [0]}))
    if errors:
        return report  # the rules below divide by these sizes

    layout = "tp_size %d" % tp_size
    if attn_dp_size > 1:
        layout = "tp_size %d / dp_size %d under DP attention" % (tp_size, dp_size)
    # arg_groups/parallel_hook.py handle_data_parallelism: assert tp_size % attn_dp_size == 0.
    if tp_size % attn_dp_size:
        dp_choices = [size for size in _divisors(tp_size)[1:] if tp_size // size in valid_attn_tp]
        errors.append(_error(
            "dp_size", "dp_divides_tp",
            "tp_size %d is not divisible by dp_size %d: under DP attention each of the dp_size "
            "attention groups takes an equal share of the TP ranks, and SGLang asserts "
            "tp_size %% dp_size == 0." % (tp_size, dp_size),
            {"dp_size": dp_choices, "tp_size": valid_tp}))
    else:
        # runtime_context.py derive_attn_tp_size: attn_tp_size = tp_size // attn_dp_size.
        report.attn_tp_size = attn_tp = tp_size // attn_dp_size
        # models/llama.py, qwen2.py (tp_size), qwen3_moe.py, deepseek_v2.py (attn_tp_size):
        # assert total_num_heads % attn_tp_size == 0.
        if heads % attn_tp:
            errors.append(_error(
                "tp_size", "attention_heads_divisible",
                "%d attention heads are not divisible by the attention-TP size %d (%s): SGLang gives "
                "every attention-TP rank the same number of heads and asserts "
                "total_num_heads %% attn_tp_size == 0." % (heads, attn_tp, layout),
                {"tp_size": valid_tp}))
        # Same files: KV heads split when kv >= attn_tp, else replicated; MLA has no KV heads to split.
        if not is_mla and not _kv_heads_fit(kv_heads, attn_tp):
            errors.append(_error(
                "tp_size", "kv_heads_divisible",
                "%d KV heads and the attention-TP size %d (%s) divide neither way: SGLang splits KV "
                "heads over the ranks when there are at least as many (asserting %d %% %d == 0) and "
                "otherwise replicates them (asserting %d %% %d == 0)."
                % (kv_heads, attn_tp, layout, kv_heads, attn_tp, attn_tp, kv_heads),
                {"tp_size": valid_tp}))

    _check_gpu_placement(errors, valid_tp, tp_size=tp_size, dp_size=dp_size, pp_size=pp_size,
                         replicas=replicas, nnodes=nnodes, gpus_per_node=gpus_per_node)
    _check_experts(errors, experts, tp_size=tp_size, ep_size=ep_size, redundant=ep_num_redundant_experts)
    if config.get("stale_quantization"):
        # layers/quantization/fp8.py validate_block_quant_shapes: every TP slice and every part of a merged
        # weight must be whole blocks, which the unquantized checkpoint's shapes (576 = 512 + 64) are not.
        errors.append(ParallelismError(
            "model_path", "quantization_config_stale",
            "%s; SGLang would quantize them in blocks and fail with \"Weight output_partition_size = 576 is not "
            "divisible by weight quantization block_n = 128\"." % config["stale_quantization"],
            "remove the quantization_config block from the checkpoint's config.json (SGLang's DeepSeek usage "
            "guide; sgl-project/sglang#3491), or point sglang_model_path at the FP8 checkpoint"))
    return report


def _check_gpu_placement(errors: List[ParallelismError], valid_tp: List[int], *, tp_size: int, dp_size: int,
                         pp_size: int, replicas: int, nnodes: int, gpus_per_node: int) -> None:
    ranks = tp_size * pp_size
    # arg_groups/validation_hook.py check_server_args: no dp_size > 1 replicas with nnodes != 1.
    if replicas > 1 and nnodes != 1:
        errors.append(_error(
            "dp_size", "dp_replicas_single_node",
            "dp_size %d without DP attention starts %d independent replicas, and SGLang refuses "
            "data-parallel replicas across nnodes %d (multi-node DP must be DP attention)."
            % (dp_size, dp_size, nnodes),
            {"nnodes": [1], "dp_size": [1]}, tail=", or set enable_dp_attention to true"))
        return
    # arg_groups/validation_hook.py check_server_args: assert (tp_size * pp_size) % nnodes == 0.
    if ranks % nnodes:
        errors.append(_error(
            "nnodes", "nnodes_divides_tp_pp",
            "tp_size %d x pp_size %d = %d ranks cannot be spread evenly over nnodes %d; SGLang asserts "
            "tp_size * pp_size %% nnodes == 0." % (tp_size, pp_size, ranks, nnodes),
            {"nnodes": _divisors(ranks)}))
        return
    # entrypoints/engine.py _calculate_rank_ranges puts tp*pp/nnodes ranks, one GPU each, on every node
    # (the world size is tp*pp: distributed/parallel_state.py); replicas each take their own
    # tp*pp GPUs (managers/data_parallel_controller.py launch_dp_schedulers).
    instance_gpus = ranks * replicas
    assigned_gpus = nnodes * gpus_per_node
    if instance_gpus == assigned_gpus:
        return
    node_choices = []
    if instance_gpus % gpus_per_node == 0:
        nodes = instance_gpus // gpus_per_node
        if ranks % nodes == 0 and (replicas == 1 or nodes == 1):
            node_choices = [nodes]
    tp_choices = [size for size in valid_tp if size * pp_size * replicas == assigned_gpus
                  and (size * pp_size) % nnodes == 0]
    replica_text = " x %d replicas (dp_size)" % replicas if replicas > 1 else ""
    errors.append(_error(
        "gpus_per_node", "gpu_count",
        "one instance runs tp_size %d x pp_size %d%s = %d GPU ranks, but nnodes %d x gpus_per_node %d "
        "= %d GPUs are assigned to it: SGLang starts exactly tp_size x pp_size ranks, "
        "(tp_size x pp_size) / nnodes on each node, one GPU each."
        % (tp_size, pp_size, replica_text, instance_gpus, nnodes, gpus_per_node, assigned_gpus),
        {"gpus_per_node": [instance_gpus // nnodes], "nnodes": node_choices, "tp_size": tp_choices}))


def _check_experts(errors: List[ParallelismError], experts: Optional[int], *, tp_size: int, ep_size: int,
                   redundant: int) -> None:
    if experts is None:
        # eplb/expert_location.py: a model without routed experts gets no expert layout, so
        # SGLang ignores ep_size; a size > 1 means the inventory misreads the model.
        if ep_size > 1:
            errors.append(_error(
                "ep_size", "ep_needs_moe",
                "ep_size is %d but the model config names no routed experts (n_routed_experts, "
                "num_experts or num_local_experts): expert parallelism has nothing to shard." % ep_size,
                {"ep_size": [1]},
                tail="; if the model is MoE, add n_routed_experts to sglang_model_config"))
        return
    physical = experts + redundant
    ep_choices = [size for size in _divisors(tp_size) if physical % size == 0]
    # model_executor/model_runner_components/moe_ep_setup.py: tp_size must be divisible by ep_size
    # (EP groups are carved out of the TP group, moe_tp_size = tp // ep: distributed/parallel_state.py).
    if tp_size % ep_size:
        errors.append(_error(
            "ep_size", "ep_divides_tp",
            "tp_size %d is not divisible by ep_size %d: SGLang builds the expert-parallel groups "
            "inside the TP group and requires tp_size %% ep_size == 0." % (tp_size, ep_size),
            {"ep_size": ep_choices},
            notes={"ep_size": " (divisors of tp_size %d that divide the %d physical experts)" % (tp_size, physical)}))
    # eplb/expert_location.py: assert num_physical_experts % ep_size == 0.
    if physical % ep_size:
        needed = -experts % ep_size
        errors.append(_error(
            "ep_num_redundant_experts", "experts_divisible",
            "%d routed + %d redundant = %d physical experts are not divisible by ep_size %d: every EP "
            "rank holds the same number of experts, and SGLang asserts "
            "num_physical_experts %% ep_size == 0." % (experts, redundant, physical, ep_size),
            {"ep_num_redundant_experts": [needed], "ep_size": ep_choices},
            notes={"ep_num_redundant_experts": " (%d = %d x %d)" % (experts + needed, ep_size,
                                                                    (experts + needed) // ep_size),
                   "ep_size": " (divisors of tp_size %d that divide %d)" % (tp_size, physical)}))
