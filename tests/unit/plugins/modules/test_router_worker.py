# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""router_worker over HTTP: a local stand-in of smg's worker API (202, then the change in the background).

The decisions are tested in tests/unit/plugins/module_utils/test__worker_api.py; here the module's
arguments, its HTTP (error bodies, no answer), check mode and that no key reaches its result.
"""
from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
import module_harness

from ansible_collections.gpufleet.sglang.plugins.modules import router_worker

KEY = "router-key-5f1c-must-not-leak"
WORKER_URL = "http://10.0.1.11:30000"


@pytest.fixture
def router():
    """smg's worker API: the key required, DELETE and POST acting 0.3 s after their 202."""
    state = {"workers": [{"id": "w-0", "url": WORKER_URL, "worker_type": "prefill", "bootstrap_port": 8998, "is_healthy": True},
                         {"id": "w-1", "url": "http://10.0.1.12:30000", "worker_type": "decode", "is_healthy": True}],
             "requests": [], "lag": 0.3}
    lock = threading.Lock()

    def later(action):
        def run():
            time.sleep(state["lag"])
            with lock:
                action()
        threading.Thread(target=run, daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, data):
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def handle_any(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state["requests"].append((method, self.path, self.headers.get("Authorization"), body))
            if self.headers.get("Authorization") != "Bearer " + KEY:
                return self.reply(401, {"error": "Unauthorized"})
            if method == "GET" and self.path == "/workers":
                with lock:
                    return self.reply(200, {"workers": list(state["workers"]), "total": len(state["workers"])})
            if method == "DELETE" and self.path.startswith("/workers/"):
                ident = self.path.rsplit("/", 1)[1]
                later(lambda: state.__setitem__("workers", [w for w in state["workers"] if w["id"] != ident]))
                return self.reply(202, {"status": "accepted", "worker_id": ident})
            if method == "POST" and self.path == "/workers":
                if "url" not in body:
                    return self.reply(400, {"error": "url is required"})
                added = {"id": "w-new", "url": body["url"], "worker_type": body["worker_type"], "is_healthy": True}
                if "bootstrap_port" in body:
                    added["bootstrap_port"] = body["bootstrap_port"]
                later(lambda: state["workers"].append(added))
                return self.reply(202, {"status": "accepted", "worker_id": "w-new"})
            return self.reply(404, {"error": "Not Found"})

        def do_GET(self):  # noqa: N802 (http.server's names)
            self.handle_any("GET")

        def do_DELETE(self):  # noqa: N802
            self.handle_any("DELETE")

        def do_POST(self):  # noqa: N802
            self.handle_any("POST")

        def log_message(self, *_args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1], state
    httpd.shutdown()


def run(capsys, **args):
    args.setdefault("interval", 0.1)
    args.setdefault("timeout", 10)
    args.setdefault("worker_url", WORKER_URL)
    return module_harness.run_module(router_worker, capsys, **args)


def test_out_and_back_in(router, capsys):
    url, state = router
    rc, result = run(capsys, url=url, api_key=KEY, state="absent")
    assert rc == 0 and result["changed"] and result["worker_ids"] == ["w-0"] and result["worker"] is None
    assert [w["id"] for w in state["workers"]] == ["w-1"]
    assert ("DELETE", "/workers/w-0", "Bearer " + KEY, None) in state["requests"]

    rc, result = run(capsys, url=url, api_key=KEY, state="absent")
    assert rc == 0 and not result["changed"]

    rc, result = run(capsys, url=url, api_key=KEY, state="present", worker_type="prefill", bootstrap_port=8998)
    assert rc == 0 and result["changed"] and result["worker"]["bootstrap_port"] == 8998
    (post,) = [r for r in state["requests"] if r[0] == "POST"]
    assert post[3] == {"url": WORKER_URL, "worker_type": "prefill", "bootstrap_port": 8998, "api_key": KEY}

    rc, result = run(capsys, url=url, api_key=KEY, state="present", worker_type="prefill", bootstrap_port=8998)
    assert rc == 0 and not result["changed"]
    assert KEY not in json.dumps(result)


def test_check_mode_reads_only(router, capsys):
    url, state = router
    rc, result = run(capsys, url=url, api_key=KEY, state="absent", _ansible_check_mode=True)
    assert rc == 0 and result["changed"] and [r[0] for r in state["requests"]] == ["GET"]
    assert len(state["workers"]) == 2


def test_without_the_key_it_fails_naming_the_answer(router, capsys):
    url, _state = router
    rc, result = run(capsys, url=url, api_key="wrong-key-xyz", state="absent")
    assert rc == 1 and result["failure"] == "list" and result["status"] == 401
    assert result["answer"] == 'HTTP 401 {"error": "Unauthorized"}'
    assert "wrong-key-xyz" not in json.dumps(result)


def test_a_router_that_is_down_fails_with_no_answer(capsys):
    rc, result = run(capsys, url="http://127.0.0.1:9", api_key=KEY, request_timeout=2)
    assert rc == 1 and result["failure"] == "list" and result["status"] is None
    assert result["answer"].startswith("HTTP none (") and KEY not in json.dumps(result)


def test_a_change_that_does_not_show_in_time_fails(router, capsys):
    url, state = router
    state["lag"] = 30
    start = time.monotonic()
    rc, result = run(capsys, url=url, api_key=KEY, state="absent", timeout=1, interval=0.2)
    assert rc == 1 and result["failure"] == "timeout" and time.monotonic() - start < 10
    assert "still lists worker %s after 1 s" % WORKER_URL in result["msg"]


def test_bootstrap_port_only_for_a_prefill(router, capsys):
    url, _state = router
    rc, result = run(capsys, url=url, api_key=KEY, worker_type="decode", bootstrap_port=8998)
    assert rc == 1 and "bootstrap_port is a prefill's" in result["msg"]


def test_the_keys_are_no_log(monkeypatch):
    spec = module_harness.argument_spec_of(router_worker, monkeypatch)
    assert spec["api_key"]["no_log"] is True and spec["worker_api_key"]["no_log"] is True
