# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _gpu
from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import read_sysfs_ports

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
SMI = FIXTURES / "nvidia-smi"
MULTI_HCA = str(FIXTURES / "sysfs" / "multi_hca" / "class" / "infiniband")
MACHINES = ("h100", "h200", "a100", "b200")


def read(*parts: str) -> str:
    return SMI.joinpath(*parts).read_text(encoding="utf-8")


def gpus_of(machine: str) -> list[dict[str, Any]]:
    return _gpu.parse_query_gpu_csv(read(machine, "query-gpu.csv"))


def topo_of(machine: str) -> dict[str, Any]:
    return _gpu.parse_topo_matrix(read(machine, "topo-m.txt"))


def facts_of(machine: str) -> dict[str, Any]:
    """What gpu_facts returns for a machine, as far as check_gpus reads it."""
    banner = _gpu.parse_driver_banner(read(machine, "nvidia-smi.txt"))
    gpus = gpus_of(machine)
    return {"nvidia_smi": "present", "gpus": gpus, "gpu_count": len(gpus), "errors": [], **banner}


def active_ports(link_layer: str = "InfiniBand") -> list[dict[str, Any]]:
    return [port for port in read_sysfs_ports(MULTI_HCA) if port["state"] == "ACTIVE" and port["link_layer"] == link_layer]


def pci_tree(root: Path, devices: dict[str, tuple[list[str], int]]) -> str:
    """A /sys/bus/pci/devices of links into a /sys/devices/pci* tree: address -> (bridges, numa_node)."""
    links = root / "bus" / "pci" / "devices"
    links.mkdir(parents=True)
    for address, (bridges, numa) in devices.items():
        target = root.joinpath("devices", *bridges, address)
        target.mkdir(parents=True)
        (target / "numa_node").write_text("%d\n" % numa, encoding="utf-8")
        os.symlink(target, links / address)
    return str(links)


# ---------------------------------------------------------------- nvidia-smi --query-gpu


@pytest.mark.parametrize(
    "machine, name, memory, cap, arch, driver, first_address",
    [
        ("h100", "NVIDIA H100 80GB HBM3", 81559, "9.0", "Hopper", "550.90.07", "0000:1b:00.0"),
        ("h200", "NVIDIA H200", 143771, "9.0", "Hopper", "570.133.20", "0000:18:00.0"),
        ("a100", "NVIDIA A100-SXM4-80GB", 81920, "8.0", "Ampere", "535.104.05", "0000:07:00.0"),
        ("b200", "NVIDIA B200", 183359, "10.0", "Blackwell", "580.95.05", "0000:1b:00.0"),
    ],
)
def test_query_gpu_csv_of_each_machine(machine: str, name: str, memory: int, cap: str, arch: str, driver: str, first_address: str) -> None:
    gpus = gpus_of(machine)
    assert [gpu["index"] for gpu in gpus] == list(range(8))
    assert {gpu["name"] for gpu in gpus} == {name}
    assert {gpu["memory_total_mib"] for gpu in gpus} == {memory}
    assert {gpu["compute_cap"] for gpu in gpus} == {cap}
    major, minor = cap.split(".")
    assert {gpu["compute_capability"] for gpu in gpus} == {(int(major), int(minor))}
    assert {gpu["architecture"] for gpu in gpus} == {arch}
    assert {gpu["driver_version"] for gpu in gpus} == {driver}
    assert gpus[0]["pci_address"] == first_address
    assert gpus[0]["pci_bus_id"] == "00000000:%s" % first_address[5:].upper()
    assert all(gpu["uuid"].startswith("GPU-") for gpu in gpus)


def test_query_gpu_csv_h100_first_row_exactly() -> None:
    assert gpus_of("h100")[0] == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-5188a73f-0566-0a4d-0694-70456050fa37",
        "driver_version": "550.90.07",
        "memory_total_mib": 81559,
        "compute_cap": "9.0",
        "compute_capability": (9, 0),
        "architecture": "Hopper",
        "persistence_mode": "Enabled",
        "mig_mode": "Disabled",
        "pci_bus_id": "00000000:1B:00.0",
        "pci_address": "0000:1b:00.0",
    }


def test_query_gpu_csv_a100_has_mig_on_gpu_3_only() -> None:
    assert [gpu["mig_mode"] for gpu in gpus_of("a100")] == ["Disabled"] * 3 + ["Enabled"] + ["Disabled"] * 4


def test_query_gpu_csv_h200_persistence_off() -> None:
    assert {gpu["persistence_mode"] for gpu in gpus_of("h200")} == {"Disabled"}


def test_query_gpu_csv_not_available_values_are_none() -> None:
    text = "0, NVIDIA L4, GPU-1, 550.90.07, 23034, 8.9, [N/A], [Not Supported], 00000000:00:03.0\n"
    (gpu,) = _gpu.parse_query_gpu_csv(text)
    assert gpu["persistence_mode"] is None
    assert gpu["mig_mode"] is None
    assert gpu["compute_capability"] == (8, 9)
    assert gpu["architecture"] == "Ada Lovelace"


