# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""State of the RDMA (InfiniBand and RoCE) ports of a host, and whether they are usable.

Reads ``/sys/class/infiniband`` (or parses ``ibv_devinfo`` output) into one dict per port, then
judges the ports against what a deployment needs, naming the operator fix for every bad one.
Pure Python 3.8+ without Ansible imports: the ``ib_port_state`` module runs it on targets and the
host preflight reuses the NUMA node and PCI address of each port to pair GPUs with their nearest NIC.
"""
from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, Iterable, Mapping

AUTO = "auto"
PORT_STATES = ("DOWN", "INIT", "ARMED", "ACTIVE")
LINK_LAYERS = ("any", "InfiniBand", "Ethernet")

# Names the kernel writes to ports/N/state and ports/N/phys_state (drivers/infiniband/core/sysfs.c),
# keyed by the IBTA codes that ibv_devinfo prints in parentheses.
STATE_NAMES = {0: "NOP", 1: "DOWN", 2: "INIT", 3: "ARMED", 4: "ACTIVE", 5: "ACTIVE_DEFER"}
PHYS_STATE_NAMES = {
    1: "Sleep",
    2: "Polling",
    3: "Disabled",
    4: "PortConfigurationTraining",
    5: "LinkUp",
    6: "LinkErrorRecovery",
    7: "Phy Test",
}
_PHYS_SLEEP = 1
_PHYS_POLLING = 2
_PHYS_DISABLED = 3
_PHYS_TRAINING = 4
_PHYS_RECOVERY = 6
_PHYS_TEST = 7

# ibv_devinfo -v prints active_width and active_speed as IBTA enum codes: width code -> lanes,
# speed code -> (name, rate of one lane in tenths of Gb/s), the table the kernel's rate file uses.
_WIDTH_LANES = {1: 1, 2: 4, 4: 8, 8: 12, 16: 2}
_LANE_SPEEDS = {
    1: ("SDR", 25),
    2: ("DDR", 50),
    4: ("QDR", 100),
    8: ("FDR10", 100),
    16: ("FDR", 140),
    32: ("EDR", 250),
    64: ("HDR", 500),
    128: ("NDR", 1000),
    256: ("XDR", 2000),
}

_CODED_VALUE = re.compile(r"^(\d+):\s*(.*)$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")
_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$", re.IGNORECASE)
_DEVINFO_HCA = re.compile(r"^hca_id:\s*(\S+)")
_DEVINFO_PORT = re.compile(r"^\s+port:\s*(\d+)\s*$")
_DEVINFO_FIELD = re.compile(r"^\s+(state|phys_state|link_layer|active_width|active_speed):\s*(.*?)\s*$")
_DEVINFO_GID = re.compile(r"^\s+GID\[\s*\d+\]:\s*([^,\s]+)")
_TRAILING_CODE = re.compile(r"\((\d+)\)$")
_INTERFACE_ID_MASK = (1 << 64) - 1

_NO_RDMA_FIX = (
    "no RDMA device is visible, so no RDMA driver is loaded or no RDMA NIC is installed: load the driver "
    "(`modprobe mlx5_ib`; `lspci | grep -i mellanox` shows whether a ConnectX NIC is present) or install "
    "rdma-core (`apt-get install rdma-core ibverbs-utils infiniband-diags`) or NVIDIA DOCA-OFED / MLNX_OFED"
)


def read_sysfs_ports(sysfs_root: str) -> list[dict[str, Any]]:
    """Every port of every RDMA device under ``sysfs_root``; ``[]`` when it is absent or empty."""
    ports = []
    for device in _sysfs_devices(sysfs_root):
        device_dir = os.path.join(sysfs_root, device)
        numa_node = _read_numa_node(device_dir)
        pci_address = _read_pci_address(device_dir)
        ports_dir = os.path.join(device_dir, "ports")
        for number in _numeric_entries(ports_dir):
            port_dir = os.path.join(ports_dir, str(number))
            port = _empty_port(device, number, "sysfs")
            port["state_code"], port["state"] = _read_coded(os.path.join(port_dir, "state"))
            port["phys_state_code"], port["phys_state"] = _read_coded(os.path.join(port_dir, "phys_state"))
            port["link_layer"] = _read_text(os.path.join(port_dir, "link_layer"))
            port["rate"] = _read_text(os.path.join(port_dir, "rate"))
            port["rate_gbps"] = parse_rate_gbps(port["rate"])
            port["gid"] = _first_sysfs_gid(os.path.join(port_dir, "gids"))
            port["numa_node"] = numa_node
            port["pci_address"] = pci_address
            ports.append(port)
    return ports


def parse_ibv_devinfo(text: str) -> list[dict[str, Any]]:
    """The ports described by ``ibv_devinfo`` or ``ibv_devinfo -v`` output.

    Names follow sysfs (``ACTIVE``, ``LinkUp``, ``400 Gb/sec (4X NDR)``) so both sources compare
    alike. Without ``-v`` there is no phys_state, width, speed or GID: those stay None, as do
    the NUMA node and PCI address, which ibv_devinfo never prints.
    """
    ports = []
    for device, number, fields in _devinfo_port_blocks(text):
        port = _empty_port(device, number, "ibv_devinfo")
        port["state_code"], port["state"] = _devinfo_coded(fields.get("state"), STATE_NAMES)
        port["phys_state_code"], port["phys_state"] = _devinfo_coded(fields.get("phys_state"), PHYS_STATE_NAMES)
        port["link_layer"] = _devinfo_link_layer(fields.get("link_layer"))
        port["rate"], port["rate_gbps"] = _devinfo_rate(fields.get("active_width"), fields.get("active_speed"))
        port["gid"] = fields.get("gid")
        ports.append(port)
    return ports


def parse_rate_gbps(rate: str | None) -> float | None:
    """``400 Gb/sec (4X NDR)`` -> 400.0, ``2.5 Gb/sec (1X SDR)`` -> 2.5; None when unreadable."""
    match = _RATE.match(rate or "")
    return float(match.group(1)) if match else None


def parse_device_spec(spec: str) -> tuple[str, int | None]:
    """Split ``mlx5_0:1`` (the SGLang ``--disaggregation-ib-device`` / ``NCCL_IB_HCA`` form) into name and port."""
    name, separator, port = spec.strip().partition(":")
    if not name:
        raise ValueError("device %r has no name; give an RDMA device such as mlx5_0 or mlx5_0:1" % spec)
    if not separator:
        return name, None
    if not port.isdigit() or int(port) < 1:
        raise ValueError("device %r: the port after ':' must be a number from 1, as in mlx5_0:1" % spec)
    return name, int(port)


def evaluate_ports(
    ports: list[dict[str, Any]],
    devices: Iterable[str],
    required_state: str = "ACTIVE",
    link_layer: str = "any",
) -> tuple[list[str], list[dict[str, str]]]:
    """Judge ``ports`` against the requested devices.

    Returns the devices that have a port in ``required_state`` on ``link_layer`` (all of the host's,
    whatever was requested) and one problem per unusable device, each a dict with ``device``,
    ``found``, ``needed`` and ``fix``. ``devices == ["auto"]`` needs one such port anywhere; a list
    of names (``mlx5_0`` or ``mlx5_0:1``) needs every one of them. Raises ValueError for bad input.
    """
    specs = list(dict.fromkeys(spec.strip() for spec in devices))
    if required_state not in PORT_STATES:
        raise ValueError("required_state must be one of %s, not %r" % (", ".join(PORT_STATES), required_state))
    if link_layer not in LINK_LAYERS:
        raise ValueError("link_layer must be one of %s, not %r" % (", ".join(LINK_LAYERS), link_layer))
    if not specs:
        raise ValueError("devices is empty; give [auto] or the RDMA device names to require")
    if AUTO in specs and specs != [AUTO]:
        raise ValueError("devices mixes auto with device names; give either [auto] or only names")
    requested = [] if specs == [AUTO] else [(spec, parse_device_spec(spec)) for spec in specs]

    def usable(port: dict[str, Any]) -> bool:
        return port["state"] == required_state and link_layer in ("any", port["link_layer"])

    active_devices = list(dict.fromkeys(port["device"] for port in ports if usable(port)))
    if not ports:
        port_numbers = {spec: parsed[1] for spec, parsed in requested}
        return [], [
            _problem(spec, "no RDMA devices on this host", _needed(required_state, link_layer, port_numbers.get(spec)), _NO_RDMA_FIX)
            for spec in specs
        ]
    if not requested:
        if active_devices:
            return active_devices, []
        return [], [
            _port_problem(device, device_ports, None, required_state, link_layer)
            for device, device_ports in _group_by_device(ports)
        ]
    problems = []
    for spec, (name, number) in requested:
        candidates = [port for port in ports if port["device"] == name and number in (None, port["port"])]
        if any(usable(port) for port in candidates):
            continue
        if candidates:
            problems.append(_port_problem(spec, candidates, number, required_state, link_layer))
        else:
            problems.append(_absent_problem(spec, name, number, ports, required_state, link_layer))
    return active_devices, problems


def describe_problems(problems: list[dict[str, str]]) -> str:
    """One line per problem: ``device: found ...; needed ...; fix: ...``."""
    return "\n".join(
        "%s: found %s; needed %s; fix: %s" % (problem["device"], problem["found"], problem["needed"], problem["fix"])
        for problem in problems
    )


def _empty_port(device: str, number: int, source: str) -> dict[str, Any]:
    return {
        "device": device,
        "port": number,
        "state": None,
        "state_code": None,
        "phys_state": None,
        "phys_state_code": None,
        "link_layer": None,
        "rate": None,
        "rate_gbps": None,
        "gid": None,
        "numa_node": None,
        "pci_address": None,
        "source": source,
    }


def _natural_key(name: str) -> list[Any]:
    # mlx5_2 before mlx5_10; re.split keeps text at even and digits at odd positions, so keys compare.
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", name))]


def _sysfs_devices(sysfs_root: str) -> list[str]:
    try:
        names = os.listdir(sysfs_root)
    except OSError:
        return []
    return sorted((name for name in names if os.path.isdir(os.path.join(sysfs_root, name, "ports"))), key=_natural_key)


def _numeric_entries(directory: str) -> list[int]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _read_coded(path: str) -> tuple[int | None, str | None]:
    """sysfs ``4: ACTIVE`` -> (4, "ACTIVE")."""
    text = _read_text(path)
    match = _CODED_VALUE.match(text or "")
    if not match:
        return None, text
    return int(match.group(1)), match.group(2)


def _read_numa_node(device_dir: str) -> int | None:
    text = _read_text(os.path.join(device_dir, "device", "numa_node"))
    if text is None or not text.lstrip("-").isdigit():
        return None
    node = int(text)
    # The kernel writes -1 when the firmware gives no locality (single socket hosts, most VMs).
    return node if node >= 0 else None


def _read_pci_address(device_dir: str) -> str | None:
    parent = os.path.join(device_dir, "device")
    if not os.path.exists(parent):
        return None
    name = os.path.basename(os.path.realpath(parent))
    if _PCI_ADDRESS.match(name):
        return name
    for line in (_read_text(os.path.join(parent, "uevent")) or "").splitlines():
        if line.startswith("PCI_SLOT_NAME="):
            return line[len("PCI_SLOT_NAME="):].strip()
    return None


def _normalized_gid(text: str) -> str | None:
    """A GID in the sysfs spelling, or None when unset.

    Like rdma-core's ``null_gid``, a GID whose interface ID (low 64 bits) is zero counts as unset:
    ``fe80::`` alone is only the default subnet prefix.
    """
    try:
        address = ipaddress.IPv6Address(text.strip())
    except ValueError:
        return None
    if int(address) & _INTERFACE_ID_MASK == 0:
        return None
    return address.exploded


def _first_sysfs_gid(gids_dir: str) -> str | None:
    for index in _numeric_entries(gids_dir):
        gid = _normalized_gid(_read_text(os.path.join(gids_dir, str(index))) or "")
        if gid:
            return gid
    return None


def _devinfo_port_blocks(text: str) -> list[tuple[str, int, dict[str, str]]]:
    """(device, port, fields) for every ``port:`` block; device-level lines come before them."""
    blocks: list[tuple[str, int, dict[str, str]]] = []
    device = None
    fields: dict[str, str] | None = None
    for line in text.splitlines():
        hca = _DEVINFO_HCA.match(line)
        if hca:
            device, fields = hca.group(1), None
            continue
        port = _DEVINFO_PORT.match(line)
        if port and device is not None:
            fields = {}
            blocks.append((device, int(port.group(1)), fields))
            continue
        if fields is None:
            continue
        field = _DEVINFO_FIELD.match(line)
        if field:
            fields.setdefault(field.group(1), field.group(2))
            continue
        gid = _DEVINFO_GID.match(line)
        if gid and "gid" not in fields:
            # ibv_devinfo prints only set GIDs, RoCE v2 ones in the short IPv6 form.
            normalized = _normalized_gid(gid.group(1))
            if normalized:
                fields["gid"] = normalized
    return blocks


def _devinfo_code(value: str | None) -> int | None:
    """The code ibv_devinfo prints in parentheses: ``PORT_ACTIVE (4)`` -> 4."""
    match = _TRAILING_CODE.search(value or "")
    return int(match.group(1)) if match else None


def _devinfo_coded(value: str | None, names: dict[int, str]) -> tuple[int | None, str | None]:
    """``PORT_ACTIVE (4)`` -> (4, "ACTIVE"); ``LINK_UP (5)`` -> (5, "LinkUp"), the sysfs names."""
    code = _devinfo_code(value)
    if code is None:
        return None, value
    return code, names.get(code, _TRAILING_CODE.sub("", value or "").strip())


def _devinfo_link_layer(value: str | None) -> str | None:
    # MLNX_OFED releases before rdma-core printed "IB" for InfiniBand.
    return "InfiniBand" if value == "IB" else value


def _devinfo_rate(width: str | None, speed: str | None) -> tuple[str | None, float | None]:
    """``4X (2)`` and ``100.0 Gbps (128)`` -> ("400 Gb/sec (4X NDR)", 400.0), as the kernel's rate file says."""
    lanes = _WIDTH_LANES.get(_devinfo_code(width))
    lane_speed = _LANE_SPEEDS.get(_devinfo_code(speed))
    if lanes is None or lane_speed is None:
        return None, None
    speed_name, lane_tenths = lane_speed
    tenths = lanes * lane_tenths
    rate = "%d%s Gb/sec (%dX %s)" % (tenths // 10, ".5" if tenths % 10 else "", lanes, speed_name)
    return rate, tenths / 10


def _group_by_device(ports: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for port in ports:
        groups.setdefault(port["device"], []).append(port)
    return list(groups.items())


def _problem(device: str, found: str, needed: str, fix: str) -> dict[str, str]:
    return {"device": device, "found": found, "needed": needed, "fix": fix}


def _needed(required_state: str, link_layer: str, number: int | None) -> str:
    where = "port %d" % number if number is not None else "a port"
    layer = "any link layer" if link_layer == "any" else "link_layer " + link_layer
    return "%s in state %s (%s)" % (where, required_state, layer)


def _describe_port(port: dict[str, Any]) -> str:
    return "port %d: state %s, phys_state %s, link_layer %s" % (
        port["port"],
        port["state"] or "unknown",
        port["phys_state"] or "unknown",
        port["link_layer"] or "unknown",
    )


def _absent_problem(
    spec: str, name: str, number: int | None, ports: list[dict[str, Any]], required_state: str, link_layer: str
) -> dict[str, str]:
    needed = _needed(required_state, link_layer, number)
    own_ports = [port["port"] for port in ports if port["device"] == name]
    if own_ports:
        return _problem(
            spec,
            "absent: %s has no port %d (its ports: %s)" % (name, number, ", ".join(str(port) for port in own_ports)),
            needed,
            "use an existing port, e.g. %s:%d; ConnectX-4 and newer expose one port per RDMA device, "
            "the adapter's second port is the next mlx5_N device" % (name, own_ports[0]),
        )
    present = list(dict.fromkeys(port["device"] for port in ports))
    return _problem(
        spec,
        "absent (devices present: %s)" % ", ".join(present),
        needed,
        "use a device name that exists (`ibv_devices` or `ls /sys/class/infiniband` lists them); mlx5_N names "
        "follow driver probe order and can shift when NICs are added, removed or bonded",
    )


def _port_problem(
    spec: str, candidates: list[dict[str, Any]], number: int | None, required_state: str, link_layer: str
) -> dict[str, str]:
    fixes = list(dict.fromkeys(_port_fix(port, required_state, link_layer) for port in candidates))
    return _problem(
        spec,
        "; ".join(_describe_port(port) for port in candidates),
        _needed(required_state, link_layer, number),
        " / ".join(fixes),
    )


def _port_fix(port: dict[str, Any], required_state: str, link_layer: str) -> str:
    name, number = port["device"], port["port"]
    # MFT tools (mlxlink, mlxconfig) address the adapter by PCI address; recent MFT also accepts mlx5_N.
    adapter = port["pci_address"] or name
    if link_layer != "any" and port["link_layer"] != link_layer:
        return _link_layer_fix(port, link_layer, adapter)
    state = port["state"]
    if state in PORT_STATES and PORT_STATES.index(state) > PORT_STATES.index(required_state):
        return "the port is already %s, past required_state %s; set required_state to the state you expect (ACTIVE for serving)" % (
            state,
            required_state,
        )
    phys = port["phys_state_code"]
    ethernet = port["link_layer"] == "Ethernet"
    if phys is None and state == "DOWN":
        return (
            "the link is down: check that the cable and transceiver are seated and the switch port is up, and for "
            "RoCE that the netdev is up (`ip link`); `ibv_devinfo -v -d %s` or %s's sysfs phys_state tells which"
            % (name, name)
        )
    if phys == _PHYS_POLLING:
        return (
            "no link partner: the port is polling for a peer; check that the cable and transceiver are seated "
            "and supported and that the switch port is enabled and up (`mlxlink -d %s -p %d` shows why the link is down)"
            % (adapter, number)
        )
    if phys in (_PHYS_SLEEP, _PHYS_DISABLED):
        if ethernet:
            return (
                "the port is administratively down: bring its netdev up with `ip link set <netdev> up` "
                "(`rdma link show %s/%d` names the netdev)" % (name, number)
            )
        return (
            "the port is administratively disabled: enable it with `ibportstate -C %s -P %d -D 0 %d enable` "
            "or `mlxlink -d %s -p %d --port_state UP`" % (name, number, number, adapter, number)
        )
    if phys in (_PHYS_TRAINING, _PHYS_RECOVERY):
        return (
            "the link is training or recovering from errors: re-run in a few seconds; if it persists the cable or "
            "transceiver is marginal: check the error counters with `mlxlink -d %s -p %d -c` and reseat or replace it"
            % (adapter, number)
        )
    if phys == _PHYS_TEST:
        return "the port was left in PHY test mode by a diagnostic tool: toggle it with `mlxlink -d %s -p %d --port_state TG`" % (
            adapter,
            number,
        )
    if state == "INIT" and not ethernet:
        return (
            "the link is up but no subnet manager has configured the port (it has no LID): run an SM on the fabric, "
            "e.g. `systemctl enable --now opensm` on one host, or enable the SM of the managed switch or UFM; "
            "`sminfo` shows whether an SM answers"
        )
    if state == "ARMED" and not ethernet:
        return (
            "the subnet manager configured the port but has not activated it: wait for the next SM sweep; if it "
            "stays ARMED check the SM log (/var/log/opensm.log) and `sminfo`"
        )
    return (
        "the port is %s although the physical link is %s: toggle it with `mlxlink -d %s -p %d --port_state TG` "
        "and check `dmesg | grep mlx5` for driver errors" % (state or "in an unknown state", port["phys_state"] or "unknown", adapter, number)
    )


def _link_layer_fix(port: dict[str, Any], link_layer: str, adapter: str) -> str:
    name, number, found = port["device"], port["port"], port["link_layer"]
    kinds = {"InfiniBand": "an InfiniBand port", "Ethernet": "a RoCE (Ethernet) port"}
    if found not in kinds:
        return "%s port %d has link layer %s, neither InfiniBand nor RoCE: use another device" % (name, number, found or "unknown")
    # mlxconfig LINK_TYPE_P<n>: 1 = InfiniBand, 2 = Ethernet, on VPI adapters (those that can run either).
    link_type = 1 if link_layer == "InfiniBand" else 2
    return (
        "%s port %d is %s, not %s: use a device with %s, or set link_layer: %s (or any) if that is intended; "
        "on a VPI adapter switch the port with `mlxconfig -d %s set LINK_TYPE_P%d=%d` and reboot"
        % (name, number, kinds[found], kinds[link_layer], kinds[link_layer], found, adapter, _adapter_port(port), link_type)
    )


def _adapter_port(port: dict[str, Any]) -> int:
    """The adapter port that mlxconfig's LINK_TYPE_P<n> names.

    mlx5 gives each adapter port its own PCI function and RDMA device (always port 1), so function 1
    is adapter port 2; mlx4 puts all ports on function 0, where the RDMA port number is the adapter's.
    """
    address = port["pci_address"]
    if address and port["port"] == 1:
        return int(address.rsplit(".", 1)[1]) + 1
    return port["port"]


def ucx_net_devices(devices: Iterable[str], active_ports: Iterable[Mapping[str, Any]]) -> str:
    """UCX_NET_DEVICES for RDMA devices: each ACTIVE port of them as UCX names it (``mlx5_0:1``), comma-joined.

    ``devices``: names as ``--disaggregation-ib-device`` spells them (``mlx5_0`` or ``mlx5_0:1``);
    ``active_ports``: the usable ports found on the host (``gpu_facts``' ``nic_affinity.nics``: ``device``,
    ``port``). A device without an ACTIVE port is left out, so UCX never tries it; "" when none is left.
    """
    wanted = [parse_device_spec(spec) for spec in devices]
    names = []
    for port in active_ports:
        if any(port["device"] == name and number in (None, port["port"]) for name, number in wanted):
            names.append("%s:%d" % (port["device"], port["port"]))
    return ",".join(dict.fromkeys(names))
