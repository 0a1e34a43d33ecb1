# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import (
    describe_problems,
    evaluate_ports,
    parse_device_spec,
    parse_ibv_devinfo,
    parse_rate_gbps,
    read_sysfs_ports,
    ucx_net_devices,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
DGX_IB = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_6", "mlx5_7"]
NO_RDMA_FIX = (
    "no RDMA device is visible, so no RDMA driver is loaded or no RDMA NIC is installed: load the driver "
    "(`modprobe mlx5_ib`; `lspci | grep -i mellanox` shows whether a ConnectX NIC is present) or install "
    "rdma-core (`apt-get install rdma-core ibverbs-utils infiniband-diags`) or NVIDIA DOCA-OFED / MLNX_OFED"
)
POLLING_FIX = (
    "no link partner: the port is polling for a peer; check that the cable and transceiver are seated "
    "and supported and that the switch port is enabled and up (`mlxlink -d 0000:18:00.0 -p 1` shows why the link is down)"
)
NO_SM_FIX = (
    "the link is up but no subnet manager has configured the port (it has no LID): run an SM on the fabric, "
    "e.g. `systemctl enable --now opensm` on one host, or enable the SM of the managed switch or UFM; "
    "`sminfo` shows whether an SM answers"
)


def sysfs(case: str) -> str:
    return str(FIXTURES / "sysfs" / case / "class" / "infiniband")


def devinfo(name: str) -> str:
    return (FIXTURES / "ibv_devinfo" / name).read_text(encoding="utf-8")


def port(**overrides: Any) -> dict[str, Any]:
    """A sysfs port of a ConnectX-7 at 0000:18:00.0, ACTIVE on InfiniBand unless overridden."""
    base = {
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
    base.update(overrides)
    return base


# --- read_sysfs_ports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, expected",
    [
        ("ib_active", port()),
        (
            "ib_down_polling",
            port(state="DOWN", state_code=1, phys_state="Polling", phys_state_code=2, rate="10 Gb/sec (4X SDR)", rate_gbps=10.0),
        ),
        ("ib_init", port(state="INIT", state_code=2)),
        (
            "roce",
            port(
                link_layer="Ethernet",
                rate="100 Gb/sec (4X EDR)",
                rate_gbps=100.0,
                gid="fe80:0000:0000:0000:ba3f:d2ff:fe12:3456",
                pci_address="0000:31:00.0",
            ),
        ),
    ],
)
def test_read_sysfs_single_port_cases(case: str, expected: dict[str, Any]) -> None:
    assert read_sysfs_ports(sysfs(case)) == [expected]


def test_read_sysfs_multi_hca_orders_devices_naturally_with_numa_and_pci() -> None:
    ports = read_sysfs_ports(sysfs("multi_hca"))
    summary = [(p["device"], p["port"], p["state"], p["link_layer"], p["rate_gbps"], p["numa_node"], p["pci_address"]) for p in ports]
    assert summary == [
        ("mlx5_0", 1, "ACTIVE", "InfiniBand", 400.0, 0, "0000:18:00.0"),
        ("mlx5_1", 1, "ACTIVE", "InfiniBand", 400.0, 0, "0000:40:00.0"),
        ("mlx5_2", 1, "ACTIVE", "InfiniBand", 400.0, 0, "0000:4f:00.0"),
        ("mlx5_3", 1, "ACTIVE", "InfiniBand", 400.0, 0, "0000:5e:00.0"),
        ("mlx5_4", 1, "ACTIVE", "InfiniBand", 400.0, 1, "0000:9a:00.0"),
        ("mlx5_5", 1, "DOWN", "InfiniBand", 10.0, 1, "0000:c0:00.0"),
        ("mlx5_6", 1, "ACTIVE", "InfiniBand", 400.0, 1, "0000:ce:00.0"),
        ("mlx5_7", 1, "ACTIVE", "InfiniBand", 400.0, 1, "0000:dc:00.0"),
        ("mlx5_bond_0", 1, "ACTIVE", "Ethernet", 200.0, 1, "0000:aa:00.0"),
    ]
    assert ports[5]["phys_state"] == "Polling"
    assert ports[8]["gid"] == "fe80:0000:0000:0000:ba3f:d2ff:feaa:0000"


