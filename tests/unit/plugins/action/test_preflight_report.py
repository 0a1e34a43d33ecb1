# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight report (plugins/module_utils/_preflight.py and the preflight_report action) on hand-made results."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.gpufleet.sglang.plugins.action import preflight_report
from ansible_collections.gpufleet.sglang.plugins.module_utils import _preflight


# ---------------------------------------------------------------------------------------------------- a small fleet
def service(host: str, role: str, instance: str, gpu_ids: list[int], ports: list[int], node_rank: int | None = 0,
            rdma: bool | None = None) -> dict:
    kind = "router" if role == "router" else "worker"
    return {
        # As the plan has it: prefill and decode move the KV cache over RDMA.
        "rdma": role in ("prefill", "decode") if rdma is None else rdma,
        "host": host, "address": host, "machine": host, "kind": kind, "role": role, "instance": instance,
        "node_rank": node_rank, "unit": "sglang-%s" % instance, "gpu_ids": gpu_ids,
        "ports": [{"port": port, "purpose": "p%d" % port} for port in ports],
        "argv": ["/opt/sglang/venv/bin/python"], "env": {}, "secret_env": {},
    }


def instance(name: str, role: str, hosts: list[str], gpu_ids: list[int]) -> dict:
    return {
        "name": name, "role": role, "model_path": "Qwen/Qwen2.5-7B-Instruct", "gpu_ids": gpu_ids,
        "master": hosts[0], "master_address": hosts[0],
        "dist_init_addr": "%s:5000" % hosts[0] if len(hosts) > 1 else None,
        "nodes": [{"host": h, "address": h, "machine": h, "node_rank": r} for r, h in enumerate(hosts)],
    }


PLAN: dict[str, Any] = {
    "mode": "pd",
    "model_path": "Qwen/Qwen2.5-7B-Instruct",
    "transfer_backend": "mooncake",
    "instances": [
        instance("prefill-0", "prefill", ["p0", "p1"], [0, 1, 2, 3]),
        instance("decode-0", "decode", ["d0"], [0, 1, 2, 3]),
    ],
    "services": [
        service("p0", "prefill", "prefill-0", [0, 1, 2, 3], [30000, 8998, 5000]),
        service("p1", "prefill", "prefill-0", [0, 1, 2, 3], [], node_rank=1),
        service("d0", "decode", "decode-0", [0, 1, 2, 3], [30000]),
        service("r0", "router", "router", [], [8000, 29000], node_rank=None),
    ],
}


def gpu_facts(count: int = 4, model: str = "NVIDIA H100 80GB HBM3", driver: str = "570.195.03", **changes: Any) -> dict:
    gpus = [{"index": i, "name": model, "driver_version": driver, "compute_cap": "9.0", "compute_capability": [9, 0],
             "persistence_mode": "Enabled", "mig_mode": "Disabled"} for i in range(count)]
    facts = {"changed": False, "nvidia_smi": "present", "gpus": gpus, "gpu_count": count, "driver_version": driver,
             "cuda_version": "12.8", "errors": [], "nic_affinity": None,
             "msg": "%d GPUs (%s), driver %s, CUDA 12.8" % (count, model, driver)}
    facts.update(changes)
    return facts


def ib_ok() -> dict:
    return {"changed": False, "source": "sysfs", "active_devices": ["mlx5_0"], "problems": [],
            "ports": [{"device": "mlx5_0", "port": 1, "state": "ACTIVE", "link_layer": "InfiniBand", "gid": "fe80::1"}]}


def host_ok(resolutions: dict | None = None) -> dict:
    return {"changed": False, "failed_checks": 0,
            "checks": [{"check": "port:30000", "status": "ok", "found": "port 30000 is free", "needed": "free", "fix": ""}],
            "resolutions": resolutions if resolutions is not None else {"p0": ["10.0.0.1"], "d0": ["10.0.0.2"]}}


def good_results() -> dict:
    return {
        "p0": {"gpu": gpu_facts(), "ib": ib_ok(), "host": host_ok()},
        "p1": {"gpu": gpu_facts(), "ib": ib_ok(), "host": host_ok()},
        "d0": {"gpu": gpu_facts(), "ib": ib_ok(), "host": host_ok()},
        "r0": {"gpu": {"skipped": True}, "ib": {"skipped": True}, "host": host_ok()},
    }


