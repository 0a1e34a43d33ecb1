# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cuda_arch_list filter: compute capabilities to TORCH_CUDA_ARCH_LIST or CMAKE_CUDA_ARCHITECTURES."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._arch import arch_list


def cuda_arch_list(values, style="torch"):
    """Distinct, sorted capabilities in the notation of ``style`` (torch or cmake)."""
    try:
        return arch_list(values, style)
    except ValueError as exc:
        raise AnsibleFilterError(
            "cuda_arch_list: %s (rule: compute capabilities such as 9.0, sm_90 or 90). Fix: pass the GPUs of "
            "gpufleet.sglang.gpu_facts, the profile's cuda_archs, or a list such as ['9.0', '10.0']." % exc
        ) from None


class FilterModule:
    def filters(self):
        return {"cuda_arch_list": cuda_arch_list}
