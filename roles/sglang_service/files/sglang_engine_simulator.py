# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SGLang engine simulator: a stand-in for ``python -m sglang.launch_server`` on hosts without GPUs.

What it is
    One stdlib-only file (Python 3.8+) that the ``sglang_service`` role installs as
    ``/opt/sglang-simulator/sglang_engine_simulator.py`` when ``sglang_service_engine: simulator``.
    systemd starts it with exactly the argv the plan gives SGLang. It:

    * parses that argv with SGLang's own option table (a JSON spec generated from the real parser,
      ``server_args/<release>.json``): an unknown flag, an abbreviation or a bad choice exits 2 with
      argparse's "unrecognized arguments" / "invalid choice" message, as the real launcher would;
      ``--config FILE.yaml`` is merged in front of argv the way SGLang merges it;
    * serves the worker HTTP API that routers and operators use (``/health``, ``/health_generate``,
      ``/get_server_info``, ``/get_model_info``, ``/v1/models``, ``/generate``, ``/v1/completions``,
      ``/v1/chat/completions``, ``/metrics``, ``/flush_cache``) with ``--api-key`` enforced on every
      path but ``/health*``, ``/ready`` and ``/metrics`` (SGLang's exemptions);
    * plays the PD handshake: a prefill also listens on ``--disaggregation-bootstrap-port`` and
      publishes "KV" per ``bootstrap_room``; a decode pulls that room from the request's
      ``bootstrap_host:bootstrap_port`` and fails with a 500 naming both when nothing arrives, so a
      wrong pairing fails as it would on GPUs;
    * joins the ranks of a multi-node instance over ``--dist-init-addr`` (rank 0 listens, the others
      connect and exit when rank 0 goes away); rank 0 reports 503 on ``/health`` until all joined;
    * reads ``--disaggregation-ib-device`` of a prefill or decode as SGLang does (a comma list, inline
      JSON or a ``.json`` file mapping GPU ids to devices) and refuses to start, naming the reason, when
      the mapping is malformed or misses a GPU of this node.

What it is not
    No model, tokenizer, GPU, NCCL or real KV transfer: the generated text is a deterministic
    sequence of words derived from the prompt, exactly ``max_tokens`` long (default 16), and
    "tokens" are whitespace-separated words. Beyond the IB device mapping it validates argv syntax
    only, not SGLang's semantic checks (those need the model config and a GPU).

Environment (never argv, so the argv stays SGLang's):
    GPUFLEET_SIMULATOR_ARGS_SPEC   parser spec JSON (default, and fallback when the file is missing:
                                   the newest server_args/*.json beside this file)
    GPUFLEET_SIMULATOR_PREFILL_MS  simulated prefill latency per request (default 20)
    GPUFLEET_SIMULATOR_TOKEN_MS    simulated latency per generated token (default 5)
    GPUFLEET_SIMULATOR_STARTUP_S   simulated model load time before /health turns 200 (default 1)
    GPUFLEET_SIMULATOR_KV_TIMEOUT_S  how long a decode waits for a room's KV, and a prefill for its
                                   decode to pull it (default 30)
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_BOOTSTRAP_HOST = "2.2.2.2"  # SGLang's health-check requests in PD mode carry this host
DEFAULT_MAX_TOKENS = 16
VERSION = "simulator"
VOCAB = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber cobalt crimson ivory jade "
    "onyx pearl ruby silver topaz river canyon meadow summit harbor island valley forest glacier desert "
    "prairie lagoon comet nebula quasar orbit photon plasma vector tensor kernel cache token"
).split()


def log(message):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), message))
    sys.stdout.flush()


def env_float(name, default):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return float(default)
    try:
        return float(raw)
    except ValueError:
        sys.stderr.write("sglang simulator: %s=%r is not a number\n" % (name, raw))
        sys.exit(2)


# --- argv: SGLang's parser, rebuilt from the generated spec ------------------------------------


def default_spec_path():
    def version_key(path):
        name = os.path.basename(path)[: -len(".json")]
        return tuple(int(p) if p.isdigit() else 0 for p in name.split("."))

    specs = sorted(glob.glob(os.path.join(HERE, "server_args", "*.json")), key=version_key)
    if not specs:
        sys.stderr.write("sglang simulator: no server_args/*.json next to %s; set GPUFLEET_SIMULATOR_ARGS_SPEC\n" % __file__)
        sys.exit(2)
    return specs[-1]


def load_spec(path=None):
    path = path or os.environ.get("GPUFLEET_SIMULATOR_ARGS_SPEC") or default_spec_path()
    if not os.path.isfile(path):
        # No table for this release (only those tests/upstream could generate ship): check argv
        # against the newest one rather than refuse to start, and say so.
        fallback = default_spec_path()
        sys.stderr.write("sglang simulator: no parser spec %s; checking argv against %s instead\n" % (path, fallback))
        path = fallback
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class _DeprecatedAction(argparse.Action):
    """SGLang's Deprecated*Action: warn, then store the constant (or the value for aliases)."""

    def __init__(self, option_strings, dest, store_const=None, error_message=None, **kwargs):
        self.store_const = store_const
        self.error_message = error_message
        super(_DeprecatedAction, self).__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if self.error_message:
            parser.error(self.error_message)
        sys.stderr.write("'%s' is deprecated and will be removed in a future release.\n" % option_string)
        setattr(namespace, self.dest, values if self.store_const is None else self.store_const)


_TYPES = {"int": int, "float": float, "str": str, "json": json.loads, None: None}


def build_parser(spec):
    # allow_abbrev=False: the plan never abbreviates, and a prefix that SGLang's parser accepts
    # today may become ambiguous in the next release.
    # A short usage line: SGLang's full one is ~1,700 lines, too much for a journal entry.
    parser = argparse.ArgumentParser(
        prog=spec.get("prog", "sglang serve"), usage="%(prog)s [-h] --model-path MODEL_PATH [SGLang server options]", allow_abbrev=False
    )
    for option in spec["options"]:
        nargs = option["nargs"]
        kwargs = {"dest": option["dest"], "default": option.get("default")}
        if "choices" in option:
            kwargs["choices"] = option["choices"]
        if nargs == "0":
            const = option.get("const", True)
            for string in option["option_strings"]:
                value = const
                if option["action"] == "BooleanOptionalAction":
                    value = not string.startswith("--no-")
                if option.get("deprecated"):
                    parser.add_argument(string, action=_DeprecatedAction, nargs=0, store_const=value, error_message=option.get("error_message"), **kwargs)
                else:
                    parser.add_argument(string, action="store_const", const=value, **kwargs)
            continue
        kwargs["nargs"] = None if nargs == "1" else (int(nargs) if nargs.isdigit() else nargs)
        kwargs["type"] = _TYPES.get(option.get("type"), str)
        if option.get("deprecated"):
            kwargs["action"] = _DeprecatedAction
            kwargs["store_const"] = option.get("const")
            kwargs["error_message"] = option.get("error_message")
        parser.add_argument(*option["option_strings"], **kwargs)
    return parser


def _strip_comment(line):
    """``line`` without its ``# comment``; a ``#`` inside quotes or a word is data, as in YAML."""
    quote, escaped = None, False
    for index, char in enumerate(line):
        before = line[index - 1] if index else " "
        if quote:
            if escaped:
                escaped = False
            elif (char == "\\" and quote == '"') or (char == "'" == quote and line[index + 1 : index + 2] == "'"):
                escaped = True  # the next character is data: \x in double quotes, '' in single quotes
            elif char == quote:
                quote = None
        elif char in "'\"" and before in " \t[,:":
            quote = char
        elif char == "#" and before.isspace():
            return line[:index].rstrip()
    return line


def _yaml_scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return json.loads(text)  # YAML's double-quoted escapes are JSON's for what a config holds
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("null", "~", ""):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def read_simple_yaml(path):
    """``key: value`` lines, ``key: [a, b]`` and ``- item`` lists: the subset config files use."""
    data, last_key = {}, None
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = _strip_comment(raw.rstrip("\r\n"))
            if not line.strip() or line.strip() == "---":
                continue
            stripped = line.strip()
            if stripped.startswith("- ") and last_key is not None:
                if not isinstance(data[last_key], list):
                    data[last_key] = []
                data[last_key].append(_yaml_scalar(stripped[2:]))
                continue
            key, sep, value = stripped.partition(":")
            if not sep or line[0].isspace():
                raise ValueError("%s line %d: only top-level 'key: value' lines are supported" % (path, number))
            key, value = key.strip(), value.strip()
            if value.startswith("[") and value.endswith("]"):
                data[key] = [_yaml_scalar(v) for v in value[1:-1].split(",") if v.strip()]
            else:
                data[key] = _yaml_scalar(value)
            last_key = key
    return data


def merge_config(argv, spec):
    """SGLang's ConfigArgumentMerger: config options first, then the command line (which wins)."""
    indices = [i for i, arg in enumerate(argv) if arg == "--config"]
    if not indices:
        return argv
    if len(indices) > 1:
        raise ValueError("Multiple config files specified! Only one allowed.")
    index = indices[0]
    if index == len(argv) - 1:
        raise ValueError("No config file specified after --config flag!")
    path = argv[index + 1]
    if os.path.splitext(path)[1].lower() not in (".yaml", ".yml"):
        raise ValueError("Config file must be YAML format, got: %s" % os.path.splitext(path)[1])
    if not os.path.exists(path):
        raise ValueError("Config file not found: %s" % path)
    store_true = set()
    for option in spec["options"]:
        if option["action"] == "StoreTrueAction":
            store_true.add(option["dest"])
            store_true.update(s[2:].replace("-", "_") for s in option["option_strings"] if s.startswith("--"))
    merged = []
    for key, value in read_simple_yaml(path).items():
        if isinstance(value, bool):
            if key.replace("-", "_") in store_true:
                merged.extend(["--%s" % key] if value else [])
            else:
                merged.extend(["--%s" % key, str(value).lower()])
        elif isinstance(value, list):
            merged.extend(["--%s" % key] + [str(v) for v in value] if value else [])
        elif value is not None:
            merged.extend(["--%s" % key, str(value)])
    return merged + argv[:index] + argv[index + 2 :]


def parse_args(argv, spec=None):
    spec = spec or load_spec()
    parser = build_parser(spec)
    try:
        argv = merge_config(list(argv), spec)
    except ValueError as exc:
        parser.error(str(exc))
    args = parser.parse_args(argv)
    if args.model_path is None:
        parser.error("the following arguments are required: --model-path")
    return args


def ib_device_config(value):
    """``--disaggregation-ib-device`` read as SGLang reads it (mooncake_transfer_engine.parse_ib_device_config).

    None when unset; a shared comma list as given; else ``{GPU id: "mlx5_0,mlx5_1"}`` from inline JSON or
    from a ``.json`` file. Raises ValueError with SGLang's reason for a missing file, bad JSON, a key that
    is not a GPU id, a value that is not a string, or a GPU without devices.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.endswith(".json") and not text.startswith("{"):
        return text
    if text.endswith(".json"):
        if not os.path.isfile(text):
            raise ValueError("File %s does not exist." % text)
        try:
            with open(text, encoding="utf-8") as handle:
                mapping = json.load(handle)
        except ValueError as exc:
            raise ValueError("Failed to parse JSON content from file %s" % text) from exc
        except OSError as exc:
            raise ValueError("Failed to read JSON file %s: %s" % (text, exc)) from exc
    else:
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise ValueError("Invalid JSON mapping: %s" % text) from exc
    if not isinstance(mapping, dict):
        raise ValueError("Invalid format: expected a mapping from GPU id to IB device string")
    devices = {}
    for key, names in mapping.items():
        if not str(key).isdigit() or not isinstance(names, str):
            raise ValueError("Invalid format: keys must be integers (or string representations of integers) and values must be strings")
        if not [name for name in names.split(",") if name.strip()]:
            raise ValueError("No valid IB devices specified for GPU %s" % key)
        devices[int(key)] = names.strip()
    if not devices:
        raise ValueError("No valid GPU mappings found in JSON")
    return devices


def local_gpu_ids(args):
    """The GPU ids of this node's ranks, numbered as SGLang 0.5.23 numbers them (entrypoints/engine.py
    _calculate_rank_ranges, managers/data_parallel_controller.py): base, plain-DP replica, PP and TP offsets."""
    pp_per_node = max(args.pp_size // args.nnodes, 1)
    tp_per_node = args.tp_size // max(args.nnodes // args.pp_size, 1)
    replicas = args.dp_size if args.dp_size > 1 and not args.enable_dp_attention else 1
    return sorted(
        args.base_gpu_id + replica * args.tp_size * args.pp_size * args.gpu_id_step + pp * tp_per_node + tp * args.gpu_id_step
        for replica in range(replicas)
        for pp in range(pp_per_node)
        for tp in range(tp_per_node)
    )


def ib_devices_per_gpu(args):
    """{GPU id: devices} for this node's GPUs, or None without the flag or PD mode (only the KV transfer
    reads it); ValueError as SGLang's KV transfer setup raises it (a malformed mapping, one that misses
    a GPU of this node)."""
    config = ib_device_config(args.disaggregation_ib_device) if args.disaggregation_mode != "null" else None
    if config is None:
        return None
    gpus = local_gpu_ids(args)
    if not isinstance(config, dict):
        return dict((gpu, config) for gpu in gpus)
    missing = [gpu for gpu in gpus if gpu not in config]
    if missing:
        raise ValueError("No IB devices configured for GPU %s. Available GPUs: %s" % (missing[0], sorted(config)))
    return dict((gpu, config[gpu]) for gpu in gpus)


# --- generation ---------------------------------------------------------------------------------


class SimError(Exception):
    def __init__(self, status, message):
        super(SimError, self).__init__(message)
        self.status = status
        self.message = message


def prompt_of(value):
    """(seed text, prompt token count) of a prompt: text, token ids, or chat messages."""
    if value is None:
        return "", 1
    if isinstance(value, list) and value and isinstance(value[0], int):
        return " ".join(str(v) for v in value), len(value)
    if isinstance(value, list):
        parts = []
        for message in value:
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append("%s: %s" % (message.get("role", "") if isinstance(message, dict) else "", content or ""))
        text = "\n".join(parts)
    else:
        text = str(value)
    return text, max(1, len(text.split()))


def token_limit(value, name):
    if value is None:
        return DEFAULT_MAX_TOKENS
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SimError(400, "%s must be a non-negative integer, got %r" % (name, value))
    return value


def tokens_for(seed, count):
    out = []
    for index in range(count):
        digest = hashlib.sha256(("%s\0%d" % (seed, index)).encode("utf-8")).digest()
        out.append(int.from_bytes(digest[:4], "big") % len(VOCAB))
    return out


def digest_of(seed):
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


class KVStore(object):
    """A prefill's bootstrap side: rooms published by prefill requests, pulled by decodes."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rooms = {}

    def publish(self, room, record):
        record["pulled"] = threading.Event()
        with self.cond:
            self.rooms[room] = record
            self.cond.notify_all()
        return record["pulled"]

    def drop(self, room):
        with self.cond:
            self.rooms.pop(room, None)

    def pull(self, room, timeout, puller):
        deadline = time.time() + timeout
        with self.cond:
            while room not in self.rooms:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            record = self.rooms.pop(room)
        record["pulled_by"] = puller
        record["pulled"].set()
        return {k: v for k, v in record.items() if k != "pulled"}


class Engine(object):
    def __init__(self, args):
        self.args = args
        self.mode = args.disaggregation_mode or "null"
        self.prefill_s = env_float("GPUFLEET_SIMULATOR_PREFILL_MS", 20) / 1000.0
        self.token_s = env_float("GPUFLEET_SIMULATOR_TOKEN_MS", 5) / 1000.0
        self.kv_timeout = env_float("GPUFLEET_SIMULATOR_KV_TIMEOUT_S", 30)
        self.loaded_at = time.time() + env_float("GPUFLEET_SIMULATOR_STARTUP_S", 1)
        self.started = time.time()
        self.model_name = args.served_model_name or args.model_path
        self.kv = KVStore()
        self.ranks = None  # RankServer on rank 0 of a multi-node instance
        self.lock = threading.Lock()
        self.counters = {
            "requests_served": 0,
            "requests_failed": 0,
            "prompt_tokens": 0,
            "tokens_generated": 0,
            "kv_transfers_sent": 0,
            "kv_transfers_received": 0,
            "flush_cache": 0,
        }
        self.pulled_from = {}
        self.running = 0

    def count(self, **deltas):
        with self.lock:
            for key, value in deltas.items():
                self.counters[key] += value

    def ready(self):
        if time.time() < self.loaded_at:
            return False
        return self.ranks is None or self.ranks.complete()

    def simulator_block(self):
        with self.lock:
            block = dict(self.counters)
            block["kv_pulled_from"] = dict(self.pulled_from)
            block["running_requests"] = self.running
        block.update(
            {
                "engine": "gpufleet sglang_engine_simulator",
                "spec_sglang_version": SPEC.get("sglang") if SPEC else None,
                "disaggregation_mode": self.mode,
                "ready": self.ready(),
                "ranks_joined": self.ranks.joined() if self.ranks else [],
                "prefill_ms": self.prefill_s * 1000,
                "token_ms": self.token_s * 1000,
            }
        )
        return block

    def pd_fields(self, body, index=0):
        def pick(name):
            value = body.get(name)
            return value[index] if isinstance(value, list) and index < len(value) else value

        return pick("bootstrap_host"), pick("bootstrap_port"), pick("bootstrap_room")

    def run(self, seed, prompt_tokens, max_tokens, pd, emit=None):
        """Generate ``max_tokens`` tokens for ``seed``; ``emit(token_index, vocab_index)`` streams."""
        host, port, room = pd
        if self.mode != "null" and room is None:
            raise SimError(400, "Invalid request: Disaggregated request received without bootstrap room id.")
        fake = host == FAKE_BOOTSTRAP_HOST
        with self.lock:
            self.running += 1
        try:
            if self.mode == "prefill":
                return self._prefill(seed, prompt_tokens, room, fake, emit)
            if self.mode == "decode" and not fake:
                self._pull_kv(seed, host, port, room)
            elif self.mode != "decode":
                time.sleep(self.prefill_s)
            ids = tokens_for(seed, max_tokens)
            for index, token in enumerate(ids):
                time.sleep(self.token_s)
                if emit:
                    emit(index, token)
            self.count(requests_served=1, prompt_tokens=prompt_tokens, tokens_generated=len(ids))
            return ids
        except SimError:
            self.count(requests_failed=1)
            raise
        finally:
            with self.lock:
                self.running -= 1

    def _prefill(self, seed, prompt_tokens, room, fake, emit):
        time.sleep(self.prefill_s)
        ids = tokens_for(seed, 1)  # a prefill server returns the first token only
        if not fake:
            pulled = self.kv.publish(str(room), {"room": str(room), "digest": digest_of(seed), "prompt_tokens": prompt_tokens})
            if not pulled.wait(self.kv_timeout):
                self.kv.drop(str(room))
                raise SimError(
                    500,
                    "KV transfer of room %s timed out after %gs: no decode pulled it from bootstrap port %s"
                    % (room, self.kv_timeout, self.args.disaggregation_bootstrap_port),
                )
            self.count(kv_transfers_sent=1)
        if emit:
            emit(0, ids[0])
        self.count(requests_served=1, prompt_tokens=prompt_tokens, tokens_generated=1)
        return ids

    def _pull_kv(self, seed, host, port, room):
        port = port if port is not None else 8998
        address = "%s:%s" % (host, port)
        if host is None:
            raise SimError(400, "Invalid request: Disaggregated request received without bootstrap host. room %s" % room)
        url = "http://%s/kv/%s?%s" % (
            "[%s]:%s" % (host, port) if ":" in str(host) else address,
            urllib.parse.quote(str(room)),
            urllib.parse.urlencode({"timeout": self.kv_timeout, "puller": "%s:%s" % (self.args.host, self.args.port)}),
        )
        deadline = time.time() + self.kv_timeout
        last_error = "no answer"
        record = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=self.kv_timeout + 5) as response:
                    record = json.loads(response.read().decode("utf-8"))
                break
            except urllib.error.HTTPError as exc:
                last_error = "HTTP %s" % exc.code
                if exc.code != 408:
                    time.sleep(0.2)
            except (OSError, ValueError) as exc:
                last_error = str(getattr(exc, "reason", exc))
                time.sleep(0.2)
        if record is None:
            raise SimError(500, "KV transfer from prefill bootstrap %s room %s timed out after %gs (%s)" % (address, room, self.kv_timeout, last_error))
        if record.get("digest") != digest_of(seed):
            raise SimError(500, "KV from prefill bootstrap %s room %s belongs to a different prompt" % (address, room))
        with self.lock:
            self.counters["kv_transfers_received"] += 1
            self.pulled_from[address] = self.pulled_from.get(address, 0) + 1


# --- HTTP ---------------------------------------------------------------------------------------


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, engine):
        self.engine = engine
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        HTTPServer.__init__(self, address, handler)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sglang-simulator"

    def log_message(self, fmt, *args):  # replaced by one line per request in handle_one()
        pass

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def do_PUT(self):
        self.handle_one("PUT")

    def handle_one(self, method):
        start = time.time()
        self.status = 0
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            self.route(method, parsed.path, urllib.parse.parse_qs(parsed.query), raw)
        except SimError as exc:
            self.send_error_json(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        log("%s %s %s %s %.1fms" % (self.client_address[0], method, parsed.path, self.status or "-", (time.time() - start) * 1000))

    def send_bytes(self, status, body, content_type="application/json"):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, data):
        self.send_bytes(status, json.dumps(data).encode("utf-8"))

    def send_error_json(self, status, message):
        self.send_json(status, {"object": "error", "message": message, "type": "BadRequestError" if status < 500 else "InternalServerError", "code": status})


class BootstrapHandler(BaseHandler):
    """The prefill's bootstrap port: health, and the rooms decodes pull."""

    def route(self, method, path, query, raw):
        engine = self.server.engine
        if path == "/health":
            return self.send_bytes(200, b"OK", "text/plain")
        if path == "/route":
            return self.send_json(200, {"role": "prefill", "tp_size": engine.args.tp_size, "simulator": True})
        match = re.match(r"^/kv/([^/]+)$", path)
        if match and method == "GET":
            timeout = min(float((query.get("timeout") or [engine.kv_timeout])[0]), engine.kv_timeout)
            record = engine.kv.pull(urllib.parse.unquote(match.group(1)), timeout, (query.get("puller") or ["?"])[0])
            if record is None:
                return self.send_error_json(408, "room %s not published within %gs" % (match.group(1), timeout))
            return self.send_json(200, record)
        raise SimError(404, "Not Found")


class RankHealthHandler(BaseHandler):
    """Ranks > 0: like SGLang's launch_dummy_health_check_server, health only on --port."""

    def route(self, method, path, query, raw):
        if path in ("/health", "/health_generate", "/ping"):
            return self.send_bytes(200, b"", "text/plain")
        raise SimError(404, "Not Found")


class WorkerHandler(BaseHandler):
    """The SGLang worker HTTP API."""

    def authorized(self, path):
        key = self.server.engine.args.api_key
        if not key or path.startswith(("/health", "/ready", "/metrics")):
            return True
        return self.headers.get("Authorization", "") == "Bearer %s" % key

    def route(self, method, path, query, raw):
        engine = self.server.engine
        if not self.authorized(path):
            return self.send_json(401, {"error": "Unauthorized"})
        if path in ("/health", "/health_generate", "/ready"):
            return self.send_bytes(200 if engine.ready() else 503, b"")
        if path in ("/get_server_info", "/server_info"):
            return self.send_json(200, self.server_info())
        if path in ("/get_model_info", "/model_info"):
            return self.send_json(200, self.model_info())
        if path == "/v1/models":
            return self.send_json(200, {"object": "list", "data": [self.model_card()]})
        if path == "/metrics":
            return self.send_bytes(200, self.metrics().encode("utf-8"), "text/plain; version=0.0.4")
        if path == "/flush_cache":
            engine.count(flush_cache=1)
            return self.send_bytes(200, b"Cache flushed.\n", "text/plain")
        generators = {"/generate": self.generate, "/v1/completions": self.completions, "/v1/chat/completions": self.chat}
        if path in generators and method in ("POST", "PUT"):
            if not engine.ready():
                raise SimError(503, "The server is not ready yet (model loading or ranks joining)")
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
            except ValueError as exc:
                raise SimError(400, "Invalid JSON body: %s" % exc)
            if not isinstance(body, dict):
                raise SimError(400, "The request body must be a JSON object")
            return generators[path](body)
        self.status = 404
        return self.send_json(404, {"detail": "Not Found"})

    # informational endpoints

    def server_info(self):
        engine = self.server.engine
        info = {k: v for k, v in vars(engine.args).items() if isinstance(v, (type(None), bool, int, float, str, list))}
        if info.get("api_key"):
            info["api_key"] = "<redacted>"
        info.update(
            {
                "launch_command": "sglang serve (simulated)",
                "startup_time": engine.started,
                "internal_states": [{"status": "ok", "last_gen_throughput": 0.0}],
                "version": VERSION,
                "frontend": "python",
                "gpufleet_simulator": engine.simulator_block(),
            }
        )
        return info

    def model_info(self):
        args = self.server.engine.args
        return {
            "model_path": args.model_path,
            "served_model_name": self.server.engine.model_name,
            "tokenizer_path": args.tokenizer_path or args.model_path,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": "default",
            "disaggregation_mode": self.server.engine.mode,
            "has_image_understanding": False,
            "has_audio_understanding": False,
            "model_type": None,
            "architectures": None,
        }

    def model_card(self):
        engine = self.server.engine
        return {
            "id": engine.model_name,
            "object": "model",
            "created": int(engine.started),
            "owned_by": "sglang",
            "root": engine.model_name,
            "max_model_len": engine.args.context_length or 131072,
        }

    def metrics(self):
        engine = self.server.engine
        block = engine.simulator_block()
        labels = '{model_name="%s"}' % engine.model_name
        lines = []
        for name, kind, value in (
            ("sglang:num_requests_total", "counter", block["requests_served"]),
            ("sglang:prompt_tokens_total", "counter", block["prompt_tokens"]),
            ("sglang:generation_tokens_total", "counter", block["tokens_generated"]),
            ("sglang:num_running_reqs", "gauge", block["running_requests"]),
            ("sglang:kv_transfers_sent_total", "counter", block["kv_transfers_sent"]),
            ("sglang:kv_transfers_received_total", "counter", block["kv_transfers_received"]),
        ):
            lines.extend(["# TYPE %s %s" % (name, kind), "%s%s %s" % (name, labels, value)])
        return "\n".join(lines) + "\n"

    # generation endpoints

    def start_stream(self):
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def sse(self, data):
        payload = ("data: %s\n\n" % (data if isinstance(data, str) else json.dumps(data))).encode("utf-8")
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def end_stream(self):
        self.sse("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def run_stream(self, seed, prompt_tokens, max_tokens, pd, chunk):
        """Stream: headers go out only once generation started, so PD errors keep their status."""
        state = {"started": False}

        def emit(index, token):
            if not state["started"]:
                self.start_stream()
                state["started"] = True
            self.sse(chunk(index, token))

        try:
            ids = self.server.engine.run(seed, prompt_tokens, max_tokens, pd, emit)
        except SimError as exc:
            if not state["started"]:
                raise
            self.sse({"error": {"message": exc.message, "code": exc.status}})
            self.end_stream()
            return None
        if not state["started"]:  # max_tokens 0: nothing emitted, still a (short) stream
            self.start_stream()
        return ids

    def generate(self, body):
        engine = self.server.engine
        sampling = body.get("sampling_params") or {}
        max_tokens = token_limit(sampling.get("max_new_tokens"), "max_new_tokens")
        prompt = body.get("input_ids") if body.get("input_ids") is not None else body.get("text")
        batch = isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)
        prompts = prompt if batch else [prompt]
        rid = body.get("rid") or uuid.uuid4().hex

        def meta(prompt_tokens, count, started):
            return {
                "id": rid,
                "finish_reason": {"type": "length", "length": count},
                "prompt_tokens": prompt_tokens,
                "completion_tokens": count,
                "cached_tokens": 0,
                "e2e_latency": time.time() - started,
            }

        if body.get("stream") and not batch:
            seed, prompt_tokens = prompt_of(prompts[0])
            started, words = time.time(), []

            def chunk(index, token):
                words.append(VOCAB[token])
                return {"text": " ".join(words), "output_ids": [token], "meta_info": meta(prompt_tokens, index + 1, started)}

            if self.run_stream(seed, prompt_tokens, max_tokens, engine.pd_fields(body), chunk) is not None:
                self.end_stream()
            return None
        results = []
        for index, one in enumerate(prompts):
            seed, prompt_tokens = prompt_of(one)
            started = time.time()
            ids = engine.run(seed, prompt_tokens, max_tokens, engine.pd_fields(body, index))
            results.append({"text": " ".join(VOCAB[t] for t in ids), "output_ids": ids, "meta_info": meta(prompt_tokens, len(ids), started)})
        return self.send_json(200, results if batch else results[0])

    def openai(self, body, kind):
        engine = self.server.engine
        if kind == "chat":
            seed, prompt_tokens = prompt_of(body.get("messages") or [])
        else:
            prompt = body.get("prompt")
            seed, prompt_tokens = prompt_of(prompt[0] if isinstance(prompt, list) and prompt and isinstance(prompt[0], str) else prompt)
        name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        max_tokens = token_limit(body.get(name), name)
        pd = engine.pd_fields(body)
        rid = "%s-%s" % ("chatcmpl" if kind == "chat" else "cmpl", uuid.uuid4().hex)
        obj = "chat.completion" if kind == "chat" else "text_completion"
        created = int(time.time())
        model = body.get("model") or engine.model_name

        def usage(count):
            return {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}

        def envelope(choice, chunk=False):
            return {"id": rid, "object": obj + (".chunk" if chunk and kind == "chat" else ""), "created": created, "model": model, "choices": [choice]}

        if body.get("stream"):
            final = {"count": 0}

            def chunk(index, token):
                final["count"] = index + 1
                text = VOCAB[token] if index == 0 else " " + VOCAB[token]
                if kind == "chat":
                    delta = {"role": "assistant", "content": text} if index == 0 else {"content": text}
                    return envelope({"index": 0, "delta": delta, "finish_reason": None}, chunk=True)
                return envelope({"index": 0, "text": text, "logprobs": None, "finish_reason": None}, chunk=True)

            if self.run_stream(seed, prompt_tokens, max_tokens, pd, chunk) is None:
                return None
            last = {"index": 0, "delta": {}, "finish_reason": "length"} if kind == "chat" else {"index": 0, "text": "", "finish_reason": "length"}
            self.sse(envelope(last, chunk=True))
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = envelope(last, chunk=True)
                tail["choices"], tail["usage"] = [], usage(final["count"])
                self.sse(tail)
            self.end_stream()
            return None
        ids = engine.run(seed, prompt_tokens, max_tokens, pd)
        text = " ".join(VOCAB[t] for t in ids)
        if kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "length"}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}
        response = envelope(choice)
        response["usage"] = usage(len(ids))
        return self.send_json(200, response)

    def chat(self, body):
        return self.openai(body, "chat")

    def completions(self, body):
        return self.openai(body, "completion")


# --- multi-node ranks ---------------------------------------------------------------------------


def split_addr(addr):
    host, _sep, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class RankServer(object):
    """Rank 0 of a multi-node instance: waits for ranks 1..N-1 on the --dist-init-addr port."""

    def __init__(self, args):
        self.args = args
        self.members = {}
        self.lock = threading.Lock()
        port = split_addr(args.dist_init_addr)[1]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("", port))
        self.sock.listen(64)
        log("rank 0: waiting for %d more rank(s) on port %d (dist-init-addr %s)" % (args.nnodes - 1, port, args.dist_init_addr))
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def joined(self):
        with self.lock:
            return sorted(self.members)

    def complete(self):
        return len(self.joined()) == self.args.nnodes - 1

    def accept_loop(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.member, args=(conn, peer), daemon=True).start()

    def member(self, conn, peer):
        conn.settimeout(10)
        try:
            hello = json.loads(conn.makefile("r").readline() or "{}")
        except (OSError, ValueError):
            conn.close()
            return
        rank = hello.get("node_rank")
        problem = None
        if hello.get("nnodes") != self.args.nnodes:
            problem = "nnodes %s differs from rank 0's %s" % (hello.get("nnodes"), self.args.nnodes)
        elif hello.get("model_path") != self.args.model_path:
            problem = "model %s differs from rank 0's %s" % (hello.get("model_path"), self.args.model_path)
        elif not isinstance(rank, int) or not 0 < rank < self.args.nnodes:
            problem = "node rank %r is outside 1..%d" % (rank, self.args.nnodes - 1)
        with self.lock:
            if problem is None and rank in self.members:
                problem = "node rank %d already joined from %s" % (rank, self.members[rank])
            if problem is None:
                self.members[rank] = peer[0]
        if problem:
            log("rank 0: refused %s: %s" % (peer[0], problem))
            conn.sendall(("ERR %s\n" % problem).encode("utf-8"))
            conn.close()
            return
        conn.sendall(b"OK\n")
        log("rank 0: node rank %d joined from %s (%d/%d ranks)" % (rank, peer[0], len(self.joined()) + 1, self.args.nnodes))
        conn.settimeout(None)
        try:
            while conn.recv(64):
                pass
        except OSError:
            pass
        with self.lock:
            self.members.pop(rank, None)
        log("rank 0: node rank %d left" % rank)


def follow_rank0(args, stop):
    """Ranks > 0: connect to rank 0 (retrying until it is up), then stay until it goes away."""
    host, port = split_addr(args.dist_init_addr)
    hello = json.dumps({"node_rank": args.node_rank, "nnodes": args.nnodes, "model_path": args.model_path}) + "\n"
    attempt = 0
    while not stop.is_set():
        try:
            conn = socket.create_connection((host, port), timeout=5)
        except OSError as exc:
            if attempt % 20 == 0:
                log("node rank %d: rank 0 at %s not reachable yet (%s); retrying" % (args.node_rank, args.dist_init_addr, exc))
            attempt += 1
            stop.wait(0.5)
            continue
        conn.sendall(hello.encode("utf-8"))
        reply = conn.makefile("r").readline().strip()
        if reply != "OK":
            log("node rank %d: rank 0 refused the join: %s" % (args.node_rank, reply or "connection closed"))
            return 1
        log("node rank %d: joined rank 0 at %s" % (args.node_rank, args.dist_init_addr))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        conn.settimeout(0.2)
        while not stop.is_set():
            try:
                if not conn.recv(64):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        if stop.is_set():
            conn.close()
            return 0
        log("node rank %d: rank 0 at %s went away; exiting" % (args.node_rank, args.dist_init_addr))
        return 1
    return 0


# --- main ---------------------------------------------------------------------------------------

SPEC = None


def serve(server, name):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
    thread.start()
    return thread


def main(argv=None):
    global SPEC
    SPEC = load_spec()
    args = parse_args(sys.argv[1:] if argv is None else argv, SPEC)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log(
        "sglang engine simulator (parser of SGLang %s): model %s, tp %s, nnodes %s, node rank %s, disaggregation %s"
        % (SPEC.get("sglang"), args.model_path, args.tp_size, args.nnodes, args.node_rank, args.disaggregation_mode)
    )
    if args.nnodes > 1 and not args.dist_init_addr:
        sys.stderr.write("sglang simulator: --dist-init-addr is required when --nnodes > 1\n")
        return 2
    try:
        ib_devices = ib_devices_per_gpu(args)
    except ValueError as exc:
        sys.stderr.write("sglang simulator: --disaggregation-ib-device %s: %s\n" % (args.disaggregation_ib_device, exc))
        return 2
    if ib_devices:
        log("KV transfer devices: %s" % ", ".join("GPU %d %s" % item for item in sorted(ib_devices.items())))
    if args.nnodes > 1 and args.node_rank > 0:
        # Like SGLang 0.5.23 (engine.py: launch_dummy_health_check_server): ranks > 0 answer health only.
        health = Server((args.host, args.port), RankHealthHandler, None)
        serve(health, "rank-health")
        try:
            return follow_rank0(args, stop)
        finally:
            health.shutdown()
            health.server_close()
    engine = Engine(args)
    if args.nnodes > 1:
        engine.ranks = RankServer(args)
    servers = [Server((args.host, args.port), WorkerHandler, engine)]
    log("HTTP on %s:%d" % (args.host, args.port))
    if engine.mode == "prefill":
        servers.append(Server((args.host, args.disaggregation_bootstrap_port), BootstrapHandler, engine))
        log("prefill bootstrap on %s:%d" % (args.host, args.disaggregation_bootstrap_port))
    for index, server in enumerate(servers):
        serve(server, "http-%d" % index)
    while not stop.wait(0.5):
        pass
    log("SIGTERM: shutting down")
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
