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
from typing import Any

import pytest
import yaml
import module_harness

from ansible_collections.gpufleet.sglang.plugins.module_utils import _host_checks
from ansible_collections.gpufleet.sglang.plugins.modules import host_checks

PROC = Path(__file__).resolve().parents[3] / "fixtures" / "proc"
GIB = 1024**3


def proc_tree(tmp_path: Path, node: str) -> str:
    """A copy of a fixture /proc with the fd symlinks of its fd-links.json made."""
    root = tmp_path / node
    shutil.copytree(PROC / node, root)
    for pid, fds in json.loads((root / "fd-links.json").read_text(encoding="utf-8")).items():
        (root / pid / "fd").mkdir()
        for fd, target in fds.items():
            os.symlink(target, root / pid / "fd" / fd)
    return str(root)


def run_module(capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    return module_harness.run_module(host_checks, capsys, **args)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {check["check"]: check["status"] for check in result["checks"]}


@pytest.fixture
def no_systemctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_checks.AnsibleModule, "get_bin_path", lambda self, name, *args, **kwargs: None)


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put a ``systemctl`` first on PATH that prints the given DefaultLimitMEMLOCK."""

    def install(value: str) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        script = bin_dir / "systemctl"
        script.write_text(
            "#!/bin/sh\n"
            '[ "$*" = "show --property DefaultLimitMEMLOCK" ] || { echo "unexpected: $*" >&2; exit 64; }\n'
            "echo DefaultLimitMEMLOCK=%s\n" % value,
            encoding="utf-8",
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])

    return install


def test_no_options_runs_no_check(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys)
    assert rc == 0
    assert (result["changed"], result["checks"], result["failed_checks"], result["resolutions"]) == (False, [], 0, {})
    assert result["msg"] == "0 checks: 0 ok, 0 fail, 0 warn, 0 skipped"


def test_every_check_reported_without_failing(capsys: pytest.CaptureFixture[str], tmp_path: Path, no_systemctl: None) -> None:
    model = tmp_path / "models" / "DeepSeek-V3"
    model.mkdir(parents=True)
    rc, result = run_module(
        capsys,
        proc_root=proc_tree(tmp_path, "node_busy"),
        shm_path=str(tmp_path),
        ports=[
            {"port": 30000, "purpose": "http"},
            {"port": 8998, "purpose": "bootstrap"},
            {"port": 8080, "purpose": "router"},
            {"port": 30001, "purpose": "metrics"},
        ],
        kernel_modules=["nvidia_peermem", "gdrdrv"],
        shm_min_bytes=1024**5,
        disk=[{"path": str(tmp_path / "opt" / "venv"), "min_free_bytes": 1024**5}],
        paths_present=[str(model), str(tmp_path / "models" / "missing")],
        memlock_min="unlimited",
    )
    assert rc == 0
    assert "failed" not in result
    assert result["changed"] is False
    assert statuses(result) == {
        "port:30000": "ok",
        "port:8998": "fail",
        "port:8080": "fail",
        "port:30001": "ok",
        "kernel_module:nvidia_peermem": "ok",
        "kernel_module:gdrdrv": "fail",
        "shm": "fail",
        "disk:%s" % (tmp_path / "opt" / "venv"): "fail",
        "path:%s" % model: "ok",
        "path:%s" % (tmp_path / "models" / "missing"): "fail",
        "memlock:login": "warn",
        "memlock:systemd": "skipped",
    }
    assert result["failed_checks"] == 6
    assert result["summary"] == {"ok": 4, "fail": 6, "warn": 1, "skipped": 1}
    assert all(set(check) == {"check", "status", "found", "needed", "fix"} for check in result["checks"])
    assert all(check["fix"] for check in result["checks"] if check["status"] == "fail")
    checks = {check["check"]: check for check in result["checks"]}
    assert "jupyter-lab (pid 5151" in checks["port:8998"]["found"]
    assert checks["port:8080"]["found"].endswith("held by nginx (pid 6161, unit nginx.service)")
    assert "--shm-size=" in checks["shm"]["fix"]
    assert checks["memlock:systemd"]["found"] == "cannot read systemd's default: systemctl is not installed (no systemd on this host)"


def test_fail_on_error_fails_naming_every_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, result = run_module(
        capsys,
        proc_root=str(PROC / "node_legacy"),
        kernel_modules=["nvidia_peermem", "gdrdrv"],
        paths_present=[str(tmp_path / "model")],
        fail_on_error=True,
    )
    assert rc == 1
    assert result["failed"] is True
    assert result["failed_checks"] == 2
    lines = result["msg"].split("\n")
    assert lines[0] == "2 host checks failed."
    assert lines[1].startswith("kernel_module:nvidia_peermem: found nvidia_peermem is not loaded; the legacy nv_peer_mem is; ")
    assert "old Mellanox module" in lines[1]
    assert lines[2].startswith("path:%s: found %s does not exist" % (tmp_path / "model", tmp_path / "model"))


def test_fail_on_error_passes_when_all_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, result = run_module(capsys, proc_root=proc_tree(tmp_path, "node_legacy"), ports=[{"port": 30000}], fail_on_error=True)
    assert rc == 0
    assert statuses(result) == {"port:30000": "ok"}
    assert "unspecified purpose" in result["checks"][0]["found"]


def test_owned_user_lets_the_sockets_uid_stand_in_for_unreadable_fds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = proc_tree(tmp_path, "node_busy")
    shutil.rmtree(Path(proc) / "4242" / "fd")  # as root sees the sglang user's process without CAP_SYS_PTRACE

    def getpwnam(name: str) -> SimpleNamespace:
        if name != "sglang":
            raise KeyError(name)
        return SimpleNamespace(pw_uid=998)

    monkeypatch.setattr(host_checks.pwd, "getpwnam", getpwnam)
    ports = [{"port": 30000, "purpose": "http", "unit": "sglang-prefill-0"}]
    _rc, result = run_module(capsys, proc_root=proc, ports=ports, owned_user="sglang")
    assert statuses(result) == {"port:30000": "ok"}
    assert "sglang-prefill-0.service (pid 4242)" in result["checks"][0]["found"]
    _rc, result = run_module(capsys, proc_root=proc, ports=ports, owned_user="not-created-yet")
    assert statuses(result) == {"port:30000": "fail"}


def test_real_listener_on_this_host_is_busy(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp on this system")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        rc, result = run_module(capsys, ports=[{"port": port, "purpose": "bootstrap"}])
    finally:
        server.close()
    [check] = result["checks"]
    assert rc == 0
    assert check["status"] == "fail"
    assert "tcp 127.0.0.1:%d" % port in check["found"]
    assert "(pid %d," % os.getpid() in check["found"]


def test_small_shm_with_patched_statvfs(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_statvfs = os.statvfs

    def statvfs(path: str):
        if path == str(tmp_path):
            return SimpleNamespace(f_blocks=16384, f_bavail=16384, f_frsize=4096)
        return real_statvfs(path)

    monkeypatch.setattr(_host_checks.os, "statvfs", statvfs)
    rc, result = run_module(capsys, shm_path=str(tmp_path), shm_min_bytes=GIB)
    [check] = result["checks"]
    assert (rc, check["status"]) == (0, "fail")
    assert check["found"].startswith("%s is 64.0 MiB (67108864 bytes)" % tmp_path)
    assert check["needed"] == "%s of at least 1.0 GiB (1073741824 bytes)" % tmp_path


def test_memlock_from_systemctl(capsys: pytest.CaptureFixture[str], fake_systemctl) -> None:
    fake_systemctl("infinity")
    rc, result = run_module(capsys, proc_root=str(PROC / "node_legacy"), memlock_min="unlimited")
    assert rc == 0
    assert statuses(result) == {"memlock:login": "ok", "memlock:systemd": "ok"}
    assert result["checks"][1]["found"] == "DefaultLimitMEMLOCK=infinity (unlimited) for units that set no LimitMEMLOCK"


def test_bad_memlock_min_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = run_module(capsys, memlock_min="lots")
    assert rc == 1
    assert result["msg"] == "memlock_min: not a byte count or unlimited/infinity: 'lots'"


def test_reach_and_resolve(capsys: pytest.CaptureFixture[str]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    try:
        rc, result = run_module(
            capsys,
            reach=[{"host": "127.0.0.1", "port": server.getsockname()[1]}, {"host": "127.0.0.1", "port": closed}],
            reach_timeout=2,
            resolve=["localhost", "no-such-host.invalid"],
        )
    finally:
        server.close()
    assert rc == 0
    assert [check["status"] for check in result["checks"]] == ["ok", "fail", "ok", "fail"]
    assert "firewall" in result["checks"][1]["fix"] and "routing" in result["checks"][1]["fix"]
    assert result["resolutions"]["localhost"]
    assert result["resolutions"]["no-such-host.invalid"] == []
    assert result["failed_checks"] == 2


def test_check_mode_reads_and_judges_the_same(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = dict(proc_root=proc_tree(tmp_path, "node_busy"), ports=[{"port": 8998, "purpose": "bootstrap"}], kernel_modules=["gdrdrv"])
    normal = run_module(capsys, **args)
    checked = run_module(capsys, _ansible_check_mode=True, **args)
    assert checked[0] == normal[0] == 0
    assert checked[1]["changed"] is False
    assert "skipped" not in checked[1]
    assert checked[1]["checks"] == normal[1]["checks"]
    assert checked[1]["failed_checks"] == 2


def test_missing_files_are_skipped_not_tracebacks(capsys: pytest.CaptureFixture[str], tmp_path: Path, no_systemctl: None) -> None:
    rc, result = run_module(
        capsys, proc_root=str(tmp_path / "noproc"), ports=[{"port": 1}], kernel_modules=["nvidia_peermem"], memlock_min="65536"
    )
    assert rc == 0
    assert set(statuses(result).values()) == {"skipped"}
    assert all(check["found"] for check in result["checks"])


def _spec_of(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    return module_harness.argument_spec_of(host_checks, monkeypatch)


def _compare(documented: dict[str, Any], spec: dict[str, Any]) -> None:
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert (doc["type"], doc.get("default"), doc.get("elements"), doc.get("required", False)) == (
            option["type"],
            option.get("default"),
            option.get("elements"),
            option.get("required", False),
        ), name
        if "options" in option:
            _compare(doc["suboptions"], option["options"])
        else:
            assert "suboptions" not in doc, name


def test_documentation_matches_argument_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load(host_checks.DOCUMENTATION)
    assert doc["version_added"] == "0.1.0"
    _compare(doc["options"], _spec_of(monkeypatch))
    examples = yaml.safe_load(host_checks.EXAMPLES)
    assert all(any(key.startswith(("gpufleet.sglang.", "ansible.builtin.")) for key in task) for task in examples)
    returned = yaml.safe_load(host_checks.RETURN)
    assert sorted(returned) == ["checks", "failed_checks", "msg", "resolutions", "summary"]
    assert all({"description", "returned", "type", "sample"} <= set(entry) for entry in returned.values())
