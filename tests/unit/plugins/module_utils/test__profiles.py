# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _preflight
from ansible_collections.gpufleet.sglang.plugins.module_utils._gpu import parse_compute_cap, version_tuple
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import DEFAULT_PROFILE, PROFILE_KEYS, PROFILES

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "pypi" / "sglang-0.5.23-requires.txt"
VERSION_KEYS = ("sglang", "cuda", "sgl_kernel", "torch", "flashinfer", "nccl", "cudnn", "cusparselt", "nvshmem",
                "gdrcopy", "sgl_deep_ep", "mooncake", "nixl", "router", "driver_floor")
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?$")


def _requires() -> dict:
    pins = {}
    for line in FIXTURE.read_text().splitlines():
        match = re.match(r"^Requires-Dist: ([A-Za-z0-9_.-]+)(\[[^\]]*\])?(==|>=)([^;\s]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = (match.group(3), match.group(4))
    return pins


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_has_every_key(name: str) -> None:
    assert set(PROFILES[name]) == set(PROFILE_KEYS)
    assert PROFILES[name]["sglang"] == name


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_versions_parse(name: str) -> None:
    prof = PROFILES[name]
    for key in VERSION_KEYS:
        value = prof[key]
        assert value is None or (isinstance(value, str) and PEP440.match(value)), (key, value)
    assert version_tuple(prof["driver_floor"]) is not None
    assert prof["deepep_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prof["deepep_commit"])
    assert prof["cuda_archs"] is None or all(parse_compute_cap(cap) for cap in prof["cuda_archs"])
    assert prof["sgl_kernel_package"] in ("sgl-kernel", "sglang-kernel")
    assert prof["router_package"] in ("sglang-router", "smg")
    assert isinstance(prof["attn_dp_size_flag"], bool)
    assert isinstance(prof["pd_sliced_kv_any_tp"], bool)


def _release(name: str) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", name.split(".post")[0]))


def test_default_profile_is_the_newest() -> None:
    assert DEFAULT_PROFILE in PROFILES
    assert max(PROFILES, key=_release) == DEFAULT_PROFILE


def test_driver_floor_increases_with_cuda() -> None:
    by_cuda = sorted(PROFILES.values(), key=lambda p: version_tuple(p["cuda"]))
    for lower, higher in zip(by_cuda, by_cuda[1:]):
        floors = version_tuple(lower["driver_floor"]), version_tuple(higher["driver_floor"])
        if lower["cuda"] == higher["cuda"]:
            assert floors[0] == floors[1]
        else:
            assert floors[0] < floors[1]


def test_newest_profile_matches_its_pypi_metadata() -> None:
    pins = _requires()
    prof = PROFILES["0.5.23"]
    assert pins["torch"] == ("==", prof["torch"])
    assert pins[prof["sgl_kernel_package"]] == ("==", prof["sgl_kernel"])
    assert pins["flashinfer-python"] == ("==", prof["flashinfer"])
    assert pins["sgl-deep-ep"] == ("==", prof["sgl_deep_ep"])
    assert pins["cuda-python"] == (">=", prof["cuda"])
    assert "sgl-kernel" not in pins
    assert "Version: 1.13.0" in FIXTURE.read_text() and prof["router"] == "1.13.0"


def _plan(release_profile: str | None) -> dict:
    inst = {"name": "w", "role": "worker", "gpu_ids": [0], "nodes": [{"host": "h"}]}
    if release_profile:
        inst["release_profile"] = release_profile
    return {"instances": [inst], "services": [
        {"host": "h", "kind": "worker", "instance": "w", "gpu_ids": [0], "unit": "sglang-w"}]}


def _gpu(driver: str, cap: str) -> dict:
    return {"nvidia_smi": "present", "driver_version": driver, "msg": "1 GPU",
            "gpus": [{"index": 0, "name": "NVIDIA H100", "driver_version": driver, "compute_cap": cap,
                      "persistence_mode": "Enabled"}]}


def _gpu_checks(report: dict) -> dict:
    return {r["check"]: r["status"] for r in report["checks"] if r["check"] in ("driver_version", "compute_cap")}


def test_preflight_takes_the_profile_driver_floor() -> None:
    report = _preflight.build_report(_plan("0.5.23"), {"h": {"gpu": _gpu("570.195.03", "9.0")}})
    assert _gpu_checks(report)["driver_version"] == "fail"
    assert "580.65.06" in [r for r in report["checks"] if r["check"] == "driver_version"][0]["needed"]
    report = _preflight.build_report(_plan("0.5.8"), {"h": {"gpu": _gpu("570.195.03", "9.0")}})
    assert _gpu_checks(report)["driver_version"] == "ok"
    # sglang_preflight_driver_floor wins over the profile's.
    report = _preflight.build_report(_plan("0.5.23"), {"h": {"gpu": _gpu("570.195.03", "9.0")}}, driver_floor="570.26")
    assert _gpu_checks(report)["driver_version"] == "ok"
    # No release_profile in the plan: no floor, as before.
    report = _preflight.build_report(_plan(None), {"h": {"gpu": _gpu("470.1", "9.0")}})
    assert "driver_version" not in _gpu_checks(report)


def test_preflight_takes_the_profile_cuda_archs() -> None:
    report = _preflight.build_report(_plan("0.5.8"), {"h": {"gpu": _gpu("575.57.08", "12.0")}})
    assert any(r["check"].startswith("compute_cap") and r["status"] == "fail" for r in report["checks"])
    # sm_80 cubins run on Ada (8.9): binary compatible within the 8.x family.
    report = _preflight.build_report(_plan("0.5.8"), {"h": {"gpu": _gpu("575.57.08", "8.9")}})
    assert not [r for r in report["failures"] if r["check"].startswith("compute_cap")]
    report = _preflight.build_report(_plan("0.5.8"), {"h": {"gpu": _gpu("575.57.08", "9.0")}})
    assert not [r for r in report["failures"] if r["check"] in ("driver_version",) or r["check"].startswith("compute_cap")]
    assert _preflight.profile_requirements(_plan("0.5.23"), _plan("0.5.23")["services"]) == {
        "driver_floor": "580.65.06", "cuda_archs": ["8.0", "8.9", "9.0", "10.0", "12.0"]}
