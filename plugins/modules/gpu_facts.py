# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Read a host's NVIDIA GPUs, driver, topology and GPU-to-NIC affinity
version_added: 0.1.0
description:
  - Runs C(nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,compute_cap,persistence_mode,mig.mode.current,pci.bus_id
    --format=csv,noheader,nounits), plain C(nvidia-smi) (for the CUDA version the driver supports) and C(nvidia-smi topo -m),
    and returns one dict per GPU, the driver and CUDA versions, and the topology matrix.
  - Reports whether the kernel module is NVIDIA's open or proprietary flavour, from C(/proc/driver/nvidia/version)
    or C(modinfo nvidia).
  - Pairs every GPU with its nearest usable RDMA NICs (ports in state C(ACTIVE) under O(ib_sysfs_root)), by the
    C(topo -m) matrix, else the sysfs PCIe path, else the NUMA node, and returns the mapping in the per-GPU JSON
    form that SGLang's C(--disaggregation-ib-device) accepts, with a warning for every GPU whose nearest NIC sits
    on the other CPU socket.
  - A missing or failing C(nvidia-smi) is a result (RV(nvidia_smi) is V(absent) or V(error)), never a traceback;
    the module fails on it only when O(required=true).
  - Read-only; it never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  nvidia_smi_path:
    description:
      - The C(nvidia-smi) to run. By default the one on E(PATH) (and C(/usr/bin), C(/usr/sbin) and the other
        directories Ansible searches).
    type: path
  ib_sysfs_root:
    description:
      - The directory that holds one entry per RDMA device, read as M(gpufleet.sglang.ib_port_state) reads it.
      - Point it at a copy of that tree to check a host image or a test fixture.
    type: path
    default: /sys/class/infiniband
  pci_sysfs_root:
    description:
      - The directory of PCI functions, each a link into the C(/sys/devices/pci*) tree, where the NUMA node and
        PCIe path of the GPUs and NICs are read.
    type: path
    default: /sys/bus/pci/devices
  link_layer:
    description:
      - The link layer a NIC port must have to be paired with GPUs; V(InfiniBand) for an IB fabric, V(Ethernet)
        for RoCE, so that storage or front-end NICs of the other kind are never chosen.
    type: str
    choices: [any, InfiniBand, Ethernet]
    default: any
  required:
    description:
      - Fail when C(nvidia-smi) is missing, fails, or lists no GPU.
      - With V(false) the module succeeds and says so in RV(nvidia_smi), RV(errors) and RV(msg), so that a
        preflight can collect every host's problems before it reports them.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads the same state in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
