# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the sglang_full scenario proves: the sglang[all] stack of profile 0.5.23 as the profile pins it (testinfra)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# The version matrix itself, from this checkout (the expected values are never copied here).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / ".cache" / "collections"))
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES  # noqa: E402

testinfra_hosts = ["gpufleet-full-0"]

VENV = "/opt/sglang/venv"
PYTHON = VENV + "/bin/python"
PROFILE = PROFILES["0.5.23"]


def run_python(host, code: str, env: str = "") -> str:
    result = host.run("%s%s -c %s" % (env, PYTHON, json.dumps(code)))
    assert result.rc == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def versions(host) -> dict:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    return json.loads(run_python(host, code))


@pytest.mark.parametrize("package, key", [
    ("sglang", "sglang"),
    ("sglang-kernel", "sgl_kernel"),
    ("torch", "torch"),
    ("flashinfer-python", "flashinfer"),
    ("nvidia-nccl-cu13", "nccl"),
    ("nvidia-cudnn-cu13", "cudnn"),
    ("nvidia-cusparselt-cu13", "cusparselt"),
    ("nvidia-nvshmem-cu13", "nvshmem"),
    ("sgl-deep-ep", "sgl_deep_ep"),
    ("mooncake-transfer-engine-cuda13", "mooncake"),
    ("nixl-cu13", "nixl"),
])
def test_versions_equal_the_profile(versions, package, key):
    assert versions.get(package, "").split("+")[0] == PROFILE[key]


def test_sglang_imports_without_a_gpu(host):
    assert run_python(host, "import sglang; print(sglang.__version__)").strip() == PROFILE["sglang"]


def test_sglang_parser_builds_and_parses(host):
    code = (
        "import argparse; from sglang.srt.server_args import ServerArgs; p = argparse.ArgumentParser(); "
        "ServerArgs.add_cli_args(p); a = p.parse_args(['--model-path', 'Qwen/Qwen2.5-7B-Instruct', '--tp-size', '4', "
        "'--disaggregation-mode', 'prefill', '--disaggregation-transfer-backend', 'nixl']); "
        "print(a.tp_size, a.disaggregation_mode, a.disaggregation_transfer_backend)"
    )
    assert run_python(host, code).split() == ["4", "prefill", "nixl"]


def test_environment_script_exposes_the_nvidia_libraries(host):
    script = host.file(VENV + "/bin/sglang-env.sh")
    assert script.exists and script.mode == 0o644
    code = "import ctypes; ctypes.CDLL('libcudnn.so.9'); ctypes.CDLL('libcusparseLt.so.0'); ctypes.CDLL('libnccl.so.2'); print('ok')"
    assert run_python(host, code, env=". %s/bin/sglang-env.sh && " % VENV).strip() == "ok"


def test_install_check_reports_no_error(host):
    result = host.ansible("gpufleet.sglang.install_check", "venv=%s transfer_backend=nixl pd=true" % VENV, check=False)
    assert result.get("error_count") == 0, result.get("msg")
    assert all(row["ok"] for row in result["packages"].values() if row["ok"] is not None)


def test_deepep_built_from_source_imports_in_its_venv(host):
    """side_effect.yml: the stand-in DeepEP, built by nvcc against this venv's torch, installed from the kept wheel."""
    code = "import deep_ep, importlib.metadata as m; print(m.version('deep_ep'), deep_ep.Buffer.__name__)"
    result = host.run("/opt/deepep-source/venv/bin/python -c %s" % json.dumps(code))
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["1.2.1", "Buffer"]
