# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The routers' worker API as the rolling restart uses it (roles/sglang_service/tasks/drain.yml, register.yml).

Run with the upstream venv (``make upstream``)::

    .cache/upstream-venv/bin/python -m pytest -q -p no:cacheprovider tests/upstream/test_router_worker_api.py

The real smg 1.13.0 and sglang-router 0.3.2, started as the plan starts them (the key launcher, the
API key in the environment), in front of engine simulators, as in test_simulator.py. Both serve the
same worker API, and the role relies on each of these facts:

- ``GET /workers`` lists every worker with its ``id``, ``url``, ``worker_type``, ``is_healthy`` and,
  for a prefill, its ``bootstrap_port``; ``DELETE /workers/<id>`` and ``POST /workers`` answer 202 and
  act in the background; the legacy ``/remove_worker?url=`` and ``DELETE /workers/<url>`` are gone (404);
- these admin routes require the router's API key (401 without it);
- a removed worker gets no new request, and the requests it already has complete;
- a worker added through the API does not inherit the router's key: smg registers it only with
  ``api_key`` in the body (its discovery asks the worker's /server_info, which answers 401 without);
- a prefill added back with ``worker_type: prefill`` and its ``bootstrap_port`` serves PD requests again
  (the decode pulls KV from that port); a decode added back with ``worker_type: decode`` too.

The last tests drive both routers with the rolling restart's own code (plugins/module_utils/_worker_api.py,
what the router_worker and worker_load modules run): out of the router (check mode first), the drain until
the worker's /v1/loads counts no request, back in, each step reporting ``changed`` only when it changed
something.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

# The helpers that start simulators and routers as the plan does (importing the module also skips these
# tests where SGLang is not importable).
import test_simulator as upstream
from test_simulator import KEY, ROUTERS, _chat, _counters, _router, _worker

from ansible_collections.gpufleet.sglang.plugins.module_utils import _worker_api as api

harness = upstream.harness
fleet = upstream.fleet  # the fixture

AUTH = {"Authorization": "Bearer " + KEY}


def _workers(router_url):
    return harness.get_json(router_url + "/workers", AUTH)["workers"]


def _listed(router_url, url):
    return [worker for worker in _workers(router_url) if worker["url"] == url]


