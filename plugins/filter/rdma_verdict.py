# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rdma_verdict filter: did a PD fleet's KV transfer go over RDMA (readiness phase)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._rdma import verdict


def rdma_verdict(prefill, decode, min_bytes=1):
    """Judge the rdma_traffic results of the prefill and the decode nodes ({host: result})."""
    if not isinstance(prefill, dict) or not isinstance(decode, dict):
        raise AnsibleFilterError("rdma_verdict: prefill and decode must be {host: rdma_traffic result} dicts")
    return verdict(prefill, decode, int(min_bytes))


class FilterModule:
    def filters(self):
        return {"rdma_verdict": rdma_verdict}
