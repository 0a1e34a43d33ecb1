# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host checks of the preflight that are neither GPU nor InfiniBand checks.

Ports (``/proc/net/tcp``, ``/proc/net/tcp6`` and the owner of a listening socket through its inode,
``/proc/<pid>/fd`` and ``/proc/<pid>/cgroup``, else through the socket's uid and the unit's processes),
kernel modules (``/proc/modules``), /dev/shm and disk
space (``statvfs``), paths, the locked-memory limit (``/proc/self/limits`` and systemd's
``DefaultLimitMEMLOCK``), TCP reachability and name resolution, and the comparison of resolutions
across hosts that the controller makes.

Every check returns dicts ``{check, status, found, needed, fix}`` with ``status`` one of
``ok``, ``fail``, ``warn`` or ``skipped``; a file that cannot be read makes the check ``skipped``
with the reason, never an exception. Pure Python 3.8+ without Ansible imports: the ``host_checks``
module runs it on targets, tests run it on the fixtures under ``tests/fixtures/proc``.
"""
from __future__ import annotations

import errno
import fnmatch
import functools
import ipaddress
import os
import re
import socket
from typing import Any, Callable, Iterable, Mapping, Sequence

OK, FAIL, WARN, SKIPPED = "ok", "fail", "warn", "skipped"
STATUSES = (OK, FAIL, WARN, SKIPPED)

TCP_LISTEN = "0A"
DEFAULT_OWNED_UNIT_PATTERN = "sglang-*.service"
DEFAULT_REACH_TIMEOUT = 3.0
UNLIMITED = None  # how an unlimited limit is represented by parse_limit_value

# systemd unit suffixes that name the unit a process runs in, as they appear in its cgroup path.
_UNIT_SUFFIXES = (".service", ".scope")
_SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")
_LIMITS_LINE = re.compile(r"^(Max [A-Za-z ]+?)\s{2,}(\S+)\s+(\S+)")
_LEGACY_PEERMEM = "nv_peer_mem"
_PEERMEM = "nvidia_peermem"

_MODULE_FIXES = {
    _PEERMEM: (
        "`modprobe nvidia_peermem` (it ships with the NVIDIA driver >= 470 and needs ib_core, from rdma-core or "
        "MLNX_OFED/DOCA, loaded first) and persist it with `echo nvidia_peermem > /etc/modules-load.d/nvidia-peermem.conf`; "
        "without it GPUDirect RDMA is off and the KV transfer fails or falls back to host memory. NVIDIA's open kernel "
        "module cannot load it: there, use the NIXL transfer backend (sglang_transfer_backend: nixl, DMA-BUF, no module)"
    ),
    "gdrdrv": (
        "install gdrcopy's kernel module (the gdrdrv-dkms or gdrcopy-kmod package, or `make driver` in the gdrcopy "
        "sources) and load it with `modprobe gdrdrv` (or gdrcopy's insmod.sh); persist it in /etc/modules-load.d/"
    ),
}
_LEGACY_PEERMEM_FIX = (
    "only the legacy nv_peer_mem is loaded: it is the old Mellanox module, superseded by nvidia_peermem (which ships "
    "with the NVIDIA driver >= 470) and refused by NVIDIA's open kernel module; `rmmod nv_peer_mem`, remove the "
    "nvidia-peer-memory(-dkms) package and its /etc/modules-load.d entry, then `modprobe nvidia_peermem` and persist it "
    "in /etc/modules-load.d/nvidia-peermem.conf"
)


def check_result(check: str, status: str, found: Any = "", needed: Any = "", fix: str = "") -> dict:
    """One check's result in the shape every check returns."""
    return {"check": check, "status": status, "found": found, "needed": needed, "fix": fix}


def human_bytes(value: int | None) -> str:
    """``17179869184`` -> ``16.0 GiB (17179869184 bytes)``; None -> ``unlimited``."""
    if value is None:
        return "unlimited"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    if unit == "B":
        return "%d bytes" % value
    return "%.1f %s (%d bytes)" % (size, unit, value)


