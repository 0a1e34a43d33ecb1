# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the GPUs of a host are, how they sit next to its RDMA NICs, and whether they fit the plan.

Parses what ``nvidia-smi`` prints (the ``--query-gpu`` CSV, the plain banner, the ``topo -m``
matrix) and what the kernel says about the driver, pairs every GPU with its nearest active NICs
in the per-GPU JSON form of SGLang's ``--disaggregation-ib-device``, and judges the GPUs against
what the topology plan assigns to the host, naming the operator fix for every failure.
Pure Python 3.8+ without Ansible imports: the ``gpu_facts`` module runs it on targets and the
host preflight runs ``check_gpus`` over its result.
"""
from __future__ import annotations

import csv
import json
import os
import re
from typing import Any, Iterable, Mapping, Sequence

# What gpu_facts asks nvidia-smi for, in this order.
QUERY_FIELDS = (
    "index",
    "name",
    "uuid",
    "driver_version",
    "memory.total",
    "compute_cap",
    "persistence_mode",
    "mig.mode.current",
    "pci.bus_id",
)
# nvidia-smi's own names -> the keys of the parsed dicts; other fields keep their name with _ for '.'.
_FIELD_KEYS = {
    "memory.total": "memory_total_mib",
    "mig.mode.current": "mig_mode",
    "pci.bus_id": "pci_bus_id",
}
# What nvidia-smi prints where a value does not apply or cannot be read.
_NOT_AVAILABLE = {"[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "[GPU is lost]", ""}

# GPU <-> NIC link types of `nvidia-smi topo -m`, nearest first. SOC is what drivers before the
# NODE level called SYS. Lower is nearer; a pair nothing can place ranks after SYS.
LINK_RANKS = {"PIX": 1, "PXB": 2, "PHB": 3, "NODE": 4, "SYS": 5, "SOC": 5}
_UNKNOWN_RANK = 6
_AFFINITY_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")

# Compute capability -> architecture, for reports; a capability not listed is reported as unknown.
ARCHITECTURES = {
    (7, 0): "Volta",
    (7, 5): "Turing",
    (8, 0): "Ampere",
    (8, 6): "Ampere",
    (8, 7): "Ampere",
    (8, 9): "Ada Lovelace",
    (9, 0): "Hopper",
    (10, 0): "Blackwell",
    (10, 3): "Blackwell",
    (12, 0): "Blackwell",
    (12, 1): "Blackwell",
}
# Data-centre models by name, for drivers older than 510 whose nvidia-smi has no compute_cap field.
_MODEL_COMPUTE_CAPS = (
    (re.compile(r"\b(GB|B)300\b"), (10, 3)),
    (re.compile(r"\b(GB|B)(100|200)\b"), (10, 0)),
    (re.compile(r"\b(GH200|H100|H200|H800|H20)\b"), (9, 0)),
    (re.compile(r"\b(L40S|L40|L4|L20)\b"), (8, 9)),
    (re.compile(r"\b(A10|A40|A16|A2|A6000)\b"), (8, 6)),
    (re.compile(r"\b(A100|A800|A30)\b"), (8, 0)),
    (re.compile(r"\bT4\b"), (7, 5)),
    (re.compile(r"\bV100\b"), (7, 0)),
)

GPU_CHECKS = ("gpu_count", "gpu_model", "driver_version", "compute_capability", "mig_mode", "persistence_mode")

_PCI_ROOT = re.compile(r"^pci[0-9a-f]{4}:[0-9a-f]{2}$", re.IGNORECASE)
_PCI_ADDRESS = re.compile(r"^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")
_DRIVER_VERSION = re.compile(r"\b(?:Driver|KMD) Version\s*:\s*([0-9]+(?:\.[0-9]+)+)")
_CUDA_VERSION = re.compile(r"\bCUDA (?:UMD )?Version\s*:\s*([0-9]+(?:\.[0-9]+)+)")
_SMI_VERSION = re.compile(r"\bNVIDIA-SMI\s+([0-9]+(?:\.[0-9]+)+)")
_NVRM_LINE = re.compile(r"^NVRM version:\s*(.*)$", re.MULTILINE)
_MODINFO_LICENSE = re.compile(r"^license:\s*(.+?)\s*$", re.MULTILINE)
_TOPO_DEVICE = re.compile(r"^(GPU|NIC)(\d+)$")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_TOPO_LEGEND = re.compile(r"^\s*(NIC\d+)\s*:\s*(\S+)\s*$")
_CAP_TEXT = re.compile(r"^(?:sm_|compute_)?(\d+)(?:\.(\d+))?[a-z]?$")


def parse_query_gpu_csv(
    text: str,
    fields: Sequence[str] | str = QUERY_FIELDS,
    errors: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One dict per GPU from ``nvidia-smi --query-gpu=<fields> --format=csv,noheader[,nounits]``.

    Values are typed: ``index`` an int, ``memory.total`` an int of MiB (as ``memory_total_mib``),
    ``compute_cap`` the text (``"9.0"``) plus ``compute_capability`` as a tuple (``(9, 0)``),
    ``pci.bus_id`` as printed (``pci_bus_id``) plus ``pci_address`` in the sysfs spelling
    (``0000:1b:00.0``); ``[N/A]`` and ``[Not Supported]`` become None; ``Enabled``/``Disabled`` stay.
    A line without one value per field (nvidia-smi prints ``Unable to determine the device handle
    for GPU...`` in the middle of the CSV for a GPU that fell off the bus) is appended to ``errors``
    when a list is given, and raises ValueError otherwise.
    """
    names = [field.strip() for field in (fields.split(",") if isinstance(fields, str) else fields)]
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = next(csv.reader([line], skipinitialspace=True))
        if len(values) != len(names):
            message = "nvidia-smi printed %r where %d values (%s) were expected" % (line.strip(), len(names), ", ".join(names))
            if errors is None:
                raise ValueError(message)
            errors.append(message)
            continue
        gpu: dict[str, Any] = {}
        for name, raw in zip(names, values):
            _set_field(gpu, name, raw.strip())
        gpus.append(gpu)
    return gpus


