# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker HTTP API of a regular (non-PD) simulator, its API key, startup gating and SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
from simulator_harness import Fleet, free_port, get_json, http, post_json, sse_events

KEY = "k3y-that-must-not-be-logged"


@pytest.fixture(scope="module")
def worker(module_fleet):
    port = free_port()
    proc = module_fleet.simulator("--model-path", "Qwen/Qwen2.5-7B-Instruct", "--host", "0.0.0.0", "--port", str(port), "--tp-size", "2",
                                  "--enable-metrics", name="worker")
    url = "http://127.0.0.1:%d" % port
    module_fleet.wait_http(url + "/health", proc)
    return url


@pytest.fixture(scope="module")
def keyed(module_fleet):
    port = free_port()
    proc = module_fleet.simulator("--model-path", "m", "--port", str(port), "--api-key", KEY, "--enable-metrics", name="keyed")
    url = "http://127.0.0.1:%d" % port
    module_fleet.wait_http(url + "/health", proc)
    return url, proc


def test_health_endpoints(worker):
    for path in ("/health", "/health_generate", "/ready"):
        assert http("GET", worker + path)[0] == 200


def test_server_info_has_the_parsed_args_and_counters(worker):
    info = get_json(worker + "/get_server_info")
    assert (info["tp_size"], info["disaggregation_mode"], info["model_path"], info["port"] > 0) == (2, "null", "Qwen/Qwen2.5-7B-Instruct", True)
    block = info["gpufleet_simulator"]
    assert {"requests_served", "tokens_generated", "kv_transfers_sent", "kv_transfers_received", "kv_pulled_from"} <= set(block)
    assert get_json(worker + "/server_info")["tp_size"] == 2


def test_model_info_and_models(worker):
    info = get_json(worker + "/get_model_info")
    assert info["model_path"] == info["tokenizer_path"] == "Qwen/Qwen2.5-7B-Instruct" and info["is_generation"] is True
    assert get_json(worker + "/model_info") == info
    models = get_json(worker + "/v1/models")
    assert models["object"] == "list" and models["data"][0]["id"] == "Qwen/Qwen2.5-7B-Instruct"


def test_generate_is_deterministic_and_exact(worker):
    body = {"text": "The capital of France is", "sampling_params": {"max_new_tokens": 7}}
    status, first = post_json(worker + "/generate", body)
    assert status == 200
    assert len(first["text"].split()) == 7 == first["meta_info"]["completion_tokens"] == len(first["output_ids"])
    assert first["meta_info"]["prompt_tokens"] == 5
    assert post_json(worker + "/generate", body)[1]["text"] == first["text"]
    assert post_json(worker + "/generate", {"text": "Another prompt"})[1]["meta_info"]["completion_tokens"] == 16
    status, by_ids = post_json(worker + "/generate", {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 2}})
    assert status == 200 and by_ids["meta_info"]["prompt_tokens"] == 3
    status, batch = post_json(worker + "/generate", {"text": ["a", "b c"], "sampling_params": {"max_new_tokens": 3}})
    assert status == 200 and [len(r["output_ids"]) for r in batch] == [3, 3]


