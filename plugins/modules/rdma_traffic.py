# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: rdma_traffic
short_description: Read the traffic counters of the RDMA ports, and what moved since an earlier reading
version_added: 0.1.0
description:
  - Reads C(counters/port_xmit_data) and C(counters/port_rcv_data) of every port of the RDMA devices in
    C(/sys/class/infiniband) (in bytes; the kernel counts four-octet units).
  - Given the counters of an earlier call in O(baseline), also returns the bytes each port sent and
    received since, which shows whether a prefill/decode KV transfer went over RDMA or fell back to TCP
    (see the C(gpufleet.sglang.rdma_verdict) filter).
  - A host without RDMA ports returns empty RV(counters); it never fails for that.
  - Read-only; it never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  devices:
    description:
      - V(auto) reads every port; otherwise the devices to read, as C(mlx5_0) or C(mlx5_0:1) (the spelling of
        SGLang's C(--disaggregation-ib-device)). A comma-separated string is split into a list.
    type: list
    elements: str
    default: [auto]
  ib_devices_files:
    description:
      - The C(--disaggregation-ib-device) JSON files of this host's workers (GPU id to devices, as
        C(gpufleet.sglang.sglang_service) writes them for C(sglang_ib_device=auto)); the ports of the devices they
        name are read, instead of O(devices), since those are the NICs the KV cache must use, not whichever port moved.
    type: list
    elements: path
  sysfs_root:
    description: The directory that holds one entry per RDMA device (a copy of it for tests).
    type: path
    default: /sys/class/infiniband
  baseline:
    description: The RV(counters) of an earlier call on the same host; RV(traffic) is computed against it.
    type: dict
attributes:
  check_mode:
    support: full
    description: Reads the same counters in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
seealso:
  - module: gpufleet.sglang.ib_port_state
  - name: Linux kernel sysfs ABI for InfiniBand
    description: The port counters this module reads.
    link: https://www.kernel.org/doc/Documentation/ABI/stable/sysfs-class-infiniband
"""

EXAMPLES = r"""
- name: Read the RDMA counters before the smoke request
  gpufleet.sglang.rdma_traffic:
  register: rdma_before

- name: Read what moved since
  gpufleet.sglang.rdma_traffic:
    baseline: "{{ rdma_before.counters }}"
  register: rdma_after

- name: Show the bytes each port moved
  ansible.builtin.debug:
    msg: "{{ rdma_after.traffic }}"
"""

RETURN = r"""
counters:
  description: Per port (C(device/port)), its state and the bytes it sent and received since the counters were reset.
  returned: always
  type: dict
  sample: {"mlx5_0/1": {"state": "ACTIVE", "xmit_bytes": 123456, "rcv_bytes": 654320}}
devices:
  description: The devices asked for, from O(devices) or the maps of O(ib_devices_files).
  returned: always
  type: list
  elements: str
  sample: [mlx5_0, mlx5_1]
ports:
  description: The ports read, as C(device/port).
  returned: always
  type: list
  elements: str
  sample: [mlx5_0/1]
traffic:
  description: Per port present in both readings, the bytes sent and received since O(baseline); empty without it.
  returned: always
  type: dict
  sample: {"mlx5_0/1": {"xmit_bytes": 4096, "rcv_bytes": 0}}
moved_bytes:
  description: The sum of RV(traffic), bytes sent plus received.
  returned: always
  type: int
  sample: 4096
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._rdma import (
    AUTO, devices_of_maps, moved_bytes, read_counters, traffic)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="str", default=[AUTO]),
            ib_devices_files=dict(type="list", elements="path"),
            sysfs_root=dict(type="path", default="/sys/class/infiniband"),
            baseline=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    devices = [part.strip() for device in module.params["devices"] for part in device.split(",") if part.strip()]
    if module.params["ib_devices_files"]:
        try:
            devices = devices_of_maps(module.params["ib_devices_files"])
        except ValueError as error:
            module.fail_json(msg="ib_devices_files: %s" % error)
    try:
        counters = read_counters(module.params["sysfs_root"], devices or [AUTO])
    except ValueError as error:
        module.fail_json(msg="devices: %s" % error)
    deltas = traffic(module.params["baseline"], counters) if module.params["baseline"] else {}
    module.exit_json(changed=False, devices=devices or [AUTO], counters=counters, ports=sorted(counters), traffic=deltas,
                     moved_bytes=moved_bytes(deltas))


if __name__ == "__main__":
    main()