def test_query_gpu_csv_with_units_and_a_field_string() -> None:
    gpus = _gpu.parse_query_gpu_csv("0, NVIDIA H200, 143771 MiB, 9.0\n1, NVIDIA H200, 143771 MiB, 9.0\n", "index,name,memory.total,compute_cap")
    assert [(gpu["index"], gpu["memory_total_mib"], gpu["compute_capability"]) for gpu in gpus] == [(0, 143771, (9, 0)), (1, 143771, (9, 0))]


def test_query_gpu_csv_unknown_fields_keep_their_name() -> None:
    (gpu,) = _gpu.parse_query_gpu_csv("0, 96.00.99.00.01, [N/A]\n", ["index", "vbios_version", "clocks.max.sm"])
    assert gpu == {"index": 0, "vbios_version": "96.00.99.00.01", "clocks_max_sm": None}


def test_query_gpu_csv_a_line_that_is_no_gpu_raises_or_is_collected() -> None:
    lines = read("h100", "query-gpu.csv").splitlines()
    broken = "\n".join(lines[:4] + ["Unable to determine the device handle for GPU0000:9D:00.0: Unknown Error"] + lines[5:]) + "\n"
    with pytest.raises(ValueError, match="Unable to determine the device handle"):
        _gpu.parse_query_gpu_csv(broken)
    errors: list[str] = []
    gpus = _gpu.parse_query_gpu_csv(broken, errors=errors)
    assert [gpu["index"] for gpu in gpus] == [0, 1, 2, 3, 5, 6, 7]
    assert len(errors) == 1
    assert "Unable to determine the device handle for GPU0000:9D:00.0: Unknown Error" in errors[0]


def test_query_gpu_csv_empty() -> None:
    assert _gpu.parse_query_gpu_csv("") == []
    assert _gpu.parse_query_gpu_csv("\n\n") == []


# ---------------------------------------------------------------- banner, kernel module


@pytest.mark.parametrize(
    "path, driver, cuda",
    [
        (("h100", "nvidia-smi.txt"), "550.90.07", "12.4"),
        (("h200", "nvidia-smi.txt"), "570.133.20", "12.8"),
        (("a100", "nvidia-smi.txt"), "535.104.05", "12.2"),
        (("b200", "nvidia-smi.txt"), "580.95.05", "13.0"),
        (("banner-r610.txt",), "610.43.02", "13.3"),
    ],
)
def test_driver_banner(path: tuple[str, ...], driver: str, cuda: str) -> None:
    assert _gpu.parse_driver_banner(read(*path)) == {"driver_version": driver, "cuda_version": cuda, "nvidia_smi_version": driver}


def test_driver_banner_of_query_output_and_of_nothing() -> None:
    query = (
        "Timestamp                                 : Wed Jan 14 15:17:09 2026\n"
        "Driver Version                            : 580.105.06\n"
        "CUDA Version                              : Not Found\n"
    )
    assert _gpu.parse_driver_banner(query) == {"driver_version": "580.105.06", "cuda_version": None, "nvidia_smi_version": None}
    failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n"
    assert _gpu.parse_driver_banner(failed) == {"driver_version": None, "cuda_version": None, "nvidia_smi_version": None}


@pytest.mark.parametrize(
    "name, flavour",
    [
        ("proc-version-open.txt", "open"),
        ("proc-version-proprietary.txt", "proprietary"),
        ("modinfo-open.txt", "open"),
        ("modinfo-proprietary.txt", "proprietary"),
    ],
)
def test_kernel_module_flavour_of_fixtures(name: str, flavour: str) -> None:
    assert _gpu.kernel_module_flavour(read("kernel", name)) == flavour


@pytest.mark.parametrize(
    "text, flavour",
    [
        ("NVRM version: NVIDIA UNIX Open Kernel x86_64 Kernel Module  590.48.01  Mon Dec  8 11:22:45 UTC 2025\n", "open"),
        ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.95.05  Release Build  (dvs-builder@host)\n", "open"),
        ("NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.90.07  Fri May 31 09:30:47 UTC 2024\n", "proprietary"),
        ("modinfo: ERROR: Module nvidia not found.\n", None),
        ("", None),
    ],
)
def test_kernel_module_flavour_of_other_texts(text: str, flavour: str | None) -> None:
    assert _gpu.kernel_module_flavour(text) == flavour


# ---------------------------------------------------------------- nvidia-smi topo -m


