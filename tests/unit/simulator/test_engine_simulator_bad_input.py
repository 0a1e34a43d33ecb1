# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Malformed input on every HTTP port of the simulator: always a 4xx with a JSON error, never a 500,
a traceback, a hung request or a thread left behind, and the next good request is served.

The worker API (what SGLang's FastAPI server refuses with 400: bodies that are not a JSON object,
fields of the wrong type, token limits out of range, n < 1), the transport (Content-Length missing,
negative, not a number, larger than what is sent, above the size bound; chunked bodies; a client
that stops sending), and the prefill's bootstrap port (``timeout`` that is not a finite non-negative
number, rooms that are not room ids, wrong methods).
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from simulator_harness import free_port, http, post_json, raw_exchange, read_response, thread_count

READ_TIMEOUT = "1"  # GPUFLEET_SIMULATOR_READ_TIMEOUT_S of these simulators
CONTEXT = 512  # --context-length of the worker
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def worker(module_fleet):
    port = free_port()
    proc = module_fleet.simulator(
        "--model-path", "m", "--host", "127.0.0.1", "--port", str(port), "--context-length", str(CONTEXT),
        env={"GPUFLEET_SIMULATOR_READ_TIMEOUT_S": READ_TIMEOUT}, name="bad-input-worker",
    )  # fmt: skip
    url = "http://127.0.0.1:%d" % port
    module_fleet.wait_http(url + "/health", proc)
    yield {"url": url, "port": port, "proc": proc}
    # Nothing of this module may have produced a traceback, in a response or in the journal.
    assert "Traceback" not in proc.output(), proc.output()


@pytest.fixture(scope="module")
def prefill(module_fleet):
    port, bootstrap = free_port(), free_port()
    proc = module_fleet.simulator(
        "--model-path", "m", "--host", "127.0.0.1", "--port", str(port), "--tp-size", "8",
        "--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", str(bootstrap),
        "--disaggregation-transfer-backend", "nixl",
        env={"GPUFLEET_SIMULATOR_READ_TIMEOUT_S": READ_TIMEOUT, "GPUFLEET_SIMULATOR_KV_TIMEOUT_S": "1"},
        name="bad-input-prefill",
    )  # fmt: skip
    url = "http://127.0.0.1:%d" % port
    module_fleet.wait_http(url + "/health", proc)
    yield {"url": url, "bootstrap": bootstrap, "bootstrap_url": "http://127.0.0.1:%d" % bootstrap, "proc": proc}
    assert "Traceback" not in proc.output(), proc.output()


def assert_served(url):
    """A good request right after a bad one is answered in full."""
    status, reply = post_json(url + CHAT, {"messages": MESSAGES, "max_tokens": 2}, timeout=10)
    assert status == 200, reply
    assert len(reply["choices"][0]["message"]["content"].split()) == 2


def assert_error(status, raw, expected_status, fragment=None):
    assert status == expected_status, (status, raw)
    assert b"Traceback" not in raw and b'File "' not in raw, raw
    error = json.loads(raw)
    assert error["object"] == "error" and error["code"] == expected_status, error
    assert isinstance(error["message"], str) and error["message"], error
    if fragment:
        assert fragment.lower() in error["message"].lower(), error["message"]
    return error