def failures(report: dict) -> set[tuple[str, str]]:
    return {(f["host"], f["check"]) for f in report["failures"]}


# ------------------------------------------------------------------------------------------------------------ tests
def test_a_good_fleet_passes() -> None:
    report = _preflight.build_report(PLAN, good_results())
    assert report["ok"], report["failures"]
    assert report["failures"] == [] and report["blocked_instances"] == []
    assert set(report["hosts"]) == {"p0", "p1", "d0", "r0"}
    assert {("p0", "gpu_count"), ("d0", "ib_port"), ("r0", "port:30000")} <= {
        (r["host"], r["check"]) for r in report["checks"] if r["status"] == "ok"}
    assert not [r for r in report["checks"] if r["host"] == "r0" and r["check"].startswith(("gpu", "ib"))]
    json.dumps(report)  # preflight.json


def test_every_hosts_failures_at_once() -> None:
    results = good_results()
    results["p0"]["gpu"] = gpu_facts(count=2)  # too few GPUs for GPUs 0-3
    results["d0"]["ib"] = {"changed": False, "source": "sysfs", "active_devices": [], "ports": [], "problems": [
        {"device": "mlx5_0", "found": "port 1: state DOWN, phys_state Polling", "needed": "a port in state ACTIVE", "fix": "check the cable"}]}
    results["d0"]["host"]["checks"].append({"check": "shm", "status": "fail", "found": "/dev/shm is 64 MiB",
                                            "needed": "16 GiB", "fix": "--shm-size"})
    results["r0"]["host"]["checks"].append({"check": "port:8000", "status": "fail", "found": "held by nginx",
                                            "needed": "free", "fix": "stop nginx"})
    report = _preflight.build_report(PLAN, results)
    assert not report["ok"]
    assert failures(report) == {("p0", "gpu_count"), ("d0", "ib_port:mlx5_0"), ("d0", "shm"), ("r0", "port:8000")}
    assert report["blocked_instances"] == ["decode-0", "prefill-0", "router"]
    message = _preflight.failure_message(report, "/x/preflight.json")
    for host, check in failures(report):
        assert "- %s: %s: found " % (host, check) in message
    assert "GPUs 0-3 for prefill-0" in message
    assert message.endswith("Full report: /x/preflight.json")


def test_driver_floor() -> None:
    results = good_results()
    results["d0"]["gpu"] = gpu_facts(driver="535.183.01")
    assert _preflight.build_report(PLAN, results)["ok"]  # no floor: no check
    report = _preflight.build_report(PLAN, results, driver_floor="570.26")
    assert failures(report) == {("d0", "driver_version")}
    assert ("p0", "driver_version", "ok") in {(r["host"], r["check"], r["status"]) for r in report["checks"]}
    bad = _preflight.build_report(PLAN, good_results(), driver_floor="latest")
    assert {f["check"] for f in bad["failures"]} == {"driver_version"}
    assert "sglang_preflight_driver_floor" in bad["failures"][0]["fix"]


def test_one_gpu_model_per_instance_across_nodes() -> None:
    results = good_results()
    results["p1"]["gpu"] = gpu_facts(model="NVIDIA H200")
    report = _preflight.build_report(PLAN, results)
    assert failures(report) == {("p0", "gpu_model:prefill-0"), ("p1", "gpu_model:prefill-0")}
    found = report["failures"][0]["found"]
    assert "NVIDIA H100 80GB HBM3 on p0" in found and "NVIDIA H200 on p1" in found


def test_mixed_models_on_one_host_and_mig() -> None:
    facts = gpu_facts()
    facts["gpus"][3]["name"] = "NVIDIA A100-SXM4-80GB"
    facts["gpus"][1]["mig_mode"] = "Enabled"
    results = good_results()
    results["d0"]["gpu"] = facts
    assert failures(_preflight.build_report(PLAN, results)) == {("d0", "gpu_model"), ("d0", "mig_mode")}


def test_resolution_must_agree_across_hosts() -> None:
    results = good_results()
    results["d0"]["host"] = host_ok({"p0": ["127.0.1.1"], "d0": ["10.0.0.2"]})
    report = _preflight.build_report(PLAN, results)
    assert failures(report) == {(h, "resolve_consistent:p0") for h in ("p0", "p1", "d0", "r0")}
    assert "127.0.1.1 on d0" in report["failures"][0]["found"]
    assert "loopback" in report["failures"][0]["fix"]