@pytest.mark.parametrize("case", ["no_ib", "does_not_exist"])
def test_read_sysfs_without_infiniband_dir_is_empty(case: str) -> None:
    assert read_sysfs_ports(sysfs(case)) == []


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def test_read_sysfs_follows_the_kernels_device_symlink(tmp_path: Path) -> None:
    # The kernel's layout: class/infiniband/<dev>/device -> the PCI function's directory.
    pci_dir = tmp_path / "devices" / "pci0000:3a" / "0000:3a:00.0" / "0000:3b:00.1"
    write(pci_dir / "numa_node", "-1")
    dev_dir = tmp_path / "class" / "infiniband" / "mlx5_1"
    write(dev_dir / "ports" / "1" / "state", "4: ACTIVE")
    (dev_dir / "device").symlink_to("../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1")

    [found] = read_sysfs_ports(str(tmp_path / "class" / "infiniband"))

    assert found["pci_address"] == "0000:3b:00.1"
    assert found["numa_node"] is None  # -1: the firmware reports no locality
    assert (found["phys_state"], found["link_layer"], found["rate"], found["rate_gbps"], found["gid"]) == (None,) * 5


def test_read_sysfs_skips_unset_gids_and_sorts_ports_numerically(tmp_path: Path) -> None:
    dev_dir = tmp_path / "mlx4_0"
    for number in ("1", "2", "10"):
        write(dev_dir / "ports" / number / "state", "1: DOWN")
    gids = dev_dir / "ports" / "2" / "gids"
    write(gids / "0", "0000:0000:0000:0000:0000:0000:0000:0000")
    write(gids / "1", "fe80:0000:0000:0000:0000:0000:0000:0000")  # subnet prefix only: unset
    write(gids / "2", "not a gid")
    write(gids / "10", "fe80:0000:0000:0000:e41d:2d03:0071:2c51")
    write(dev_dir / "device" / "uevent", "DRIVER=mlx4_core\nPCI_SLOT_NAME=0000:81:00.0")

    ports = read_sysfs_ports(str(tmp_path))

    assert [(p["port"], p["gid"], p["pci_address"], p["numa_node"]) for p in ports] == [
        (1, None, "0000:81:00.0", None),
        (2, "fe80:0000:0000:0000:e41d:2d03:0071:2c51", "0000:81:00.0", None),
        (10, None, "0000:81:00.0", None),
    ]


def test_read_sysfs_orders_mlx5_10_after_mlx5_2(tmp_path: Path) -> None:
    for name in ("mlx5_10", "mlx5_2", "mlx5_bond_0", "ibp26s0"):
        write(tmp_path / name / "ports" / "1" / "state", "4: ACTIVE")
    assert [p["device"] for p in read_sysfs_ports(str(tmp_path))] == ["ibp26s0", "mlx5_2", "mlx5_10", "mlx5_bond_0"]


def test_read_sysfs_ignores_entries_without_ports(tmp_path: Path) -> None:
    write(tmp_path / "mlx5_0" / "ports" / "1" / "state", "4: ACTIVE")
    write(tmp_path / "README", "not a device")
    (tmp_path / "half_removed").mkdir()
    assert [p["device"] for p in read_sysfs_ports(str(tmp_path))] == ["mlx5_0"]


