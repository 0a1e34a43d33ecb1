# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine simulator against the real upstream: SGLang's parser and the real routers.

Run with the upstream venv (``make upstream``)::

    .cache/upstream-venv/bin/python -m pytest -q -p no:cacheprovider tests/upstream/test_simulator.py

1. The committed ``server_args/<sglang>.json`` equals what the installed SGLang's parser gives
   (regenerate with tests/upstream/generate_server_args_spec.py --write).
2. Every golden worker argv is accepted by the simulator's parser.
3. The real smg 1.13.0 and sglang-router 0.3.2, on 127.0.0.1, in front of simulators: PD mode with one
   prefill and one decode, regular mode with two workers; chat completions (plain and streaming)
   come back with generated text and the serving worker's counters show it. The workers take the
   API key from a ``--config`` YAML, as the plan sets it. The router runs as the plan starts it when
   a key is set: through roles/sglang_service/files/gpufleet_router_launch.py with ``SGLANG_API_KEY``
   in its environment (the routers read the key only from ``--api-key``, which the launcher adds in
   memory). The key must not appear in the router's /proc/<pid>/cmdline, and the router must have it:
   with ``--api-key`` it refuses a client without the key (401) and serves one with it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_VENV = ROOT / ".cache" / "upstream-venv"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("simulator_harness", ROOT / "tests" / "unit" / "simulator" / "simulator_harness.py")
generator = _load("generate_server_args_spec", Path(__file__).resolve().parent / "generate_server_args_spec.py")
simulator = _load("sglang_engine_simulator", harness.SIMULATOR)

try:
    import sglang.srt.server_args  # noqa: F401  pylint: disable=unused-import
except ImportError as exc:
    if Path(sys.prefix).resolve() == UPSTREAM_VENV.resolve() or os.environ.get("GPUFLEET_UPSTREAM_REQUIRED") == "1":
        raise
    pytest.skip("SGLang not importable (%s): run tests/upstream/setup-venv.sh" % exc, allow_module_level=True)

BIN = Path(sys.executable).parent
KEY = "upstream-test-key"
MODEL = "Qwen/Qwen2.5-7B-Instruct"
# The simulator runs on the system python3 when there is one: it must need nothing but the stdlib.
SIM_PYTHON = shutil.which("python3", path="/usr/bin") or sys.executable


def test_committed_spec_matches_the_installed_sglang():
    """The table of the release installed here (this venv holds one); the other release profiles' tables are
    checked the same way with ``generate_server_args_spec.py --check`` in a venv of their release (see its
    docstring), and tests/unit/plugins/action/test_topology_plan_parser_tables.py checks that every table records
    the release it is named after and is the generator's output."""
    path, committed, current = generator.committed_and_current()
    version = json.loads(current)["sglang"]
    assert committed is not None, "no %s: run tests/upstream/generate_server_args_spec.py --write" % path.relative_to(ROOT)
    assert committed == current, (
        "%s differs from SGLang %s's parser: run tests/upstream/generate_server_args_spec.py --write" % (path.relative_to(ROOT), version)
    )


def _worker_argvs():
    for path in sorted((ROOT / "tests" / "golden" / "plans").glob("*.json")):
        for service in json.loads(path.read_text(encoding="utf-8")).get("services") or []:
            if service["argv"][1:3] == ["-m", "sglang.launch_server"]:
                yield pytest.param(service["argv"][3:], id="%s:%s" % (path.stem, service["host"]))


@pytest.mark.parametrize("argv", list(_worker_argvs()))
def test_golden_worker_argv_accepted_by_the_simulator(argv):
    spec = json.loads((generator.SPEC_DIR / ("%s.json" % generator.current_spec()["sglang"])).read_text(encoding="utf-8"))
    simulator.parse_args(argv, spec)


# --- the real routers in front of simulators ---------------------------------------------------

ROUTER_LAUNCHER = str(ROOT / "roles" / "sglang_service" / "files" / "gpufleet_router_launch.py")
ROUTERS = {
    "smg": lambda: [sys.executable, ROUTER_LAUNCHER, "smg", "launch"],
    "sglang-router": lambda: [sys.executable, ROUTER_LAUNCHER, "sglang-router"],
}


