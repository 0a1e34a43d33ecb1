# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of the host preflight: every host's registered results judged at once."""
from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.gpufleet.sglang.plugins.module_utils._preflight import (
    build_report,
    failure_message,
    format_table,
    services_by_host,
)

# The names preflight.yml registers on every host (not sglang_*: the planner would refuse them).
RESULT_VARIABLES = {"gpu": "gpufleet_preflight_gpu", "ib": "gpufleet_preflight_ib", "host": "gpufleet_preflight_host"}

ARGUMENT_SPEC = dict(
    plan=dict(type="dict", required=True),
    dest=dict(type="path"),
    driver_floor=dict(type="str"),
    link_layer=dict(type="str", default="any", choices=["any", "InfiniBand", "Ethernet"]),
    fail_on_error=dict(type="bool", default=True),
)


def write_if_changed(path: str, content: str) -> None:
    """Write ``content`` to ``path`` atomically unless it already holds it."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == content:
                return
    except OSError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".preflight.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, 0o600)  # like plan.json: a map of the fleet, for its owner
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plain(value):
    """A registered result as plain JSON data (Ansible's unsafe strings and lazy containers made plain)."""
    return json.loads(json.dumps(value, default=to_text))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self._supports_check_mode = True
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        plan = args["plan"]
        hostvars = task_vars.get("hostvars", {})
        results = {host: self._host_results(hostvars, host) for host in services_by_host(plan)}
        try:
            report = build_report(plan, results, driver_floor=args["driver_floor"], link_layer=args["link_layer"])
        except (KeyError, TypeError) as error:
            raise AnsibleError("preflight_report: the plan is not a topology plan (%s)" % error)

        table = format_table(report["checks"])
        result.update(changed=False, report=report, table=table, ok=report["ok"])
        if args["dest"]:
            # The report is an output on the controller, like plan.json; no host is changed.
            write_if_changed(args["dest"], json.dumps(report, indent=2, sort_keys=False) + "\n")
            result["dest"] = args["dest"]
        counts = {s: sum(1 for r in report["checks"] if r["status"] == s) for s in ("ok", "fail", "warn", "skipped")}
        if not report["ok"]:
            result["msg"] = failure_message(report, args["dest"])
            if args["fail_on_error"]:
                # The table first: the failure alone would hide what passed.
                result["msg"] = "\n".join(table) + "\n\n" + result["msg"]
                result["failed"] = True
        else:
            result["msg"] = "Preflight passed on %d host%s: %d ok, %d warning%s, %d skipped%s" % (
                len(report["hosts"]), "" if len(report["hosts"]) == 1 else "s", counts["ok"], counts["warn"],
                "" if counts["warn"] == 1 else "s", counts["skipped"], "; report: %s" % args["dest"] if args["dest"] else "")
        return result

    @staticmethod
    def _host_results(hostvars, host):
        if host not in hostvars:
            return {}
        source = hostvars[host]
        found = {}
        for key, name in RESULT_VARIABLES.items():
            try:
                found[key] = plain(source[name]) if name in source else None
            except AnsibleError as error:
                found[key] = {"failed": True, "msg": "cannot read %s: %s" % (name, error)}
        return found if any(value is not None for value in found.values()) else {}
