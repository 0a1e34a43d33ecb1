# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prefill and decode instances of different attention-TP sizes (_topology._check_pd_attn_tp).

What SGLang does with them, per release, is in that function's docstring: refused where transfers fail
(sizes of which neither is a multiple of the other; the head slicing of 0.5.6.post2/0.5.8; mxfp8 KV cache),
a warning where they only slow down (non-MLA models), nothing for MLA models. nixl and mooncake alike.
"""
from __future__ import annotations

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import build_plan

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"  # 64 heads, 8 KV heads
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"  # 128 heads (MLA)
RULES = ("pd_attn_tp_multiple", "pd_attn_tp_slicing", "pd_attn_tp_mxfp8", "pd_attn_tp_mismatch")


def fleet(prefill, decode, common=None, per_host=None):
    """One host per instance; ``prefill`` and ``decode`` map host -> its own variables (sizes, GPUs)."""
    groups = {"sglang_prefill": list(prefill), "sglang_decode": list(decode), "sglang_workers": [],
              "sglang_router": ["r0"]}
    hostvars = {"r0": {"ansible_host": "10.0.0.9"}}
    for index, (host, own) in enumerate(list(prefill.items()) + list(decode.items())):
        hostvars[host] = {"ansible_host": "10.0.0.%d" % (index + 10), "sglang_model_path": LLAMA_70B,
                          **(common or {}), **own, **(per_host or {}).get(host, {})}
    return groups, hostvars


def tp(size, **extra):
    """An instance of tp ``size`` that fills its node."""
    return {"sglang_tp_size": size, "sglang_gpus_per_node": size, **extra}


def findings(result):
    return [f for f in result.errors + result.warnings if f.rule in RULES]


@pytest.mark.parametrize("backend", ["nixl", "mooncake"])
def test_a_non_mla_model_is_a_warning_on_either_backend(backend):
    result = build_plan(*fleet({"p0": tp(8)}, {"d0": tp(4)}, common={"sglang_transfer_backend": backend}))
    assert not result.errors, "\n".join(map(str, result.errors))
    (warning,) = findings(result)
    assert (warning.rule, warning.variable) == ("pd_attn_tp_mismatch", "sglang_tp_size")
    assert (warning.instance, warning.host) == ("prefill-0, decode-0", "p0, d0")
    assert "prefill prefill-0 (attention TP 8) and decode decode-0 (attention TP 4)" in warning.message
    assert "Performance is NOT guaranteed" in warning.message and "per-token head slices" in warning.message
    assert "NIXL_ERR_NOT_FOUND" not in warning.message
    assert "same attention-TP size" in warning.fix and "SGLANG_DISAGG_STAGING_BUFFER: 1" in warning.fix


def test_the_same_attention_tp_through_dp_attention_is_no_finding():
    # tp 8 / dp 2 under DP attention is attention TP 4, as the decode's tp 4.
    prefill = tp(8, sglang_dp_size=2, sglang_enable_dp_attention=True)
    result = build_plan(*fleet({"p0": prefill}, {"d0": tp(4)}))
    assert not result.errors and not findings(result)
    # ... and tp 8 / dp 4 is attention TP 2: a warning that shows the division.
    prefill["sglang_dp_size"] = 4
    (warning,) = findings(build_plan(*fleet({"p0": prefill}, {"d0": tp(4)})))
    assert "prefill prefill-0 (attention TP 2: tp_size 8 / dp_size 4)" in warning.message


def test_an_mla_model_moves_whole_pages_and_draws_nothing():
    common = {"sglang_model_path": DEEPSEEK}
    decode = tp(8, sglang_dp_size=8, sglang_enable_dp_attention=True)  # attention TP 1
    result = build_plan(*fleet({"p0": tp(8)}, {"d0": decode}, common=common))
    assert not result.errors, "\n".join(map(str, result.errors))
    assert not findings(result)


def test_sizes_that_are_not_multiples_are_refused_naming_both_sides():
    # 24 heads and 24 KV heads: attention TP 4 and 6 are each fine, but neither divides the other.
    common = {"sglang_model_path": "/models/custom", "sglang_transfer_backend": "nixl",
              "sglang_model_config": {"num_attention_heads": 24, "num_key_value_heads": 24}}
    result = build_plan(*fleet({"p0": tp(4), "p1": tp(4)}, {"d0": tp(6)}, common=common))
    assert result.plan is None
    (error,) = findings(result)
    assert (error.rule, error.variable) == ("pd_attn_tp_multiple", "sglang_tp_size")
    assert (error.instance, error.host) == ("prefill-0, prefill-1, decode-0", "p0, p1, d0")
    assert "6 is not a multiple of 4" in error.message and "either transfer backend" in error.message
    assert "same attention-TP size" in error.fix and "one is a multiple of the other" in error.fix


@pytest.mark.parametrize("release", ["0.5.6.post2", "0.5.8"])
@pytest.mark.parametrize("prefill_tp, decode_tp, broken", [
    (8, 16, "ZeroDivisionError"),        # 16 decode ranks, 8 KV heads: 0 heads per decode rank
    (8, 4, "the 2 that feed one decode rank"),  # offsets counted over all 8 prefill ranks
    (16, 1, "replicate the model's 8 KV heads"),
])
def test_older_releases_refuse_the_head_slicing_they_get_wrong(release, prefill_tp, decode_tp, broken):
    nodes = {"p0": tp(prefill_tp) if prefill_tp <= 8 else tp(8, sglang_tp_size=prefill_tp, sglang_nnodes=2)}
    if prefill_tp > 8:
        nodes["p1"] = dict(nodes["p0"])
    decode = {"d0": tp(decode_tp) if decode_tp <= 8 else tp(8, sglang_tp_size=decode_tp, sglang_nnodes=2)}
    if decode_tp > 8:
        decode["d1"] = dict(decode["d0"])
    result = build_plan(*fleet(nodes, decode, common={"sglang_release_profile": release}))
    assert result.plan is None
    (error,) = findings(result)
    assert (error.rule, error.variable) == ("pd_attn_tp_slicing", "sglang_tp_size")
    assert broken in error.message and "SGLang %s's send_kvcache_slice" % release in error.message
    assert "sglang_release_profile: 0.5.23" in error.fix
    # 0.5.23 slices these sizes right: a warning only.
    newest = build_plan(*fleet(nodes, decode, common={"sglang_release_profile": "0.5.23"}))
    assert not newest.errors and [f.rule for f in findings(newest)] == ["pd_attn_tp_mismatch"]


@pytest.mark.parametrize("prefill_tp, decode_tp", [(4, 8), (8, 1)])
def test_older_releases_warn_where_their_head_slicing_is_right(prefill_tp, decode_tp):
    result = build_plan(*fleet({"p0": tp(prefill_tp)}, {"d0": tp(decode_tp)},
                               common={"sglang_release_profile": "0.5.8"}))
    assert not result.errors, "\n".join(map(str, result.errors))
    (warning,) = findings(result)
    assert warning.rule == "pd_attn_tp_mismatch"
    assert "SGLANG_DISAGG_STAGING_BUFFER" not in warning.fix  # 0.5.23's staging buffers only


def test_mxfp8_kv_cache_with_different_sizes_is_refused():
    common = {"sglang_server_args": {"kv-cache-dtype": "mxfp8"}}
    result = build_plan(*fleet({"p0": tp(8)}, {"d0": tp(4)}, common=common))
    assert result.plan is None
    (error,) = findings(result)
    assert (error.rule, error.variable) == ("pd_attn_tp_mxfp8", "sglang_server_args")
    assert "the sglang_server_args of prefill-0, decode-0 set --kv-cache-dtype mxfp8" in error.message
    assert not findings(build_plan(*fleet({"p0": tp(8)}, {"d0": tp(8)}, common=common)))


def test_one_finding_per_pair_of_sizes_naming_every_instance():
    prefill = {"p0": tp(8), "p1": tp(8)}
    decode = {"d0": tp(4), "d1": tp(4), "d2": tp(8)}
    result = build_plan(*fleet(prefill, decode))
    assert not result.errors, "\n".join(map(str, result.errors))
    (warning,) = findings(result)
    assert warning.instance == "prefill-0, prefill-1, decode-0, decode-1"
    assert warning.host == "p0, p1, d0, d1"