def _read_text(path: str) -> tuple[str | None, str]:
    """A file's text, or None and why it could not be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(), ""
    except OSError as error:
        return None, "%s: %s" % (path, error.strerror or error)


# ---------------------------------------------------------------------------------------------------------------- ports
def decode_address(hex_address: str) -> str:
    """The address part of a /proc/net/tcp(6) local_address: host-order 32-bit words in hex."""
    raw = bytes.fromhex(hex_address)
    if len(raw) not in (4, 16):
        raise ValueError("not an IPv4 or IPv6 address: %r" % hex_address)
    # Each 32-bit word is printed in the host's byte order (little-endian on x86_64 and aarch64).
    swapped = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def parse_proc_net_tcp(text: str) -> list[dict]:
    """The sockets of a /proc/net/tcp or /proc/net/tcp6 text: address, port, state, uid and inode."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
            continue  # the header, or a line cut short
        local, _sep, port = fields[1].rpartition(":")
        try:
            sockets.append(
                {
                    "address": decode_address(local),
                    "port": int(port, 16),
                    "state": fields[3].upper(),
                    "uid": int(fields[7]),
                    "inode": int(fields[9]),
                }
            )
        except ValueError:
            continue
    return sockets


def read_listeners(proc_root: str) -> tuple[list[dict] | None, str]:
    """Every LISTEN socket of /proc/net/tcp and tcp6, or None and why neither could be read."""
    listeners: list[dict] = []
    reasons = []
    read_any = False
    for name in ("tcp", "tcp6"):
        text, reason = _read_text(os.path.join(proc_root, "net", name))
        if text is None:
            reasons.append(reason)
            continue
        read_any = True
        for sock in parse_proc_net_tcp(text):
            if sock["state"] == TCP_LISTEN:
                sock["family"] = name
                listeners.append(sock)
    return (listeners, "") if read_any else (None, "; ".join(reasons))


def unit_of_cgroup(text: str) -> str | None:
    """The systemd unit a /proc/<pid>/cgroup text names (cgroup v2, or v1's name=systemd hierarchy)."""
    paths = []
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy_id, controllers, path = parts
        # The systemd hierarchy first: v1's name=systemd, then the unified (v2 or hybrid) one, then the rest.
        rank = 0 if controllers == "name=systemd" else 1 if hierarchy_id == "0" and controllers == "" else 2
        paths.append((rank, path))
    for _rank, path in sorted(paths, key=lambda item: item[0]):
        units = [part for part in path.split("/") if part.endswith(_UNIT_SUFFIXES)]
        if units:
            return units[-1]
    return None


def _pids(proc_root: str) -> list[str]:
    """The process directories of a /proc, in pid order ([] when it cannot be listed)."""
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return []
    return sorted((name for name in entries if name.isdigit()), key=int)


def socket_owners(proc_root: str, inodes: Iterable[int]) -> tuple[dict[int, list[int]], list[str]]:
    """Which pids hold each socket inode, by the ``socket:[inode]`` links under /proc/<pid>/fd.

    Also returns the pids whose fds could not be read (another user's processes without root, or
    without CAP_SYS_PTRACE in a container).
    """
    wanted = set(inodes)
    owners: dict[int, list[int]] = {}
    unreadable = []
    for entry in _pids(proc_root):
        fd_dir = os.path.join(proc_root, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM):
                unreadable.append(entry)
            continue
        for fd in fds:
            try:
                match = _SOCKET_LINK.match(os.readlink(os.path.join(fd_dir, fd)))
            except OSError as error:
                # Without CAP_SYS_PTRACE, root lists another user's fds but cannot read the links.
                if error.errno in (errno.EACCES, errno.EPERM) and entry not in unreadable:
                    unreadable.append(entry)
                continue
            if match and int(match.group(1)) in wanted:
                pids = owners.setdefault(int(match.group(1)), [])
                if int(entry) not in pids:
                    pids.append(int(entry))
    return owners, unreadable