def test_generate_stream(worker):
    status, headers, raw = http("POST", worker + "/generate", {"text": "hello", "sampling_params": {"max_new_tokens": 4}, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(raw)
    assert events[-1] == "[DONE]" and len(events) == 5
    assert len(json.loads(events[-2])["text"].split()) == 4


def test_chat_completion(worker):
    status, reply = post_json(worker + "/v1/chat/completions", {"model": "x", "messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 5})
    assert status == 200 and reply["object"] == "chat.completion"
    assert len(reply["choices"][0]["message"]["content"].split()) == 5
    assert reply["usage"]["completion_tokens"] == 5 and reply["usage"]["total_tokens"] == reply["usage"]["prompt_tokens"] + 5
    status, reply = post_json(worker + "/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 2})
    assert reply["usage"]["completion_tokens"] == 2


def test_chat_completion_stream(worker):
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}
    status, _headers, raw = http("POST", worker + "/v1/chat/completions", body)
    events = sse_events(raw)
    assert status == 200 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len("".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]).split()) == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "length" and chunks[-1]["usage"]["completion_tokens"] == 3


def test_completions_plain_and_stream(worker):
    status, reply = post_json(worker + "/v1/completions", {"prompt": "Once upon", "max_tokens": 4})
    assert status == 200 and reply["object"] == "text_completion" and len(reply["choices"][0]["text"].split()) == 4
    status, _headers, raw = http("POST", worker + "/v1/completions", {"prompt": "Once upon", "max_tokens": 4, "stream": True})
    events = sse_events(raw)
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert events[-1] == "[DONE]" and text == reply["choices"][0]["text"]


def test_metrics_flush_and_unknown_paths(worker):
    post_json(worker + "/generate", {"text": "count me", "sampling_params": {"max_new_tokens": 1}})
    status, headers, raw = http("GET", worker + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "sglang:num_requests_total{" in raw.decode() and "sglang:generation_tokens_total{" in raw.decode()
    assert http("POST", worker + "/flush_cache")[0] == 200
    assert http("GET", worker + "/flush_cache")[0] == 200
    assert http("GET", worker + "/nope")[0] == 404
    assert http("POST", worker + "/generate", b"{not json")[0] == 400


def test_counters_follow_requests(worker):
    before = get_json(worker + "/get_server_info")["gpufleet_simulator"]
    post_json(worker + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 6})
    after = get_json(worker + "/get_server_info")["gpufleet_simulator"]
    assert after["requests_served"] == before["requests_served"] + 1
    assert after["tokens_generated"] == before["tokens_generated"] + 6


def test_api_key(keyed):
    url, proc = keyed
    auth = {"Authorization": "Bearer " + KEY}
    for path in ("/health", "/health_generate", "/metrics"):
        assert http("GET", url + path)[0] == 200, path
    for path in ("/get_server_info", "/get_model_info", "/v1/models", "/flush_cache"):
        assert http("GET", url + path)[0] == 401, path
        assert http("GET", url + path, headers={"Authorization": "Bearer wrong"})[0] == 401, path
        assert http("GET", url + path, headers=auth)[0] == 200, path
    assert post_json(url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})[0] == 401
    assert post_json(url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, auth)[0] == 200
    assert get_json(url + "/get_server_info", auth)["api_key"] == "<redacted>"
    time.sleep(0.2)
    assert KEY not in proc.output() and "GET /get_server_info 401" in proc.output()


def test_health_is_503_while_loading_then_200(fleet):
    port = free_port()
    proc = fleet.simulator("--model-path", "m", "--port", str(port), env={"GPUFLEET_SIMULATOR_STARTUP_S": "1.5"})
    url = "http://127.0.0.1:%d" % port
    fleet.wait_http(url + "/health", proc, status=503)
    assert post_json(url + "/generate", {"text": "early"})[0] == 503
    fleet.wait_http(url + "/health", proc, status=200)


def test_sigterm_exits_cleanly(fleet):
    port = free_port()
    proc = fleet.simulator("--model-path", "m", "--port", str(port))
    fleet.wait_http("http://127.0.0.1:%d/health" % port, proc)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(10) == 0


def _oldest_python():
    candidates = sorted(Path.home().glob(".pyenv/versions/3.8*/bin/python")) + [Path(p) for p in filter(None, [shutil.which("python3.8")])]
    return str(candidates[0]) if candidates else None


@pytest.mark.skipif(_oldest_python() is None, reason="no Python 3.8 on this machine")
def test_runs_on_python_3_8():
    processes = Fleet(_oldest_python())
    try:
        port = free_port()
        proc = processes.simulator("--model-path", "m", "--port", str(port), name="py38")
        processes.wait_http("http://127.0.0.1:%d/health" % port, proc)
        status, reply = post_json("http://127.0.0.1:%d/v1/chat/completions" % port, {"messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
        assert status == 200 and len(reply["choices"][0]["message"]["content"].split()) == 2
    finally:
        processes.close()


def test_token_limits(worker):
    assert post_json(worker + "/v1/completions", {"prompt": "x", "max_tokens": -1})[0] == 400
    assert post_json(worker + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": "many"}})[0] == 400
    # SGLang's CompletionRequest: "max_tokens must be positive"; the native API takes 0 (a short stream).
    assert post_json(worker + "/v1/completions", {"prompt": "x", "max_tokens": 0, "stream": True})[0] == 400
    status, _headers, raw = http("POST", worker + "/generate", {"text": "x", "sampling_params": {"max_new_tokens": 0}, "stream": True})
    assert status == 200 and sse_events(raw) == ["[DONE]"]