def test_topo_h100_rows_and_legend() -> None:
    topo = topo_of("h100")
    assert topo["nics"] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_5", "mlx5_6", "mlx5_7", "mlx5_bond_0"]
    assert topo["nic_legend"] == {"NIC%d" % n: name for n, name in enumerate(topo["nics"])}
    assert [row["index"] for row in topo["gpus"]] == list(range(8))
    gpu0, gpu5 = topo["gpus"][0], topo["gpus"][5]
    assert gpu0["gpu_links"] == {"GPU%d" % n: "NV18" for n in range(1, 8)}
    assert gpu0["nic_links"] == {
        "mlx5_0": "PIX", "mlx5_1": "NODE", "mlx5_2": "NODE", "mlx5_3": "NODE",
        "mlx5_4": "SYS", "mlx5_5": "SYS", "mlx5_6": "SYS", "mlx5_7": "SYS", "mlx5_bond_0": "SYS",
    }
    assert (gpu0["cpu_affinity"], gpu0["numa_affinity"], gpu0["numa_node"], gpu0["gpu_numa_id"]) == ("0-55,112-167", "0", 0, None)
    assert gpu5["nic_links"]["mlx5_5"] == "PIX"
    assert gpu5["nic_links"]["mlx5_bond_0"] == "NODE"
    assert (gpu5["cpu_affinity"], gpu5["numa_node"]) == ("56-111,168-223", 1)
    assert "GPU5" not in gpu5["gpu_links"]


def test_topo_a100_eight_numa_nodes_and_nic_pairs() -> None:
    topo = topo_of("a100")
    assert [row["numa_node"] for row in topo["gpus"]] == [3, 3, 1, 1, 7, 7, 5, 5]
    assert topo["gpus"][2]["cpu_affinity"] == "16-31,144-159"
    assert {link for row in topo["gpus"] for link in row["gpu_links"].values()} == {"NV12"}
    assert [nic for nic, link in topo["gpus"][6]["nic_links"].items() if link == "PXB"] == ["mlx5_8", "mlx5_9"]
    assert {row["nic_links"]["mlx5_4"] for row in topo["gpus"]} == {"SYS"}


@pytest.mark.parametrize("machine, nics", [("h200", 10), ("b200", 12)])
def test_topo_nic_counts(machine: str, nics: int) -> None:
    topo = topo_of(machine)
    assert len(topo["nics"]) == nics
    assert all(len(row["nic_links"]) == nics and len(row["gpu_links"]) == 7 for row in topo["gpus"])


def test_topo_pasted_with_spaces_reads_like_the_tab_original() -> None:
    text = read("h100", "topo-m.txt")
    assert _gpu.parse_topo_matrix(text.expandtabs(8)) == _gpu.parse_topo_matrix(text)


def test_topo_header_underlined_for_a_terminal() -> None:
    # On a terminal nvidia-smi underlines the header with ANSI escapes.
    text = read("h100", "topo-m.txt")
    header, rest = text.split("\n", 1)
    underlined = "\t\x1b[4m%s\x1b[0m\n%s" % (header.lstrip("\t"), rest)
    assert _gpu.parse_topo_matrix(underlined) == _gpu.parse_topo_matrix(text)


def test_topo_legacy_columns_named_after_the_nic() -> None:
    # Older drivers: NIC columns carry the device name, no NIC legend, no NUMA columns.
    text = (
        "\tGPU0\tGPU1\tmlx5_0\tmlx5_1\tCPU Affinity\n"
        "GPU0\t X \tNV6\tPIX\tSYS\t0-23,48-71\n"
        "GPU1\tNV6\t X \tSYS\tPIX\t24-47,72-95\n"
        "mlx5_0\tPIX\tSYS\t X \tSYS\t\n"
        "mlx5_1\tSYS\tPIX\tSYS\t X \t\n"
        "\nLegend:\n\n  X    = Self\n  SOC  = Connection traversing PCIe as well as the SMP link between CPU sockets(e.g. QPI)\n"
    )
    topo = _gpu.parse_topo_matrix(text)
    assert topo["nics"] == ["mlx5_0", "mlx5_1"]
    assert topo["nic_legend"] == {}
    assert topo["gpus"][1]["nic_links"] == {"mlx5_0": "SYS", "mlx5_1": "PIX"}
    assert (topo["gpus"][1]["cpu_affinity"], topo["gpus"][1]["numa_node"]) == ("24-47,72-95", None)


def test_topo_without_nics_and_without_header() -> None:
    topo = _gpu.parse_topo_matrix("\tGPU0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\nGPU0\t X \t0-15\t0\t\tN/A\n")
    assert topo == {
        "gpus": [{"index": 0, "gpu_links": {}, "nic_links": {}, "cpu_affinity": "0-15", "numa_affinity": "0", "numa_node": 0, "gpu_numa_id": None}],
        "nics": [],
        "nic_legend": {},
    }
    with pytest.raises(ValueError, match="GPU0"):
        _gpu.parse_topo_matrix("Failed to initialize NVML: Driver/library version mismatch\n")


# ---------------------------------------------------------------- PCI locality


@pytest.mark.parametrize(
    "bus_id, address",
    [("00000000:1B:00.0", "0000:1b:00.0"), ("0000:c3:00.0", "0000:c3:00.0"), ("00000001:0A:1C.7", "0001:0a:1c.7"), ("[N/A]", None), (None, None)],
)
def test_pci_address(bus_id: str | None, address: str | None) -> None:
    assert _gpu.pci_address(bus_id) == address


