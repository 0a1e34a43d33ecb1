# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and careless inventories: refused by the plan, all problems at once, host and variable named.

Someone with write access to an inventory or an AWX survey must not be able to add a directive to a
unit, run a command as root or leave the fleet open while it looks closed.
"""
from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.gpufleet.sglang.plugins.module_utils import _input_rules as rules
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import CONTRACT, build_plan

ROOT = Path(__file__).resolve().parents[4]
SERVER_ARGS = json.loads((ROOT / "roles/sglang_service/files/server_args/0.5.23.json").read_text())
PARSERS = {"0.5.23": rules.option_strings_of(SERVER_ARGS)}
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def fleet(prefill=("p0",), decode=("d0",), routers=("r0",), common=None, per_host=None):
    groups = {"sglang_prefill": list(prefill), "sglang_decode": list(decode), "sglang_workers": [],
              "sglang_router": list(routers)}
    hostvars = {}
    for index, host in enumerate(list(prefill) + list(decode) + list(routers)):
        hostvars[host] = {"ansible_host": "10.0.0.%d" % (index + 10)}
        if host not in routers:
            hostvars[host].update({"sglang_model_path": LLAMA_70B, "sglang_tp_size": 8}, **(common or {}))
        hostvars[host].update((per_host or {}).get(host, {}))
    return groups, hostvars


def plan(**kwargs):
    return build_plan(*fleet(**kwargs), parser_options=PARSERS)


def found(result, rule=None, variable=None):
    assert result.plan is None, "the inventory was accepted"
    return [e for e in result.errors if (rule is None or e.rule == rule) and (variable is None or e.variable == variable)]


# ------------------------------------------------------------ what reaches a unit


@pytest.mark.parametrize("variable, value", [
    ("sglang_instance", "p\n[Service]\nExecStartPre=+/bin/sh -c id"),
    ("sglang_service_config_dir", "/etc/sglang\nExecStartPre=+/bin/sh"),
    ("sglang_venv_dir", "+/opt/venv"),
    ("sglang_model_path", "/models/llama\r"),
    ("sglang_model_path", "org/name\x00"),
    ("sglang_host", "0.0.0.0\nUser=root"),
    ("sglang_network_interface", "eth0\x1b[2J"),
    ("sglang_advertise_address", "10.0.0.1\u2028"),
    ("sglang_ib_device", ["mlx5_0", "mlx5_1\n"]),
    ("sglang_env", {"SGLANG_X": "1\nLD_PRELOAD=/tmp/x.so"}),
    ("sglang_server_args", {"chunked-prefill-size": "4096\n"}),
    ("sglang_server_args", {"json-model-override-args": ["a", "b\u202e"]}),
])
def test_control_characters_are_refused_in_every_value(variable, value):
    errors = found(plan(per_host={"p0": {variable: value}}))
    assert any(e.variable == variable and e.host and "p0" in e.host for e in errors), errors
    message = " ".join(str(e) for e in errors)
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize("variable, value, rule", [
    ("sglang_venv_dir", "opt/venv", "type"),
    ("sglang_venv_dir", "/opt/../etc", "type"),
    ("sglang_venv_dir", "/opt/my venv", "type"),
    ("sglang_venv_dir", "/", "type"),
    ("sglang_service_config_dir", "/etc/$HOME", "type"),
    ("sglang_service_config_dir", "/etc/%n", "type"),
    ("sglang_model_path", "../models/x", "type"),
    ("sglang_model_path", "org/name --trust-remote-code", "type"),
    ("sglang_instance", "a b", "type"),
    ("sglang_instance", "-x", "type"),
    ("sglang_instance", "router", "type"),
    ("sglang_instance", "x" * 64, "type"),
    ("sglang_host", "0.0.0.0 --api-key x", "type"),
    ("sglang_router_policy", "cache_aware --foo", "type"),
    ("sglang_gpus_per_node", 200000, "type"),
    ("sglang_node_gpu_count", 200000, "type"),
    ("sglang_nnodes", 10**9, "type"),
    ("sglang_tp_size", "9" * 100, "type"),
    ("sglang_port", 80, "privileged_port"),
    ("sglang_model_path", "x" * 5000, "value_size"),
])
def test_unsafe_values_are_refused_with_the_variable_and_a_fix(variable, value, rule):
    errors = found(plan(per_host={"p0": {variable: value}}), rule, variable)
    assert errors and all("p0" in e.host and e.fix for e in errors)


def test_a_huge_machine_is_refused_at_once():
    start = time.monotonic()
    result = plan(common={"sglang_gpus_per_node": 200000, "sglang_tp_size": 200000, "sglang_node_gpu_count": 200000})
    assert time.monotonic() - start < 2
    assert found(result, "type", "sglang_gpus_per_node")


def test_privileged_ports_need_the_capability_and_get_exactly_it():
    refused = plan(per_host={"r0": {"sglang_router_port": 443}})
    assert found(refused, "privileged_port", "sglang_router_port")
    result = plan(per_host={"r0": {"sglang_router_port": 443, "sglang_service_bind_privileged_ports": True}})
    assert not result.errors
    caps = {s["unit"]: s["capabilities"] for s in result.plan["services"]}
    assert caps == {"sglang-prefill-0": [], "sglang-decode-0": [], "sglang-router": ["CAP_NET_BIND_SERVICE"]}


def test_derived_ports_stay_within_65535():
    result = plan(common={"sglang_enable_dp_attention": True, "sglang_dp_size": 8, "sglang_dist_init_port": 65530})
    assert found(result, "derived_port_range", "sglang_dist_init_port")


def test_two_instances_cannot_share_a_unit_on_one_machine_whatever_its_spelling():
    # Unit names come from instance names; machine names compare case-insensitively.
    per_host = {"p0": {"ansible_host": "GPU-A", "sglang_base_gpu_id": 0, "sglang_gpus_per_node": 4, "sglang_tp_size": 4},
                "p1": {"ansible_host": "gpu-a", "sglang_base_gpu_id": 0, "sglang_gpus_per_node": 4, "sglang_tp_size": 4}}
    result = plan(prefill=("p0", "p1"), per_host=per_host)
    # Same machine, same GPUs and port: the lower-case spelling makes the clash visible.
    assert found(result, "gpu_ranges_disjoint") and found(result, "ports_disjoint")


def test_every_problem_is_reported_at_once():
    per_host = {"p0": {"sglang_instance": "a\nb", "sglang_venv_dir": "venv"},
                "d0": {"sglang_env": {"HF_TOKEN": "x"}, "sglang_port": 22},
                "r0": {"sglang_router_host": "0.0.0.0;id"}}
    errors = found(plan(per_host=per_host))
    assert {(e.variable, e.host) for e in errors} >= {
        ("sglang_instance", "p0"), ("sglang_venv_dir", "p0"), ("sglang_env", "d0"), ("sglang_port", "d0"),
        ("sglang_router_host", "r0")}


# ------------------------------------------------------------ secrets


@pytest.mark.parametrize("value", ["", "   ", "\n", "key\nExecStartPre=/bin/sh", None, [], True])
def test_an_unusable_api_key_is_refused(value):
    result = plan(common={"sglang_api_key": rules.redact(value)}, per_host={"r0": {"sglang_api_key": rules.redact(value)}})
    if value is None:  # unset: the fleet is open, and says so
        assert [w.rule for w in result.warnings] == ["open_without_api_key"]
        return
    errors = found(result, "secret_usable", "sglang_api_key")
    assert {h for e in errors for h in e.host.split(", ")} == {"p0", "d0", "r0"}


def test_the_plan_never_holds_a_secret_value():
    secret = "sk-very-secret-0123"
    result = plan(common={"sglang_api_key": secret, "sglang_hf_token": "hf_" + secret,
                          "sglang_secret_env": {"WANDB_API_KEY": "w" + secret}},
                  per_host={"r0": {"sglang_api_key": secret}})
    assert not result.errors and not result.warnings
    text = json.dumps(result.plan)
    assert secret not in text
    worker = next(s for s in result.plan["services"] if s["unit"] == "sglang-prefill-0")
    assert worker["secret_env"] == {"HF_TOKEN": "sglang_hf_token", "WANDB_API_KEY": "sglang_secret_env"}


def test_open_services_are_a_warning_naming_the_hosts_and_loopback_is_not():
    result = plan()
    (warning,) = result.warnings
    assert warning.rule == "open_without_api_key" and warning.host == "d0, p0, r0"
    assert "sglang_api_key" in warning.fix and "127.0.0.1" in warning.fix
    local = plan(common={"sglang_host": "127.0.0.1"}, per_host={"r0": {"sglang_router_host": "::1"}})
    assert not local.warnings


@pytest.mark.parametrize("name, variable", [
    ("HF_TOKEN", "sglang_hf_token"),
    (" hf_token ", "sglang_hf_token"),
    ("Hugging_Face_Hub_Token", "sglang_hf_token"),
    ("SGLANG_API_KEY", "sglang_api_key"),
    ("WANDB_API_KEY", "sglang_secret_env"),
    ("db_password", "sglang_secret_env"),
    ("AWS_SECRET_ACCESS_KEY", "sglang_secret_env"),
    ("MyToken", "sglang_secret_env"),
])
def test_secret_like_names_in_sglang_env_are_refused_with_the_right_variable(name, variable):
    errors = found(plan(per_host={"p0": {"sglang_env": {name: "value"}}}), variable="sglang_env")
    assert errors and any(variable in e.fix for e in errors), errors


@pytest.mark.parametrize("name", ["SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK", "TOKENIZERS_PARALLELISM"])
def test_counts_of_tokens_are_not_secrets(name):
    assert not plan(per_host={"p0": {"sglang_env": {name: "256"}}}).errors


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "A=B", ""])
def test_environment_names_must_suit_a_shell_and_systemd(name):
    assert found(plan(per_host={"p0": {"sglang_env": {name: "1"}}}), "env_name", "sglang_env")


@pytest.mark.parametrize("server_args, rule", [
    ({"api-key": "x"}, "managed_flag"),
    ({"--api_key": "x"}, "managed_flag"),
    ({"api-key=x": True}, "server_arg_name"),
    ({"api-ke": "x"}, "managed_flag"),            # an abbreviation SGLang's parser expands
    ({"admin-api": "x"}, "managed_flag"),
    ({"model-pa": "/x"}, "managed_flag"),
    ({"ssl-keyfile-password": "x"}, "secret_flag"),
    ({"config": "/tmp/evil.yaml"}, "managed_flag"),
    ({"lora-paths": ["a", "--api-key", "x"]}, "server_arg_value"),
    ({"chunked-prefill-size": "--api-key=x"}, "server_arg_value"),
    ({"chunked prefill size": 1}, "server_arg_name"),
    ({"mem-fraction-statc": 0.8}, "server_arg_known"),
    ({"cuda-graph-max-bs": 8}, "server_arg_known"),  # ambiguous: argparse refuses it
    ({"mem-frac": 0.8}, "server_arg_known"),         # SGLang would expand it; the plan writes flags in full
    ({"model": "/x"}, "managed_flag"),               # an alias of --model-path
    ({"nccl-init-addr": "a:1"}, "managed_flag"),     # an alias of --dist-init-addr
])
def test_server_args_cannot_smuggle_a_managed_flag_or_a_key(server_args, rule):
    errors = found(plan(common={"sglang_server_args": server_args}), rule, "sglang_server_args")
    assert errors and all(e.fix for e in errors)


def test_server_arg_typos_name_the_closest_flag():
    errors = found(plan(common={"sglang_server_args": {"mem-fraction-statc": 0.8}}), "server_arg_known")
    assert {e.instance for e in errors} == {"prefill-0", "decode-0"}
    assert all("--mem-fraction-static" in e.fix for e in errors)


def test_abbreviations_are_refused_for_a_release_without_a_parser_table():
    errors = found(plan(common={"sglang_server_args": {"api-k": "x"}, "sglang_release_profile": "0.5.8"}),
                   "managed_flag")
    assert "may expand it to --api-key" in errors[0].message


def test_negative_numbers_and_good_flags_pass():
    result = plan(common={"sglang_server_args": {"chunked-prefill-size": -1, "mem-fraction-static": 0.8,
                                                 "enable-metrics": True, "cuda-graph-bs-decode": [1, 2, 4]}})
    assert not result.errors


# ------------------------------------------------------------ fuzz

_STRING_VARIABLES = sorted(name for name, spec in CONTRACT.items() if spec.kind == "str" and not spec.choices)
_FORBIDDEN = st.characters(categories=("Cc", "Cf", "Zl", "Zp"))


@settings(max_examples=300, deadline=None)
@given(variable=st.sampled_from(_STRING_VARIABLES), prefix=st.text(max_size=8), bad=_FORBIDDEN, suffix=st.text(max_size=8))
def test_no_string_variable_accepts_a_control_character(variable, prefix, bad, suffix):
    result = plan(per_host={"p0": {variable: prefix + bad + suffix}})
    assert result.plan is None
    assert any(e.variable == variable for e in result.errors)


@settings(max_examples=200, deadline=None)
@given(hostvars=st.dictionaries(st.sampled_from(sorted(CONTRACT)), st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)), max_size=6))
def test_an_accepted_plan_has_no_control_character_anywhere(hostvars):
    result = plan(per_host={"p0": hostvars})
    if result.plan is not None:
        text = json.dumps(result.plan, ensure_ascii=False)
        assert not any(unicodedata.category(c) in rules.FORBIDDEN_CATEGORIES for c in text)


# ------------------------------------------------------------ role variables that reach a unit

ROLE_NAMES = ("sglang_service_user", "sglang_service_home", "sglang_service_ca_bundle", "sglang_service_limit_nofile",
              "pypi_cache_user", "pypi_cache_dir", "pypi_cache_listen", "gpufleet_extra_ca_certificates")


@pytest.mark.parametrize("variable, value, rule", [
    ("sglang_service_user", "sglang\nExecStartPre=+/bin/sh", "no_control_characters"),
    ("sglang_service_user", "root", "type"),
    ("sglang_service_user", "", "type"),
    ("sglang_service_home", "var/lib/sglang", "type"),
    ("sglang_service_limit_nofile", "1048576 ; id", "type"),
    ("gpufleet_extra_ca_certificates", ["-----BEGIN CERTIFICATE-----\x00"], "no_control_characters"),
])
def test_role_variables_that_reach_a_unit_are_checked_where_the_inventory_sets_them(variable, value, rule):
    result = build_plan(*fleet(per_host={"r0": {variable: value}}), known_variables=ROLE_NAMES, parser_options=PARSERS)
    assert found(result, rule, variable) and found(result, rule, variable)[0].host == "r0"


def test_the_pypi_cache_host_is_checked_too():
    groups, hostvars = fleet()
    groups["pypi_cache"] = ["cache"]
    hostvars["cache"] = {"pypi_cache_listen": "0.0.0.0\n", "pypi_cache_dir": "/srv/cache"}
    result = build_plan(groups, hostvars, known_variables=ROLE_NAMES, parser_options=PARSERS)
    assert [(e.variable, e.host) for e in result.errors] == [("pypi_cache_listen", "cache")]


def test_good_role_values_pass():
    values = {"sglang_service_user": "svc_sglang", "sglang_service_ca_bundle": "", "pypi_cache_listen": "10.0.0.5",
              "sglang_service_limit_nofile": "65536"}
    assert not build_plan(*fleet(common=values), known_variables=ROLE_NAMES, parser_options=PARSERS).errors


def test_a_host_name_with_a_control_character_is_refused():
    errors = found(plan(prefill=("p0\nx",), per_host={"p0\nx": {"ansible_host": "10.0.0.9"}}), variable="inventory_hostname")
    assert errors and errors[0].rule == "no_control_characters"


# ------------------------------------------------------------ reachability


@pytest.mark.parametrize("per_host, variable, rule", [
    ({"p0": {"sglang_host": "127.0.0.1"}}, "sglang_host", "reachable_bind"),
    ({"d0": {"sglang_host": "::1"}}, "sglang_host", "reachable_bind"),
    ({"p0": {"sglang_advertise_address": "127.0.0.1"}}, "sglang_advertise_address", "reachable_address"),
    ({"d0": {"ansible_host": "localhost"}}, "ansible_host", "reachable_address"),
    ({"p0": {"sglang_host": "10.0.0.99"}}, "sglang_host", "reachable_bind"),
])
def test_an_address_its_router_or_peers_cannot_reach_is_refused(per_host, variable, rule):
    (host,) = per_host
    errors = found(plan(per_host=per_host), rule, variable)
    assert errors and errors[0].host == host and errors[0].fix


def test_loopback_is_fine_when_everything_is_on_one_machine():
    one_box = {h: {"ansible_host": "127.0.0.1", "sglang_host": "127.0.0.1", "sglang_router_host": "127.0.0.1"}
               for h in ("p0", "d0", "r0")}
    one_box["d0"].update(sglang_base_gpu_id=0, sglang_port=30001, sglang_node_gpu_count=16)
    one_box["d0"]["sglang_base_gpu_id"] = 8
    one_box["p0"]["sglang_node_gpu_count"] = 16
    result = plan(per_host=one_box)
    assert not result.errors, result.errors
    assert not result.warnings  # nothing listens beyond loopback


def test_binding_the_advertised_address_is_fine():
    assert not plan(per_host={"p0": {"sglang_host": "10.0.0.10"}}).errors


def test_a_misspelled_role_variable_is_refused_with_the_closest_name():
    result = build_plan(*fleet(per_host={"p0": {"gdrcopy_verison": "2.5", "pypi_cache_prot": 1}}),
                        known_variables=("gdrcopy_version", "pypi_cache_port"), parser_options=PARSERS,
                        variable_prefixes=("sglang_", "gdrcopy_", "pypi_cache_", "gpufleet_"))
    fixes = {e.variable: e.fix for e in found(result, "unknown_variable")}
    assert fixes == {"gdrcopy_verison": "did you mean gdrcopy_version? Rename it.",
                     "pypi_cache_prot": "did you mean pypi_cache_port? Rename it."}


def test_aliases_of_one_machine_share_its_account_and_directories():
    per_host = {"p0": {"ansible_host": "box", "sglang_gpus_per_node": 4, "sglang_tp_size": 4},
                "d0": {"ansible_host": "BOX", "sglang_gpus_per_node": 4, "sglang_tp_size": 4, "sglang_base_gpu_id": 4,
                       "sglang_port": 30001, "sglang_service_home": "/srv/other"}}
    errors = found(plan(per_host=per_host), "one_account_per_machine", "sglang_service_home")
    assert errors[0].host == "d0"
