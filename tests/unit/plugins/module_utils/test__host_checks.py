# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _host_checks as hc

PROC = Path(__file__).resolve().parents[3] / "fixtures" / "proc"
GIB = 1024**3


def proc_tree(tmp_path: Path, node: str, fds_hidden: tuple[str, ...] = ()) -> str:
    """A copy of a fixture /proc with the fd symlinks of its fd-links.json made, except for the pids of
    ``fds_hidden`` (what root sees of another user's processes in a container without CAP_SYS_PTRACE)."""
    root = tmp_path / node
    shutil.copytree(PROC / node, root)
    links = json.loads((root / "fd-links.json").read_text(encoding="utf-8"))
    for pid, fds in links.items():
        if pid in fds_hidden:
            continue
        (root / pid / "fd").mkdir()
        for fd, target in fds.items():
            os.symlink(target, root / pid / "fd" / fd)
    return str(root)


def by_check(results: list[dict]) -> dict[str, dict]:
    return {result["check"]: result for result in results}


def test_parse_proc_net_tcp_ipv4() -> None:
    sockets = hc.parse_proc_net_tcp((PROC / "node_busy" / "net" / "tcp").read_text(encoding="utf-8"))
    assert [(s["address"], s["port"], s["state"], s["inode"]) for s in sockets] == [
        ("0.0.0.0", 22, "0A", 21538),
        ("0.0.0.0", 30000, "0A", 48211),
        ("0.0.0.0", 8998, "0A", 51734),
        ("127.0.0.53", 53, "0A", 19875),
        ("10.0.0.11", 22, "01", 61234),
        ("127.0.0.1", 30002, "06", 0),
    ]
    assert sockets[1]["uid"] == 998


def test_parse_proc_net_tcp6() -> None:
    sockets = hc.parse_proc_net_tcp((PROC / "node_busy" / "net" / "tcp6").read_text(encoding="utf-8"))
    assert [(s["address"], s["port"], s["inode"]) for s in sockets] == [("::", 8080, 52877), ("::1", 631, 20113), ("::", 22, 21540)]


def test_decode_address_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        hc.decode_address("0100")


@pytest.mark.parametrize(
    "pid, unit",
    [("4242", "sglang-prefill-0.service"), ("5151", None), ("6161", "nginx.service")],
)
def test_unit_of_cgroup_v1_and_v2(pid: str, unit: str | None) -> None:
    text = (PROC / "node_busy" / pid / "cgroup").read_text(encoding="utf-8")
    if unit is None:
        assert hc.unit_of_cgroup(text).startswith("docker-3f1c9a27")
        assert hc.unit_of_cgroup(text).endswith(".scope")
    else:
        assert hc.unit_of_cgroup(text) == unit


def test_unit_of_cgroup_outside_any_unit() -> None:
    assert hc.unit_of_cgroup("0::/\n") is None
    assert hc.unit_of_cgroup("0::/user.slice/user-1000.slice/session-4.scope\n") == "session-4.scope"


def test_free_port(tmp_path: Path) -> None:
    result = hc.check_ports([{"port": 30001, "purpose": "http"}], proc_tree(tmp_path, "node_busy"))
    assert result == [
        {
            "check": "port:30001",
            "status": "ok",
            "found": "port 30001 (http) is free",
            "needed": "port 30001 (http) free, or held by this collection's unit (sglang-*.service)",
            "fix": "",
        }
    ]


def test_time_wait_and_established_do_not_hold_a_port(tmp_path: Path) -> None:
    results = hc.check_ports([{"port": 30002, "purpose": "x"}, {"port": 50010, "purpose": "y"}], proc_tree(tmp_path, "node_busy"))
    assert [r["status"] for r in results] == ["ok", "ok"]


def test_port_busy_by_foreign_process(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 8998, "purpose": "bootstrap"}], proc_tree(tmp_path, "node_busy"))
    assert result["status"] == "fail"
    assert result["found"].startswith("port 8998 (bootstrap) is already listening on tcp 0.0.0.0:8998, held by jupyter-lab (pid 5151, unit docker-3f1c9a27")
    assert "`ss -ltnp 'sport = :8998'`" in result["fix"]
    assert "give bootstrap another port" in result["fix"]


