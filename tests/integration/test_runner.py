# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/plan.yml driven through ``ansible_runner.run``, as AWX and users' own tools drive it.

Asserts on runner's events and per-host stats: the plan of a valid fleet is written and a second run
changes nothing; a refused fleet fails in the validation task, no task runs on an inventory host, and
the error lists every problem; survey answers (extra vars) out of range fail in the validate phase with
the message the ansible-playbook CLI gives for the same input.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import ansible_runner
import pytest
import yaml

from integration_support import ROOT, ansible_env, run, tool

PLAYBOOK = ROOT / "playbooks" / "plan.yml"
EXAMPLE = ROOT / "inventories" / "examples" / "pd_1p1d"
INVALID = ROOT / "tests" / "fixtures" / "inventories" / "invalid_pd"
GOLDEN = ROOT / "tests" / "golden" / "plans" / "pd_1p1d.json"

VALIDATE = "Compute and validate the topology plan"
# plan.yml's rescue: removes the outputs of an earlier plan, then stops the play with a fail task.
CLEANUP = "Remove the outputs of an earlier plan"
STOP = "Stop, the inventory cannot be deployed"


def runner_plan(tmp_path: Path, inventory: Path, extravars: dict) -> ansible_runner.Runner:
    """One run of plan.yml the way docs/runner.md tells users to start it."""
    private = tmp_path / ("runner-%d" % len(list(tmp_path.glob("runner-*"))))
    private.mkdir()
    env = ansible_env(tmp_path, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),  # the working directory: ansible.cfg resolves gpufleet.sglang.* to this checkout
        playbook=str(PLAYBOOK),
        inventory=str(inventory),
        extravars=extravars,
        envvars={k: env[k] for k in ("ANSIBLE_CONFIG", "ANSIBLE_NOCOLOR", "ANSIBLE_FORCE_COLOR", "PATH")},
        quiet=True,
        timeout=300,
    )


def cli_plan(tmp_path: Path, inventory: Path, extravars: dict):
    """The same run through the ansible-playbook CLI, with the extra vars as -e key=value."""
    argv = [tool("ansible-playbook"), str(PLAYBOOK), "-i", str(inventory)]
    for key, value in extravars.items():
        argv += ["-e", "%s=%s" % (key, value)]
    return run(argv, cwd=ROOT, env=ansible_env(tmp_path, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))


def host_events(r: ansible_runner.Runner) -> list:
    return [e for e in r.events if e["event"].startswith("runner_")]


def failed_events(r: ansible_runner.Runner) -> list:
    return [e for e in r.events if e["event"] == "runner_on_failed"]


def started_tasks(r: ansible_runner.Runner) -> list:
    return [e["event_data"]["task"] for e in r.events if e["event"] == "playbook_on_task_start"]


def inventory_hosts(inventory: Path) -> set:
    hosts = set()

    def walk(group):
        hosts.update((group or {}).get("hosts") or {})
        for child in ((group or {}).get("children") or {}).values():
            walk(child)

    walk(yaml.safe_load((inventory / "hosts.yml").read_text(encoding="utf-8"))["all"])
    return hosts


def assert_only_localhost(r: ansible_runner.Runner, inventory: Path) -> None:
    events = host_events(r)
    assert events, "runner reported no task event"
    assert {e["event_data"]["host"] for e in events} == {"localhost"}
    assert not inventory_hosts(inventory) & set(r.stats["processed"]), r.stats


def assert_refused_in_validation(r: ansible_runner.Runner, inventory: Path, plan_dir: Path) -> dict:
    """A refused inventory: the validation task fails first, only the rescue runs after it. Returns its result."""
    assert r.status == "failed" and r.rc != 0, (r.status, r.rc)
    assert_only_localhost(r, inventory)
    failed = failed_events(r)
    assert failed and failed[0]["event_data"]["task"] == VALIDATE, [e["event_data"]["task"] for e in failed]
    # The validation task is the only task that fails on its own; the rescue's fail task ends the play.
    assert [e["event_data"]["task"] for e in failed] == [VALIDATE, STOP]
    assert started_tasks(r) == [VALIDATE, CLEANUP, STOP]
    assert r.stats["failures"] == {"localhost": 1} and r.stats["rescued"] == {"localhost": 1}, r.stats
    assert not (plan_dir / "plan.json").exists()
    return failed[0]["event_data"]["res"]