@pytest.mark.parametrize(
    "rate, expected",
    [
        ("400 Gb/sec (4X NDR)", 400.0),
        ("2.5 Gb/sec (1X SDR)", 2.5),
        ("56 Gb/sec (4X FDR)", 56.0),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_parse_rate_gbps(rate: str | None, expected: float | None) -> None:
    assert parse_rate_gbps(rate) == expected


# --- parse_ibv_devinfo ------------------------------------------------------------------------------


def devinfo_port(**overrides: Any) -> dict[str, Any]:
    return port(numa_node=None, pci_address=None, source="ibv_devinfo", **overrides)


def test_parse_ibv_devinfo_verbose() -> None:
    assert parse_ibv_devinfo(devinfo("mixed_v.txt")) == [
        devinfo_port(),
        devinfo_port(
            device="mlx5_1",
            state="DOWN",
            state_code=1,
            phys_state="Polling",
            phys_state_code=2,
            rate="10 Gb/sec (4X SDR)",
            rate_gbps=10.0,
            gid="fe80:0000:0000:0000:a088:c203:005f:c2a6",
        ),
        devinfo_port(device="mlx5_2", state="INIT", state_code=2, gid="fe80:0000:0000:0000:a088:c203:005f:c2b6"),
        devinfo_port(
            device="mlx5_3",
            link_layer="Ethernet",
            rate="100 Gb/sec (4X EDR)",
            rate_gbps=100.0,
            gid="fe80:0000:0000:0000:ba3f:d2ff:fe12:3456",
        ),
    ]


@pytest.mark.parametrize("device, case", [("mlx5_0", "ib_active"), ("mlx5_1", "ib_down_polling"), ("mlx5_2", "ib_init"), ("mlx5_3", "roce")])
def test_ibv_devinfo_and_sysfs_describe_a_port_alike(device: str, case: str) -> None:
    compared = ("state", "state_code", "phys_state", "phys_state_code", "link_layer", "rate", "rate_gbps")
    [from_devinfo] = [p for p in parse_ibv_devinfo(devinfo("mixed_v.txt")) if p["device"] == device]
    [from_sysfs] = read_sysfs_ports(sysfs(case))
    assert {key: from_devinfo[key] for key in compared} == {key: from_sysfs[key] for key in compared}


def test_parse_ibv_devinfo_plain_leaves_verbose_fields_unset() -> None:
    unset = dict(phys_state=None, phys_state_code=None, rate=None, rate_gbps=None, gid=None)
    assert parse_ibv_devinfo(devinfo("plain.txt")) == [
        devinfo_port(device="mlx5_0", **unset),
        devinfo_port(device="mlx5_1", state="DOWN", state_code=1, **unset),
        devinfo_port(device="mlx5_bond_0", link_layer="Ethernet", **unset),
    ]


def test_parse_ibv_devinfo_two_ports_on_one_device() -> None:
    ports = parse_ibv_devinfo(devinfo("mlx4_vpi.txt"))
    assert [(p["device"], p["port"], p["state"], p["link_layer"]) for p in ports] == [
        ("mlx4_0", 1, "ACTIVE", "InfiniBand"),
        ("mlx4_0", 2, "DOWN", "Ethernet"),
    ]


def verbose_port_text(width: str, speed: str, link_layer: str = "InfiniBand", gids: tuple[str, ...] = ()) -> str:
    lines = [
        "hca_id:\tmlx5_9",
        "\ttransport:\t\t\tInfiniBand (0)",
        "\tphys_port_cnt:\t\t\t1",
        "\t\tport:\t1",
        "\t\t\tstate:\t\t\tPORT_ARMED (3)",
        "\t\t\tlink_layer:\t\t%s" % link_layer,
        "\t\t\tactive_width:\t\t%s" % width,
        "\t\t\tactive_speed:\t\t%s" % speed,
        "\t\t\tphys_state:\t\tLINK_ERROR_RECOVERY (6)",
    ]
    lines += ["\t\t\tGID[%3d]:\t\t%s" % (index, gid) for index, gid in enumerate(gids)]
    return "\n".join(lines) + "\n\n"


@pytest.mark.parametrize(
    "width, speed, rate, gbps",
    [
        ("4X (2)", "100.0 Gbps (128)", "400 Gb/sec (4X NDR)", 400.0),
        ("4X (2)", "50.0 Gbps (64)", "200 Gb/sec (4X HDR)", 200.0),
        ("4X (2)", "14.0 Gbps (16)", "56 Gb/sec (4X FDR)", 56.0),
        ("1X (1)", "2.5 Gbps (1)", "2.5 Gb/sec (1X SDR)", 2.5),
        ("2X (16)", "200.0 Gbps (256)", "400 Gb/sec (2X XDR)", 400.0),
        ("12X (8)", "25.0 Gbps (32)", "300 Gb/sec (12X EDR)", 300.0),
        # rdma-core before v39 had no name for NDR; the code still says what it is.
        ("4X (2)", "invalid speed (128)", "400 Gb/sec (4X NDR)", 400.0),
        ("invalid width (0)", "25.0 Gbps (32)", None, None),
        ("4X (2)", "invalid speed (0)", None, None),
    ],
)
def test_parse_ibv_devinfo_rate_from_width_and_speed_codes(width: str, speed: str, rate: str | None, gbps: float | None) -> None:
    [parsed] = parse_ibv_devinfo(verbose_port_text(width, speed))
    assert (parsed["rate"], parsed["rate_gbps"]) == (rate, gbps)
    assert (parsed["state"], parsed["state_code"], parsed["phys_state"], parsed["phys_state_code"]) == ("ARMED", 3, "LinkErrorRecovery", 6)


def test_parse_ibv_devinfo_roce_v2_only_gid_is_expanded() -> None:
    text = verbose_port_text("4X (2)", "25.0 Gbps (32)", "Ethernet", ("::ffff:192.168.1.10, RoCE v2",))
    assert parse_ibv_devinfo(text)[0]["gid"] == "0000:0000:0000:0000:0000:ffff:c0a8:010a"


def test_parse_ibv_devinfo_old_ofed_ib_link_layer() -> None:
    text = verbose_port_text("4X (2)", "25.0 Gbps (32)", "IB")
    assert parse_ibv_devinfo(text)[0]["link_layer"] == "InfiniBand"


@pytest.mark.parametrize("text", ["", "No IB devices found\n", "Failed to get IB devices list: Function not implemented\n"])
def test_parse_ibv_devinfo_without_devices(text: str) -> None:
    assert parse_ibv_devinfo(text) == []


@given(st.text())
def test_parse_ibv_devinfo_never_raises(text: str) -> None:
    for parsed in parse_ibv_devinfo(text):
        assert parsed["source"] == "ibv_devinfo"


# --- parse_device_spec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [("mlx5_0", ("mlx5_0", None)), ("mlx5_0:1", ("mlx5_0", 1)), (" mlx5_bond_0:1 ", ("mlx5_bond_0", 1)), ("mlx4_0:2", ("mlx4_0", 2))],
)
def test_parse_device_spec(spec: str, expected: tuple[str, int | None]) -> None:
    assert parse_device_spec(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mlx5_0:x", "device 'mlx5_0:x': the port after ':' must be a number from 1, as in mlx5_0:1"),
        ("mlx5_0:0", "device 'mlx5_0:0': the port after ':' must be a number from 1, as in mlx5_0:1"),
        (":1", "device ':1' has no name; give an RDMA device such as mlx5_0 or mlx5_0:1"),
        (" ", "device ' ' has no name; give an RDMA device such as mlx5_0 or mlx5_0:1"),
    ],
)
def test_parse_device_spec_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_device_spec(spec)
    assert str(error.value) == message


