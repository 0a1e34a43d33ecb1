# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/plan.yml through the real ansible-playbook, on every shipped inventory.

The plan of each example is kept in tests/golden/plans/<example>.json, so a
change of any argv, port or rank shows up in review. Regenerate them after an
intended change with ``GPUFLEET_UPDATE_GOLDEN=1 make unit``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from xml.etree import ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden" / "plans"
EXAMPLES = sorted(p.name for p in (ROOT / "inventories" / "examples").iterdir() if p.is_dir())


def run_plan(inventory: Path, plan_dir, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "plan.yml"),
         "-i", str(inventory), "-e", "plan_dir=%s" % plan_dir],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_every_example_is_shipped():
    assert {"single_node", "multinode_tp", "pd_1p1d", "pd_2p2d", "pd_4p9d"} <= set(EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES + ["prod"])
def test_example_plans_match_their_golden_plan(example, tmp_path):
    inventory = ROOT / "inventories" / ("prod" if example == "prod" else "examples/" + example)
    result = run_plan(inventory, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The one warning of an example: it has no API key (sglang_api_key comes from the operator's Vault).
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line]
    assert warnings and all("(open_without_api_key)" in line for line in warnings), result.stdout + result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    golden = GOLDEN / ("%s.json" % example)
    if os.environ.get("GPUFLEET_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(plan, indent=2) + "\n")
    assert plan == json.loads(golden.read_text())

    report = (tmp_path / "topology.md").read_text()
    diagram = ElementTree.fromstring((tmp_path / "topology.svg").read_text())
    assert diagram.tag.endswith("svg")
    for service in plan["services"]:
        assert service["host"] in report
    # Workers listen on every interface: the router and other ranks connect from other machines.
    for service in plan["services"]:
        if service["kind"] == "worker":
            argv = service["argv"]
            assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_a_second_run_changes_nothing(tmp_path):
    inventory = ROOT / "inventories" / "examples" / "pd_1p1d"
    assert run_plan(inventory, tmp_path).returncode == 0
    again = run_plan(inventory, tmp_path)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_a_relative_plan_dir_is_relative_to_where_ansible_playbook_runs(tmp_path):
    result = run_plan(ROOT / "inventories" / "examples" / "single_node", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "plan.json").is_file()


def test_invalid_inventory_lists_every_error_and_writes_no_plan(tmp_path):
    (tmp_path / "plan.json").write_text("{}")  # a plan of an earlier inventory must not survive
    result = run_plan(ROOT / "tests" / "fixtures" / "inventories" / "invalid_pd", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert not (tmp_path / "plan.json").exists()
    for expected in (
        "[hosts prefill-0, prefill-1, decode-0] sglang_port (type)",
        "[host prefill-1] sglang_decode (one_gpu_group)",
        "[host decode-0] sglang_tp_szie (unknown_variable)",
        "did you mean sglang_tp_size?",
        "[hosts prefill-1, decode-0] sglang_env (env_deprecated)",
        "rename it to SGLANG_ENABLE_JIT_DEEPGEMM",
        "sglang_router (pd_router_present)",
        "[instance prefill-0] sglang_tp_size (kv_heads_divisible)",
        "use tp_size in 1, 2, 4, 28",
        "sglang_transfer_backend (pd_one_backend)",
        "[host decode-0] sglang_network_interface (template): its template fails: 'undefined_nic_name' is undefined.",
        "no host was contacted",
    ):
        assert expected in output, expected


def test_the_plan_files_are_readable_by_their_owner_only(tmp_path):
    result = run_plan(ROOT / "inventories" / "examples" / "single_node", tmp_path / "plan")
    assert result.returncode == 0, result.stdout + result.stderr
    assert oct((tmp_path / "plan").stat().st_mode & 0o777) == "0o700"
    for name in ("plan.json", "topology.md", "topology.svg"):
        assert oct((tmp_path / "plan" / name).stat().st_mode & 0o777) == "0o600", name


HOSTILE_INVENTORY = """
all:
  vars:
    sglang_model_path: Qwen/Qwen2.5-7B-Instruct
    sglang_tp_size: 4
    sglang_gpus_per_node: 4
    sglang_api_key: "   "
    sglang_hf_token: "hf_{secret}"
  children:
    sglang_workers:
      hosts:
        gpu-0:
          ansible_host: 10.0.0.1
          sglang_instance: "w\\n[Service]\\nExecStartPre=+/bin/sh -c id"
          sglang_env: {{WANDB_API_KEY: "{secret}"}}
        gpu-1:
          ansible_host: 10.0.0.2
          sglang_venv_dir: "+/opt/venv"
          sglang_server_args: {{"api-ke": "{secret}"}}
"""


def test_a_hostile_inventory_is_refused_naming_each_problem_and_never_echoes_a_secret(tmp_path):
    secret = "s3cr3t-value-4711"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(HOSTILE_INVENTORY.format(secret=secret))
    result = run_plan(inventory, tmp_path / "plan")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and not (tmp_path / "plan").exists()
    for expected in ("[host gpu-0] sglang_instance (no_control_characters)",
                     "[host gpu-0] sglang_env (secret_in_env)", "sglang_secret_env: {WANDB_API_KEY: ...}",
                     "[host gpu-1] sglang_venv_dir (type)",
                     "[instance regular-1, host gpu-1] sglang_server_args (managed_flag)", "expands it to --api-key",
                     "sglang_api_key (secret_usable)", "no host was contacted"):
        assert expected in output, expected
    assert secret not in output


def test_without_plan_dir_the_plan_goes_to_plan_under_the_working_directory_never_into_the_collection(tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "plan.yml"),
         "-i", str(ROOT / "inventories" / "examples" / "single_node")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "plan" / "plan.json").is_file()
    assert not (ROOT / "playbooks" / "plan").exists()


def test_every_playbook_that_writes_next_to_the_plan_takes_its_directory_from_one_place():
    import yaml

    for playbook in ("plan.yml", "phases/preflight.yml"):
        plays = yaml.safe_load((ROOT / "playbooks" / playbook).read_text())
        writers = [play for play in plays if "plan_output_dir" in json.dumps(play.get("tasks", []))]
        assert writers, playbook
        for play in writers:
            files = [(ROOT / "playbooks" / playbook).parent / f for f in play.get("vars_files", [])]
            assert [f.resolve() for f in files] == [(ROOT / "playbooks" / "vars" / "plan_output.yml").resolve()], playbook
            assert "plan_output_dir" not in play.get("vars", {}), playbook
