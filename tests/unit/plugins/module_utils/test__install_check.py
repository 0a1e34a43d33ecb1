# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The install check's judgement on constructed metadata dumps: one test per common install failure."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _install_check as ic
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES

VENV = "/opt/sglang/venv"
PIP = VENV + "/bin/pip"
NEW = PROFILES["0.5.23"]
OLD = PROFILES["0.5.6.post2"]
ABI_ERROR = ("ImportError: /opt/sglang/venv/lib/python3.11/site-packages/sgl_kernel/sm100/common_ops.abi3.so: "
             "undefined symbol: _ZN3c104cuda29c10_cuda_check_implementationEiPKcS2_ib")


def healthy(profile: dict) -> dict:
    """The distributions of a venv installed exactly as the profile pins it (torch from the cu130 index)."""
    major = ic.cuda_major(profile)
    packages = {
        "sglang": profile["sglang"],
        profile["sgl_kernel_package"]: profile["sgl_kernel"],
        "torch": profile["torch"] + "+cu130",
        "flashinfer_python": profile["flashinfer"],  # the name as its METADATA spells it
        "nvidia-nccl-cu%s" % major: profile["nccl"],
        "nvidia-cudnn-cu%s" % major: profile["cudnn"],
        "nvidia-cusparselt-cu%s" % major: profile["cusparselt"] or "0.7.1",
        "numpy": "2.3.0",
    }
    return packages


IMPORTS_OK = {name: {"ok": True, "version": "", "error": ""} for name in ic.DEFAULT_IMPORTS}


def run(profile=None, packages=None, imports=None, **kwargs) -> dict:
    profile = profile or NEW
    return ic.judge(profile, VENV, healthy(profile) if packages is None else packages,
                    IMPORTS_OK if imports is None else imports, **kwargs)


def by_check(result: dict) -> dict:
    return {finding["check"]: finding for finding in result["findings"]}


def failing_import(module: str, error: str) -> dict:
    return dict(IMPORTS_OK, **{module: {"ok": False, "version": "", "error": error}})


def test_a_healthy_venv_has_no_finding():
    result = run()
    assert result["findings"] == [] and result["error_count"] == 0
    assert result["packages"]["torch"] == dict(name="torch", installed="2.14.1+cu130", expected="2.14.1", ok=True)
    assert result["packages"]["flashinfer-python"]["ok"] is True
    # Optional and absent: neither ok nor failed.
    assert result["packages"]["mooncake"]["ok"] is None and result["packages"]["nixl"]["ok"] is None
    assert ic.summary(result).startswith("install check passed: 7 packages")


def test_sgl_kernel_downgraded_by_sglang_is_reinstalled_after_it():
    # sglang 0.5.6.post2 pins sgl-kernel 0.3.19 and replaces the 0.3.21 installed before it.
    packages = dict(healthy(OLD), **{"sgl-kernel": "0.3.19"})
    finding = by_check(run(OLD, packages))["sgl_kernel_version"]
    assert finding["found"] == "sgl-kernel 0.3.19" and finding["expected"] == "sgl-kernel==0.3.21"
    assert finding["fix"] == "install sgl-kernel after SGLang: %s install --force-reinstall --no-deps sgl-kernel==0.3.21" % PIP


def test_the_renamed_kernel_is_found_under_either_name():
    packages = healthy(NEW)
    packages["sgl-kernel"] = packages.pop("sglang-kernel")
    assert run(NEW, packages)["packages"]["sglang-kernel"]["ok"] is True


def test_abi_mismatch_gives_the_order_of_reinstalls():
    result = run(imports=failing_import("sgl_kernel", ABI_ERROR), torch_index_url="https://download.pytorch.org/whl/cu130")
    finding = by_check(result)["sgl_kernel_abi"]
    assert finding["severity"] == "error" and "undefined symbol" in finding["found"]
    assert finding["fix"].endswith(
        "%s install --force-reinstall torch==2.14.1 --extra-index-url https://download.pytorch.org/whl/cu130; "
        "then %s install --force-reinstall --no-deps sglang-kernel==0.4.10; "
        "then %s install --force-reinstall --no-deps nvidia-nccl-cu13==2.30.7 nvidia-cudnn-cu13==9.24.0.43" % (PIP, PIP, PIP))


def test_torch_changed_by_flashinfer():
    packages = dict(healthy(NEW), torch="2.15.0")
    finding = by_check(run(NEW, packages))["torch_version"]
    assert finding["found"] == "torch 2.15.0" and finding["expected"] == "torch==2.14.1"
    assert "FlashInfer 0.7.2 pulls torch unpinned" in finding["fix"]
    assert "sglang-kernel==0.4.10" in finding["fix"]


def test_nccl_not_the_profiles():
    packages = dict(healthy(NEW), **{"nvidia-nccl-cu13": "2.28.3"})
    finding = by_check(run(NEW, packages))["nccl_version"]
    assert finding["fix"] == "NCCL errors or timeouts follow: %s install --force-reinstall --no-deps nvidia-nccl-cu13==2.30.7" % PIP


@pytest.mark.parametrize("library, check, wheel", [
    ("libcudnn.so.9", "libcudnn", "nvidia-cudnn-cu13==9.24.0.43"),
    ("libcusparseLt.so.0", "libcusparselt", "nvidia-cusparselt-cu13==0.8.1"),
])
def test_missing_shared_library_on_import(library, check, wheel):
    error = "ImportError: %s: cannot open shared object file: No such file or directory" % library
    finding = by_check(run(imports=failing_import("torch", error)))[check]
    assert library in finding["found"]
    assert wheel in finding["fix"] and "LD_LIBRARY_PATH" in finding["fix"]


