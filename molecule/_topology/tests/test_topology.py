# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every topology scenario proves on each node: the plan's services run as planned, their
secrets stay private, and a chat completion through the router reaches a decode (or regular) worker."""
from __future__ import annotations

import json

import pytest

from conftest import http

USER = "sglang"
CONFIG_DIR = "/etc/sglang"
HTTP_PURPOSES = ("http", "bootstrap", "router http", "router metrics")


def secret_values(variables: dict) -> list:
    return [variables[name] for name in ("sglang_api_key", "sglang_hf_token") if variables.get(name)]


def main_pid(host, unit: str) -> int:
    return int(host.check_output("systemctl show -p MainPID --value %s", unit))


def test_units_active_and_enabled(host, services):
    for service in services:
        unit = host.service(service["unit"])
        assert unit.is_running, service["unit"]
        assert unit.is_enabled, service["unit"]


def test_dedicated_user(host, services):
    user = host.user(USER)
    assert user.exists and 0 < user.uid < 1000, "a system account"
    assert user.shell == "/usr/sbin/nologin"
    for service in services:
        processes = host.process.filter(ppid=1, user=USER)
        assert main_pid(host, service["unit"]) in [proc.pid for proc in processes], service["unit"]


def test_unit_files(host, services):
    for service in services:
        text = host.file("/etc/systemd/system/%s.service" % service["unit"]).content_string
        for line in ("User=sglang", "Group=sglang", "LimitMEMLOCK=infinity", "Restart=on-failure",
                     "After=network-online.target", "EnvironmentFile=%s/%s.env" % (CONFIG_DIR, service["unit"])):
            assert line in text.splitlines(), (service["unit"], line)
        assert int(text.split("LimitNOFILE=")[1].split()[0]) >= 65536


def test_private_files(host, services):
    directory = host.file(CONFIG_DIR)
    assert (directory.user, directory.group, directory.mode) == ("root", USER, 0o750)
    for service in services:
        env = host.file("%s/%s.env" % (CONFIG_DIR, service["unit"]))
        assert (env.user, env.group, env.mode) == ("root", "root", 0o600), service["unit"]
        if service["secret_config"]:
            secrets = host.file(service["secret_config"]["path"])
            assert (secrets.user, secrets.group, secrets.mode) == (USER, USER, 0o600)
    world_readable = host.run("find %s -perm -o=r -type f", CONFIG_DIR).stdout.split()
    assert world_readable == []


def test_secrets_reach_their_files_only(host, services, variables):
    for service in services:
        env = host.file("%s/%s.env" % (CONFIG_DIR, service["unit"])).content_string
        for name, variable in service["secret_env"].items():
            assert "%s='%s'" % (name, variables[variable]) in env.splitlines()
        if service["secret_config"]:
            text = host.file(service["secret_config"]["path"]).content_string
            for option, variable in service["secret_config"]["options"].items():
                assert '%s: "%s"' % (option, variables[variable]) in text.splitlines()


def test_secrets_never_in_argv_logs_or_units(host, services, variables):
    secrets = secret_values(variables)
    assert secrets, "the scenario sets sglang_api_key and sglang_hf_token"
    processes = host.check_output("ps -eww -o args")
    journal = host.check_output("journalctl --no-pager -u 'sglang-*'")
    units = "".join(host.file("/etc/systemd/system/%s.service" % s["unit"]).content_string for s in services)
    for secret in secrets:
        assert secret not in processes
        assert secret not in journal
        assert secret not in units


def test_units_run_the_plan_argv(host, services):
    """systemd's parsed ExecStart is the plan's argv: the unit's quoting lost or added nothing."""
    for service in services:
        exec_start = host.check_output("systemctl show -p ExecStart --value %s", service["unit"])
        parsed = exec_start.split(" argv[]=", 1)[1].split(" ; ", 1)[0]
        assert parsed == " ".join(service["argv"]), service["unit"]


def test_running_workers_argv_is_the_plan(host, services):
    """The kernel's argv of each worker's main process (smg retitles itself, so the router is left out)."""
    for service in services:
        if service["kind"] != "worker":
            continue
        cmdline = host.file("/proc/%d/cmdline" % main_pid(host, service["unit"])).content
        assert cmdline.rstrip(b"\0").split(b"\0") == [arg.encode() for arg in service["argv"]], service["unit"]


def test_ib_device_maps_name_each_gpus_nearest_active_nics(host, services, variables):
    """sglang_ib_device auto: the file each PD worker's argv names maps its GPUs, by GPU id, to the NICs
    gpu_facts pairs them with on this host, and the worker read it at start."""
    mapped = [service for service in services if service.get("ib_devices_file")]
    if not mapped:
        pytest.skip("no worker with sglang_ib_device auto on this host")
    sysfs_root = variables.get("sglang_service_ib_sysfs_root") or variables["sglang_preflight_ib_sysfs_root"]
    facts = host.ansible("gpufleet.sglang.gpu_facts", "ib_sysfs_root=%s" % sysfs_root, check=False)
    assert facts.get("nic_affinity"), json.dumps(facts)
    nearest = facts["nic_affinity"]["mapping"]
    for service in mapped:
        argv = service["argv"]
        assert argv[argv.index("--disaggregation-ib-device") + 1] == service["ib_devices_file"]
        path = host.file(service["ib_devices_file"])
        assert (path.user, path.group, path.mode) == ("root", USER, 0o640), service["unit"]
        mapping = json.loads(path.content_string)
        assert list(mapping) == [str(gpu) for gpu in service["gpu_ids"]], service["unit"]
        assert mapping == {gpu: nearest[gpu] for gpu in mapping}, service["unit"]
        assert {name for names in mapping.values() for name in names.split(",")} <= set(variables["topology_fake_gpus"]["nics"])
        journal = host.check_output("journalctl --no-pager -u %s", service["unit"])
        assert "KV transfer devices: " + ", ".join("GPU %s %s" % item for item in mapping.items()) in journal


def test_ports_listening(host, services):
    for service in services:
        for entry in service["ports"]:
            if entry["purpose"] in HTTP_PURPOSES:
                assert host.socket("tcp://0.0.0.0:%d" % entry["port"]).is_listening, (service["unit"], entry)


def test_chat_completion_through_the_router_reaches_a_decode_worker(host, services, plan, variables):
    routers = [service for service in services if service["kind"] == "router"]
    if not routers:
        pytest.skip("no router on this host")
    key = variables.get("sglang_api_key", "")
    port = routers[0]["http_port"]
    # Generation ends on the decode workers (the regular ones without PD).
    serving = [instance for instance in plan["instances"] if instance["role"] in ("decode", "regular")]

    def served() -> int:
        total = 0
        for instance in serving:
            status, info = http(host, instance["url"] + "/get_server_info", key=key)
            assert status == 200, info
            total += info["gpufleet_simulator"]["requests_served"]
        return total

    before = served()
    status, answer = http(host, "http://127.0.0.1:%d/v1/chat/completions" % port, key=key, body={
        "model": plan["model_path"], "max_tokens": 8,
        "messages": [{"role": "user", "content": "Which worker answers?"}]})
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"].strip()
    assert served() == before + 1


def test_router_refuses_a_request_without_the_key(host, services, plan, variables):
    routers = [service for service in services if service["kind"] == "router"]
    if not routers or not variables.get("sglang_api_key"):
        pytest.skip("no router with an API key on this host")
    status, _answer = http(host, "http://127.0.0.1:%d/v1/chat/completions" % routers[0]["http_port"], body={
        "model": plan["model_path"], "max_tokens": 2, "messages": [{"role": "user", "content": "Anyone?"}]})
    assert status == 401