def send(url, path, body, method="POST", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _headers, raw = http(method, url + path, data, headers=headers, timeout=10)
    return status, raw


def wait_threads(proc, baseline, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if thread_count(proc) <= baseline:
            return True
        time.sleep(0.1)
    return False


# --- bodies that are not a JSON object ----------------------------------------------------------

NOT_AN_OBJECT = [
    pytest.param(b"{not json", "json", id="not-json"),
    pytest.param(b"", "body", id="empty"),
    pytest.param(b"\xff\xfe{}", "utf-8", id="not-utf8"),
    pytest.param(b"[1, 2]", "object", id="list"),
    pytest.param(b'"text"', "object", id="string"),
    pytest.param(b"3", "object", id="number"),
    pytest.param(b"null", "object", id="null"),
    pytest.param(b"[" * 200000 + b"]" * 200000, None, id="deeply-nested"),
    pytest.param(b'{"text": "x", "sampling_params": {"max_new_tokens": NaN}}', "NaN", id="NaN-literal"),
    pytest.param(b'{"prompt": "x", "max_tokens": Infinity}', "Infinity", id="Infinity-literal"),
]


@pytest.mark.parametrize("path", ["/generate", CHAT, COMPLETIONS])
@pytest.mark.parametrize("body, fragment", NOT_AN_OBJECT)
def test_a_body_that_is_not_a_json_object_is_400(worker, path, body, fragment):
    assert_error(*send(worker["url"], path, body), 400, fragment)
    assert_served(worker["url"])


# --- fields of the wrong type --------------------------------------------------------------------

WRONG_FIELDS = [
    # /generate (SGLang's GenerateReqInput and SamplingParams)
    ("/generate", {}, "text"),
    ("/generate", {"text": None}, "text"),
    ("/generate", {"text": 5}, "text"),
    ("/generate", {"text": {"a": 1}}, "text"),
    ("/generate", {"text": []}, "text"),
    ("/generate", {"text": ["a", 5]}, "text"),
    ("/generate", {"input_ids": "1 2 3"}, "input_ids"),
    ("/generate", {"input_ids": [1, "2"]}, "input_ids"),
    ("/generate", {"input_ids": [1, True]}, "input_ids"),
    ("/generate", {"input_ids": [-1]}, "input_ids"),
    ("/generate", {"input_ids": []}, "input_ids"),
    ("/generate", {"text": "x", "sampling_params": [1]}, "sampling_params"),
    ("/generate", {"text": "x", "sampling_params": "max_new_tokens=3"}, "sampling_params"),
    ("/generate", {"text": "x", "sampling_params": 3}, "sampling_params"),
    ("/generate", {"text": "x", "sampling_params": True}, "sampling_params"),
    ("/generate", {"text": ["a", "b"], "sampling_params": [{}, {}, {}]}, "sampling_params"),
    ("/generate", {"text": "x", "stream": "maybe"}, "stream"),
    ("/generate", {"text": "x", "rid": 5}, "rid"),
    ("/generate", {"text": "x", "bootstrap_room": "abc"}, "bootstrap_room"),
    ("/generate", {"text": "x", "bootstrap_port": "8998"}, "bootstrap_port"),
    ("/generate", {"text": "x", "bootstrap_host": 5}, "bootstrap_host"),
    # /v1/chat/completions (SGLang's ChatCompletionRequest)
    (CHAT, {}, "messages"),
    (CHAT, {"messages": None}, "messages"),
    (CHAT, {"messages": "hi"}, "messages"),
    (CHAT, {"messages": 3}, "messages"),
    (CHAT, {"messages": {"role": "user", "content": "x"}}, "messages"),
    (CHAT, {"messages": []}, "messages"),
    (CHAT, {"messages": [1]}, "messages"),
    (CHAT, {"messages": [None]}, "messages"),
    (CHAT, {"messages": [{"content": "x"}]}, "role"),
    (CHAT, {"messages": [{"role": 1, "content": "x"}]}, "role"),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, "content"),
    (CHAT, {"messages": [{"role": "user", "content": {"text": "x"}}]}, "content"),
    (CHAT, {"messages": [{"role": "user", "content": [1]}]}, "content"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "text"),
    (CHAT, {"messages": MESSAGES, "model": 5}, "model"),
    (CHAT, {"messages": MESSAGES, "stream": "sometimes"}, "stream"),
    (CHAT, {"messages": MESSAGES, "stream": None}, "stream"),
    (CHAT, {"messages": MESSAGES, "stream": True, "stream_options": []}, "stream_options"),
    (CHAT, {"messages": MESSAGES, "stream": True, "stream_options": "include_usage"}, "stream_options"),
    (CHAT, {"messages": MESSAGES, "stream": True, "stream_options": 1}, "stream_options"),
    (CHAT, {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": "x"}}, "include_usage"),
    (CHAT, {"messages": MESSAGES, "logit_bias": []}, "logit_bias"),
    (CHAT, {"messages": MESSAGES, "logit_bias": "x"}, "logit_bias"),
    (CHAT, {"messages": MESSAGES, "logit_bias": 3}, "logit_bias"),
    (CHAT, {"messages": MESSAGES, "logit_bias": {"1": "a lot"}}, "logit_bias"),
    (CHAT, {"messages": MESSAGES, "temperature": "hot"}, "temperature"),
    (CHAT, {"messages": MESSAGES, "top_p": []}, "top_p"),
    (CHAT, {"messages": MESSAGES, "stop": 5}, "stop"),
    (CHAT, {"messages": MESSAGES, "stop": ["a", 5]}, "stop"),
    (CHAT, {"messages": MESSAGES, "seed": 1.5}, "seed"),
    (CHAT, {"messages": MESSAGES, "user": 5}, "user"),
    (CHAT, {"messages": MESSAGES, "logprobs": "maybe"}, "logprobs"),
    (CHAT, {"messages": MESSAGES, "rid": ["a", 1]}, "rid"),
    # /v1/completions (SGLang's CompletionRequest)
    (COMPLETIONS, {}, "prompt"),
    (COMPLETIONS, {"prompt": None}, "prompt"),
    (COMPLETIONS, {"prompt": 5}, "prompt"),
    (COMPLETIONS, {"prompt": {"a": 1}}, "prompt"),
    (COMPLETIONS, {"prompt": [None]}, "prompt"),
    (COMPLETIONS, {"prompt": ""}, "prompt"),
    (COMPLETIONS, {"prompt": []}, "prompt"),
    (COMPLETIONS, {"prompt": "x", "echo": "nope"}, "echo"),
    (COMPLETIONS, {"prompt": "x", "logprobs": "x"}, "logprobs"),
    (COMPLETIONS, {"prompt": "x", "stream": 2}, "stream"),
    (COMPLETIONS, {"prompt": "x", "stream": True, "stream_options": ["include_usage"]}, "stream_options"),
    (COMPLETIONS, {"prompt": "x", "logit_bias": [1, 2]}, "logit_bias"),
    (COMPLETIONS, {"prompt": "x", "suffix": 3}, "suffix"),
]


@pytest.mark.parametrize("path, body, fragment", WRONG_FIELDS, ids=lambda v: json.dumps(v)[:60] if isinstance(v, dict) else str(v))
def test_a_field_of_the_wrong_type_is_400(worker, path, body, fragment):
    assert_error(*send(worker["url"], path, body), 400, fragment)
    assert_served(worker["url"])


# --- token limits and n --------------------------------------------------------------------------


def _generate(value):
    return "/generate", {"text": "x", "sampling_params": {"max_new_tokens": value}}


def _chat(value, name="max_tokens"):
    return CHAT, {"messages": MESSAGES, name: value}


def _completion(value):
    return COMPLETIONS, {"prompt": "x", "max_tokens": value}


ABSURD = [-1, -(10**12), 10**12, 10**40, 1.5, "8", True, False, [], {}]


@pytest.mark.parametrize("value", ABSURD, ids=repr)
@pytest.mark.parametrize("request_of", [_generate, _chat, lambda v: _chat(v, "max_completion_tokens"), _completion],
                         ids=["generate", "chat-max_tokens", "chat-max_completion_tokens", "completions"])  # fmt: skip
def test_absurd_token_limits_are_400(worker, request_of, value):
    path, body = request_of(value)
    assert_error(*send(worker["url"], path, body), 400)
    assert_served(worker["url"])


def test_token_limits_follow_sglang(worker):
    url = worker["url"]
    # A completion must ask for at least one token (CompletionRequest: "max_tokens must be positive").
    assert_error(*send(url, COMPLETIONS, {"prompt": "x", "max_tokens": 0}), 400, "max_tokens must be positive")
    assert_error(*send(url, COMPLETIONS, {"prompt": "x", "max_tokens": None}), 400, "max_tokens")
    # The native API takes 0 (prefill only), and null for the default.
    status, reply = post_json(url + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": 0}})
    assert status == 200 and reply["output_ids"] == []
    assert post_json(url + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": None}})[1]["meta_info"]["completion_tokens"] == 16
    assert post_json(url + "/generate", {"text": "x", "sampling_params": None})[1]["meta_info"]["completion_tokens"] == 16
    # Chat: 0 and null fall back to the default (SGLang: max_completion_tokens or max_tokens).
    assert post_json(url + CHAT, {"messages": MESSAGES, "max_tokens": None})[1]["usage"]["completion_tokens"] == 16
    assert post_json(url + CHAT, {"messages": MESSAGES, "max_completion_tokens": 0, "max_tokens": 3})[1]["usage"]["completion_tokens"] == 3
    # An integral float is an integer, as pydantic reads it.
    assert post_json(url + COMPLETIONS, {"prompt": "x", "max_tokens": 3.0})[1]["usage"]["completion_tokens"] == 3
    assert post_json(url + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": 3.0}})[1]["meta_info"]["completion_tokens"] == 3
    # The context length bounds prompt + completion, with SGLang's message.
    assert post_json(url + COMPLETIONS, {"prompt": "x", "max_tokens": CONTEXT - 1})[0] == 200
    error = assert_error(*send(url, COMPLETIONS, {"prompt": "x", "max_tokens": CONTEXT}), 400)
    assert error["message"].startswith("Requested token count exceeds the model's maximum context length of %d tokens." % CONTEXT)
    long_prompt = " ".join(["word"] * CONTEXT)
    assert_error(*send(url, CHAT, {"messages": [{"role": "user", "content": long_prompt}], "max_tokens": 1}), 400, "longer than the model's context length")
    assert_error(*send(url, "/generate", {"input_ids": list(range(CONTEXT))}), 400, "longer than the model's context length")


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, None, [], 10**6], ids=repr)
@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
def test_an_invalid_n_is_400(worker, path, value):
    body = {"messages": MESSAGES} if path == CHAT else {"prompt": "x"}
    body.update(n=value, max_tokens=2)
    assert_error(*send(worker["url"], path, body), 400, "n")
    assert_served(worker["url"])


def test_n_choices(worker):
    status, reply = post_json(worker["url"] + CHAT, {"messages": MESSAGES, "max_tokens": 3, "n": 3})
    assert status == 200 and [c["index"] for c in reply["choices"]] == [0, 1, 2]
    assert all(len(c["message"]["content"].split()) == 3 for c in reply["choices"])
    assert reply["usage"]["completion_tokens"] == 9
    status, _headers, raw = http("POST", worker["url"] + COMPLETIONS, {"prompt": "x", "max_tokens": 2, "n": 2, "stream": True})
    chunks = [json.loads(e) for e in raw.decode().split("data: ")[1:] if not e.startswith("[DONE]")]
    assert status == 200 and {c["choices"][0]["index"] for c in chunks if c["choices"]} == {0, 1}


# --- paths and methods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path", [("GET", "/nope"), ("POST", "/nope"), ("GET", "/v1/nope"), ("GET", "/generate/x"), ("DELETE", "/nope"), ("BREW", "/nope")]
)
def test_unknown_paths_are_404(worker, method, path):
    status, _headers, raw = http(method, worker["url"] + path, b"{}" if method == "POST" else None)
    assert status == 404 and b"Traceback" not in raw, raw
    assert_served(worker["url"])


@pytest.mark.parametrize("method, path", [
    ("GET", "/generate"), ("GET", CHAT), ("GET", COMPLETIONS), ("PUT", CHAT), ("DELETE", "/generate"), ("PATCH", COMPLETIONS),
    ("POST", "/health"), ("POST", "/get_server_info"), ("POST", "/v1/models"), ("DELETE", "/flush_cache"),
    ("HEAD", "/generate"), ("OPTIONS", CHAT), ("BREW", "/health"),
])  # fmt: skip
def test_wrong_methods_are_405(worker, method, path):
    status, headers, raw = http(method, worker["url"] + path, b"{}" if method in ("POST", "PUT", "PATCH") else None)
    assert status == 405 and b"Traceback" not in raw, raw
    assert method not in {m.strip() for m in headers["Allow"].split(",")}
    assert_served(worker["url"])


def test_the_methods_sglang_takes_still_work(worker):
    url = worker["url"]
    assert http("PUT", url + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": 1}})[0] == 200
    assert http("POST", url + "/flush_cache")[0] == http("GET", url + "/flush_cache")[0] == 200


# --- the transport: Content-Length, chunked bodies, slow clients ---------------------------------


def request(path, body=b"", headers=()):
    lines = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1", "Content-Type: application/json"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


GOOD = json.dumps({"messages": MESSAGES, "max_tokens": 2}).encode()


@pytest.mark.parametrize("data, expected", [
    pytest.param(request(CHAT, GOOD, ["Content-Length: -5"]), 400, id="negative"),
    pytest.param(request(CHAT, GOOD, ["Content-Length: abc"]), 400, id="not-a-number"),
    pytest.param(request(CHAT, GOOD, ["Content-Length: 0x10"]), 400, id="hex"),
    pytest.param(request(CHAT, GOOD, ["Content-Length: %d" % len(GOOD), "Content-Length: 5"]), 400, id="two-values"),
    pytest.param(request(CHAT, GOOD, ["Content-Length: %d" % len(GOOD), "Transfer-Encoding: chunked"]), 400, id="length-and-chunked"),
    pytest.param(request(CHAT, GOOD, ["Transfer-Encoding: gzip"]), 400, id="unknown-transfer-encoding"),
    pytest.param(request(CHAT, b"zz\r\n" + GOOD + b"\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"]), 400, id="chunk-size-not-hex"),
    pytest.param(request(CHAT, b"5\r\n{}{}{}{}\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"]), 400, id="chunk-longer-than-its-size"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="bad-request-line"),
])  # fmt: skip
def test_a_bad_content_length_is_4xx_and_closes(worker, data, expected):
    status, _headers, body, closed = raw_exchange(worker["port"], data, timeout=5)
    assert status == expected, (status, body)
    assert b"Traceback" not in body and closed
    assert_served(worker["url"])


@pytest.mark.parametrize("length", ["10000000000000", "1" + "0" * 40, None], ids=["10**13", "10**40", "bound+1"])
def test_a_huge_content_length_is_413_without_reading(worker, simulator_module, length):
    length = length or str(simulator_module.MAX_BODY_BYTES + 1)
    started = time.time()
    status, _headers, body, closed = raw_exchange(worker["port"], request(CHAT, b"{", ["Content-Length: " + length]), timeout=5)
    assert (status, closed) == (413, True), body
    assert time.time() - started < 0.9 * float(READ_TIMEOUT) + 0.5  # refused at once, not after reading
    # With Expect: 100-continue, the refusal comes instead of the "100 Continue".
    status, _headers, body, closed = raw_exchange(worker["port"], request(CHAT, b"", ["Content-Length: " + length, "Expect: 100-continue"]), timeout=5)
    assert (status, closed) == (413, True), body
    assert_served(worker["url"])


def test_a_body_shorter_than_its_content_length_times_out_with_408(worker):
    baseline = thread_count(worker["proc"])
    with socket.create_connection(("127.0.0.1", worker["port"]), timeout=10) as sock:
        sock.sendall(request(CHAT, GOOD[:10], ["Content-Length: %d" % len(GOOD)]))
        assert_served(worker["url"])  # other clients are served meanwhile
        started = time.time()
        status, _headers, body, closed = read_response(sock, timeout=float(READ_TIMEOUT) + 5)
    assert (status, closed) == (408, True), body
    assert time.time() - started < float(READ_TIMEOUT) + 3
    assert wait_threads(worker["proc"], baseline), "the thread of the timed-out request did not end"
    assert_served(worker["url"])


def test_no_body_is_400_and_keeps_the_connection(worker):
    status, _headers, body, closed = raw_exchange(worker["port"], request(CHAT), timeout=5)
    assert status == 400 and not closed, body
    assert_error(status, body, 400, "body")


def test_a_client_that_stops_mid_headers_is_dropped(worker):
    baseline = thread_count(worker["proc"])
    with socket.create_connection(("127.0.0.1", worker["port"]), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/comp")
        sock.settimeout(float(READ_TIMEOUT) + 5)
        assert sock.recv(65536) == b""  # closed by the server, not left waiting
    assert wait_threads(worker["proc"], baseline), "the thread of the stalled connection did not end"
    assert_served(worker["url"])


def test_a_reset_connection_leaves_no_traceback(worker):
    with socket.create_connection(("127.0.0.1", worker["port"]), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/comp")
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    assert_served(worker["url"])
    time.sleep(0.3)
    assert "Traceback" not in worker["proc"].output(), worker["proc"].output()


def test_a_chunked_body_is_read(worker):
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (GOOD[:7], GOOD[7:])) + b"0\r\n\r\n"
    status, _headers, body, _closed = raw_exchange(worker["port"], request(CHAT, chunked, ["Transfer-Encoding: chunked"]))
    assert status == 200, body
    assert json.loads(body)["usage"]["completion_tokens"] == 2


def test_keep_alive_still_works(worker):
    """Two requests on one connection: the bounds do not break HTTP/1.1 keep-alive."""
    with socket.create_connection(("127.0.0.1", worker["port"]), timeout=10) as sock:
        for _attempt in range(2):
            sock.sendall(request(CHAT, GOOD, ["Content-Length: %d" % len(GOOD)]))
            status, _headers, body, _closed = read_response(sock, timeout=10)
            assert status == 200, body


# --- PD fields on a prefill ----------------------------------------------------------------------


@pytest.mark.parametrize("fields, fragment", [
    ({"bootstrap_room": "abc"}, "bootstrap_room"),
    ({"bootstrap_room": -1}, "bootstrap_room"),
    ({"bootstrap_room": True}, "bootstrap_room"),
    ({"bootstrap_room": 1.5}, "bootstrap_room"),
    ({"bootstrap_room": 1, "bootstrap_port": "x"}, "bootstrap_port"),
    ({"bootstrap_room": 1, "bootstrap_port": 0}, "bootstrap_port"),
    ({"bootstrap_room": 1, "bootstrap_port": 70000}, "bootstrap_port"),
    ({"bootstrap_room": 1, "bootstrap_host": "evil.example/x?"}, "bootstrap_host"),
    ({"bootstrap_room": 1, "bootstrap_host": "a b"}, "bootstrap_host"),
    ({"bootstrap_room": 1, "bootstrap_host": ""}, "bootstrap_host"),
    ({"bootstrap_room": 1, "bootstrap_host": "2.2.2.2", "n": 2}, "n"),
])  # fmt: skip
def test_pd_fields_of_the_wrong_type_are_400(prefill, fields, fragment):
    body = {"messages": MESSAGES, "max_tokens": 2}
    body.update(fields)
    assert_error(*send(prefill["url"], CHAT, body), 400, fragment)
    health_style = {"input_ids": [0], "sampling_params": {"max_new_tokens": 1}, "bootstrap_host": "2.2.2.2", "bootstrap_room": 0}
    assert post_json(prefill["url"] + "/generate", health_style)[0] == 200


# --- the prefill's bootstrap port ----------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["abc", "nan", "NaN", "inf", "-inf", "1e400", "-1", "", "0x10"])
def test_a_bad_bootstrap_timeout_is_400(prefill, timeout):
    status, _headers, raw = http("GET", prefill["bootstrap_url"] + "/kv/12345?timeout=" + timeout, timeout=10)
    assert_error(status, raw, 400, "timeout")
    assert http("GET", prefill["bootstrap_url"] + "/health")[0] == 200


def test_a_good_bootstrap_timeout_still_waits_then_408(prefill):
    started = time.time()
    status, _headers, raw = http("GET", prefill["bootstrap_url"] + "/kv/12345?timeout=0.3&puller=x", timeout=10)
    assert status == 408 and 0.25 < time.time() - started < 5, raw
    assert http("GET", prefill["bootstrap_url"] + "/kv/12345?timeout=0", timeout=10)[0] == 408


@pytest.mark.parametrize("method, path, expected", [
    ("POST", "/kv/1", 405), ("DELETE", "/kv/1", 405), ("POST", "/health", 405),
    ("GET", "/nope", 404), ("GET", "/kv/", 404), ("GET", "/kv/1/2", 404),
    ("GET", "/kv/not-a-room", 400), ("GET", "/kv/" + "9" * 200, 400),
])  # fmt: skip
def test_bootstrap_paths_and_methods(prefill, method, path, expected):
    status, _headers, raw = http(method, prefill["bootstrap_url"] + path, b"{}" if method == "POST" else None, timeout=10)
    assert status == expected and b"Traceback" not in raw, raw
    assert http("GET", prefill["bootstrap_url"] + "/health")[0] == 200


@pytest.mark.parametrize("header", ["Content-Length: -1", "Content-Length: x", "Content-Length: 99999999999999"])
def test_the_bootstrap_port_bounds_bodies_too(prefill, header):
    data = ("GET /health HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % header).encode()
    status, _headers, body, closed = raw_exchange(prefill["bootstrap"], data, timeout=5)
    assert status in (400, 413) and closed, body
    assert http("GET", prefill["bootstrap_url"] + "/health")[0] == 200
