# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role names as Galaxy's import check (make galaxy-import) takes them, and the variable prefixes they give.

Galaxy's importer runs ansible-lint, whose role-name rule wants ``^[a-z][a-z0-9_]*$``, and refuses a role
without a README. The plan treats an unknown variable with a role's prefix as an error (a misspelled key is
never silently ignored), so each role's name is a prefix, except ``common``, whose variables are gpufleet_*.
"""
from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.gpufleet.sglang.plugins.action import topology_plan

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())


def test_role_names_follow_galaxys_pattern() -> None:
    assert ROLES and [r for r in ROLES if not re.fullmatch(r"[a-z][a-z0-9_]*", r) or "__" in r] == []


def test_every_role_has_a_readme() -> None:
    assert [r for r in ROLES if not (ROOT / "roles" / r / "README.md").is_file()] == []


def test_variable_prefixes_are_the_role_names_and_gpufleet() -> None:
    expected = tuple(sorted(r + "_" for r in ROLES if r != "common")) + ("gpufleet_",)
    assert topology_plan.variable_prefixes() == expected
    assert "common" in ROLES and "sglang_" in expected and "common_" not in expected


def test_variable_prefixes_of_a_roles_directory(tmp_path: Path) -> None:
    for name in ("common", "alpha", "beta_gamma"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("not a role\n", encoding="utf-8")
    assert topology_plan.variable_prefixes(tmp_path) == ("alpha_", "beta_gamma_", "gpufleet_")
