# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.filter.rdma_verdict import rdma_verdict
from ansible_collections.gpufleet.sglang.plugins.modules import rdma_traffic

COUNTERS = Path(__file__).resolve().parents[3] / "fixtures" / "sysfs" / "ib_counters" / "class" / "infiniband"


def test_reading_then_traffic_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "infiniband"
    shutil.copytree(COUNTERS, root)
    rc, before = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(root))
    assert rc == 0 and not before["changed"]
    assert before["ports"] == ["mlx5_0/1"] and before["traffic"] == {} and before["moved_bytes"] == 0

    (root / "mlx5_0" / "ports" / "1" / "counters" / "port_xmit_data").write_text("1100\n")
    (root / "mlx5_0" / "ports" / "1" / "counters" / "port_rcv_data").write_text("300\n")
    rc, after = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(root), baseline=before["counters"],
                                          devices=["mlx5_0:1,mlx5_1"], _ansible_check_mode=True)
    assert rc == 0
    assert after["traffic"] == {"mlx5_0/1": {"xmit_bytes": 400, "rcv_bytes": 200}}
    assert after["moved_bytes"] == 600
    assert rdma_verdict({"p": after}, {"d": after})["status"] == "ok"
    assert rdma_verdict({"p": after}, {"d": after}, kv_bytes=300)["status"] == "failed"  # the decode received 200


def test_the_workers_device_maps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sglang_ib_device auto: the ports of the devices in the workers' --disaggregation-ib-device files only."""
    first, second = tmp_path / "a.ib-devices.json", tmp_path / "b.ib-devices.json"
    first.write_text(json.dumps({"0": "mlx5_0", "1": "mlx5_0,mlx5_9"}))
    second.write_text(json.dumps({"2": ["mlx5_0:1"]}))
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS),
                                           ib_devices_files=[str(first), str(second)])
    assert rc == 0 and result["ports"] == ["mlx5_0/1"] and result["devices"] == ["mlx5_0", "mlx5_0:1", "mlx5_9"]
    second.write_text(json.dumps({"2": "mlx5_1"}))
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS), ib_devices_files=[str(second)])
    assert rc == 0 and result["ports"] == []  # mlx5_1 has no counters: the mapped device is what counts


@pytest.mark.parametrize("content", ["{", "[]", '{"0": 5}', '{"0": ""}'])
def test_a_bad_device_map_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS), ib_devices_files=[str(path)])
    assert rc == 1 and str(path) in result["msg"]


def test_a_missing_device_map_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS),
                                           ib_devices_files=[str(tmp_path / "absent.json")])
    assert rc == 1 and "absent.json" in result["msg"]


def test_no_rdma_is_not_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(tmp_path))
    assert rc == 0 and result["counters"] == {} and result["ports"] == []
    assert rdma_verdict({"p": result}, {"d": result})["status"] == "skipped"


def test_bad_device_spec_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS), devices=["mlx5_0:x"])
    assert rc == 1 and "devices: " in result["msg"]


def test_argument_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = module_harness.argument_spec_of(rdma_traffic, monkeypatch)
    assert set(spec) == {"devices", "ib_devices_files", "sysfs_root", "baseline"}
