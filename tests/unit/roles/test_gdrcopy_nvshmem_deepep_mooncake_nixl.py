# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GPU communication library roles: argument specs match defaults, pinned source sha256s, the shared build-once
protocol, and the stand-ins of the source archives."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("gdrcopy", "nvshmem", "deepep", "mooncake", "nixl")
SRC_ARCHIVES = ROOT / "tests" / "fixtures" / "src-archives"
BUILD_GDRCOPY = SRC_ARCHIVES / "build-gdrcopy.sh"


def _load(role: str, part: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / part).read_text(encoding="utf-8")) or {}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_in_the_argument_spec_and_back(role):
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    own = {name for name in options if name.startswith(role + "_")}
    assert set(_load(role, "defaults/main.yml")) == own


@pytest.mark.parametrize("role", ROLES)
def test_options_are_documented_and_only_contract_or_own_names(role):
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("description"), name
        assert name.startswith(role + "_") or name in ("sglang_release_profile", "sglang_venv_dir"), name


@pytest.mark.parametrize("role", ROLES)
def test_constants_are_private(role):
    assert all(name.startswith("_%s_" % role) for name in _load(role, "vars/main.yml"))


SHA256 = r"^[0-9a-f]{64}$"


def test_every_gdrcopy_version_a_profile_pins_has_a_pinned_sha256():
    sums = _load("gdrcopy", "vars/main.yml")["_gdrcopy_source_sha256s"]
    fallback = _load("gdrcopy", "vars/main.yml")["_gdrcopy_fallback_version"]
    versions = {profile["gdrcopy"] or fallback for profile in PROFILES.values()}
    assert versions <= set(sums)
    assert all(re.match(SHA256, value) for value in sums.values())
    # The default looks the version up; nothing known means null (stop before downloading), never "" (unchecked).
    assert _load("gdrcopy", "defaults/main.yml")["gdrcopy_source_sha256"] == (
        "{{ _gdrcopy_source_sha256s[gdrcopy_version] | default(none) }}")


def test_every_nvshmem_version_a_profile_pins_has_the_sha256_of_its_cuda12_tarball():
    sums = _load("nvshmem", "vars/main.yml")["_nvshmem_source_sha256s"]
    versions = {profile["nvshmem"] for profile in PROFILES.values() if profile["nvshmem"]}
    assert {"nvshmem_src_cuda12-all-all-%s.tar.gz" % version for version in versions} <= set(sums)
    assert all(re.match(SHA256, value) for value in sums.values())
    assert "| default(none)" in _load("nvshmem", "defaults/main.yml")["nvshmem_source_sha256"]


def test_deepep_has_no_pinned_sha256_of_its_commits_archive():
    # No published recipe pins GitHub's archive of the profiles' DeepEP commit: downloaded unchecked, sha256 printed.
    assert _load("deepep", "defaults/main.yml")["deepep_source_sha256"] == ""


@pytest.mark.parametrize("role", ("gdrcopy", "nvshmem", "deepep"))
def test_the_source_builds_use_the_shared_build_once_and_download_steps(role):
    tasks = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "roles" / role / "tasks").glob("*.yml"))
    assert "tasks_from: build_once.yml" in tasks
    assert "tasks_from: source_archive.yml" in tasks
    # No copy of the protocol left in the role: no fetch to the controller, no download of its own.
    assert "ansible.builtin.fetch" not in tasks
    assert "ansible.builtin.get_url" not in tasks


@pytest.fixture(scope="module")
def gdrcopy_archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("archive")
    subprocess.run(["bash", str(BUILD_GDRCOPY), str(out), "2.4.4"], check=True, capture_output=True)
    return out / "NVIDIA" / "gdrcopy" / "archive" / "refs" / "tags" / "v2.4.4.tar.gz"


# The stand-ins of the source archives the hosts cannot reach: (script, arguments, the archive's path under the
# output directory, as upstream serves it, its top directory, files the roles' build steps use).
DEEPEP_COMMIT = "0123456789abcdef0123456789abcdef01234567"
STAND_INS = {
    "gdrcopy": ("build-gdrcopy.sh", ["2.4.4"], "NVIDIA/gdrcopy/archive/refs/tags/v2.4.4.tar.gz", "gdrcopy-2.4.4",
                ["Makefile", "include/gdrapi.h", "src/gdrdrv/Makefile", "packages/build-deb-packages.sh"]),
    "nvshmem": ("build-nvshmem.sh", ["3.4.5", "13"],
                "compute/redist/nvshmem/3.4.5/source/nvshmem_src_cuda13-all-all-3.4.5.tar.gz", "nvshmem_src",
                ["CMakeLists.txt", "src/include/nvshmem.h", "src/device/nvshmem_device.cu"]),
    "deepep": ("build-deepep.sh", [DEEPEP_COMMIT], "deepseek-ai/DeepEP/archive/%s.tar.gz" % DEEPEP_COMMIT,
               "DeepEP-" + DEEPEP_COMMIT, ["setup.py", "csrc/deep_ep.cpp", "deep_ep/__init__.py"]),
}


def _build_stand_in(name: str, out: Path) -> Path:
    script, arguments, path = STAND_INS[name][:3]
    subprocess.run(["bash", str(SRC_ARCHIVES / script), str(out), *arguments], check=True, capture_output=True)
    return out / path


@pytest.mark.parametrize("name", STAND_INS)
def test_a_stand_in_has_upstreams_path_layout_and_checksum(name, tmp_path):
    archive = _build_stand_in(name, tmp_path)
    top, members = STAND_INS[name][3:]
    names = tarfile.open(archive).getnames()
    assert {n.split("/")[0] for n in names} == {top}
    for member in members:
        assert top + "/" + member in names
    sha = Path(str(archive) + ".sha256").read_text().split()
    assert sha == [hashlib.sha256(archive.read_bytes()).hexdigest(), archive.name]


@pytest.mark.parametrize("name", STAND_INS)
def test_a_stand_in_is_reproducible(name, tmp_path):
    first = _build_stand_in(name, tmp_path / "first")
    assert _build_stand_in(name, tmp_path / "again").read_bytes() == first.read_bytes()


@pytest.mark.skipif(not (shutil.which("cc") and shutil.which("dpkg-deb")), reason="needs a C compiler and dpkg-deb")
def test_the_fixture_packages_user_space_only_with_t_and_k(gdrcopy_archive, tmp_path):
    with tarfile.open(gdrcopy_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    packages = tmp_path / "gdrcopy-2.4.4" / "packages"
    subprocess.run(["./build-deb-packages.sh", "-t", "-k"], cwd=packages, check=True, capture_output=True)
    debs = sorted(p.name.split("_")[0] for p in packages.glob("*.deb"))
    assert debs == ["libgdrapi"]
