# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/execution-environment.yml through ``ansible-builder create``, and the image build's steps replayed.

Building the image needs a container runtime and a registry (docs/awx.md), so the test stops at the build
context: it holds the collection tarball and the requirements, and the steps of the Containerfile that
need no container (the galaxy stage's install, the builder stage's introspection) are run here on it.
"""
from __future__ import annotations

import filecmp
import importlib.metadata
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends

from integration_support import GALAXY, ROOT, TARBALL_NAME, ansible_env, run, tool

EE_DIR = ROOT / "awx"
EE_FILE = EE_DIR / "execution-environment.yml"
EE = yaml.safe_load(EE_FILE.read_text(encoding="utf-8"))
RPM_PROFILE = ["platform:rpm", "platform:redhat", "platform:centos", "platform:centos-9"]


def test_definition_pins_what_the_collection_is_tested_with():
    assert EE["version"] == 3
    assert EE["images"]["base_image"]["name"] == "quay.io/centos/centos:stream9"
    deps = EE["dependencies"]
    # ansible-core 2.20+ needs Python 3.12; the venv running these tests pins both tools.
    assert deps["python_interpreter"] == {"package_system": "python3.12", "python_path": "/usr/bin/python3.12"}
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % importlib.metadata.version("ansible-core")
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % importlib.metadata.version("ansible-runner")
    assert (EE_DIR / deps["python"]).resolve() == ROOT / "requirements.txt"
    assert (EE_DIR / deps["system"]).resolve() == ROOT / "bindep.txt"


def test_galaxy_requirements_name_the_tarball_of_this_version():
    requirements = yaml.safe_load((EE_DIR / EE["dependencies"]["galaxy"]).read_text(encoding="utf-8"))
    assert requirements["collections"] == [{"name": "collections/%s" % TARBALL_NAME, "type": "file"}]


def test_bindep_lists_the_controller_packages_for_the_image():
    """The image is CentOS Stream: bindep must resolve the rpm names (and the Debian ones for a plain controller)."""
    rules = Depends((ROOT / "bindep.txt").read_text(encoding="utf-8"))
    assert {"openssh-clients", "git-core", "rsync"} <= {r[0] for r in rules.active_rules(RPM_PROFILE)}
    assert {"openssh-client", "git", "rsync"} <= {r[0] for r in rules.active_rules(["platform:dpkg", "platform:debian"])}


@pytest.fixture(scope="module")
def context(collection_tarball, tmp_path_factory) -> Path:
    """``ansible-builder create`` on the definition, laid out as in the checkout, with the built tarball."""
    tmp = tmp_path_factory.mktemp("ee")
    project = tmp / "project"
    ee_dir = project / "awx"
    ee_dir.mkdir(parents=True)
    shutil.copy2(EE_FILE, ee_dir)
    for key in ("galaxy", "python", "system"):
        source = (EE_DIR / EE["dependencies"][key]).resolve()
        target = ee_dir / EE["dependencies"][key]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    # The tarball where docs/awx.md builds it (ansible-galaxy collection build --output-path awx/collections).
    (files,) = EE["additional_build_files"]
    assert Path(TARBALL_NAME).match(Path(files["src"]).name), files
    (ee_dir / Path(files["src"]).parent).mkdir(parents=True, exist_ok=True)
    shutil.copy2(collection_tarball, ee_dir / Path(files["src"]).parent)

    out = tmp / "context"
    result = run([tool("ansible-builder"), "create", "-f", str(ee_dir / EE_FILE.name), "-c", str(out),
                  "--output-filename", "Containerfile", "-v", "3"], cwd=tmp, env=ansible_env(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    return out


def test_context_holds_the_collection_and_the_requirements(context, collection_tarball):
    build = context / "_build"
    assert filecmp.cmp(build / "collections" / TARBALL_NAME, collection_tarball, shallow=False)
    assert filecmp.cmp(build / "requirements.txt", ROOT / "requirements.txt", shallow=False)
    assert filecmp.cmp(build / "bindep.txt", ROOT / "bindep.txt", shallow=False)
    assert filecmp.cmp(build / "requirements.yml", EE_DIR / "requirements.yml", shallow=False)

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.12"' in containerfile
    refs = "ansible-core==%s ansible-runner==%s" % (importlib.metadata.version("ansible-core"),
                                                    importlib.metadata.version("ansible-runner"))
    assert 'ARG ANSIBLE_INSTALL_REFS="%s"' % refs in containerfile
    # The galaxy stage copies _build to /build and installs requirements.yml from there.
    galaxy_stage = containerfile.split("FROM base AS galaxy")[1].split("FROM base AS builder")[0]
    assert "COPY _build /build" in galaxy_stage and "WORKDIR /build" in galaxy_stage
    assert "ansible-galaxy collection install" in galaxy_stage and "-r requirements.yml" in galaxy_stage
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile


def test_image_build_steps_install_the_collection_and_its_dependencies(context, tmp_path):
    """The galaxy stage's install and the builder stage's introspection, run on the context as the build runs them."""
    build = context / "_build"
    collections = tmp_path / "usr-share-ansible" / "collections"
    install = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
                   "--collections-path", str(collections)], cwd=build, env=ansible_env(tmp_path))
    assert install.returncode == 0, install.stdout + install.stderr
    installed = collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file() and (installed / "playbooks" / "plan.yml").is_file()

    out = tmp_path / "introspect"
    introspect = run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(collections),
                      "--user-pip", str(build / "requirements.txt"), "--user-bindep", str(build / "bindep.txt"),
                      "--write-pip", str(out / "requirements.txt"), "--write-bindep", str(out / "bindep.txt")],
                     cwd=build, env=ansible_env(tmp_path))
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    pip = (out / "requirements.txt").read_text(encoding="utf-8")
    system = (out / "bindep.txt").read_text(encoding="utf-8")
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            assert "%s  # from collection user" % line.strip() in pip, (line, pip)
    # The installed collection declares its system packages itself (bindep.txt ships in the tarball), so
    # any execution environment that lists gpufleet.sglang gets them.
    collection = "# from collection %s.%s" % (GALAXY["namespace"], GALAXY["name"])
    assert "openssh-clients [platform:rpm]  %s" % collection in system, system
    packages = {r[0] for r in Depends(system).active_rules(RPM_PROFILE)}
    assert {"openssh-clients", "git-core", "rsync"} <= packages, packages
