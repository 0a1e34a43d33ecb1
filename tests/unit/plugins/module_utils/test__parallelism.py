# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.gpufleet.sglang.plugins.module_utils._parallelism import (
    KNOWN_MODELS,
    ModelConfigError,
    ParallelismReport,
    check_parallelism,
    load_model_config,
    valid_attn_tp_sizes,
)

# Qwen2.5-7B: 28 layers x 2 (K, V) x 4 KV heads x head_dim 128 (3584 / 28) x 2 bytes (bfloat16).
QWEN_7B = {"num_attention_heads": 28, "num_key_value_heads": 4, "num_routed_experts": None,
           "is_mla": False, "architecture": "Qwen2ForCausalLM", "stale_quantization": None,
           "kv_bytes_per_token": 28 * 2 * 4 * 128 * 2, "kv_element_bytes": 2}
DEEPSEEK_V3 = {"num_attention_heads": 128, "num_key_value_heads": 128, "num_routed_experts": 256,
               "is_mla": True, "architecture": "DeepseekV3ForCausalLM"}
HEAD_RULES = {"attention_heads_divisible", "kv_heads_divisible"}


def rules(report: ParallelismReport) -> List[str]:
    return [error.rule for error in report.errors]


def error_for(report: ParallelismReport, rule: str):
    (error,) = [error for error in report.errors if error.rule == rule]
    return error


@pytest.fixture(autouse=True)
def isolated_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the real HF cache of the machine it runs on."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


# ---------------------------------------------------------------- head rules


def test_qwen_7b_valid_tp_excludes_7_and_14() -> None:
    config, source = load_model_config("Qwen/Qwen2.5-7B-Instruct")
    assert config == QWEN_7B
    assert source == "known_models:Qwen/Qwen2.5-7B-Instruct"
    assert check_parallelism(config, tp_size=4, gpus_per_node=4).valid_tp_sizes == [1, 2, 4, 28]


@pytest.mark.parametrize("tp_size", [7, 14])
def test_qwen_7b_tp_7_and_14_break_the_kv_rule(tp_size: int) -> None:
    report = check_parallelism(QWEN_7B, tp_size=tp_size, gpus_per_node=tp_size)
    assert rules(report) == ["kv_heads_divisible"]
    error = report.errors[0]
    assert error.variable == "tp_size"
    assert error.fix == "use tp_size in 1, 2, 4, 28"
    assert "4 KV heads" in error.message and "size %d" % tp_size in error.message


@pytest.mark.parametrize("tp_size, expected", [
    (1, []), (2, []), (4, []), (28, []),
    (3, ["attention_heads_divisible", "kv_heads_divisible"]),
    (8, ["attention_heads_divisible"]),
    (56, ["attention_heads_divisible"]),
])
def test_qwen_7b_head_rules(tp_size: int, expected: List[str]) -> None:
    assert rules(check_parallelism(QWEN_7B, tp_size=tp_size, gpus_per_node=tp_size)) == expected


@pytest.mark.parametrize("num_heads, num_kv_heads, is_mla, expected", [
    (28, 4, False, [1, 2, 4, 28]),
    (64, 8, False, [1, 2, 4, 8, 16, 32, 64]),
    (32, 8, False, [1, 2, 4, 8, 16, 32]),
    (40, 8, False, [1, 2, 4, 8, 40]),
    (128, 128, True, [1, 2, 4, 8, 16, 32, 64, 128]),
    (12, 12, True, [1, 2, 3, 4, 6, 12]),
    (12, 2, False, [1, 2, 4, 6, 12]),
])
def test_valid_attn_tp_sizes(num_heads: int, num_kv_heads: int, is_mla: bool, expected: List[int]) -> None:
    assert valid_attn_tp_sizes(num_heads, num_kv_heads, is_mla) == expected


def test_mla_carries_only_the_heads_rule() -> None:
    report = check_parallelism(DEEPSEEK_V3, tp_size=16, nnodes=2)
    assert report.errors == []
    assert report.valid_tp_sizes == [1, 2, 4, 8, 16, 32, 64, 128]


def test_dp_attention_shrinks_the_attention_tp() -> None:
    report = check_parallelism(DEEPSEEK_V3, tp_size=16, dp_size=2, enable_dp_attention=True, nnodes=2)
    assert report.attn_tp_size == 8
    assert report.errors == []
    assert report.valid_tp_sizes == [2, 4, 8, 16, 32, 64, 128, 256]