def parse_driver_banner(text: str) -> dict[str, str | None]:
    """Driver and CUDA versions from plain ``nvidia-smi`` output (or ``nvidia-smi -q``).

    Reads ``Driver Version: 580.95.05  CUDA Version: 13.0`` and the R610 spelling
    ``KMD Version: 610.43.02  CUDA UMD Version: 13.3``; a version that is absent or
    ``Not Found`` is None. ``cuda_version`` is the newest CUDA the driver supports.
    """
    driver = _DRIVER_VERSION.search(text)
    cuda = _CUDA_VERSION.search(text)
    smi = _SMI_VERSION.search(text)
    return {
        "driver_version": driver.group(1) if driver else None,
        "cuda_version": cuda.group(1) if cuda else None,
        "nvidia_smi_version": smi.group(1) if smi else None,
    }


def kernel_module_flavour(text: str) -> str | None:
    """``open`` or ``proprietary`` from ``/proc/driver/nvidia/version`` or ``modinfo nvidia`` text.

    The open modules say ``NVIDIA UNIX Open Kernel Module for x86_64`` (or, in some releases,
    ``NVIDIA UNIX Open Kernel x86_64 Kernel Module``) and carry ``license: Dual MIT/GPL``; the
    proprietary ones say ``NVIDIA UNIX x86_64 Kernel Module`` and ``license: NVIDIA``. None when
    the text says neither.
    """
    nvrm = _NVRM_LINE.search(text or "")
    if nvrm:
        return "open" if "Open Kernel" in nvrm.group(1) else "proprietary"
    license_line = _MODINFO_LICENSE.search(text or "")
    if license_line:
        value = license_line.group(1)
        if "MIT" in value or "GPL" in value:
            return "open"
        if value == "NVIDIA":
            return "proprietary"
    return None