# --- evaluate_ports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, link_layer, active",
    [
        ("ib_active", "any", ["mlx5_0"]),
        ("ib_active", "InfiniBand", ["mlx5_0"]),
        ("roce", "Ethernet", ["mlx5_0"]),
        ("multi_hca", "any", DGX_IB + ["mlx5_bond_0"]),
        ("multi_hca", "InfiniBand", DGX_IB),
        ("multi_hca", "Ethernet", ["mlx5_bond_0"]),
    ],
)
def test_auto_passes_with_one_usable_port(case: str, link_layer: str, active: list[str]) -> None:
    assert evaluate_ports(read_sysfs_ports(sysfs(case)), ["auto"], link_layer=link_layer) == (active, [])


def test_auto_fails_naming_every_device_when_none_is_usable() -> None:
    assert evaluate_ports(read_sysfs_ports(sysfs("ib_down_polling")), ["auto"]) == (
        [],
        [
            {
                "device": "mlx5_0",
                "found": "port 1: state DOWN, phys_state Polling, link_layer InfiniBand",
                "needed": "a port in state ACTIVE (any link layer)",
                "fix": POLLING_FIX,
            }
        ],
    )


def test_auto_without_rdma_devices_names_the_driver() -> None:
    assert evaluate_ports([], ["auto"]) == (
        [],
        [{"device": "auto", "found": "no RDMA devices on this host", "needed": "a port in state ACTIVE (any link layer)", "fix": NO_RDMA_FIX}],
    )