def processes_by_unit(proc_root: str) -> dict[str, list[int]]:
    """The pids of every systemd unit that has processes, from /proc/<pid>/cgroup (readable by anyone)."""
    units: dict[str, list[int]] = {}
    for entry in _pids(proc_root):
        cgroup, _reason = _read_text(os.path.join(proc_root, entry, "cgroup"))
        unit = unit_of_cgroup(cgroup) if cgroup else None
        if unit:
            units.setdefault(unit, []).append(int(entry))
    return units


def process_info(proc_root: str, pid: int) -> dict:
    """The pid, its command name and its systemd unit (None where unreadable)."""
    comm, _reason = _read_text(os.path.join(proc_root, str(pid), "comm"))
    cgroup, _reason = _read_text(os.path.join(proc_root, str(pid), "cgroup"))
    return {
        "pid": pid,
        "comm": comm.strip() if comm else None,
        "unit": unit_of_cgroup(cgroup) if cgroup else None,
    }


def _describe_owner(owner: dict) -> str:
    return "%s (pid %d, unit %s)" % (owner["comm"] or "command unknown", owner["pid"], owner["unit"] or "unknown")


def _unit_name(unit: str) -> str:
    """The plan's unit name (``sglang-prefill-0``) as its cgroup spells it (``sglang-prefill-0.service``)."""
    return unit if unit.endswith(_UNIT_SUFFIXES) else unit + ".service"


def _own_unit_by_uid(
    item: Mapping[str, Any],
    unknown: Sequence[Mapping[str, Any]],
    owned_uid: int | None,
    owned_unit_pattern: str,
    units_of: Callable[[], dict[str, list[int]]],
) -> tuple[str, list[int]] | None:
    """The port's unit and its pids, when the sockets no process could be tied to all belong to the
    service user and the unit the plan gives the port (one of this collection's) has processes."""
    if not item.get("unit") or owned_uid is None or any(sock["uid"] != owned_uid for sock in unknown):
        return None
    unit = _unit_name(item["unit"])
    if not fnmatch.fnmatchcase(unit, owned_unit_pattern) or not units_of().get(unit):
        return None
    return unit, units_of()[unit]


def check_ports(
    ports: Sequence[Mapping[str, Any]],
    proc_root: str = "/proc",
    owned_unit_pattern: str = DEFAULT_OWNED_UNIT_PATTERN,
    owned_uid: int | None = None,
) -> list[dict]:
    """Each port free, or held only by units matching ``owned_unit_pattern``.

    A socket is tied to its process through /proc/<pid>/fd, which root cannot read for another user's
    processes in a container without CAP_SYS_PTRACE. Then the socket's uid stands in: a port whose item
    names its ``unit`` (one matching the pattern), whose unowned sockets all belong to ``owned_uid`` (the
    service user) while that unit has processes, counts as held by that unit.
    """
    listeners, reason = read_listeners(proc_root)
    if listeners is None:
        return [
            check_result("port:%s" % item["port"], SKIPPED, "cannot read the socket tables: %s" % reason, "", "")
            for item in ports
        ]
    busy = {}
    for item in ports:
        busy[int(item["port"])] = [sock for sock in listeners if sock["port"] == int(item["port"])]
    inodes = [sock["inode"] for socks in busy.values() for sock in socks]
    owners, unreadable = socket_owners(proc_root, inodes) if inodes else ({}, [])
    units_of = functools.lru_cache(maxsize=None)(lambda: processes_by_unit(proc_root))  # read once, if needed
    results = []
    for item in ports:
        port = int(item["port"])
        purpose = item.get("purpose") or "unspecified purpose"
        check = "port:%d" % port
        needed = "port %d (%s) free, or held by this collection's unit (%s)" % (port, purpose, owned_unit_pattern)
        socks = busy[port]
        if not socks:
            results.append(check_result(check, OK, "port %d (%s) is free" % (port, purpose), needed))
            continue
        where = ", ".join(sorted({"%s %s" % (sock["family"], _join_host_port(sock["address"], port)) for sock in socks}))
        pids = sorted({pid for sock in socks for pid in owners.get(sock["inode"], [])})
        procs = [process_info(proc_root, pid) for pid in pids]
        foreign = [proc for proc in procs if not (proc["unit"] and fnmatch.fnmatchcase(proc["unit"], owned_unit_pattern))]
        unknown = [sock for sock in socks if not owners.get(sock["inode"])]
        by_uid = _own_unit_by_uid(item, unknown, owned_uid, owned_unit_pattern, units_of) if unknown and not foreign else None
        if by_uid:
            found = ("port %d (%s) is held by this collection's %s (pid %s) on %s: its sockets belong to uid %d, the service "
                     "user (their process could not be read)" % (port, purpose, by_uid[0], ", ".join(map(str, by_uid[1])), where, owned_uid))
            results.append(check_result(check, OK, found, needed))
            continue
        if procs and not foreign and not unknown:
            owned = ", ".join(_describe_owner(proc) for proc in procs)
            results.append(check_result(check, OK, "port %d (%s) is held by this collection's %s on %s" % (port, purpose, owned, where), needed))
            continue
        held_by = [_describe_owner(proc) for proc in foreign]
        if unknown:
            held_by.append(
                "a process whose owner could not be read (socket uid %s; %s)"
                % (", ".join(sorted({str(sock["uid"]) for sock in unknown})),
                   "run as root (become), with CAP_SYS_PTRACE in a container, to name it" if unreadable else "no /proc/<pid>/fd link to its socket inode")
            )
        found = "port %d (%s) is already listening on %s, held by %s" % (port, purpose, where, "; ".join(held_by))
        fix = (
            "stop or reconfigure what holds port %d (`ss -ltnp 'sport = :%d'` names it), or give %s another port in the "
            "inventory" % (port, port, purpose)
        )
        results.append(check_result(check, FAIL, found, needed, fix))
    return results