def test_missing_nvidia_smi_is_a_row_not_a_traceback() -> None:
    results = good_results()
    results["d0"]["gpu"] = {"changed": False, "nvidia_smi": "absent", "gpus": [], "gpu_count": 0, "errors": [],
                            "msg": "nvidia-smi is not installed"}
    report = _preflight.build_report(PLAN, results)
    assert failures(report) == {("d0", "nvidia_smi")}
    skipped = {r["check"] for r in report["checks"] if r["host"] == "d0" and r["status"] == "skipped"}
    assert {"gpu_count", "gpu_model", "mig_mode"} <= skipped


def test_no_gpu_at_all_names_the_checks_that_could_not_run() -> None:
    results = good_results()
    results["p1"]["gpu"] = gpu_facts(count=0)
    report = _preflight.build_report(PLAN, results)
    assert failures(report) == {("p1", "gpu_count")}
    assert {r["check"] for r in report["checks"] if r["host"] == "p1" and r["status"] == "skipped"} >= {"gpu_model", "mig_mode"}


def test_timeout_unreachable_and_missing_hosts() -> None:
    results = good_results()
    results["p0"]["gpu"] = {"failed": True, "msg": "The gpufleet.sglang.gpu_facts action failed to execute in the expected time frame (60)"}
    results["p1"] = {"gpu": {"unreachable": True, "msg": "ssh: connect to host p1 port 22: No route to host"},
                     "ib": {"unreachable": True, "msg": "x"}, "host": {"unreachable": True, "msg": "x"}}
    del results["r0"]
    report = _preflight.build_report(PLAN, results)
    rows = {(f["host"], f["check"]): f for f in report["failures"]}
    assert set(rows) == {("p0", "gpu_facts"), ("p1", "gpu_facts"), ("p1", "ib_port"), ("p1", "host_checks"), ("r0", "results")}
    assert "sglang_preflight_gpu_timeout" in rows[("p0", "gpu_facts")]["needed"]
    assert "No route to host" in rows[("p1", "gpu_facts")]["found"]
    assert "--limit" in rows[("r0", "results")]["fix"]


def test_roce_port_needs_a_gid() -> None:
    results = good_results()
    results["d0"]["ib"]["ports"] = [{"device": "mlx5_0", "port": 1, "state": "ACTIVE", "link_layer": "Ethernet", "gid": None}]
    assert failures(_preflight.build_report(PLAN, results, link_layer="Ethernet")) == {("d0", "roce_gid:mlx5_0")}


def test_warnings_do_not_fail() -> None:
    results = good_results()
    results["p0"]["gpu"]["gpus"][0]["persistence_mode"] = "Disabled"
    results["p0"]["gpu"]["nic_affinity"] = {
        "argument": '{"0":"mlx5_0"}',
        "cross_socket": [{"warning": "GPU 4 reaches mlx5_0 across sockets", "fix": "use mlx5_4"}],
    }
    results["p0"]["host"]["checks"].append({"check": "memlock:login", "status": "warn", "found": "8 MiB", "needed": "unlimited", "fix": "limits.d"})
    report = _preflight.build_report(PLAN, results)
    assert report["ok"]
    assert report["hosts"]["d0"]["ib_device_mapping"] is None
    assert report["hosts"]["p0"]["ib_device_mapping"] == '{"0":"mlx5_0"}'
    assert {(w["host"], w["check"]) for w in report["warnings"]} == {
        ("p0", "persistence_mode"), ("p0", "gpu_nic_affinity"), ("p0", "memlock:login")}


def test_regular_fleet_needs_no_rdma() -> None:
    plan = copy.deepcopy(PLAN)
    plan.update(mode="regular", transfer_backend=None)
    plan["services"] = [service("w0", "regular", "regular-0", [0, 1, 2, 3], [30000])]
    report = _preflight.build_report(plan, {"w0": {"gpu": gpu_facts(), "ib": {"skipped": True}, "host": host_ok({})}})
    assert report["ok"]
    assert not [r for r in report["checks"] if r["check"].startswith("ib_port")]