def test_listed_devices_without_rdma_devices_are_each_reported() -> None:
    active, problems = evaluate_ports([], ["mlx5_0", "mlx5_1:1"], link_layer="InfiniBand")
    assert active == []
    assert [(p["device"], p["found"], p["needed"], p["fix"]) for p in problems] == [
        ("mlx5_0", "no RDMA devices on this host", "a port in state ACTIVE (link_layer InfiniBand)", NO_RDMA_FIX),
        ("mlx5_1:1", "no RDMA devices on this host", "port 1 in state ACTIVE (link_layer InfiniBand)", NO_RDMA_FIX),
    ]


def test_listed_devices_report_every_bad_one_in_order() -> None:
    ports = read_sysfs_ports(sysfs("multi_hca"))
    active, problems = evaluate_ports(
        ports, ["mlx5_0", "mlx5_5", "mlx5_9", "mlx5_bond_0", "mlx5_1:1", "mlx5_0:2", "mlx5_5"], link_layer="InfiniBand"
    )
    assert active == DGX_IB  # the host's usable devices, listed or not
    assert [p["device"] for p in problems] == ["mlx5_5", "mlx5_9", "mlx5_bond_0", "mlx5_0:2"]
    by_device = {p["device"]: p for p in problems}
    assert by_device["mlx5_5"] == {
        "device": "mlx5_5",
        "found": "port 1: state DOWN, phys_state Polling, link_layer InfiniBand",
        "needed": "a port in state ACTIVE (link_layer InfiniBand)",
        "fix": POLLING_FIX.replace("0000:18:00.0", "0000:c0:00.0"),
    }
    assert by_device["mlx5_9"] == {
        "device": "mlx5_9",
        "found": "absent (devices present: mlx5_0, mlx5_1, mlx5_2, mlx5_3, mlx5_4, mlx5_5, mlx5_6, mlx5_7, mlx5_bond_0)",
        "needed": "a port in state ACTIVE (link_layer InfiniBand)",
        "fix": "use a device name that exists (`ibv_devices` or `ls /sys/class/infiniband` lists them); mlx5_N names "
        "follow driver probe order and can shift when NICs are added, removed or bonded",
    }
    assert by_device["mlx5_bond_0"]["found"] == "port 1: state ACTIVE, phys_state LinkUp, link_layer Ethernet"
    assert by_device["mlx5_bond_0"]["fix"] == (
        "mlx5_bond_0 port 1 is a RoCE (Ethernet) port, not an InfiniBand port: use a device with an InfiniBand port, "
        "or set link_layer: Ethernet (or any) if that is intended; on a VPI adapter switch the port with "
        "`mlxconfig -d 0000:aa:00.0 set LINK_TYPE_P1=1` and reboot"
    )
    assert by_device["mlx5_0:2"] == {
        "device": "mlx5_0:2",
        "found": "absent: mlx5_0 has no port 2 (its ports: 1)",
        "needed": "port 2 in state ACTIVE (link_layer InfiniBand)",
        "fix": "use an existing port, e.g. mlx5_0:1; ConnectX-4 and newer expose one port per RDMA device, "
        "the adapter's second port is the next mlx5_N device",
    }