def _join_host_port(address: str, port: int) -> str:
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


# ------------------------------------------------------------------------------------------------------- kernel modules
def parse_proc_modules(text: str) -> list[str]:
    """The loaded module names of a /proc/modules text, in its order."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def check_kernel_modules(required: Sequence[str], proc_root: str = "/proc", modules_file: str | None = None) -> list[dict]:
    """Each required module loaded; the legacy nv_peer_mem named as such where nvidia_peermem is needed.

    The loaded modules come from ``modules_file`` (a copy of /proc/modules), else ``proc_root``/modules.
    """
    names = [name.strip().replace("-", "_") for name in required if name.strip()]
    text, reason = _read_text(modules_file or os.path.join(proc_root, "modules"))
    if text is None:
        return [check_result("kernel_module:%s" % name, SKIPPED, "cannot read the loaded modules: %s" % reason) for name in names]
    loaded = set(parse_proc_modules(text))
    results = []
    for name in names:
        check = "kernel_module:%s" % name
        needed = "kernel module %s loaded" % name
        if name in loaded:
            results.append(check_result(check, OK, "%s is loaded" % name, needed))
        elif name == _PEERMEM and _LEGACY_PEERMEM in loaded:
            results.append(check_result(check, FAIL, "nvidia_peermem is not loaded; the legacy nv_peer_mem is", needed, _LEGACY_PEERMEM_FIX))
        else:
            fix = _MODULE_FIXES.get(name, "`modprobe %s` and persist it in /etc/modules-load.d/" % name)
            results.append(check_result(check, FAIL, "%s is not loaded" % name, needed, fix))
    return results


# ------------------------------------------------------------------------------------------------------- space and paths
def _statvfs(path: str, statvfs: Callable[[str], Any] | None) -> Any:
    return (statvfs or os.statvfs)(path)


def check_shm(min_bytes: int, shm_path: str = "/dev/shm", statvfs: Callable[[str], Any] | None = None) -> dict:
    """The size of /dev/shm at least ``min_bytes``."""
    check = "shm"
    needed = "%s of at least %s" % (shm_path, human_bytes(min_bytes))
    fix = (
        "in a container, start it with `--shm-size=%d` (docker/podman) or an emptyDir with medium: Memory (Kubernetes); "
        "on a host, set `tmpfs /dev/shm tmpfs defaults,size=%d 0 0` in /etc/fstab and `mount -o remount /dev/shm`"
        % (min_bytes, min_bytes)
    )
    if not os.path.exists(shm_path):
        return check_result(check, FAIL, "%s does not exist" % shm_path, needed, fix)
    try:
        stat = _statvfs(shm_path, statvfs)
    except OSError as error:
        return check_result(check, SKIPPED, "cannot statvfs %s: %s" % (shm_path, error.strerror or error), needed)
    size = stat.f_blocks * stat.f_frsize
    found = "%s is %s (%s free)" % (shm_path, human_bytes(size), human_bytes(stat.f_bavail * stat.f_frsize))
    return check_result(check, OK if size >= min_bytes else FAIL, found, needed, "" if size >= min_bytes else fix)


def nearest_existing(path: str) -> str:
    """``path`` or its nearest parent that exists."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def check_disk(entries: Sequence[Mapping[str, Any]], statvfs: Callable[[str], Any] | None = None) -> list[dict]:
    """Free space, for an unprivileged user, on the filesystem of each path (or its nearest existing parent)."""
    results = []
    for entry in entries:
        path, min_free = entry["path"], int(entry["min_free_bytes"])
        check = "disk:%s" % path
        purpose = " (%s)" % entry["purpose"] if entry.get("purpose") else ""
        needed = "%s free under %s%s" % (human_bytes(min_free), path, purpose)
        existing = nearest_existing(path)
        try:
            stat = _statvfs(existing, statvfs)
        except OSError as error:
            results.append(check_result(check, SKIPPED, "cannot statvfs %s: %s" % (existing, error.strerror or error), needed))
            continue
        free = stat.f_bavail * stat.f_frsize
        on = existing if existing == os.path.abspath(path) else "%s (nearest existing parent of %s)" % (existing, path)
        found = "%s free on %s" % (human_bytes(free), on)
        if free >= min_free:
            results.append(check_result(check, OK, found, needed))
        else:
            fix = "free %s on the filesystem of %s (`df -h %s`, `du -xsh %s/*`), or point the path at a larger filesystem" % (
                human_bytes(min_free - free),
                existing,
                existing,
                existing.rstrip("/"),
            )
            results.append(check_result(check, FAIL, found, needed, fix))
    return results