@pytest.fixture
def fleet(tmp_path):
    processes = harness.Fleet(SIM_PYTHON)
    processes.config = tmp_path / "worker.secrets.yaml"
    processes.config.write_text("api-key: %s\n" % KEY, encoding="utf-8")
    yield processes
    processes.close()


def _worker(fleet, name, *extra):
    port = harness.free_port()
    argv = ["--model-path", MODEL, "--host", "127.0.0.1", "--port", str(port), "--tp-size", "1", "--config", str(fleet.config)]
    proc = fleet.simulator(*(argv + list(extra)), name=name)
    url = "http://127.0.0.1:%d" % port
    fleet.wait_http(url + "/health", proc)
    return url


def _router(fleet, router, *args):
    port = harness.free_port()
    argv = ROUTERS[router]() + list(args) + ["--host", "127.0.0.1", "--port", str(port), "--prometheus-port", str(harness.free_port())]
    proc = fleet.start(argv, {"SGLANG_API_KEY": KEY, "RUST_LOG": "warn"}, name=router)
    url = "http://127.0.0.1:%d" % port
    cmdline = Path("/proc/%d/cmdline" % proc.popen.pid).read_bytes().decode()
    assert KEY not in cmdline and "--api-key" not in cmdline, cmdline
    deadline = time.time() + 30
    while time.time() < deadline:  # ready once it routes: workers are registered in the background
        if proc.popen.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (router, proc.popen.returncode, proc.output()))
        try:
            if _chat(url, "warm up", max_tokens=1)[0] == 200:
                return url
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("%s did not route a request within 30 s:\n%s" % (router, proc.output()))


def _chat(url, prompt, max_tokens=5, stream=False):
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "stream": stream}
    return harness.http("POST", url + "/v1/chat/completions", body, {"Authorization": "Bearer " + KEY})


def _counters(url):
    return harness.get_json(url + "/get_server_info", {"Authorization": "Bearer " + KEY})["gpufleet_simulator"]


def _assert_chat(router_url, prompt):
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 1}
    assert harness.http("POST", router_url + "/v1/chat/completions", body)[0] == 401, "the router did not get the key"
    status, _headers, raw = _chat(router_url, prompt, max_tokens=5)
    assert status == 200, raw
    assert len(json.loads(raw)["choices"][0]["message"]["content"].split()) == 5
    status, _headers, raw = _chat(router_url, prompt + " (streamed)", max_tokens=4, stream=True)
    events = harness.sse_events(raw)
    assert status == 200 and events[-1] == "[DONE]", raw
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in map(json.loads, events[:-1]) if c.get("choices"))
    assert len(text.split()) == 4, raw


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_pd_router_in_front_of_simulators(fleet, router):
    bootstrap = harness.free_port()
    prefill = _worker(fleet, "prefill", "--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", str(bootstrap))
    decode = _worker(fleet, "decode", "--disaggregation-mode", "decode")
    url = _router(fleet, router, "--pd-disaggregation", "--prefill", prefill, str(bootstrap), "--decode", decode)
    before = _counters(decode)
    _assert_chat(url, "Explain prefill/decode disaggregation")
    after = _counters(decode)
    assert after["requests_served"] == before["requests_served"] + 2
    assert after["tokens_generated"] == before["tokens_generated"] + 9
    assert after["kv_transfers_received"] == before["kv_transfers_received"] + 2
    assert after["kv_pulled_from"]["127.0.0.1:%d" % bootstrap] >= 2
    assert _counters(prefill)["kv_transfers_sent"] == after["kv_transfers_received"]


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_regular_router_in_front_of_two_simulators(fleet, router):
    workers = [_worker(fleet, "worker-%d" % i) for i in range(2)]
    url = _router(fleet, router, "--worker-urls", *workers, "--policy", "round_robin")
    before = [_counters(w)["requests_served"] for w in workers]
    _assert_chat(url, "Hello")
    _assert_chat(url, "Hello again")
    after = [_counters(w)["requests_served"] for w in workers]
    assert sum(after) - sum(before) == 4
    assert all(a > b for a, b in zip(after, before)), "round_robin used one worker only: %s -> %s" % (before, after)
