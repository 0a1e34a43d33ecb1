# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start the router with the workers' API key without putting the key on its command line.

smg and sglang-router take the key only as ``--api-key``, and a process's arguments are readable by
every user (``ps``, /proc/<pid>/cmdline). This launcher runs in the router's venv, reads the key from
SGLANG_API_KEY (set by the unit's root-only EnvironmentFile), removes it from the environment and calls
the router in this same process with ``--api-key`` added to its in-memory argv only.

    python gpufleet_router_launch.py smg launch --pd-disaggregation ...
    python gpufleet_router_launch.py sglang-router --pd-disaggregation ...
"""
import os
import runpy
import sys


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("smg", "sglang-router"):
        sys.exit("usage: gpufleet_router_launch.py {smg|sglang-router} ROUTER_ARGS...")
    implementation, args = sys.argv[1], sys.argv[2:]
    key = os.environ.pop("SGLANG_API_KEY", "")
    if key:
        args = args + ["--api-key", key]
    if implementation == "smg":
        from smg.cli import main as smg_main

        sys.argv = ["smg"] + args
        smg_main()
    else:
        sys.argv = ["sglang_router.launch_router"] + args
        runpy.run_module("sglang_router.launch_router", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
