# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/cuda_toolkit: the inputs and the driver floor, through the real ansible-playbook on localhost.

The steps before anything is installed (validate.yml, driver.yml) must stop a bad input or an old
driver with the host, the variable and the fix; the fake nvidia-smi (tests/fixtures/bin) plays the driver.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
FAKE_SMI = ROOT / "tests" / "fixtures" / "bin"

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: gpufleet.sglang.cuda_toolkit
        tasks_from: "{{ item }}"
      loop: "{{ cuda_test_steps | default(['validate.yml', 'driver.yml']) }}"
"""


def run(tmp_path: Path, extra_vars: dict, driver: str | None = None) -> subprocess.CompletedProcess:
    """validate.yml and driver.yml with extra_vars; nvidia-smi reports driver, fails ("error") or is absent (None)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    path = [str(Path(sys.executable).parent), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if driver is not None:
        config = tmp_path / "gpus.json"
        config.write_text(json.dumps({"count": 2, "driver_version": driver, "driver_error": driver == "error"}))
        env["FAKE_NVIDIA_SMI_CONFIG"] = str(config)
        path.insert(0, str(FAKE_SMI))
    env["PATH"] = os.pathsep.join(path)
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(tmp_path / "play.yml"), "-i", "localhost,",
         "-e", json.dumps(extra_vars)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("extra_vars, driver, expected", [
    # The profile's CUDA and a driver at or above its floor.
    ({"sglang_release_profile": "0.5.23"}, "580.95.05", "NVIDIA driver 580.95.05 >= 580.65.06 (CUDA 13.0)"),
    ({"sglang_release_profile": "0.5.8"}, "570.195.03", "NVIDIA driver 570.195.03 >= 570.26 (CUDA 12.9)"),
    # A build host: no driver, a message.
    ({"sglang_release_profile": "0.5.23"}, None, "no nvidia-smi, no NVIDIA driver"),
    # Another CUDA with its own floor.
    ({"cuda_toolkit_version": "12.8", "cuda_toolkit_driver_floor": "570.26"}, "570.195.03", ">= 570.26 (CUDA 12.8)"),
])
def test_passes(tmp_path, extra_vars, driver, expected):
    result = run(tmp_path, dict(extra_vars, cuda_toolkit_method="pip"), driver)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


@pytest.mark.parametrize("extra_vars, driver, expected", [
    ({"sglang_release_profile": "0.5.23"}, "570.195.03",
     "NVIDIA driver 570.195.03 is older than 580.65.06, the floor of CUDA 13.0 (cuda_toolkit_driver_floor"),
    # A CUDA release without a floor: the profile's floor is for its own CUDA only.
    ({"cuda_toolkit_version": "12.4"}, None, "CUDA 12.4 has no driver floor (cuda_toolkit_driver_floor"),
    # nvidia-smi without a working driver: not a build host, a broken GPU node.
    ({"sglang_release_profile": "0.5.23"}, "error", "nvidia-smi is installed but cannot read the driver version"),
    ({"cuda_toolkit_method": "conda"}, None, "cuda_toolkit_method = 'conda' is not one of apt, pip, preinstalled"),
    ({"cuda_toolkit_version": "13"}, None, "cuda_toolkit_version = '13'"),
    ({"sglang_release_profile": "9.9.9"}, None, "sglang_release_profile '9.9.9'"),
    # An unreachable mirror stops the apt method before anything is installed (port 9: discard, closed here).
    ({"cuda_toolkit_method": "apt", "cuda_toolkit_repo_base_url": "http://127.0.0.1:9/compute/cuda/repos",
      "cuda_test_steps": ["validate.yml", "apt.yml"]}, None,
     "is out of reach. Fix: let the host reach it"),
])
def test_fails_early_with_the_variable_and_the_fix(tmp_path, extra_vars, driver, expected):
    result = run(tmp_path, dict({"cuda_toolkit_method": "pip"}, **extra_vars), driver)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert expected in out
    assert "Fix:" in out


@pytest.mark.parametrize("role", ["cuda_toolkit", "nvidia_libs"])
def test_defaults_are_the_argument_specs_options(role):
    """Every knob in defaults/main.yml is documented in every entry point, and nothing else is."""
    defaults = set(yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()))
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry_point, spec in specs.items():
        assert set(spec["options"]) == defaults, entry_point
