# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils._arch import arch_list, parse_capability


@pytest.mark.parametrize(
    "value, expected",
    [("9.0", (9, 0, "")), ("sm_90", (9, 0, "")), ("90", (9, 0, "")), ("100", (10, 0, "")), ("9.0a", (9, 0, "a")),
     (8.6, (8, 6, "")), ("9", (9, 0, "")), ({"compute_cap": "10.0"}, (10, 0, "")), ("compute_120", (12, 0, ""))],
)
def test_parse_capability(value, expected):
    assert parse_capability(value) == expected


@pytest.mark.parametrize("value", ["hopper", "", None, True, {"name": "H100"}, "9.0.1"])
def test_parse_capability_refuses(value):
    with pytest.raises(ValueError):
        parse_capability(value)


def test_gpu_facts_gpus_give_one_entry_per_architecture():
    gpus = [{"index": i, "compute_cap": "9.0"} for i in range(8)] + [{"index": 8, "compute_cap": "10.0"}]
    assert arch_list(gpus) == "9.0;10.0"
    assert arch_list(gpus, "cmake") == "90;100"


def test_profile_archs_sorted_numerically_not_as_text():
    assert arch_list(["10.0", "8.0", "9.0"], "cmake") == "80;90;100"


@pytest.mark.parametrize("value", ["9.0;10.0", "9.0, 10.0", "sm_90 sm_100"])
def test_joined_strings(value):
    assert arch_list(value) == "9.0;10.0"


@pytest.mark.parametrize("value", [None, [], ""])
def test_no_input_gives_an_empty_list(value):
    assert arch_list(value) == ""


def test_unknown_style():
    with pytest.raises(ValueError, match="style"):
        arch_list(["9.0"], "nvcc")
