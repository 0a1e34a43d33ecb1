# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the gpu_libs scenario proves on the GPU node: the versions of the profile, imports without a GPU."""
from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "plugins", "module_utils"))
from _profiles import DEFAULT_PROFILE, PROFILES  # noqa: E402  (the version matrix, read on the controller)

testinfra_hosts = ["gpufleet-gl-node"]

PROFILE = PROFILES[DEFAULT_PROFILE]
CUDA_MAJOR = PROFILE["cuda"].split(".")[0]
VENV = "/opt/sglang/venv"
PY = VENV + "/bin/python"


def dist_version(host, name):
    cmd = host.run("%s -c 'import importlib.metadata as m; print(m.version(\"%s\"))'" % (PY, name))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def test_gdrcopy_user_space_is_an_apt_package_at_the_pinned_version(host):
    pkg = host.package("libgdrapi")
    assert pkg.is_installed
    assert pkg.version.split("-")[0] == (PROFILE["gdrcopy"] or "2.4.4")
    assert "libgdrapi.so" in host.run("ldconfig -p").stdout


def test_gdrcopy_kernel_part_skipped_in_a_container(host):
    assert not host.package("gdrdrv-dkms").is_installed
    assert not host.file("/sys/module/gdrdrv").exists


def test_gdrcopy_packages_kept_on_the_controller_for_other_hosts():
    root = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "artifacts", "gdrcopy")
    debs = [f for _dirs, _sub, files in os.walk(root) for f in files if f.endswith(".deb")]
    assert any(f.startswith("libgdrapi_") for f in debs), debs


@pytest.mark.parametrize(
    "dist, key",
    [("nvidia-nvshmem-cu%s" % CUDA_MAJOR, "nvshmem"), ("nixl-cu%s" % CUDA_MAJOR, "nixl"),
     ("mooncake-transfer-engine" + ("-cuda13" if CUDA_MAJOR == "13" else ""), "mooncake")],
)
def test_versions_equal_the_profile(host, dist, key):
    version = dist_version(host, dist)
    if PROFILE[key] is not None:
        assert version == PROFILE[key]


def test_only_the_profiles_cuda_variant_is_installed(host):
    other = "12" if CUDA_MAJOR == "13" else "13"
    assert host.run("%s -m pip show nixl-cu%s" % (PY, other)).rc != 0
    assert dist_version(host, "nixl") == dist_version(host, "nixl-cu%s" % CUDA_MAJOR)


def test_nixl_imports_as_sglang_imports_it_without_a_gpu_or_torch(host):
    cmd = host.run("%s -c 'from nixl._api import nixl_agent, nixl_agent_config; print(nixl_agent.__module__)'" % PY)
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip().startswith("nixl_cu%s" % CUDA_MAJOR)


def test_mooncake_imports_and_its_engine_links_only_driver_and_cuda_runtime_externally(host):
    cmd = host.run(
        "%s -c 'import mooncake, os, subprocess, json; d = os.path.dirname(mooncake.__file__); "
        "out = subprocess.run([\"ldd\", d + \"/engine.so\"], capture_output=True, text=True).stdout; "
        "print(json.dumps(sorted({l.split()[0] for l in out.splitlines() if \"not found\" in l})))'" % PY
    )
    assert cmd.rc == 0, cmd.stderr
    missing = json.loads(cmd.stdout)
    assert all(lib == "libcuda.so.1" or lib.startswith("libcudart.so.") for lib in missing), missing


def test_no_peermem_config_without_a_driver(host):
    assert not host.file("/etc/modules-load.d/nvidia-peermem.conf").exists


def test_nvshmem_env_script_points_at_the_wheel(host):
    script = host.file("/etc/gpufleet/env.d/nvshmem.sh")
    assert script.exists and script.mode == 0o644
    cmd = host.run("bash -c '. /etc/gpufleet/env.d/nvshmem.sh && ls \"$NVSHMEM_DIR/lib/libnvshmem_host.so.3\" "
                   "&& echo \"$LD_LIBRARY_PATH\"'")
    assert cmd.rc == 0, cmd.stderr
    assert "/nvidia/nvshmem/lib" in cmd.stdout


def test_nvshmem_came_from_the_wheelhouse(host):
    """Converge installed it with PIP_NO_INDEX: the shipped wheelhouse was the only source."""
    (wheel,) = host.file("/srv/wheelhouse").listdir()
    assert wheel.startswith("nvidia_nvshmem_cu%s-%s-" % (CUDA_MAJOR, PROFILE["nvshmem"])) and wheel.endswith(".whl")
    assert dist_version(host, "nvidia-nvshmem-cu%s" % CUDA_MAJOR) == PROFILE["nvshmem"]


def test_no_torch_was_pulled(host):
    assert host.run("%s -m pip show torch" % PY).rc != 0