def check_paths_present(paths: Sequence[str]) -> list[dict]:
    """Each path present (the local model directory on every node)."""
    results = []
    for path in paths:
        check = "path:%s" % path
        needed = "%s present on this host" % path
        if os.path.exists(path):
            kind = "directory" if os.path.isdir(path) else "file"
            results.append(check_result(check, OK, "%s is a %s" % (path, kind), needed))
        else:
            fix = (
                "copy or mount %s on this host (every node loads the model from its own local path), e.g. "
                "`huggingface-cli download <repo> --local-dir %s` or the shared filesystem's mount" % (path, path)
            )
            results.append(check_result(check, FAIL, "%s does not exist" % path, needed, fix))
    return results


# ------------------------------------------------------------------------------------------------------------- memlock
def parse_limit_value(value: str | int | None) -> int | None:
    """``unlimited``/``infinity`` -> None, a byte count (str or int) -> int; ValueError otherwise."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text in ("unlimited", "infinity", "inf"):
        return UNLIMITED
    if text.isdigit():
        return int(text)
    raise ValueError("not a byte count or unlimited/infinity: %r" % value)


def parse_limits(text: str) -> dict[str, tuple[str, str]]:
    """``Max locked memory`` -> (soft, hard) as printed, for every line of a /proc/<pid>/limits text."""
    limits = {}
    for line in text.splitlines():
        match = _LIMITS_LINE.match(line)
        if match:
            limits[match.group(1)] = (match.group(2), match.group(3))
    return limits


def parse_systemd_memlock(text: str) -> str | None:
    """The value of ``systemctl show --property DefaultLimitMEMLOCK``, None when absent."""
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "DefaultLimitMEMLOCK":
            return value.strip()
    return None


def _at_least(value: int | None, minimum: int | None) -> bool:
    if value is UNLIMITED:
        return True
    return minimum is not UNLIMITED and value >= minimum


def check_memlock(minimum: int | None, limits_text: str | None, systemd_text: str | None, limits_reason: str = "", systemd_reason: str = "") -> list[dict]:
    """The locked-memory limit of this session (a warning) and systemd's default (informative)."""
    wanted = human_bytes(minimum)
    results = []
    check = "memlock:login"
    needed = "Max locked memory of login sessions %s (a warning only: processes started from a shell, such as benchmarks)" % wanted
    limits = parse_limits(limits_text) if limits_text is not None else {}
    if "Max locked memory" not in limits:
        why = limits_reason or "no `Max locked memory` line"
        results.append(check_result(check, SKIPPED, "cannot read this session's limits: %s" % why, needed))
    else:
        soft_text, hard_text = limits["Max locked memory"]
        try:
            soft, hard = parse_limit_value(soft_text), parse_limit_value(hard_text)
        except ValueError as error:
            results.append(check_result(check, SKIPPED, "cannot parse Max locked memory: %s" % error, needed))
        else:
            found = "soft %s, hard %s (this Ansible session's /proc/self/limits)" % (human_bytes(soft), human_bytes(hard))
            if _at_least(soft, minimum):
                results.append(check_result(check, OK, found, needed))
            else:
                fix = (
                    "the collection's systemd units set LimitMEMLOCK=infinity, so the services are not affected; for "
                    "processes started by hand, add `* soft memlock unlimited` and `* hard memlock unlimited` to "
                    "/etc/security/limits.d/99-memlock.conf and log in again (containers: `--ulimit memlock=-1:-1`)"
                )
                results.append(check_result(check, WARN, found, needed, fix))
    check = "memlock:systemd"
    needed = "informative: the units this collection renders set LimitMEMLOCK=infinity, which overrides systemd's default"
    value = parse_systemd_memlock(systemd_text) if systemd_text is not None else None
    if value is None:
        why = systemd_reason or "no DefaultLimitMEMLOCK property"
        results.append(check_result(check, SKIPPED, "cannot read systemd's default: %s" % why, needed))
    else:
        try:
            default = parse_limit_value(value)
            shown = human_bytes(default)
        except ValueError:
            default, shown = 0, value
        found = "DefaultLimitMEMLOCK=%s (%s) for units that set no LimitMEMLOCK" % (value, shown)
        fix = "" if _at_least(default, minimum) else (
            "nothing for this collection's units; for other units that pin memory, set LimitMEMLOCK=infinity in their "
            "drop-in, or DefaultLimitMEMLOCK=infinity in /etc/systemd/system.conf.d/ and `systemctl daemon-reexec`"
        )
        results.append(check_result(check, OK, found, needed, fix))
    return results


