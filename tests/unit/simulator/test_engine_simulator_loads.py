# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The load endpoints of the simulated release, their shapes, and real counts of the requests served.

The release is the one the parser spec is named after (GPUFLEET_SIMULATOR_ARGS_SPEC, as the role sets it
per release profile): /v1/loads from 0.5.8, /get_load up to 0.5.20, /metrics with --enable-metrics. Each
answer goes through the rolling restart's own reader (module_utils/_worker_api.py), so every drain branch
is driven here against the simulator of the release that takes it.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from simulator_harness import SIMULATOR, free_port, get_json, http, post_json

from ansible_collections.gpufleet.sglang.plugins.module_utils import _worker_api as api
from ansible_collections.gpufleet.sglang.plugins.module_utils._http import sender

KEY = "load-key-must-not-be-logged"
AUTH = {"Authorization": "Bearer " + KEY}
SPEC_DIR = SIMULATOR.parent / "server_args"
SLOW = {"GPUFLEET_SIMULATOR_TOKEN_MS": "20"}  # 100 tokens: 2 s in flight


def spec_env(release):
    """The environment the role writes for a worker of RELEASE (the file may not exist: argv is then checked
    against the newest table, and the release is still RELEASE)."""
    return {"GPUFLEET_SIMULATOR_ARGS_SPEC": str(SPEC_DIR / ("%s.json" % release))}


def start(fleet, release, *args, env=None, name="sim"):
    port = free_port()
    merged = spec_env(release)
    merged.update(env or {})
    proc = fleet.simulator("--model-path", "m", "--host", "127.0.0.1", "--port", str(port), *args, env=merged, name=name)
    url = "http://127.0.0.1:%d" % port
    fleet.wait_http(url + "/health", proc)
    return url, proc