def test_dp_without_dp_attention_keeps_the_full_tp() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, dp_size=2)
    assert report.attn_tp_size == 4
    assert report.valid_tp_sizes == [1, 2, 4, 28]
    assert report.errors == []  # 2 replicas x 4 GPUs = 8


def test_dp_attention_needs_dp_dividing_tp() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, dp_size=3, enable_dp_attention=True, gpus_per_node=4)
    assert rules(report) == ["dp_divides_tp"]
    assert report.attn_tp_size is None
    error = report.errors[0]
    assert error.variable == "dp_size"
    assert error.suggested_values == {"dp_size": [2, 4], "tp_size": [3, 6, 12, 84]}
    assert error.fix == "use dp_size in 2, 4, or use tp_size in 3, 6, 12, 84"


# ---------------------------------------------------------------- GPU placement


def test_4p9d_as_often_written_prefill_has_half_its_gpus_idle() -> None:
    # The 4P9D as often written: 4 nodes of 8 GPUs, --tp-size 16 --dp-size 8 --enable-dp-attention.
    report = check_parallelism(DEEPSEEK_V3, tp_size=16, dp_size=8, enable_dp_attention=True,
                               nnodes=4, gpus_per_node=8)
    assert rules(report) == ["gpu_count"]
    error = report.errors[0]
    assert error.variable == "gpus_per_node"
    assert "16 GPU ranks" in error.message and "32 GPUs" in error.message
    assert error.fix == "set gpus_per_node to 4, or set nnodes to 2, or set tp_size to 32"


def test_2p2d_as_often_written_two_nodes_with_tp_8() -> None:
    report = check_parallelism(DEEPSEEK_V3, tp_size=8, nnodes=2, gpus_per_node=8)
    assert error_for(report, "gpu_count").suggested_values == {
        "gpus_per_node": [4], "nnodes": [1], "tp_size": [16]}


def test_pipeline_stages_count_as_gpus() -> None:
    assert check_parallelism(QWEN_7B, tp_size=4, pp_size=2, nnodes=2, gpus_per_node=4).errors == []


def test_dp_replicas_each_take_their_own_gpus() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, dp_size=2, gpus_per_node=4)
    assert error_for(report, "gpu_count").suggested_values["gpus_per_node"] == [8]


def test_dp_replicas_cannot_span_nodes() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, dp_size=2, nnodes=2, gpus_per_node=4)
    assert rules(report) == ["dp_replicas_single_node"]
    assert report.errors[0].fix == "set nnodes to 1, or set dp_size to 1, or set enable_dp_attention to true"


def test_nnodes_must_divide_tp_times_pp() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, nnodes=3, gpus_per_node=2)
    assert rules(report) == ["nnodes_divides_tp_pp"]
    assert report.errors[0].suggested_values == {"nnodes": [1, 2, 4]}


# ---------------------------------------------------------------- experts


@pytest.mark.parametrize("redundant", [0, 32])
def test_deepseek_ep_32_works_with_0_or_32_redundant(redundant: int) -> None:
    report = check_parallelism(DEEPSEEK_V3, tp_size=32, dp_size=32, enable_dp_attention=True, ep_size=32,
                               ep_num_redundant_experts=redundant, nnodes=4)
    assert report.errors == []


def test_deepseek_ep_72_needs_32_redundant() -> None:
    sizes = dict(tp_size=72, dp_size=9, enable_dp_attention=True, ep_size=72, nnodes=9)
    report = check_parallelism(DEEPSEEK_V3, **sizes)
    assert rules(report) == ["experts_divisible"]
    error = report.errors[0]
    assert error.variable == "ep_num_redundant_experts"
    assert error.fix.startswith("set ep_num_redundant_experts to 32 (288 = 72 x 4)")
    assert error.suggested_values == {"ep_num_redundant_experts": [32], "ep_size": [1, 2, 4, 8]}
    assert check_parallelism(DEEPSEEK_V3, ep_num_redundant_experts=32, **sizes).errors == []


def test_ep_must_divide_tp() -> None:
    report = check_parallelism(DEEPSEEK_V3, tp_size=32, ep_size=24, nnodes=4)
    assert rules(report) == ["ep_divides_tp", "experts_divisible"]
    assert error_for(report, "ep_divides_tp").suggested_values == {"ep_size": [1, 2, 4, 8, 16, 32]}