def test_read_pci_locality(tmp_path: Path) -> None:
    root = pci_tree(
        tmp_path,
        {
            "0000:1b:00.0": (["pci0000:15", "0000:15:01.0", "0000:16:00.0", "0000:17:01.0"], 0),
            "0000:00:03.0": (["pci0000:00"], -1),
        },
    )
    assert _gpu.read_pci_locality(root, "0000:1b:00.0") == {
        "numa_node": 0,
        "pci_path": ["pci0000:15", "0000:15:01.0", "0000:16:00.0", "0000:17:01.0", "0000:1b:00.0"],
    }
    assert _gpu.read_pci_locality(root, "0000:00:03.0") == {"numa_node": None, "pci_path": ["pci0000:00", "0000:00:03.0"]}
    assert _gpu.read_pci_locality(root, "0000:99:00.0") == {"numa_node": None, "pci_path": None}
    assert _gpu.read_pci_locality(root, None) == {"numa_node": None, "pci_path": None}


SWITCH = ["pci0000:15", "0000:15:01.0", "0000:16:00.0"]


@pytest.mark.parametrize(
    "first, second, link",
    [
        ({"pci_path": SWITCH + ["0000:17:01.0", "0000:1b:00.0"]}, {"pci_path": SWITCH + ["0000:17:00.0", "0000:18:00.0"]}, "PIX"),
        (
            {"pci_path": SWITCH + ["0000:17:01.0", "0000:19:00.0", "0000:1a:00.0", "0000:1b:00.0"]},
            {"pci_path": SWITCH + ["0000:17:00.0", "0000:18:00.0"]},
            "PXB",
        ),
        ({"pci_path": ["pci0000:15", "0000:15:01.0", "0000:1b:00.0"]}, {"pci_path": ["pci0000:15", "0000:15:03.0", "0000:18:00.0"]}, "PHB"),
        ({"pci_path": SWITCH + ["0000:1b:00.0"], "numa_node": 0}, {"pci_path": ["pci0000:3a", "0000:3a:01.0", "0000:3b:00.0"], "numa_node": 0}, "NODE"),
        ({"pci_path": SWITCH + ["0000:1b:00.0"], "numa_node": 0}, {"pci_path": ["pci0000:97", "0000:97:01.0", "0000:9a:00.0"], "numa_node": 1}, "SYS"),
        ({"numa_node": 1}, {"numa_node": 1}, "NODE"),
        ({"numa_node": 0}, {"numa_node": 1}, "SYS"),
        ({"pci_path": SWITCH + ["0000:1b:00.0"]}, {"pci_path": ["pci0000:97", "0000:9a:00.0"]}, None),
        ({}, {}, None),
    ],
)
def test_pcie_link(first: dict[str, Any], second: dict[str, Any], link: str | None) -> None:
    assert _gpu.pcie_link(first, second) == link
    assert _gpu.pcie_link(first=second, second=first) == link  # the order of the two does not matter


# ---------------------------------------------------------------- nearest NICs


def test_nearest_nics_h100_with_one_nic_down() -> None:
    # multi_hca: mlx5_5 (GPU 5's own NIC) is DOWN; mlx5_bond_0 is Ethernet and left out.
    affinity = _gpu.nearest_nics(gpus_of("h100"), active_ports(), topo_of("h100"))
    assert affinity["mapping"] == {
        "0": "mlx5_0", "1": "mlx5_1", "2": "mlx5_2", "3": "mlx5_3",
        "4": "mlx5_4", "5": "mlx5_4,mlx5_6,mlx5_7", "6": "mlx5_6", "7": "mlx5_7",
    }
    assert affinity["argument"] == (
        '{"0":"mlx5_0","1":"mlx5_1","2":"mlx5_2","3":"mlx5_3","4":"mlx5_4","5":"mlx5_4,mlx5_6,mlx5_7","6":"mlx5_6","7":"mlx5_7"}'
    )
    assert affinity["gpus"][5] == {"gpu": 5, "nics": ["mlx5_4", "mlx5_6", "mlx5_7"], "link": "NODE", "source": "topology"}
    assert {entry["link"] for n, entry in enumerate(affinity["gpus"]) if n != 5} == {"PIX"}
    assert affinity["cross_socket"] == []
    assert affinity["unmapped"] == []


def test_nearest_nics_argument_is_what_sglang_parses() -> None:
    # SGLang 0.5.23 parse_ib_device_config: a JSON object whose keys are digit strings and whose
    # values are comma lists; NIXL UCX rejects names with a ':port' suffix.
    affinity = _gpu.nearest_nics(gpus_of("a100"), topo_of("a100")["nics"], topo_of("a100"))
    parsed = json.loads(affinity["argument"])
    assert all(key.isdigit() and isinstance(value, str) and ":" not in value for key, value in parsed.items())
    assert {int(key): value.split(",") for key, value in parsed.items()} == {
        0: ["mlx5_0", "mlx5_1"], 1: ["mlx5_0", "mlx5_1"], 2: ["mlx5_2", "mlx5_3"], 3: ["mlx5_2", "mlx5_3"],
        4: ["mlx5_6", "mlx5_7"], 5: ["mlx5_6", "mlx5_7"], 6: ["mlx5_8", "mlx5_9"], 7: ["mlx5_8", "mlx5_9"],
    }
    assert affinity["argument"] == json.dumps(affinity["mapping"], separators=(",", ":"))


