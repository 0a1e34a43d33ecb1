# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side entry to the topology plan: reads the inventory, never a host."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.gpufleet.sglang.plugins.module_utils._input_rules import option_strings_of, redact
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import (
    GPU_GROUPS,
    PYPI_CACHE_GROUP,
    ROUTER_GROUP,
    Finding,
    SECRET_VARIABLES,
    build_plan,
)

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
# SGLang's parser of each release, as tests/upstream/generate_server_args_spec.py records it.
SERVER_ARGS_DIR = COLLECTION_ROOT / "roles" / "sglang_service" / "files" / "server_args"


def parser_options(directory: Path = SERVER_ARGS_DIR) -> dict:
    """The option strings of SGLang's parser, by SGLang version, for every table shipped."""
    tables = {}
    for table in sorted(directory.glob("*.json")):
        spec = json.loads(table.read_text())
        tables[spec["sglang"]] = option_strings_of(spec)
    return tables


def variable_prefixes(roles_dir: Path = COLLECTION_ROOT / "roles") -> tuple:
    """The prefixes of the collection's variables: each role's name, and gpufleet_ (shared settings).

    The role common has none of its own: its public variables are gpufleet_* (shared by every role).
    """
    return tuple(sorted({path.name + "_" for path in roles_dir.iterdir() if path.is_dir()} - {"common_"})) + (
        "gpufleet_",)


def role_variable_names(roles_dir: Path = COLLECTION_ROOT / "roles") -> set:
    """Every option of every entry point of every role's argument specs."""
    names = set()
    for spec_file in sorted(roles_dir.glob("*/meta/argument_specs.yml")):
        specs = yaml.safe_load(spec_file.read_text()) or {}
        for entry_point in (specs.get("argument_specs") or {}).values():
            names.update((entry_point or {}).get("options") or {})
    return names


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self._supports_check_mode = True
        self.validate_argument_spec(argument_spec={})

        groups = task_vars.get("groups", {})
        fleet_groups = {group: list(groups.get(group, ())) for group, _role in GPU_GROUPS}
        fleet_groups[ROUTER_GROUP] = list(groups.get(ROUTER_GROUP, ()))
        fleet_groups[PYPI_CACHE_GROUP] = list(groups.get(PYPI_CACHE_GROUP, ()))
        hosts = sorted({h for members in fleet_groups.values() for h in members})
        role_variables = role_variable_names()
        prefixes = variable_prefixes()
        hostvars, template_errors = self._plain_hostvars(task_vars["hostvars"], hosts, prefixes)

        outcome = build_plan(fleet_groups, hostvars, role_variables, parser_options=parser_options(),
                             variable_prefixes=prefixes)
        errors = template_errors + outcome.errors
        result["warnings"] = [str(w) for w in outcome.warnings]
        result["changed"] = False
        if errors:
            result["failed"] = True
            result["errors"] = [e.to_dict() for e in errors]
            result["msg"] = "The inventory cannot be deployed (%d error%s); no host was contacted:\n%s" % (
                len(errors), "" if len(errors) == 1 else "s", "\n".join("- %s" % e for e in errors))
            return result
        result["plan"] = outcome.plan
        return result

    @staticmethod
    def _plain_hostvars(all_hostvars, hosts, prefixes):
        """Template only what the plan reads; a secret reaches the plan as a stand-in that says only whether it is usable."""
        plain, errors = {}, []
        for host in hosts:
            source = all_hostvars[host]
            values = {}
            for name in list(source.keys()):
                if not (name.startswith(prefixes) or name in ("ansible_host", "ansible_port")):
                    continue
                try:
                    values[name] = redact(source[name]) if name in SECRET_VARIABLES else source[name]
                except AnsibleError as error:
                    errors.append(Finding(name, "template", "its template fails: %s." % str(error).rstrip("."),
                                          "define the variables it refers to, or give it a literal value.",
                                          host=host))
            plain[host] = values
        return plain, errors
