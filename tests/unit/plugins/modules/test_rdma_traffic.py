# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

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
    rc, after = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(root), baseline=before["counters"],
                                          devices=["mlx5_0:1,mlx5_1"], _ansible_check_mode=True)
    assert rc == 0
    assert after["traffic"] == {"mlx5_0/1": {"xmit_bytes": 400, "rcv_bytes": 0}}
    assert after["moved_bytes"] == 400
    assert rdma_verdict({"p": after}, {"d": after})["status"] == "ok"


def test_no_rdma_is_not_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(tmp_path))
    assert rc == 0 and result["counters"] == {} and result["ports"] == []
    assert rdma_verdict({"p": result}, {"d": result})["status"] == "skipped"


def test_bad_device_spec_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = module_harness.run_module(rdma_traffic, capsys, sysfs_root=str(COUNTERS), devices=["mlx5_0:x"])
    assert rc == 1 and "devices: " in result["msg"]


def test_argument_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = module_harness.argument_spec_of(rdma_traffic, monkeypatch)
    assert set(spec) == {"devices", "sysfs_root", "baseline"}
