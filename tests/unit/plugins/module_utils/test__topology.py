# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The topology plan: what runs where, and every reason a fleet is refused."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import build_plan

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"  # 64 heads, 8 KV heads
# What every worker of the real engine needs loaded before its hardened unit starts.
DRIVER = ["nvidia", "nvidia_uvm"]
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"  # 28 heads, 4 KV heads
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"  # 128 heads (MLA), 256 routed experts


def fleet(prefill=(), decode=(), workers=(), routers=("r0",), common=None, per_host=None):
    """groups and hostvars for hosts named by role; addresses are derived from the names."""
    groups = {"sglang_prefill": list(prefill), "sglang_decode": list(decode),
              "sglang_workers": list(workers), "sglang_router": list(routers)}
    hostvars = {}
    for index, host in enumerate(list(prefill) + list(decode) + list(workers) + list(routers)):
        hostvars[host] = {"ansible_host": "10.0.%d.%d" % (index // 200, index % 200 + 10)}
        if host not in routers:
            hostvars[host].update({"sglang_model_path": LLAMA_70B, "sglang_tp_size": 8})
            hostvars[host].update(common or {})
        hostvars[host].update((per_host or {}).get(host, {}))
    return groups, hostvars


def plan_of(*args, **kwargs):
    result = build_plan(*fleet(*args, **kwargs))
    assert not result.errors, "\n".join(map(str, result.errors))
    return result.plan


def errors_of(*args, **kwargs):
    result = build_plan(*fleet(*args, **kwargs))
    assert result.plan is None
    return result.errors


def services(plan, host):
    return [s for s in plan["services"] if s["host"] == host]


def flag(argv, name):
    return argv[argv.index(name) + 1]


# ------------------------------------------------------------ shapes


def test_single_node_argv_is_complete_and_listens_on_all_interfaces():
    plan = plan_of(workers=["g0"], routers=())
    (worker,) = plan["services"]
    assert worker["argv"] == [
        "/opt/sglang/venv/bin/python", "-m", "sglang.launch_server",
        "--model-path", LLAMA_70B, "--host", "0.0.0.0", "--port", "30000", "--tp-size", "8",
        "--base-gpu-id", "0",
    ]
    assert plan["mode"] == "regular" and plan["router"] is None and plan["links"] == []
    assert worker["gpu_ids"] == list(range(8))
    json.dumps(plan)  # the plan is written as JSON as is


def test_multinode_tp_ranks_share_the_master_dist_init_address():
    plan = plan_of(workers=["g0", "g1"], routers=(), common={"sglang_nnodes": 2, "sglang_tp_size": 16})
    (instance,) = plan["instances"]
    assert instance["dist_init_addr"] == "10.0.0.10:5000"
    assert [n["host"] for n in instance["nodes"]] == ["g0", "g1"]
    for rank, host in enumerate(["g0", "g1"]):
        (service,) = services(plan, host)
        assert flag(service["argv"], "--node-rank") == str(rank)
        assert flag(service["argv"], "--dist-init-addr") == "10.0.0.10:5000"
        assert flag(service["argv"], "--nnodes") == "2"
        assert {"port": 5000, "purpose": "dist-init"} in service["ports"]


def test_pd_router_lists_every_master_with_its_bootstrap_port():
    plan = plan_of(prefill=["p0", "p1"], decode=["d0", "d1"])
    (router,) = services(plan, "r0")
    argv = router["argv"]
    assert argv[:3] == ["/opt/sglang-router/venv/bin/smg", "launch", "--pd-disaggregation"]
    assert argv[3:13] == ["--prefill", "http://10.0.0.10:30000", "8998", "--prefill", "http://10.0.0.11:30000",
                          "8998", "--decode", "http://10.0.0.12:30000", "--decode", "http://10.0.0.13:30000"]
    assert flag(argv, "--host") == "0.0.0.0" and flag(argv, "--port") == "8000"
    assert [link["prefill"] + ">" + link["decode"] for link in plan["links"]] == [
        "prefill-0>decode-0", "prefill-0>decode-1", "prefill-1>decode-0", "prefill-1>decode-1"]
    (prefill,) = services(plan, "p0")
    assert flag(prefill["argv"], "--disaggregation-mode") == "prefill"
    assert flag(prefill["argv"], "--disaggregation-bootstrap-port") == "8998"
    assert flag(prefill["argv"], "--disaggregation-transfer-backend") == "nixl"
    (decode,) = services(plan, "d0")
    assert "--disaggregation-bootstrap-port" not in decode["argv"]


def test_urls_use_advertise_address_never_inventory_names():
    plan = plan_of(prefill=["p0"], decode=["d0"], per_host={"d0": {"sglang_advertise_address": "192.168.7.7"}})
    (router,) = services(plan, "r0")
    assert "http://192.168.7.7:30000" in router["argv"]
    assert not any("p0" in token or "d0" in token for token in router["argv"])


def test_sglang_router_implementation_uses_its_module():
    router_vars = {"sglang_router_implementation": "sglang-router", "sglang_router_policy": "cache_aware"}
    plan = plan_of(prefill=["p0"], decode=["d0"], per_host={"r0": router_vars})
    (router,) = services(plan, "r0")
    assert router["argv"][:3] == ["/opt/sglang-router/venv/bin/python", "-m", "sglang_router.launch_router"]
    assert flag(router["argv"], "--policy") == "cache_aware"


@pytest.mark.parametrize("nnodes, instances", [(4, 1), (1, 4)])
def test_4p9d_as_one_wide_or_four_narrow_prefill_instances(nnodes, instances):
    prefill = ["p%d" % i for i in range(4)]
    decode = ["d%d" % i for i in range(9)]
    common = {"sglang_model_path": DEEPSEEK, "sglang_enable_dp_attention": True,
              "sglang_ep_num_redundant_experts": 32}
    prefill_vars = {"sglang_nnodes": nnodes, "sglang_tp_size": 8 * nnodes, "sglang_dp_size": 8 * nnodes,
                    "sglang_ep_size": 8 * nnodes}
    decode_vars = {"sglang_nnodes": 9, "sglang_tp_size": 72, "sglang_dp_size": 72, "sglang_ep_size": 72}
    per_host = {h: prefill_vars for h in prefill}
    per_host.update({h: decode_vars for h in decode})
    plan = plan_of(prefill=prefill, decode=decode, common=common, per_host=per_host)
    roles = [i["role"] for i in plan["instances"]]
    assert roles.count("prefill") == instances and roles.count("decode") == 1
    (router,) = services(plan, "r0")
    assert router["argv"].count("--prefill") == instances and router["argv"].count("--decode") == 1
    decode_master = services(plan, "d0")[0]
    # DP attention: the dist-init port and the block SGLang derives above it are reserved.
    ports = {p["port"] for p in decode_master["ports"]}
    assert set(range(5000, 5000 + 73 + 6)) <= ports
    assert all(i["attn_tp_size"] == 1 for i in plan["instances"])


@pytest.mark.parametrize("profile, expected", [
    ("0.5.23", ["--attn-dp-size", "8"]),
    ("0.5.8", ["--dp-size", "8", "--enable-dp-attention"]),
])
def test_dp_attention_flags_follow_the_release_profile(profile, expected):
    plan = plan_of(workers=["g0"], routers=(), common={
        "sglang_model_path": DEEPSEEK, "sglang_dp_size": 8, "sglang_enable_dp_attention": True,
        "sglang_release_profile": profile})
    argv = plan["services"][0]["argv"]
    start = argv.index("--tp-size") + 2
    assert argv[start:start + len(expected)] == expected
    assert argv.count("--dp-size") == expected.count("--dp-size")
    assert flag(argv, "--dist-init-addr") == "10.0.0.10:5000"


def test_release_profile_is_one_of_the_profiles_and_one_per_pd_fleet():
    errors = errors_of(prefill=["p0"], decode=["d0"], per_host={"d0": {"sglang_release_profile": "0.5.8"}})
    assert rules(errors) == [("pd_one_release", "sglang_release_profile")]
    (error,) = errors_of(workers=["g0"], routers=(), common={"sglang_release_profile": "0.4.0"})
    assert (error.rule, error.variable) == ("type", "sglang_release_profile") and "0.5.23" in error.fix


def test_aliases_split_one_machine_by_gpu_range():
    plan = plan_of(prefill=["box-p"], decode=["box-d"], routers=["box-r"],
                   common={"sglang_model_path": QWEN_7B, "sglang_tp_size": 4, "sglang_gpus_per_node": 4},
                   per_host={h: {"ansible_host": "10.9.9.9"} for h in ("box-p", "box-d", "box-r")}
                   | {"box-d": {"ansible_host": "10.9.9.9", "sglang_base_gpu_id": 4, "sglang_port": 30001}})
    assert services(plan, "box-p")[0]["gpu_ids"] == [0, 1, 2, 3]
    assert services(plan, "box-d")[0]["gpu_ids"] == [4, 5, 6, 7]
    assert flag(services(plan, "box-d")[0]["argv"], "--base-gpu-id") == "4"


def test_named_instances_group_hosts_across_inventory_order():
    plan = plan_of(prefill=["a", "b", "c", "d"], decode=["e"],
                   common={"sglang_nnodes": 2, "sglang_tp_size": 16},
                   per_host={"a": {"sglang_instance": "left"}, "c": {"sglang_instance": "left"},
                             "b": {"sglang_instance": "right"}, "d": {"sglang_instance": "right"},
                             "e": {"sglang_nnodes": 1, "sglang_tp_size": 8}})
    names = {i["name"]: [n["host"] for n in i["nodes"]] for i in plan["instances"]}
    assert names == {"left": ["a", "c"], "right": ["b", "d"], "decode-0": ["e"]}


def test_server_args_env_and_interface_reach_the_service():
    plan = plan_of(workers=["g0"], routers=(), common={
        "sglang_server_args": {"mem-fraction-static": 0.85, "trust-remote-code": True, "cuda-graph-bs": [1, 2, 4]},
        "sglang_env": {"SGLANG_TORCH_PROFILER_DIR": "/tmp/p", "NCCL_DEBUG": "WARN"},
        "sglang_network_interface": "bond0", "sglang_hf_token": "(secret)"})
    (worker,) = plan["services"]
    assert worker["argv"][-7:] == ["--mem-fraction-static", "0.85", "--trust-remote-code", "--cuda-graph-bs",
                                   "1", "2", "4"]
    assert worker["env"] == {"NCCL_SOCKET_IFNAME": "bond0", "GLOO_SOCKET_IFNAME": "bond0",
                             "SGLANG_LOCAL_IP_NIC": "bond0", "SGLANG_TORCH_PROFILER_DIR": "/tmp/p",
                             "NCCL_DEBUG": "WARN"}
    assert worker["secret_env"] == {"HF_TOKEN": "sglang_hf_token"}
    assert "(secret)" not in json.dumps(plan)


def test_the_api_key_reaches_workers_through_a_config_file_and_the_router_through_its_environment():
    plan = plan_of(prefill=["p0"], decode=["d0"], common={"sglang_api_key": "sk-(secret)"},
                   per_host={"r0": {"sglang_api_key": "sk-(secret)"}})
    prefill, decode, router = plan["services"]
    for worker in (prefill, decode):
        path = "/etc/sglang/%s.secrets.yaml" % worker["unit"]
        assert worker["secret_config"] == {"path": path, "options": {"api-key": "sglang_api_key"}}
        assert worker["argv"][-2:] == ["--config", path]
        assert "--api-key" not in worker["argv"] and worker["secret_env"] == {}
    assert router["secret_env"] == {"SGLANG_API_KEY": "sglang_api_key"} and router["secret_config"] is None
    assert router["argv"][:4] == ["/opt/sglang-router/venv/bin/python", "/opt/sglang-router/gpufleet_router_launch.py",
                                  "smg", "launch"]
    assert "(secret)" not in json.dumps(plan)


def test_an_api_key_on_some_hosts_only_is_refused():
    errors = errors_of(prefill=["p0"], decode=["d0"], per_host={"p0": {"sglang_api_key": "k"}})
    assert sorted((e.rule, e.host) for e in errors) == [("api_key_everywhere", "d0"), ("api_key_everywhere", "r0")]
    assert all("sglang_api_key" in e.fix for e in errors)


def test_without_an_api_key_no_config_file_is_passed():
    (worker,) = plan_of(workers=["g0"], routers=())["services"]
    assert worker["secret_config"] is None and "--config" not in worker["argv"]


def test_the_simulator_engine_changes_only_the_launcher():
    real = plan_of(prefill=["p0"], decode=["d0"])
    simulated = plan_of(prefill=["p0"], decode=["d0"], common={"sglang_service_engine": "simulator"})
    for before, after in zip(real["services"], simulated["services"]):
        if before["kind"] == "router":
            assert after == before
            continue
        assert before["argv"][:3] == ["/opt/sglang/venv/bin/python", "-m", "sglang.launch_server"]
        assert after["argv"][:2] == ["/usr/bin/python3", "/opt/sglang-simulator/sglang_engine_simulator.py"]
        assert after["argv"][2:] == before["argv"][3:]
        assert (before["engine"], after["engine"]) == ("sglang", "simulator")


@pytest.mark.parametrize("backend", ["nixl", "mooncake"])
def test_explicit_ib_devices_are_passed_and_auto_names_the_per_gpu_file(backend):
    plan = plan_of(prefill=["p0", "p1"], decode=["d0"], common={"sglang_transfer_backend": backend},
                   per_host={"p0": {"sglang_ib_device": ["mlx5_0", "mlx5_1"]}, "p1": {"sglang_ib_device": "mlx5_2"},
                             "d0": {"sglang_service_config_dir": "/srv/sglang/"}})
    for host, devices in (("p0", "mlx5_0,mlx5_1"), ("p1", "mlx5_2")):
        (worker,) = services(plan, host)
        assert flag(worker["argv"], "--disaggregation-ib-device") == devices and worker["ib_devices_file"] is None
        assert worker["ib_devices"] == devices.split(",")  # what the readiness phase reads the counters of
    (decode,) = services(plan, "d0")
    path = "/srv/sglang/%s.ib-devices.json" % decode["unit"]
    assert decode["ib_devices_file"] == path and decode["ib_devices"] == []
    assert flag(decode["argv"], "--disaggregation-ib-device") == path
    assert services(plan, "r0")[0]["ib_devices_file"] is None


@pytest.mark.parametrize("server_args, expected", [
    ({}, 80 * 2 * 8 * 128 * 2),  # Llama-3.1-70B at bfloat16: 320 KiB per token
    ({"kv-cache-dtype": "fp8_e4m3"}, 80 * 2 * 8 * 128),
    ({"kv_cache_dtype": "nvfp4"}, 80 * 2 * 8 * 128 // 2),
    ({"kv-cache-dtype": "auto"}, 80 * 2 * 8 * 128 * 2),
])
def test_instances_carry_their_kv_bytes_per_token(server_args, expected):
    plan = plan_of(prefill=["p0"], decode=["d0"], common={"sglang_server_args": server_args})
    assert {i["role"]: i["kv_bytes_per_token"] for i in plan["instances"]} == {"prefill": expected, "decode": expected}
    # A model whose config gives no layer count: unknown, and the readiness phase falls back to min_bytes.
    plan = plan_of(workers=["g0"], routers=(), common={"sglang_model_path": "acme/m",
                                                       "sglang_model_config": {"num_attention_heads": 8}})
    assert plan["instances"][0]["kv_bytes_per_token"] is None


def test_nixl_of_a_release_that_reads_the_ib_device_takes_hca_names_only():
    errors = errors_of(prefill=["p0"], decode=["d0"], common={"sglang_transfer_backend": "nixl"},
                       per_host={"p0": {"sglang_ib_device": ["mlx5_0:1", "mlx5_1"]}})
    (error,) = [e for e in errors if e.rule == "nixl_ib_device_port"]
    assert error.host == "p0" and error.variable == "sglang_ib_device" and "mlx5_0:1" in error.message
    assert "name the HCAs only (mlx5_0)" in error.fix
    # Mooncake reads a port suffix; 0.5.8's NIXL ignores the flag (UCX_NET_DEVICES is pinned instead).
    plan_of(prefill=["p0"], decode=["d0"], common={"sglang_transfer_backend": "mooncake"},
            per_host={"p0": {"sglang_ib_device": "mlx5_0:1"}})
    plan_of(prefill=["p0"], decode=["d0"], common={"sglang_transfer_backend": "nixl", "sglang_release_profile": "0.5.8"},
            per_host={"p0": {"sglang_ib_device": "mlx5_0:1"}})


@pytest.mark.parametrize("backend, profile, pinned", [
    ("nixl", "0.5.23", False),  # SGLang hands --disaggregation-ib-device to NIXL's UCX itself
    ("nixl", "0.5.8", True), ("nixl", "0.5.6.post2", True),  # it does not: UCX_NET_DEVICES
    ("mooncake", "0.5.8", False),
])
def test_ucx_is_pinned_where_nixl_ignores_the_ib_device(backend, profile, pinned):
    plan = plan_of(prefill=["p0"], decode=["d0"],
                   common={"sglang_transfer_backend": backend, "sglang_release_profile": profile})
    assert {s["role"]: s["pin_ucx_devices"] for s in plan["services"]} == {
        "prefill": pinned, "decode": pinned, "router": False}


def test_regular_workers_take_no_ib_device():
    (worker,) = plan_of(workers=["g0"], routers=(), common={"sglang_ib_device": "mlx5_0"})["services"]
    assert "--disaggregation-ib-device" not in worker["argv"] and worker["ib_devices_file"] is None
    (worker,) = plan_of(workers=["g0"], routers=())["services"]
    assert "--disaggregation-ib-device" not in worker["argv"] and worker["ib_devices_file"] is None


@pytest.mark.parametrize("backend, peermem", [("mooncake", ["nvidia_peermem"]), ("nixl", [])])
def test_disaggregated_workers_use_rdma_and_mooncake_needs_nvidia_peermem(backend, peermem):
    plan = plan_of(prefill=["p0"], decode=["d0"], common={"sglang_transfer_backend": backend})
    for host in ("p0", "d0"):
        (worker,) = services(plan, host)
        assert (worker["rdma"], worker["kernel_modules"]) == (True, DRIVER + peermem)
    (router,) = services(plan, "r0")
    assert (router["rdma"], router["kernel_modules"]) == (False, [])


@pytest.mark.parametrize("spelling", ["moe-a2a-backend", "moe_a2a_backend", "--moe-a2a-backend"])
def test_deepep_needs_gdrdrv_and_rdma_only_between_nodes(spelling):
    deepep = {"sglang_model_path": DEEPSEEK, "sglang_server_args": {spelling: "deepep"}}
    (alone,) = plan_of(workers=["g0"], routers=(), common=deepep)["services"]
    assert (alone["rdma"], alone["kernel_modules"]) == (False, DRIVER + ["gdrdrv"])
    spread = plan_of(workers=["g0", "g1"], routers=(), common=dict(deepep, sglang_nnodes=2, sglang_tp_size=16))
    assert [(s["rdma"], s["kernel_modules"]) for s in spread["services"]] == [(True, DRIVER + ["gdrdrv"])] * 2
    plan = plan_of(prefill=["p0"], decode=["d0"], common=dict(deepep, sglang_transfer_backend="mooncake"))
    assert [s["kernel_modules"] for s in plan["services"] if s["kind"] == "worker"] == [DRIVER + ["nvidia_peermem", "gdrdrv"]] * 2


def test_regular_workers_without_deepep_need_no_rdma_and_only_the_gpu_driver():
    plan = plan_of(workers=["g0", "g1"], routers=(), common={"sglang_nnodes": 2, "sglang_tp_size": 16,
                                                             "sglang_server_args": {"moe-a2a-backend": "none"}})
    assert [(s["rdma"], s["kernel_modules"]) for s in plan["services"]] == [(False, DRIVER)] * 2
    # The engine simulator loads no driver.
    simulated = plan_of(workers=["g0"], routers=(), common={"sglang_service_engine": "simulator"})
    assert [s["kernel_modules"] for s in simulated["services"]] == [[]]


def test_extra_vars_strings_are_converted():
    plan = plan_of(workers=["g0", "g1"], routers=(), common={"sglang_nnodes": "2", "sglang_tp_size": "16",
                                                             "sglang_enable_dp_attention": "false"})
    assert plan["instances"][0]["tp_size"] == 16


# ------------------------------------------------------------ refusals


def rules(errors):
    return sorted((e.rule, e.variable) for e in errors)


def test_every_error_is_reported_at_once_with_where_and_fix():
    errors = errors_of(prefill=["p0"], decode=["d0"], common={"sglang_tp_size": 7},
                       per_host={"d0": {"sglang_tp_szie": 8, "sglang_port": "http"}})
    found = rules(errors)
    assert ("unknown_variable", "sglang_tp_szie") in found
    assert ("type", "sglang_port") in found
    assert ("kv_heads_divisible", "sglang_tp_size") in found or ("attention_heads_divisible", "sglang_tp_size") in found
    typo = next(e for e in errors if e.rule == "unknown_variable")
    assert typo.host == "d0" and "sglang_tp_size" in typo.fix
    for error in errors:
        assert error.fix and error.message and (error.host or error.instance)
        assert str(error).startswith("[")


def test_qwen_tp_7_is_refused_with_the_valid_sizes():
    errors = errors_of(workers=["g0"], routers=(), common={"sglang_model_path": QWEN_7B, "sglang_tp_size": 7,
                                                           "sglang_gpus_per_node": 7})
    (error,) = [e for e in errors if e.variable == "sglang_tp_size"]
    assert error.instance == "regular-0"
    assert "1, 2, 4, 28" in error.fix


def test_pd_needs_prefill_decode_and_router():
    assert ("pd_router_present", "sglang_router") in rules(errors_of(prefill=["p0"], decode=["d0"], routers=()))
    assert ("pd_roles_present", "sglang_decode") in rules(errors_of(prefill=["p0"]))


def test_incomplete_instance_names_its_hosts():
    (error,) = errors_of(prefill=["p0", "p1", "p2"], decode=["d0"],
                         per_host={h: {"sglang_nnodes": 2, "sglang_tp_size": 16} for h in ("p0", "p1", "p2")})
    assert (error.rule, error.instance) == ("instance_complete", "prefill-1")
    assert "p2" in error.message and "add 1 more host" in error.fix


def test_host_in_two_gpu_groups():
    groups, hostvars = fleet(prefill=["p0"], decode=["d0"])
    groups["sglang_decode"].append("p0")
    result = build_plan(groups, hostvars)
    assert ("one_gpu_group", "sglang_decode") in rules(result.errors)


def test_mixed_modes_and_empty_fleet():
    assert ("one_mode", "sglang_workers") in rules(errors_of(prefill=["p0"], decode=["d0"], workers=["g0"]))
    assert ("gpu_hosts_present", "sglang_workers") in rules(errors_of(routers=["r0"]))


def test_missing_required_variables():
    groups, hostvars = fleet(workers=["g0"], routers=())
    del hostvars["g0"]["sglang_model_path"], hostvars["g0"]["sglang_tp_size"]
    expected = [("required", "sglang_model_path"), ("required", "sglang_tp_size")]
    assert rules(build_plan(groups, hostvars).errors) == expected


def test_instance_members_must_agree():
    errors = errors_of(workers=["g0", "g1"], routers=(), common={"sglang_nnodes": 2, "sglang_tp_size": 16},
                       per_host={"g1": {"sglang_port": 31000}})
    assert rules(errors) == [("instance_consistent", "sglang_port")]
    assert "g0: 30000" in errors[0].message and "g1: 31000" in errors[0].message


def test_pd_model_and_backend_must_match_and_attn_tp_mismatch_warns():
    errors = errors_of(prefill=["p0"], decode=["d0"], per_host={"d0": {"sglang_model_path": QWEN_7B,
                                                                       "sglang_tp_size": 4,
                                                                       "sglang_gpus_per_node": 4,
                                                                       "sglang_transfer_backend": "mooncake"}})
    assert ("pd_one_backend", "sglang_transfer_backend") in rules(errors)
    assert ("pd_one_model", "sglang_model_path") in rules(errors)
    narrow_decode = {"d0": {"sglang_tp_size": 4, "sglang_gpus_per_node": 4}}
    result = build_plan(*fleet(prefill=["p0"], decode=["d0"], per_host=narrow_decode))
    assert not result.errors
    # SGLang 0.5.23 transfers between attention TP 8 and 4 in head slices (test__topology_pd_attn_tp.py).
    assert [w.rule for w in result.warnings] == ["pd_attn_tp_mismatch", "open_without_api_key"]
    assert "Performance is NOT guaranteed" in result.warnings[0].message


def test_gpu_ranges_overlap_or_exceed_the_machine():
    same_box = {"ansible_host": "10.9.9.9"}
    errors = errors_of(prefill=["bp"], decode=["bd"], common={"sglang_model_path": QWEN_7B, "sglang_tp_size": 4,
                                                              "sglang_gpus_per_node": 4},
                       per_host={"bp": same_box | {"sglang_base_gpu_id": 2},
                                 "bd": same_box | {"sglang_base_gpu_id": 5, "sglang_port": 30001}})
    assert rules(errors) == [("gpu_range_fits", "sglang_base_gpu_id"), ("gpu_ranges_disjoint", "sglang_base_gpu_id")]
    overlap = next(e for e in errors if e.rule == "gpu_ranges_disjoint")
    assert "GPUs 5 on machine 10.9.9.9" in overlap.message and "10.9.9.9" in overlap.message


def test_port_collisions_on_one_machine_include_the_dp_attention_block():
    same_box = {"ansible_host": "10.9.9.9"}
    common = {"sglang_model_path": DEEPSEEK, "sglang_tp_size": 4, "sglang_dp_size": 4, "sglang_gpus_per_node": 4,
              "sglang_enable_dp_attention": True}
    errors = errors_of(prefill=["bp"], decode=["bd"], common=common,
                       per_host={"bp": same_box, "bd": same_box | {"sglang_base_gpu_id": 4, "sglang_port": 30001,
                                                                   "sglang_dist_init_port": 5010}})
    (error,) = errors
    assert (error.rule, error.variable) == ("ports_disjoint", "sglang_dist_init_port")
    assert "ports 5010-5013 of decode-0" in error.message
    # 14 ports apart clears the block.
    ok = build_plan(*fleet(prefill=["bp"], decode=["bd"], common=common,
                           per_host={"bp": same_box, "bd": same_box | {"sglang_base_gpu_id": 4, "sglang_port": 30001,
                                                                       "sglang_dist_init_port": 5014}}))
    assert not ok.errors


def test_http_and_bootstrap_port_of_one_worker_collide():
    errors = errors_of(prefill=["p0"], decode=["d0"], per_host={"p0": {"sglang_bootstrap_port": 30000}})
    assert rules(errors) == [("ports_disjoint", "sglang_bootstrap_port")]


def test_router_beside_a_worker_must_move_its_port():
    errors = errors_of(prefill=["p0"], decode=["d0"], per_host={"r0": {"ansible_host": "10.0.0.10",
                                                                       "sglang_router_port": 30000}})
    assert rules(errors) == [("ports_disjoint", "sglang_router_port")]


@pytest.mark.parametrize("env, rule, fix", [
    ({"SGL_ENABLE_JIT_DEEPGEMM": "1"}, "env_deprecated", "SGLANG_ENABLE_JIT_DEEPGEMM"),
    ({"SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK": 2048}, "deepep_dispatch_tokens", "1024"),
    ({"HF_TOKEN": "hf_abc"}, "secret_in_env", "sglang_hf_token"),
])
def test_environment_rules(env, rule, fix):
    (error,) = errors_of(workers=["g0"], routers=(), common={"sglang_env": env})
    assert error.rule == rule and fix in error.fix and error.host == "g0"
    assert "hf_abc" not in str(error)


def test_a_bf16_checkpoint_keeping_an_fp8_quantization_config_is_refused_before_any_host(tmp_path):
    """SGLang would fail loading it ("output_partition_size = 576 is not divisible by ... block_n = 128")."""
    (tmp_path / "config.json").write_text(json.dumps({
        "architectures": ["DeepseekV3ForCausalLM"], "num_attention_heads": 128, "kv_lora_rank": 512,
        "n_routed_experts": 256, "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"lm_head.weight": "a.safetensors"}}))
    errors = errors_of(workers=["g0"], routers=(), common={"sglang_model_path": str(tmp_path)})
    assert [(e.variable, e.rule, e.instance) for e in errors] == [("sglang_model_path", "quantization_config_stale", "regular-0")]
    assert "remove the quantization_config block" in errors[0].fix


def test_server_args_may_not_override_the_plan():
    (error,) = errors_of(workers=["g0"], routers=(), common={"sglang_server_args": {"tp-size": 4}})
    assert error.rule == "managed_flag" and "sglang_tp_size" in error.fix


def test_unknown_model_without_config_names_the_fix():
    errors = errors_of(workers=["g0"], routers=(), common={"sglang_model_path": "acme/secret-model-13b"})
    assert rules(errors) == [("model_config_known", "sglang_model_config")]
    ok = build_plan(*fleet(workers=["g0"], routers=(), common={
        "sglang_model_path": "acme/secret-model-13b",
        "sglang_model_config": {"num_attention_heads": 36, "num_key_value_heads": 4}}))
    assert [e.rule for e in ok.errors] == ["attention_heads_divisible"]  # 36 heads over tp 8
    ok = build_plan(*fleet(workers=["g0"], routers=(), common={
        "sglang_model_path": "acme/secret-model-13b",
        "sglang_model_config": {"num_attention_heads": 32, "num_key_value_heads": 8}}))
    assert not ok.errors


def test_role_argument_spec_variables_are_known():
    groups, hostvars = fleet(workers=["g0"], routers=(), common={"sglang_wheelhouse_dir": "0.5.8"})
    assert rules(build_plan(groups, hostvars).errors) == [("unknown_variable", "sglang_wheelhouse_dir")]
    assert not build_plan(groups, hostvars, known_variables={"sglang_wheelhouse_dir"}).errors


# ------------------------------------------------------------ properties


@st.composite
def pd_fleets(draw):
    sizes = st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=4)
    prefill_sizes, decode_sizes = draw(sizes), draw(sizes)
    per_host, prefill, decode = {}, [], []
    for role, sizes_, hosts in (("p", prefill_sizes, prefill), ("d", decode_sizes, decode)):
        for index, nnodes in enumerate(sizes_):
            for rank in range(nnodes):
                host = "%s%d-%d" % (role, index, rank)
                hosts.append(host)
                per_host[host] = {"sglang_nnodes": nnodes, "sglang_tp_size": 8 * nnodes}
    routers = ["r%d" % i for i in range(draw(st.integers(1, 2)))]
    return dict(prefill=prefill, decode=decode, routers=routers, per_host=per_host,
                common={"sglang_transfer_backend": draw(st.sampled_from(["nixl", "mooncake"]))}), \
        prefill_sizes, decode_sizes


@settings(max_examples=60, deadline=None)
@given(pd_fleets())
def test_any_np_md_fleet_plans_consistently(case):
    kwargs, prefill_sizes, decode_sizes = case
    groups, hostvars = fleet(**kwargs)
    result = build_plan(groups, hostvars)
    assert not result.errors, [str(e) for e in result.errors]
    plan = result.plan
    gpu_hosts = kwargs["prefill"] + kwargs["decode"]
    workers = [s for s in plan["services"] if s["kind"] == "worker"]
    assert sorted(s["host"] for s in workers) == sorted(gpu_hosts)
    assert [i["nnodes"] for i in plan["instances"]] == prefill_sizes + decode_sizes
    for instance in plan["instances"]:
        ranks = [s for s in workers if s["instance"] == instance["name"]]
        assert [s["node_rank"] for s in ranks] == list(range(instance["nnodes"]))
        assert ranks[0]["host"] == instance["master"]
        if instance["nnodes"] > 1:
            assert {flag(s["argv"], "--dist-init-addr") for s in ranks} == {instance["dist_init_addr"]}
    masters = {i["url"]: i for i in plan["instances"]}
    for router in (s for s in plan["services"] if s["kind"] == "router"):
        argv = router["argv"]
        prefill_urls = [argv[i + 1] for i, t in enumerate(argv) if t == "--prefill"]
        decode_urls = [argv[i + 1] for i, t in enumerate(argv) if t == "--decode"]
        assert [masters[u]["role"] for u in prefill_urls] == ["prefill"] * len(prefill_sizes)
        assert [masters[u]["role"] for u in decode_urls] == ["decode"] * len(decode_sizes)
        assert all(argv[argv.index(u) + 1] == "8998" for u in prefill_urls)
        assert not any(h in " ".join(argv) for h in gpu_hosts)
    assert len(plan["links"]) == len(prefill_sizes) * len(decode_sizes)
    json.dumps(plan)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=4), st.integers(0, 7))
def test_instances_on_one_machine_overlap_iff_their_ranges_intersect(widths, shift):
    hosts = ["alias%d" % i for i in range(len(widths))]
    per_host, start = {}, 0
    for index, (host, width) in enumerate(zip(hosts, widths)):
        base = start if index < len(widths) - 1 else max(0, start - shift)
        per_host[host] = {"ansible_host": "10.1.1.1", "sglang_base_gpu_id": base, "sglang_gpus_per_node": width,
                          "sglang_tp_size": width, "sglang_port": 30000 + index,
                          "sglang_model_path": "custom", "sglang_model_config": {"num_attention_heads": 840,
                                                                                 "num_key_value_heads": 840},
                          "sglang_node_gpu_count": 64}
        start = base + width
    ranges = [set(range(v["sglang_base_gpu_id"], v["sglang_base_gpu_id"] + v["sglang_gpus_per_node"]))
              for v in per_host.values()]
    overlapping = any(ranges[i] & ranges[j] for i in range(len(ranges)) for j in range(i + 1, len(ranges)))
    result = build_plan(*fleet(workers=hosts, routers=(), per_host=per_host))
    assert ("gpu_ranges_disjoint" in {e.rule for e in result.errors}) == overlapping


def test_machine_collisions_are_reported_with_the_other_errors():
    same_box = {"ansible_host": "10.9.9.9", "sglang_tp_size": 4, "sglang_gpus_per_node": 4}
    errors = errors_of(prefill=["bp", "p9"], decode=["bd"], common={"sglang_model_path": QWEN_7B},
                       per_host={"bp": same_box, "bd": same_box | {"sglang_base_gpu_id": 4},
                                 "p9": {"sglang_tp_size": "eight"}})
    assert rules(errors) == [("ports_disjoint", "sglang_port"), ("type", "sglang_tp_size")]


def test_only_rank_0_of_a_multi_node_prefill_binds_the_bootstrap_port():
    plan = plan_of(prefill=["p0", "p1"], decode=["d0"], common={"sglang_nnodes": 2, "sglang_tp_size": 16},
                   per_host={"d0": {"sglang_nnodes": 1, "sglang_tp_size": 8}})
    bound = {s["host"]: [p["purpose"] for p in s["ports"]] for s in plan["services"] if s["role"] == "prefill"}
    assert "bootstrap" in bound["p0"] and "bootstrap" not in bound["p1"]
    for host in ("p0", "p1"):  # every rank still gets the flag: SGLang's argv is the same on all ranks
        assert flag(services(plan, host)[0]["argv"], "--disaggregation-bootstrap-port") == "8998"