def test_listed_devices_pass_when_each_has_a_usable_port() -> None:
    ports = read_sysfs_ports(sysfs("multi_hca"))
    assert evaluate_ports(ports, ["mlx5_0:1", "mlx5_7", "mlx5_bond_0"]) == (DGX_IB + ["mlx5_bond_0"], [])


def test_device_port_spec_checks_only_that_port() -> None:
    ports = parse_ibv_devinfo(devinfo("mlx4_vpi.txt"))
    assert evaluate_ports(ports, ["mlx4_0:1"]) == (["mlx4_0"], [])
    assert evaluate_ports(ports, ["mlx4_0"]) == (["mlx4_0"], [])
    active, problems = evaluate_ports(ports, ["mlx4_0:2"])
    assert active == ["mlx4_0"]
    assert [(p["found"], p["needed"]) for p in problems] == [
        ("port 2: state DOWN, phys_state unknown, link_layer Ethernet", "port 2 in state ACTIVE (any link layer)")
    ]


def test_init_with_link_up_on_infiniband_means_no_subnet_manager() -> None:
    active, problems = evaluate_ports(read_sysfs_ports(sysfs("ib_init")), ["mlx5_0"])
    assert active == []
    assert [(p["found"], p["fix"]) for p in problems] == [("port 1: state INIT, phys_state LinkUp, link_layer InfiniBand", NO_SM_FIX)]


def test_infiniband_port_where_roce_is_needed() -> None:
    active, problems = evaluate_ports(read_sysfs_ports(sysfs("ib_active")), ["mlx5_0"], link_layer="Ethernet")
    assert active == []
    assert problems[0]["fix"] == (
        "mlx5_0 port 1 is an InfiniBand port, not a RoCE (Ethernet) port: use a device with a RoCE (Ethernet) port, "
        "or set link_layer: InfiniBand (or any) if that is intended; on a VPI adapter switch the port with "
        "`mlxconfig -d 0000:18:00.0 set LINK_TYPE_P1=2` and reboot"
    )


def test_link_type_names_the_adapter_port_of_the_second_pci_function() -> None:
    ports = [port(link_layer="Ethernet", pci_address="0000:18:00.1")]
    active, problems = evaluate_ports(ports, ["mlx5_0"], link_layer="InfiniBand")
    assert active == []
    assert "`mlxconfig -d 0000:18:00.1 set LINK_TYPE_P2=1`" in problems[0]["fix"]


def test_required_state_other_than_active() -> None:
    assert evaluate_ports(read_sysfs_ports(sysfs("ib_init")), ["mlx5_0"], required_state="INIT") == (["mlx5_0"], [])
    active, problems = evaluate_ports(read_sysfs_ports(sysfs("ib_active")), ["mlx5_0"], required_state="INIT")
    assert active == []
    assert problems[0]["needed"] == "a port in state INIT (any link layer)"
    assert problems[0]["fix"] == (
        "the port is already ACTIVE, past required_state INIT; set required_state to the state you expect (ACTIVE for serving)"
    )


