# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection tarball, as Galaxy users get it: built from this checkout, installed into a clean path.

No test or development file is inside; ``ansible-doc`` renders every module, filter and role (argument
specs) of the installed copy; and the installed ``gpufleet.sglang.plan`` playbook plans an example fleet.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from integration_support import FQCN, GALAXY, ROOT, ansible_env, run, tool

# Top-level entries of the checkout that are for development, tests or CI only.
DEV_ENTRIES = {
    ".ci", ".venv", ".cache", ".git", ".github", ".gitignore", ".ansible", ".ansible-lint", ".pytest_cache",
    ".hypothesis", ".ruff_cache", "ansible.cfg", "bench", "molecule", "tests", "build", "plan", "Makefile",
    "requirements-dev.txt",
}
DEV_PATHS = {"changelogs/fragments", "changelogs/.plugin-cache.yaml", "awx/collections", "awx/context",
             "docs/generate_variables.py"}
# Run from a checkout, not from the installed collection: the AWX objects as code need awx.awx, which the
# collection does not depend on (Galaxy's import check could not resolve configure.yml's modules).
CHECKOUT_ONLY_PATHS = {"awx/configure.yml", "awx/vars", "awx/install_awx_collection.py"}
# What users need: shipped whenever the checkout has it (docs, plugins, roles, playbooks, inventories...).
SHIPPED_TREES = ("plugins", "roles", "playbooks", "inventories", "meta", "docs")
SHIPPED_FILES = ("README.md", "LICENSE", "requirements.txt", "bindep.txt", "CHANGELOG.rst",
                 "changelogs/changelog.yaml", "changelogs/config.yaml", "awx/execution-environment.yml")


def checkout_files(tree: str) -> set:
    base = ROOT / tree
    return {
        p.relative_to(ROOT).as_posix() for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def members(collection_tarball) -> set:
    with tarfile.open(collection_tarball) as tar:
        return {m.name.rstrip("/") for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def installed(collection_tarball, tmp_path_factory) -> Path:
    """The tarball installed with ansible-galaxy into an empty collections path; returns that path."""
    tmp = tmp_path_factory.mktemp("installed")
    path = tmp / "collections"
    result = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(path), str(collection_tarball)],
                 cwd=tmp, env=ansible_env(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    root = path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    manifest = json.loads((root / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["collection_info"]["version"] == GALAXY["version"]
    return path


def installed_env(installed: Path) -> dict:
    """Ansible seeing only the installed copy: not this checkout (its ansible.cfg, its .cache link)."""
    return ansible_env(installed.parent, ANSIBLE_COLLECTIONS_PATH=str(installed))


def test_no_test_or_dev_file_is_packaged(members):
    leaks = sorted(
        m for m in members
        if m.split("/")[0] in DEV_ENTRIES
        or any(m == p or m.startswith(p + "/") for p in DEV_PATHS)
        or any(part.startswith(".") or part == "__pycache__" for part in PurePosixPath(m).parts)
        or m.endswith((".pyc", ".tar.gz", ".retry"))
    )
    assert not leaks, "build_ignore in galaxy.yml lets these into the tarball: %s" % leaks


def test_awx_objects_as_code_stay_in_the_checkout(members):
    assert all((ROOT / p).exists() for p in CHECKOUT_ONLY_PATHS), sorted(CHECKOUT_ONLY_PATHS)
    packaged = sorted(m for m in members if any(m == p or m.startswith(p + "/") for p in CHECKOUT_ONLY_PATHS))
    assert not packaged, "build_ignore in galaxy.yml lets these into the tarball: %s" % packaged


def test_everything_users_need_is_packaged(members):
    expected = set(SHIPPED_FILES) | {"MANIFEST.json", "FILES.json"}
    for tree in SHIPPED_TREES:
        expected |= checkout_files(tree) - DEV_PATHS
    missing = sorted(expected - members)
    assert not missing, "missing from the tarball (build_ignore too broad?): %s" % missing


def plugin_names(installed: Path, kind: str) -> list:
    root = installed / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    if kind == "module":
        return sorted(p.stem for p in (root / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    if kind == "filter":  # documented by their YAML sidecars, several filters per Python file
        return sorted(p.stem for p in (root / "plugins" / "filter").glob("*.yml"))
    return sorted(p.name for p in (root / "roles").iterdir() if p.is_dir()) if (root / "roles").is_dir() else []


def checkout_plugin_count(kind: str) -> int:
    if kind == "module":
        return len([p for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"])
    if kind == "filter":
        return len(list((ROOT / "plugins" / "filter").glob("*.yml")))
    return len([p for p in (ROOT / "roles").iterdir() if p.is_dir()]) if (ROOT / "roles").is_dir() else 0


@pytest.mark.parametrize("kind", ["module", "filter", "role"])
def test_ansible_doc_renders_every_plugin_of_the_installed_copy(installed, kind):
    names = plugin_names(installed, kind)
    assert len(names) == checkout_plugin_count(kind), "the tarball and the checkout differ in %ss" % kind
    if not names:
        pytest.skip("the collection has no %s yet" % kind)
    fqcns = ["%s.%s" % (FQCN, name) for name in names]
    env = installed_env(installed)

    listed = run([tool("ansible-doc"), "--json", "-t", kind, "-l", FQCN], cwd=installed.parent, env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert sorted(json.loads(listed.stdout)) == fqcns

    docs = run([tool("ansible-doc"), "--json", "-t", kind] + fqcns, cwd=installed.parent, env=env)
    assert docs.returncode == 0, docs.stdout + docs.stderr
    assert "not found" not in docs.stderr, docs.stderr
    rendered = json.loads(docs.stdout)
    assert sorted(rendered) == fqcns, docs.stderr
    for fqcn, doc in rendered.items():
        if kind == "role":  # the argument specs of every entry point
            assert str(installed) in doc["path"], doc["path"]
            assert doc["entry_points"], fqcn
            for entry_point, spec in doc["entry_points"].items():
                assert spec.get("short_description"), (fqcn, entry_point)
        else:
            assert doc["doc"]["filename"].startswith(str(installed)), doc["doc"]["filename"]
            assert doc["doc"]["short_description"] and doc["doc"]["description"], fqcn
            assert doc["doc"]["version_added"], fqcn

    text = run([tool("ansible-doc"), "-t", kind] + fqcns, cwd=installed.parent, env=env)
    assert text.returncode == 0 and "ERROR" not in text.stdout + text.stderr, text.stdout + text.stderr
    for fqcn in fqcns:
        assert fqcn in text.stdout, fqcn


def test_installed_plan_playbook_plans_an_example_fleet(installed, tmp_path):
    """``ansible-playbook gpufleet.sglang.plan`` from the installed copy, with its own example inventory."""
    root = installed / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    inventory = root / "inventories" / "examples" / "pd_1p1d"
    plan_dir = tmp_path / "plan"
    result = run([tool("ansible-playbook"), "%s.plan" % FQCN, "-i", str(inventory), "-e", "plan_dir=%s" % plan_dir],
                 cwd=tmp_path, env=installed_env(installed))
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads((plan_dir / "plan.json").read_text(encoding="utf-8"))
    assert plan == json.loads((ROOT / "tests" / "golden" / "plans" / "pd_1p1d.json").read_text(encoding="utf-8"))
    assert (plan_dir / "topology.md").is_file() and (plan_dir / "topology.svg").is_file()
