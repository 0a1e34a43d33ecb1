# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP APIs of a rolling restart: a router's worker API, and a worker's count of requests in flight.

Pure Python 3.8+ without Ansible imports, for the ``router_worker`` and ``worker_load`` modules. No
function here opens a connection: each takes ``send(method, url, headers, body)``, which returns a
``Response`` (the modules give it Ansible's ``open_url``, the tests a fake), and the clock and sleep to
wait with.

Router (smg 1.13 and sglang-router 0.3.2 serve the same API; tests/upstream/test_router_worker_api.py):
``GET /workers`` lists every worker with its ``id``, ``url``, ``worker_type`` and ``is_healthy``;
``DELETE /workers/<id>`` and ``POST /workers`` answer 202 and act in the background, so the listing is
then polled until it shows the result. Every call needs the router's API key, and a worker added
through the API does not inherit it: the key the router must use toward the worker goes in the body.

Worker load, from the first source the worker serves (SGLang's HTTP server, per release):

- ``/v1/loads`` (0.5.8 and newer; what smg balances on): ``{"loads": [{"num_running_reqs",
  "num_waiting_reqs", ..., "disaggregation": {"prefill_inflight_queue_reqs", ...}}]}``, one entry per
  DP rank. ``num_waiting_reqs`` counts the waiting queue and the PD bootstrap, prealloc, transfer and
  retracted queues; a prefill's KV transfers under way (its inflight queue) are counted too;
- ``/get_load`` (up to 0.5.20; gone in 0.5.21): ``[{"dp_rank", "num_reqs", "num_waiting_reqs",
  "num_tokens", ...}]``, where ``num_reqs`` is running plus waiting;
- ``/metrics`` (Prometheus text, only with ``--enable-metrics``): the gauges
  ``sglang:num_running_reqs`` and ``sglang:num_queue_reqs``, and the PD queue gauges, summed over
  their series.
"""
from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ansible_collections.gpufleet.sglang.plugins.module_utils._redact import MASK, redact

ANSWER_LIMIT = 600
WORKER_TYPES = ("regular", "prefill", "decode")
LOAD_SOURCES = ("v1/loads", "get_load", "metrics")
# Prometheus gauges of requests a restart would lose: (name, what they count).
METRIC_GAUGES = {
    "sglang:num_running_reqs": "running",
    "sglang:num_queue_reqs": "waiting",
    "sglang:num_prefill_bootstrap_queue_reqs": "waiting",  # 0.5.23
    "sglang:num_prefill_prealloc_queue_reqs": "waiting",  # its name up to 0.5.8
    "sglang:num_decode_prealloc_queue_reqs": "waiting",
    "sglang:num_decode_transfer_queue_reqs": "waiting",
    "sglang:num_prefill_inflight_queue_reqs": "transferring",
}
_SAMPLE = re.compile(
    r'^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?[ \t]+(?P<value>\S+)(?:[ \t]+-?[0-9]+)?[ \t]*$')
_SECRET_KEY = re.compile(r"api[_-]?key|secret|passw(?:or)?d|(?:^|[_-])token$", re.IGNORECASE)


class Response(object):
    """One HTTP exchange: ``status`` is None when no answer came (``reason`` says why)."""

    def __init__(self, status: Optional[int], body: bytes = b"", reason: str = ""):
        self.status = status
        self.body = body or b""
        self.reason = reason

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


Send = Callable[[str, str, Dict[str, str], Optional[Any]], Response]


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def auth_headers(api_key: Optional[str]) -> Dict[str, str]:
    return {"Authorization": "Bearer " + api_key} if api_key else {}


def describe(response: Response, secrets: Sequence[Optional[str]] = (), limit: int = ANSWER_LIMIT) -> str:
    """``HTTP 401 {"error": "Unauthorized"}``, or ``HTTP none (why)``: what was answered, cut at LIMIT, with the
    known SECRETS masked, and in a JSON answer the value of every secret-named field (in a text answer, every
    secret-named field's value: _redact.py)."""
    known = [s for s in secrets if s]
    if response.status is None:
        return "HTTP none (%s)" % redact(response.reason or "no answer", known)
    data = response.json()
    if data is not None:
        text = json.dumps(masked(data))
        for secret in sorted(set(known), key=len, reverse=True):
            text = text.replace(secret, MASK)
    else:
        text = redact(" ".join(response.text().split()), known)
    if len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return ("HTTP %d %s" % (response.status, text)).rstrip()


def _secret_name(key: Any) -> bool:
    return bool(_SECRET_KEY.search(str(key)))


def masked(value: Any) -> Any:
    """VALUE with the value of every secret-named field of every mapping in it masked."""
    if isinstance(value, Mapping):
        return {k: (MASK if _secret_name(k) and v not in (None, "") else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def without_secrets(value: Any) -> Any:
    """VALUE with every secret-named field of every mapping in it left out."""
    if isinstance(value, Mapping):
        return {k: without_secrets(v) for k, v in value.items() if not _secret_name(k)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def _same_url(left: Any, right: str) -> bool:
    return isinstance(left, str) and left.rstrip("/") == right.rstrip("/")


# --- the router's worker API ---------------------------------------------------------------------


def parse_workers(response: Response) -> Optional[List[dict]]:
    """The router's workers from a ``GET /workers`` answer, or None when it is no such listing."""
    if response.status != 200:
        return None
    data = response.json()
    workers = data.get("workers") if isinstance(data, dict) else None
    if not isinstance(workers, list) or not all(isinstance(w, dict) for w in workers):
        return None
    return workers


def listed(workers: Sequence[dict], worker_url: str) -> List[dict]:
    return [w for w in workers if _same_url(w.get("url"), worker_url)]


def placed(workers: Sequence[dict], worker_url: str, state: str) -> bool:
    """Whether the router shows STATE: present, listed as healthy; absent, not listed at all."""
    entries = listed(workers, worker_url)
    if state == "absent":
        return not entries
    return any(w.get("is_healthy") is True for w in entries)


def worker_body(worker_url: str, worker_type: str = "regular", bootstrap_port: Optional[int] = None,
                api_key: Optional[str] = None) -> dict:
    """The ``POST /workers`` body: the worker as the router's command line names it, and the key toward it."""
    body = {"url": worker_url, "worker_type": worker_type}
    if worker_type == "prefill" and bootstrap_port is not None:
        body["bootstrap_port"] = bootstrap_port
    if api_key:
        body["api_key"] = api_key
    return body


def _router_failure(result: dict, failure: str, msg: str) -> dict:
    result.update(failed=True, failure=failure, msg=msg)
    return result


def set_router_worker(send: Send, router_url: str, worker_url: str, state: str = "present",
                      worker_type: str = "regular", bootstrap_port: Optional[int] = None,
                      api_key: Optional[str] = None, worker_api_key: Optional[str] = None,
                      wait: bool = True, timeout: float = 300, interval: float = 5, check_mode: bool = False,
                      clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], None]] = None) -> dict:
    """Make the router at ROUTER_URL list WORKER_URL as a healthy worker (present) or not at all (absent).

    Returns the module's result: ``changed``, ``worker`` (the router's entry once present, secrets left
    out), ``worker_ids`` (the ids the router listed the worker under before the change: those removed
    when absent), ``status`` and ``answer`` (the last answer), ``elapsed``, and on failure ``failed``,
    ``msg`` and ``failure``: ``list`` (the router did not list its workers), ``refused`` (it refused the
    removal or the addition) or ``timeout`` (it did not show the change within TIMEOUT seconds).
    In check mode only the listing is read: ``changed`` says whether a change was due.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    if state not in ("present", "absent"):
        raise ValueError("state must be present or absent, not %r" % (state,))
    if worker_type not in WORKER_TYPES:
        raise ValueError("worker_type must be one of %s, not %r" % (", ".join(WORKER_TYPES), worker_type))
    secrets = (api_key, worker_api_key)
    headers = auth_headers(api_key)
    workers_url = join(router_url, "workers")
    start = clock()
    result: Dict[str, Any] = dict(changed=False, worker=None, worker_ids=[], status=None, answer="", elapsed=0.0)

    def read() -> Optional[List[dict]]:
        response = send("GET", workers_url, headers, None)
        result.update(status=response.status, answer=describe(response, secrets), elapsed=round(clock() - start, 1))
        return parse_workers(response)

    def finish(workers: Sequence[dict]) -> dict:
        entries = listed(workers, worker_url)
        healthy = [e for e in entries if e.get("is_healthy") is True]
        result["worker"] = without_secrets((healthy or entries or [None])[0])
        return result

    workers = read()
    if workers is None:
        return _router_failure(result, "list", "the router did not list its workers (GET %s): %s" % (workers_url, result["answer"]))
    entries = listed(workers, worker_url)
    result["worker_ids"] = [e.get("id") for e in entries]
    if state == "absent" and entries:
        result["changed"] = True
        for entry in entries if not check_mode else ():
            target = join(workers_url, urllib.parse.quote(str(entry.get("id")), safe=""))
            response = send("DELETE", target, headers, None)
            result.update(status=response.status, answer=describe(response, secrets))
            if not response.ok:
                return _router_failure(result, "refused", "the router refused to remove worker %s (DELETE %s): %s"
                                       % (worker_url, target, result["answer"]))
    elif state == "present" and not entries:
        result["changed"] = True
        if not check_mode:
            body = worker_body(worker_url, worker_type, bootstrap_port, worker_api_key if worker_api_key is not None else api_key)
            response = send("POST", workers_url, headers, body)
            result.update(status=response.status, answer=describe(response, secrets))
            if not response.ok:
                return _router_failure(result, "refused", "the router refused to add worker %s (POST %s): %s"
                                       % (worker_url, workers_url, result["answer"]))
    if check_mode or not wait:
        return finish(workers)
    # The changes act in the background: poll the listing until it shows them.
    if not result["changed"] and placed(workers, worker_url, state):
        return finish(workers)
    while True:
        if clock() - start >= timeout:
            break
        sleep(min(interval, max(0.0, timeout - (clock() - start))))
        current = read()
        if current is not None:
            workers = current
            if placed(workers, worker_url, state):
                return finish(workers)
    finish(workers)
    what = "still lists" if state == "absent" else "does not list as healthy"
    return _router_failure(result, "timeout", "the router %s worker %s after %s s; its last answer: %s"
                           % (what, worker_url, _seconds(timeout), result["answer"]))


def _seconds(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


# --- a worker's load ----------------------------------------------------------------------------


class Load(object):
    """Requests a worker holds: running, waiting (all queues before running) and KV transfers under way."""

    def __init__(self, running: int = 0, waiting: int = 0, transferring: int = 0, ranks: int = 1):
        self.running = running
        self.waiting = waiting
        self.transferring = transferring
        self.ranks = ranks

    @property
    def in_flight(self) -> int:
        return self.running + self.waiting + self.transferring

    def as_dict(self) -> dict:
        return dict(in_flight=self.in_flight, running=self.running, waiting=self.waiting,
                    transferring=self.transferring, ranks=self.ranks)


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_v1_loads(data: Any) -> Optional[Load]:
    """SGLang's ``/v1/loads`` (0.5.8 and newer): the sum over its DP ranks, or None when it is no such answer."""
    loads = data.get("loads") if isinstance(data, dict) else None
    if not isinstance(loads, list) or not loads:
        return None
    total = Load(ranks=len(loads))
    for rank in loads:
        if not isinstance(rank, dict):
            return None
        running, waiting = _count(rank.get("num_running_reqs")), _count(rank.get("num_waiting_reqs", 0))
        if running is None or waiting is None:
            return None
        disaggregation = rank.get("disaggregation")
        inflight = _count(disaggregation.get("prefill_inflight_queue_reqs", 0)) if isinstance(disaggregation, dict) else 0
        total.running += running
        total.waiting += waiting
        total.transferring += inflight or 0
    return total


def parse_get_load(data: Any) -> Optional[Load]:
    """SGLang's ``/get_load`` (up to 0.5.20): ``num_reqs`` (running plus waiting) summed over the DP ranks."""
    if not isinstance(data, list) or not data:
        return None
    total = Load(ranks=len(data))
    for rank in data:
        if not isinstance(rank, dict):
            return None
        requests, waiting = _count(rank.get("num_reqs")), _count(rank.get("num_waiting_reqs", 0))
        if requests is None or waiting is None:
            return None
        waiting = min(waiting, requests)
        total.running += requests - waiting
        total.waiting += waiting
    return total


def parse_metrics(text: str) -> Optional[Load]:
    """SGLang's Prometheus ``/metrics``: the request gauges summed over their series, or None when it has none."""
    sums = {"running": 0.0, "waiting": 0.0, "transferring": 0.0}
    series = 0
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match.group("name") not in METRIC_GAUGES:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        if not math.isfinite(value) or value < 0:
            continue
        sums[METRIC_GAUGES[match.group("name")]] += value
        series += 1
    if not series:
        return None
    return Load(running=int(round(sums["running"])), waiting=int(round(sums["waiting"])),
                transferring=int(round(sums["transferring"])), ranks=0)


def parse_load(source: str, response: Response) -> Optional[Load]:
    if response.status != 200:
        return None
    if source == "metrics":
        return parse_metrics(response.text())
    parse = parse_v1_loads if source == "v1/loads" else parse_get_load
    return parse(response.json())


def wait_idle(send: Send, worker_url: str, api_key: Optional[str] = None, sources: Sequence[str] = LOAD_SOURCES,
              timeout: float = 600, interval: float = 5, clock: Optional[Callable[[], float]] = None,
              sleep: Optional[Callable[[float], None]] = None) -> dict:
    """Find where the worker at WORKER_URL reports its load, then wait up to TIMEOUT seconds until it has
    no request in flight (TIMEOUT 0: read it once). Never fails: ``outcome`` says how it ended.

    ``outcome``: ``idle`` (none in flight), ``busy`` (still some after TIMEOUT), ``lost`` (the source
    stopped answering a load), ``no_source`` (no source answered one; ``probes`` says what each answered).
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    unknown = [s for s in sources if s not in LOAD_SOURCES]
    if unknown or not sources:
        raise ValueError("sources must be some of %s, not %r" % (", ".join(LOAD_SOURCES), list(sources)))
    headers = auth_headers(api_key)
    start = clock()
    result: Dict[str, Any] = dict(changed=False, idle=False, source=None, url=None, status=None, answer="",
                                  probes={}, in_flight=None, running=None, waiting=None, transferring=None,
                                  ranks=None, elapsed=0.0)

    def read(source: str) -> Optional[Load]:
        response = send("GET", join(worker_url, source), headers, None)
        result.update(status=response.status, answer=describe(response, (api_key,)), elapsed=round(clock() - start, 1))
        return parse_load(source, response)

    load = None
    for source in sources:
        load = read(source)
        result["probes"]["/" + source] = ("HTTP 200 (a load)" if load is not None
                                          else result["answer"] if result["status"] != 200
                                          else "HTTP 200, not a load: " + result["answer"][len("HTTP 200 "):])
        if load is not None:
            result.update(source="/" + source, url=join(worker_url, source))
            break
    if load is None:
        result.update(outcome="no_source", msg="%s reports no load: %s" % (worker_url, "; ".join(
            "%s: %s" % item for item in result["probes"].items())))
        return result
    source = result["source"].lstrip("/")
    while True:
        if load is not None:
            result.update(load.as_dict())
            if load.in_flight == 0:
                result.update(idle=True, outcome="idle", msg="%s: no request in flight" % result["url"])
                return result
        if clock() - start >= timeout:
            break
        sleep(min(interval, max(0.0, timeout - (clock() - start))))
        load = read(source)
    if load is None:
        result.update(outcome="lost", msg="%s stopped answering a load: %s" % (result["url"], result["answer"]))
    else:
        result.update(outcome="busy", msg="%s: %d request(s) still in flight after %s s"
                      % (result["url"], load.in_flight, _seconds(timeout)))
    return result