@pytest.mark.parametrize("machine", MACHINES)
def test_nearest_nics_every_machine_pairs_each_gpu_with_its_own_nic(machine: str) -> None:
    topo = topo_of(machine)
    affinity = _gpu.nearest_nics(gpus_of(machine), topo["nics"], topo)
    assert sorted(affinity["mapping"], key=int) == [str(n) for n in range(8)]
    assert affinity["cross_socket"] == []
    assert {entry["link"] for entry in affinity["gpus"]} <= {"PIX", "PXB"}


def test_nearest_nics_cross_socket_warning_names_gpu_and_nic() -> None:
    socket0 = [port for port in active_ports() if port["numa_node"] == 0]
    affinity = _gpu.nearest_nics(gpus_of("h100"), socket0, topo_of("h100"))
    assert affinity["mapping"]["4"] == "mlx5_0,mlx5_1,mlx5_2,mlx5_3"
    assert [warning["gpu"] for warning in affinity["cross_socket"]] == [4, 5, 6, 7]
    warning = affinity["cross_socket"][0]
    assert warning["gpu_pci_address"] == "0000:9d:00.0"
    assert (warning["gpu_numa_node"], warning["nics"], warning["nic_numa_nodes"]) == (1, ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3"], [0])
    assert warning["warning"].startswith(
        "GPU 4 (0000:9d:00.0 on NUMA node 1) reaches its nearest usable NICs mlx5_0, mlx5_1, mlx5_2, mlx5_3 (NUMA node 0) "
        "only across the CPU socket interconnect (SYS)"
    )
    assert "sglang_ib_device" in warning["fix"] and "NUMA node" in warning["fix"]
    assert affinity["gpus"][4]["link"] == "SYS"


def test_nearest_nics_one_cross_socket_nic() -> None:
    gpus = [{"index": 0, "numa_node": 1, "pci_address": "0000:9d:00.0"}]
    nics = [{"device": "mlx5_0", "numa_node": 0}]
    (warning,) = _gpu.nearest_nics(gpus, nics)["cross_socket"]
    assert "reaches its nearest usable NIC mlx5_0 (NUMA node 0) only across" in warning["warning"]


def test_nearest_nics_from_sysfs_pci_path_without_topology(tmp_path: Path) -> None:
    root = pci_tree(
        tmp_path,
        {
            "0000:1b:00.0": (SWITCH + ["0000:17:01.0"], 0),
            "0000:18:00.0": (SWITCH + ["0000:17:00.0"], 0),
            "0000:43:00.0": (["pci0000:3a", "0000:3a:01.0", "0000:3b:00.0", "0000:3c:01.0"], 0),
            "0000:40:00.0": (["pci0000:3a", "0000:3a:01.0", "0000:3b:00.0", "0000:3c:00.0"], 0),
            "0000:9a:00.0": (["pci0000:97", "0000:97:01.0", "0000:98:00.0", "0000:99:00.0"], 1),
        },
    )
    gpus = [dict(index=n, pci_address=address, **_gpu.read_pci_locality(root, address)) for n, address in enumerate(("0000:1b:00.0", "0000:43:00.0"))]
    nics = [
        dict(device=name, pci_address=address, **_gpu.read_pci_locality(root, address))
        for name, address in (("mlx5_0", "0000:18:00.0"), ("mlx5_1", "0000:40:00.0"), ("mlx5_4", "0000:9a:00.0"))
    ]
    affinity = _gpu.nearest_nics(gpus, nics)
    assert affinity["mapping"] == {"0": "mlx5_0", "1": "mlx5_1"}
    assert [(entry["link"], entry["source"]) for entry in affinity["gpus"]] == [("PIX", "pci_path"), ("PIX", "pci_path")]


def test_nearest_nics_falls_back_to_numa_node() -> None:
    gpus = [{"index": 0, "numa_node": 0}, {"index": 1, "numa_node": 1}]
    nics = [{"device": "mlx5_0", "numa_node": 0}, {"device": "mlx5_1", "numa_node": 0}, {"device": "mlx5_2", "numa_node": 1}]
    affinity = _gpu.nearest_nics(gpus, nics)
    assert affinity["mapping"] == {"0": "mlx5_0,mlx5_1", "1": "mlx5_2"}
    assert [(entry["link"], entry["source"]) for entry in affinity["gpus"]] == [("NODE", "numa_node"), ("NODE", "numa_node")]


def test_nearest_nics_nic_missing_from_the_matrix_uses_numa() -> None:
    # The matrix knows mlx5_0-7; a NIC it does not list is placed by NUMA node instead.
    topo = topo_of("h100")
    nics = [{"device": "mlx5_9", "numa_node": 1}, {"device": "mlx5_0", "numa_node": 0}]
    affinity = _gpu.nearest_nics(gpus_of("h100"), nics, topo)
    assert affinity["gpus"][0] == {"gpu": 0, "nics": ["mlx5_0"], "link": "PIX", "source": "topology"}
    assert affinity["gpus"][6] == {"gpu": 6, "nics": ["mlx5_9"], "link": "NODE", "source": "numa_node"}


def test_nearest_nics_without_any_locality_or_nic() -> None:
    gpus = [{"index": 0}, {"index": 1}]
    unknown = _gpu.nearest_nics(gpus, ["mlx5_1", "mlx5_0", "mlx5_1"])
    assert unknown["mapping"] == {"0": "mlx5_1,mlx5_0", "1": "mlx5_1,mlx5_0"}
    assert {(entry["link"], entry["source"]) for entry in unknown["gpus"]} == {("unknown", "unknown")}
    assert unknown["cross_socket"] == []
    none = _gpu.nearest_nics(gpus, [], None)
    assert none == {"mapping": {}, "argument": None, "gpus": [], "cross_socket": [], "unmapped": [0, 1]}


# ---------------------------------------------------------------- check_gpus

ALL_EIGHT = {"worker-0": list(range(8))}


def failures_by_check(report: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for failure in report["failures"]:
        assert set(failure) == {"check", "found", "needed", "fix"}
        assert all(failure[key] for key in failure)
        grouped.setdefault(failure["check"], []).append(failure)
    return grouped


@pytest.mark.parametrize("machine", ("h100", "h200", "b200"))
def test_check_gpus_passes_on_a_good_host(machine: str) -> None:
    report = _gpu.check_gpus(
        facts_of(machine), gpu_ids_needed=ALL_EIGHT, driver_floor="550.54.15", supported_compute_caps=["9.0", "10.0"], need_whole_gpus=True
    )
    assert report["failures"] == []
    assert report["not_run"] == []
    assert [info["check"] for info in report["info"]] == ["persistence_mode"]


def test_check_gpus_too_few_gpus_for_the_plan() -> None:
    facts = facts_of("h100")
    facts["gpus"] = facts["gpus"][:4]
    report = _gpu.check_gpus(facts, gpu_ids_needed={"prefill-0": [0, 1, 2, 3], "decode-0": [4, 5, 6, 7]})
    (failure,) = failures_by_check(report)["gpu_count"]
    assert failure["found"] == "4 GPUs (0-3)"
    assert failure["needed"] == "GPUs 4-7 for decode-0 (4 GPUs)"
    assert failure["fix"].startswith("GPUs 4-7 are missing: ")
    assert "nvidia-smi -L" in failure["fix"] and "sglang_base_gpu_id" in failure["fix"]


def test_check_gpus_fallen_off_gpu_is_named_in_found() -> None:
    facts = facts_of("h100")
    del facts["gpus"][4]
    facts["errors"] = ["nvidia-smi printed 'Unable to determine the device handle for GPU0000:9D:00.0: Unknown Error' where 9 values were expected"]
    (failure,) = failures_by_check(_gpu.check_gpus(facts, gpu_ids_needed=ALL_EIGHT))["gpu_count"]
    assert failure["found"].startswith("7 GPUs (0-3, 5-7); nvidia-smi also printed: ")
    assert "GPU0000:9D:00.0" in failure["found"]
    assert failure["fix"].startswith("GPU 4 is missing: ")


def test_check_gpus_one_model_per_instance() -> None:
    facts = facts_of("h100")
    for gpu in facts["gpus"][6:]:
        gpu["name"] = "NVIDIA H100 PCIe"
    report = _gpu.check_gpus(facts, gpu_ids_needed={"prefill-0": [0, 1, 2, 3], "decode-0": [4, 5, 6, 7]})
    (failure,) = failures_by_check(report)["gpu_model"]
    assert failure["found"] == "GPU 4-5: NVIDIA H100 80GB HBM3; GPU 6-7: NVIDIA H100 PCIe"
    assert failure["needed"] == "one GPU model across GPUs 4-7 of decode-0"
    assert "decode-0" in failure["fix"] and "sglang_base_gpu_id" in failure["fix"]


def test_check_gpus_driver_below_floor() -> None:
    report = _gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT, driver_floor="570.26", need_whole_gpus=False)
    (failure,) = failures_by_check(report)["driver_version"]
    assert failure["found"] == "driver 535.104.05 (supports CUDA 12.2)"
    assert failure["needed"] == "driver 570.26 or newer, the floor of the release profile's CUDA"
    assert "nvidia-driver-570-server-open" in failure["fix"] and "cuda-compat" in failure["fix"]


@pytest.mark.parametrize("floor", ["535.104.05", "535.104", "535", "470.82.01"])
def test_check_gpus_driver_at_or_above_floor(floor: str) -> None:
    report = _gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT, driver_floor=floor, need_whole_gpus=False)
    assert "driver_version" not in failures_by_check(report)