def parse_topo_matrix(text: str) -> dict[str, Any]:
    """The GPU rows and NIC legend of ``nvidia-smi topo -m``.

    Returns ``gpus``: one dict per GPU row with ``index``, ``gpu_links`` (``{"GPU1": "NV18"}``),
    ``nic_links`` keyed by NIC name (``{"mlx5_0": "PIX"}``), ``cpu_affinity`` (``"0-55,112-167"``),
    ``numa_affinity`` as printed, ``numa_node`` (an int, or None for ``N/A`` or a range) and
    ``gpu_numa_id``; ``nics``: the NIC names in column order; ``nic_legend``: ``{"NIC0": "mlx5_0"}``.
    Older drivers name NIC columns after the device itself (``mlx5_0``) and print no legend; both
    forms are read. Tab- and space-separated copies parse alike, and the ANSI underline that
    nvidia-smi puts on the header when it writes to a terminal is dropped. Raises ValueError
    without a header.
    """
    lines = _ANSI_ESCAPE.sub("", text).splitlines()
    header_at = next((n for n, line in enumerate(lines) if re.search(r"(^|\s)GPU0(\s|$)", line)), None)
    if header_at is None:
        raise ValueError("no `nvidia-smi topo -m` header (a line naming GPU0) in the text")
    header = lines[header_at]
    for column in _AFFINITY_COLUMNS:
        header = header.replace(column, column.replace(" ", "\0"))
    columns = [token.replace("\0", " ") for token in header.split()]
    devices = [column for column in columns if column not in _AFFINITY_COLUMNS]
    affinity = [column for column in columns if column in _AFFINITY_COLUMNS]
    legend = {}
    for line in lines[header_at + 1:]:
        entry = _TOPO_LEGEND.match(line)
        if entry:
            legend[entry.group(1)] = entry.group(2)

    def nic_name(label: str) -> str:
        return legend.get(label, label)

    gpus = []
    for line in lines[header_at + 1:]:
        tokens = line.split()
        if not tokens or tokens[0] not in devices or not tokens[0].startswith("GPU"):
            continue
        match = _TOPO_DEVICE.match(tokens[0])
        if not match:
            continue
        cells = tokens[1:1 + len(devices)]
        rest = tokens[1 + len(devices):]
        gpu: dict[str, Any] = {"index": int(match.group(2)), "gpu_links": {}, "nic_links": {}}
        for column, cell in zip(devices, cells):
            if column == tokens[0]:
                continue
            if column.startswith("GPU") and _TOPO_DEVICE.match(column):
                gpu["gpu_links"][column] = cell
            else:
                gpu["nic_links"][nic_name(column)] = cell
        values = dict(zip(affinity, rest))
        gpu["cpu_affinity"] = _available(values.get("CPU Affinity"))
        gpu["numa_affinity"] = _available(values.get("NUMA Affinity"))
        gpu["numa_node"] = _int_or_none(gpu["numa_affinity"])
        gpu["gpu_numa_id"] = _int_or_none(_available(values.get("GPU NUMA ID")))
        gpus.append(gpu)
    nics = [nic_name(column) for column in devices if not column.startswith("GPU")]
    return {"gpus": gpus, "nics": nics, "nic_legend": legend}


def pci_address(bus_id: str | None) -> str | None:
    """nvidia-smi's ``00000000:1B:00.0`` in the sysfs spelling ``0000:1b:00.0``; None when unreadable."""
    match = _PCI_ADDRESS.match((bus_id or "").strip())
    if not match:
        return None
    domain, bus, device, function = match.groups()
    return "%s:%s:%s.%s" % (domain[-4:].lower(), bus.lower(), device.lower(), function)


def read_pci_locality(pci_sysfs_root: str, address: str | None) -> dict[str, Any]:
    """NUMA node and PCIe path of the PCI function ``address`` under ``/sys/bus/pci/devices``.

    ``pci_path`` is the chain of bridges from the root complex down to the device, as the
    ``/sys/devices/pci0000:15/0000:15:01.0/.../0000:1b:00.0`` target of the sysfs link spells it
    (``["pci0000:15", "0000:15:01.0", ..., "0000:1b:00.0"]``); None when the link does not resolve
    into such a tree. ``numa_node`` is None when the file is missing or holds -1.
    """
    locality: dict[str, Any] = {"numa_node": None, "pci_path": None}
    if not address:
        return locality
    device = os.path.join(pci_sysfs_root, address)
    try:
        with open(os.path.join(device, "numa_node"), encoding="utf-8") as handle:
            node = handle.read().strip()
    except OSError:
        node = ""
    if node.lstrip("-").isdigit() and int(node) >= 0:
        locality["numa_node"] = int(node)
    parts = os.path.realpath(device).split(os.sep)
    roots = [n for n, part in enumerate(parts) if _PCI_ROOT.match(part)]
    if roots and parts[-1].lower() == address.lower():
        locality["pci_path"] = parts[roots[-1]:]
    return locality


