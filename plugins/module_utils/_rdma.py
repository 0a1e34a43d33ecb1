# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Did the KV cache of a prefill/decode pair move over RDMA? Traffic counters of the RDMA ports.

Each port's ``counters/port_xmit_data`` and ``counters/port_rcv_data`` in sysfs count the data the port
sent and received, in units of four octets. Read on the prefill and decode nodes before and after a
request, they show whether the KV transfer used the RDMA NIC: when the transfer engine cannot register
GPU memory with the NIC (no ``nvidia_peermem``) or picks the wrong device, it falls back to TCP and the
counters stay still. Pure Python 3.8+ without Ansible imports, for the ``rdma_traffic`` module (targets)
and the ``rdma_verdict`` filter (controller).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Mapping

from ansible_collections.gpufleet.sglang.plugins.module_utils._ib import parse_device_spec, read_sysfs_ports

AUTO = "auto"
# The counters count 32-bit words (IBTA PortXmitData / PortRcvData: "divided by 4").
OCTETS_PER_UNIT = 4
COUNTERS = (("xmit_bytes", "port_xmit_data"), ("rcv_bytes", "port_rcv_data"))

FALLBACK_FIX = (
    "load nvidia_peermem on every prefill and decode node (`modprobe nvidia_peermem`, and list it in "
    "/etc/modules-load.d) so the transfer engine can register GPU memory with the NIC, and check that "
    "sglang_ib_device names an ACTIVE port of the NIC nearest the GPUs (gpufleet.sglang.ib_port_state); "
    "then restart the workers (playbooks/rolling_restart.yml)"
)


def port_key(device: str, port: int) -> str:
    return "%s/%d" % (device, port)


def _read_counter(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip()) * OCTETS_PER_UNIT
    except (OSError, ValueError):
        return None


def read_counters(sysfs_root: str, devices: Iterable[str] = (AUTO,)) -> dict[str, dict[str, Any]]:
    """``{"mlx5_0/1": {"state": "ACTIVE", "xmit_bytes": int, "rcv_bytes": int}}`` of every wanted port.

    ``devices``: ``auto`` (every port) or names such as ``mlx5_0`` or ``mlx5_0:1``. Ports whose
    counters cannot be read are left out (a port without counters proves nothing either way).
    """
    wanted = [parse_device_spec(spec) for spec in devices if spec != AUTO]
    counters = {}
    for port in read_sysfs_ports(sysfs_root):
        if wanted and not any(port["device"] == name and number in (None, port["port"]) for name, number in wanted):
            continue
        port_dir = os.path.join(sysfs_root, port["device"], "ports", str(port["port"]), "counters")
        values = {name: _read_counter(os.path.join(port_dir, filename)) for name, filename in COUNTERS}
        if any(value is None for value in values.values()):
            continue
        counters[port_key(port["device"], port["port"])] = dict(state=port["state"], **values)
    return counters


def devices_of_maps(paths: Iterable[str]) -> list[str]:
    """The devices named by ``--disaggregation-ib-device`` JSON files (GPU id -> "mlx5_0,mlx5_1" or a list), sorted.

    Raises ValueError naming the file when one cannot be read or is not such a map.
    """
    devices = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                mapping = json.load(handle)
        except (OSError, ValueError) as error:
            raise ValueError("cannot read the GPU-to-NIC map %s: %s" % (path, error))
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError("%s is not a GPU-to-NIC map (a JSON object of GPU id to devices)" % path)
        for gpu, value in mapping.items():
            names = value.split(",") if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(name, str) and name.strip() for name in names) \
                    or not names:
                raise ValueError("%s: GPU %s maps to %r, not a device list such as \"mlx5_0,mlx5_1\"" % (path, gpu, value))
            devices.update(name.strip() for name in names)
    return sorted(devices)


