# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Testinfra fixtures shared by the topology scenarios: the plan converge wrote, this host's services
of it, the scenario's variables, HTTP from a node; each failed test carries the units' journals."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
from journal_on_failure import attach_journal  # noqa: E402  pylint: disable=wrong-import-position


def plan_path() -> Path:
    return (Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache" / "molecule"
            / os.environ["MOLECULE_SCENARIO_NAME"] / "plan" / "plan.json")


@pytest.fixture(scope="session")
def plan() -> dict:
    return json.loads(plan_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def variables(host) -> dict:
    return host.ansible.get_variables()


# The inventory groups whose hosts the plan gives services; a host of the scenario outside them (the fleet's
# PyPI cache) has none, and the tests about services skip it, saying so.
SERVICE_GROUPS = frozenset({"sglang_nodes", "sglang_workers", "sglang_prefill", "sglang_decode", "sglang_router"})


@pytest.fixture(scope="module")
def services(host, plan, variables) -> list:
    """This host's services of the plan; never an empty list, so that no test passes by looping over nothing."""
    name = host.backend.get_hostname()
    mine = [service for service in plan["services"] if service["host"] == name]
    groups = SERVICE_GROUPS & set(variables.get("group_names", ()))
    if not groups:
        pytest.skip("%s is in no group that runs services (%s)" % (name, ", ".join(sorted(SERVICE_GROUPS))))
    assert mine, "%s is in %s, but the plan gives it no service: the tests would prove nothing" % (
        name, ", ".join(sorted(groups)))
    return mine


# Runs on a node (python3 is on every Debian host): one HTTP request, the status and the JSON body.
_HTTP = r"""
import json, sys, urllib.error, urllib.request
url, method, body, key = sys.argv[1:5]
headers = {"Content-Type": "application/json"}
if key:
    headers["Authorization"] = "Bearer " + key
request = urllib.request.Request(url, data=body.encode() if body else None, headers=headers, method=method)
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        status, text = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, text = error.code, error.read().decode()
print(json.dumps({"status": status, "text": text}))
"""


def http(host, url: str, body: dict | None = None, key: str = "") -> tuple[int, dict]:
    """Request url from the node; the API key travels in the script's argv only for this test command."""
    result = host.run("python3 -c %s %s %s %s %s", _HTTP, url, "POST" if body is not None else "GET",
                      json.dumps(body) if body is not None else "", key)
    assert result.rc == 0, result.stderr
    answer = json.loads(result.stdout)
    try:
        return answer["status"], json.loads(answer["text"])
    except ValueError:
        return answer["status"], {"text": answer["text"]}


pytest_runtest_makereport = attach_journal("journalctl --no-pager --lines 60 -u 'sglang-*'")