def test_port_held_by_own_unit_is_ok(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 30000, "purpose": "http"}], proc_tree(tmp_path, "node_busy"))
    assert result["status"] == "ok"
    assert result["found"] == "port 30000 (http) is held by this collection's python3 (pid 4242, unit sglang-prefill-0.service) on tcp 0.0.0.0:30000"
    assert result["fix"] == ""


def test_port_held_by_own_unit_cgroup_v1(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 30000, "purpose": "http"}], proc_tree(tmp_path, "node_legacy"))
    assert result["status"] == "ok"
    assert "unit sglang-decode-0.service" in result["found"]
    assert "tcp 10.0.0.11:30000" in result["found"]


def test_own_unit_pattern_is_honoured(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 30000, "purpose": "http"}], proc_tree(tmp_path, "node_busy"), owned_unit_pattern="vllm-*.service")
    assert result["status"] == "fail"
    assert "held by python3 (pid 4242, unit sglang-prefill-0.service)" in result["found"]


def test_ipv6_listener_holds_the_port(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 8080, "purpose": "router"}], proc_tree(tmp_path, "node_busy"))
    assert result["status"] == "fail"
    assert result["found"] == "port 8080 (router) is already listening on tcp6 [::]:8080, held by nginx (pid 6161, unit nginx.service)"


def test_listener_without_readable_owner(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 22, "purpose": "ssh"}], proc_tree(tmp_path, "node_busy"))
    assert result["status"] == "fail"
    assert "tcp 0.0.0.0:22, tcp6 [::]:22" in result["found"]
    assert "a process whose owner could not be read" in result["found"]


# Without CAP_SYS_PTRACE the socket of pid 4242 (sglang-prefill-0.service, uid 998) has no known process.
OWN_HTTP = {"port": 30000, "purpose": "http", "unit": "sglang-prefill-0"}


@pytest.mark.parametrize("unit", ["sglang-prefill-0", "sglang-prefill-0.service"])
def test_own_unit_found_by_the_sockets_uid_when_fds_are_hidden(tmp_path: Path, unit: str) -> None:
    proc = proc_tree(tmp_path, "node_busy", fds_hidden=("4242",))
    [result] = hc.check_ports([dict(OWN_HTTP, unit=unit)], proc, owned_uid=998)
    assert result["status"] == "ok"
    assert result["found"] == ("port 30000 (http) is held by this collection's sglang-prefill-0.service (pid 4242) on "
                               "tcp 0.0.0.0:30000: its sockets belong to uid 998, the service user (their process could not be read)")


@pytest.mark.parametrize("item, owned_uid", [
    (OWN_HTTP, 1000),  # the socket is another user's
    (OWN_HTTP, None),  # the service user is unknown (not created yet)
    (dict(OWN_HTTP, unit="sglang-decode-0"), 998),  # the port's unit has no process: something else took the port
    ({"port": 30000, "purpose": "http"}, 998),  # the caller names no unit
])
def test_the_sockets_uid_alone_proves_nothing(tmp_path: Path, item: dict, owned_uid: int | None) -> None:
    proc = proc_tree(tmp_path, "node_busy", fds_hidden=("4242",))
    [result] = hc.check_ports([item], proc, owned_uid=owned_uid)
    assert result["status"] == "fail"
    assert "held by a process whose owner could not be read (socket uid 998; " in result["found"]


def test_the_sockets_uid_stands_in_only_for_this_collections_units(tmp_path: Path) -> None:
    proc = proc_tree(tmp_path, "node_busy", fds_hidden=("6161",))
    [result] = hc.check_ports([{"port": 8080, "purpose": "router", "unit": "nginx"}], proc, owned_uid=33)
    assert result["status"] == "fail"
    [result] = hc.check_ports([OWN_HTTP], proc, owned_unit_pattern="vllm-*.service", owned_uid=998)
    assert result["status"] == "fail"