@pytest.mark.parametrize(
    "overrides, fix",
    [
        (
            dict(state="DOWN", phys_state="Disabled", phys_state_code=3),
            "the port is administratively disabled: enable it with `ibportstate -C mlx5_0 -P 1 -D 0 1 enable` "
            "or `mlxlink -d 0000:18:00.0 -p 1 --port_state UP`",
        ),
        (
            dict(state="DOWN", phys_state="Sleep", phys_state_code=1, pci_address=None),
            "the port is administratively disabled: enable it with `ibportstate -C mlx5_0 -P 1 -D 0 1 enable` "
            "or `mlxlink -d mlx5_0 -p 1 --port_state UP`",
        ),
        (
            dict(state="DOWN", phys_state="Disabled", phys_state_code=3, link_layer="Ethernet"),
            "the port is administratively down: bring its netdev up with `ip link set <netdev> up` "
            "(`rdma link show mlx5_0/1` names the netdev)",
        ),
        (
            dict(state="DOWN", phys_state="PortConfigurationTraining", phys_state_code=4),
            "the link is training or recovering from errors: re-run in a few seconds; if it persists the cable or "
            "transceiver is marginal: check the error counters with `mlxlink -d 0000:18:00.0 -p 1 -c` and reseat or replace it",
        ),
        (
            dict(state="INIT", phys_state="LinkErrorRecovery", phys_state_code=6),
            "the link is training or recovering from errors: re-run in a few seconds; if it persists the cable or "
            "transceiver is marginal: check the error counters with `mlxlink -d 0000:18:00.0 -p 1 -c` and reseat or replace it",
        ),
        (
            dict(state="DOWN", phys_state="Phy Test", phys_state_code=7),
            "the port was left in PHY test mode by a diagnostic tool: toggle it with `mlxlink -d 0000:18:00.0 -p 1 --port_state TG`",
        ),
        (
            dict(state="ARMED"),
            "the subnet manager configured the port but has not activated it: wait for the next SM sweep; if it "
            "stays ARMED check the SM log (/var/log/opensm.log) and `sminfo`",
        ),
        (
            dict(state="INIT", phys_state=None, phys_state_code=None),
            NO_SM_FIX,
        ),
        (
            dict(state="DOWN", phys_state=None, phys_state_code=None, source="ibv_devinfo"),
            "the link is down: check that the cable and transceiver are seated and the switch port is up, and for "
            "RoCE that the netdev is up (`ip link`); `ibv_devinfo -v -d mlx5_0` or mlx5_0's sysfs phys_state tells which",
        ),
        (
            dict(state="INIT", link_layer="Ethernet"),
            "the port is INIT although the physical link is LinkUp: toggle it with `mlxlink -d 0000:18:00.0 -p 1 --port_state TG` "
            "and check `dmesg | grep mlx5` for driver errors",
        ),
        (
            dict(state=None, state_code=None),
            "the port is in an unknown state although the physical link is LinkUp: toggle it with "
            "`mlxlink -d 0000:18:00.0 -p 1 --port_state TG` and check `dmesg | grep mlx5` for driver errors",
        ),
    ],
)
def test_every_failure_reason_has_its_fix(overrides: dict[str, Any], fix: str) -> None:
    active, problems = evaluate_ports([port(**overrides)], ["mlx5_0"])
    assert active == []
    assert [problem["fix"] for problem in problems] == [fix]


def test_unknown_link_layer_when_a_layer_is_required() -> None:
    active, problems = evaluate_ports([port(link_layer="Unspecified")], ["auto"], link_layer="InfiniBand")
    assert active == []
    assert problems[0]["fix"] == "mlx5_0 port 1 has link layer Unspecified, neither InfiniBand nor RoCE: use another device"


def test_several_ports_of_one_device_are_all_described() -> None:
    ports = [port(state="DOWN", phys_state="Polling", phys_state_code=2), port(port=2, state="INIT")]
    active, problems = evaluate_ports(ports, ["mlx5_0"])
    assert active == []
    assert problems[0]["found"] == (
        "port 1: state DOWN, phys_state Polling, link_layer InfiniBand; port 2: state INIT, phys_state LinkUp, link_layer InfiniBand"
    )
    assert problems[0]["fix"] == POLLING_FIX + " / " + NO_SM_FIX


