# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's meta/argument_specs.yml against its defaults/main.yml and vars/main.yml.

The argument spec is what Ansible validates a role's input with and what docs/variables.md is generated from;
the defaults are what a role really runs with. They must say the same: every default is a documented option
with the same default (a default computed by a template has none in the spec: its description says where it
comes from), every option of the role's own prefix has a default or is required, and the constants in vars/ are
private (an underscore prefix), so that an inventory cannot silently lose to them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import CONTRACT

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def load(role: str, relative: str) -> dict:
    path = ROOT / "roles" / role / relative
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def prefix(role: str) -> str:
    return role.lstrip("_") + "_"


def entry_points(role: str) -> dict:
    return load(role, "meta/argument_specs.yml")["argument_specs"]


def test_every_role_has_an_argument_spec() -> None:
    with_tasks = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/tasks/main.yml"))
    assert ROLES == with_tasks


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option_with_the_same_default(role: str) -> None:
    options = entry_points(role)["main"]["options"]
    defaults = load(role, "defaults/main.yml")
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec entry"
    for name, value in defaults.items():
        allowed = [value, None] if isinstance(value, str) and "{{" in value else [value]
        assert options[name].get("default") in allowed, "%s: argument spec default %r, defaults/main.yml %r" % (
            name, options[name].get("default"), value)


@pytest.mark.parametrize("role", ROLES)
def test_every_own_option_has_a_default_or_is_required(role: str) -> None:
    defaults = load(role, "defaults/main.yml")
    for entry, spec in entry_points(role).items():
        for name, option in spec.get("options", {}).items():
            if name.startswith(prefix(role)) and name not in CONTRACT and not option.get("required"):
                assert name in defaults, "%s (entry point %s): an optional option the role gives no default" % (
                    name, entry)


@pytest.mark.parametrize("role", ROLES)
def test_options_are_described_and_named_by_the_role_or_the_contract(role: str) -> None:
    for entry, spec in entry_points(role).items():
        assert spec.get("short_description"), "entry point %s has no short_description" % entry
        for name, option in spec.get("options", {}).items():
            assert option.get("description"), "%s (entry point %s) has no description" % (name, entry)
            assert option.get("type"), "%s (entry point %s) has no type" % (name, entry)
            owner = name.startswith(prefix(role)) or name in CONTRACT or name.startswith("gpufleet_")
            assert owner, "%s (entry point %s) is neither %s* nor a contract variable" % (name, entry, prefix(role))


@pytest.mark.parametrize("role", ROLES)
def test_an_entry_points_defaults_agree_with_main(role: str) -> None:
    specs = entry_points(role)
    main = specs["main"]["options"]
    for entry, spec in specs.items():
        for name, option in spec.get("options", {}).items():
            if name in main and "default" in option:
                assert option["default"] == main[name].get("default"), "%s: %s says %r, main %r" % (
                    name, entry, option["default"], main[name].get("default"))


@pytest.mark.parametrize("role", ROLES)
def test_constants_are_private(role: str) -> None:
    public = [name for name in load(role, "vars/main.yml") if not name.startswith("_" + prefix(role))]
    assert public == [], "vars/main.yml of %s holds %s: constants carry the _%s prefix" % (role, public, prefix(role))
