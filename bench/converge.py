#!/usr/bin/env python
# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converge speed: pd_disagg.yml on PD fleets of 3, 5 and 14 containers, against the sum of its parts.

For each fleet, the Molecule scenario of that size (pd_1p1d, pd_2p2d, pd_4p9d: the same containers,
fake GPUs and engine simulator as `make test`) is created and prepared, then converged once with a
callback (bench/callback_plugins/gpufleet_timing.py) that records when every task ran on every host,
and the systemd start time of every sglang-* unit is read from the containers. Two figures, each
against the sum of its parts, and the preflight alone:
  - converge: the playbook's wall time against the sum over hosts of each host's task time (what a
    one-host-at-a-time run would take), also per phase (the play tags: validate, preflight, install,
    services, readiness);
  - first service start to router serving: from the earliest sglang-* unit start (systemd) to the end
    of the smoke request through the router, against the sum over hosts of their task time inside
    that window; and the spread of the workers' unit starts (all ranks start together);
  - preflight alone: playbooks/preflight.yml's plays (`--tags preflight`) on the converged fleet, as an
    operator runs it before a maintenance window: wall time against the sum of the hosts' check time.
parallelism = sum of parts / wall: 1 is serial; the closer to the host count (capped by Ansible's
forks), the more of the fleet is handled at once. One run each; slow (minutes), not part of make test.

    make bench-converge   # or: PATH=.venv/bin:$PATH python bench/converge.py [--fleets 3,5] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {3: "pd_1p1d", 5: "pd_2p2d", 14: "pd_4p9d"}
PHASES = ("validate", "preflight", "install", "services", "readiness")
SMOKE = re.compile(r"smoke", re.IGNORECASE)


def molecule(action: str, scenario: str, env: dict | None = None, ansible_args: tuple = ()) -> float:
    """Run one Molecule action; its wall time. On failure, the end of its output goes to stderr."""
    start = time.monotonic()
    command = ["molecule", action, "-s", scenario] + (["--", *ansible_args] if ansible_args else [])
    run = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})},
                         capture_output=True, text=True, check=False)
    if run.returncode:
        sys.stderr.write(run.stdout[-6000:] + run.stderr[-4000:])
        raise SystemExit("bench: molecule %s -s %s failed (rc %d)" % (action, scenario, run.returncode))
    return time.monotonic() - start


def containers(scenario: str) -> list:
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    return [platform["name"] for platform in config["platforms"]]


def unit_starts(names: list) -> dict:
    """{container: {unit: wall-clock start}} of the sglang-* units, from systemd's monotonic timestamps.

    The containers share the host's kernel, so CLOCK_MONOTONIC is one clock for them and for this
    process: wall = monotonic + (time.time() - time.monotonic()) taken here.
    """
    offset = time.time() - time.monotonic()
    starts = {}
    for name in names:
        out = subprocess.run(["docker", "exec", name, "systemctl", "show", "--all", "-p", "Id",
                              "-p", "ExecMainStartTimestampMonotonic", "sglang-*"],
                             capture_output=True, text=True, check=True).stdout
        units = {}
        for block in out.strip().split("\n\n"):
            fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            if fields.get("Id") and int(fields.get("ExecMainStartTimestampMonotonic") or 0):
                units[fields["Id"]] = offset + int(fields["ExecMainStartTimestampMonotonic"]) / 1e6
        starts[name] = units
    return starts


def busy(tasks: list, start: float | None = None, end: float | None = None) -> float:
    """Sum over hosts of task time (clipped to [start, end] when given)."""
    total = 0.0
    for task in tasks:
        lo = max(task["start"], start) if start is not None else task["start"]
        hi = min(task["end"], end) if end is not None else task["end"]
        total += max(0.0, hi - lo)
    return total


def phase_of(task: dict) -> str:
    tags = set(task["play_tags"]) | set(task["tags"])
    return next((phase for phase in PHASES if phase in tags), "other")


def analyse(fleet: int, scenario: str, molecule_s: float, timing: dict, starts: dict) -> dict:
    tasks = timing["tasks"]
    wall = timing["end"] - timing["start"]
    hosts = sorted({task["host"] for task in tasks if task["host"] != "localhost"})
    phases = {}
    for phase in PHASES + ("other",):
        mine = [task for task in tasks if phase_of(task) == phase]
        if mine:
            span = max(task["end"] for task in mine) - min(task["start"] for task in mine)
            phases[phase] = {"wall_s": span, "sum_s": busy(mine), "parallelism": busy(mine) / span if span else None}
    unit_times = [t for units in starts.values() for t in units.values()]
    worker_times = [t for units in starts.values() for unit, t in units.items() if unit != "sglang-router.service"]
    first_start = min(unit_times) if unit_times else None
    smoke = [task for task in tasks if SMOKE.search(task["task"]) and task["status"] in ("ok", "changed")]
    serving = max(task["end"] for task in smoke) if smoke else None
    row = {
        "fleet": fleet, "scenario": scenario, "hosts": len(hosts), "tasks": len(tasks),
        "molecule_converge_s": molecule_s, "playbook_wall_s": wall, "playbook_sum_s": busy(tasks),
        "playbook_parallelism": busy(tasks) / wall if wall else None,
        "max_host_s": max((busy([t for t in tasks if t["host"] == h]) for h in hosts), default=0.0),
        "phases": phases, "units": sum(len(units) for units in starts.values()),
        "worker_start_spread_s": (max(worker_times) - min(worker_times)) if worker_times else None,
        "start_to_serving_s": None, "start_to_serving_sum_s": None, "start_to_serving_parallelism": None,
    }
    if first_start is not None and serving is not None:
        window = serving - first_start
        parts = busy(tasks, first_start, serving)
        row.update(start_to_serving_s=window, start_to_serving_sum_s=parts,
                   start_to_serving_parallelism=parts / window if window > 0 else None)
    return row


