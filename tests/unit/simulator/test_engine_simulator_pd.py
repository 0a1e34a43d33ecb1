# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PD disaggregation: requests driven the way smg drives them (same body, same bootstrap room, to
the prefill and the decode at once), and the failures a wrong pairing must produce."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from simulator_harness import free_port, get_json, http, post_json, sse_events

KV_TIMEOUT = {"GPUFLEET_SIMULATOR_KV_TIMEOUT_S": "1.5"}


@pytest.fixture(scope="module")
def pair(module_fleet):
    http_p, bootstrap, http_d = free_port(), free_port(), free_port()
    common = ["--model-path", "m", "--host", "127.0.0.1", "--tp-size", "8", "--disaggregation-transfer-backend", "nixl"]
    prefill = module_fleet.simulator(
        *common, "--port", str(http_p), "--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", str(bootstrap), env=KV_TIMEOUT, name="prefill"
    )
    decode = module_fleet.simulator(*common, "--port", str(http_d), "--disaggregation-mode", "decode", env=KV_TIMEOUT, name="decode")
    p_url, d_url = "http://127.0.0.1:%d" % http_p, "http://127.0.0.1:%d" % http_d
    module_fleet.wait_http(p_url + "/health", prefill)
    module_fleet.wait_http(d_url + "/health", decode)
    return {"prefill": p_url, "decode": d_url, "bootstrap": bootstrap}


def pd_body(pair, body, room=None, port=None):
    body = dict(body)
    body.update({"bootstrap_host": "127.0.0.1", "bootstrap_port": port or pair["bootstrap"], "bootstrap_room": room or random.getrandbits(63)})
    return body


def both(pair, path, body, stream=False):
    """POST the same body to prefill and decode concurrently; return (prefill, decode) results."""
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(http, "POST", pair[role] + path, body) for role in ("prefill", "decode")]
        return [call.result() for call in calls]


def counters(url):
    return get_json(url + "/get_server_info")["gpufleet_simulator"]


def test_bootstrap_port_answers(pair):
    assert http("GET", "http://127.0.0.1:%d/health" % pair["bootstrap"])[0] == 200


def test_chat_round_trip(pair):
    before_p, before_d = counters(pair["prefill"]), counters(pair["decode"])
    body = pd_body(pair, {"messages": [{"role": "user", "content": "What is PD?"}], "max_completion_tokens": 6})
    (p_status, _p_headers, p_raw), (d_status, _d_headers, d_raw) = both(pair, "/v1/chat/completions", body)
    assert (p_status, d_status) == (200, 200), (p_raw, d_raw)
    reply = json.loads(d_raw)
    assert len(reply["choices"][0]["message"]["content"].split()) == 6
    after_p, after_d = counters(pair["prefill"]), counters(pair["decode"])
    assert after_p["kv_transfers_sent"] == before_p["kv_transfers_sent"] + 1
    assert after_d["kv_transfers_received"] == before_d["kv_transfers_received"] + 1
    assert after_d["requests_served"] == before_d["requests_served"] + 1
    assert after_d["kv_pulled_from"]["127.0.0.1:%d" % pair["bootstrap"]] >= 1
    # the decode continues the prefill's first token
    assert reply["choices"][0]["message"]["content"].split()[0] == json.loads(p_raw)["choices"][0]["message"]["content"]


def test_generate_stream_round_trip(pair):
    body = pd_body(pair, {"text": "stream me", "sampling_params": {"max_new_tokens": 4}, "stream": True})
    (p_status, _p_headers, _p_raw), (d_status, _d_headers, d_raw) = both(pair, "/generate", body)
    events = sse_events(d_raw)
    assert (p_status, d_status) == (200, 200) and events[-1] == "[DONE]"
    assert len(json.loads(events[-2])["text"].split()) == 4


def test_requests_without_bootstrap_room_are_refused(pair):
    for role in ("prefill", "decode"):
        status, reply = post_json(pair[role] + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
        assert status == 400 and "without bootstrap room id" in reply["message"], role


def test_decode_with_a_wrong_bootstrap_names_it(pair):
    wrong = free_port()
    status, reply = post_json(pair["decode"] + "/generate", pd_body(pair, {"text": "lost"}, room=4242, port=wrong))
    assert status == 500
    assert "KV transfer from prefill bootstrap 127.0.0.1:%d room 4242 timed out" % wrong in reply["message"]
    assert counters(pair["decode"])["requests_failed"] >= 1


def test_prefill_alone_times_out(pair):
    status, reply = post_json(pair["prefill"] + "/generate", pd_body(pair, {"text": "nobody pulls"}, room=77))
    assert status == 500 and "room 77" in reply["message"] and "no decode pulled it" in reply["message"]


def test_decode_refuses_kv_of_another_prompt(pair):
    room = random.getrandbits(63)
    with ThreadPoolExecutor(2) as pool:
        prefill = pool.submit(post_json, pair["prefill"] + "/generate", pd_body(pair, {"text": "prompt A"}, room=room))
        decode = pool.submit(post_json, pair["decode"] + "/generate", pd_body(pair, {"text": "prompt B"}, room=room))
        status, reply = decode.result()
        prefill.result()
    assert status == 500 and "different prompt" in reply["message"]


def test_health_generate_style_request_needs_no_transfer(pair):
    body = {"input_ids": [0], "sampling_params": {"max_new_tokens": 1}, "bootstrap_host": "2.2.2.2", "bootstrap_room": 0}
    for role in ("prefill", "decode"):
        assert post_json(pair[role] + "/generate", body)[0] == 200, role


def test_decode_pointed_at_another_server_names_it(pair):
    """A bootstrap address that answers 200 with something else than a room (a wrong pairing): the decode
    fails the request with its reason, as for no answer at all, and serves the next one."""

    class Other(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"[1, 2]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        status, reply = post_json(pair["decode"] + "/generate", pd_body(pair, {"text": "lost"}, room=99, port=other.server_address[1]))
    finally:
        other.shutdown()
        other.server_close()
    assert status == 500 and "the answer is not a bootstrap room" in reply["message"], reply
    test_health_generate_style_request_needs_no_transfer(pair)
