# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers of the integration tests: the tools of this venv and a clean Ansible environment.

The tools (ansible-playbook, ansible-galaxy, ansible-doc, ansible-builder, antsibull-changelog) are taken
from the venv of the Python running pytest, so ``.venv/bin/python -m pytest tests/integration`` needs no
activated venv. A missing tool is an error, never a skip: requirements-dev.txt pins them all.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
FQCN = "%s.%s" % (GALAXY["namespace"], GALAXY["name"])
TARBALL_NAME = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise AssertionError("%s is not installed next to %s: install requirements-dev.txt" % (name, sys.executable))
    return str(path)


def ansible_env(tmp: Path, **extra: str) -> dict:
    """The environment of a clean Ansible run: no ANSIBLE_* from outside, an empty config, this venv first on PATH."""
    config = tmp / "empty-ansible.cfg"
    if not config.exists():
        config.write_text("# no settings: a clean Ansible for the test\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        PATH="%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
    )
    env.update(extra)
    return env


def run(argv: list, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