def chat_in_background(url, max_tokens=100, headers=None, body=None):
    """Send a chat completion from a thread; the returned dict gets its status."""
    outcome = {}
    payload = dict(body or {})
    payload.update({"messages": [{"role": "user", "content": "count me %d" % random.getrandbits(32)}], "max_tokens": max_tokens})

    def run():
        try:
            outcome["status"] = http("POST", url + "/v1/chat/completions", payload, headers=headers, timeout=60)[0]
        except OSError as error:  # the worker went away
            outcome["status"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def until(condition, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("not within %ss" % timeout)


def read(url, source, headers=None):
    status, _headers, raw = http("GET", url + "/" + source, headers=headers)
    return api.parse_load(source, api.Response(status, raw))


def read_when(url, source, condition):
    """The load at SOURCE when CONDITION holds for it, else None."""
    load = read(url, source)
    return load if load is not None and condition(load) else None


@pytest.mark.parametrize("release, serves", [
    ("0.5.23", {"/v1/loads"}),
    ("0.5.21", {"/v1/loads"}),
    ("0.5.20", {"/v1/loads", "/get_load"}),
    ("0.5.8", {"/v1/loads", "/get_load"}),
    ("0.5.6.post2", {"/get_load"}),
])
def test_each_release_serves_its_load_endpoints(fleet, release, serves):
    url, proc = start(fleet, release)
    for path in ("/v1/loads", "/get_load", "/metrics"):
        assert http("GET", url + path)[0] == (200 if path in serves else 404), (release, path)
    assert "load endpoints of SGLang %s: %s" % (release, ", ".join(sorted(serves, reverse=True))) in proc.output()
    block = get_json(url + "/get_server_info")["gpufleet_simulator"]
    assert block["release"] == release and set(block["load_endpoints"]) == serves
    metrics_url, _proc = start(fleet, release, "--enable-metrics", name="metrics")
    assert http("GET", metrics_url + "/metrics")[0] == 200


def test_v1_loads_of_0_5_23_has_its_shape(fleet):
    url, _proc = start(fleet, "0.5.23", "--tp-size", "2", "--max-running-requests", "64")
    answer = get_json(url + "/v1/loads")
    assert list(answer) == ["timestamp", "version", "accelerator", "num_accelerators", "loads"]
    assert answer["version"] == "0.5.23" and answer["num_accelerators"] == 2
    (load,) = answer["loads"]
    assert list(load)[:4] == ["timestamp", "dp_rank", "num_running_reqs", "num_waiting_reqs"]
    assert {"num_used_tokens", "max_total_num_tokens", "token_usage", "utilization", "decode_moments"} <= set(load)
    assert (load["dp_rank"], load["max_running_requests"], load["disaggregation"]["mode"]) == (0, 64, "null")
    assert set(load["disaggregation"]) >= {"prefill_bootstrap_queue_reqs", "prefill_inflight_queue_reqs"}
    assert set(load["queues"]) == {"waiting", "grammar", "paused", "retracted", "prealloc_ready"}


def test_v1_loads_and_get_load_of_0_5_8_have_their_shapes(fleet):
    url, _proc = start(fleet, "0.5.8")
    answer = get_json(url + "/v1/loads")
    assert list(answer) == ["timestamp", "version", "dp_rank_count", "loads", "aggregate"]
    (load,) = answer["loads"]
    assert "dp_rank" not in load and load["num_total_reqs"] == 0  # None fields are left out
    assert "prefill_prealloc_queue_reqs" in load["disaggregation"] and "prealloc_ready" not in load["queues"]
    (old,) = get_json(url + "/get_load")
    assert list(old) == ["rid", "http_worker_ipc", "dp_rank", "num_reqs", "num_waiting_reqs", "num_tokens", "ts_tic"]
    assert old["dp_rank"] is None and old["num_reqs"] == 0
    url, _proc = start(fleet, "0.5.6.post2", name="older")
    (older,) = get_json(url + "/get_load")
    assert "ts_tic" not in older


@pytest.mark.parametrize("release, source", [("0.5.23", "v1/loads"), ("0.5.8", "get_load"), ("0.5.6.post2", "get_load")])
def test_a_request_in_flight_is_counted_until_it_ends(fleet, release, source):
    url, _proc = start(fleet, release, "--api-key", KEY, "--enable-metrics", env=SLOW)
    assert read(url, source, AUTH).in_flight == 0 and read(url, "metrics").in_flight == 0
    chat = chat_in_background(url, headers=AUTH)
    until(lambda: read(url, source, AUTH).in_flight == 1)
    load = read(url, source, AUTH)
    assert (load.running, load.waiting) == (1, 0)
    assert read(url, "metrics").running == 1  # /metrics needs no key
    assert http("GET", url + "/" + source)[0] == 401
    chat["thread"].join(30)
    assert chat["status"] == 200 and read(url, source, AUTH).in_flight == 0


def test_beyond_max_running_requests_requests_wait(fleet):
    url, _proc = start(fleet, "0.5.23", "--max-running-requests", "1", "--enable-metrics", env=SLOW)
    chats = [chat_in_background(url, max_tokens=50) for _index in range(3)]
    load = until(lambda: read_when(url, "v1/loads", lambda reading: reading.in_flight == 3))
    assert (load.running, load.waiting) == (1, 2)
    metrics = read(url, "metrics")
    assert (metrics.running, metrics.waiting) == (1, 2)
    (entry,) = get_json(url + "/v1/loads")["loads"]
    assert entry["queues"]["waiting"] + entry["num_running_reqs"] >= 2
    for chat in chats:
        chat["thread"].join(30)
        assert chat["status"] == 200
    assert read(url, "v1/loads").in_flight == 0


def test_dp_ranks_take_requests_in_turn(fleet):
    url, _proc = start(fleet, "0.5.8", "--tp-size", "2", "--dp-size", "2", env=SLOW)
    chats = [chat_in_background(url) for _index in range(2)]
    until(lambda: read(url, "v1/loads").in_flight == 2)
    loads = get_json(url + "/v1/loads")["loads"]
    assert [(rank["dp_rank"], rank["num_running_reqs"]) for rank in loads] == [(0, 1), (1, 1)]
    assert [rank["dp_rank"] for rank in get_json(url + "/get_load")] == [0, 1]
    assert [rank["dp_rank"] for rank in get_json(url + "/v1/loads?dp_rank=1")["loads"]] == [1]
    assert http("GET", url + "/v1/loads?dp_rank=one")[0] == 400
    assert read(url, "get_load").ranks == 2
    for chat in chats:
        chat["thread"].join(30)


def test_a_prefill_counts_its_kv_until_the_decode_pulls_it(fleet):
    bootstrap = free_port()
    url, _proc = start(fleet, "0.5.23", "--tp-size", "2", "--disaggregation-mode", "prefill", "--disaggregation-transfer-backend",
                       "nixl", "--disaggregation-bootstrap-port", str(bootstrap), "--enable-metrics",
                       env={"GPUFLEET_SIMULATOR_KV_TIMEOUT_S": "2"}, name="prefill")
    # No decode pulls this room: the prefill holds its KV until the timeout.
    chat = chat_in_background(url, body={"bootstrap_host": "127.0.0.1", "bootstrap_port": bootstrap, "bootstrap_room": 7})
    load = until(lambda: read_when(url, "v1/loads", lambda reading: reading.transferring == 1))
    assert (load.running, load.waiting, load.in_flight) == (0, 0, 1)
    assert get_json(url + "/v1/loads")["loads"][0]["disaggregation"]["prefill_inflight_queue_reqs"] == 1
    assert read(url, "metrics").transferring == 1
    chat["thread"].join(30)
    assert chat["status"] == 500 and read(url, "v1/loads").in_flight == 0


@pytest.mark.parametrize("release, sources, source", [
    ("0.5.23", api.LOAD_SOURCES, "/v1/loads"),
    ("0.5.8", api.LOAD_SOURCES, "/v1/loads"),
    ("0.5.6.post2", api.LOAD_SOURCES, "/get_load"),
    ("0.5.23", ["metrics"], "/metrics"),
])
def test_the_drain_waits_for_the_requests_through_the_releases_source(fleet, release, sources, source):
    url, _proc = start(fleet, release, "--api-key", KEY, "--enable-metrics", env=SLOW)
    chat = chat_in_background(url, headers=AUTH)
    until(lambda: read(url, "metrics").in_flight == 1)
    started = time.monotonic()
    result = api.wait_idle(sender(5), url, api_key=KEY, sources=sources, timeout=30, interval=0.2)
    assert result["outcome"] == "idle" and result["source"] == source and result["idle"]
    assert time.monotonic() - started > 0.5, "it did not wait for the request in flight"
    assert chat["thread"].join(30) is None and chat["status"] == 200
    assert KEY not in repr(result)


def test_the_drain_of_a_release_without_a_load_source(fleet):
    url, _proc = start(fleet, "0.5.23")
    result = api.wait_idle(sender(5), url, sources=["get_load", "metrics"], timeout=0)
    assert result["outcome"] == "no_source"
    assert result["probes"] == {"/get_load": 'HTTP 404 {"detail": "Not Found"}', "/metrics": 'HTTP 404 {"detail": "Not Found"}'}


def test_the_drain_of_a_busy_worker_times_out(fleet):
    url, _proc = start(fleet, "0.5.23", env={"GPUFLEET_SIMULATOR_TOKEN_MS": "50"})
    chat = chat_in_background(url, max_tokens=60)
    until(lambda: read(url, "v1/loads").in_flight == 1)
    result = api.wait_idle(sender(5), url, timeout=1, interval=0.2)
    assert result["outcome"] == "busy" and result["in_flight"] == 1
    chat["thread"].join(30)


def test_a_worker_that_stops_is_lost(fleet):
    url, proc = start(fleet, "0.5.23", env={"GPUFLEET_SIMULATOR_TOKEN_MS": "50"})
    chat_in_background(url, max_tokens=200)
    until(lambda: read(url, "v1/loads").in_flight == 1)
    timer = threading.Timer(0.5, proc.popen.kill)
    timer.start()
    result = api.wait_idle(sender(2), url, timeout=3, interval=0.2)
    timer.join()
    assert result["outcome"] == "lost" and result["status"] is None


def test_the_generation_endpoints_still_work_with_a_queue(fleet):
    url, _proc = start(fleet, "0.5.23", "--max-running-requests", "1")
    status, reply = post_json(url + "/generate", {"text": ["a", "b", "c"], "sampling_params": {"max_new_tokens": 2}})
    assert status == 200 and [len(r["output_ids"]) for r in reply] == [2, 2, 2]
