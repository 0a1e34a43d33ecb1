# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The changelog kept with antsibull-changelog: fragments lint clean, a malformed one fails, CHANGELOG.rst is current."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion

from integration_support import GALAXY, ROOT, ansible_env, run, tool


def copy_changelog(tmp_path: Path) -> Path:
    """The changelog sources in a scratch collection root (antsibull-changelog works on the current directory)."""
    root = tmp_path / "collection"
    root.mkdir()
    shutil.copy2(ROOT / "galaxy.yml", root)
    shutil.copy2(ROOT / "CHANGELOG.rst", root)
    shutil.copytree(ROOT / "changelogs", root / "changelogs")
    return root


def antsibull(args: list, cwd: Path, tmp_path: Path):
    return run([tool("antsibull-changelog")] + args, cwd=cwd, env=ansible_env(tmp_path))


def test_fragments_and_changelog_yaml_lint_clean(tmp_path):
    lint = antsibull(["lint"], ROOT, tmp_path)
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    fragments = [p for p in (ROOT / "changelogs" / "fragments").iterdir() if p.suffix in (".yml", ".yaml")]
    assert fragments, "no changelog fragment"
    changelog = antsibull(["lint-changelog-yaml", str(ROOT / "changelogs" / "changelog.yaml")], ROOT, tmp_path)
    assert changelog.returncode == 0 and not changelog.stdout.strip(), changelog.stdout + changelog.stderr


@pytest.mark.parametrize("fragment, complaint", [
    ("minor_change:\n  - a misspelled section.\n", "invalid section: minor_change"),
    ("bugfixes: a string where a list belongs.\n", 'section "bugfixes" must be type list'),
    ("bugfixes:\n  - [not closed\n", "yaml parsing error"),
], ids=["unknown section", "not a list", "broken yaml"])
def test_a_malformed_fragment_fails_the_lint(tmp_path, fragment, complaint):
    root = copy_changelog(tmp_path)
    (root / "changelogs" / "fragments" / "broken.yml").write_text(fragment, encoding="utf-8")
    lint = antsibull(["lint"], root, tmp_path)
    assert lint.returncode != 0, lint.stdout + lint.stderr
    assert "changelogs/fragments/broken.yml" in lint.stdout and complaint in lint.stdout, lint.stdout


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    root = copy_changelog(tmp_path)
    generate = antsibull(["generate"], root, tmp_path)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert (root / "CHANGELOG.rst").read_text(encoding="utf-8") == (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8"), (
        "CHANGELOG.rst differs from what changelogs/changelog.yaml generates: run antsibull-changelog generate")


def test_no_release_is_newer_than_galaxy_yml():
    releases = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))["releases"]
    assert releases
    newest = max(releases, key=LooseVersion)
    assert LooseVersion(newest) <= LooseVersion(GALAXY["version"]), (newest, GALAXY["version"])