def test_check_gpus_bad_floor_and_cap_raise() -> None:
    with pytest.raises(ValueError, match="driver_floor"):
        _gpu.check_gpus(facts_of("h100"), gpu_ids_needed=ALL_EIGHT, driver_floor="latest")
    with pytest.raises(ValueError, match="supported_compute_caps"):
        _gpu.check_gpus(facts_of("h100"), gpu_ids_needed=ALL_EIGHT, supported_compute_caps=["hopper"])


@pytest.mark.parametrize("gpu_cap, built, runs", [
    ("8.9", "8.0", True), ("8.6", "8.0", True), ("8.0", "8.6", False), ("7.5", "8.0", False),
    ("10.3", "10.0", False), ("9.0", "8.0", False), ("12.0", "10.0", False),
])
def test_compute_capability_compatibility(gpu_cap, built, runs) -> None:
    assert _gpu._runs_cubins_of(_gpu.parse_compute_cap(gpu_cap), _gpu.parse_compute_cap(built)) is runs


def test_check_gpus_compute_capability_not_supported() -> None:
    report = _gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT, supported_compute_caps=["sm_90a", "100"], need_whole_gpus=False)
    (failure,) = failures_by_check(report)["compute_capability"]
    assert failure["found"] == "GPU 0-7 (NVIDIA A100-SXM4-80GB): compute capability 8.0 (Ampere)"
    assert failure["needed"] == "compute capability 9.0, 10.0"
    assert "sm_90, sm_100" in failure["fix"] and "sm_80" in failure["fix"]


