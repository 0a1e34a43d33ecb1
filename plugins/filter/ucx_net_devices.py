# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ucx_net_devices filter: UCX_NET_DEVICES of a PD worker whose NIXL does not read --disaggregation-ib-device."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import ucx_net_devices as _ucx_net_devices


def ucx_net_devices(service, nic_affinity):
    """The ACTIVE ports of the service's devices: the plan's ib_devices, else its GPUs' NICs of the host's mapping."""
    if not isinstance(service, dict) or not isinstance(nic_affinity, dict):
        raise AnsibleFilterError("ucx_net_devices: expects a plan service and gpu_facts' nic_affinity (dicts)")
    mapping = nic_affinity.get("mapping") or {}
    devices = service.get("ib_devices") or [
        name for gpu in service.get("gpu_ids", []) for name in str(mapping.get(str(gpu), "")).split(",") if name]
    try:
        return _ucx_net_devices(devices, nic_affinity.get("nics") or [])
    except ValueError as error:
        raise AnsibleFilterError("ucx_net_devices: %s" % error) from None


class FilterModule:
    def filters(self):
        return {"ucx_net_devices": ucx_net_devices}
