# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SGLang's parser tables (roles/sglang_service/files/server_args/<release>.json), one per release profile.

tests/upstream/generate_server_args_spec.py writes each from the release's own parser and records the
release it ran against; the plan (topology_plan's parser_options) keys the tables by that record and checks
every instance's sglang_server_args against the table of its own release profile.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ansible_collections.gpufleet.sglang.plugins.action.topology_plan import SERVER_ARGS_DIR, parser_options
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import build_plan

ROOT = Path(__file__).resolve().parents[4]
TABLES = sorted(SERVER_ARGS_DIR.glob("*.json"))
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
# In SGLang 0.5.23's parser, not in 0.5.6.post2's, whose closest flag is --cuda-graph-max-bs.
NEWER_FLAG = "cuda-graph-max-bs-decode"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_server_args_spec",
                                                  ROOT / "tests" / "upstream" / "generate_server_args_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def options_of(release):
    table = json.loads((SERVER_ARGS_DIR / ("%s.json" % release)).read_text(encoding="utf-8"))
    return {string for option in table["options"] for string in option["option_strings"]}


def test_every_release_profile_ships_its_table():
    assert sorted(path.stem for path in TABLES) == sorted(PROFILES)


@pytest.mark.parametrize("path", TABLES, ids=[path.stem for path in TABLES])
def test_each_table_records_the_release_it_is_named_after_and_is_the_generators_output(path):
    text = path.read_text(encoding="utf-8")
    table = json.loads(text)
    assert table["sglang"] == path.stem, "%s was generated from SGLang %s" % (path.name, table["sglang"])
    assert table["generated_by"] == "tests/upstream/generate_server_args_spec.py"
    assert table["parser"] == "sglang.srt.server_args.ServerArgs.add_cli_args"
    assert text == _generator().dumps(table)  # as --write writes it: regenerate rather than edit by hand
    assert set(table.get("stubbed_modules", [])) <= {"torchvision"}  # only what the generator's docstring explains


def test_the_plan_keys_the_tables_by_their_recorded_release():
    tables = parser_options()
    assert sorted(tables) == sorted(profile["sglang"] for profile in PROFILES.values())
    for release, options in tables.items():
        assert {string for strings in options for string in strings} == options_of(release)


def test_the_tables_differ_where_the_releases_do():
    assert "--" + NEWER_FLAG in options_of("0.5.23") and "--" + NEWER_FLAG not in options_of("0.5.6.post2")
    # --attn-dp-size replaced --dp-size N --enable-dp-attention in 0.5.23 (the plan writes each release's form).
    assert "--attn-dp-size" in options_of("0.5.23")
    assert "--attn-dp-size" not in options_of("0.5.8") | options_of("0.5.6.post2")


def plan(release, server_args=None, **extra):
    groups = {"sglang_workers": ["g0"], "sglang_prefill": [], "sglang_decode": [], "sglang_router": []}
    hostvars = {"g0": {"ansible_host": "10.0.0.10", "sglang_model_path": LLAMA_70B, "sglang_tp_size": 8,
                       "sglang_release_profile": release, "sglang_server_args": server_args or {}, **extra}}
    return build_plan(groups, hostvars, parser_options=parser_options())


def test_a_newer_flag_is_refused_on_an_older_release_with_the_closest_flag():
    result = plan("0.5.6.post2", {NEWER_FLAG: 256})
    assert result.plan is None
    (error,) = [e for e in result.errors if e.rule == "server_arg_known"]
    assert (error.variable, error.instance, error.host) == ("sglang_server_args", "regular-0", "g0")
    assert "--%s, which SGLang 0.5.6.post2's parser does not know" % NEWER_FLAG in error.message
    assert error.fix == "write --cuda-graph-max-bs."


def test_the_same_flag_is_accepted_on_the_release_that_has_it():
    result = plan("0.5.23", {NEWER_FLAG: 256})
    assert not result.errors, "\n".join(map(str, result.errors))
    (service,) = result.plan["services"]
    assert service["argv"][-2:] == ["--" + NEWER_FLAG, "256"]


@pytest.mark.parametrize("release", sorted(PROFILES))
def test_every_flag_the_plan_writes_is_in_its_releases_table(release):
    """A DP-attention, multi-node worker: the plan's own flags must parse with the release's parser."""
    groups = {"sglang_workers": ["g0", "g1"], "sglang_prefill": [], "sglang_decode": [], "sglang_router": []}
    common = {"sglang_model_path": "deepseek-ai/DeepSeek-V3-0324", "sglang_tp_size": 16, "sglang_dp_size": 16,
              "sglang_enable_dp_attention": True, "sglang_ep_size": 16, "sglang_nnodes": 2,
              "sglang_release_profile": release, "sglang_api_key": "k"}
    hostvars = {host: {"ansible_host": "10.0.0.%d" % (10 + index), **common} for index, host in enumerate(["g0", "g1"])}
    result = build_plan(groups, hostvars, parser_options=parser_options())
    assert not result.errors, "\n".join(map(str, result.errors))
    known = options_of(release)
    for service in result.plan["services"]:
        written = {token for token in service["argv"][3:] if token.startswith("--")}
        assert written <= known, sorted(written - known)
        assert {"--" + option for option in service["secret_config"]["options"]} <= known


def test_a_secret_the_release_cannot_read_from_its_config_file_is_refused():
    # 0.5.6.post2's parser has no --admin-api-key; the plan would write it to the worker's --config YAML.
    assert "--admin-api-key" not in options_of("0.5.6.post2") and "--admin-api-key" in options_of("0.5.8")
    result = plan("0.5.6.post2", sglang_admin_api_key="admin-secret")
    (error,) = [e for e in result.errors if e.rule == "secret_option_known"]
    assert (error.variable, error.instance, error.host) == ("sglang_admin_api_key", "regular-0", "g0")
    assert "SGLang 0.5.6.post2's parser does not know" in error.message
    assert not plan("0.5.8", sglang_admin_api_key="admin-secret").errors