def traffic(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Bytes each port sent and received between two readings (ports present in both).

    A counter that went down was reset or wrapped: its new value is what moved since.
    """
    deltas = {}
    for key in sorted(set(before) & set(after)):
        delta = {}
        for name, _filename in COUNTERS:
            old, new = int(before[key][name]), int(after[key][name])
            delta[name] = new - old if new >= old else new
        deltas[key] = delta
    return deltas


def moved_bytes(deltas: Mapping[str, Mapping[str, int]], direction: str | None = None) -> int:
    """Bytes the ports moved: sent (``xmit_bytes``), received (``rcv_bytes``), or both (None)."""
    names = [direction] if direction else [name for name, _filename in COUNTERS]
    return sum(delta[name] for delta in deltas.values() for name in names)


def required_bytes(min_bytes: int, kv_bytes: int | None, kv_fraction: float) -> int:
    """What each side must move: ``kv_fraction`` of the KV the request carried, and never less than ``min_bytes``."""
    return max(int(min_bytes), math.ceil(kv_fraction * kv_bytes) if kv_bytes else 0)


def verdict(prefill: Mapping[str, Mapping[str, Any]], decode: Mapping[str, Mapping[str, Any]],
            min_bytes: int = 1, kv_bytes: int | None = None, kv_fraction: float = 1.0) -> dict[str, Any]:
    """Judge a PD fleet from each node's ``rdma_traffic`` result (``ports`` and ``traffic``), read on the RDMA
    ports mapped to its workers before and after one request whose KV cache was ``kv_bytes`` (prompt tokens times
    the plan's ``kv_bytes_per_token``; None when unknown).

    The KV cache flows from the prefill to the decode, whichever side drives the RDMA operation: ``ok`` when the
    prefill nodes together sent, and the decode nodes together received, at least ``required_bytes``;
    ``skipped`` when one side has no RDMA port with counters (no IB to prove anything with); ``failed``
    otherwise: the KV cache (or most of it) went over TCP.
    """
    sides = {"prefill": prefill, "decode": decode}
    direction = {"prefill": "xmit_bytes", "decode": "rcv_bytes"}
    without = {side: sorted(host for host, result in hosts.items() if not result.get("ports"))
               for side, hosts in sides.items()}
    with_ports = {side: sorted(set(hosts) - set(without[side])) for side, hosts in sides.items()}
    if not with_ports["prefill"] or not with_ports["decode"]:
        missing = ", ".join("%s nodes %s" % (side, ", ".join(hosts)) for side, hosts in without.items() if hosts)
        return {"status": "skipped", "ok": True, "moved": {}, "required": None,
                "msg": "RDMA check skipped: no RDMA port with traffic counters on %s." % (missing or "any node")}
    moved = {host: moved_bytes(sides[side][host].get("traffic") or {}, direction[side])
             for side in sides for host in with_ports[side]}
    totals = {side: sum(moved[host] for host in with_ports[side]) for side in sides}
    required = required_bytes(min_bytes, kv_bytes, kv_fraction)
    expectation = ("%d byte(s): %g of the %d bytes of KV cache the request carried" % (required, kv_fraction, kv_bytes)
                   if kv_bytes and required > min_bytes else "%d byte(s)" % required)
    figures = "; ".join("%s nodes %s %d bytes (%s)" % (
        side, "sent" if side == "prefill" else "received", totals[side],
        ", ".join("%s %d" % (host, moved[host]) for host in with_ports[side])) for side in sides)
    short = [side for side in sides if totals[side] < required]
    if not short:
        return {"status": "ok", "ok": True, "moved": moved, "required": required,
                "msg": "KV transfer over RDMA: %s; needed %s." % (figures, expectation)}
    return {
        "status": "failed", "ok": False, "moved": moved, "required": required,
        "msg": "KV transfer fell back to TCP: the RDMA ports mapped to the %s workers (counters port_xmit_data, "
               "port_rcv_data) moved less than %s during the smoke request: %s. Fix: %s." % (
                   " and ".join(short), expectation, figures, FALLBACK_FIX),
    }