# ---------------------------------------------------------------------------------------------------- network: reach
def check_reach(
    targets: Sequence[Mapping[str, Any]],
    timeout: float = DEFAULT_REACH_TIMEOUT,
    connect: Callable[..., Any] | None = None,
) -> list[dict]:
    """A TCP connection from this host to each ``{host, port}`` within ``timeout`` seconds."""
    connect = connect or socket.create_connection
    results = []
    for target in targets:
        host, port = str(target["host"]), int(target["port"])
        where = _join_host_port(host, port)
        check = "reach:%s" % where
        needed = "a TCP connection from this host to %s within %g s" % (where, timeout)
        try:
            conn = connect((host, port), timeout)
        except socket.gaierror as error:
            found = "%s does not resolve: %s" % (host, error.strerror or error)
            fix = "use the master's IP address, or make %s resolve on this host (/etc/hosts or DNS)" % host
            results.append(check_result(check, FAIL, found, needed, fix))
            continue
        except (socket.timeout, OSError) as error:
            if isinstance(error, ConnectionRefusedError):
                found = "connection refused by %s: nothing listens there, or a firewall rejects it" % where
            elif isinstance(error, socket.timeout):
                found = "no answer from %s within %g s: a firewall drops it or there is no route" % (where, timeout)
            else:
                found = "cannot connect to %s: %s" % (where, error.strerror or error)
            fix = (
                "open TCP port %d on %s to this host (firewall: `nft list ruleset`, `firewall-cmd --list-all`, security "
                "groups); check that %s is the master's address on the network the ranks share, not a loopback, "
                "management or NAT address; check the routing (`ip route get %s`, then `nc -vz %s %d`); before the "
                "services start, nothing listens on their ports: reach a port that does (e.g. sshd's)"
                % (port, host, host, host, host, port)
            )
            results.append(check_result(check, FAIL, found, needed, fix))
            continue
        try:
            peer = conn.getpeername()
            found = "connected to %s" % _join_host_port(peer[0], peer[1])
        except OSError:
            found = "connected to %s" % where
        finally:
            conn.close()
        results.append(check_result(check, OK, found, needed))
    return results


