# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-node TP: rank 0 gates /health on every rank joining over --dist-init-addr; other ranks answer health only."""

from __future__ import annotations

import json
import socket
import time

from simulator_harness import free_port, get_json, http, raw_exchange


def rank_argv(http_port, dist_port, rank, nnodes=2):
    return [
        "--model-path", "big", "--host", "127.0.0.1", "--port", str(http_port), "--tp-size", "16",
        "--nnodes", str(nnodes), "--node-rank", str(rank), "--dist-init-addr", "127.0.0.1:%d" % dist_port,
    ]  # fmt: skip


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_ranks_join_and_leave(fleet):
    http_port, dist_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % http_port
    # rank 1 first: it retries until rank 0 listens
    rank1 = fleet.simulator(*rank_argv(free_port(), dist_port, 1), name="rank1")
    time.sleep(0.5)
    assert rank1.popen.poll() is None
    rank0 = fleet.simulator(*rank_argv(http_port, dist_port, 0), name="rank0")
    fleet.wait_http(url + "/health", rank0)
    assert get_json(url + "/get_server_info")["gpufleet_simulator"]["ranks_joined"] == [1]
    assert "node rank 1 joined" in rank0.output()
    rank1.stop()
    assert wait_for(lambda: http("GET", url + "/health")[0] == 503)
    # a new rank 1 joins again; then rank 0 goes away and rank 1 exits (systemd restarts it)
    rank1 = fleet.simulator(*rank_argv(free_port(), dist_port, 1), name="rank1-again")
    fleet.wait_http(url + "/health", rank0)
    rank0.stop()
    assert rank1.popen.wait(10) == 1
    assert "went away" in rank1.output()


def test_health_waits_for_missing_ranks(fleet):
    http_port, dist_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % http_port
    rank0 = fleet.simulator(*rank_argv(http_port, dist_port, 0, nnodes=3), name="rank0")
    fleet.wait_http(url + "/health", rank0, status=503)
    fleet.simulator(*rank_argv(free_port(), dist_port, 2, nnodes=3), name="rank2")
    assert wait_for(lambda: get_json(url + "/get_server_info")["gpufleet_simulator"]["ranks_joined"] == [2])
    assert http("GET", url + "/health")[0] == 503
    fleet.simulator(*rank_argv(free_port(), dist_port, 1, nnodes=3), name="rank1")
    fleet.wait_http(url + "/health", rank0)


def test_a_mismatched_rank_is_refused(fleet):
    http_port, dist_port = free_port(), free_port()
    rank0 = fleet.simulator(*rank_argv(http_port, dist_port, 0), name="rank0")
    fleet.wait_http("http://127.0.0.1:%d/health" % http_port, rank0, status=503)
    stray = fleet.simulator(*rank_argv(free_port(), dist_port, 1, nnodes=3), name="stray")
    assert stray.popen.wait(10) == 1
    assert "nnodes 3 differs from rank 0's 2" in stray.output()