def test_ep_on_a_dense_model() -> None:
    report = check_parallelism(QWEN_7B, tp_size=4, ep_size=4, gpus_per_node=4)
    assert rules(report) == ["ep_needs_moe"]
    assert report.errors[0].fix.startswith("set ep_size to 1;")


def test_non_positive_sizes_are_errors() -> None:
    report = check_parallelism(QWEN_7B, tp_size=0, pp_size=-1, ep_num_redundant_experts=-2)
    assert [(error.variable, error.rule) for error in report.errors] == [
        ("tp_size", "positive"), ("pp_size", "positive"), ("ep_num_redundant_experts", "non_negative")]
    assert report.attn_tp_size is None


def test_report_to_dict() -> None:
    report = check_parallelism(QWEN_7B, tp_size=7, gpus_per_node=7)
    assert report.to_dict() == {
        "num_attention_heads": 28, "num_key_value_heads": 4, "num_routed_experts": None, "attn_tp_size": 7,
        "valid_tp_sizes": [1, 2, 4, 28],
        "errors": [{"variable": "tp_size", "rule": "kv_heads_divisible",
                    "message": report.errors[0].message, "fix": "use tp_size in 1, 2, 4, 28",
                    "suggested_values": {"tp_size": [1, 2, 4, 28]}}],
    }
    json.dumps(report.to_dict())


# ---------------------------------------------------------------- config loading


