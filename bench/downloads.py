#!/usr/bin/env python
# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download once: upstream downloads of a fleet install, with and without the fleet's PyPI cache.

For fleets of 1, 3 and 7 Debian 12 containers, installs one real requirement (default: the router,
smg==1.13.0, and its dependencies, from PyPI) into a venv on every node, twice: naive (each node
downloads from PyPI) and cached (role gpufleet.sglang.pypi_cache on one more container; every node's
pip asks it). Counts, from pip's own output and the cache's files:
  - upstream downloads: naive = every file every node downloaded; cached = files the cache fetched;
  - the ratio naive / cached (the fleet size, when every file is fetched once);
  - wall time of the install play alone (the cache is set up before the clock starts), as the
    cached / naive ratio.

    make bench-downloads      # or: .venv/bin/python bench/downloads.py [--sizes 1 3 7] [--json FILE]

Needs Docker and the gpufleet/debian12-systemd image (make images). Not part of make test.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "gpufleet/debian12-systemd:latest"
NETWORK = "gpufleet-bench-dl"
RUN_OPTIONS = ["--detach", "--cap-add", "SYS_ADMIN", "--tmpfs", "/run", "--tmpfs", "/run/lock",
               "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--network", NETWORK]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def start_fleet(names: list[str]) -> None:
    docker("network", "create", NETWORK, check=False)
    for name in names:
        docker("run", *RUN_OPTIONS, "--name", name, "--hostname", name, IMAGE, "/lib/systemd/systemd")
    for name in names:
        docker("exec", name, "systemctl", "is-system-running", "--wait", check=False)


def remove_fleet(names: list[str]) -> None:
    for name in names:
        docker("rm", "--force", name, check=False)
    docker("network", "rm", NETWORK, check=False)


def inventory(nodes: list[str], cache: str) -> dict:
    docker_host = {"ansible_connection": "community.docker.docker"}
    return {"all": {
        "vars": {"gpufleet_extra_ca_certificates": ["/etc/ssl/certs/ca-certificates.crt"],
                 "pypi_cache_host_name": cache, "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {"sglang_nodes": {"hosts": {n: docker_host for n in nodes}},
                     "pypi_cache": {"hosts": {cache: docker_host}}}}}


def run_once(size: int, mode: str, requirement: str) -> dict:
    nodes = ["gpufleet-bench-node-%d" % i for i in range(size)]
    cache = "gpufleet-bench-cache"
    names = nodes + [cache]
    remove_fleet(names)
    start_fleet(names)
    try:
        with tempfile.TemporaryDirectory() as out:
            hosts = Path(out) / "hosts.json"
            hosts.write_text(json.dumps(inventory(nodes, cache)))
            env = dict(os.environ, PATH="%s:%s" % (ROOT / ".venv/bin", os.environ["PATH"]),
                       ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache/collections"),
                       ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true", ANSIBLE_FORKS=str(size + 1))
            command = ["ansible-playbook", "-i", str(hosts), str(ROOT / "bench/downloads.yml"), "-e",
                       json.dumps({"bench_mode": mode, "bench_requirement": requirement, "bench_out": out})]
            subprocess.run(command + ["--tags", "setup"], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            start = time.monotonic()
            subprocess.run(command + ["--tags", "install"], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            seconds = time.monotonic() - start
            per_node = {n: json.loads((Path(out) / ("%s.json" % n)).read_text()) for n in nodes}
            cache_file = Path(out) / "cache-upstream.json"
            upstream = json.loads(cache_file.read_text()) if cache_file.exists() else None
    finally:
        remove_fleet(names)
    node_downloads = sum(len(lines) for lines in per_node.values())
    return {"size": size, "mode": mode, "seconds": round(seconds, 1),
            "node_downloads": node_downloads,
            "upstream_downloads": node_downloads if upstream is None else len(upstream)}


def main() -> int:
    # A stopped run (timeout, Ctrl-C) still removes its containers: SIGTERM unwinds like an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 7])
    parser.add_argument("--requirement", default="smg==1.13.0")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        naive = run_once(size, "naive", args.requirement)
        cached = run_once(size, "cached", args.requirement)
        rows.append({"nodes": size, "naive": naive, "cached": cached,
                     "upstream_ratio": round(naive["upstream_downloads"] / max(cached["upstream_downloads"], 1), 2),
                     "time_ratio": round(cached["seconds"] / naive["seconds"], 2)})
        print("%2d nodes: upstream downloads naive %4d, cached %4d (ratio %.2f); install time cached/naive %.2f"
              % (size, naive["upstream_downloads"], cached["upstream_downloads"], rows[-1]["upstream_ratio"],
                 rows[-1]["time_ratio"]), flush=True)
    result = {"requirement": args.requirement, "fleets": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
