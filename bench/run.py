#!/usr/bin/env python
# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning speed: the plugin's time for the 4P9D example and a generated 512-node fleet.

Measures what `gpufleet.sglang.topology_plan` does on the controller, split in
its two parts: reading the variables through Ansible's HostVars (templating)
and build_plan itself; then the two renderers. Reports medians and ratios
from this one run, so the figures compare on any machine:
  - 512-node time / 4P9D time against the node ratio (512 / 13): linear
    scaling gives a per-node ratio near 1;
  - the share of plan time spent in Ansible's templating.
The target is "well under a second" for both fleets.

    make bench          # or: .venv/bin/python bench/run.py [--repeat N] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# conftest puts the checkout on sys.path as ansible_collections.gpufleet.sglang.
import conftest  # noqa: E402,F401  pylint: disable=unused-import

from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.vars.hostvars import HostVars  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

from ansible_collections.gpufleet.sglang.plugins.action.topology_plan import (  # noqa: E402
    ActionModule,
    role_variable_names,
)
from ansible_collections.gpufleet.sglang.plugins.module_utils._plan_render import (  # noqa: E402
    render_markdown,
    render_svg,
)
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import (  # noqa: E402
    GPU_GROUPS,
    ROUTER_GROUP,
    build_plan,
)


def fleet_512() -> dict:
    """512 GPU nodes: 128 single-node prefill instances and 48 eight-node decode instances (DeepSeek-V3)."""
    prefill = {"prefill-%03d" % i: {"ansible_host": "10.1.%d.%d" % (i // 250, i % 250 + 1)} for i in range(128)}
    decode = {"decode-%03d" % i: {"ansible_host": "10.2.%d.%d" % (i // 250, i % 250 + 1)} for i in range(384)}
    return {"all": {"children": {
        "sglang_nodes": {
            "children": {
                "sglang_prefill": {"hosts": prefill, "vars": {
                    "sglang_tp_size": 8, "sglang_dp_size": 8, "sglang_ep_size": 8}},
                "sglang_decode": {"hosts": decode, "vars": {
                    "sglang_nnodes": 8, "sglang_tp_size": 64, "sglang_dp_size": 64, "sglang_ep_size": 64}},
            },
            "vars": {"sglang_model_path": "deepseek-ai/DeepSeek-V3", "sglang_enable_dp_attention": True,
                     "sglang_transfer_backend": "mooncake", "sglang_network_interface": "bond0"},
        },
        "sglang_router": {"hosts": {"router-%d" % i: {"ansible_host": "10.0.0.%d" % (i + 1)} for i in range(2)}},
    }}}


def load_inventory(path: Path):
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)
    groups = {name: [h.name for h in inventory.groups[name].get_hosts()] if name in inventory.groups else []
              for name in [group for group, _role in GPU_GROUPS] + [ROUTER_GROUP]}
    return groups, HostVars(inventory=inventory, variable_manager=variables, loader=loader)


def timed(function, repeat: int):
    samples = []
    result = None
    for _repetition in range(repeat):
        start = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def measure(name: str, inventory: Path, repeat: int, known: set) -> dict:
    groups, hostvars = load_inventory(inventory)
    hosts = sorted({h for members in groups.values() for h in members})
    read_time, (plain, _template_errors) = timed(lambda: ActionModule._plain_hostvars(hostvars, hosts), repeat)
    plan_time, outcome = timed(lambda: build_plan(groups, plain, known), repeat)
    assert not outcome.errors, [str(e) for e in outcome.errors]
    markdown_time, _markdown = timed(lambda: render_markdown(outcome.plan), repeat)
    svg_time, _svg = timed(lambda: render_svg(outcome.plan), repeat)
    return {"fleet": name, "gpu_nodes": len(hosts) - len(groups[ROUTER_GROUP]),
            "instances": len(outcome.plan["instances"]), "services": len(outcome.plan["services"]),
            "read_hostvars_s": read_time, "build_plan_s": plan_time,
            "plugin_s": read_time + plan_time, "render_markdown_s": markdown_time, "render_svg_s": svg_time}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    known = role_variable_names()
    with tempfile.TemporaryDirectory() as scratch:
        generated = Path(scratch) / "fleet_512.yml"
        generated.write_text(yaml.safe_dump(fleet_512(), sort_keys=False))
        rows = [measure("pd_4p9d (example)", ROOT / "inventories" / "examples" / "pd_4p9d", args.repeat, known),
                measure("generated 512 nodes", generated, args.repeat, known)]

    print("%-22s %6s %9s %9s %12s %12s %11s %11s" % (
        "fleet", "nodes", "instances", "services", "hostvars ms", "build ms", "plugin ms", "svg ms"))
    for row in rows:
        print("%-22s %6d %9d %9d %12.1f %12.1f %11.1f %11.1f" % (
            row["fleet"], row["gpu_nodes"], row["instances"], row["services"], row["read_hostvars_s"] * 1e3,
            row["build_plan_s"] * 1e3, row["plugin_s"] * 1e3, row["render_svg_s"] * 1e3))
    small, large = rows
    node_ratio = large["gpu_nodes"] / small["gpu_nodes"]
    time_ratio = large["plugin_s"] / small["plugin_s"]
    ratios = {
        "node_ratio": node_ratio,
        "plugin_time_ratio": time_ratio,
        "per_node_cost_ratio": time_ratio / node_ratio,
        "templating_share_512": large["read_hostvars_s"] / large["plugin_s"],
    }
    print("512 vs 4P9D: %.1fx the nodes, %.1fx the plugin time -> per-node cost ratio %.2f (1.00 = linear)"
          % (node_ratio, time_ratio, ratios["per_node_cost_ratio"]))
    print("share of plugin time in Ansible's hostvars templating (512 nodes): %.0f%%"
          % (100 * ratios["templating_share_512"]))
    verdict = all(row["plugin_s"] < 1.0 for row in rows)
    print("target, each fleet well under 1 s of plugin time: %s" % ("met" if verdict else "NOT MET"))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
