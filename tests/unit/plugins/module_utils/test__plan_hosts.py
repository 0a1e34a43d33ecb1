# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each host's preflight block, decided by the plan (the preflight phase only runs it)."""
from __future__ import annotations

from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import SCHEMA_VERSION, build_plan

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def plan(groups, hostvars):
    result = build_plan(groups, hostvars)
    assert not result.errors, "\n".join(map(str, result.errors))
    return result.plan


def pd(common=None, per_host=None):
    groups = {"sglang_prefill": ["p0", "p1"], "sglang_decode": ["d0"], "sglang_router": ["r0"]}
    hostvars = {"p0": {"ansible_host": "gpu-a.example"}, "p1": {"ansible_host": "10.0.0.2", "ansible_port": 2222},
                "d0": {"ansible_host": "10.0.0.3"}, "r0": {"ansible_host": "10.0.0.4"}}
    for host in ("p0", "p1", "d0"):
        hostvars[host].update({"sglang_model_path": LLAMA_8B, "sglang_tp_size": 16,
                               "sglang_nnodes": 2 if host != "d0" else 1, **(common or {})})
    hostvars["d0"]["sglang_tp_size"] = 8
    for host, values in (per_host or {}).items():
        hostvars[host].update(values)
    return plan(groups, hostvars)


def test_the_plan_is_version_2_with_a_block_per_host():
    result = pd()
    assert result["schema_version"] == SCHEMA_VERSION == 2
    assert list(result["hosts"]) == ["p0", "p1", "d0", "r0"]
    assert result["hosts"]["p0"]["machine"] == "gpu-a.example"


def test_the_model_cache_is_the_service_users_not_roots():
    block = pd()["hosts"]["p0"]["preflight"]
    assert block["disk"] == [
        {"path": "/opt/sglang/venv", "min_free_bytes": 20 * 2**30, "purpose": "virtualenv of sglang-prefill-0"},
        {"path": "/var/lib/sglang/.cache/huggingface", "min_free_bytes": 50 * 2**30,
         "purpose": "Hugging Face cache of sglang-prefill-0 (user sglang)"}]
    moved = pd(common={"sglang_service_home": "/srv/sglang/", "sglang_env": {"HF_HOME": "/data/hf"}})
    assert [d["path"] for d in moved["hosts"]["d0"]["preflight"]["disk"]] == ["/opt/sglang/venv", "/data/hf"]


def test_simulator_nodes_need_no_virtualenv_space():
    block = pd(common={"sglang_service_engine": "simulator"})["hosts"]["d0"]["preflight"]
    assert [d["path"] for d in block["disk"]] == ["/var/lib/sglang/.cache/huggingface"]
    assert not any(d["path"] == "/usr" for d in block["disk"])


def test_a_local_model_path_must_exist_and_needs_no_cache():
    block = pd(common={"sglang_model_path": "/models/llama-8b", "sglang_model_config": {
        "num_attention_heads": 32, "num_key_value_heads": 8}})["hosts"]["p1"]["preflight"]
    assert block["paths_present"] == ["/models/llama-8b"]
    assert [d["path"] for d in block["disk"]] == ["/opt/sglang/venv"]


def test_ports_modules_reach_and_names():
    result = pd(common={"sglang_transfer_backend": "mooncake"})
    p1 = result["hosts"]["p1"]["preflight"]
    assert {"port": 30000, "purpose": "http (sglang-prefill-0)", "unit": "sglang-prefill-0"} in p1["ports"]
    assert p1["kernel_modules"] == ["nvidia", "nvidia_uvm", "nvidia_peermem"] and p1["rdma"] and p1["memlock_min"] == "unlimited"
    # Rank 1 reaches its master by name on the master's SSH port; the master reaches nobody.
    assert p1["reach"] == [{"host": "gpu-a.example", "port": 22}] and result["hosts"]["p0"]["preflight"]["reach"] == []
    assert p1["resolve"] == ["gpu-a.example"]
    router = result["hosts"]["r0"]["preflight"]
    assert router["gpu_ids"] == [] and router["kernel_modules"] == [] and router["shm_min_bytes"] is None
    assert router["disk"] == [{"path": "/opt/sglang-router/venv", "min_free_bytes": 20 * 2**30,
                               "purpose": "virtualenv of sglang-router"}]


def test_modules_named_in_the_inventory_win_over_auto():
    block = pd(per_host={"d0": {"sglang_preflight_kernel_modules": ["gdrdrv"]}})["hosts"]["d0"]["preflight"]
    assert block["kernel_modules"] == ["gdrdrv"]


def test_every_service_carries_its_facts():
    result = pd()
    worker = next(s for s in result["services"] if s["unit"] == "sglang-decode-0")
    assert {k: worker[k] for k in ("bind", "http_port", "venv", "user", "group", "home", "env_file", "release_profile",
                                   "weights_dir", "metrics_port")} == {
        "bind": "0.0.0.0", "http_port": 30000, "venv": "/opt/sglang/venv", "user": "sglang", "group": "sglang",
        "home": "/var/lib/sglang", "env_file": "/etc/sglang/sglang-decode-0.env", "release_profile": "0.5.23",
        "weights_dir": "/var/lib/sglang/.cache/huggingface/hub/models--meta-llama--Llama-3.1-8B-Instruct",
        "metrics_port": None}
    router = next(s for s in result["services"] if s["kind"] == "router")
    assert router["metrics_port"] == 29000 and router["venv"] == "/opt/sglang-router/venv" and router["weights_dir"] is None
