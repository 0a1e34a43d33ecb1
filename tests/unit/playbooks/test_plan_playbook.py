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
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
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
