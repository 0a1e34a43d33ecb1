# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-node TP: rank 0 gates /health on every rank joining over --dist-init-addr; other ranks answer health only."""

from __future__ import annotations

import time

from simulator_harness import free_port, get_json, http


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