@pytest.mark.parametrize("caps", [["9.0"], ["90"], ["sm_90"], ["sm_90a"], ["compute_90"], [(9, 0)]])
def test_check_gpus_compute_capability_spellings(caps: list[Any]) -> None:
    report = _gpu.check_gpus(facts_of("h200"), gpu_ids_needed=ALL_EIGHT, supported_compute_caps=caps)
    assert report["failures"] == []


def test_check_gpus_unknown_model_is_reported_not_a_crash() -> None:
    facts = facts_of("h100")
    facts["gpus"] = _gpu.parse_query_gpu_csv(
        "0, NVIDIA Future GPU X, GPU-0, 650.10.01, 262144, 11.0, Enabled, [N/A], 00000000:1B:00.0\n"
        "1, [Unknown Error], GPU-1, 650.10.01, [N/A], [N/A], [N/A], [N/A], 00000000:43:00.0\n"
    )
    assert facts["gpus"][0]["architecture"] is None
    report = _gpu.check_gpus(facts, gpu_ids_needed={"worker-0": [0, 1]}, supported_compute_caps=["9.0", "10.0"])
    failures = failures_by_check(report)["compute_capability"]
    assert [failure["found"] for failure in failures] == [
        "GPU 0 (NVIDIA Future GPU X): compute capability 11.0 (unknown architecture)",
        "GPU 1 (unknown model): compute capability unknown, nvidia-smi did not report it",
    ]
    assert "510" in failures[1]["fix"]
    assert failures_by_check(report)["gpu_model"][0]["found"] == "GPU 0: NVIDIA Future GPU X; GPU 1: unknown model"


def test_check_gpus_mig_where_whole_gpus_are_needed() -> None:
    (failure,) = failures_by_check(_gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT))["mig_mode"]
    assert failure["found"] == "MIG mode Enabled on GPU 3"
    assert "nvidia-smi -i 3 -mig 0" in failure["fix"]
    assert _gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT, need_whole_gpus=False)["failures"] == []
    # An instance that does not use GPU 3 does not care.
    assert _gpu.check_gpus(facts_of("a100"), gpu_ids_needed={"decode-0": [4, 5, 6, 7]})["failures"] == []


def test_check_gpus_persistence_mode_is_reported_not_failed() -> None:
    report = _gpu.check_gpus(facts_of("h200"), gpu_ids_needed=ALL_EIGHT)
    assert report["failures"] == []
    (info,) = report["info"]
    assert info["found"] == "Disabled on GPU 0-7"
    assert info["disabled_gpus"] == list(range(8))
    assert "nvidia-persistenced" in info["note"]
    enabled = _gpu.check_gpus(facts_of("h100"), gpu_ids_needed=ALL_EIGHT)["info"][0]
    assert (enabled["found"], enabled["disabled_gpus"], enabled["note"]) == ("Enabled on GPU 0-7", [], "persistence mode is on")


def test_check_gpus_every_failure_at_once() -> None:
    facts = facts_of("a100")
    facts["gpus"] = facts["gpus"][:6]
    report = _gpu.check_gpus(facts, gpu_ids_needed=ALL_EIGHT, driver_floor="570.26", supported_compute_caps=["9.0"], need_whole_gpus=True)
    assert [failure["check"] for failure in report["failures"]] == ["gpu_count", "driver_version", "compute_capability", "mig_mode"]


@pytest.mark.parametrize("state, found", [("absent", "nvidia-smi is not installed"), ("error", "nvidia-smi fails: ")])
def test_check_gpus_without_nvidia_smi_names_the_checks_that_did_not_run(state: str, found: str) -> None:
    facts = {"nvidia_smi": state, "gpus": [], "errors": ["`nvidia-smi --query-gpu=...` exited 9: NVIDIA-SMI has failed"] if state == "error" else []}
    report = _gpu.check_gpus(facts, gpu_ids_needed=ALL_EIGHT, driver_floor="570.26")
    (failure,) = report["failures"]
    assert failure["check"] == "nvidia_smi"
    assert failure["found"].startswith(found)
    assert [item["check"] for item in report["not_run"]] == list(_gpu.GPU_CHECKS)
    assert all(item["reason"].startswith("nvidia-smi is") for item in report["not_run"])


