# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.filter.cuda_arch_list import FilterModule, cuda_arch_list
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES


def test_registered():
    assert FilterModule().filters()["cuda_arch_list"] is cuda_arch_list


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_archs_convert(name):
    archs = PROFILES[name]["cuda_archs"]
    assert cuda_arch_list(archs, "cmake") == ("" if not archs else ";".join(a.replace(".", "") for a in archs))


def test_bad_capability_names_the_fix():
    with pytest.raises(AnsibleFilterError, match=r"Fix: pass the GPUs of gpufleet.sglang.gpu_facts"):
        cuda_arch_list(["hopper"])