def _wait_listing(router_url, url, present, timeout=30):
    """Wait until the router lists ``url`` as a healthy worker (present) or not at all (not present)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        listed = _listed(router_url, url)
        if (listed and listed[0]["is_healthy"]) if present else not listed:
            return listed
        time.sleep(0.2)
    raise AssertionError("%s: %s still %s after %ss: %s" % (router_url, url, "missing" if present else "listed", timeout, _workers(router_url)))


def _remove(router_url, url):
    (worker,) = _listed(router_url, url)
    status, _headers, raw = harness.http("DELETE", router_url + "/workers/" + worker["id"], headers=AUTH)
    assert status == 202, raw
    _wait_listing(router_url, url, present=False)


def _add(router_url, body):
    status, answer = harness.post_json(router_url + "/workers", body, AUTH)
    assert status == 202, answer
    return _wait_listing(router_url, body["url"], present=True)[0]


def _served(url):
    return _counters(url)["requests_served"]


def _chats(router_url, count):
    for index in range(count):
        status, _headers, raw = _chat(router_url, "request %d" % index)
        assert status == 200, raw


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_admin_routes_need_the_key_and_take_worker_ids_only(fleet, router):
    workers = [_worker(fleet, "worker-%d" % i) for i in range(2)]
    url = _router(fleet, router, "--worker-urls", *workers)
    assert harness.http("GET", url + "/workers")[0] == 401
    (listed,) = _listed(url, workers[0])
    assert listed["worker_type"] == "regular" and listed["is_healthy"]
    assert harness.http("DELETE", url + "/workers/" + listed["id"])[0] == 401
    assert harness.http("POST", url + "/workers", {"url": workers[0]})[0] == 401
    # Only the id names a worker: the URL forms of older routers are gone.
    assert harness.http("DELETE", url + "/workers/" + workers[0], headers=AUTH)[0] == 404
    assert harness.http("POST", url + "/remove_worker?url=" + workers[0], headers=AUTH)[0] == 404
    assert len(_listed(url, workers[0])) == 1


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_regular_worker_removed_then_added_back(fleet, router):
    workers = [_worker(fleet, "worker-%d" % i) for i in range(2)]
    url = _router(fleet, router, "--worker-urls", *workers, "--policy", "round_robin")

    # A long request on the worker, then its removal: the request completes, new ones go elsewhere.
    before = [_served(w) for w in workers]
    long_request = {}
    thread = threading.Thread(target=lambda: long_request.update(zip(("status", "headers", "raw"), _chat(url, "long", max_tokens=1500))))
    thread.start()
    deadline = time.time() + 10
    while not sum(_counters(w)["running_requests"] for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    busy = next(w for w in workers if _counters(w)["running_requests"])
    idle = next(w for w in workers if w != busy)
    _remove(url, busy)
    _chats(url, 4)
    thread.join(30)
    assert long_request["status"] == 200, long_request
    assert json.loads(long_request["raw"])["usage"]["completion_tokens"] == 1500
    assert _counters(busy)["running_requests"] == 0
    assert _served(busy) == before[workers.index(busy)] + 1, "the removed worker got a new request"
    assert _served(idle) == before[workers.index(idle)] + 4

    # Added back with the router's key, as the role adds it: both workers serve again.
    listed = _add(url, {"url": busy, "api_key": KEY})
    assert listed["worker_type"] == "regular" and "api_key" not in listed
    before = [_served(w) for w in workers]
    _chats(url, 4)
    after = [_served(w) for w in workers]
    assert all(a > b for a, b in zip(after, before)), "round_robin skipped the added worker: %s -> %s" % (before, after)


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_pd_prefill_and_decode_removed_then_added_back(fleet, router):
    bootstraps = [harness.free_port(), harness.free_port()]
    prefills = [_worker(fleet, "prefill-%d" % i, "--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", str(port))
                for i, port in enumerate(bootstraps)]
    decodes = [_worker(fleet, "decode-%d" % i, "--disaggregation-mode", "decode") for i in range(2)]
    args = ["--pd-disaggregation"]
    for prefill, port in zip(prefills, bootstraps):
        args += ["--prefill", prefill, str(port)]
    for decode in decodes:
        args += ["--decode", decode]
    url = _router(fleet, router, *args, "--policy", "round_robin")
    (listed,) = _listed(url, prefills[0])
    assert (listed["worker_type"], listed["bootstrap_port"]) == ("prefill", bootstraps[0])

    def pulled_from(port):
        return sum(_counters(d)["kv_pulled_from"].get("127.0.0.1:%d" % port, 0) for d in decodes)

    # Without prefill-0, every request takes its KV from prefill-1.
    _remove(url, prefills[0])
    before = pulled_from(bootstraps[0])
    _chats(url, 4)
    assert pulled_from(bootstraps[0]) == before

    # Added back as a prefill with its bootstrap port: the decodes pull from it again.
    listed = _add(url, {"url": prefills[0], "worker_type": "prefill", "bootstrap_port": bootstraps[0], "api_key": KEY})
    assert (listed["worker_type"], listed["bootstrap_port"]) == ("prefill", bootstraps[0])
    _chats(url, 4)
    assert pulled_from(bootstraps[0]) > before

    # The same for a decode.
    _remove(url, decodes[0])
    before = _served(decodes[0])
    _chats(url, 4)
    assert _served(decodes[0]) == before
    listed = _add(url, {"url": decodes[0], "worker_type": "decode", "api_key": KEY})
    assert listed["worker_type"] == "decode"
    _chats(url, 4)
    assert _served(decodes[0]) > before


def test_smg_adds_a_worker_only_with_the_key(fleet):
    workers = [_worker(fleet, "worker-%d" % i) for i in range(2)]
    url = _router(fleet, "smg", "--worker-urls", *workers)
    _remove(url, workers[0])
    status, answer = harness.post_json(url + "/workers", {"url": workers[0]}, AUTH)
    assert status == 202, answer
    job = url + "/workers/" + answer["worker_id"]
    deadline = time.time() + 30
    while harness.http("GET", job, headers=AUTH)[0] == 200 and time.time() < deadline:
        time.sleep(0.5)
    assert harness.http("GET", job, headers=AUTH)[0] == 404, "the keyless registration did not fail"
    assert not _listed(url, workers[0])
    _add(url, {"url": workers[0], "api_key": KEY})


def _send(method, url, headers, body):
    """_worker_api's send over the harness's urllib (the modules use Ansible's open_url)."""
    status, _headers, raw = harness.http(method, url, body, headers)
    return api.Response(status, raw)


def _set(router_url, worker_url, state, **kwargs):
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("interval", 0.2)
    result = api.set_router_worker(_send, router_url, worker_url, state=state, api_key=KEY, **kwargs)
    assert not result.get("failed"), result
    assert KEY not in json.dumps(result)
    return result


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_the_rolling_restart_code_drains_and_restores_a_worker(fleet, router):
    workers = [_worker(fleet, "worker-%d" % i) for i in range(2)]
    url = _router(fleet, router, "--worker-urls", *workers, "--policy", "round_robin")
    long_request = {}
    thread = threading.Thread(target=lambda: long_request.update(zip(("status", "headers", "raw"), _chat(url, "long", max_tokens=1500))))
    thread.start()
    deadline = time.time() + 10
    while not sum(_counters(w)["running_requests"] for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    busy = next(w for w in workers if _counters(w)["running_requests"])

    assert _set(url, busy, "absent", check_mode=True)["changed"] and len(_listed(url, busy)) == 1
    removed = _set(url, busy, "absent")
    assert removed["changed"] and removed["worker"] is None and not _listed(url, busy)
    drained = api.wait_idle(_send, busy, api_key=KEY, timeout=60, interval=0.2)
    assert (drained["outcome"], drained["source"], drained["in_flight"]) == ("idle", "/v1/loads", 0), drained
    thread.join(5)
    assert long_request["status"] == 200 and json.loads(long_request["raw"])["usage"]["completion_tokens"] == 1500
    assert not _set(url, busy, "absent")["changed"]

    assert _set(url, busy, "present", check_mode=True)["changed"] and not _listed(url, busy)
    added = _set(url, busy, "present")
    assert added["changed"] and added["worker"]["is_healthy"] is True and "api_key" not in added["worker"]
    assert not _set(url, busy, "present")["changed"]
    before = [_served(w) for w in workers]
    _chats(url, 4)
    assert all(a > b for a, b in zip([_served(w) for w in workers], before))


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_the_rolling_restart_code_restores_a_prefill_with_its_bootstrap_port(fleet, router):
    bootstraps = [harness.free_port(), harness.free_port()]
    prefills = [_worker(fleet, "prefill-%d" % i, "--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", str(port))
                for i, port in enumerate(bootstraps)]
    decode = _worker(fleet, "decode-0", "--disaggregation-mode", "decode")
    args = ["--pd-disaggregation"]
    for prefill, port in zip(prefills, bootstraps):
        args += ["--prefill", prefill, str(port)]
    url = _router(fleet, router, *(args + ["--decode", decode, "--policy", "round_robin"]))

    assert _set(url, prefills[0], "absent")["changed"]
    assert api.wait_idle(_send, prefills[0], api_key=KEY, timeout=30, interval=0.2)["outcome"] == "idle"
    added = _set(url, prefills[0], "present", worker_type="prefill", bootstrap_port=bootstraps[0])
    assert (added["worker"]["worker_type"], added["worker"]["bootstrap_port"]) == ("prefill", bootstraps[0])
    before = _counters(decode)["kv_pulled_from"].get("127.0.0.1:%d" % bootstraps[0], 0)
    _chats(url, 4)
    assert _counters(decode)["kv_pulled_from"].get("127.0.0.1:%d" % bootstraps[0], 0) > before
