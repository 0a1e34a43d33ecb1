#!/usr/bin/env python
# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download once, build once: upstream downloads and source builds of a fleet install, naive vs fleet.

For fleets of 1, 3 and 7 Debian 12 containers, every node installs two things: one real requirement
(default: the router, smg==1.13.0, and its dependencies, from PyPI) into a venv, and gdrcopy from its
source archive (served with GitHub's URL layout by a fixture server container, as GitHub is out of
reach). Each fleet size runs twice, on a fresh fleet each time:
  - naive: every node downloads from PyPI, downloads the archive and builds gdrcopy;
  - fleet: pip asks the fleet's PyPI cache (role pypi_cache, one more container); one node builds
    gdrcopy, the controller keeps its packages (gdrcopy_artifact_dir) and the other nodes install them.
    As in the install phase, one node installs first (filling the cache), then the others.
Counted from what the hosts hold after the run (bench/downloads.yml, phase count):
  - wheel downloads from upstream: naive = pip's "Downloading" lines of every node (pip's log file);
    fleet = the files the cache read from upstream (its log), and the distinct files it holds;
  - pip retries: requests pip sent again because the first failed or timed out;
  - archive downloads: successful GETs of the archive in the fixture server's access log;
  - builds: nodes whose gdrcopy source tree holds the packages the build script leaves there;
  - wall time of the wheels and gdrcopy phases (setup and counting are outside the clock), as the
    fleet / naive ratio.

    make bench-downloads      # or: .venv/bin/python bench/downloads.py [--sizes 1 3 7] [--json FILE]

Needs Docker and the gpufleet/debian12-systemd image (make images). Slow; not part of make test.
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
PREFIX = "gpufleet-bench-dl"
NETWORK = PREFIX
RUN_OPTIONS = ["--detach", "--cap-add", "SYS_ADMIN", "--tmpfs", "/run", "--tmpfs", "/run/lock",
               "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
               "--volume", "%s:/opt/gpufleet-fixtures:ro" % (ROOT / "tests/fixtures"), "--network", NETWORK]
MODES = ("naive", "fleet")
# One playbook run each, in this order; the install phases are timed.
PHASES = ("setup", "wheels", "gdrcopy", "count")
TIMED_PHASES = ("wheels", "gdrcopy")


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


def inventory(nodes: list[str], cache: str | None, github: str, artifact_dir: str) -> dict:
    """The fleet's inventory; naive: no host in the group pypi_cache and no gdrcopy_artifact_dir."""
    docker_host = {"ansible_connection": "community.docker.docker"}
    cache_vars = {"pypi_cache_host_name": cache} if cache else {}
    return {"all": {
        "vars": {"ansible_python_interpreter": "/usr/bin/python3",
                 "gpufleet_extra_ca_certificates": ["/etc/ssl/certs/ca-certificates.crt"],
                 **cache_vars,
                 "gdrcopy_version": "2.4.4", "gdrcopy_build_dir": "/var/cache/gpufleet/gdrcopy",
                 "gdrcopy_artifact_dir": artifact_dir,
                 "bench_fixture_root": "/srv/gpufleet-fixtures", "bench_fixture_port": 8080,
                 "bench_gdrcopy_archive": "NVIDIA/gdrcopy/archive/refs/tags/v{{ gdrcopy_version }}.tar.gz",
                 "bench_access_log": "/var/log/gpufleet-bench-github.log",
                 "bench_pip_log": "/opt/gpufleet-bench/pip.log", "bench_cache_unit": "gpufleet-pypi-cache"},
        "children": {"sglang_nodes": {"hosts": {n: docker_host for n in nodes}},
                     "pypi_cache": {"hosts": {cache: docker_host} if cache else {}},
                     "fixture_servers": {"hosts": {github: docker_host}}}}}


