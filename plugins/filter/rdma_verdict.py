# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rdma_verdict filter: did a PD fleet's KV transfer go over RDMA (readiness phase)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._rdma import verdict


def rdma_verdict(prefill, decode, min_bytes=1, kv_bytes=None, kv_fraction=1.0):
    """Judge the rdma_traffic results of the prefill and the decode nodes ({host: result})."""
    if not isinstance(prefill, dict) or not isinstance(decode, dict):
        raise AnsibleFilterError("rdma_verdict: prefill and decode must be {host: rdma_traffic result} dicts")
    try:
        kv_bytes = int(kv_bytes) if kv_bytes not in (None, "") else None
        kv_fraction = float(kv_fraction)
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError("rdma_verdict: kv_bytes must be an integer and kv_fraction a number (%s)" % error)
    if not 0 <= kv_fraction <= 1:
        raise AnsibleFilterError("rdma_verdict: kv_fraction must be between 0 and 1, got %s" % kv_fraction)
    return verdict(prefill, decode, int(min_bytes), kv_bytes, kv_fraction)


class FilterModule:
    def filters(self):
        return {"rdma_verdict": rdma_verdict}