def test_fd_links_root_may_list_but_not_read_are_named_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = proc_tree(tmp_path, "node_busy")
    real_readlink = os.readlink

    def readlink(path: str) -> str:
        if os.sep + "4242" + os.sep in path:
            raise PermissionError(13, "Permission denied", path)  # root without CAP_SYS_PTRACE, another user's process
        return real_readlink(path)

    monkeypatch.setattr(hc.os, "readlink", readlink)
    assert hc.socket_owners(proc, [48211]) == ({}, ["4242"])
    [result] = hc.check_ports([{"port": 30000, "purpose": "http"}], proc)
    assert result["found"].endswith("(socket uid 998; run as root (become), with CAP_SYS_PTRACE in a container, to name it)")


def test_processes_by_unit(tmp_path: Path) -> None:
    units = hc.processes_by_unit(proc_tree(tmp_path, "node_busy"))
    assert units["sglang-prefill-0.service"] == [4242] and units["nginx.service"] == [6161]


def test_ports_without_socket_tables_are_skipped(tmp_path: Path) -> None:
    [result] = hc.check_ports([{"port": 30000, "purpose": "http"}], str(tmp_path / "nothing"))
    assert result["status"] == "skipped"
    assert "cannot read the socket tables" in result["found"]


def test_nvidia_peermem_loaded_gdrdrv_missing() -> None:
    results = by_check(hc.check_kernel_modules(["nvidia_peermem", "gdrdrv"], str(PROC / "node_busy")))
    assert results["kernel_module:nvidia_peermem"]["status"] == "ok"
    assert results["kernel_module:gdrdrv"]["status"] == "fail"
    assert "modprobe gdrdrv" in results["kernel_module:gdrdrv"]["fix"]


def test_nvidia_peermem_missing(tmp_path: Path) -> None:
    (tmp_path / "modules").write_text("nvidia 56725504 0 - Live 0x0000000000000000 (OE)\n", encoding="utf-8")
    [result] = hc.check_kernel_modules(["nvidia_peermem"], str(tmp_path))
    assert (result["status"], result["found"]) == ("fail", "nvidia_peermem is not loaded")
    assert result["fix"].startswith("`modprobe nvidia_peermem` (it ships with the NVIDIA driver >= 470")


def test_only_legacy_nv_peer_mem_loaded() -> None:
    results = by_check(hc.check_kernel_modules(["nvidia_peermem", "gdrdrv", "nv-peer-mem"], str(PROC / "node_legacy")))
    peermem = results["kernel_module:nvidia_peermem"]
    assert peermem["status"] == "fail"
    assert peermem["found"] == "nvidia_peermem is not loaded; the legacy nv_peer_mem is"
    assert "old Mellanox module" in peermem["fix"]
    assert "refused by NVIDIA's open kernel module" in peermem["fix"]
    assert "`modprobe nvidia_peermem`" in peermem["fix"]
    assert results["kernel_module:gdrdrv"]["status"] == "ok"
    assert results["kernel_module:nv_peer_mem"]["status"] == "ok"  # asked for by name, normalised


def test_kernel_modules_without_proc_modules_are_skipped(tmp_path: Path) -> None:
    [result] = hc.check_kernel_modules(["nvidia_peermem"], str(tmp_path))
    assert result["status"] == "skipped"


def test_kernel_modules_from_a_modules_file_instead_of_proc_root(tmp_path: Path) -> None:
    # proc_root has no modules file: the modules_file copy (a GPU node with the RDMA stack, no peer-memory
    # module) is what counts.
    [result] = hc.check_kernel_modules(["nvidia_peermem"], str(tmp_path), str(PROC / "node_no_peermem" / "modules"))
    assert (result["status"], result["found"]) == ("fail", "nvidia_peermem is not loaded")
    [loaded] = hc.check_kernel_modules(["mlx5_ib"], str(tmp_path), str(PROC / "node_no_peermem" / "modules"))
    assert loaded["status"] == "ok"