def test_ranks_above_zero_answer_health_only(fleet):
    dist_port, rank1_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % rank1_port
    fleet.simulator(*rank_argv(free_port(), dist_port, 0), name="rank0")
    rank1 = fleet.simulator(*rank_argv(rank1_port, dist_port, 1), name="rank1")
    fleet.wait_http(url + "/health", rank1)
    assert http("GET", url + "/ping")[0] == 200
    assert http("GET", url + "/get_server_info")[0] == 404
    # The same bounds as every port: other methods 405, a malformed Content-Length 400, closing.
    assert http("POST", url + "/health", b"{}")[0] == 405
    status, _headers, _body, closed = raw_exchange(rank1_port, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")
    assert (status, closed) == (400, True)
    assert http("GET", url + "/health")[0] == 200


# --- the rank-join port: only the ranks of this instance, and no malformed hello -----------------

HELLO_TIMEOUT = {"GPUFLEET_SIMULATOR_HELLO_TIMEOUT_S": "1"}


def joined(url):
    return get_json(url + "/get_server_info")["gpufleet_simulator"]["ranks_joined"]


def hello_exchange(dist_port, data, timeout=5.0):
    """Send DATA to rank 0's join port; (first reply line, closed afterwards, seconds until the reply)."""
    started = time.time()
    with socket.create_connection(("127.0.0.1", dist_port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        reply = b""
        try:
            while b"\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            return None, False, time.time() - started
        elapsed = time.time() - started
        try:
            closed = sock.recv(4096) == b""
        except socket.timeout:
            closed = False
    return reply.decode("utf-8", "replace").strip(), closed, elapsed


def test_a_rank_of_another_instance_is_refused(fleet):
    """Same model and nnodes, but the hello names another instance: its dist-init-addr or its role."""
    http_port, dist_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % http_port
    rank0 = fleet.simulator(*rank_argv(http_port, dist_port, 0), env=HELLO_TIMEOUT, name="rank0")
    fleet.wait_http(url + "/health", rank0, status=503)
    # The address spelled another way reaches this port, but names another instance's master.
    other = rank_argv(free_port(), dist_port, 1)
    other[other.index("--dist-init-addr") + 1] = "localhost:%d" % dist_port
    stray = fleet.simulator(*other, env=HELLO_TIMEOUT, name="other-addr")
    assert stray.popen.wait(10) == 1
    assert "dist-init-addr localhost:%d differs from rank 0's 127.0.0.1:%d" % (dist_port, dist_port) in stray.output()
    # A prefill's rank 1 pointed at a regular instance's rank 0.
    prefill = fleet.simulator(*rank_argv(free_port(), dist_port, 1), "--disaggregation-mode", "prefill", env=HELLO_TIMEOUT, name="prefill-rank1")
    assert prefill.popen.wait(10) == 1
    assert "disaggregation mode prefill differs from rank 0's null" in prefill.output()
    # Another tp size (another instance of the same model).
    tp8 = rank_argv(free_port(), dist_port, 1)
    tp8[tp8.index("--tp-size") + 1] = "8"
    wrong_tp = fleet.simulator(*tp8, env=HELLO_TIMEOUT, name="tp8-rank1")
    assert wrong_tp.popen.wait(10) == 1
    assert "tp size 8 differs from rank 0's 16" in wrong_tp.output()
    assert joined(url) == [] and "refused" in rank0.output()
    # The rank of this instance still joins.
    fleet.simulator(*rank_argv(free_port(), dist_port, 1), env=HELLO_TIMEOUT, name="rank1")
    fleet.wait_http(url + "/health", rank0)


def test_malformed_hellos_are_refused_and_time_out(fleet, simulator_module):
    http_port, dist_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % http_port
    rank0 = fleet.simulator(*rank_argv(http_port, dist_port, 0), env=HELLO_TIMEOUT, name="rank0")
    fleet.wait_http(url + "/health", rank0, status=503)
    good = simulator_module.rank_hello(simulator_module.parse_args(rank_argv(0, dist_port, 1)))
    legacy = {"node_rank": 1, "nnodes": 2, "model_path": "big"}  # what ranks sent before the instance fields
    cases = {
        "not json": b"not json\n",
        "a list": b"[1, 2]\n",
        "a string": b'"hello"\n',
        "null": b"null\n",
        "legacy": (json.dumps(legacy) + "\n").encode(),
        "rank true": (json.dumps(dict(good, node_rank=True)) + "\n").encode(),
        "rank 0": (json.dumps(dict(good, node_rank=0)) + "\n").encode(),
        "rank 2": (json.dumps(dict(good, node_rank=2)) + "\n").encode(),
        "not utf-8": b"\xff\xfe\n",
        "too large": b"{" + b" " * 70000,
    }
    for name, data in cases.items():
        reply, closed, elapsed = hello_exchange(dist_port, data)
        assert reply is not None and reply.startswith("ERR "), (name, reply)
        assert closed and elapsed < 3, (name, closed, elapsed)
    # A connection that sends nothing is dropped after the hello timeout, and blocks no other joiner.
    with socket.create_connection(("127.0.0.1", dist_port), timeout=10) as silent:
        fleet.simulator(*rank_argv(free_port(), dist_port, 1), env=HELLO_TIMEOUT, name="rank1")
        fleet.wait_http(url + "/health", rank0)
        silent.settimeout(5)
        started = time.time()
        reply = silent.recv(4096)
        assert reply in (b"", b"ERR no hello within 1s\n") and time.time() - started < 4, reply
    assert joined(url) == [1]
    assert "Traceback" not in rank0.output(), rank0.output()


def test_a_rank_that_gets_no_answer_retries_without_a_traceback(fleet):
    """A listener on the dist-init port that accepts and never answers (not rank 0, or a hung one)."""
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        dist_port = mute.getsockname()[1]
        rank1 = fleet.simulator(*rank_argv(free_port(), dist_port, 1), env=HELLO_TIMEOUT, name="rank1")
        assert wait_for(lambda: "no answer from rank 0" in rank1.output(), timeout=5), rank1.output()
        assert rank1.popen.poll() is None and "Traceback" not in rank1.output(), rank1.output()
