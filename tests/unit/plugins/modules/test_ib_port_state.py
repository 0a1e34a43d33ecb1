# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import ib_port_state

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
DGX_IB = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_6", "mlx5_7"]


def sysfs(case: str) -> str:
    return str(FIXTURES / "sysfs" / case / "class" / "infiniband")


def run_module(capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    return module_harness.run_module(ib_port_state, capsys, **args)


@pytest.fixture
def fake_ibv_devinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put an ``ibv_devinfo`` first on PATH that prints the given text for ``-v`` and exits with rc."""

    def install(stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (tmp_path / "stdout").write_text(stdout, encoding="utf-8")
        (tmp_path / "stderr").write_text(stderr, encoding="utf-8")
        script = bin_dir / "ibv_devinfo"
        script.write_text(
            "#!/bin/sh\n"
            '[ "$*" = "-v" ] || { echo "fake ibv_devinfo: expected -v, got $*" >&2; exit 64; }\n'
            'cat "%s"; cat "%s" >&2; exit %d\n' % (tmp_path / "stdout", tmp_path / "stderr", rc),
            encoding="utf-8",
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])

    return install


def test_active_port_passes(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("ib_active"))
    assert rc == 0
    assert "failed" not in result
    assert result["changed"] is False
    assert result["source"] == "sysfs"
    assert result["active_devices"] == ["mlx5_0"]
    assert result["problems"] == []
    assert result["ports"] == [
        {
            "device": "mlx5_0",
            "port": 1,
            "state": "ACTIVE",
            "state_code": 4,
            "phys_state": "LinkUp",
            "phys_state_code": 5,
            "link_layer": "InfiniBand",
            "rate": "400 Gb/sec (4X NDR)",
            "rate_gbps": 400.0,
            "gid": "fe80:0000:0000:0000:a088:c203:005f:c296",
            "numa_node": 0,
            "pci_address": "0000:18:00.0",
            "source": "sysfs",
        }
    ]


def test_listed_devices_fail_naming_each_bad_one(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(
        capsys,
        sysfs_root=sysfs("multi_hca"),
        devices=["mlx5_0", "mlx5_5", "mlx5_9:1", "mlx5_bond_0"],
        link_layer="InfiniBand",
    )
    assert rc == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["active_devices"] == DGX_IB
    assert [problem["device"] for problem in result["problems"]] == ["mlx5_5", "mlx5_9:1", "mlx5_bond_0"]
    lines = result["msg"].split("\n")
    assert lines[0] == "RDMA devices not usable: mlx5_5, mlx5_9:1, mlx5_bond_0."
    assert lines[1].startswith(
        "mlx5_5: found port 1: state DOWN, phys_state Polling, link_layer InfiniBand; "
        "needed a port in state ACTIVE (link_layer InfiniBand); fix: no link partner"
    )
    assert lines[2].startswith("mlx5_9:1: found absent (devices present: mlx5_0, ")
    assert lines[3].startswith("mlx5_bond_0: found port 1: state ACTIVE, phys_state LinkUp, link_layer Ethernet; ")
    assert "LINK_TYPE_P1=1" in lines[3]
    assert len(lines) == 4


def test_devices_as_comma_separated_string(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("multi_hca"), devices="mlx5_0:1,mlx5_7:1")
    assert (rc, result["problems"]) == (0, [])


def test_auto_with_no_active_port_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("ib_init"))
    assert rc == 1
    assert result["active_devices"] == []
    assert result["msg"] == (
        "No RDMA port is in state ACTIVE (any link layer).\n"
        "mlx5_0: found port 1: state INIT, phys_state LinkUp, link_layer InfiniBand; "
        "needed a port in state ACTIVE (any link layer); fix: the link is up but no subnet manager has configured "
        "the port (it has no LID): run an SM on the fabric, e.g. `systemctl enable --now opensm` on one host, or "
        "enable the SM of the managed switch or UFM; `sminfo` shows whether an SM answers"
    )


def test_auto_on_roce_only_host_needing_infiniband_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("roce"), link_layer="InfiniBand")
    assert rc == 1
    assert result["msg"].split("\n")[0] == "No RDMA port is in state ACTIVE (link_layer InfiniBand)."
    assert result["problems"][0]["found"] == "port 1: state ACTIVE, phys_state LinkUp, link_layer Ethernet"


@pytest.mark.parametrize("case, rc", [("ib_active", 0), ("ib_down_polling", 1)])
def test_check_mode_reads_and_judges_the_same(capsys: pytest.CaptureFixture[str], case: str, rc: int) -> None:
    normal = run_module(capsys, sysfs_root=sysfs(case))
    checked = run_module(capsys, sysfs_root=sysfs(case), _ansible_check_mode=True)
    assert checked[0] == normal[0] == rc
    assert checked[1]["changed"] is False
    assert "skipped" not in checked[1]
    assert {key: checked[1][key] for key in ("ports", "active_devices", "problems", "source")} == {
        key: normal[1][key] for key in ("ports", "active_devices", "problems", "source")
    }


def test_falls_back_to_ibv_devinfo_without_sysfs(capsys: pytest.CaptureFixture[str], fake_ibv_devinfo) -> None:
    fake_ibv_devinfo((FIXTURES / "ibv_devinfo" / "mixed_v.txt").read_text(encoding="utf-8"))
    rc, result = run_module(capsys, sysfs_root=sysfs("no_ib"), devices=["mlx5_0", "mlx5_3:1"])
    assert rc == 0
    assert result["source"] == "ibv_devinfo"
    assert result["active_devices"] == ["mlx5_0", "mlx5_3"]
    assert [(p["device"], p["state"], p["phys_state"], p["rate_gbps"], p["source"]) for p in result["ports"]] == [
        ("mlx5_0", "ACTIVE", "LinkUp", 400.0, "ibv_devinfo"),
        ("mlx5_1", "DOWN", "Polling", 10.0, "ibv_devinfo"),
        ("mlx5_2", "INIT", "LinkUp", 400.0, "ibv_devinfo"),
        ("mlx5_3", "ACTIVE", "LinkUp", 100.0, "ibv_devinfo"),
    ]


def test_ibv_devinfo_fallback_reports_bad_devices(capsys: pytest.CaptureFixture[str], fake_ibv_devinfo) -> None:
    fake_ibv_devinfo((FIXTURES / "ibv_devinfo" / "mixed_v.txt").read_text(encoding="utf-8"))
    rc, result = run_module(capsys, sysfs_root=sysfs("no_ib"), devices=["mlx5_1", "mlx5_2"], link_layer="InfiniBand")
    assert rc == 1
    assert result["msg"].split("\n")[0] == "RDMA devices not usable: mlx5_1, mlx5_2."
    assert [p["found"] for p in result["problems"]] == [
        "port 1: state DOWN, phys_state Polling, link_layer InfiniBand",
        "port 1: state INIT, phys_state LinkUp, link_layer InfiniBand",
    ]


def test_ibv_devinfo_without_devices(capsys: pytest.CaptureFixture[str], fake_ibv_devinfo) -> None:
    fake_ibv_devinfo(stderr="No IB devices found\n", rc=255)
    missing_root = sysfs("no_ib")
    rc, result = run_module(capsys, sysfs_root=missing_root)
    assert rc == 1
    assert (result["source"], result["ports"], result["active_devices"]) == ("ibv_devinfo", [], [])
    assert result["msg"].split("\n")[0] == (
        "No RDMA port is in state ACTIVE (any link layer); "
        "%s holds no RDMA device and `ibv_devinfo -v` exited 255: No IB devices found." % missing_root
    )
    assert "`modprobe mlx5_ib`" in result["msg"]


def test_neither_sysfs_nor_ibv_devinfo(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ib_port_state.AnsibleModule, "get_bin_path", lambda self, name, *args, **kwargs: None)
    missing_root = sysfs("no_ib")
    rc, result = run_module(capsys, sysfs_root=missing_root, devices=["mlx5_0"])
    assert rc == 1
    assert (result["source"], result["ports"], result["active_devices"]) == ("none", [], [])
    assert result["problems"][0]["found"] == "no RDMA devices on this host"
    assert result["msg"].split("\n")[0] == (
        "RDMA devices not usable: mlx5_0; %s holds no RDMA device and ibv_devinfo is not installed." % missing_root
    )


def test_bad_device_list_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("ib_active"), devices=["auto", "mlx5_0"])
    assert rc == 1
    assert result["msg"] == "devices mixes auto with device names; give either [auto] or only names"
    assert result["changed"] is False


def test_unknown_required_state_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, sysfs_root=sysfs("ib_active"), required_state="UP")
    assert rc == 1
    assert result["msg"].startswith("value of required_state must be one of: DOWN, INIT, ARMED, ACTIVE, got: UP")


def test_documentation_matches_argument_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    argument_spec = module_harness.argument_spec_of(ib_port_state, monkeypatch)
    documented = yaml.safe_load(ib_port_state.DOCUMENTATION)["options"]
    assert sorted(documented) == sorted(argument_spec)
    for name, spec in argument_spec.items():
        doc = documented[name]
        assert (doc["type"], doc.get("default"), doc.get("choices"), doc.get("elements")) == (
            spec["type"],
            spec.get("default"),
            spec.get("choices"),
            spec.get("elements"),
        ), name
    yaml.safe_load(ib_port_state.EXAMPLES)
    returned = yaml.safe_load(ib_port_state.RETURN)
    assert sorted(returned) == ["active_devices", "ports", "problems", "source"]
    assert all({"description", "returned", "type", "sample"} <= set(entry) for entry in returned.values())