def test_check_gpus_host_without_gpus() -> None:
    facts = {"nvidia_smi": "present", "gpus": [], "errors": ["No devices were found"]}
    report = _gpu.check_gpus(facts, gpu_ids_needed={"worker-0": [0, 1]})
    assert [(failure["check"], failure["found"]) for failure in report["failures"]] == [
        ("gpu_count", "0 GPUs (none); nvidia-smi also printed: No devices were found")
    ]
    assert [item["check"] for item in report["not_run"]] == [check for check in _gpu.GPU_CHECKS if check != "gpu_count"]


def test_check_gpus_nothing_needed_on_this_host() -> None:
    assert _gpu.check_gpus({"nvidia_smi": "absent"}, gpu_ids_needed={}) == {"failures": [], "not_run": [], "info": []}
    assert _gpu.check_gpus({"nvidia_smi": "absent"}, gpu_ids_needed=[[]]) == {"failures": [], "not_run": [], "info": []}


def test_check_gpus_ranges_as_a_list_and_after_a_json_round_trip() -> None:
    facts = json.loads(json.dumps(facts_of("a100")))
    facts["gpus"] = facts["gpus"][:2]
    report = _gpu.check_gpus(facts, gpu_ids_needed=[[0, 1], [2, 3]], supported_compute_caps=["8.0"])
    assert [failure["needed"] for failure in report["failures"]] == ["GPUs 2-3 for instance 2 (2 GPUs)"]


def test_check_gpus_does_not_change_its_input() -> None:
    facts = facts_of("a100")
    before = copy.deepcopy(facts)
    _gpu.check_gpus(facts, gpu_ids_needed=ALL_EIGHT, driver_floor="570.26", supported_compute_caps=["9.0"])
    assert facts == before


def test_describe_failures() -> None:
    report = _gpu.check_gpus(facts_of("a100"), gpu_ids_needed=ALL_EIGHT)
    assert _gpu.describe_failures(report["failures"]).startswith("mig_mode: found MIG mode Enabled on GPU 3; needed whole GPUs")


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "indices, text", [([0, 1, 2, 3, 6], "0-3, 6"), ([7, 5, 6], "5-7"), ([4], "4"), ([], ""), ([1, 3, 5], "1, 3, 5")]
)
def test_gpu_ranges(indices: list[int], text: str) -> None:
    assert _gpu.gpu_ranges(indices) == text


@pytest.mark.parametrize(
    "text, capability",
    [("9.0", (9, 0)), ("10.3", (10, 3)), ("90", (9, 0)), ("100", (10, 0)), ("120", (12, 0)), ("sm_90a", (9, 0)),
     ("sm_100f", (10, 0)), ("compute_80", (8, 0)), ([8, 6], (8, 6)), ("9", None), ("hopper", None), (None, None)],
)
def test_parse_compute_cap(text: Any, capability: tuple[int, int] | None) -> None:
    assert _gpu.parse_compute_cap(text) == capability


@pytest.mark.parametrize(
    "name, capability",
    [("NVIDIA A100-SXM4-80GB", (8, 0)), ("A100-SXM4-40GB", (8, 0)), ("NVIDIA H100 80GB HBM3", (9, 0)), ("NVIDIA H200", (9, 0)),
     ("NVIDIA H20", (9, 0)), ("NVIDIA GH200 480GB", (9, 0)), ("NVIDIA B200", (10, 0)), ("NVIDIA GB200", (10, 0)),
     ("NVIDIA B300 SXM6 AC", (10, 3)), ("NVIDIA L40S", (8, 9)), ("Tesla V100-SXM2-32GB", (7, 0)), ("NVIDIA Future GPU X", None)],
)
def test_compute_cap_from_name(name: str, capability: tuple[int, int] | None) -> None:
    assert _gpu.compute_cap_from_name(name) == capability


def test_fill_compute_cap_from_name() -> None:
    gpu: dict[str, Any] = {"index": 0, "name": "NVIDIA A100-SXM4-80GB"}
    _gpu.fill_compute_cap_from_name(gpu)
    assert (gpu["compute_cap"], gpu["compute_capability"], gpu["architecture"]) == ("8.0", (8, 0), "Ampere")
    reported = {"index": 0, "name": "NVIDIA A100-SXM4-80GB", "compute_cap": "9.0", "compute_capability": (9, 0)}
    _gpu.fill_compute_cap_from_name(reported)
    assert reported["compute_capability"] == (9, 0)


@pytest.mark.parametrize("version, parsed", [("570.133.20", (570, 133, 20)), ("570.26", (570, 26)), ("", None), ("N/A", None), (None, None)])
def test_version_tuple(version: str | None, parsed: tuple[int, ...] | None) -> None:
    assert _gpu.version_tuple(version) == parsed
