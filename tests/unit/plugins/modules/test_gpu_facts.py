# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.module_utils._gpu import QUERY_FIELDS
from ansible_collections.gpufleet.sglang.plugins.modules import gpu_facts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
SMI = FIXTURES / "nvidia-smi"
MULTI_HCA = str(FIXTURES / "sysfs" / "multi_hca" / "class" / "infiniband")
QUERY = "--query-gpu=%s --format=csv,noheader,nounits" % ",".join(QUERY_FIELDS)
QUERY_WITHOUT_CAP = "--query-gpu=%s --format=csv,noheader,nounits" % ",".join(f for f in QUERY_FIELDS if f != "compute_cap")
H100_MAPPING = {"0": "mlx5_0", "1": "mlx5_1", "2": "mlx5_2", "3": "mlx5_3", "4": "mlx5_4", "5": "mlx5_4,mlx5_6,mlx5_7", "6": "mlx5_6", "7": "mlx5_7"}

FakeSmi = Callable[..., Path]


def run_module(capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    return module_harness.run_module(gpu_facts, capsys, **args)


def machine_outputs(machine: str) -> dict[str, tuple[str, int]]:
    return {
        QUERY: ((SMI / machine / "query-gpu.csv").read_text(encoding="utf-8"), 0),
        "": ((SMI / machine / "nvidia-smi.txt").read_text(encoding="utf-8"), 0),
        "topo -m": ((SMI / machine / "topo-m.txt").read_text(encoding="utf-8"), 0),
    }


@pytest.fixture(autouse=True)
def no_host_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the machine running the tests out of it: no /proc/driver/nvidia, no nvidia-smi or modinfo but ours."""
    monkeypatch.setattr(gpu_facts, "NVIDIA_VERSION_FILE", str(tmp_path / "no-proc-driver-nvidia-version"))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(os.path, "exists", _without_sbin(os.path.exists))


def _without_sbin(exists: Callable[[Any], bool]) -> Callable[[Any], bool]:
    # get_bin_path also searches /sbin, /usr/sbin and /usr/local/sbin when they exist: hide them.
    sbin = {"/sbin", "/usr/sbin", "/usr/local/sbin"}
    return lambda path: False if path in sbin else exists(path)


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSmi:
    """Put an ``nvidia-smi`` first on PATH that answers each argument string with (stdout, rc).

    Any other arguments exit 64, so a changed command line fails the test. Every call is logged.
    """

    def install(outputs: dict[str, tuple[str, int]], name: str = "nvidia-smi") -> Path:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        cases = []
        for number, (args, (stdout, rc)) in enumerate(outputs.items()):
            out = tmp_path / ("%s-%d.out" % (name, number))
            out.write_text(stdout, encoding="utf-8")
            cases.append('  "%s") cat "%s"; exit %d ;;\n' % (args, out, rc))
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            "PATH=/usr/bin:/bin\n"
            'echo "$*" >> "%s"\n'
            'case "$*" in\n%s'
            '  *) echo "fake %s: unexpected arguments: $*" >&2; exit 64 ;;\n'
            "esac\n" % (tmp_path / ("%s.log" % name), "".join(cases), name),
            encoding="utf-8",
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
        return script

    return install


def calls(tmp_path: Path, name: str = "nvidia-smi") -> list[str]:
    log = tmp_path / ("%s.log" % name)
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_h100_facts(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path) -> None:
    script = fake_smi(machine_outputs("h100"))
    rc, result = run_module(capsys, ib_sysfs_root=MULTI_HCA, link_layer="InfiniBand", pci_sysfs_root=str(tmp_path / "no-pci"))
    assert rc == 0
    assert "failed" not in result
    assert result["changed"] is False
    assert (result["nvidia_smi"], result["nvidia_smi_path"]) == ("present", str(script))
    assert result["msg"] == "8 GPUs (NVIDIA H100 80GB HBM3), driver 550.90.07, CUDA 12.4"
    assert (result["gpu_count"], result["driver_version"], result["cuda_version"]) == (8, "550.90.07", "12.4")
    assert result["kernel_module_flavour"] is None
    assert result["errors"] == []
    gpu = result["gpus"][4]
    assert (gpu["index"], gpu["compute_cap"], gpu["compute_capability"], gpu["pci_address"]) == (4, "9.0", [9, 0], "0000:9d:00.0")
    # No PCI tree: the NUMA node comes from the topology matrix.
    assert (gpu["numa_node"], gpu["pci_path"]) == (1, None)
    assert result["topology"]["nic_legend"]["NIC8"] == "mlx5_bond_0"
    assert result["topology"]["gpus"][0]["nic_links"]["mlx5_0"] == "PIX"
    affinity = result["nic_affinity"]
    assert affinity["mapping"] == H100_MAPPING
    assert json.loads(affinity["argument"]) == H100_MAPPING
    assert affinity["cross_socket"] == []
    assert [nic["device"] for nic in affinity["nics"]] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_6", "mlx5_7"]
    assert calls(tmp_path) == [QUERY, "", "topo -m"]


def test_check_mode_reads_the_same(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path) -> None:
    fake_smi(machine_outputs("h100"))
    _rc, normal = run_module(capsys, ib_sysfs_root=MULTI_HCA)
    rc, checked = run_module(capsys, ib_sysfs_root=MULTI_HCA, _ansible_check_mode=True)
    assert rc == 0
    assert checked["changed"] is False
    for key in ("gpus", "driver_version", "cuda_version", "topology", "nic_affinity", "nvidia_smi"):
        assert checked[key] == normal[key]


@pytest.mark.parametrize(
    "machine, count, summary",
    [
        ("h200", 8, "8 GPUs (NVIDIA H200), driver 570.133.20, CUDA 12.8"),
        ("a100", 8, "8 GPUs (NVIDIA A100-SXM4-80GB), driver 535.104.05, CUDA 12.2"),
        ("b200", 8, "8 GPUs (NVIDIA B200), driver 580.95.05, CUDA 13.0"),
    ],
)
def test_other_machines(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, machine: str, count: int, summary: str) -> None:
    fake_smi(machine_outputs(machine))
    rc, result = run_module(capsys, ib_sysfs_root="/nonexistent")
    assert (rc, result["gpu_count"], result["msg"]) == (0, count, summary)
    assert result["nic_affinity"] is None  # no RDMA device under ib_sysfs_root
    assert len(result["topology"]["gpus"]) == count


def test_a100_mig_and_numa_from_the_matrix(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi) -> None:
    fake_smi(machine_outputs("a100"))
    _rc, result = run_module(capsys, ib_sysfs_root="/nonexistent")
    assert [gpu["mig_mode"] for gpu in result["gpus"]][2:5] == ["Disabled", "Enabled", "Disabled"]
    assert [gpu["numa_node"] for gpu in result["gpus"]] == [3, 3, 1, 1, 7, 7, 5, 5]


def test_gpu_numa_and_pcie_path_from_sysfs(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path) -> None:
    outputs = machine_outputs("h100")
    outputs["topo -m"] = ("Failed to initialize NVML: Unknown Error\n", 255)
    fake_smi(outputs)
    links = tmp_path / "pci" / "bus" / "pci" / "devices"
    links.mkdir(parents=True)
    for address, numa in (("0000:1b:00.0", 0), ("0000:9d:00.0", 1)):
        target = tmp_path / "pci" / "devices" / "pci0000:15" / "0000:15:01.0" / address
        target.mkdir(parents=True)
        (target / "numa_node").write_text("%d\n" % numa, encoding="utf-8")
        os.symlink(target, links / address)
    rc, result = run_module(capsys, ib_sysfs_root=MULTI_HCA, link_layer="InfiniBand", pci_sysfs_root=str(links))
    assert rc == 0
    assert result["topology"] is None
    assert result["errors"] == ["`nvidia-smi topo -m` exited 255: Failed to initialize NVML: Unknown Error"]
    assert result["gpus"][0]["pci_path"] == ["pci0000:15", "0000:15:01.0", "0000:1b:00.0"]
    assert [gpu["numa_node"] for gpu in result["gpus"]] == [0, None, None, None, 1, None, None, None]
    # Without the matrix the pairing falls back to NUMA nodes: GPU 0 gets every active IB NIC of node 0.
    affinity = result["nic_affinity"]
    assert affinity["mapping"]["0"] == "mlx5_0,mlx5_1,mlx5_2,mlx5_3"
    assert affinity["mapping"]["4"] == "mlx5_4,mlx5_6,mlx5_7"
    every = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_6", "mlx5_7"]
    assert affinity["gpus"][1] == {"gpu": 1, "nics": every, "link": "unknown", "source": "unknown"}


def test_link_layer_ethernet_pairs_only_roce_ports(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi) -> None:
    fake_smi(machine_outputs("h100"))
    _rc, result = run_module(capsys, ib_sysfs_root=MULTI_HCA, link_layer="Ethernet")
    affinity = result["nic_affinity"]
    assert set(affinity["mapping"].values()) == {"mlx5_bond_0"}
    assert [warning["gpu"] for warning in affinity["cross_socket"]] == [0, 1, 2, 3]
    assert "GPU 0 (0000:1b:00.0 on NUMA node 0) reaches its nearest usable NIC mlx5_bond_0 (NUMA node 1)" in affinity["cross_socket"][0]["warning"]


@pytest.mark.parametrize("required, rc", [(True, 1), (False, 0)])
def test_missing_nvidia_smi(capsys: pytest.CaptureFixture[str], required: bool, rc: int) -> None:
    code, result = run_module(capsys, required=required)
    assert code == rc
    assert result.get("failed", False) is required
    assert (result["nvidia_smi"], result["nvidia_smi_path"], result["gpus"], result["gpu_count"]) == ("absent", None, [], 0)
    assert result["msg"].startswith("nvidia-smi is not installed (not found on PATH): install the NVIDIA driver")
    assert "Traceback" not in json.dumps(result)


def test_nvidia_smi_path_that_is_not_there(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, result = run_module(capsys, nvidia_smi_path=str(tmp_path / "nvidia-smi"), required=False)
    assert (code, result["nvidia_smi"]) == (0, "absent")
    assert result["msg"].startswith("%s is not an executable file" % (tmp_path / "nvidia-smi"))


def test_nvidia_smi_path_given(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = fake_smi(machine_outputs("b200"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, result = run_module(capsys, nvidia_smi_path=str(script))
    assert (code, result["nvidia_smi_path"], result["gpu_count"]) == (0, str(script), 8)


@pytest.mark.parametrize("required, rc", [(True, 1), (False, 0)])
def test_driver_not_loaded(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, required: bool, rc: int) -> None:
    message = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n\n"
    )
    fake_smi({QUERY: (message, 9)})
    code, result = run_module(capsys, required=required)
    assert code == rc
    assert result["nvidia_smi"] == "error"
    assert result["errors"] == ["`nvidia-smi %s` exited 9: %s" % (QUERY, " ".join(message.split()))]
    assert result["msg"] == "nvidia-smi failed: " + result["errors"][0]
    assert result["gpus"] == []


def test_no_devices(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path) -> None:
    fake_smi({QUERY: ("No devices were found\n", 6)})
    code, result = run_module(capsys)
    assert (code, result["failed"]) == (1, True)
    assert (result["nvidia_smi"], result["gpus"], result["errors"]) == ("present", [], ["No devices were found"])
    assert result["msg"] == "nvidia-smi lists no GPU; No devices were found"
    assert calls(tmp_path) == [QUERY]
    code, result = run_module(capsys, required=False)
    assert (code, result["nvidia_smi"]) == (0, "present")


def test_gpu_fallen_off_the_bus(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi) -> None:
    outputs = machine_outputs("h100")
    lines = outputs[QUERY][0].splitlines()
    lines[4] = "Unable to determine the device handle for GPU0000:9D:00.0: Unknown Error"
    outputs[QUERY] = ("\n".join(lines) + "\n", 0)
    fake_smi(outputs)
    code, result = run_module(capsys, ib_sysfs_root=MULTI_HCA, link_layer="InfiniBand")
    assert (code, result["gpu_count"]) == (0, 7)
    assert [gpu["index"] for gpu in result["gpus"]] == [0, 1, 2, 3, 5, 6, 7]
    assert len(result["errors"]) == 1 and "GPU0000:9D:00.0: Unknown Error" in result["errors"][0]
    assert "4" not in result["nic_affinity"]["mapping"]


def test_unknown_gpu_model_is_reported(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi) -> None:
    row = "0, NVIDIA Future GPU X, GPU-00000000-0000-0000-0000-000000000000, 650.10.01, 262144, 11.0, Enabled, Disabled, 00000000:1B:00.0\n"
    fake_smi({QUERY: (row, 0), "": ("| NVIDIA-SMI 650.10.01   Driver Version: 650.10.01   CUDA Version: 14.0 |\n", 0), "topo -m": ("", 1)})
    code, result = run_module(capsys, ib_sysfs_root="/nonexistent")
    assert code == 0
    assert result["msg"] == "1 GPU (NVIDIA Future GPU X), driver 650.10.01, CUDA 14.0"
    (gpu,) = result["gpus"]
    assert (gpu["name"], gpu["compute_capability"], gpu["architecture"]) == ("NVIDIA Future GPU X", [11, 0], None)
    assert result["errors"] == ["`nvidia-smi topo -m` exited 1: no output"]


def test_driver_without_compute_cap_field(capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path) -> None:
    rows = "".join(
        "%d, A100-SXM4-40GB, GPU-%d, 470.82.01, 40536, Enabled, Disabled, 00000000:%s:00.0\n" % (n, n, bus)
        for n, bus in enumerate(("07", "0F"))
    )
    fake_smi({
        QUERY: ('Field "compute_cap" is not a valid field to query.\n', 2),
        QUERY_WITHOUT_CAP: (rows, 0),
        "": ("| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |\n", 0),
        "topo -m": ("\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tNV12\t48-63\t3\nGPU1\tNV12\t X \t48-63\t3\n", 0),
    })
    code, result = run_module(capsys, ib_sysfs_root="/nonexistent")
    assert code == 0
    assert [(gpu["compute_cap"], gpu["compute_capability"], gpu["architecture"]) for gpu in result["gpus"]] == [("8.0", [8, 0], "Ampere")] * 2
    assert calls(tmp_path) == [QUERY, QUERY_WITHOUT_CAP, "", "topo -m"]
    assert result["errors"] == []


@pytest.mark.parametrize("fixture, flavour", [("proc-version-open.txt", "open"), ("proc-version-proprietary.txt", "proprietary")])
def test_kernel_module_flavour_from_proc(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fixture: str, flavour: str
) -> None:
    monkeypatch.setattr(gpu_facts, "NVIDIA_VERSION_FILE", str(SMI / "kernel" / fixture))
    _code, result = run_module(capsys, required=False)
    assert (result["nvidia_smi"], result["kernel_module_flavour"]) == ("absent", flavour)


@pytest.mark.parametrize(
    "fixture, rc, flavour", [("modinfo-open.txt", 0, "open"), ("modinfo-proprietary.txt", 0, "proprietary"), ("modinfo-open.txt", 1, None)]
)
def test_kernel_module_flavour_from_modinfo(
    capsys: pytest.CaptureFixture[str], fake_smi: FakeSmi, tmp_path: Path, fixture: str, rc: int, flavour: str | None
) -> None:
    fake_smi({"nvidia": ((SMI / "kernel" / fixture).read_text(encoding="utf-8"), rc)}, name="modinfo")
    _code, result = run_module(capsys, required=False)
    assert result["kernel_module_flavour"] == flavour
    assert calls(tmp_path, "modinfo") == ["nvidia"]
