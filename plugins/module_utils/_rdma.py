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


def moved_bytes(deltas: Mapping[str, Mapping[str, int]]) -> int:
    """All bytes the ports sent or received: the evidence of traffic."""
    return sum(delta["xmit_bytes"] + delta["rcv_bytes"] for delta in deltas.values())


def verdict(prefill: Mapping[str, Mapping[str, Any]], decode: Mapping[str, Mapping[str, Any]],
            min_bytes: int = 1) -> dict[str, Any]:
    """Judge a PD fleet from each node's ``rdma_traffic`` result (``ports`` and ``traffic``).

    ``ok`` when a prefill node and a decode node both moved at least ``min_bytes`` over RDMA;
    ``skipped`` when one side has no RDMA port with counters (no IB to prove anything with);
    ``failed`` otherwise: the KV cache went over TCP.
    """
    sides = {"prefill": prefill, "decode": decode}
    without = {side: sorted(host for host, result in hosts.items() if not result.get("ports"))
               for side, hosts in sides.items()}
    with_ports = {side: sorted(set(hosts) - set(without[side])) for side, hosts in sides.items()}
    if not with_ports["prefill"] or not with_ports["decode"]:
        missing = ", ".join("%s nodes %s" % (side, ", ".join(hosts)) for side, hosts in without.items() if hosts)
        return {"status": "skipped", "ok": True, "moved": {},
                "msg": "RDMA check skipped: no RDMA port with traffic counters on %s." % (missing or "any node")}
    moved = {host: moved_bytes(sides[side][host].get("traffic") or {})
             for side in sides for host in with_ports[side]}
    still = {side: [host for host in with_ports[side] if moved[host] < min_bytes] for side in sides}
    if all(len(still[side]) < len(with_ports[side]) for side in sides):
        return {"status": "ok", "ok": True, "moved": moved,
                "msg": "KV transfer over RDMA: %s." % ", ".join("%s %d bytes" % (host, moved[host]) for host in sorted(moved))}
    quiet = [side for side in sides if len(still[side]) == len(with_ports[side])]
    return {
        "status": "failed", "ok": False, "moved": moved,
        "msg": "KV transfer fell back to TCP: the RDMA port counters (port_xmit_data, port_rcv_data) of the %s "
               "nodes (%s) did not move by %d byte(s) or more during the smoke request. Fix: %s." % (
                   " and ".join(quiet), ", ".join(host for side in quiet for host in with_ports[side]),
                   min_bytes, FALLBACK_FIX),
    }