@pytest.mark.parametrize(
    "devices, required_state, link_layer, message",
    [
        ([], "ACTIVE", "any", "devices is empty; give [auto] or the RDMA device names to require"),
        (["auto", "mlx5_0"], "ACTIVE", "any", "devices mixes auto with device names; give either [auto] or only names"),
        (["mlx5_0"], "UP", "any", "required_state must be one of DOWN, INIT, ARMED, ACTIVE, not 'UP'"),
        (["mlx5_0"], "ACTIVE", "IB", "link_layer must be one of any, InfiniBand, Ethernet, not 'IB'"),
        (["mlx5_0:one"], "ACTIVE", "any", "device 'mlx5_0:one': the port after ':' must be a number from 1, as in mlx5_0:1"),
    ],
)
def test_evaluate_ports_rejects_bad_input(devices: list[str], required_state: str, link_layer: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        evaluate_ports([port()], devices, required_state, link_layer)
    assert str(error.value) == message


STATES = st.sampled_from(["DOWN", "INIT", "ARMED", "ACTIVE"])
LAYERS = st.sampled_from(["InfiniBand", "Ethernet"])


@given(st.lists(st.tuples(STATES, LAYERS), max_size=6), STATES, st.sampled_from(["any", "InfiniBand", "Ethernet"]))
def test_auto_fails_exactly_when_no_port_qualifies(states: list[tuple[str, str]], required_state: str, link_layer: str) -> None:
    ports = [port(device="mlx5_%d" % index, state=state, link_layer=layer) for index, (state, layer) in enumerate(states)]
    active, problems = evaluate_ports(ports, ["auto"], required_state, link_layer)
    qualifying = [p["device"] for p in ports if p["state"] == required_state and link_layer in ("any", p["link_layer"])]
    assert active == qualifying
    assert bool(problems) == (not qualifying)
    if ports and not qualifying:
        assert [p["device"] for p in problems] == [p["device"] for p in ports]


def test_describe_problems_one_line_each() -> None:
    problems = [
        {"device": "mlx5_5", "found": "port 1: state DOWN", "needed": "a port in state ACTIVE", "fix": "plug the cable"},
        {"device": "mlx5_9", "found": "absent", "needed": "a port in state ACTIVE", "fix": "use mlx5_0"},
    ]
    assert describe_problems(problems) == (
        "mlx5_5: found port 1: state DOWN; needed a port in state ACTIVE; fix: plug the cable\n"
        "mlx5_9: found absent; needed a port in state ACTIVE; fix: use mlx5_0"
    )


@pytest.mark.parametrize("devices, expected", [
    (["mlx5_0"], "mlx5_0:1"),
    (["mlx5_1"], "mlx5_1:2"),  # its ACTIVE port is 2: UCX must be told so
    (["mlx5_0", "mlx5_1"], "mlx5_0:1,mlx5_1:2"),
    (["mlx5_1:1"], ""),  # that port is not ACTIVE
    (["mlx5_9"], ""),
])
def test_ucx_net_devices_names_the_active_ports(devices, expected):
    active = [{"device": "mlx5_0", "port": 1}, {"device": "mlx5_1", "port": 2}, {"device": "mlx5_2", "port": 1}]
    assert ucx_net_devices(devices, active) == expected


def test_the_filter_takes_the_plans_devices_or_the_gpus_mapped_nics():
    from ansible_collections.gpufleet.sglang.plugins.filter.ucx_net_devices import ucx_net_devices as by_service
    affinity = {"mapping": {"0": "mlx5_0", "1": "mlx5_1", "2": "mlx5_2"},
                "nics": [{"device": "mlx5_0", "port": 1}, {"device": "mlx5_1", "port": 1}, {"device": "mlx5_2", "port": 1}]}
    assert by_service({"ib_devices": ["mlx5_2"], "gpu_ids": [0, 1]}, affinity) == "mlx5_2:1"
    assert by_service({"ib_devices": [], "gpu_ids": [0, 1]}, affinity) == "mlx5_0:1,mlx5_1:1"
