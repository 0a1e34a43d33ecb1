# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""service_health: healthy when the URL answers; fails at once when the unit crash-loops, not at the timeout."""
from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import service_health


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in `systemctl show` that prints the states written to a file, one call per line of states."""
    states = tmp_path / "states"
    counter = tmp_path / "calls"
    script = tmp_path / "bin" / "systemctl"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        'n=$(cat %s 2>/dev/null || echo 0); echo $((n + 1)) > %s\n'
        'line=$(sed -n "$((n + 1))p" %s); [ -n "$line" ] || line=$(tail -n 1 %s)\n'
        'echo "$line" | tr " " "\\n"\n' % (counter, counter, states, states))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (script.parent, __import__("os").environ["PATH"]))

    def write(*lines: str) -> None:
        states.write_text("\n".join(lines) + "\n")
    return write


def running(restarts: int = 0) -> str:
    return "ActiveState=active SubState=running Result=success ExecMainStatus=0 NRestarts=%d" % restarts


def crashing(restarts: int) -> str:
    return "ActiveState=activating SubState=auto-restart Result=exit-code ExecMainStatus=2 NRestarts=%d" % restarts


@pytest.fixture
def server():
    """A local health endpoint whose status the test sets."""
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *_args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/health" % httpd.server_address[1], status
    httpd.shutdown()


def run(capsys, **args):
    args.setdefault("interval", 0.05)
    return module_harness.run_module(service_health, capsys, unit="sglang-x", **args)


def test_healthy_in_check_mode_too(systemctl, server, capsys):
    url, _status = server
    systemctl(running())
    rc, result = run(capsys, url=url, _ansible_check_mode=True)
    assert rc == 0 and result["status"] == 200 and not result["changed"]


def test_a_crash_loop_fails_at_once_not_at_the_timeout(systemctl, capsys):
    systemctl(crashing(0), crashing(0), crashing(1))
    start = time.monotonic()
    rc, result = run(capsys, url="http://127.0.0.1:9/health", timeout=600)
    assert rc == 1 and time.monotonic() - start < 5
    assert "crash-loops" in result["msg"] and "exited with status 2" in result["msg"]
    assert result["restarts"] == 1


def test_one_restart_is_tolerated(systemctl, server, capsys, tmp_path):
    url, status = server
    status["code"] = 503
    systemctl(running(), crashing(0), running(1))

    def heal():
        # Healthy only once the module has seen the unit restart (its third look at systemd), however slow
        # the machine: a fixed delay raced the module's polling under load.
        calls = tmp_path / "calls"
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            if calls.exists() and calls.read_text().strip().isdigit() and int(calls.read_text()) >= 3:
                break
            time.sleep(0.05)
        status["code"] = 200
    threading.Thread(target=heal, daemon=True).start()
    rc, result = run(capsys, url=url, timeout=30)
    assert rc == 0 and result["restarts"] == 1


def test_a_failed_unit_fails_at_once(systemctl, capsys):
    systemctl("ActiveState=failed SubState=failed Result=start-limit-hit ExecMainStatus=1 NRestarts=5")
    rc, result = run(capsys, url="http://127.0.0.1:9/health", timeout=600)
    assert rc == 1 and "the unit failed" in result["msg"]


def test_a_slow_start_fails_only_at_the_timeout(systemctl, server, capsys):
    url, status = server
    status["code"] = 503
    systemctl(running())
    start = time.monotonic()
    rc, result = run(capsys, url=url, timeout=1)
    assert rc == 1 and time.monotonic() - start >= 1
    assert "did not answer" in result["msg"] and result["status"] == 503


@pytest.mark.parametrize("state, allowed, expected", [
    ({"ActiveState": "active", "SubState": "running"}, 1, None),
    ({"ActiveState": "activating", "SubState": "start"}, 1, None),
    ({"ActiveState": "activating", "SubState": "auto-restart"}, 1, None),
    ({"ActiveState": "inactive", "SubState": "dead"}, 1, "not running"),
])
def test_hopeless_first_crash_waits(state, allowed, expected):
    reason = service_health.hopeless(state, 0, allowed)
    assert (reason is None) if expected is None else (expected in reason)