notes:
  - The keys of RV(nic_affinity.mapping) are GPU indices as nvidia-smi numbers them, which are the IDs SGLang sees
    when C(CUDA_VISIBLE_DEVICES) is unset (the collection's units do not set it). With C(CUDA_VISIBLE_DEVICES)
    set, SGLang reads the keys as positions in that list.
  - With NIXL over UCX, a non-empty C(UCX_NET_DEVICES) takes precedence over C(--disaggregation-ib-device).
  - Drivers older than branch 510 have no C(compute_cap) field; the module then queries without it and takes the
    capability of known data-centre models from their name (V(null) for a model it does not know).
  - C(nvidia-smi) can hang on a GPU in a bad state; give the task a C(timeout).
seealso:
  - module: gpufleet.sglang.ib_port_state
  - name: nvidia-smi documentation
    description: The query fields and the topology legend this module reads.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Read the GPUs; fail on a host where nvidia-smi is missing or lists no GPU
  gpufleet.sglang.gpu_facts:
  register: gpu

- name: Read the GPUs of every node and report problems later, all hosts at once
  gpufleet.sglang.gpu_facts:
    required: false
    link_layer: InfiniBand
  register: gpu

- name: Show the per-GPU NIC mapping for --disaggregation-ib-device
  ansible.builtin.debug:
    msg: "{{ gpu.nic_affinity.argument }}"
  when: gpu.nic_affinity is not none and gpu.nic_affinity.argument is not none

- name: Warn about GPUs whose nearest NIC is on the other socket
  ansible.builtin.debug:
    msg: "{{ item.warning }}; fix: {{ item.fix }}"
  loop: "{{ gpu.nic_affinity.cross_socket if gpu.nic_affinity is not none else [] }}"
"""

RETURN = r"""
nvidia_smi:
  description: V(present) when nvidia-smi listed the GPUs, V(absent) when it is not installed, V(error) when it failed.
  returned: always
  type: str
  sample: present
nvidia_smi_path:
  description: The nvidia-smi that ran; V(null) when there is none.
  returned: always
  type: str
  sample: /usr/bin/nvidia-smi
gpus:
  description: One dict per GPU, in nvidia-smi's order.
  returned: always
  type: list
  elements: dict
  sample:
    - index: 0
      name: NVIDIA H100 80GB HBM3
      uuid: GPU-0f3ac2e1-5b8d-4c27-9e61-d4a8b7f21c90
      driver_version: 550.90.07
      memory_total_mib: 81559
      compute_cap: "9.0"
      compute_capability: [9, 0]
      architecture: Hopper
      persistence_mode: Enabled
      mig_mode: Disabled
      pci_bus_id: "00000000:1B:00.0"
      pci_address: "0000:1b:00.0"
      numa_node: 0
      pci_path: ["pci0000:15", "0000:15:01.0", "0000:16:00.0", "0000:17:00.0", "0000:1b:00.0"]
  contains:
    index:
      description: The GPU's nvidia-smi index.
      returned: always
      type: int
      sample: 0
    name:
      description: The model as nvidia-smi names it.
      returned: always
      type: str
      sample: NVIDIA H100 80GB HBM3
    uuid:
      description: The GPU's UUID.
      returned: always
      type: str
      sample: GPU-0f3ac2e1-5b8d-4c27-9e61-d4a8b7f21c90
    driver_version:
      description: The driver version.
      returned: always
      type: str
      sample: 550.90.07
    memory_total_mib:
      description: Total memory in MiB.
      returned: always
      type: int
      sample: 81559
    compute_cap:
      description: The compute capability as nvidia-smi prints it; V(null) when unknown.
      returned: always
      type: str
      sample: "9.0"
    compute_capability:
      description: The compute capability as [major, minor]; V(null) when unknown.
      returned: always
      type: list
      elements: int
      sample: [9, 0]
    architecture:
      description: The architecture of that compute capability; V(null) for one this collection does not know.
      returned: always
      type: str
      sample: Hopper
    persistence_mode:
      description: V(Enabled) or V(Disabled); V(null) when not reported.
      returned: always
      type: str
      sample: Enabled
    mig_mode:
      description: The current MIG mode, V(Enabled) or V(Disabled); V(null) on GPUs without MIG.
      returned: always
      type: str
      sample: Disabled
    pci_bus_id:
      description: The PCI bus ID as nvidia-smi prints it.
      returned: always
      type: str
      sample: "00000000:1B:00.0"
    pci_address:
      description: The PCI address as sysfs spells it.
      returned: always
      type: str
      sample: "0000:1b:00.0"
    numa_node:
      description: The NUMA node of the GPU (sysfs, else the topology matrix); V(null) when unknown.
      returned: always
      type: int
      sample: 0
    pci_path:
      description: The PCIe path from the root complex to the GPU, from sysfs; V(null) when unknown.
      returned: always
      type: list
      elements: str
      sample: ["pci0000:15", "0000:15:01.0", "0000:16:00.0", "0000:17:00.0", "0000:1b:00.0"]
gpu_count:
  description: The number of GPUs nvidia-smi listed.
  returned: always
  type: int
  sample: 8
driver_version:
  description: The NVIDIA driver version; V(null) when nvidia-smi did not report one.
  returned: always
  type: str
  sample: 550.90.07
cuda_version:
  description: The newest CUDA version the driver supports, from nvidia-smi's banner; V(null) when not reported.
  returned: always
  type: str
  sample: "12.4"
kernel_module_flavour:
  description: V(open) or V(proprietary), the flavour of the nvidia kernel module; V(null) when it cannot be told.
  returned: always
  type: str
  sample: open
topology:
  description: The parsed C(nvidia-smi topo -m) matrix; V(null) when it could not be read.
  returned: always
  type: dict
  sample:
    gpus:
      - index: 0
        gpu_links: {GPU1: NV18, GPU2: NV18}
        nic_links: {mlx5_0: PIX, mlx5_1: NODE, mlx5_4: SYS}
        cpu_affinity: 0-55,112-167
        numa_affinity: "0"
        numa_node: 0
        gpu_numa_id: null
    nics: [mlx5_0, mlx5_1, mlx5_4]
    nic_legend: {NIC0: mlx5_0, NIC1: mlx5_1, NIC2: mlx5_4}
  contains:
    gpus:
      description: One row per GPU with its links to the other GPUs and to the NICs, its CPU and NUMA affinity.
      returned: success
      type: list
      elements: dict
      sample:
        - index: 0
          gpu_links: {GPU1: NV18}
          nic_links: {mlx5_0: PIX}
          cpu_affinity: 0-55,112-167
          numa_affinity: "0"
          numa_node: 0
          gpu_numa_id: null
    nics:
      description: The NIC names in the matrix's column order.
      returned: success
      type: list
      elements: str
      sample: [mlx5_0, mlx5_1]
    nic_legend:
      description: The NIC legend, column label to device name.
      returned: success
      type: dict
      sample: {NIC0: mlx5_0, NIC1: mlx5_1}
nic_affinity:
  description:
    - The nearest usable NICs of every GPU; V(null) when there is no GPU or O(ib_sysfs_root) holds no RDMA device.
  returned: always
  type: dict
  sample:
    mapping: {"0": mlx5_0, "1": mlx5_1}
    argument: '{"0":"mlx5_0","1":"mlx5_1"}'
    gpus:
      - {gpu: 0, nics: [mlx5_0], link: PIX, source: topology}
      - {gpu: 1, nics: [mlx5_1], link: PIX, source: topology}
    cross_socket: []
    unmapped: []
    nics:
      - {device: mlx5_0, port: 1, link_layer: InfiniBand, numa_node: 0, pci_address: "0000:18:00.0"}
  contains:
    mapping:
      description: GPU index (as a string) to a comma list of devices, SGLang's per-GPU mapping.
      returned: success
      type: dict
      sample: {"0": mlx5_0, "1": mlx5_1}
    argument:
      description:
        - The mapping as compact JSON, the value to pass to C(--disaggregation-ib-device); V(null) when no GPU has a NIC.
      returned: success
      type: str
      sample: '{"0":"mlx5_0","1":"mlx5_1"}'
    gpus:
      description:
        - Per GPU the chosen NICs, their link (V(PIX), V(PXB), V(PHB), V(NODE), V(SYS), or V(unknown)) and where it was
          read (V(topology), V(pci_path), V(numa_node), V(unknown)).
      returned: success
      type: list
      elements: dict
      sample:
        - {gpu: 0, nics: [mlx5_0], link: PIX, source: topology}
    cross_socket:
      description: One warning per GPU whose nearest usable NIC is across the CPU sockets, naming both, with the fix.
      returned: success
      type: list
      elements: dict
      sample:
        - gpu: 4
          gpu_pci_address: "0000:9d:00.0"
          gpu_numa_node: 1
          nics: [mlx5_0, mlx5_1]
          nic_numa_nodes: [0]
          warning: GPU 4 (0000:9d:00.0 on NUMA node 1) reaches its nearest usable NIC mlx5_0, mlx5_1 (NUMA node 0) only across ...
          fix: bring up an RDMA port on the GPU's own NUMA node ...
    unmapped:
      description: The GPUs for which there is no usable NIC.
      returned: success
      type: list
      elements: int
      sample: []
    nics:
      description: The usable NIC ports that were considered.
      returned: success
      type: list
      elements: dict
      sample:
        - {device: mlx5_0, port: 1, link_layer: InfiniBand, numa_node: 0, pci_address: "0000:18:00.0"}
msg:
  description: One line saying what was found (GPU count, models, driver, CUDA), or why the GPUs could not be read.
  returned: always
  type: str
  sample: 8 GPUs (NVIDIA H100 80GB HBM3), driver 550.90.07, CUDA 12.4
errors:
  description: What went wrong reading the GPUs (a failing command, a line nvidia-smi printed instead of a GPU).
  returned: always
  type: list
  elements: str
  sample: ["`nvidia-smi topo -m` exited 255: Failed to initialize NVML"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._gpu import (
    QUERY_FIELDS,
    fill_compute_cap_from_name,
    kernel_module_flavour,
    nearest_nics,
    parse_driver_banner,
    parse_query_gpu_csv,
    parse_topo_matrix,
    read_pci_locality,
)
from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import LINK_LAYERS, read_sysfs_ports

NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"
_NO_DEVICES = "No devices were found"


class GpuFacts:
    """Runs the read-only commands and assembles the result."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.errors: list[str] = []
        self.result = dict(
            changed=False,
            nvidia_smi="absent",
            nvidia_smi_path=None,
            gpus=[],
            gpu_count=0,
            driver_version=None,
            cuda_version=None,
            kernel_module_flavour=None,
            topology=None,
            nic_affinity=None,
            errors=self.errors,
        )

    def run(self) -> tuple[bool, str]:
        """Fill the result; return whether the GPUs were read and the summary message."""
        self.result["kernel_module_flavour"] = self.read_flavour()
        smi = self.locate()
        if smi is None:
            return False, self.absent_message()
        self.result["nvidia_smi_path"] = smi
        gpus = self.query(smi)
        if gpus is None:
            self.result["nvidia_smi"] = "error"
            return False, "nvidia-smi failed: %s" % "; ".join(self.errors)
        self.result["nvidia_smi"] = "present"
        self.result["gpus"] = gpus
        self.result["gpu_count"] = len(gpus)
        drivers = sorted({gpu.get("driver_version") for gpu in gpus if gpu.get("driver_version")})
        self.result["driver_version"] = drivers[0] if drivers else None
        if not gpus:
            return False, "nvidia-smi lists no GPU%s" % ("; " + "; ".join(self.errors) if self.errors else "")
        banner = self.banner(smi)
        self.result["driver_version"] = self.result["driver_version"] or banner["driver_version"]
        self.result["cuda_version"] = banner["cuda_version"]
        self.result["topology"] = self.topology(smi)
        self.locate_gpus(gpus)
        self.result["nic_affinity"] = self.nic_affinity(gpus)
        models = sorted({gpu.get("name") or "unknown model" for gpu in gpus})
        return True, "%d GPU%s (%s), driver %s, CUDA %s" % (
            len(gpus),
            "" if len(gpus) == 1 else "s",
            ", ".join(models),
            self.result["driver_version"] or "unknown",
            self.result["cuda_version"] or "unknown",
        )

    def locate(self) -> str | None:
        path = self.params["nvidia_smi_path"]
        if path:
            return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
        return self.module.get_bin_path("nvidia-smi")

    def absent_message(self) -> str:
        path = self.params["nvidia_smi_path"]
        where = "%s is not an executable file" % path if path else "nvidia-smi is not installed (not found on PATH)"
        return "%s: install the NVIDIA driver and its utilities (nvidia-utils-<branch>-server) to read the GPUs" % where

    def command(self, smi: str, *args: str) -> tuple[int, str, str]:
        rc, stdout, stderr = self.module.run_command([smi] + list(args))
        return rc, stdout or "", stderr or ""

    def failed(self, args: tuple[str, ...], rc: int, stdout: str, stderr: str) -> None:
        text = " ".join((stderr.strip() or stdout.strip() or "no output").split())
        self.errors.append("`nvidia-smi %s` exited %d: %s" % (" ".join(args), rc, text))

    def query(self, smi: str) -> list[dict] | None:
        fields = list(QUERY_FIELDS)
        args = ("--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits")
        rc, stdout, stderr = self.command(smi, *args)
        if rc != 0 and "compute_cap" in stdout + stderr and "valid field" in stdout + stderr:
            # Drivers before branch 510 do not know the field: ask again without it.
            fields.remove("compute_cap")
            args = ("--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits")
            rc, stdout, stderr = self.command(smi, *args)
        if rc != 0:
            if _NO_DEVICES in stdout + stderr:
                self.errors.append(_NO_DEVICES)
                return []
            self.failed(args, rc, stdout, stderr)
            return None
        gpus = parse_query_gpu_csv(stdout, fields, errors=self.errors)
        for gpu in gpus:
            fill_compute_cap_from_name(gpu)
        return gpus

    def banner(self, smi: str) -> dict:
        rc, stdout, stderr = self.command(smi)
        if rc != 0:
            self.failed((), rc, stdout, stderr)
        return parse_driver_banner(stdout)

    def topology(self, smi: str) -> dict | None:
        args = ("topo", "-m")
        rc, stdout, stderr = self.command(smi, *args)
        if rc != 0:
            self.failed(args, rc, stdout, stderr)
            return None
        try:
            return parse_topo_matrix(stdout)
        except ValueError as error:
            self.errors.append("`nvidia-smi topo -m`: %s" % error)
            return None

    def locate_gpus(self, gpus: list[dict]) -> None:
        rows = {row["index"]: row for row in (self.result["topology"] or {}).get("gpus", [])}
        for gpu in gpus:
            locality = read_pci_locality(self.params["pci_sysfs_root"], gpu.get("pci_address"))
            if locality["numa_node"] is None and gpu.get("index") in rows:
                locality["numa_node"] = rows[gpu["index"]]["numa_node"]
            gpu.update(locality)

    def nic_affinity(self, gpus: list[dict]) -> dict | None:
        ports = read_sysfs_ports(self.params["ib_sysfs_root"])
        if not ports:
            return None
        link_layer = self.params["link_layer"]
        nics: dict[str, dict] = {}
        for port in ports:
            if port["state"] != "ACTIVE" or link_layer not in ("any", port["link_layer"]) or port["device"] in nics:
                continue
            nic = {key: port[key] for key in ("device", "port", "link_layer", "numa_node", "pci_address")}
            nic["pci_path"] = read_pci_locality(self.params["pci_sysfs_root"], port["pci_address"])["pci_path"]
            nics[port["device"]] = nic
        affinity = nearest_nics([gpu for gpu in gpus if isinstance(gpu.get("index"), int)], list(nics.values()), self.result["topology"])
        affinity["nics"] = list(nics.values())
        return affinity

    def read_flavour(self) -> str | None:
        try:
            with open(NVIDIA_VERSION_FILE, encoding="utf-8", errors="replace") as handle:
                flavour = kernel_module_flavour(handle.read())
            if flavour:
                return flavour
        except OSError:
            pass
        modinfo = self.module.get_bin_path("modinfo")
        if not modinfo:
            return None
        rc, stdout, _stderr = self.module.run_command([modinfo, "nvidia"])
        return kernel_module_flavour(stdout) if rc == 0 else None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nvidia_smi_path=dict(type="path"),
            ib_sysfs_root=dict(type="path", default="/sys/class/infiniband"),
            pci_sysfs_root=dict(type="path", default="/sys/bus/pci/devices"),
            link_layer=dict(type="str", choices=list(LINK_LAYERS), default="any"),
            required=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    facts = GpuFacts(module)
    read, message = facts.run()
    if not read and module.params["required"]:
        module.fail_json(msg=message, **facts.result)
    module.exit_json(msg=message, **facts.result)


if __name__ == "__main__":
    main()
