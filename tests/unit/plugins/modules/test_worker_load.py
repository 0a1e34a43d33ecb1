# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""worker_load over HTTP: a local worker whose load endpoints and counts the test sets.

The parsers and outcomes are tested in tests/unit/plugins/module_utils/test__worker_api.py, and against
the engine simulator of each release in tests/unit/simulator/test_engine_simulator_loads.py.
"""
from __future__ import annotations

import http.server
import json
import threading

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import worker_load

KEY = "worker-key-8d2e-must-not-leak"


@pytest.fixture
def worker():
    """Serves /get_load (an SGLang 0.5.6.post2) with the count in state; the key required."""
    state = {"count": 0, "serves": {"/get_load"}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.headers.get("Authorization") != "Bearer " + KEY:
                status, data = 401, {"error": "Unauthorized"}
            elif self.path in state["serves"]:
                status = 200
                data = [{"rid": None, "http_worker_ipc": None, "dp_rank": 0, "num_reqs": state["count"],
                         "num_waiting_reqs": 0, "num_tokens": 0}]
                state["count"] = max(0, state["count"] - 1)
            else:
                status, data = 404, {"detail": "Not Found"}
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1], state
    httpd.shutdown()


def run(capsys, **args):
    args.setdefault("interval", 0.05)
    return module_harness.run_module(worker_load, capsys, **args)


def test_waits_until_idle_in_check_mode_too(worker, capsys):
    url, state = worker
    state["count"] = 3
    rc, result = run(capsys, url=url, api_key=KEY, timeout=10, _ansible_check_mode=True)
    assert rc == 0 and not result["changed"] and result["idle"] and result["outcome"] == "idle"
    assert result["source"] == "/get_load" and result["probes"]["/v1/loads"] == 'HTTP 404 {"detail": "Not Found"}'
    assert KEY not in json.dumps(result)


def test_busy_is_no_failure(worker, capsys):
    url, state = worker
    state["count"] = 1000
    rc, result = run(capsys, url=url, api_key=KEY, timeout=1, interval=0.2)
    assert rc == 0 and not result["idle"] and result["outcome"] == "busy" and result["in_flight"] > 0


def test_no_source(worker, capsys):
    url, state = worker
    state["serves"] = set()
    rc, result = run(capsys, url=url, api_key=KEY, timeout=1)
    assert rc == 0 and result["outcome"] == "no_source" and set(result["probes"]) == {"/v1/loads", "/get_load", "/metrics"}


def test_a_worker_that_is_down(capsys):
    rc, result = run(capsys, url="http://127.0.0.1:9", timeout=0, request_timeout=2, sources=["metrics"])
    assert rc == 0 and result["outcome"] == "no_source" and result["probes"]["/metrics"].startswith("HTTP none (")


def test_the_key_is_no_log(monkeypatch):
    assert module_harness.argument_spec_of(worker_load, monkeypatch)["api_key"]["no_log"] is True
