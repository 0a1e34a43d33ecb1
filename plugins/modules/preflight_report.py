# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight_report
short_description: Judge every host's preflight results at once and report them on the controller
version_added: 0.1.0
description:
  - The last step of C(playbooks/preflight.yml). Reads, from C(hostvars), the results that the host play registered
    on every host of the plan without failing (C(gpufleet_preflight_gpu) from M(gpufleet.sglang.gpu_facts),
    C(gpufleet_preflight_ib) from M(gpufleet.sglang.ib_port_state), C(gpufleet_preflight_host) from
    M(gpufleet.sglang.host_checks)), and judges them against the plan.
  - Per host, the GPU count covers every GPU range the plan gives the host's instances, one GPU model per instance,
    no MIG, the driver at or above O(driver_floor), persistence mode and cross-socket GPU-to-NIC pairings reported;
    the RDMA ports of prefill and decode hosts (a GID on RoCE ports); and every check of M(gpufleet.sglang.host_checks).
  - Across hosts, one GPU model across the nodes of each instance, and every name resolving to the same addresses
    on every host.
  - A host with no result (unreachable, left out by C(--limit)) and a task that failed before its module answered
    (a C(nvidia-smi) hang past the task timeout) are reported as failures of that host, never as a traceback.
  - Writes the report as JSON to O(dest) and returns a per-host table (host, check, status, found, needed, fix).
    When any check failed, fails once, listing every host's failures, so that the report is the single point where
    the preflight stops the run (and with it every instance of the fleet).
  - Runs on the controller only; it never contacts a host.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  plan:
    description:
      - The topology plan, as M(gpufleet.sglang.topology_plan) returns it.
    type: dict
    required: true
  dest:
    description:
      - Where to write the report as JSON on the controller (C(preflight.json) next to the plan). Written only when its
        content changed; the task reports no change either way, as no host is changed.
      - The report is written in check mode too.
    type: path
  driver_floor:
    description:
      - The lowest NVIDIA driver version accepted, such as C(570.26), for every host.
      - Unset, each host gets the C(driver_floor) of its preflight block in the plan (its
        C(sglang_preflight_driver_floor)), else the highest C(driver_floor) of the release profiles of its instances
        (CUDA 12.9 profiles 570.26, CUDA 13 profiles 580.65.06); a plan without release profiles skips the check.
    type: str
  link_layer:
    description:
      - The link layer the RDMA ports were required to have (as given to M(gpufleet.sglang.ib_port_state)); used in
        the report's wording, for hosts whose preflight block in the plan does not name one.
    type: str
    choices: [any, InfiniBand, Ethernet]
    default: any
  fail_on_error:
    description:
      - Fail when any check failed. With V(false) the result carries the same report and RV(ok) is V(false).
    type: bool
    default: true
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Judges the same results in check mode and writes the report; no host is changed.
  diff_mode:
    support: none
    description: Nothing on a host is changed, so there is no diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller; the fleet's hosts are never contacted.
seealso:
  - module: gpufleet.sglang.gpu_facts
  - module: gpufleet.sglang.ib_port_state
  - module: gpufleet.sglang.topology_plan
"""

EXAMPLES = r"""
- name: Report the preflight of every host
  gpufleet.sglang.preflight_report:
    plan: "{{ hostvars['localhost'].gpufleet_topology.plan }}"
    dest: "{{ plan_dir }}/preflight.json"
    driver_floor: "570.26"
  register: preflight
"""

RETURN = r"""
ok:
  description: Whether every check passed (warnings and skipped checks do not fail).
  returned: always
  type: bool
  sample: true
report:
  description: The report written to O(dest).
  returned: always
  type: dict
  contains:
    schema_version:
      description: The report format's version.
      type: int
      returned: always
      sample: 1
    ok:
      description: Whether every check passed.
      type: bool
      returned: always
      sample: false
    hosts:
      description:
        - Per host, its services (unit names), how many checks ended in each status, and C(ib_device_mapping), the
          nearest active NICs of each GPU as the JSON that C(--disaggregation-ib-device) takes (for
          C(sglang_ib_device=auto); V(null) without GPUs or RDMA devices).
      type: dict
      returned: always
      sample:
        p0:
          services: [sglang-prefill-0]
          counts: {ok: 12, fail: 1, warn: 0, skipped: 0}
          ib_device_mapping: '{"0":"mlx5_0","1":"mlx5_0","2":"mlx5_1","3":"mlx5_1"}'
    blocked_instances:
      description: The instances with a node that failed a check.
      type: list
      elements: str
      returned: always
      sample: [prefill-0]
    failures:
      description: Every failed check, each with C(host), C(check), C(status), C(found), C(needed) and C(fix).
      type: list
      elements: dict
      returned: always
    warnings:
      description: Every warning, in the same form.
      type: list
      elements: dict
      returned: always
    checks:
      description: Every check of every host, in the same form.
      type: list
      elements: dict
      returned: always
  sample:
    schema_version: 1
    ok: false
    failures:
      - host: d0
        check: shm
        status: fail
        found: /dev/shm is 64.0 MiB (67108864 bytes) (64.0 MiB (67108864 bytes) free)
        needed: /dev/shm of at least 16.0 GiB (17179869184 bytes)
        fix: in a container, start it with `--shm-size=17179869184` ...
table:
  description: The per-host table (host, check, status, found, needed, fix), one line per item; long cells are cut.
  returned: always
  type: list
  elements: str
dest:
  description: The report's path, when O(dest) was given.
  returned: when O(dest) was given
  type: str
  sample: /srv/fleet/plan/preflight.json
"""