def fake_statvfs(blocks: int, bavail: int, frsize: int = 4096):
    return lambda path: SimpleNamespace(f_blocks=blocks, f_bavail=bavail, f_frsize=frsize)


def test_small_shm(tmp_path: Path) -> None:
    result = hc.check_shm(16 * GIB, str(tmp_path), statvfs=fake_statvfs(16384, 16000))
    assert result["status"] == "fail"
    assert result["found"] == "%s is 64.0 MiB (67108864 bytes) (62.5 MiB (65536000 bytes) free)" % tmp_path
    assert "--shm-size=17179869184" in result["fix"]
    assert "tmpfs /dev/shm tmpfs defaults,size=17179869184 0 0" in result["fix"]


def test_large_enough_shm(tmp_path: Path) -> None:
    result = hc.check_shm(16 * GIB, str(tmp_path), statvfs=fake_statvfs(64 * GIB // 4096, 0))
    assert (result["status"], result["fix"]) == ("ok", "")


def test_missing_shm_fails(tmp_path: Path) -> None:
    result = hc.check_shm(GIB, str(tmp_path / "shm"))
    assert result["status"] == "fail"
    assert result["found"].endswith("does not exist")


def test_disk_below_minimum_on_nearest_parent(tmp_path: Path) -> None:
    seen = []

    def statvfs(path: str):
        seen.append(path)
        return SimpleNamespace(f_blocks=0, f_bavail=1024, f_frsize=4096)

    target = str(tmp_path / "opt" / "sglang" / "venv")
    [result] = hc.check_disk([{"path": target, "min_free_bytes": 20 * GIB}], statvfs=statvfs)
    assert seen == [str(tmp_path)]
    assert result["status"] == "fail"
    assert result["found"] == "4.0 MiB (4194304 bytes) free on %s (nearest existing parent of %s)" % (tmp_path, target)
    assert result["needed"] == "20.0 GiB (21474836480 bytes) free under %s" % target
    assert "df -h %s" % tmp_path in result["fix"]


def test_disk_enough_free(tmp_path: Path) -> None:
    [result] = hc.check_disk([{"path": str(tmp_path), "min_free_bytes": 1}])
    assert result["status"] == "ok"


def test_paths_present(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    results = hc.check_paths_present([str(tmp_path / "model"), str(tmp_path / "missing")])
    assert [r["status"] for r in results] == ["ok", "fail"]
    assert results[1]["found"] == "%s does not exist" % (tmp_path / "missing")
    assert "every node loads the model from its own local path" in results[1]["fix"]


def test_parse_limits() -> None:
    limits = hc.parse_limits((PROC / "node_busy" / "self" / "limits").read_text(encoding="utf-8"))
    assert limits["Max locked memory"] == ("8388608", "8388608")
    assert limits["Max open files"] == ("1024", "1048576")
    assert limits["Max realtime timeout"] == ("unlimited", "unlimited")


def test_memlock_login_warns_systemd_informs() -> None:
    limits = (PROC / "node_busy" / "self" / "limits").read_text(encoding="utf-8")
    results = by_check(hc.check_memlock(None, limits, "DefaultLimitMEMLOCK=8388608\n"))
    login, systemd = results["memlock:login"], results["memlock:systemd"]
    assert login["status"] == "warn"
    assert login["found"] == "soft 8.0 MiB (8388608 bytes), hard 8.0 MiB (8388608 bytes) (this Ansible session's /proc/self/limits)"
    assert "LimitMEMLOCK=infinity" in login["fix"]
    assert "* soft memlock unlimited" in login["fix"]
    assert systemd["status"] == "ok"
    assert systemd["needed"].startswith("informative: the units this collection renders set LimitMEMLOCK=infinity")
    assert systemd["found"].startswith("DefaultLimitMEMLOCK=8388608 (8.0 MiB")


def test_memlock_unlimited_everywhere() -> None:
    limits = (PROC / "node_legacy" / "self" / "limits").read_text(encoding="utf-8")
    results = hc.check_memlock(None, limits, "DefaultLimitMEMLOCK=infinity\n")
    assert [(r["check"], r["status"], r["fix"]) for r in results] == [("memlock:login", "ok", ""), ("memlock:systemd", "ok", "")]


def test_memlock_without_sources_is_skipped() -> None:
    results = hc.check_memlock(None, None, None, "x: No such file", "systemctl is not installed")
    assert [r["status"] for r in results] == ["skipped", "skipped"]
    assert "systemctl is not installed" in results[1]["found"]


def test_parse_limit_value() -> None:
    assert hc.parse_limit_value("unlimited") is None
    assert hc.parse_limit_value("infinity") is None
    assert hc.parse_limit_value("65536") == 65536
    with pytest.raises(ValueError):
        hc.parse_limit_value("64k")


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_reach_local_listener(listener: int) -> None:
    [result] = hc.check_reach([{"host": "127.0.0.1", "port": listener}], timeout=2)
    assert result["status"] == "ok"
    assert result["found"] == "connected to 127.0.0.1:%d" % listener


def test_reach_closed_port_fails_with_fix(closed_port: int) -> None:
    [result] = hc.check_reach([{"host": "127.0.0.1", "port": closed_port}], timeout=2)
    assert result["status"] == "fail"
    assert result["found"].startswith("connection refused by 127.0.0.1:%d" % closed_port)
    for word in ("firewall", "master's address", "ip route get 127.0.0.1"):
        assert word in result["fix"]


def test_reach_timeout_names_firewall_or_route() -> None:
    def connect(address, timeout):
        raise socket.timeout("timed out")

    [result] = hc.check_reach([{"host": "10.9.9.9", "port": 5000}], timeout=0.5, connect=connect)
    assert result["found"] == "no answer from 10.9.9.9:5000 within 0.5 s: a firewall drops it or there is no route"


def test_resolve_names() -> None:
    def getaddrinfo(name, port, family, type_):
        if name == "node-2":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00::11", 0, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.11", 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.11", 0)),
        ]

    resolutions, results = hc.resolve_names(["node-1", "node-2"], getaddrinfo=getaddrinfo)
    assert resolutions == {"node-1": ["10.0.0.11", "fd00::11"], "node-2": []}
    assert [r["status"] for r in results] == ["ok", "fail"]
    assert results[1]["found"] == "node-2 does not resolve: Name or service not known"


def test_resolve_localhost_for_real() -> None:
    resolutions, results = hc.resolve_names(["localhost"])
    assert results[0]["status"] == "ok"
    assert all(hc._is_loopback(address) for address in resolutions["localhost"])


def test_compare_resolutions_mismatch() -> None:
    mismatches = hc.compare_resolutions(
        {
            "node-1": {"node-1": ["127.0.1.1"], "node-2": ["10.0.0.12"]},
            "node-2": {"node-1": ["10.0.0.11"], "node-2": ["10.0.0.12"]},
            "node-3": {"node-1": ["10.0.0.11"], "node-2": []},
            "node-4": {},
        }
    )
    assert [m["name"] for m in mismatches] == ["node-1", "node-2"]
    first, second = mismatches
    assert first["addresses"] == {"node-1": ["127.0.1.1"], "node-2": ["10.0.0.11"], "node-3": ["10.0.0.11"]}
    assert first["found"] == "127.0.1.1 on node-1; 10.0.0.11 on node-2, node-3"
    assert "127.0.1.1 <hostname>" in first["fix"]
    assert second["found"] == "10.0.0.12 on node-1, node-2; no address on node-3"
    assert "127.0.1.1" not in second["fix"]


def test_compare_resolutions_agreeing_hosts() -> None:
    same = {"a": {"n": ["10.0.0.1", "fd00::1"]}, "b": {"n": ["fd00::1", "10.0.0.1"]}}
    assert hc.compare_resolutions(same) == []


def test_summarize() -> None:
    checks = [hc.check_result("a", "ok"), hc.check_result("b", "fail"), hc.check_result("c", "fail"), hc.check_result("d", "skipped")]
    assert hc.summarize(checks) == {"ok": 1, "fail": 2, "warn": 0, "skipped": 1}