@pytest.mark.parametrize("wheel, check", [("nvidia-cudnn-cu13", "libcudnn"), ("nvidia-cusparselt-cu13", "libcusparselt")])
def test_missing_library_wheel(wheel, check):
    packages = healthy(NEW)
    del packages[wheel]
    finding = by_check(run(NEW, packages))[check]
    assert finding["found"] == "%s is not installed" % wheel


def test_unpinned_cusparselt_missing_installs_the_newest():
    packages = healthy(OLD)
    del packages["nvidia-cusparselt-cu12"]
    finding = by_check(run(OLD, packages))["libcusparselt"]
    assert finding["fix"].startswith("libcusparseLt.so.0 is missing or not the profile's: %s install nvidia-cusparselt-cu12;" % PIP)


@pytest.mark.parametrize("backend, wheel, pin", [
    ("mooncake", "mooncake-transfer-engine-cuda13", "0.3.13.post1"),
    ("nixl", "nixl-cu13", "1.5.1"),
])
def test_transfer_backend_missing_in_pd_mode(backend, wheel, pin):
    finding = by_check(run(transfer_backend=backend, pd=True))["transfer_backend:%s" % backend]
    assert "%s install %s==%s" % (PIP, wheel, pin) in finding["fix"]
    # Not a PD host: the backend is not needed.
    assert run(transfer_backend=backend, pd=False)["findings"] == []
    # Installed: no finding, and its version is compared.
    packages = dict(healthy(NEW), **{wheel: pin})
    result = run(NEW, packages, transfer_backend=backend, pd=True)
    assert result["findings"] == [] and result["packages"][backend]["ok"] is True


def test_mooncake_of_cuda_12_has_the_plain_name():
    packages = dict(healthy(OLD), **{"mooncake-transfer-engine": "0.3.8.post1"})
    assert run(OLD, packages, transfer_backend="mooncake", pd=True)["findings"] == []


def test_deprecated_sgl_variable_warns_and_names_the_replacement():
    result = run(env={"SGL_DISABLE_TP_MEMORY_INBALANCE_CHECK": "1"})
    finding = by_check(result)["env:SGL_DISABLE_TP_MEMORY_INBALANCE_CHECK"]
    assert finding["severity"] == "warning" and result["error_count"] == 0
    assert finding["expected"] == "SGLANG_DISABLE_TP_MEMORY_INBALANCE_CHECK=1"


def test_deprecated_sgl_variable_that_overrides_its_replacement_is_an_error():
    result = run(env={"SGL_FOO": "1", "SGLANG_FOO": "0"})
    assert by_check(result)["env:SGL_FOO"]["severity"] == "error"


@pytest.mark.parametrize("value, errors", [("1024", 0), ("128", 0), ("2048", 1), ("0", 1), ("many", 1)])
def test_deepep_dispatch_tokens_limit(value, errors):
    result = run(env={"SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK": value})
    assert result["error_count"] == errors
    if errors:
        assert "SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK=1024 or less" in result["findings"][0]["fix"]


def test_a_missing_package_is_reported_once_not_also_as_its_import():
    packages = healthy(NEW)
    del packages["flashinfer_python"]
    result = run(NEW, packages, imports=failing_import("flashinfer", "ModuleNotFoundError: No module named 'flashinfer'"))
    assert [f["check"] for f in result["findings"]] == ["package:flashinfer-python"]


def test_kernel_import_without_a_driver_is_only_a_warning():
    # Seen in the sglang_full container: sglang-kernel 0.4.10 loads libcuda.so.1, which only the NVIDIA driver provides.
    error = ("ImportError: [sgl_kernel] CRITICAL: Could not load any common_ops library! ... - ImportError: libcuda.so.1: "
             "cannot open shared object file: No such file or directory")
    result = run(imports=failing_import("sgl_kernel", error))
    finding = by_check(result)["driver:sgl_kernel"]
    assert finding["severity"] == "warning" and result["error_count"] == 0
    assert finding["expected"] == "the NVIDIA driver (libcuda.so.1), 580.65.06 or newer"
    assert result["imports"]["sgl_kernel"]["ok"] is False


def test_any_other_failed_import():
    result = run(imports=failing_import("sglang", "RuntimeError: boom"))
    assert by_check(result)["import:sglang"]["found"] == "RuntimeError: boom"


def test_summary_lists_each_finding_with_its_fix():
    text = ic.summary(run(packages=dict(healthy(NEW), torch="2.15.0")))
    assert text.splitlines()[0] == "install check: 1 error(s), 0 warning(s)"
    assert text.splitlines()[1].startswith("ERROR torch_version: found torch 2.15.0; expected torch==2.14.1; fix: ")


def test_probe_script_runs_on_this_python():
    metadata = json.loads(subprocess.run([sys.executable, "-c", ic.PROBE_SCRIPT, "--metadata"], capture_output=True,
                                         text=True, check=True).stdout)
    assert "pytest" in {ic.normalize(name) for name in metadata["packages"]}
    ok = json.loads(subprocess.run([sys.executable, "-c", ic.PROBE_SCRIPT, "--import", "json"], capture_output=True,
                                   text=True, check=True).stdout)
    assert ok["ok"] is True
    missing = json.loads(subprocess.run([sys.executable, "-c", ic.PROBE_SCRIPT, "--import", "no_such_module_x"],
                                        capture_output=True, text=True, check=True).stdout)
    assert missing["ok"] is False and missing["error"].startswith("ModuleNotFoundError")