def test_a_regular_worker_the_plan_gives_rdma_has_its_ports_checked() -> None:
    """DeepEP between nodes: the plan's rdma, not the fleet's mode, decides."""
    plan = copy.deepcopy(PLAN)
    plan.update(mode="regular", transfer_backend=None)
    plan["services"] = [service("w0", "regular", "regular-0", [0, 1, 2, 3], [30000], rdma=True)]
    down = {"changed": False, "source": "sysfs", "active_devices": [], "ports": [], "problems": [
        {"device": "mlx5_0", "found": "port 1: state DOWN", "needed": "a port in state ACTIVE", "fix": "check the cable"}]}
    report = _preflight.build_report(plan, {"w0": {"gpu": gpu_facts(), "ib": down, "host": host_ok({})}})
    assert [r["check"] for r in report["failures"]] == ["ib_port:mlx5_0"]


def test_gpu_ids_needed_merges_instances_of_a_host() -> None:
    services = [service("m", "prefill", "prefill-0", [0, 1, 2, 3], []), service("m", "decode", "decode-0", [4, 5, 6, 7], [])]
    assert _preflight.gpu_ids_needed(services) == {"prefill-0": [0, 1, 2, 3], "decode-0": [4, 5, 6, 7]}
    report = _preflight.gpu_rows("m", services, gpu_facts(count=4))
    assert [(r["check"], r["status"]) for r in report if r["status"] == "fail"] == [("gpu_count", "fail")]
    assert "decode-0" in report[0]["needed"]


def test_table_has_every_row_and_cuts_long_cells() -> None:
    report = _preflight.build_report(PLAN, good_results())
    table = _preflight.format_table(report["checks"])
    assert table[0].split() == ["host", "check", "status", "found", "needed", "fix"]
    assert len(table) == len(report["checks"]) + 2
    long = _preflight.format_table([_preflight.row("h", "c", "fail", "x" * 500, "y", "z")])
    assert "x" * 57 + "..." in long[2] and "x" * 61 not in long[2]


# ------------------------------------------------------------------------------------------- the action's helpers
def test_write_if_changed(tmp_path: Path) -> None:
    dest = tmp_path / "plan" / "preflight.json"
    preflight_report.write_if_changed(str(dest), "{}\n")
    assert dest.read_text() == "{}\n" and oct(dest.stat().st_mode & 0o777) == "0o600"
    mtime = dest.stat().st_mtime_ns
    preflight_report.write_if_changed(str(dest), "{}\n")
    assert dest.stat().st_mtime_ns == mtime
    preflight_report.write_if_changed(str(dest), '{"ok": true}\n')
    assert json.loads(dest.read_text()) == {"ok": True}
    assert [p.name for p in dest.parent.iterdir()] == ["preflight.json"]


def test_action_reads_registered_results_from_hostvars() -> None:
    hostvars = {"p0": {"gpufleet_preflight_gpu": gpu_facts(), "gpufleet_preflight_host": host_ok()},
                "p1": {"unrelated": 1}}
    found = preflight_report.ActionModule._host_results(hostvars, "p0")
    assert found["gpu"]["gpu_count"] == 4 and found["ib"] is None and found["host"]["failed_checks"] == 0
    assert preflight_report.ActionModule._host_results(hostvars, "p1") == {}
    assert preflight_report.ActionModule._host_results(hostvars, "absent") == {}


@pytest.mark.parametrize("name", sorted(preflight_report.RESULT_VARIABLES.values()))
def test_registered_names_are_not_inventory_variables(name: str) -> None:
    # topology_plan refuses unknown sglang_* names in hostvars; registered results must not look like one.
    assert not name.startswith("sglang_")


def test_the_plans_warnings_are_rows_of_the_hosts_they_name() -> None:
    # A fleet that listens beyond loopback without an API key: the plan warns, the report repeats it per host.
    plan = dict(PLAN, warnings=[{"variable": "sglang_api_key", "rule": "open_without_api_key", "message": "open",
                                 "fix": "set sglang_api_key", "instance": None, "host": "d0, p0"}])
    report = _preflight.build_report(plan, good_results())
    assert report["ok"]
    assert {(w["host"], w["check"], w["fix"]) for w in report["warnings"]} == {
        ("d0", "plan: open_without_api_key", "set sglang_api_key"), ("p0", "plan: open_without_api_key", "set sglang_api_key")}