def write_config(directory: Path, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_local_directory(tmp_path: Path) -> None:
    path = write_config(tmp_path / "Qwen2.5-7B", {
        "architectures": ["Qwen3MoeForCausalLM"], "num_attention_heads": 32, "num_key_value_heads": 4,
        "num_experts": 128})
    config, source = load_model_config(str(path.parent))
    assert source == str(path)
    assert config == {"num_attention_heads": 32, "num_key_value_heads": 4, "num_routed_experts": 128,
                      "is_mla": False, "architecture": "Qwen3MoeForCausalLM", "stale_quantization": None,
                      "kv_bytes_per_token": None, "kv_element_bytes": 2}


def test_hf_cache_prefers_the_snapshot_refs_main_names(tmp_path: Path) -> None:
    repo = tmp_path / "cache" / "models--acme--Mixtral-Tiny"
    write_config(repo / "snapshots" / "aaa", {"num_attention_heads": 8})
    expected = write_config(repo / "snapshots" / "bbb", {
        "architectures": ["MixtralForCausalLM"], "num_attention_heads": 32, "num_key_value_heads": 8,
        "num_local_experts": 8})
    os.utime(repo / "snapshots" / "aaa" / "config.json", (2_000_000_000, 2_000_000_000))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("bbb\n", encoding="utf-8")
    config, source = load_model_config("acme/mixtral-tiny", hf_cache=str(tmp_path / "cache"))
    assert source == str(expected)
    assert config["num_routed_experts"] == 8 and config["num_attention_heads"] == 32


def test_hf_cache_from_environment_newest_snapshot(isolated_hf_cache: Path) -> None:
    repo = isolated_hf_cache / "models--Qwen--Qwen2.5-7B"
    old = write_config(repo / "snapshots" / "old", {"num_attention_heads": 99})
    new = write_config(repo / "snapshots" / "new", {"num_attention_heads": 14, "num_key_value_heads": 2})
    os.utime(old, (1_000_000_000, 1_000_000_000))
    config, source = load_model_config("Qwen/Qwen2.5-7B")
    assert (config["num_attention_heads"], config["num_key_value_heads"], source) == (14, 2, str(new))


def test_hf_home_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write_config(tmp_path / "hf" / "hub" / "models--acme--m" / "snapshots" / "x", {"num_attention_heads": 6})
    assert load_model_config("acme/m")[0]["num_attention_heads"] == 6


def test_nested_text_config_wins() -> None:
    config, source = load_model_config(None, {
        "architectures": ["Llama4ForConditionalGeneration"],
        "num_attention_heads": 16,
        "text_config": {"num_attention_heads": 40, "num_key_value_heads": 8, "num_local_experts": 16},
    })
    assert source == "model_config"
    assert config == {"num_attention_heads": 40, "num_key_value_heads": 8, "num_routed_experts": 16,
                      "is_mla": False, "architecture": "Llama4ForConditionalGeneration", "stale_quantization": None,
                      "kv_bytes_per_token": None, "kv_element_bytes": 2}


def test_model_config_beats_every_lookup() -> None:
    config, source = load_model_config("deepseek-ai/DeepSeek-V3", {"num_attention_heads": 12})
    assert source == "model_config"
    assert config == {"num_attention_heads": 12, "num_key_value_heads": 12, "num_routed_experts": None,
                      "is_mla": False, "architecture": None, "stale_quantization": None,
                      "kv_bytes_per_token": None, "kv_element_bytes": 2}


@pytest.mark.parametrize("model, expected", [
    # layers x 2 (K, V) x KV heads x head_dim x 2 bytes; MLA: layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes.
    ("meta-llama/Llama-3.1-8B-Instruct", 32 * 2 * 8 * 128 * 2),
    ("meta-llama/Llama-3.1-70B-Instruct", 80 * 2 * 8 * 128 * 2),
    ("meta-llama/Llama-3.1-405B", 126 * 2 * 8 * 128 * 2),
    ("Qwen/Qwen2.5-72B-Instruct", 80 * 2 * 8 * 128 * 2),
    ("deepseek-ai/DeepSeek-V3", 61 * (512 + 64) * 2),
])
def test_kv_bytes_per_token_of_known_models(model: str, expected: int) -> None:
    assert load_model_config(model)[0]["kv_bytes_per_token"] == expected


def test_kv_bytes_per_token_from_a_config() -> None:
    dense = {"num_attention_heads": 16, "num_key_value_heads": 2, "num_hidden_layers": 4, "hidden_size": 1024}
    assert load_model_config(None, dense)[0]["kv_bytes_per_token"] == 4 * 2 * 2 * 64 * 2
    # head_dim wins over hidden_size / heads (Gemma, Qwen3); float32 weights cache float32 KV.
    assert load_model_config(None, dict(dense, head_dim=256, torch_dtype="float32"))[0]["kv_bytes_per_token"] == \
        4 * 2 * 2 * 256 * 4
    # Unknown: no layer count, an unknown dtype, an MLA model without its rope dimension.
    assert load_model_config(None, dict(dense, num_hidden_layers=None))[0]["kv_bytes_per_token"] is None
    assert load_model_config(None, dict(dense, torch_dtype="int4"))[0]["kv_bytes_per_token"] is None
    assert load_model_config(None, dict(dense, kv_lora_rank=512))[0]["kv_bytes_per_token"] is None


def test_kv_lora_rank_marks_mla() -> None:
    assert load_model_config(None, {"num_attention_heads": 16, "kv_lora_rank": 512})[0]["is_mla"] is True


@pytest.mark.parametrize("model, expected_id", [
    ("/models/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-405B-Instruct"),
    ("META-LLAMA/META-LLAMA-3-8B-INSTRUCT", "meta-llama/Meta-Llama-3-8B-Instruct"),
    ("Llama-3-70B", "meta-llama/Meta-Llama-3-70B"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"),
    ("/data/DeepSeek-V3-0324/", "deepseek-ai/DeepSeek-V3-0324"),
])
def test_known_models_by_id_or_last_path_component(model: str, expected_id: str) -> None:
    assert load_model_config(model)[1] == "known_models:" + expected_id


@pytest.mark.parametrize("model_id, heads, kv_heads", [
    ("Qwen/Qwen2.5-7B", 28, 4), ("Qwen/Qwen2.5-72B-Instruct", 64, 8),
    ("meta-llama/Meta-Llama-3-8B", 32, 8), ("meta-llama/Llama-3.1-8B-Instruct", 32, 8),
    ("meta-llama/Meta-Llama-3-70B-Instruct", 64, 8), ("meta-llama/Llama-3.1-70B", 64, 8),
    ("meta-llama/Llama-3.1-405B-Instruct", 128, 8), ("deepseek-ai/DeepSeek-V3", 128, 128),
])
def test_known_model_values(model_id: str, heads: int, kv_heads: int) -> None:
    config = load_model_config(model_id)[0]
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (heads, kv_heads)


@pytest.mark.parametrize("model_id", ["deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324",
                                      "deepseek-ai/DeepSeek-R1"])
def test_deepseek_family_is_mla_with_256_experts(model_id: str) -> None:
    config = load_model_config(model_id)[0]
    assert (config["is_mla"], config["num_routed_experts"]) == (True, 256)


def test_unknown_model_says_what_was_tried_and_the_fix(isolated_hf_cache: Path) -> None:
    with pytest.raises(ModelConfigError) as raised:
        load_model_config("acme/secret-model")
    message = str(raised.value)
    assert "acme/secret-model/config.json" in message
    assert str(isolated_hf_cache) in message
    assert "sglang_model_config: {num_attention_heads: N, num_key_value_heads: M}" in message


@pytest.mark.parametrize("model_config", [{"num_key_value_heads": 8}, {"num_attention_heads": 0},
                                          {"num_attention_heads": 8, "num_key_value_heads": -1}])
def test_unusable_model_config(model_config: dict) -> None:
    with pytest.raises(ModelConfigError, match="sglang_model_config"):
        load_model_config(None, model_config)


def test_broken_config_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="cannot read"):
        load_model_config(str(tmp_path))


# An FP8 block-quantized DeepSeek-V3's config.json (as SGLang's DeepSeek usage guide shows it), and tensor names of its checkpoint.
FP8_DEEPSEEK_CONFIG = {"architectures": ["DeepseekV3ForCausalLM"], "num_attention_heads": 128, "num_key_value_heads": 128,
                       "n_routed_experts": 256, "kv_lora_rank": 512,
                       "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                               "weight_block_size": [128, 128]}}
BF16_TENSORS = ["model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "model.layers.0.mlp.gate_proj.weight"]
FP8_TENSORS = BF16_TENSORS + ["model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv"]


def write_index(directory: Path, names: List[str]) -> None:
    weight_map = {name: "model-00001-of-00001.safetensors" for name in names}
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}), encoding="utf-8")


