# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the cuda_toolkit scenario proves: the toolkit and the NVIDIA libraries of the profile (testinfra)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex

import pytest

PROFILES_PY = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "plugins", "module_utils", "_profiles.py")
VENV = "/opt/sglang/venv"
REPO = "http://gpufleet-cuda-fixtures:8000/compute/cuda/repos/debian12/x86_64/"
LIBRARIES = ("libnccl.so.2", "libcudnn.so.9", "libcusparseLt.so.0")


def _profiles():
    spec = importlib.util.spec_from_file_location("_profiles", PROFILES_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PROFILES


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def profile(hostvars):
    return _profiles()[hostvars.get("sglang_release_profile", "0.5.23")]


def login(host, script):
    """Run script in a login shell (which reads /etc/profile.d), failing the test on a non-zero exit."""
    return host.check_output("bash -lc %s" % shlex.quote(script))


def release(nvcc_output):
    return re.search(r"Cuda compilation tools, release ([0-9]+\.[0-9]+), V", nvcc_output).group(1)


def groups(hostvars):
    return hostvars.get("group_names", [])


def test_nvcc_is_the_profiles_cuda_in_a_login_shell(host, hostvars, profile):
    if "cuda_nodes" not in groups(hostvars):
        pytest.skip("the fixture server")
    assert release(login(host, "nvcc --version")) == profile["cuda"]
    assert release(login(host, '"$CUDA_HOME/bin/nvcc" --version')) == profile["cuda"]


def test_apt_installs_from_nvidias_repository_layout(host, hostvars, profile):
    if "cuda_nodes" not in groups(hostvars) or hostvars.get("cuda_toolkit_method", "apt") != "apt":
        pytest.skip("not the apt method")
    assert host.package("cuda-keyring").is_installed
    assert host.package("cuda-toolkit-%s" % profile["cuda"].replace(".", "-")).is_installed
    assert host.file("/usr/share/keyrings/cuda-archive-keyring.gpg").is_file
    sources = host.file("/etc/apt/sources.list.d/cuda-debian12-x86_64.list").content_string
    assert "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] %s /" % REPO in sources
    home = "/usr/local/cuda-%s" % profile["cuda"]
    env = host.file("/etc/profile.d/cuda-toolkit.sh")
    assert (env.user, env.mode) == ("root", 0o644)
    assert login(host, 'echo "$CUDA_HOME"').strip() == home
    assert home + "/lib64" in login(host, 'echo "$LD_LIBRARY_PATH"').split(":")


def test_pip_gives_a_usable_cuda_home(host, hostvars, profile):
    if hostvars.get("cuda_toolkit_method") != "pip":
        pytest.skip("not the pip method")
    home = login(host, 'echo "$CUDA_HOME"').strip()
    major = profile["cuda"].split(".")[0]
    assert re.fullmatch(r"/opt/cuda-toolkit/venv/lib/python3\.[0-9]+/site-packages/nvidia/cu%s" % major, home), home
    assert host.file(home + "/lib/libcudart.so.%s" % major).exists
    assert home + "/lib" in login(host, 'echo "$LD_LIBRARY_PATH"').split(":")


def _installed(host, package):
    return host.check_output(
        "%s/bin/python -c %s" % (VENV, json.dumps(
            "import importlib.metadata as m; print(m.version(%r))" % package)))


def test_nvidia_libs_are_at_the_profiles_pins(host, hostvars, profile):
    if "cuda_libs" not in groups(hostvars):
        pytest.skip("no nvidia_libs here")
    major = profile["cuda"].split(".")[0]
    for name in ("nccl", "cudnn", "cusparselt"):
        version = _installed(host, "nvidia-%s-cu%s" % (name, major))
        if profile[name] is not None:
            assert version == profile[name], name


def test_the_libraries_load_through_the_environment_script(host, hostvars):
    if "cuda_libs" not in groups(hostvars):
        pytest.skip("no nvidia_libs here")
    script = host.file(VENV + "/bin/nvidia-libs-env.sh")
    assert (script.user, script.mode) == ("root", 0o644)
    env_file = host.file(VENV + "/nvidia-libs.env").content_string
    dirs = [line.split("=", 1)[1] for line in env_file.splitlines() if line.startswith("LD_LIBRARY_PATH=")][0]
    for library in LIBRARIES:
        assert any(host.file("%s/%s" % (d, library)).exists for d in dirs.split(":")), library
    # By name, not by path: only LD_LIBRARY_PATH from the script finds them (no GPU or driver needed).
    for library in LIBRARIES:
        login(host, ". %s/bin/nvidia-libs-env.sh && %s/bin/python -c %s" % (
            VENV, VENV, json.dumps("import ctypes; ctypes.CDLL(%r)" % library)))


def test_nvshmem_is_the_ibgda_build_kept_on_the_controller(host, hostvars):
    if "cuda_nvshmem" not in groups(hostvars):
        pytest.skip("no NVSHMEM source build here")
    # The stand-in's nvshmem-info prints its version and the switches and architectures it was built with.
    info = host.check_output("bash -c %s" % shlex.quote(". /etc/gpufleet/env.d/nvshmem.sh && nvshmem-info"))
    assert info.startswith("NVSHMEM v3.4.5 "), info
    for setting in ("NVSHMEM_IBGDA_SUPPORT=1", "NVSHMEM_USE_GDRCOPY=1", "NVSHMEM_MPI_SUPPORT=0",
                    "CMAKE_CUDA_ARCHITECTURES=80;89;90;100;120"):
        assert setting in info.split(), setting
    key = host.file(hostvars["nvshmem_install_dir"] + "/.gpufleet-nvshmem-key").content_string.strip()
    kept = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "artifacts", "nvshmem", key)
    assert sorted(os.listdir(kept)) == ["nvshmem.ok", "nvshmem.tar.gz"]