def measure(fleet: int, keep: bool, workdir: Path) -> dict:
    scenario = SCENARIOS[fleet]
    names = containers(scenario)
    if len(names) != fleet:
        raise SystemExit("bench: molecule/%s has %d platforms, not %d" % (scenario, len(names), fleet))
    timing_file = workdir / ("timing-%s.json" % scenario)
    preflight_file = workdir / ("preflight-%s.json" % scenario)
    print("bench: %s (%d containers): create, prepare" % (scenario, fleet), flush=True)
    molecule("destroy", scenario)
    try:
        molecule("create", scenario)
        molecule("prepare", scenario)
        print("bench: %s: converge" % scenario, flush=True)
        seconds = molecule("converge", scenario, timed(timing_file))
        starts = unit_starts(names)
        # The preflight on its own, as an operator runs it before a maintenance window: the same inventory,
        # only the plan (tag always) and the preflight plays, on the fleet that now runs its services.
        print("bench: %s: preflight alone" % scenario, flush=True)
        molecule("converge", scenario, timed(preflight_file), ("--tags", "preflight"))
    finally:
        if not keep:
            molecule("destroy", scenario)
    row = analyse(fleet, scenario, seconds, json.loads(timing_file.read_text()), starts)
    preflight = json.loads(preflight_file.read_text())
    preflight_tasks = [task for task in preflight["tasks"] if phase_of(task) == "preflight"]
    wall = preflight["end"] - preflight["start"]
    row["preflight_alone"] = {"wall_s": wall, "sum_s": busy(preflight_tasks),
                              "parallelism": busy(preflight_tasks) / wall if wall else None}
    return row


def timed(timing_file: Path) -> dict:
    """The environment that makes a Molecule run record its task times into timing_file."""
    return {"ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "bench" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "gpufleet_timing", "GPUFLEET_TIMING_FILE": str(timing_file)}


def fmt(value, pattern="%.1f"):
    return "-" if value is None else pattern % value


def table(rows: list) -> str:
    lines = ["%-9s %5s %10s %9s %8s %7s %11s %9s %8s %9s" % (
        "scenario", "hosts", "converge_s", "sum_s", "par.", "maxhost", "start->srv", "sum_s", "par.", "spread_s")]
    for row in rows:
        lines.append("%-9s %5d %10s %9s %8s %7s %11s %9s %8s %9s" % (
            row["scenario"], row["fleet"], fmt(row["playbook_wall_s"]), fmt(row["playbook_sum_s"]),
            fmt(row["playbook_parallelism"], "%.2fx"), fmt(row["max_host_s"]), fmt(row["start_to_serving_s"]),
            fmt(row["start_to_serving_sum_s"]), fmt(row["start_to_serving_parallelism"], "%.2fx"),
            fmt(row["worker_start_spread_s"], "%.2f")))
    lines.append("")
    lines.append("per phase: wall_s / sum of hosts_s (parallelism)")
    for row in rows:
        lines.append("  %-9s " % row["scenario"] + "  ".join(
            "%s %s/%s (%s)" % (phase, fmt(p["wall_s"]), fmt(p["sum_s"]), fmt(p["parallelism"], "%.1fx"))
            for phase, p in row["phases"].items()))
    lines.append("preflight.yml alone on the running fleet: wall_s (plan included) / sum of hosts_s (parallelism)")
    for row in rows:
        alone = row["preflight_alone"]
        figures = (fmt(alone["wall_s"]), fmt(alone["sum_s"]), fmt(alone["parallelism"], "%.1fx"))
        lines.append("  %-9s %s/%s (%s)" % ((row["scenario"],) + figures))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="3,5,14", help="comma-separated fleet sizes among 3, 5, 14")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="leave the last fleet's containers up")
    args = parser.parse_args()
    fleets = [int(size) for size in args.fleets.split(",")]
    unknown = [size for size in fleets if size not in SCENARIOS]
    if unknown:
        parser.error("no scenario for fleet size %s (known: %s)" % (unknown, sorted(SCENARIOS)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpufleet-bench-") as scratch:
        for size in fleets:
            rows.append(measure(size, args.keep and size == fleets[-1], Path(scratch)))
            print(table(rows[-1:]), flush=True)
    print()
    print(table(rows))
    print(json.dumps(rows, indent=2))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