def write_single_file(directory: Path, names: List[str]) -> None:
    """A model.safetensors whose header names the tensors (8-byte little-endian length, JSON; no data needed)."""
    header = {name: {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]} for name in names}
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    (directory / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0\0")


@pytest.mark.parametrize("write", [write_index, write_single_file])
def test_a_bf16_checkpoint_with_an_fp8_quantization_config_is_refused_with_the_fix(tmp_path: Path, write) -> None:
    write_config(tmp_path, FP8_DEEPSEEK_CONFIG)
    write(tmp_path, BF16_TENSORS)
    config = load_model_config(str(tmp_path))[0]
    error = error_for(check_parallelism(config, tp_size=8), "quantization_config_stale")
    assert error.variable == "model_path"
    assert "weight_block_size [128, 128]" in error.message and "none of the 2 tensors" in error.message
    assert "block_n = 128" in error.message
    assert error.fix.startswith("remove the quantization_config block from the checkpoint's config.json")


@pytest.mark.parametrize("write", [write_index, write_single_file])
def test_an_fp8_checkpoint_or_one_without_weights_passes(tmp_path: Path, write) -> None:
    write_config(tmp_path / "fp8", FP8_DEEPSEEK_CONFIG)
    write(tmp_path / "fp8", FP8_TENSORS)
    write_config(tmp_path / "config-only", FP8_DEEPSEEK_CONFIG)
    for directory in ("fp8", "config-only"):
        config = load_model_config(str(tmp_path / directory))[0]
        assert config["stale_quantization"] is None
        assert rules(check_parallelism(config, tp_size=8)) == []


def test_a_bf16_checkpoint_without_quantization_config_passes(tmp_path: Path) -> None:
    write_config(tmp_path, {key: value for key, value in FP8_DEEPSEEK_CONFIG.items() if key != "quantization_config"})
    write_index(tmp_path, BF16_TENSORS)
    assert load_model_config(str(tmp_path))[0]["stale_quantization"] is None


def test_known_models_cover_the_common_models() -> None:
    for name in ("Qwen2.5-7B", "Qwen2.5-72B", "Llama-3-8B", "Llama-3-70B", "DeepSeek-R1"):
        assert load_model_config(name)[1].startswith("known_models:")
    assert len(KNOWN_MODELS) >= 20


# ---------------------------------------------------------------- properties

SIZES = dict(tp_size=st.integers(-1, 140), dp_size=st.integers(-1, 12), pp_size=st.integers(0, 4),
             ep_size=st.integers(0, 80), enable_dp_attention=st.booleans(),
             ep_num_redundant_experts=st.integers(-1, 64), nnodes=st.integers(0, 10),
             gpus_per_node=st.integers(0, 16))


@st.composite
def model_configs(draw) -> dict:
    heads = draw(st.integers(1, 128))
    is_mla = draw(st.booleans())
    kv_heads = heads if is_mla else draw(st.sampled_from([kv for kv in range(1, heads + 1) if heads % kv == 0]))
    experts = draw(st.one_of(st.none(), st.integers(1, 300)))
    return {"num_attention_heads": heads, "num_key_value_heads": kv_heads, "num_routed_experts": experts,
            "is_mla": is_mla, "architecture": None}


@settings(max_examples=400, deadline=None)
@given(config=model_configs(), tp_size=st.integers(1, 300), dp_size=st.integers(1, 8),
       enable_dp_attention=st.booleans())
def test_head_rules_hold_exactly_for_valid_tp_sizes(config: dict, tp_size: int, dp_size: int,
                                                    enable_dp_attention: bool) -> None:
    report = check_parallelism(config, tp_size=tp_size, dp_size=dp_size, enable_dp_attention=enable_dp_attention)
    if enable_dp_attention and tp_size % dp_size:
        assert report.attn_tp_size is None and "dp_divides_tp" in rules(report)
        assert tp_size not in report.valid_tp_sizes
        return
    head_errors = HEAD_RULES.intersection(rules(report))
    assert (not head_errors) == (tp_size in report.valid_tp_sizes)
    if enable_dp_attention:
        assert report.attn_tp_size * dp_size == tp_size
    else:
        assert report.attn_tp_size == tp_size


@settings(max_examples=300, deadline=None)
@given(heads=st.integers(1, 96), kv_heads=st.integers(1, 96), attn_tp=st.integers(1, 200))
def test_valid_attn_tp_sizes_match_an_even_split(heads: int, kv_heads: int, attn_tp: int) -> None:
    # Independent statement of SGLang's layout: every rank gets the same number of query heads, and
    # either the KV heads split evenly or every KV head sits on the same number of ranks.
    even_heads = heads % attn_tp == 0
    even_kv = (kv_heads % attn_tp == 0) if kv_heads >= attn_tp else (attn_tp % kv_heads == 0)
    assert (attn_tp in valid_attn_tp_sizes(heads, kv_heads, False)) == (even_heads and even_kv)
    assert (attn_tp in valid_attn_tp_sizes(heads, kv_heads, True)) == even_heads


@settings(max_examples=500, deadline=None)
@given(config=model_configs(), data=st.data())
def test_every_fix_names_values_that_clear_the_rule(config: dict, data: st.DataObject) -> None:
    sizes: Dict[str, object] = {name: data.draw(strategy, label=name) for name, strategy in SIZES.items()}
    report = check_parallelism(config, **sizes)
    for error in report.errors:
        assert error.suggested_values, error
        assert error.fix and error.message
        for variable, values in error.suggested_values.items():
            assert variable in error.fix
            for value in values:
                assert str(value) in error.fix
                fixed = check_parallelism(config, **dict(sizes, **{variable: value}))
                remaining = {(other.rule, other.variable) for other in fixed.errors}
                assert (error.rule, error.variable) not in remaining, (error, variable, value)


@settings(max_examples=300, deadline=None)
@given(config=model_configs(), data=st.data())
def test_consistent_sizes_pass(config: dict, data: st.DataObject) -> None:
    """A layout built from the valid sizes passes every rule."""
    enable_dp_attention = data.draw(st.booleans())
    dp_size = data.draw(st.integers(1, 8))
    tp_size = data.draw(st.sampled_from(check_parallelism(
        config, tp_size=1, dp_size=dp_size, enable_dp_attention=enable_dp_attention).valid_tp_sizes))
    pp_size = data.draw(st.integers(1, 4))
    ranks = tp_size * pp_size
    nnodes = data.draw(st.sampled_from([n for n in range(1, ranks + 1) if ranks % n == 0]))
    if not enable_dp_attention and dp_size > 1:
        nnodes = 1
    replicas = 1 if enable_dp_attention else dp_size
    experts = config["num_routed_experts"]
    ep_size = 1
    if experts is not None:
        ep_size = data.draw(st.sampled_from([e for e in range(1, tp_size + 1) if tp_size % e == 0]))
    redundant = -experts % ep_size if experts is not None else 0
    report = check_parallelism(config, tp_size=tp_size, dp_size=dp_size, pp_size=pp_size, ep_size=ep_size,
                               enable_dp_attention=enable_dp_attention, ep_num_redundant_experts=redundant,
                               nnodes=nnodes, gpus_per_node=ranks * replicas // nnodes)
    assert report.errors == []