def run_phase(command: list[str], phase: str, env: dict, out: Path) -> float:
    """Run one phase of bench/downloads.yml; its output goes to out/<phase>.log, shown when it fails."""
    log = out / ("%s.log" % phase)
    start = time.monotonic()
    with log.open("w") as stream:
        done = subprocess.run(command + ["--tags", phase], env=env, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT,
                              check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.stderr.write("".join(log.read_text().splitlines(keepends=True)[-60:]))
        raise SystemExit("bench/downloads.yml --tags %s failed (rc %d); its output's end is above" % (phase, done.returncode))
    return seconds


def run_fleet(size: int, mode: str, requirement: str) -> dict:
    nodes = ["%s-node-%d" % (PREFIX, i) for i in range(size)]
    cache, github = PREFIX + "-cache", PREFIX + "-github"
    fleet = mode == "fleet"
    # Naive: no cache container. The leftovers of a stopped run go whatever its mode.
    names = nodes + [github] + ([cache] if fleet else [])
    remove_fleet(nodes + [github, cache])
    start_fleet(names)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            hosts = out / "hosts.json"
            artifact_dir = str(out / "gdrcopy-artifacts") if fleet else ""
            hosts.write_text(json.dumps(inventory(nodes, cache if fleet else None, github, artifact_dir)))
            env = dict(os.environ, PATH="%s:%s" % (ROOT / ".venv/bin", os.environ["PATH"]),
                       ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache/collections"),
                       ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true", ANSIBLE_FORKS=str(len(names)))
            command = ["ansible-playbook", "-i", str(hosts), str(ROOT / "bench/downloads.yml"), "-e",
                       json.dumps({"bench_requirement": requirement, "bench_out": str(out)})]
            seconds = {phase: run_phase(command, phase, env, out) for phase in PHASES}
            counts = json.loads((out / "counts.json").read_text())
    finally:
        remove_fleet(names)
    per_node = counts["nodes"].values()
    node_downloads = sum(len(node["pip_downloads"]) for node in per_node)
    built_on = sorted(name for name, node in counts["nodes"].items() if node["gdrcopy_built"])
    return {"size": size, "mode": mode,
            "wheel_downloads": node_downloads if counts["cache_upstream_reads"] is None else len(counts["cache_upstream_reads"]),
            "node_wheel_downloads": node_downloads,
            "cache_files": None if counts["cache_files"] is None else len(counts["cache_files"]),
            "pip_retries": sum(len(node["pip_retries"]) for node in per_node),
            "archive_downloads": len(counts["archive_gets"]),
            "builds": len(built_on), "built_on": built_on,
            "seconds": {phase: round(seconds[phase], 1) for phase in TIMED_PHASES}}


def compare(size: int, naive: dict, fleet: dict) -> dict:
    return {"nodes": size, "naive": naive, "fleet": fleet,
            "wheel_download_ratio": round(naive["wheel_downloads"] / max(fleet["wheel_downloads"], 1), 2),
            "time_ratio": {phase: round(fleet["seconds"][phase] / naive["seconds"][phase], 2) for phase in TIMED_PHASES}}


# A Markdown table (bench/README.md quotes it): each cell naive / fleet, with a ratio in parentheses.
HEADER = ("| nodes | wheel downloads from PyPI (naive/fleet) | distinct files (fleet) | pip retries "
          "| wheels install s (fleet/naive) | gdrcopy archive downloads | gdrcopy builds | gdrcopy install s (fleet/naive) |\n"
          "| ---: | --- | ---: | --- | --- | --- | --- | --- |")


def table_row(row: dict) -> str:
    naive, fleet = row["naive"], row["fleet"]
    times = ["%.1f / %.1f (%.2f)" % (naive["seconds"][phase], fleet["seconds"][phase], row["time_ratio"][phase])
             for phase in TIMED_PHASES]
    return "| %d | %d / %d (%.2f) | %d | %d / %d | %s | %d / %d | %d / %d | %s |" % (
        row["nodes"], naive["wheel_downloads"], fleet["wheel_downloads"], row["wheel_download_ratio"], fleet["cache_files"],
        naive["pip_retries"], fleet["pip_retries"], times[0],
        naive["archive_downloads"], fleet["archive_downloads"], naive["builds"], fleet["builds"], times[1])


def main() -> int:
    # A stopped run (timeout, Ctrl-C) still removes its containers: SIGTERM unwinds like an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 7])
    parser.add_argument("--requirement", default="smg==1.13.0")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    print(HEADER, flush=True)
    rows = []
    for size in args.sizes:
        rows.append(compare(size, *(run_fleet(size, mode, args.requirement) for mode in MODES)))
        print(table_row(rows[-1]), flush=True)
    result = {"requirement": args.requirement, "fleets": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
