# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
from pathlib import Path

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import parallelism_check


@pytest.fixture(autouse=True)
def isolated_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))


def run_module(capsys: pytest.CaptureFixture, **args) -> dict:
    code, result = module_harness.run_module(parallelism_check, capsys, **args)
    assert code == (1 if result.get("failed") else 0)
    return result


def test_valid_instance(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, model="Qwen/Qwen2.5-7B-Instruct", tp_size=4, gpus_per_node=4)
    assert not result.get("failed")
    assert result["changed"] is False
    assert (result["num_attention_heads"], result["num_key_value_heads"]) == (28, 4)
    assert result["num_routed_experts"] is None
    assert result["attn_tp_size"] == 4
    assert result["valid_tp_sizes"] == [1, 2, 4, 28]
    assert result["config_source"] == "known_models:Qwen/Qwen2.5-7B-Instruct"
    assert result["errors"] == []


def test_every_error_and_its_fix_in_msg(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, model="deepseek-ai/DeepSeek-V3-0324", tp_size=16, dp_size=8,
                        enable_dp_attention=True, ep_size=12, nnodes=4, gpus_per_node=8)
    assert result["failed"] is True
    assert [error["rule"] for error in result["errors"]] == ["gpu_count", "ep_divides_tp", "experts_divisible"]
    assert result["msg"].startswith("3 parallelism error(s) for model deepseek-ai/DeepSeek-V3-0324: (1) gpus_per_node")
    for error in result["errors"]:
        assert "Fix: %s." % error["fix"] in result["msg"]
    assert "set gpus_per_node to 4, or set nnodes to 2, or set tp_size to 32" in result["msg"]
    assert "set ep_num_redundant_experts to 8 (264 = 12 x 22)" in result["msg"]
    assert result["attn_tp_size"] == 2


def test_model_config_instead_of_a_model(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, model_config={"text_config": {"num_attention_heads": 40, "num_key_value_heads": 8}},
                        tp_size=5, gpus_per_node=5)
    assert result["failed"] is True
    assert [error["rule"] for error in result["errors"]] == ["kv_heads_divisible"]
    assert result["config_source"] == "model_config"
    assert "use tp_size in 1, 2, 4, 8, 40" in result["msg"]


def test_unknown_model_fails_with_the_config_fix(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, model="acme/secret-model", tp_size=8)
    assert result["failed"] is True
    assert "cannot find the config of model 'acme/secret-model'" in result["msg"]
    assert "sglang_model_config: {num_attention_heads: N, num_key_value_heads: M}" in result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_model_or_model_config_is_required(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, tp_size=8)
    assert result["failed"] is True
    assert "one of the following is required: model, model_config" in result["msg"]


def test_check_mode_reports_the_same(capsys: pytest.CaptureFixture) -> None:
    result = run_module(capsys, model="/models/Llama-3.1-405B-Instruct", tp_size=16, nnodes=2,
                        _ansible_check_mode=True)
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["config_source"] == "known_models:meta-llama/Llama-3.1-405B-Instruct"
    assert result["valid_tp_sizes"] == [1, 2, 4, 8, 16, 32, 64, 128]