# ----------------------------------------------------------------------------------------------- network: resolution
def resolve_names(names: Sequence[str], getaddrinfo: Callable[..., Any] | None = None) -> tuple[dict[str, list[str]], list[dict]]:
    """``{name: [addresses]}`` (sorted, unique; empty when it does not resolve) and a check per name."""
    getaddrinfo = getaddrinfo or socket.getaddrinfo
    resolutions: dict[str, list[str]] = {}
    results = []
    for name in names:
        check = "resolve:%s" % name
        needed = "%s resolves on this host (and to the same addresses on every host)" % name
        try:
            infos = getaddrinfo(name, None, 0, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            resolutions[name] = []
            found = "%s does not resolve: %s" % (name, getattr(error, "strerror", None) or error)
            fix = "add %s to /etc/hosts on every node, or to the DNS zone the nodes use" % name
            results.append(check_result(check, FAIL, found, needed, fix))
            continue
        addresses = sorted({info[4][0] for info in infos}, key=_address_sort_key)
        resolutions[name] = addresses
        results.append(check_result(check, OK, "%s resolves to %s" % (name, ", ".join(addresses)), needed))
    return resolutions, results


def _address_sort_key(address: str) -> tuple[int, str]:
    return (6 if ":" in address else 4, address)


def compare_resolutions(by_host: Mapping[str, Mapping[str, Sequence[str]]]) -> list[dict]:
    """The names that do not resolve to the same addresses on every host that resolved them.

    ``by_host`` maps each host to the ``resolutions`` its host_checks returned. A host that was not
    asked about a name is left out of that name's comparison; one where it did not resolve (an empty
    list) counts as a different answer. Each mismatch is ``{name, addresses: {host: [addresses]},
    found, needed, fix}``.
    """
    names = sorted({name for resolutions in by_host.values() for name in resolutions})
    mismatches = []
    for name in names:
        answers = {host: sorted(set(res[name]), key=_address_sort_key) for host, res in sorted(by_host.items()) if name in res}
        groups: dict[tuple[str, ...], list[str]] = {}
        for host, addresses in answers.items():
            groups.setdefault(tuple(addresses), []).append(host)
        if len(groups) < 2:
            continue
        found = "; ".join(
            "%s on %s" % (", ".join(addresses) if addresses else "no address", ", ".join(hosts)) for addresses, hosts in groups.items()
        )
        loopback = any(_is_loopback(address) for addresses in groups for address in addresses)
        fix = "make %s resolve to the same address on every node (one /etc/hosts for the fleet, or DNS)" % name
        if loopback:
            fix += (
                "; a loopback answer usually comes from the installer's `127.0.1.1 <hostname>` line in /etc/hosts: "
                "replace it with the node's fabric address"
            )
        mismatches.append({"name": name, "addresses": answers, "found": found, "needed": "the same addresses on every host", "fix": fix})
    return mismatches


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def summarize(checks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many checks ended in each status."""
    counts = dict((status, 0) for status in STATUSES)
    for check in checks:
        counts[check["status"]] += 1
    return counts
