# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_worker_api: the router's worker API and a worker's load, against in-memory routers and workers.

Every answer shape here is the one the upstream releases give (see the module's docstring); the
engine simulator's own answers go through the same parsers in tests/unit/simulator/test_engine_simulator_loads.py.
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _worker_api as api

KEY = "router-key-must-not-leak"
WORKER_KEY = "worker-key-must-not-leak"
ROUTER = "http://127.0.0.1:8000"
URL = "http://10.0.1.11:30000"


class Clock(object):
    """A clock that only sleeping moves."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def answer(status, data=None, raw=None):
    return api.Response(status, raw if raw is not None else (json.dumps(data).encode() if data is not None else b""))


class Router(object):
    """smg's worker API: DELETE and POST answer 202 and act after ``lag`` more listings."""

    def __init__(self, workers=(), lag=1, heal_after=0, key=KEY):
        self.workers = [dict(w) for w in workers]
        self.lag, self.heal_after, self.key = lag, heal_after, key
        self.pending = []  # [listings left, action]
        self.requests = []
        self.override = {}  # method: Response

    def send(self, method, url, headers, body):
        self.requests.append((method, url, dict(headers), body))
        if method in self.override:
            return self.override[method]
        if self.key and headers.get("Authorization") != "Bearer " + self.key:
            return answer(401, {"error": "Unauthorized"})
        if method == "GET" and url == ROUTER + "/workers":
            for item in self.pending:
                item[0] -= 1
            for item in [i for i in self.pending if i[0] < 0]:
                self.pending.remove(item)
                item[1]()
            for worker in self.workers:
                worker["_seen"] = worker.get("_seen", 0) + 1
                if worker["_seen"] > self.heal_after:
                    worker["is_healthy"] = True
            return answer(200, {"workers": [{k: v for k, v in w.items() if k != "_seen"} for w in self.workers],
                                "total": len(self.workers)})
        if method == "DELETE" and url.startswith(ROUTER + "/workers/"):
            ident = url.rsplit("/", 1)[1]
            if not any(w["id"] == ident for w in self.workers):
                return answer(404, {"error": "not found"})
            self.pending.append([self.lag, lambda: self.workers.__setitem__(
                slice(None), [w for w in self.workers if w["id"] != ident])])
            return answer(202, {"status": "accepted", "worker_id": ident})
        if method == "POST" and url == ROUTER + "/workers":
            entry = {"id": "w-%d" % len(self.requests), "url": body["url"], "worker_type": body.get("worker_type", "regular"),
                     "is_healthy": False}
            if "bootstrap_port" in body:
                entry["bootstrap_port"] = body["bootstrap_port"]
            self.pending.append([self.lag, lambda: self.workers.append(entry)])
            return answer(202, {"status": "accepted", "worker_id": entry["id"]})
        return answer(404, {"error": "no route"})

    def methods(self):
        return [r[0] for r in self.requests]


def entry(ident="w-1", url=URL, healthy=True, **more):
    return dict(id=ident, url=url, worker_type="regular", is_healthy=healthy, **more)


def set_worker(router, clock=None, **kwargs):
    clock = clock or Clock()
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("interval", 1)
    kwargs.setdefault("timeout", 30)
    return api.set_router_worker(router.send, ROUTER, URL, clock=clock, sleep=clock.sleep, **kwargs)


# --- router ---------------------------------------------------------------------------------------


def test_absent_removes_by_id_and_waits_until_the_router_drops_it():
    router = Router([entry("w-1"), entry("w-2", url="http://10.0.1.12:30000")], lag=2)
    result = set_worker(router, state="absent")
    assert not result.get("failed") and result["changed"] and result["worker"] is None
    assert result["worker_ids"] == ["w-1"]
    deletes = [r for r in router.requests if r[0] == "DELETE"]
    assert [r[1] for r in deletes] == [ROUTER + "/workers/w-1"]
    assert all(r[2] == {"Authorization": "Bearer " + KEY} for r in router.requests)
    assert [w["id"] for w in router.workers] == ["w-2"]
    assert router.methods().count("GET") == 4  # the first listing, then until the change shows


def test_absent_when_not_listed_changes_nothing():
    router = Router([entry("w-2", url="http://10.0.1.12:30000")])
    result = set_worker(router, state="absent")
    assert not result["changed"] and router.methods() == ["GET"]


def test_present_adds_with_type_bootstrap_port_and_the_workers_key_then_waits_until_healthy():
    router = Router([], lag=1, heal_after=2)
    result = set_worker(router, state="present", worker_type="prefill", bootstrap_port=8998, worker_api_key=WORKER_KEY)
    assert not result.get("failed") and result["changed"]
    (post,) = [r for r in router.requests if r[0] == "POST"]
    assert post[3] == {"url": URL, "worker_type": "prefill", "bootstrap_port": 8998, "api_key": WORKER_KEY}
    assert result["worker"]["is_healthy"] is True and result["worker"]["bootstrap_port"] == 8998
    assert KEY not in json.dumps(result) and WORKER_KEY not in json.dumps(result)


def test_present_sends_the_routers_key_to_the_worker_by_default_and_none_without_a_key():
    router = Router([])
    set_worker(router, state="present", worker_type="decode", bootstrap_port=8998)
    (post,) = [r for r in router.requests if r[0] == "POST"]
    assert post[3] == {"url": URL, "worker_type": "decode", "api_key": KEY}  # no bootstrap port for a decode
    keyless = Router([], key=None)
    set_worker(keyless, state="present", api_key=None)
    (post,) = [r for r in keyless.requests if r[0] == "POST"]
    assert post[3] == {"url": URL, "worker_type": "regular"} and post[2] == {}


def test_present_when_listed_healthy_changes_nothing():
    router = Router([entry("w-1", url=URL + "/")])  # the router may spell it with a trailing slash
    result = set_worker(router, state="present")
    assert not result["changed"] and router.methods() == ["GET"] and result["worker"]["id"] == "w-1"


def test_present_when_listed_unhealthy_waits_without_adding_it_again():
    router = Router([entry("w-1", healthy=False)], heal_after=3)
    result = set_worker(router, state="present")
    assert not result.get("failed") and not result["changed"] and "POST" not in router.methods()
    assert result["worker"]["is_healthy"] is True


@pytest.mark.parametrize("state, workers, changed", [
    ("absent", [entry()], True),
    ("absent", [], False),
    ("present", [], True),
    ("present", [entry(healthy=False)], False),
])
def test_check_mode_only_reads(state, workers, changed):
    router = Router(workers)
    result = set_worker(router, state=state, check_mode=True)
    assert result["changed"] is changed and router.methods() == ["GET"]


def test_no_wait_sends_the_change_only():
    router = Router([entry()], lag=5)
    result = set_worker(router, state="absent", wait=False)
    assert result["changed"] and router.methods() == ["GET", "DELETE"]


def test_a_router_that_does_not_list_fails_with_its_answer():
    router = Router([entry()])
    result = set_worker(router, state="absent", api_key="wrong-key")
    assert result["failed"] and result["failure"] == "list" and result["status"] == 401
    assert result["answer"] == 'HTTP 401 {"error": "Unauthorized"}'
    assert "GET %s/workers" % ROUTER in result["msg"] and "wrong-key" not in json.dumps(result)


def test_no_answer_at_all_says_why():
    router = Router([entry()])
    router.override["GET"] = api.Response(None, b"", "URLError: [Errno 111] Connection refused")
    result = set_worker(router, state="present")
    assert result["failure"] == "list" and result["answer"] == "HTTP none (URLError: [Errno 111] Connection refused)"


def test_a_refused_change_fails_with_the_answer_secrets_masked():
    router = Router([])
    router.override["POST"] = answer(400, {"error": "bad worker", "echo": {"api_key": WORKER_KEY}, "note": "key " + KEY})
    result = set_worker(router, state="present", worker_api_key=WORKER_KEY)
    assert result["failed"] and result["failure"] == "refused" and result["status"] == 400
    assert "bad worker" in result["answer"] and WORKER_KEY not in json.dumps(result) and KEY not in json.dumps(result)
    assert "refused to add worker %s" % URL in result["msg"]
    router = Router([entry()])
    router.override["DELETE"] = answer(500, raw=b"internal\n  error")
    result = set_worker(router, state="absent")
    assert result["failure"] == "refused" and result["answer"] == "HTTP 500 internal error"


def test_a_change_that_never_shows_times_out_with_the_last_answer():
    clock = Clock()
    router = Router([entry()], lag=1000)
    result = set_worker(router, clock=clock, state="absent", timeout=10, interval=3)
    assert result["failed"] and result["failure"] == "timeout"
    assert "still lists worker %s after 10 s" % URL in result["msg"] and result["answer"].startswith("HTTP 200 ")
    assert clock.now - 100 == pytest.approx(10) and clock.sleeps == [3, 3, 3, 1]
    router = Router([entry(healthy=False)], heal_after=1000)
    result = set_worker(router, state="present", timeout=5)
    assert result["failure"] == "timeout" and "does not list as healthy" in result["msg"]
    assert result["worker"]["is_healthy"] is False


def test_listing_errors_while_waiting_are_retried():
    router = Router([entry()], lag=0)
    original = router.send
    calls = {"n": 0}

    def flaky(method, url, headers, body):
        if method == "GET":
            calls["n"] += 1
            if calls["n"] == 2:
                return api.Response(None, b"", "timed out")
        return original(method, url, headers, body)
    result = api.set_router_worker(flaky, ROUTER, URL, state="absent", api_key=KEY, clock=Clock(), sleep=lambda s: None)
    assert not result.get("failed") and result["changed"]


def test_secret_fields_of_a_listed_worker_are_left_out():
    router = Router([entry(api_key=KEY, labels={"token": "t0k"}, bootstrap_port=8998)])
    result = set_worker(router, state="present")
    assert "api_key" not in result["worker"] and result["worker"]["labels"] == {}
    assert result["worker"]["bootstrap_port"] == 8998 and KEY not in result["answer"]


@pytest.mark.parametrize("body", [
    {"workers": "nope"}, {"workers": [1]}, ["not", "a", "listing"], None,
])
def test_a_listing_of_another_shape_is_no_listing(body):
    assert api.parse_workers(answer(200, body)) is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        api.set_router_worker(Router().send, ROUTER, URL, state="gone")
    with pytest.raises(ValueError):
        api.set_router_worker(Router().send, ROUTER, URL, worker_type="both")


def test_describe_cuts_long_answers():
    text = api.describe(answer(200, {"x": "y" * 2000}))
    assert len(text) == len("HTTP 200 ") + 600 and text.endswith("...")


def test_describe_masks_secrets_only():
    text = api.describe(answer(400, {"api_key": "unknown-value", "token": "t0k", "note": "uses " + KEY, "token_usage": 0.5,
                                     "num_used_tokens": 3, "tokenizer_path": "p", "api_key_set": None}), [KEY])
    assert text == ('HTTP 400 {"api_key": "********", "token": "********", "note": "uses ********", "token_usage": 0.5, '
                    '"num_used_tokens": 3, "tokenizer_path": "p", "api_key_set": null}')
    assert api.describe(answer(500, raw=b"server_args=ServerArgs(api_key='s3cret', port=1)")) == (
        "HTTP 500 server_args=ServerArgs(api_key='********', port=1)")


# --- load parsers -----------------------------------------------------------------------------------

# SGLang 0.5.23 (entrypoints/v1_loads.py, managers/load_snapshot.py): the core keys of each DP rank, then its sections.
V1_LOADS_0_5_23 = {
    "timestamp": "2026-12-06T10:00:00+00:00", "version": "0.5.23", "accelerator": "NVIDIA H100 80GB HBM3",
    "num_accelerators": 8,
    "loads": [
        {"timestamp": 1.0, "dp_rank": 0, "num_running_reqs": 3, "num_waiting_reqs": 2, "num_waiting_uncached_tokens": 0,
         "num_used_tokens": 100, "num_total_tokens": 120, "num_active_tokens": 120, "num_prealloc_ready_tokens": 0,
         "max_total_num_tokens": 100000, "max_running_requests": 256, "token_usage": 0.001, "gen_throughput": 10.0,
         "cache_hit_rate": 0.0, "utilization": 0.01, "total_prefill_uncached_tokens": 0, "total_prefill_busy_us": 0,
         "disaggregation": {"mode": "prefill", "prefill_bootstrap_queue_reqs": 1, "prefill_inflight_queue_reqs": 4,
                            "decode_prealloc_queue_reqs": 0, "decode_transfer_queue_reqs": 0,
                            "decode_retracted_queue_reqs": 0, "kv_transfer_speed_gb_s": 0.0, "kv_transfer_latency_ms": 0.0}},
        {"timestamp": 1.0, "dp_rank": 1, "num_running_reqs": 1, "num_waiting_reqs": 0},
    ],
}
# SGLang 0.5.8: dataclasses.asdict of GetLoadsReqOutput without None fields, plus num_total_reqs; an aggregate.
V1_LOADS_0_5_8 = {
    "timestamp": "2026-01-10T10:00:00+00:00", "version": "0.5.8", "dp_rank_count": 1,
    "loads": [{"dp_rank": 0, "num_running_reqs": 0, "num_waiting_reqs": 0, "num_used_tokens": 0,
               "max_total_num_tokens": 100000, "token_usage": 0.0, "gen_throughput": 0.0, "cache_hit_rate": 0.0,
               "utilization": 0.0, "max_running_requests": 256, "num_total_reqs": 0}],
    "aggregate": {"total_running_reqs": 0, "total_waiting_reqs": 0, "total_reqs": 0, "avg_token_usage": 0.0,
                  "avg_throughput": 0.0, "avg_utilization": 0.0},
}
# SGLang 0.5.8's /get_load: GetLoadReqOutput per DP rank (0.5.6.post2: the same without ts_tic).
GET_LOAD_0_5_8 = [
    {"rid": None, "http_worker_ipc": None, "dp_rank": 0, "num_reqs": 5, "num_waiting_reqs": 2, "num_tokens": 900, "ts_tic": 1.5},
    {"rid": None, "http_worker_ipc": None, "dp_rank": 1, "num_reqs": 1, "num_waiting_reqs": 0, "num_tokens": 10, "ts_tic": 1.5},
]
METRICS = """# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{engine_type="unified",model_name="m",tp_rank="0",pp_rank="0",dp_rank="0"} 2.0
sglang:num_running_reqs{engine_type="unified",model_name="m",tp_rank="0",pp_rank="0",dp_rank="1"} 1.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="a \\"quoted} name"} 3.0 1733480000000
sglang:num_prefill_inflight_queue_reqs{model_name="m"} 1.0
sglang:num_running_reqs_total{model_name="m"} 99.0
sglang:generation_tokens_total{model_name="m"} 1234.0
"""


def test_v1_loads_sums_running_waiting_and_kv_transfers_over_dp_ranks():
    load = api.parse_v1_loads(V1_LOADS_0_5_23)
    assert load.as_dict() == dict(in_flight=10, running=4, waiting=2, transferring=4, ranks=2)
    assert api.parse_v1_loads(V1_LOADS_0_5_8).as_dict() == dict(in_flight=0, running=0, waiting=0, transferring=0, ranks=1)


def test_get_load_counts_num_reqs():
    assert api.parse_get_load(GET_LOAD_0_5_8).as_dict() == dict(in_flight=6, running=4, waiting=2, transferring=0, ranks=2)


def test_metrics_sums_the_request_gauges_only():
    assert api.parse_metrics(METRICS).as_dict() == dict(in_flight=7, running=3, waiting=3, transferring=1, ranks=0)
    assert api.parse_metrics("sglang:num_running_reqs 0\nsglang:num_queue_reqs{a=\"b\"} 0.0\n").in_flight == 0


@pytest.mark.parametrize("parse, data", [
    (api.parse_v1_loads, {"loads": []}),
    (api.parse_v1_loads, {"loads": [{"num_waiting_reqs": 1}]}),
    (api.parse_v1_loads, {"loads": [{"num_running_reqs": True}]}),
    (api.parse_v1_loads, {"loads": [{"num_running_reqs": -1}]}),
    (api.parse_v1_loads, {"loads": ["x"]}),
    (api.parse_v1_loads, [{"num_reqs": 0}]),
    (api.parse_get_load, []),
    (api.parse_get_load, [{"num_running_reqs": 0}]),
    (api.parse_get_load, {"loads": []}),
    (api.parse_get_load, [1]),
    (api.parse_get_load, None),
])
def test_answers_of_another_shape_are_no_load(parse, data):
    assert parse(data) is None


@pytest.mark.parametrize("text", [
    "", "# TYPE sglang:num_running_reqs gauge\n", "sglang:num_requests_total 3\n", "sglang:num_running_reqs NaN\n",
    "sglang:num_running_reqs -1\n", "<html>not metrics</html>",
])
def test_metrics_without_a_request_gauge_are_no_load(text):
    assert api.parse_metrics(text) is None


# --- waiting for a worker's requests ---------------------------------------------------------------


class Worker(object):
    """A worker serving some load endpoints; ``counts`` is consumed one per reading (the last one stays)."""

    def __init__(self, serves, counts=(0,), key=None):
        self.serves, self.counts, self.key = dict(serves), list(counts), key
        self.requests = []
        self.fail_after = None

    def send(self, method, url, headers, body):
        self.requests.append((method, url, dict(headers)))
        path = url.split("30000/", 1)[1]
        if self.key and path != "metrics" and headers.get("Authorization") != "Bearer " + self.key:
            return answer(401, {"error": "Unauthorized"})
        if path not in self.serves:
            return answer(404, {"detail": "Not Found"})
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            return api.Response(None, b"", "URLError: [Errno 111] Connection refused")
        count = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return self.serves[path](count)


def v1_loads(count):
    return answer(200, {"version": "0.5.23", "loads": [{"dp_rank": 0, "num_running_reqs": count, "num_waiting_reqs": 0}]})


def get_load(count):
    return answer(200, [{"rid": None, "http_worker_ipc": None, "dp_rank": 0, "num_reqs": count, "num_waiting_reqs": 0, "num_tokens": 0}])


def metrics(count):
    return answer(200, raw=("sglang:num_running_reqs{model_name=\"m\"} %d.0\nsglang:num_queue_reqs{model_name=\"m\"} 0.0\n" % count).encode())


def wait(worker, clock=None, **kwargs):
    clock = clock or Clock()
    kwargs.setdefault("interval", 2)
    return api.wait_idle(worker.send, "http://127.0.0.1:30000", clock=clock, sleep=clock.sleep, **kwargs)


@pytest.mark.parametrize("serves, source", [
    ({"v1/loads": v1_loads, "get_load": get_load, "metrics": metrics}, "/v1/loads"),  # 0.5.8 to 0.5.20 with metrics
    ({"v1/loads": v1_loads}, "/v1/loads"),  # 0.5.21 and newer
    ({"get_load": get_load}, "/get_load"),  # before 0.5.8
    ({"metrics": metrics}, "/metrics"),  # a release with neither, --enable-metrics
])
def test_each_release_drains_through_its_first_source(serves, source):
    worker = Worker(serves, counts=(3, 2, 0), key=KEY)
    result = wait(worker, api_key=KEY)
    assert result["idle"] and result["outcome"] == "idle" and result["source"] == source
    assert result["url"] == "http://127.0.0.1:30000" + source and result["in_flight"] == 0
    assert list(result["probes"])[-1] == source and result["probes"][source] == "HTTP 200 (a load)"
    assert [url.rsplit("/", 1)[-1] for _m, url, _h in worker.requests].count(source.rsplit("/", 1)[-1]) == 3
    assert all(h == {"Authorization": "Bearer " + KEY} for _m, _u, h in worker.requests)


def test_no_source_says_what_each_answered():
    result = wait(Worker({}), api_key=KEY)
    assert not result["idle"] and result["outcome"] == "no_source" and result["source"] is None
    assert result["probes"] == {"/v1/loads": 'HTTP 404 {"detail": "Not Found"}', "/get_load": 'HTTP 404 {"detail": "Not Found"}',
                                "/metrics": 'HTTP 404 {"detail": "Not Found"}'}
    assert "reports no load: /v1/loads: HTTP 404" in result["msg"]


def test_a_200_that_is_not_a_load_is_not_a_source():
    worker = Worker({"v1/loads": lambda c: answer(200, raw=b"<html>a proxy</html>"), "get_load": get_load})
    result = wait(worker)
    assert result["source"] == "/get_load" and result["probes"]["/v1/loads"] == "HTTP 200, not a load: <html>a proxy</html>"


def test_a_wrong_key_reports_no_load_with_the_401s():
    result = wait(Worker({"v1/loads": v1_loads, "get_load": get_load}, key=KEY), api_key="wrong", sources=["v1/loads", "get_load"])
    assert result["outcome"] == "no_source" and result["probes"]["/v1/loads"].startswith("HTTP 401")
    assert "wrong" not in json.dumps(result)


def test_still_busy_after_the_timeout():
    clock = Clock()
    result = wait(Worker({"v1/loads": v1_loads}, counts=(4,)), clock=clock, timeout=7, interval=2)
    assert not result["idle"] and result["outcome"] == "busy" and result["in_flight"] == 4
    assert "4 request(s) still in flight after 7 s" in result["msg"] and clock.sleeps == [2, 2, 2, 1]


def test_timeout_zero_reads_once():
    worker = Worker({"v1/loads": v1_loads}, counts=(2, 0))
    result = wait(worker, timeout=0)
    assert result["outcome"] == "busy" and len(worker.requests) == 1


def test_a_source_that_stops_answering_is_lost():
    worker = Worker({"v1/loads": v1_loads}, counts=(2,))
    worker.fail_after = 2
    result = wait(worker, timeout=10)
    assert result["outcome"] == "lost" and result["in_flight"] == 2
    assert "stopped answering a load: HTTP none (URLError: [Errno 111] Connection refused)" in result["msg"]


def test_a_source_that_answers_again_drains():
    worker = Worker({"get_load": get_load}, counts=(2, 1, 0))
    state = {"n": 0}
    original = worker.send

    def flaky(method, url, headers, body):
        state["n"] += 1
        if state["n"] == 4:  # after the probes of v1/loads and get_load, one reading fails
            return answer(503, raw=b"")
        return original(method, url, headers, body)
    clock = Clock()
    result = api.wait_idle(flaky, "http://127.0.0.1:30000", timeout=60, interval=1, clock=clock, sleep=clock.sleep)
    assert result["outcome"] == "idle" and result["source"] == "/get_load"


def test_bad_sources():
    with pytest.raises(ValueError):
        api.wait_idle(Worker({}).send, "http://x:30000", sources=["loads"])
    with pytest.raises(ValueError):
        api.wait_idle(Worker({}).send, "http://x:30000", sources=[])
