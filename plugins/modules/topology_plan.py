# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: topology_plan
short_description: Plan and validate an SGLang fleet from the inventory alone
version_added: 0.1.0
description:
  - Turns the inventory groups C(sglang_workers), C(sglang_prefill), C(sglang_decode) and C(sglang_router)
    and their C(sglang_*) variables into the topology plan, the single source of what runs where, with
    instances, node ranks, GPU ranges, ports and the full command line and environment of every service.
  - Validates before any host is contacted, reporting every error at once, each naming the instance or host,
    the variable, the rule and the fix. The checks cover the parallelism arithmetic (as
    M(gpufleet.sglang.parallelism_check)), complete instances, one GPU group per host, GPU ranges and ports
    on each machine, one model and one transfer backend across prefill and decode, deprecated or
    out-of-range environment, and unknown C(sglang_*) variables (with the closest known name).
  - Runs on the controller only; it reads C(groups) and C(hostvars) and never connects to a host.
    Secret variables (C(sglang_hf_token), C(sglang_api_key)) are checked for presence, never read.
  - The plan format is documented in C(docs/plan-format.md) of the collection.
author:
  - gpufleet.sglang contributors (@gpufleet)
options: {}
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: Computes the same plan in check mode; it never changes anything.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller; the fleet's hosts are never contacted.
seealso:
  - module: gpufleet.sglang.parallelism_check
  - module: gpufleet.sglang.ib_port_state
"""

EXAMPLES = r"""
- name: Plan the fleet of the inventory
  gpufleet.sglang.topology_plan:
  register: topology
  delegate_to: localhost
  run_once: true

- name: Write the plan next to the inventory
  ansible.builtin.copy:
    content: "{{ topology.plan | ansible.builtin.to_nice_json }}"
    dest: "{{ inventory_dir }}/plan.json"
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
plan:
  description: The topology plan (see docs/plan-format.md).
  returned: success
  type: dict
  contains:
    mode:
      description: C(regular) or C(pd).
      type: str
      returned: success
      sample: pd
    instances:
      description: One entry per SGLang instance, with its nodes, GPU range, parallelism, URL and ports.
      type: list
      elements: dict
      returned: success
    services:
      description: One entry per service and host, with the full C(argv), C(env) and the ports it binds.
      type: list
      elements: dict
      returned: success
    router:
      description: The router's host, address, port and URL, or null without a router.
      type: dict
      returned: success
    links:
      description: KV-cache transfer links, every prefill instance to every decode instance.
      type: list
      elements: dict
      returned: success
  sample:
    mode: pd
    model_path: Qwen/Qwen2.5-7B-Instruct
    transfer_backend: nixl
errors:
  description: Every validation error, each with C(instance), C(host), C(variable), C(rule), C(message) and C(fix).
  returned: failure
  type: list
  elements: dict
  sample:
    - instance: decode-0
      host: null
      variable: sglang_tp_size
      rule: kv_heads_divisible
      message: "tp_size=7: 4 KV heads cannot be split over 7 ranks."
      fix: "use tp_size in 1, 2, 4, 28."
"""
