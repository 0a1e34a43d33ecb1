# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _rdma

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
COUNTERS = FIXTURES / "sysfs" / "ib_counters" / "class" / "infiniband"


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """A writable copy of the ib_counters tree, whose counters a test moves."""
    root = tmp_path / "infiniband"
    shutil.copytree(COUNTERS, root)
    return root


def bump(root: Path, device: str, xmit_units: int, rcv_units: int) -> None:
    counters = root / device / "ports" / "1" / "counters"
    for name, units in (("port_xmit_data", xmit_units), ("port_rcv_data", rcv_units)):
        path = counters / name
        path.write_text("%d\n" % (int(path.read_text()) + units))


def test_reads_counters_in_bytes_and_skips_ports_without_them() -> None:
    assert _rdma.read_counters(str(COUNTERS)) == {
        "mlx5_0/1": {"state": "ACTIVE", "xmit_bytes": 4000, "rcv_bytes": 1000},
    }


@pytest.mark.parametrize("devices, expected", [
    (["auto"], ["mlx5_0/1"]),
    (["mlx5_0"], ["mlx5_0/1"]),
    (["mlx5_0:1"], ["mlx5_0/1"]),
    (["mlx5_0:2"], []),
    (["mlx5_1"], []),  # no counters on that HCA
    (["mlx5_9"], []),
])
def test_device_selection(devices: list[str], expected: list[str]) -> None:
    assert sorted(_rdma.read_counters(str(COUNTERS), devices)) == expected


def test_no_rdma_devices(tmp_path: Path) -> None:
    assert _rdma.read_counters(str(tmp_path / "absent")) == {}


def test_traffic_between_two_readings(sysfs: Path) -> None:
    before = _rdma.read_counters(str(sysfs))
    bump(sysfs, "mlx5_0", 1024, 16)
    deltas = _rdma.traffic(before, _rdma.read_counters(str(sysfs)))
    assert deltas == {"mlx5_0/1": {"xmit_bytes": 4096, "rcv_bytes": 64}}
    assert _rdma.moved_bytes(deltas) == 4160


def test_counter_reset_counts_its_new_value() -> None:
    before = {"mlx5_0/1": {"xmit_bytes": 9000, "rcv_bytes": 100}}
    after = {"mlx5_0/1": {"xmit_bytes": 40, "rcv_bytes": 100}}
    assert _rdma.traffic(before, after) == {"mlx5_0/1": {"xmit_bytes": 40, "rcv_bytes": 0}}


def test_ports_missing_from_one_reading_are_ignored() -> None:
    assert _rdma.traffic({"a/1": {"xmit_bytes": 1, "rcv_bytes": 1}}, {"b/1": {"xmit_bytes": 5, "rcv_bytes": 5}}) == {}


def node(moved: int | None, direction: str = "both") -> dict:
    """An rdma_traffic result: no ports (None), or one port that sent and received that many bytes."""
    if moved is None:
        return {"ports": [], "traffic": {}}
    sent = moved if direction in ("both", "xmit") else 0
    received = moved if direction in ("both", "rcv") else 0
    return {"ports": ["mlx5_0/1"], "traffic": {"mlx5_0/1": {"xmit_bytes": sent, "rcv_bytes": received}}}


def test_moved_bytes_by_direction() -> None:
    deltas = {"mlx5_0/1": {"xmit_bytes": 10, "rcv_bytes": 3}, "mlx5_1/1": {"xmit_bytes": 5, "rcv_bytes": 1}}
    assert (_rdma.moved_bytes(deltas), _rdma.moved_bytes(deltas, "xmit_bytes"), _rdma.moved_bytes(deltas, "rcv_bytes")) == (
        19, 15, 4)


def test_verdict_ok_when_the_prefills_sent_and_the_decodes_received() -> None:
    result = _rdma.verdict({"p0": node(8192), "p1": node(0)}, {"d0": node(4096)})
    assert result["status"] == "ok" and result["ok"]
    assert result["moved"] == {"p0": 8192, "p1": 0, "d0": 4096}


@pytest.mark.parametrize("prefill, decode, quiet", [
    ({"p0": node(0)}, {"d0": node(0)}, "prefill and decode workers"),
    ({"p0": node(0)}, {"d0": node(512)}, "prefill workers"),
    ({"p0": node(512)}, {"d0": node(0), "d1": node(0)}, "decode workers"),
    # Traffic the wrong way proves nothing: a prefill that only received, a decode that only sent.
    ({"p0": node(512, "rcv")}, {"d0": node(512, "xmit")}, "prefill and decode workers"),
])
def test_verdict_fails_naming_the_quiet_side(prefill: dict, decode: dict, quiet: str) -> None:
    result = _rdma.verdict(prefill, decode)
    assert result["status"] == "failed" and not result["ok"]
    assert result["msg"].startswith("KV transfer fell back to TCP: the RDMA ports mapped to the %s " % quiet)
    assert "nvidia_peermem" in result["msg"] and "sglang_ib_device" in result["msg"]


def test_verdict_threshold() -> None:
    assert _rdma.verdict({"p0": node(100)}, {"d0": node(100)}, min_bytes=101)["status"] == "failed"
    assert _rdma.verdict({"p0": node(101)}, {"d0": node(101)}, min_bytes=101)["status"] == "ok"


def test_verdict_in_proportion_to_the_kv_cache() -> None:
    """Some bytes are not enough: the sides must move the request's KV cache (here 20 tokens of 128 KiB)."""
    kv = 20 * 131072
    few = _rdma.verdict({"p0": node(4096)}, {"d0": node(4096)}, kv_bytes=kv, kv_fraction=0.9)
    assert few["status"] == "failed" and few["required"] == 2359296
    assert "2359296 byte(s): 0.9 of the 2621440 bytes of KV cache the request carried" in few["msg"]
    assert "prefill nodes sent 4096 bytes (p0 4096)" in few["msg"]
    # Spread over the nodes of each side (a multi-node instance, several pairs), the totals count.
    split = _rdma.verdict({"p0": node(kv // 2), "p1": node(kv // 2)}, {"d0": node(kv)}, kv_bytes=kv, kv_fraction=0.9)
    assert split["status"] == "ok" and split["required"] == 2359296
    # Unknown KV size: min_bytes alone.
    assert _rdma.verdict({"p0": node(1)}, {"d0": node(1)}, kv_bytes=None, kv_fraction=0.9)["required"] == 1
    assert _rdma.required_bytes(10**9, kv, 0.9) == 10**9


@pytest.mark.parametrize("prefill, decode, named", [
    ({"p0": node(None)}, {"d0": node(None)}, "prefill nodes p0, decode nodes d0"),
    ({"p0": node(5)}, {"d0": node(None)}, "decode nodes d0"),
    ({}, {}, "any node"),
])
def test_verdict_skipped_without_rdma(prefill: dict, decode: dict, named: str) -> None:
    result = _rdma.verdict(prefill, decode)
    assert result["status"] == "skipped" and result["ok"]
    assert named in result["msg"]
