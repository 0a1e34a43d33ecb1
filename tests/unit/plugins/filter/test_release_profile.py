# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.filter.release_profile import release_profile
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import DEFAULT_PROFILE, PROFILE_KEYS


def test_the_default_profile_has_every_key_and_its_name():
    assert set(release_profile(DEFAULT_PROFILE)) == set(PROFILE_KEYS) | {"name"}
    assert release_profile(DEFAULT_PROFILE)["name"] == DEFAULT_PROFILE


def test_unset_is_the_default_profile():
    assert release_profile(None) == release_profile(DEFAULT_PROFILE)


def test_the_result_is_a_copy():
    release_profile(DEFAULT_PROFILE)["sglang"] = "mutated"
    assert release_profile(DEFAULT_PROFILE)["sglang"] == DEFAULT_PROFILE


@pytest.mark.parametrize("name", ["9.9.9", "", ["0.5.23"]])
def test_an_unknown_profile_names_the_variable_and_the_known_ones(name):
    with pytest.raises(AnsibleFilterError, match=r"sglang_release_profile .*Fix: set sglang_release_profile to one of .*0\.5\.23"):
        release_profile(name)
