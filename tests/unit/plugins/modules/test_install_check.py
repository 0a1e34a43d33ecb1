# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""install_check end to end, with a venv whose python answers the probes from a captured dump."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import install_check
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES

NEW = PROFILES["0.5.23"]
HEALTHY = {
    "sglang": NEW["sglang"], "sglang-kernel": NEW["sgl_kernel"], "torch": NEW["torch"], "flashinfer-python": NEW["flashinfer"],
    "nvidia-nccl-cu13": NEW["nccl"], "nvidia-cudnn-cu13": NEW["cudnn"], "nvidia-cusparselt-cu13": NEW["cusparselt"],
}
ABI = "ImportError: .../sgl_kernel/sm100/common_ops.abi3.so: undefined symbol: _ZN3c104cuda29c10_cuda_check_implementationEiPKcS2_ib"


def fake_venv(tmp_path: Path, packages: dict, failing: dict | None = None) -> str:
    """A venv whose bin/python prints the metadata dump, and an import outcome per module (argv: -c SCRIPT MODE [NAME])."""
    failing = failing or {}
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "dump.json").write_text(json.dumps({"python": "3.11.2", "packages": packages}))
    lines = ["#!/bin/sh", 'if [ "$3" = --metadata ]; then cat "%s"; exit 0; fi' % (venv / "dump.json"), 'case "$4" in']
    for module, error in failing.items():
        lines.append("  %s) echo %s ;;" % (module, json.dumps(json.dumps({"ok": False, "version": "", "error": error}))))
    lines += ['  *) echo \'{"ok": true, "version": "", "error": ""}\' ;;', "esac"]
    python = venv / "bin" / "python"
    python.write_text("\n".join(lines) + "\n")
    python.chmod(0o755)
    return str(venv)


def run_module(capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    return module_harness.run_module(install_check, capsys, **args)


def test_healthy_venv_passes(tmp_path, capsys):
    rc, result = run_module(capsys, venv=fake_venv(tmp_path, HEALTHY))
    assert rc == 0 and result["changed"] is False
    assert result["error_count"] == 0 and result["python"] == "3.11.2"
    assert set(result["imports"]) == {"torch", "sgl_kernel", "flashinfer", "sglang"}


def test_abi_mismatch_fails_with_the_fix(tmp_path, capsys):
    rc, result = run_module(capsys, venv=fake_venv(tmp_path, HEALTHY, {"sgl_kernel": ABI}))
    assert rc == 1 and result["failed"] is True
    assert "ERROR sgl_kernel_abi" in result["msg"] and "--force-reinstall --no-deps sglang-kernel==0.4.10" in result["msg"]


def test_findings_without_failing(tmp_path, capsys):
    packages = dict(HEALTHY, **{"nvidia-nccl-cu13": "2.28.3"})
    rc, result = run_module(capsys, venv=fake_venv(tmp_path, packages), fail_on_error=False, transfer_backend="mooncake",
                            pd=True, env={"SGL_ENABLE_JIT_DEEPGEMM": "1"})
    assert rc == 0
    assert [(f["check"], f["severity"]) for f in result["findings"]] == [
        ("nccl_version", "error"), ("transfer_backend:mooncake", "error"), ("env:SGL_ENABLE_JIT_DEEPGEMM", "warning")]


def test_profile_as_the_filters_dict(tmp_path, capsys):
    old = PROFILES["0.5.8"]
    packages = {"sglang": "0.5.8", "sgl-kernel": "0.3.21", "torch": "2.9.1+cu129", "flashinfer-python": "0.6.1",
                "nvidia-nccl-cu12": "2.28.3", "nvidia-cudnn-cu12": "9.16.0.29", "nvidia-cusparselt-cu12": "0.7.1"}
    rc, result = run_module(capsys, venv=fake_venv(tmp_path, packages), profile=dict(old))
    assert rc == 0, result["msg"]


def test_unknown_profile_names_the_known_ones(tmp_path, capsys):
    rc, result = run_module(capsys, venv=fake_venv(tmp_path, HEALTHY), profile="0.4.0")
    assert rc == 1 and "0.5.23" in result["msg"]


def test_no_venv(tmp_path, capsys):
    rc, result = run_module(capsys, venv=str(tmp_path / "nowhere"))
    assert rc == 1 and "holds no virtual environment" in result["msg"]


def test_probe_that_crashes_is_reported(tmp_path, capsys):
    venv = fake_venv(tmp_path, HEALTHY)
    python = Path(venv) / "bin" / "python"
    python.write_text(python.read_text().replace('case "$4" in', 'if [ "$4" = sglang ]; then echo "Segmentation fault" >&2; exit 139; fi\ncase "$4" in'))
    rc, result = run_module(capsys, venv=venv, fail_on_error=False)
    assert result["imports"]["sglang"]["ok"] is False
    assert "exited 139: Segmentation fault" in result["imports"]["sglang"]["error"]


def test_documented_options_match_the_argument_spec(monkeypatch):
    spec = module_harness.argument_spec_of(install_check, monkeypatch)
    documented = yaml.safe_load(install_check.DOCUMENTATION)["options"]
    assert set(spec) == set(documented)
    for name, option in spec.items():
        assert option.get("default") == documented[name].get("default"), name