def pcie_link(first: Mapping[str, Any], second: Mapping[str, Any]) -> str | None:
    """The ``topo -m`` word for two devices from their sysfs ``pci_path`` and ``numa_node``.

    Both below one bridge of a PCIe switch: PIX; below one switch tree deeper than that: PXB;
    different root ports of one root complex: PHB; different root complexes on one NUMA node:
    NODE; different NUMA nodes: SYS. None when neither path nor NUMA node tells.
    """
    path_a, path_b = first.get("pci_path"), second.get("pci_path")
    if path_a and path_b and path_a[0] == path_b[0]:
        chain_a, chain_b = path_a[1:], path_b[1:]
        common = 0
        while common < min(len(chain_a), len(chain_b)) - 1 and chain_a[common] == chain_b[common]:
            common += 1
        if common == 0:
            return "PHB"
        return "PIX" if max(len(chain_a), len(chain_b)) - common <= 2 else "PXB"
    node_a, node_b = first.get("numa_node"), second.get("numa_node")
    if node_a is not None and node_b is not None:
        return "NODE" if node_a == node_b else "SYS"
    return None


def nearest_nics(
    gpus: Sequence[Mapping[str, Any]],
    nics: Sequence[Mapping[str, Any] | str],
    topo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """For every GPU the usable NICs nearest to it, as SGLang's per-GPU ``--disaggregation-ib-device``.

    ``gpus`` are ``parse_query_gpu_csv`` dicts (``index``), optionally with ``numa_node`` and
    ``pci_path`` (``read_pci_locality``); ``nics`` are the usable NICs only (the ACTIVE ports of
    ``_ib.read_sysfs_ports`` on the wanted link layer: ``device``, ``numa_node``, optionally
    ``pci_path``), or bare names. Each pair is placed by the ``topo -m`` matrix when it lists both,
    else by the sysfs PCIe path, else by NUMA node; each GPU gets every NIC at its best level
    (PIX before PXB, PHB, NODE, SYS). Returns:

    - ``mapping``: ``{"0": "mlx5_0", "1": "mlx5_1,mlx5_2"}``, keyed by GPU index as SGLang reads it
      (process-visible GPU IDs, which are nvidia-smi's indices when CUDA_VISIBLE_DEVICES is unset);
    - ``argument``: the same mapping as the compact JSON text SGLang normalises it to;
    - ``gpus``: per GPU the chosen ``nics``, their ``link`` and where it came from (``source``);
    - ``cross_socket``: one warning per GPU whose nearest NIC is across NUMA nodes (SYS), naming both;
    - ``unmapped``: the GPUs for which there is no NIC at all.
    """
    gpu_rows = {row["index"]: row for row in (topo or {}).get("gpus", [])}
    nic_list = [{"device": nic} if isinstance(nic, str) else nic for nic in nics]
    nic_list = list({nic["device"]: nic for nic in nic_list}.values())
    result: dict[str, Any] = {"mapping": {}, "argument": None, "gpus": [], "cross_socket": [], "unmapped": []}
    for gpu in sorted(gpus, key=lambda item: item["index"]):
        index = gpu["index"]
        if not nic_list:
            result["unmapped"].append(index)
            continue
        placed = []
        for nic in nic_list:
            link, source = _pair_link(gpu, nic, gpu_rows.get(index))
            placed.append((LINK_RANKS.get(link or "", _UNKNOWN_RANK), link, source, nic))
        best = min(rank for rank, _link, _source, _nic in placed)
        chosen = [(link, source, nic) for rank, link, source, nic in placed if rank == best]
        names = [nic["device"] for _link, _source, nic in chosen]
        link, source = chosen[0][0], chosen[0][1]
        result["mapping"][str(index)] = ",".join(names)
        result["gpus"].append({"gpu": index, "nics": names, "link": link or "unknown", "source": source})
        if link in ("SYS", "SOC"):
            result["cross_socket"].append(_cross_socket_warning(gpu, gpu_rows.get(index), chosen))
    if result["mapping"]:
        result["argument"] = json.dumps(result["mapping"], separators=(",", ":"))
    return result


def check_gpus(
    facts: Mapping[str, Any],
    *,
    gpu_ids_needed: Mapping[str, Iterable[int]] | Sequence[Iterable[int]],
    driver_floor: str | None = None,
    supported_compute_caps: Iterable[str] | None = None,
    need_whole_gpus: bool = True,
) -> dict[str, Any]:
    """Judge a host's ``gpu_facts`` against the GPU ranges the plan gives its instances.

    ``gpu_ids_needed`` maps each instance on the host to its GPU indices (a list of ranges is
    named ``instance 1``, ``instance 2``...). ``driver_floor`` is the lowest driver version
    (``"570.26"``) and ``supported_compute_caps`` the capabilities the profile's kernels are built
    for (``"9.0"``, ``"90"``, ``"sm_90a"``); None skips that check. Returns ``failures`` (each
    ``check``, ``found``, ``needed``, ``fix``; every one, not only the first), ``not_run`` (each
    ``check`` and ``reason``, for checks that could not run on this host) and ``info`` (persistence
    mode, reported and never failing).
    """
    needed = _needed_ranges(gpu_ids_needed)
    report: dict[str, Any] = {"failures": [], "not_run": [], "info": []}
    if not any(needed.values()):
        return report
    state = facts.get("nvidia_smi")
    if state != "present":
        report["failures"].append(_nvidia_smi_failure(facts))
        reason = "nvidia-smi is %s on this host" % ("not installed" if state == "absent" else "not working")
        report["not_run"] = [{"check": check, "reason": reason} for check in GPU_CHECKS]
        return report
    gpus = {gpu["index"]: gpu for gpu in facts.get("gpus") or [] if isinstance(gpu.get("index"), int)}
    report["failures"].extend(_count_failures(needed, gpus, facts.get("errors") or []))
    if not gpus:
        reason = "no GPU is visible to nvidia-smi"
        report["not_run"] = [{"check": check, "reason": reason} for check in GPU_CHECKS if check != "gpu_count"]
        return report
    used = sorted({index for ids in needed.values() for index in ids if index in gpus})
    report["failures"].extend(_model_failures(needed, gpus))
    if driver_floor:
        failure = _driver_failure(facts.get("driver_version"), driver_floor, facts.get("cuda_version"))
        if failure:
            report["failures"].append(failure)
    if supported_compute_caps is not None:
        report["failures"].extend(_compute_cap_failures(used, gpus, supported_compute_caps))
    if need_whole_gpus:
        report["failures"].extend(_mig_failures(used, gpus))
    report["info"].append(_persistence_info(used, gpus))
    return report


def describe_failures(failures: Iterable[Mapping[str, str]]) -> str:
    """One line per failure: ``check: found ...; needed ...; fix: ...``."""
    return "\n".join(
        "%s: found %s; needed %s; fix: %s" % (failure["check"], failure["found"], failure["needed"], failure["fix"])
        for failure in failures
    )


def compute_cap_from_name(name: str | None) -> tuple[int, int] | None:
    """The compute capability of a data-centre GPU model named as nvidia-smi names it; None if unknown."""
    for pattern, capability in _MODEL_COMPUTE_CAPS:
        if pattern.search(name or ""):
            return capability
    return None


def fill_compute_cap_from_name(gpu: dict[str, Any]) -> None:
    """Give ``gpu`` the compute capability of its model when nvidia-smi could not report one."""
    if gpu.get("compute_capability") is not None:
        return
    capability = compute_cap_from_name(gpu.get("name"))
    gpu["compute_cap"] = "%d.%d" % capability if capability else None
    gpu["compute_capability"] = capability
    gpu["architecture"] = ARCHITECTURES.get(capability) if capability else None


def parse_compute_cap(text: Any) -> tuple[int, int] | None:
    """``"9.0"``, ``"90"``, ``"sm_90a"``, ``"compute_100"``, ``(10, 0)`` -> a (major, minor) tuple; None if unreadable."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        return int(text[0]), int(text[1])
    match = _CAP_TEXT.match(str(text or "").strip().lower())
    if not match:
        return None
    major, minor = match.groups()
    if minor is not None:
        return int(major), int(minor)
    if len(major) < 2:
        return None
    return int(major[:-1]), int(major[-1])


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """``"570.133.20"`` -> (570, 133, 20); None when it is not a dotted number."""
    parts = (version or "").strip().split(".")
    if not parts or not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def gpu_ranges(indices: Iterable[int]) -> str:
    """[0, 1, 2, 3, 6] -> ``0-3, 6``."""
    spans: list[list[int]] = []
    for index in sorted(set(indices)):
        if spans and index == spans[-1][-1] + 1:
            spans[-1].append(index)
        else:
            spans.append([index])
    return ", ".join(str(span[0]) if len(span) == 1 else "%d-%d" % (span[0], span[-1]) for span in spans)


def _set_field(gpu: dict[str, Any], name: str, raw: str) -> None:
    value: Any = None if raw in _NOT_AVAILABLE else raw
    key = _FIELD_KEYS.get(name, name.replace(".", "_"))
    if name == "index":
        value = int(value) if value is not None and value.isdigit() else value
    elif name == "memory.total":
        number = _LEADING_NUMBER.match(value or "")
        value = int(float(number.group(1))) if number else None
    elif name == "compute_cap":
        gpu["compute_capability"] = parse_compute_cap(value)
        gpu["architecture"] = ARCHITECTURES.get(gpu["compute_capability"]) if gpu["compute_capability"] else None
    elif name == "pci.bus_id":
        gpu["pci_address"] = pci_address(value)
    gpu[key] = value


def _available(value: str | None) -> str | None:
    return None if value is None or value in _NOT_AVAILABLE else value


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _pair_link(gpu: Mapping[str, Any], nic: Mapping[str, Any], row: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """Where the pair sits: (topo -m word, source) from the matrix, sysfs PCIe path, or NUMA node."""
    if row is not None:
        link = row["nic_links"].get(nic["device"])
        if link in LINK_RANKS:
            return link, "topology"
    gpu_numa = gpu.get("numa_node")
    if gpu_numa is None and row is not None:
        gpu_numa = row.get("numa_node")
    link = pcie_link({"pci_path": gpu.get("pci_path"), "numa_node": gpu_numa}, nic)
    if link is None:
        return None, "unknown"
    source = "pci_path" if gpu.get("pci_path") and nic.get("pci_path") and gpu["pci_path"][0] == nic["pci_path"][0] else "numa_node"
    return link, source


def _cross_socket_warning(
    gpu: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    chosen: list[tuple[str | None, str, Mapping[str, Any]]],
) -> dict[str, Any]:
    gpu_numa = gpu.get("numa_node")
    if gpu_numa is None and row is not None:
        gpu_numa = row.get("numa_node")
    names = [nic["device"] for _link, _source, nic in chosen]
    nic_numa = sorted({nic["numa_node"] for _link, _source, nic in chosen if nic.get("numa_node") is not None})
    where = " on NUMA node %d" % gpu_numa if gpu_numa is not None else ""
    address = " (%s%s)" % (gpu.get("pci_address") or "PCI address unknown", where)
    nic_where = " (NUMA node %s)" % ", ".join(str(node) for node in nic_numa) if nic_numa else ""
    message = (
        "GPU %d%s reaches its nearest usable NIC%s %s%s only across the CPU socket interconnect (SYS): "
        "KV transfers from this GPU cross sockets, run slower, and the first one can time out"
        % (gpu["index"], address, "" if len(names) == 1 else "s", ", ".join(names), nic_where)
    )
    fix = (
        "bring up an RDMA port on the GPU's own NUMA node (check the ports there with `ibstat` or "
        "gpufleet.sglang.ib_port_state), or give this instance GPUs on the socket of %s with "
        "sglang_base_gpu_id, or name the devices explicitly in sglang_ib_device if this pairing is intended"
        % ", ".join(names)
    )
    return {
        "gpu": gpu["index"],
        "gpu_pci_address": gpu.get("pci_address"),
        "gpu_numa_node": gpu_numa,
        "nics": names,
        "nic_numa_nodes": nic_numa,
        "warning": message,
        "fix": fix,
    }


def _needed_ranges(gpu_ids_needed: Mapping[str, Iterable[int]] | Sequence[Iterable[int]]) -> dict[str, list[int]]:
    if isinstance(gpu_ids_needed, Mapping):
        items = list(gpu_ids_needed.items())
    else:
        items = [("instance %d" % (n + 1), ids) for n, ids in enumerate(gpu_ids_needed)]
    return {str(name): sorted({int(index) for index in ids}) for name, ids in items}


def _nvidia_smi_failure(facts: Mapping[str, Any]) -> dict[str, str]:
    if facts.get("nvidia_smi") == "absent":
        return {
            "check": "nvidia_smi",
            "found": "nvidia-smi is not installed (not on PATH)",
            "needed": "the NVIDIA driver with nvidia-smi, to list the GPUs this host serves",
            "fix": "install the NVIDIA datacenter driver and its utilities (Ubuntu: `apt-get install "
            "nvidia-driver-<branch>-server-open nvidia-utils-<branch>-server`, or NVIDIA's cuda-drivers "
            "packages), reboot, and check that `nvidia-smi` lists the GPUs",
        }
    detail = "; ".join(facts.get("errors") or []) or "no output"
    return {
        "check": "nvidia_smi",
        "found": "nvidia-smi fails: %s" % detail,
        "needed": "nvidia-smi listing the GPUs this host serves",
        "fix": "load the driver (`modprobe nvidia`; `dmesg | grep -i -e nvrm -e xid` shows why it fails), make the "
        "kernel module match the installed driver (reinstall it or reboot after an upgrade), and check that "
        "`nvidia-smi` lists the GPUs",
    }


def _count_failures(needed: Mapping[str, list[int]], gpus: Mapping[int, Any], errors: list[str]) -> list[dict[str, str]]:
    failures = []
    present = sorted(gpus)
    found = "%d GPU%s (%s)" % (len(present), "" if len(present) == 1 else "s", gpu_ranges(present) or "none")
    if errors:
        found += "; nvidia-smi also printed: %s" % "; ".join(errors)
    for instance, ids in needed.items():
        missing = [index for index in ids if index not in gpus]
        if not missing:
            continue
        failures.append({
            "check": "gpu_count",
            "found": found,
            "needed": "GPUs %s for %s (%d GPU%s)" % (gpu_ranges(ids), instance, len(ids), "" if len(ids) == 1 else "s"),
            "fix": "%s missing: if the machine has them, find why they are not visible (`nvidia-smi -L`, "
            "`dmesg | grep -i -e xid -e 'fallen off'`, `lspci -d 10de:`; reseat or replace a GPU that fell off the "
            "bus, then reboot); otherwise lower sglang_gpus_per_node or sglang_base_gpu_id so that the range fits "
            "the %d GPU%s present"
            % ("GPU %s is" % missing[0] if len(missing) == 1 else "GPUs %s are" % gpu_ranges(missing), len(present), "" if len(present) == 1 else "s"),
        })
    return failures


def _model_failures(needed: Mapping[str, list[int]], gpus: Mapping[int, Any]) -> list[dict[str, str]]:
    failures = []
    for instance, ids in needed.items():
        models: dict[str, list[int]] = {}
        for index in ids:
            if index in gpus:
                models.setdefault(gpus[index].get("name") or "unknown model", []).append(index)
        if len(models) < 2:
            continue
        found = "; ".join("GPU %s: %s" % (gpu_ranges(indices), model) for model, indices in models.items())
        failures.append({
            "check": "gpu_model",
            "found": found,
            "needed": "one GPU model across GPUs %s of %s" % (gpu_ranges(ids), instance),
            "fix": "tensor-parallel ranks run in lockstep, so mixed models run at the slowest one's pace or fail on "
            "memory: set sglang_base_gpu_id and sglang_gpus_per_node so that %s uses GPUs of one model, or move it "
            "to a host with identical GPUs" % instance,
        })
    return failures


def _driver_failure(found: str | None, floor: str, cuda: str | None) -> dict[str, str] | None:
    floor_tuple = version_tuple(floor)
    if floor_tuple is None:
        raise ValueError("driver_floor %r is not a dotted version such as 570.26" % floor)
    found_tuple = version_tuple(found)
    if found_tuple is not None and found_tuple >= floor_tuple:
        return None
    supports = " (supports CUDA %s)" % cuda if cuda else ""
    return {
        "check": "driver_version",
        "found": "driver %s%s" % (found, supports) if found else "no driver version reported by nvidia-smi",
        "needed": "driver %s or newer, the floor of the release profile's CUDA" % floor,
        "fix": "upgrade the NVIDIA driver to branch %d or newer (Ubuntu: `apt-get install nvidia-driver-%d-server-open` "
        "or NVIDIA's `cuda-drivers-%d`), then reboot; on datacenter GPUs the cuda-compat package of the profile's "
        "CUDA is the alternative when the driver cannot move" % (floor_tuple[0], floor_tuple[0], floor_tuple[0]),
    }


def _runs_cubins_of(capability: tuple[int, int], built: tuple[int, int]) -> bool:
    """Whether a GPU runs cubins built for ``built``: the same capability, or for 8.x a later minor
    (sm_80 cubins run on 8.6 and 8.9). From Hopper on, kernels are built for the arch-specific targets
    (sm_90a, sm_100a), which run on exactly that capability."""
    if capability == built:
        return True
    return capability[0] == built[0] < 9 and capability[1] > built[1]


def _compute_cap_failures(used: list[int], gpus: Mapping[int, Any], supported: Iterable[str]) -> list[dict[str, str]]:
    allowed = []
    for item in supported:
        capability = parse_compute_cap(item)
        if capability is None:
            raise ValueError("supported_compute_caps entry %r is not a compute capability such as 9.0 or sm_90a" % (item,))
        allowed.append(capability)
    wanted = ", ".join("%d.%d" % capability for capability in sorted(set(allowed))) or "none"
    groups: dict[tuple[str, tuple[int, int] | None], list[int]] = {}
    for index in used:
        gpu = gpus[index]
        capability = parse_compute_cap(gpu.get("compute_capability") or gpu.get("compute_cap"))
        if capability is not None and any(_runs_cubins_of(capability, built) for built in allowed):
            continue
        groups.setdefault((gpu.get("name") or "unknown model", capability), []).append(index)
    failures = []
    for (model, capability), indices in groups.items():
        if capability is None:
            found = "GPU %s (%s): compute capability unknown, nvidia-smi did not report it" % (gpu_ranges(indices), model)
            fix = ("a driver of branch 510 or newer reports compute_cap: upgrade the driver; if the model is new, "
                   "check NVIDIA's CUDA GPUs list for its capability and the profile's kernels for support")
        else:
            arch = ARCHITECTURES.get(capability, "unknown architecture")
            found = "GPU %s (%s): compute capability %d.%d (%s)" % (gpu_ranges(indices), model, capability[0], capability[1], arch)
            fix = ("the release profile's kernels (sgl-kernel, DeepEP) are built for sm_%s only: serve on GPUs of those "
                   "architectures, or choose a release profile built for sm_%d%d"
                   % (", sm_".join("%d%d" % cap for cap in sorted(set(allowed))) or "none", capability[0], capability[1]))
        failures.append({"check": "compute_capability", "found": found, "needed": "compute capability %s" % wanted, "fix": fix})
    return failures


def _mig_failures(used: list[int], gpus: Mapping[int, Any]) -> list[dict[str, str]]:
    enabled = [index for index in used if gpus[index].get("mig_mode") == "Enabled"]
    if not enabled:
        return []
    ids = ",".join(str(index) for index in enabled)
    return [{
        "check": "mig_mode",
        "found": "MIG mode Enabled on GPU %s" % gpu_ranges(enabled),
        "needed": "whole GPUs (MIG mode Disabled) for SGLang's tensor-parallel ranks",
        "fix": "stop what runs on them and disable MIG: `nvidia-smi -i %s -mig 0` (a GPU reset or reboot applies it "
        "when the GPU is busy); disable any MIG manager (nvidia-mig-parted, the GPU operator's mig-manager) that "
        "would enable it again" % ids,
    }]


def _persistence_info(used: list[int], gpus: Mapping[int, Any]) -> dict[str, Any]:
    modes: dict[str, list[int]] = {}
    for index in used:
        modes.setdefault(gpus[index].get("persistence_mode") or "unknown", []).append(index)
    disabled = modes.get("Disabled", [])
    found = "; ".join("%s on GPU %s" % (mode, gpu_ranges(indices)) for mode, indices in sorted(modes.items()))
    note = (
        "persistence mode is off: the driver tears the GPUs down whenever no process holds them, so every start "
        "pays the initialisation again; enable it with `systemctl enable --now nvidia-persistenced` "
        "(or `nvidia-smi -pm 1` until the next reboot)"
        if disabled else "persistence mode is on"
    )
    return {"check": "persistence_mode", "found": found, "disabled_gpus": disabled, "note": note}