def test_valid_fleet_plans_and_a_second_run_changes_nothing(tmp_path):
    plan_dir = tmp_path / "plan"
    first = runner_plan(tmp_path, EXAMPLE, {"plan_dir": str(plan_dir)})
    assert first.status == "successful" and first.rc == 0, first.stdout.read()
    assert_only_localhost(first, EXAMPLE)
    assert not failed_events(first)
    # Validation comes first: no other task started before it succeeded.
    # Warning events (the example's open_without_api_key) carry no event_data.
    events = [(e["event"], e.get("event_data", {}).get("task")) for e in first.events]
    assert started_tasks(first)[0] == VALIDATE
    validated = events.index(("runner_on_ok", VALIDATE))
    assert all(task == VALIDATE for event, task in events[:validated] if event.startswith("runner_"))
    assert json.loads((plan_dir / "plan.json").read_text(encoding="utf-8")) == json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert (plan_dir / "topology.md").is_file() and (plan_dir / "topology.svg").is_file()
    assert first.stats["changed"].get("localhost", 0) >= 1, first.stats

    second = runner_plan(tmp_path, EXAMPLE, {"plan_dir": str(plan_dir)})
    assert second.status == "successful" and second.rc == 0, second.stdout.read()
    assert second.stats["changed"].get("localhost", 0) == 0, second.stats
    assert second.stats["ok"].get("localhost", 0) >= 1 and not second.stats["failures"], second.stats
    assert not [e for e in second.events if e.get("event_data", {}).get("changed") is True]


def test_invalid_fleet_fails_in_validation_before_any_host(tmp_path):
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    (plan_dir / "plan.json").write_text("{}", encoding="utf-8")  # an earlier plan must not survive
    r = runner_plan(tmp_path, INVALID, {"plan_dir": str(plan_dir)})
    res = assert_refused_in_validation(r, INVALID, plan_dir)
    for expected in (
        "[hosts prefill-0, prefill-1, decode-0] sglang_port (type)",
        "[host prefill-1] sglang_decode (one_gpu_group)",
        "[host decode-0] sglang_tp_szie (unknown_variable)",
        "did you mean sglang_tp_size?",
        "sglang_router (pd_router_present)",
        "[instance prefill-0] sglang_tp_size (kv_heads_divisible)",
        "sglang_transfer_backend (pd_one_backend)",
        "no host was contacted",
    ):
        assert expected in res["msg"], expected
    # Each error is structured as well, for tools that read runner's events.
    assert len(res["errors"]) >= 8
    for error in res["errors"]:
        assert {"host", "instance", "variable", "rule", "message", "fix"} <= set(error), error
        assert error["rule"] and error["variable"] and error["fix"], error


SURVEYS = {
    "unknown release profile and transfer backend": {"sglang_release_profile": "9.9.9", "sglang_transfer_backend": "tcp"},
    "tp size the model refuses": {"sglang_tp_size": "7"},
}


@pytest.mark.parametrize("answers", list(SURVEYS.values()), ids=list(SURVEYS))
def test_survey_answers_out_of_range_fail_in_validation_like_the_cli(tmp_path, answers):
    plan_dir = tmp_path / "plan"
    r = runner_plan(tmp_path, EXAMPLE, dict(answers, plan_dir=str(plan_dir)))
    res = assert_refused_in_validation(r, EXAMPLE, plan_dir)
    msg = res["msg"]
    for variable in answers:
        assert "] %s (" % variable in msg, (variable, msg)

    cli = cli_plan(tmp_path, EXAMPLE, dict(answers, plan_dir=plan_dir))
    output = cli.stdout + cli.stderr
    assert cli.returncode != 0, output
    # The CLI prints the very message runner's event carries, error for error, in the same order.
    assert msg in output, (msg, output)
    runner_stdout = failed_events(r)[0]["stdout"].replace("\r\n", "\n")  # runner reads a pseudo-terminal
    assert msg in runner_stdout, runner_stdout
    recap = dict(re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP")[-1], re.M))
    assert list(recap) == ["localhost"], output
    assert "failed=1" in recap["localhost"].split() and "rescued=1" in recap["localhost"].split(), recap


def docs_example() -> str:
    """The first Python block of docs/runner.md: plan_fleet.py."""
    text = (ROOT / "docs" / "runner.md").read_text(encoding="utf-8")
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_entry_point_works(tmp_path):
    """docs/runner.md's plan_fleet.py, with the collection on ANSIBLE_COLLECTIONS_PATH as an install puts it."""
    script = tmp_path / "plan_fleet.py"
    script.write_text(docs_example(), encoding="utf-8")
    env = ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"))
    plan_dir = tmp_path / "plan"
    ok = run([sys.executable, str(script), str(EXAMPLE), str(plan_dir)], cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "planned into %s; changed per host: {'localhost': 2}" % plan_dir in ok.stdout, ok.stdout
    assert json.loads((plan_dir / "plan.json").read_text(encoding="utf-8")) == json.loads(GOLDEN.read_text(encoding="utf-8"))

    refused = run([sys.executable, str(script), str(EXAMPLE), str(plan_dir), "sglang_release_profile=9.9.9"],
                  cwd=tmp_path, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.startswith("The inventory cannot be deployed") and "no host was contacted" in refused.stderr, refused.stderr
    assert "sglang_release_profile (type): sglang_release_profile = '9.9.9' is not one of" in refused.stderr
    assert not (plan_dir / "plan.json").exists()
