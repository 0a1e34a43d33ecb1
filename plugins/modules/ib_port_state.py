# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ib_port_state
short_description: Check that the RDMA (InfiniBand or RoCE) ports an SGLang deployment needs are up
version_added: 0.1.0
description:
  - Reads the state, physical state, link layer, rate and first GID of every port of every RDMA device
    from C(/sys/class/infiniband), with the NUMA node and PCI address of each device.
  - When that directory is absent or holds no device, falls back to parsing C(ibv_devinfo -v)
    (package C(ibverbs-utils)); when neither is available the result says so and RV(ports) is empty.
  - Fails when a required device is missing or has no port in O(required_state) on O(link_layer),
    naming for each one what was found, what is needed and the operator fix (no cable or switch
    port, no subnet manager, port disabled, RoCE where InfiniBand is needed, no RDMA driver).
  - Read-only; it never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  devices:
    description:
      - V(auto) needs at least one port in O(required_state) on O(link_layer) and fails only when there is none.
      - Otherwise the RDMA devices that must each have such a port, as C(mlx5_0), or as C(mlx5_0:1) to require
        one port (the spelling of SGLang's C(--disaggregation-ib-device) and of C(NCCL_IB_HCA)).
        Every missing or unusable device is reported, not just the first.
      - A comma-separated string such as C(mlx5_0,mlx5_1) is split into a list.
    type: list
    elements: str
    default: [auto]
  required_state:
    description:
      - The logical port state a port must be in.
    type: str
    choices: [DOWN, INIT, ARMED, ACTIVE]
    default: ACTIVE
  link_layer:
    description:
      - The link layer a port must have; V(InfiniBand) for an IB fabric, V(Ethernet) for RoCE.
    type: str
    choices: [any, InfiniBand, Ethernet]
    default: any
  sysfs_root:
    description:
      - The directory that holds one entry per RDMA device.
      - Point it at a copy of that tree to check a host image or a test fixture.
    type: path
    default: /sys/class/infiniband
attributes:
  check_mode:
    support: full
    description: Reads the same state in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
notes:
  - RV(ports[].numa_node) and RV(ports[].pci_address) come from sysfs only; they are V(null) when the ports
    were read through C(ibv_devinfo), which does not print them.
seealso:
  - name: Linux kernel sysfs ABI for InfiniBand
    description: The files under C(/sys/class/infiniband) this module reads.
    link: https://www.kernel.org/doc/Documentation/ABI/stable/sysfs-class-infiniband
"""

EXAMPLES = r"""
- name: Require at least one active RDMA port (InfiniBand or RoCE)
  gpufleet.sglang.ib_port_state:

- name: Require the InfiniBand ports that prefill/decode transfer over
  gpufleet.sglang.ib_port_state:
    devices: "{{ sglang_ib_devices | default(['mlx5_0', 'mlx5_1', 'mlx5_2', 'mlx5_3']) }}"
    link_layer: InfiniBand

- name: Require one port of each RoCE NIC, spelled as NCCL_IB_HCA does
  gpufleet.sglang.ib_port_state:
    devices: mlx5_0:1,mlx5_1:1
    link_layer: Ethernet

- name: Record the ports without failing, to pair GPUs with their nearest NIC
  gpufleet.sglang.ib_port_state:
  register: rdma
  failed_when: false

- name: Show the active devices on NUMA node 0
  ansible.builtin.debug:
    msg: "{{ rdma.ports | selectattr('state', 'equalto', 'ACTIVE') | selectattr('numa_node', 'equalto', 0) | map(attribute='device') | list }}"
"""

RETURN = r"""
ports:
  description: Every port of every RDMA device found, in device then port order.
  returned: always
  type: list
  elements: dict
  sample:
    - device: mlx5_0
      port: 1
      state: ACTIVE
      state_code: 4
      phys_state: LinkUp
      phys_state_code: 5
      link_layer: InfiniBand
      rate: 400 Gb/sec (4X NDR)
      rate_gbps: 400.0
      gid: "fe80:0000:0000:0000:a088:c203:005f:c296"
      numa_node: 0
      pci_address: "0000:18:00.0"
      source: sysfs
  contains:
    device:
      description: The RDMA device name.
      returned: always
      type: str
      sample: mlx5_0
    port:
      description: The port number on the device, from 1.
      returned: always
      type: int
      sample: 1
    state:
      description: The logical port state as sysfs names it (V(DOWN), V(INIT), V(ARMED), V(ACTIVE)).
      returned: always
      type: str
      sample: ACTIVE
    state_code:
      description: The numeric logical state.
      returned: always
      type: int
      sample: 4
    phys_state:
      description:
        - The physical state as sysfs names it, for example V(LinkUp), V(Polling) (no link partner) or V(Disabled).
        - V(null) when read through C(ibv_devinfo) without it.
      returned: always
      type: str
      sample: LinkUp
    phys_state_code:
      description: The numeric physical state.
      returned: always
      type: int
      sample: 5
    link_layer:
      description: V(InfiniBand) or V(Ethernet) (RoCE).
      returned: always
      type: str
      sample: InfiniBand
    rate:
      description: The active rate in the words of the kernel's C(rate) file.
      returned: always
      type: str
      sample: 400 Gb/sec (4X NDR)
    rate_gbps:
      description: The active rate in Gb/s.
      returned: always
      type: float
      sample: 400.0
    gid:
      description: The first set GID of the port, in full form; V(null) when none is set.
      returned: always
      type: str
      sample: "fe80:0000:0000:0000:a088:c203:005f:c296"
    numa_node:
      description: The NUMA node of the device's PCI function; V(null) when unknown.
      returned: always
      type: int
      sample: 0
    pci_address:
      description: The PCI address of the device's function; V(null) when unknown.
      returned: always
      type: str
      sample: "0000:18:00.0"
    source:
      description: Where the port was read, V(sysfs) or V(ibv_devinfo).
      returned: always
      type: str
      sample: sysfs
active_devices:
  description:
    - The devices of the host with a port in O(required_state) on O(link_layer), whether listed in O(devices) or not.
  returned: always
  type: list
  elements: str
  sample: [mlx5_0, mlx5_1]
source:
  description: Where the ports were read, V(sysfs), V(ibv_devinfo), or V(none) when neither was available.
  returned: always
  type: str
  sample: sysfs
problems:
  description: One entry per unusable device; empty on success.
  returned: always
  type: list
  elements: dict
  sample:
    - device: mlx5_1
      found: "port 1: state DOWN, phys_state Polling, link_layer InfiniBand"
      needed: a port in state ACTIVE (any link layer)
      fix: "no link partner: the port is polling for a peer; check that the cable and transceiver are seated ..."
  contains:
    device:
      description: The device as given in O(devices), or V(auto).
      returned: always
      type: str
      sample: mlx5_1
    found:
      description: What was seen, or that the device is absent with the devices that do exist.
      returned: always
      type: str
      sample: "port 1: state DOWN, phys_state Polling, link_layer InfiniBand"
    needed:
      description: What the device needs to pass.
      returned: always
      type: str
      sample: a port in state ACTIVE (any link layer)
    fix:
      description: The operator fix.
      returned: always
      type: str
      sample: "no link partner: the port is polling for a peer; check that the cable and transceiver are seated ..."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import (
    AUTO,
    LINK_LAYERS,
    PORT_STATES,
    describe_problems,
    evaluate_ports,
    parse_ibv_devinfo,
    read_sysfs_ports,
)


def collect_ports(module: AnsibleModule) -> tuple[list[dict], str, str]:
    """The ports, where they came from, and why there are none (empty when there are)."""
    sysfs_root = module.params["sysfs_root"]
    ports = read_sysfs_ports(sysfs_root)
    if ports:
        return ports, "sysfs", ""
    ibv_devinfo = module.get_bin_path("ibv_devinfo")
    if not ibv_devinfo:
        return [], "none", "%s holds no RDMA device and ibv_devinfo is not installed" % sysfs_root
    rc, stdout, stderr = module.run_command([ibv_devinfo, "-v"])
    if rc != 0:
        return [], "ibv_devinfo", "%s holds no RDMA device and `ibv_devinfo -v` exited %d: %s" % (
            sysfs_root,
            rc,
            (stderr or stdout).strip(),
        )
    ports = parse_ibv_devinfo(stdout)
    return ports, "ibv_devinfo", "" if ports else "%s and `ibv_devinfo -v` list no RDMA device" % sysfs_root


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="str", default=[AUTO]),
            required_state=dict(type="str", choices=list(PORT_STATES), default="ACTIVE"),
            link_layer=dict(type="str", choices=list(LINK_LAYERS), default="any"),
            sysfs_root=dict(type="path", default="/sys/class/infiniband"),
        ),
        supports_check_mode=True,
    )
    devices = [device.strip() for device in module.params["devices"]]
    required_state = module.params["required_state"]
    link_layer = module.params["link_layer"]
    ports, source, why_none = collect_ports(module)
    result = dict(changed=False, ports=ports, active_devices=[], source=source, problems=[])
    try:
        result["active_devices"], result["problems"] = evaluate_ports(ports, devices, required_state, link_layer)
    except ValueError as error:
        module.fail_json(msg=str(error), **result)

    problems = result["problems"]
    if problems:
        if devices == [AUTO]:
            headline = "No RDMA port is in state %s (%s)" % (
                required_state,
                "any link layer" if link_layer == "any" else "link_layer " + link_layer,
            )
        else:
            headline = "RDMA devices not usable: %s" % ", ".join(problem["device"] for problem in problems)
        context = "; %s" % why_none if why_none else ""
        module.fail_json(msg="%s%s.\n%s" % (headline, context, describe_problems(problems)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
