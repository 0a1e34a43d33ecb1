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
      ``/v1/chat/completions``, ``/flush_cache``) with ``--api-key`` enforced on every path but
      ``/health*``, ``/ready`` and ``/metrics`` (SGLang's exemptions);
    * serves the load endpoints of the SGLang release it stands in for (the release its parser spec
      is named after, ``server_args/<release>.json``, see simulated_release), in that release's JSON
      shape: ``/v1/loads`` from 0.5.8, ``/get_load`` up to 0.5.20, ``/metrics`` only with
      ``--enable-metrics``. They count the requests it serves, per DP rank (``--dp-size`` or
      ``--attn-dp-size`` ranks, taken in turn): waiting (for one of ``--max-running-requests`` running
      slots of the rank, or a decode for its KV), running, and a prefill's KV waiting for its decode to
      pull it (SGLang's inflight queue);
    * plays the PD handshake: a prefill also listens on ``--disaggregation-bootstrap-port`` and
      publishes "KV" per ``bootstrap_room``; a decode pulls that room from the request's
      ``bootstrap_host:bootstrap_port`` and fails with a 500 naming both when nothing arrives, so a
      wrong pairing fails as it would on GPUs;
    * joins the ranks of a multi-node instance over ``--dist-init-addr`` (rank 0 listens, the others
      connect and exit when rank 0 goes away); rank 0 reports 503 on ``/health`` until all joined;
    * reads ``--disaggregation-ib-device`` of a prefill or decode as SGLang does (a comma list, inline
      JSON or a ``.json`` file mapping GPU ids to devices) and refuses to start, naming the reason, when
      the mapping is malformed or misses a GPU of this node;
    * answers malformed input on every port as SGLang's server does, with a 4xx and a JSON error, never
      a 500 or a hung thread: a body that is not a JSON object, fields of the wrong type (checked as
      SGLang's request models check them), token limits beyond the context length, a bad or short
      Content-Length (408 after GPUFLEET_SIMULATOR_READ_TIMEOUT_S, 413 above 16 MiB, unread), unknown
      paths (404) and methods (405); rank 0 takes only hellos of its own instance's ranks.

What it is not
    No model, tokenizer, GPU, NCCL or real KV transfer: the generated text is a deterministic
    sequence of words derived from the prompt, exactly ``max_tokens`` long (default 16), and
    "tokens" are whitespace-separated words. Beyond the IB device mapping it validates argv syntax
    only, not SGLang's semantic checks (those need the model config and a GPU).

Environment (never argv, so the argv stays SGLang's):
    GPUFLEET_SIMULATOR_ARGS_SPEC   parser spec JSON (default, and fallback when the file is missing:
                                   the newest server_args/*.json beside this file); its name
                                   (<release>.json) is the release simulated
    GPUFLEET_SIMULATOR_PREFILL_MS  simulated prefill latency per request (default 20)
    GPUFLEET_SIMULATOR_TOKEN_MS    simulated latency per generated token (default 5)
    GPUFLEET_SIMULATOR_STARTUP_S   simulated model load time before /health turns 200 (default 1)
    GPUFLEET_SIMULATOR_KV_TIMEOUT_S  how long a decode waits for a room's KV, and a prefill for its
                                   decode to pull it (default 30)
    GPUFLEET_SIMULATOR_READ_TIMEOUT_S  how long an HTTP client may take to send a request, and an idle
                                   keep-alive connection stays open (default 10)
    GPUFLEET_SIMULATOR_HELLO_TIMEOUT_S  how long rank 0 waits for a joining rank's hello, and a rank
                                   for rank 0's answer (default 10)
"""

from __future__ import absolute_import, division, print_function

import argparse
import decimal
import glob
import hashlib
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text, limit=None):
    """TEXT on one line: control and non-ASCII characters escaped, cut at LIMIT characters."""
    text = text if isinstance(text, str) else repr(text)
    text = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)), text.encode("ascii", "backslashreplace").decode("ascii"))
    return text if limit is None or len(text) <= limit else text[:limit] + "..."


def log(message):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), printable(message)))
    sys.stdout.flush()


def env_float(name, default):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        sys.stderr.write("sglang simulator: %s=%r is not a finite number >= 0\n" % (name, raw))
        sys.exit(2)
    return value


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


def release_key(release):
    """``0.5.6.post2`` -> (0, 5, 6, 2): the numbers of a release, in the order releases come."""
    return tuple(int(n) for n in re.findall(r"[0-9]+", str(release or "")))


def simulated_release(spec_path, spec):
    """The SGLang release this simulator stands in for: the one its parser spec is named after
    (``server_args/<release>.json``, the plan's release profile, even when that file is missing and argv is
    checked against another release's table), else the release the spec was generated from."""
    name = os.path.basename(spec_path or "")
    if name.endswith(".json") and re.match(r"^[0-9]+(\.[0-9]+)*((\.)?post[0-9]+)?$", name[: -len(".json")]):
        return name[: -len(".json")]
    return (spec or {}).get("sglang")


# The load endpoints of SGLang's HTTP server (sglang/srt/entrypoints/http_server.py and v1_loads.py of each
# release's wheel): /v1/loads from 0.5.8; /get_load up to 0.5.20 (deprecated in 0.5.8, gone in 0.5.21);
# /metrics in every release, but only with --enable-metrics.
V1_LOADS_SINCE = (0, 5, 8)
GET_LOAD_GONE = (0, 5, 21)
# Requests one DP rank runs at once when --max-running-requests is not set (SGLang derives it from the KV
# cache's size; the simulator has none).
DEFAULT_MAX_RUNNING_REQUESTS = 4096


def load_endpoints(release, enable_metrics):
    """The load endpoints a worker of RELEASE serves."""
    key = release_key(release)
    endpoints = []
    if key >= V1_LOADS_SINCE:
        endpoints.append("/v1/loads")
    if key < GET_LOAD_GONE:
        endpoints.append("/get_load")
    if enable_metrics:
        endpoints.append("/metrics")
    return endpoints


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


# SGLang 0.5.6.post2 and 0.5.8 store --tp-size, --pp-size, --dp-size and --ep-size under their long names and
# copy them to the short ones in ServerArgs.from_cli_args; 0.5.23's parser stores the short ones itself.
LONG_DESTS = (("tensor_parallel_size", "tp_size"), ("pipeline_parallel_size", "pp_size"),
              ("data_parallel_size", "dp_size"), ("expert_parallel_size", "ep_size"))


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
    for long_name, short_name in LONG_DESTS:
        if hasattr(args, long_name) and not hasattr(args, short_name):
            setattr(args, short_name, getattr(args, long_name))
    return args


def human_readable_int(value):
    """``--context-length`` as SGLang 0.5.23 reads it (utils/common.py human_readable_int): ``131072``,
    SI ``128k`` / ``25.6k`` or IEC ``128Ki``; None for anything else."""
    text = str(value).strip()
    match = re.match(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)$", text)
    if match:
        number, suffix = match.groups()
        if suffix.endswith("i"):
            return None if "." in number else int(number) * 2 ** {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40}[suffix]
        return int(decimal.Decimal(number) * 10 ** {"k": 3, "M": 6, "G": 9, "T": 12}[suffix])
    return int(text) if re.match(r"^-?[0-9]+$", text) else None


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
    """An error answered to the client: STATUS and MESSAGE; CLOSE when the connection cannot go on
    (the request's framing is broken, so where the next request starts is unknown)."""

    def __init__(self, status, message, close=False):
        super(SimError, self).__init__(message)
        self.status = status
        self.message = message
        self.close = close


def bad(message):
    return SimError(400, message)


# --- request validation -------------------------------------------------------------------------
# SGLang's FastAPI server validates bodies with pydantic and answers 400 (never 500) for a field of
# the wrong type; these checks do the same for the fields the simulator reads or that routers send.
# They are stricter than pydantic's lax mode in one way: a number must be a JSON number and a
# boolean a JSON boolean (pydantic also takes "8" and true for an integer).


def _refuse_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number %s is out of range" % printable(text, 40))
    return value


def parse_json(raw):
    """The JSON of a request body (bytes); SimError 400 for anything that is not JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad("Invalid JSON body: the body is not UTF-8 (%s)" % exc)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise bad("Invalid JSON body: nested too deeply")
    except ValueError as exc:
        raise bad("Invalid JSON body: %s" % printable(str(exc), 200))


_JSON_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"), (dict, "an object"))


def describe(value):
    """``a string "x"``: a value's JSON type, and for a scalar a short rendering, for error messages."""
    if value is None:
        return "null"
    kind = next((label for cls, label in _JSON_TYPES if isinstance(value, cls)), type(value).__name__)
    if isinstance(value, (list, dict)):
        return "%s of %d item(s)" % (kind, len(value))
    return "%s %s" % (kind, printable(json.dumps(value), 40))


def as_int(value, name, minimum=None, maximum=None):
    """VALUE as an integer: a JSON integer, or a number without a fractional part (as pydantic reads it)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("%s: Input should be a valid integer, got %s" % (name, describe(value)))
    if minimum is not None and value < minimum:
        raise bad("%s must be at least %d, got %d" % (name, minimum, value))
    if maximum is not None and value > maximum:
        raise bad("%s must be at most %d, got %d" % (name, maximum, value))
    return value


def as_number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad("%s: Input should be a valid number, got %s" % (name, describe(value)))
    return value


def as_bool(value, name):
    if not isinstance(value, bool):
        raise bad("%s: Input should be a valid boolean, got %s" % (name, describe(value)))
    return value


def as_str(value, name):
    if not isinstance(value, str):
        raise bad("%s: Input should be a valid string, got %s" % (name, describe(value)))
    return value


def as_object(value, name):
    if not isinstance(value, dict):
        raise bad("%s: Input should be a valid object, got %s" % (name, describe(value)))
    return value


def optional(check):
    return lambda value, name: None if value is None else check(value, name)


def one_or_list(check):
    """A value, or a list of them (SGLang's Union[List[X], X] of batch requests)."""

    def checked(value, name):
        if isinstance(value, list):
            return [check(item, "%s[%d]" % (name, index)) for index, item in enumerate(value)]
        return check(value, name)

    return checked


def as_strings(value, name):
    """``stop``: a string or a list of strings."""
    return one_or_list(as_str)(value, name)


def as_number_map(value, name):
    """``logit_bias``: {token id: bias}."""
    as_object(value, name)
    for key, bias in value.items():
        as_number(bias, "%s[%s]" % (name, printable(key, 20)))
    return value


def as_stream_options(value, name):
    as_object(value, name)
    for key in ("include_usage", "continuous_usage_stats"):
        optional(as_bool)(value.get(key), "%s.%s" % (name, key))
    return value


_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]{1,255}$")


def as_host(value, name):
    """A bootstrap host: a name or an address, nothing a URL could be bent with."""
    as_str(value, name)
    if not _HOST.match(value):
        raise bad("%s: %s is not a host name or address" % (name, describe(value)))
    return value


def as_port(value, name):
    return as_int(value, name, 1, 65535)


def as_room(value, name):
    return as_int(value, name, 0, 2**64 - 1)


PD_FIELDS = {
    "bootstrap_host": optional(one_or_list(as_host)),
    "bootstrap_port": optional(one_or_list(optional(as_port))),
    "bootstrap_room": optional(one_or_list(as_room)),
    "rid": optional(one_or_list(as_str)),
}
OPENAI_FIELDS = dict(
    PD_FIELDS,
    model=as_str,
    frequency_penalty=as_number,
    presence_penalty=as_number,
    logit_bias=optional(as_number_map),
    n=as_int,
    seed=optional(as_int),
    stop=optional(as_strings),
    stream=as_bool,
    stream_options=optional(as_stream_options),
    user=optional(as_str),
)
# SGLang's ChatCompletionRequest and CompletionRequest (entrypoints/openai/protocol.py).
CHAT_FIELDS = dict(
    OPENAI_FIELDS,
    logprobs=as_bool,
    top_logprobs=optional(as_int),
    max_tokens=optional(as_int),
    max_completion_tokens=optional(as_int),
    temperature=optional(as_number),
    top_p=optional(as_number),
)
COMPLETION_FIELDS = dict(
    OPENAI_FIELDS,
    echo=as_bool,
    logprobs=optional(as_int),
    max_tokens=as_int,
    suffix=optional(as_str),
    temperature=as_number,
    top_p=as_number,
)
# SGLang's GenerateReqInput (managers/io_struct.py); sampling_params and the prompt are checked apart.
GENERATE_FIELDS = dict(PD_FIELDS, stream=as_bool)
MAX_CHOICES = 128  # n: SGLang sets no bound; the simulator generates the choices one after another


def check_fields(body, fields):
    """Each present field of BODY against FIELDS; returns BODY with the checked values."""
    for name, check in fields.items():
        if name in body:
            body[name] = check(body[name], name)
    return body


def as_messages(value, name="messages"):
    """Chat messages: a non-empty list of {"role": str, "content": str | [parts] | null}."""
    if not isinstance(value, list):
        raise bad("%s: Input should be a valid list, got %s" % (name, describe(value)))
    if not value:
        raise bad("Messages cannot be empty.")
    for index, message in enumerate(value):
        where = "%s[%d]" % (name, index)
        as_object(message, where)
        if "role" not in message:
            raise bad("%s.role: Field required" % where)
        as_str(message["role"], where + ".role")
        content = message.get("content")
        if isinstance(content, list):
            for number, part in enumerate(content):
                as_object(part, "%s.content[%d]" % (where, number))
                optional(as_str)(part.get("text"), "%s.content[%d].text" % (where, number))
        elif content is not None:
            as_str(content, where + ".content")
    return value


def as_prompt(value, name="prompt"):
    """A completion prompt: text, texts, token ids or lists of token ids; not empty ("Prompt cannot be empty")."""
    if isinstance(value, list) and value and all(isinstance(item, list) for item in value):
        value = [as_token_ids(item, "%s[%d]" % (name, index)) for index, item in enumerate(value)]
    elif isinstance(value, list) and value and not isinstance(value[0], str):
        value = as_token_ids(value, name)
    elif isinstance(value, list):
        value = [as_str(item, "%s[%d]" % (name, index)) for index, item in enumerate(value)]
    elif value is not None:
        as_str(value, name)
    else:
        raise bad("%s: Field required" % name)
    if not value or (isinstance(value, list) and all(not item for item in value)):
        raise bad("Prompt cannot be empty")
    return value


def as_token_ids(value, name):
    if not isinstance(value, list):
        raise bad("%s: Input should be a valid list of token ids, got %s" % (name, describe(value)))
    if not value:
        raise bad("%s: the list of token ids is empty" % name)
    return [as_int(token, "%s[%d]" % (name, index), 0) for index, token in enumerate(value)]


def generate_prompts(body):
    """(prompts, batch) of a /generate body: its texts or token id lists, checked as GenerateReqInput does."""
    ids, text = body.get("input_ids"), body.get("text")
    if ids is None and text is None:
        raise bad("Either text, input_ids or input_embeds should be provided.")
    if ids is not None:
        if isinstance(ids, list) and ids and all(isinstance(item, list) for item in ids):
            return [as_token_ids(item, "input_ids[%d]" % index) for index, item in enumerate(ids)], True
        return [as_token_ids(ids, "input_ids")], False
    if isinstance(text, list):
        if not text:
            raise bad("text: the list of texts is empty")
        return [as_str(item, "text[%d]" % index) for index, item in enumerate(text)], True
    return [as_str(text, "text")], False


def generate_sampling(body, count):
    """The sampling params of each of COUNT prompts: one object for all, or a list of one per prompt."""
    params = body.get("sampling_params")
    if params is None:
        params = {}
    if isinstance(params, list):
        if len(params) != count:
            raise bad("sampling_params: %d objects for %d prompt(s)" % (len(params), count))
        params = [as_object(item, "sampling_params[%d]" % index) for index, item in enumerate(params)]
    else:
        params = [as_object(params, "sampling_params")] * count
    for one in params:
        if one.get("max_new_tokens") is not None:
            one["max_new_tokens"] = as_int(one["max_new_tokens"], "max_new_tokens")
            if one["max_new_tokens"] < 0:
                raise bad("max_new_tokens must be at least 0, got %d." % one["max_new_tokens"])
    return params


def check_batch_fields(body, count):
    """A list-valued PD or rid field of a batch holds one value per prompt."""
    for name in PD_FIELDS:
        value = body.get(name)
        if isinstance(value, list) and len(value) != count:
            raise bad("%s: %d values for %d prompt(s)" % (name, len(value), count))


def prompt_of(value):
    """(seed text, prompt token count) of a checked prompt: text, token ids, or chat messages."""
    if value is None:
        return "", 1
    if isinstance(value, list) and value and isinstance(value[0], int):
        return " ".join(str(v) for v in value), len(value)
    if isinstance(value, list):
        parts = []
        for message in value:
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, list):
                content = " ".join(p.get("text") or "" for p in content if isinstance(p, dict))
            parts.append("%s: %s" % (message.get("role", "") if isinstance(message, dict) else "", content or ""))
        text = "\n".join(parts)
    else:
        text = str(value)
    return text, max(1, len(text.split()))


def token_budget(prompt_tokens, max_tokens, context_length):
    """The number of tokens to generate, checked against the context length as SGLang's tokenizer
    manager checks it (_validate_one_request); None asks for the default."""
    if prompt_tokens >= context_length:
        raise bad("The input (%d tokens) is longer than the model's context length (%d tokens)." % (prompt_tokens, context_length))
    if max_tokens is None:
        return min(DEFAULT_MAX_TOKENS, context_length - prompt_tokens)
    if max_tokens + prompt_tokens > context_length:
        raise bad(
            "Requested token count exceeds the model's maximum context length of %d tokens. You requested a total of %d "
            "tokens: %d tokens from the input messages and %d tokens for the completion. Please reduce the number of "
            "tokens in the input messages or the completion to fit within the limit." % (context_length, max_tokens + prompt_tokens, prompt_tokens, max_tokens)
        )
    return max_tokens


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


class Slot(object):
    """Where one request is: waiting (for a running slot, or a decode for its KV), running, or transferring
    (a prefill's KV, computed, until its decode pulled it: SGLang's inflight queue, which holds no running slot)."""

    def __init__(self, rank):
        self.rank = rank
        self.state = None


class Engine(object):
    def __init__(self, args, release=None):
        self.args = args
        self.release = release or (SPEC.get("sglang") if SPEC else None)
        self.endpoints = load_endpoints(self.release, getattr(args, "enable_metrics", False))
        self.mode = args.disaggregation_mode or "null"
        self.prefill_s = env_float("GPUFLEET_SIMULATOR_PREFILL_MS", 20) / 1000.0
        self.token_s = env_float("GPUFLEET_SIMULATOR_TOKEN_MS", 5) / 1000.0
        self.kv_timeout = env_float("GPUFLEET_SIMULATOR_KV_TIMEOUT_S", 30)
        self.loaded_at = time.time() + env_float("GPUFLEET_SIMULATOR_STARTUP_S", 1)
        self.started = time.time()
        self.model_name = args.served_model_name or args.model_path
        self.context_length = human_readable_int(args.context_length or 131072)  # what /v1/models advertises
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
        # Requests per DP rank (SGLang runs a scheduler per rank; requests go to them in turn), by state.
        self.dp_ranks = max(1, getattr(args, "dp_size", None) or 1, getattr(args, "attn_dp_size", None) or 1)
        limit = getattr(args, "max_running_requests", None) or 0
        self.max_running = limit if limit > 0 else DEFAULT_MAX_RUNNING_REQUESTS
        self.states = {state: [0] * self.dp_ranks for state in ("waiting", "running", "transferring")}
        self.next_rank = 0
        self.slots = threading.Condition(self.lock)

    @property
    def running(self):
        return sum(self.states["running"])

    def enter(self):
        """A new request: waiting on the next DP rank."""
        with self.lock:
            slot = Slot(self.next_rank)
            self.next_rank = (self.next_rank + 1) % self.dp_ranks
            self._move(slot, "waiting")
        return slot

    def _move(self, slot, state):
        if slot.state:
            self.states[slot.state][slot.rank] -= 1
        if state:
            self.states[state][slot.rank] += 1
        slot.state = state
        self.slots.notify_all()

    def move(self, slot, state):
        with self.lock:
            self._move(slot, state)

    def start_running(self, slot):
        """Wait for a running slot of the request's DP rank (--max-running-requests), then run."""
        with self.slots:
            while self.states["running"][slot.rank] >= self.max_running:
                self.slots.wait()
            self._move(slot, "running")

    def loads(self):
        """[(waiting, running, transferring)] per DP rank."""
        with self.lock:
            return list(zip(self.states["waiting"], self.states["running"], self.states["transferring"]))

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
            block["running_requests"] = sum(self.states["running"])
            block["waiting_requests"] = sum(self.states["waiting"])
            block["transferring_requests"] = sum(self.states["transferring"])
        block.update(
            {
                "engine": "gpufleet sglang_engine_simulator",
                "spec_sglang_version": SPEC.get("sglang") if SPEC else None,
                "release": self.release,
                "load_endpoints": list(self.endpoints),
                "disaggregation_mode": self.mode,
                "ready": self.ready(),
                "ranks_joined": self.ranks.joined() if self.ranks else [],
                "prefill_ms": self.prefill_s * 1000,
                "token_ms": self.token_s * 1000,
            }
        )
        return block

    def pd_fields(self, body, index=0):
        """(host, port, room) of prompt INDEX; list-valued fields were checked to hold one per prompt."""

        def pick(name):
            value = body.get(name)
            return value[index] if isinstance(value, list) else value

        return pick("bootstrap_host"), pick("bootstrap_port"), pick("bootstrap_room")

    def run(self, seed, prompt_tokens, max_tokens, pd, emit=None):
        """Generate ``max_tokens`` tokens for ``seed``; ``emit(token_index, vocab_index)`` streams."""
        host, port, room = pd
        if self.mode != "null" and room is None:
            raise SimError(400, "Invalid request: Disaggregated request received without bootstrap room id.")
        fake = host == FAKE_BOOTSTRAP_HOST
        slot = self.enter()
        try:
            if self.mode == "decode" and not fake:
                self._pull_kv(seed, host, port, room)  # waiting, as in SGLang's decode transfer queue
            self.start_running(slot)
            if self.mode == "prefill":
                return self._prefill(seed, prompt_tokens, room, fake, emit, slot)
            if self.mode != "decode":
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
            self.move(slot, None)

    def _prefill(self, seed, prompt_tokens, room, fake, emit, slot):
        time.sleep(self.prefill_s)
        ids = tokens_for(seed, 1)  # a prefill server returns the first token only
        if not fake:
            self.move(slot, "transferring")
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
                    record = json.loads(response.read(MAX_BODY_BYTES).decode("utf-8"))
                if isinstance(record, dict):
                    break
                record, last_error = None, "the answer is not a bootstrap room"  # not a prefill's bootstrap port
                time.sleep(0.2)
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
# Every port answers malformed input with a 4xx and goes on serving: the body's framing is checked
# before anything reads it (Content-Length a single decimal number, at most MAX_BODY_BYTES, or a
# well-formed chunked body), every read of a request has a deadline (READ_TIMEOUT_S: a client that
# stops sending gets a 408 and its thread ends), unknown paths are 404 and other methods 405.

MAX_BODY_BYTES = 16 * 1024 * 1024  # larger bodies are refused with 413, unread
MAX_LINE_BYTES = 1024  # a chunk-size or trailer line
DRAIN_SECONDS = 1.0  # after an error that closes: how long unread input is discarded, so the client gets the answer
DRAIN_BYTES = 1024 * 1024


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, engine, read_timeout=10.0):
        self.engine = engine
        self.read_timeout = read_timeout
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        HTTPServer.__init__(self, address, handler)

    def handle_error(self, request, client_address):
        # A client that resets its connection between requests is no bug: one line, not a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log("%s: connection dropped: %s" % (client_address[0], error))
            return
        HTTPServer.handle_error(self, request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A request line without a version is answered with a status line too (the stdlib's HTTP/0.9 has none).
    default_request_version = "HTTP/1.1"
    server_version = "sglang-simulator"
    ROUTES = {}  # path: methods

    def setup(self):
        # StreamRequestHandler applies it to the socket: reading a request line or headers, or an idle
        # keep-alive connection, times out (and closes) after it.
        self.timeout = self.server.read_timeout
        self.drain = False
        BaseHTTPRequestHandler.setup(self)

    def log_message(self, fmt, *args):  # replaced by one line per request in handle_one()
        pass

    def __getattr__(self, name):
        # do_<METHOD> for every method, known or not: the route answers 404 or 405 (the stdlib: 501)
        if name.startswith("do_"):
            return lambda: self.handle_one(name[3:])
        raise AttributeError(name)

    def handle_expect_100(self):
        """``Expect: 100-continue``: refuse a body that would be refused anyway before the client sends it."""
        try:
            self.body_framing()
        except SimError as exc:
            self.status, self.headers_sent = 0, False
            self.fail(exc)
            return False
        return BaseHTTPRequestHandler.handle_expect_100(self)

    def methods_of(self, path):
        """The methods PATH answers, or None for an unknown path."""
        return self.ROUTES.get(path)

    def handle_one(self, method):
        start = time.time()
        self.status, self.headers_sent = 0, False
        parsed = urllib.parse.urlsplit(self.path)
        try:
            raw = self.read_body()
            self.dispatch(method, parsed.path, urllib.parse.parse_qs(parsed.query, keep_blank_values=True), raw)
        except SimError as exc:
            self.fail(exc)
        except OSError:  # the client went away or stopped reading (BrokenPipe, ConnectionReset, timeout)
            self.close_connection = True
        except Exception as exc:  # a bug: answer 500 without internals, keep the trace in the journal
            log("internal error on %s %s: %r" % (method, parsed.path, exc))
            traceback.print_exc()
            self.fail(SimError(500, "Internal Server Error", close=True))
        log(
            "%s %s %s %s %.1fms"
            % (self.client_address[0], printable(method, 20), printable(parsed.path, 200), self.status or "-", (time.time() - start) * 1000)
        )

    def dispatch(self, method, path, query, raw):
        methods = self.methods_of(path)
        if methods is None:
            return self.not_found()
        if method not in methods:
            return self.not_allowed(methods)
        return self.route(method, path, query, raw)

    def not_found(self):
        raise SimError(404, "Not Found")

    def not_allowed(self, methods):
        self.allow = methods
        raise SimError(405, "Method Not Allowed")

    def fail(self, exc):
        """Answer EXC, unless a response is already under way (then only close)."""
        if exc.close:
            self.close_connection = True
            self.drain = True
        if self.headers_sent:
            self.close_connection = True
            return
        try:
            self.send_error_json(exc.status, exc.message)
        except OSError:
            self.close_connection = True

    # request bodies

    def body_framing(self):
        """("chunked", None) or ("length", N) for the request's body; SimError (closing) when malformed or too large."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise SimError(400, "Content-Length and Transfer-Encoding together", close=True)
            codings = [c.strip().lower() for value in encodings for c in value.split(",") if c.strip()]
            if codings != ["chunked"]:
                raise SimError(400, "Transfer-Encoding %s is not supported (only chunked)" % printable(", ".join(encodings), 60), close=True)
            return "chunked", None
        if not lengths:
            return "length", 0
        if len(lengths) != 1 or not re.match(r"^[0-9]+$", lengths[0].strip()):
            raise SimError(400, "Content-Length %s is not a length" % printable(", ".join(lengths), 60), close=True)
        text = lengths[0].strip().lstrip("0") or "0"
        if len(text) > 12 or int(text) > MAX_BODY_BYTES:
            raise SimError(413, "The request body (%s bytes) is larger than %d bytes" % (printable(text, 30), MAX_BODY_BYTES), close=True)
        return "length", int(text)

    def read_body(self):
        kind, length = self.body_framing()
        if kind == "length" and not length:
            return b""
        deadline = time.time() + self.server.read_timeout
        try:
            if kind == "length":
                return self.read_exact(length, deadline)
            return self.read_chunked(deadline)
        except socket.timeout:
            raise SimError(408, "The request body did not arrive within %gs" % self.server.read_timeout, close=True)
        finally:
            try:
                self.connection.settimeout(self.server.read_timeout)
            except OSError:
                pass

    def read_exact(self, length, deadline):
        parts, left = [], length
        while left:
            self.connection.settimeout(max(0.01, deadline - time.time()))
            chunk = self.rfile.read1(min(left, 65536))
            if not chunk:
                raise SimError(400, "The request body ended after %d of %d bytes" % (length - left, length), close=True)
            parts.append(chunk)
            left -= len(chunk)
            if left and time.time() >= deadline:
                raise socket.timeout("body deadline")
        return b"".join(parts)

    def read_line(self, deadline):
        self.connection.settimeout(max(0.01, deadline - time.time()))
        line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not line.endswith(b"\n"):
            raise SimError(400, "Malformed chunked body: a line is cut or longer than %d bytes" % MAX_LINE_BYTES, close=True)
        return line

    def read_chunked(self, deadline):
        parts, total = [], 0
        while True:
            size = self.read_line(deadline).split(b";", 1)[0].strip()
            if not re.match(rb"^[0-9A-Fa-f]{1,16}$", size):
                raise SimError(400, "Malformed chunked body: chunk size %s is not hexadecimal" % printable(size.decode("latin-1"), 30), close=True)
            size = int(size, 16)
            if total + size > MAX_BODY_BYTES:
                raise SimError(413, "The request body is larger than %d bytes" % MAX_BODY_BYTES, close=True)
            if not size:
                break
            parts.append(self.read_exact(size, deadline))
            total += size
            if self.read_exact(2, deadline) != b"\r\n":
                raise SimError(400, "Malformed chunked body: a chunk is longer than its size", close=True)
        for _trailer in range(64):
            if self.read_line(deadline) in (b"\r\n", b"\n"):
                return b"".join(parts)
        raise SimError(400, "Malformed chunked body: too many trailer lines", close=True)

    def finish(self):
        BaseHTTPRequestHandler.finish(self)
        if self.drain:
            self.discard_input()

    def discard_input(self):
        """After an answer that closes the connection: stop sending, and read what the client still sends
        for a moment, so that closing does not reset the connection before it has read the answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline, read = time.time() + DRAIN_SECONDS, 0
            while read < DRAIN_BYTES and time.time() < deadline:
                self.connection.settimeout(max(0.01, deadline - time.time()))
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                read += len(chunk)
        except OSError:
            pass

    # responses

    def send_bytes(self, status, body, content_type="application/json"):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", ", ".join(getattr(self, "allow", ())))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.headers_sent = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, data):
        self.send_bytes(status, json.dumps(data).encode("utf-8"))

    def send_error_json(self, status, message):
        # SGLang's ErrorResponse (entrypoints/openai/protocol.py)
        kind = "BadRequestError" if status < 500 else "InternalServerError"
        self.send_json(status, {"object": "error", "message": message, "type": kind, "param": None, "code": status})


class BootstrapHandler(BaseHandler):
    """The prefill's bootstrap port: health, and the rooms decodes pull."""

    ROUTES = {"/health": ("GET",), "/route": ("GET",)}

    def methods_of(self, path):
        if re.match(r"^/kv/[^/]+$", path):
            return ("GET",)
        return self.ROUTES.get(path)

    def route(self, method, path, query, raw):
        engine = self.server.engine
        if path == "/health":
            return self.send_bytes(200, b"OK", "text/plain")
        if path == "/route":
            return self.send_json(200, {"role": "prefill", "tp_size": engine.args.tp_size, "simulator": True})
        room = urllib.parse.unquote(path[len("/kv/") :])
        if not re.match(r"^[0-9]{1,20}$", room):
            raise bad("room %s is not a bootstrap room id (a non-negative integer)" % printable(room, 40))
        timeout = engine.kv_timeout
        if "timeout" in query:
            text = query["timeout"][-1]
            try:
                timeout = float(text)
            except ValueError:
                timeout = float("nan")
            if not math.isfinite(timeout) or timeout < 0:
                raise bad("timeout %s is not a finite number of seconds >= 0" % printable(text, 40))
        timeout = min(timeout, engine.kv_timeout)
        record = engine.kv.pull(room, timeout, printable((query.get("puller") or ["?"])[-1], 100))
        if record is None:
            return self.send_error_json(408, "room %s not published within %gs" % (room, timeout))
        return self.send_json(200, record)


class RankHealthHandler(BaseHandler):
    """Ranks > 0: like SGLang's launch_dummy_health_check_server, health only on --port."""

    ROUTES = {"/health": ("GET",), "/health_generate": ("GET",), "/ping": ("GET",)}

    def route(self, method, path, query, raw):
        return self.send_bytes(200, b"", "text/plain")


class WorkerHandler(BaseHandler):
    """The SGLang worker HTTP API."""

    # The methods SGLang's FastAPI routes take (entrypoints/http_server.py).
    ROUTES = {
        "/health": ("GET",),
        "/health_generate": ("GET",),
        "/ready": ("GET",),
        "/get_server_info": ("GET",),
        "/server_info": ("GET",),
        "/get_model_info": ("GET",),
        "/model_info": ("GET",),
        "/v1/models": ("GET",),
        "/flush_cache": ("GET", "POST"),
        "/generate": ("POST", "PUT"),
        "/v1/completions": ("POST",),
        "/v1/chat/completions": ("POST",),
    }

    # The load endpoints: those of the simulated release (Engine.endpoints, load_endpoints()).
    LOAD_ROUTES = {"/v1/loads": ("GET",), "/get_load": ("GET",), "/metrics": ("GET",)}

    def methods_of(self, path):
        if path in self.LOAD_ROUTES:
            return self.LOAD_ROUTES[path] if path in self.server.engine.endpoints else None
        return self.ROUTES.get(path)

    def authorized(self, path):
        key = self.server.engine.args.api_key
        if not key or path.startswith(("/health", "/ready", "/metrics")):
            return True
        return self.headers.get("Authorization", "") == "Bearer %s" % key

    def dispatch(self, method, path, query, raw):
        if not self.authorized(path):
            return self.send_json(401, {"error": "Unauthorized"})
        return BaseHandler.dispatch(self, method, path, query, raw)

    def not_found(self):
        return self.send_json(404, {"detail": "Not Found"})  # FastAPI's

    def not_allowed(self, methods):
        self.allow = methods
        return self.send_json(405, {"detail": "Method Not Allowed"})

    def route(self, method, path, query, raw):
        engine = self.server.engine
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
        if path == "/v1/loads":
            return self.send_json(200, self.v1_loads(query))
        if path == "/get_load":
            return self.send_json(200, self.get_load())
        if path == "/flush_cache":
            engine.count(flush_cache=1)
            return self.send_bytes(200, b"Cache flushed.\n", "text/plain")
        if not engine.ready():
            raise SimError(503, "The server is not ready yet (model loading or ranks joining)")
        if not raw.strip():
            raise bad("The request body is empty: send a JSON object")
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise bad("The request body must be a JSON object, got %s" % describe(body))
        generators = {"/generate": self.generate, "/v1/completions": self.completions, "/v1/chat/completions": self.chat}
        return generators[path](body)

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
            "max_model_len": engine.context_length,
        }

    # load endpoints, as the simulated release shapes them (see load_endpoints)

    def v1_loads(self, query):
        """SGLang's /v1/loads: one entry per DP rank; 0.5.8's shape for 0.5.8, 0.5.23's for newer releases."""
        engine = self.server.engine
        ranks = list(enumerate(engine.loads()))
        if "dp_rank" in query:
            text = query["dp_rank"][-1]
            if not re.match(r"^-?[0-9]{1,9}$", text):
                raise bad("dp_rank: Input should be a valid integer, unable to parse string as an integer")
            ranks = [item for item in ranks if item[0] == int(text)]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        if release_key(engine.release) < (0, 5, 9):
            loads = [self.load_0_5_8(rank, *counts) for rank, counts in ranks]
            count = len(loads) or 1
            return {
                "timestamp": stamp,
                "version": engine.release,
                "dp_rank_count": len(loads),
                "loads": loads,
                "aggregate": {
                    "total_running_reqs": sum(d["num_running_reqs"] for d in loads),
                    "total_waiting_reqs": sum(d["num_waiting_reqs"] for d in loads),
                    "total_reqs": sum(d["num_total_reqs"] for d in loads),
                    "avg_token_usage": 0.0,
                    "avg_throughput": 0.0,
                    "avg_utilization": round(sum(d["utilization"] for d in loads) / count, 4),
                },
            }
        args = engine.args
        accelerators = (args.tp_size or 1) * (getattr(args, "pp_size", None) or 1)
        return {
            "timestamp": stamp,
            "version": engine.release,
            "accelerator": None,  # get_device_name(): none without a GPU
            "num_accelerators": max(1, accelerators // engine.dp_ranks) if engine.dp_ranks > 1 else accelerators,
            "loads": [self.load_0_5_23(rank, *counts) for rank, counts in ranks],
        }

    def _disaggregation(self, transferring, prealloc_name):
        return {
            "mode": self.server.engine.mode,
            prealloc_name: 0,
            "prefill_inflight_queue_reqs": transferring,
            "decode_prealloc_queue_reqs": 0,
            "decode_transfer_queue_reqs": 0,
            "decode_retracted_queue_reqs": 0,
            "kv_transfer_speed_gb_s": 0.0,
            "kv_transfer_latency_ms": 0.0,
        }

    def load_0_5_23(self, rank, waiting, running, transferring):
        """A DP rank as 0.5.23's LoadSnapshot.to_dict() gives it (managers/load_snapshot.py): no memory section
        (there is no GPU), token counts 0 (there is no KV cache)."""
        engine = self.server.engine
        return {
            "timestamp": time.time(),
            "dp_rank": rank,
            "num_running_reqs": running,
            "num_waiting_reqs": waiting,
            "num_waiting_uncached_tokens": 0,
            "num_used_tokens": 0,
            "num_total_tokens": 0,
            "num_active_tokens": 0,
            "num_prealloc_ready_tokens": 0,
            "max_total_num_tokens": engine.context_length,
            "max_running_requests": engine.max_running,
            "token_usage": 0.0,
            "gen_throughput": 0.0,
            "cache_hit_rate": 0.0,
            "utilization": round(running / float(engine.max_running), 4),
            "total_prefill_uncached_tokens": 0,
            "total_prefill_busy_us": 0,
            "decode_moments": None,
            "disaggregation": self._disaggregation(transferring, "prefill_bootstrap_queue_reqs"),
            "queues": {"waiting": waiting, "grammar": 0, "paused": 0, "retracted": 0, "prealloc_ready": 0},
        }

    def load_0_5_8(self, rank, waiting, running, transferring):
        """A DP rank as 0.5.8's /v1/loads gives it (GetLoadsReqOutput without its None fields: no dp_rank
        without data parallelism, and num_total_reqs added)."""
        engine = self.server.engine
        load = {} if engine.dp_ranks == 1 else {"dp_rank": rank}
        load.update({
            "num_running_reqs": running,
            "num_waiting_reqs": waiting,
            "num_used_tokens": 0,
            "max_total_num_tokens": engine.context_length,
            "token_usage": 0.0,
            "gen_throughput": 0.0,
            "cache_hit_rate": 0.0,
            "utilization": round(running / float(engine.max_running), 4),
            "max_running_requests": engine.max_running,
            "disaggregation": self._disaggregation(transferring, "prefill_prealloc_queue_reqs"),
            "queues": {"waiting": waiting, "grammar": 0, "paused": 0, "retracted": 0},
            "num_total_reqs": running + waiting,
        })
        return load

    def get_load(self):
        """SGLang's /get_load (up to 0.5.20): GetLoadReqOutput per DP rank, num_reqs = running + waiting (a
        prefill's KV transfers under way are not counted); 0.5.8 added ts_tic. dp_rank is null without data
        parallelism."""
        engine = self.server.engine
        answer = []
        for rank, (waiting, running, _transferring) in enumerate(engine.loads()):
            load = {
                "rid": None,
                "http_worker_ipc": None,
                "dp_rank": rank if engine.dp_ranks > 1 else None,
                "num_reqs": running + waiting,
                "num_waiting_reqs": waiting,
                "num_tokens": 0,
            }
            if release_key(engine.release) >= (0, 5, 8):
                load["ts_tic"] = time.perf_counter()
            answer.append(load)
        return answer

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
            ("sglang:num_queue_reqs", "gauge", block["waiting_requests"]),
            ("sglang:num_prefill_inflight_queue_reqs", "gauge", block["transferring_requests"]),
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
        self.headers_sent = True

    def sse(self, data):
        payload = ("data: %s\n\n" % (data if isinstance(data, str) else json.dumps(data))).encode("utf-8")
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def end_stream(self):
        self.sse("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def run_stream(self, seed, prompt_tokens, max_tokens, pd, chunk, state=None):
        """Stream: headers go out only once generation started, so PD errors keep their status.
        STATE ({"started": bool}) is shared by the choices of one response."""
        state = {"started": False} if state is None else state

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
            state["started"] = True
        return ids

    def generate(self, body):
        engine = self.server.engine
        check_fields(body, GENERATE_FIELDS)
        prompts, batch = generate_prompts(body)
        check_batch_fields(body, len(prompts))
        sampling = generate_sampling(body, len(prompts))
        rid = body.get("rid") or uuid.uuid4().hex
        rids = rid if isinstance(rid, list) else [rid] * len(prompts)
        work = []
        for index, prompt in enumerate(prompts):
            seed, prompt_tokens = prompt_of(prompt)
            work.append((seed, prompt_tokens, token_budget(prompt_tokens, sampling[index].get("max_new_tokens"), engine.context_length)))

        def meta(index, prompt_tokens, count, started):
            return {
                "id": rids[index],
                "finish_reason": {"type": "length", "length": count},
                "prompt_tokens": prompt_tokens,
                "completion_tokens": count,
                "cached_tokens": 0,
                "e2e_latency": time.time() - started,
            }

        if body.get("stream") and not batch:
            seed, prompt_tokens, max_tokens = work[0]
            started, words = time.time(), []

            def chunk(index, token):
                words.append(VOCAB[token])
                return {"text": " ".join(words), "output_ids": [token], "meta_info": meta(0, prompt_tokens, index + 1, started)}

            if self.run_stream(seed, prompt_tokens, max_tokens, engine.pd_fields(body), chunk) is not None:
                self.end_stream()
            return None
        results = []
        for index, (seed, prompt_tokens, max_tokens) in enumerate(work):
            started = time.time()
            ids = engine.run(seed, prompt_tokens, max_tokens, engine.pd_fields(body, index))
            results.append({"text": " ".join(VOCAB[t] for t in ids), "output_ids": ids, "meta_info": meta(index, prompt_tokens, len(ids), started)})
        return self.send_json(200, results if batch else results[0])

    def openai(self, body, kind):
        engine = self.server.engine
        if kind == "chat":
            if "messages" not in body:
                raise bad("messages: Field required")
            check_fields(body, CHAT_FIELDS)
            seed, prompt_tokens = prompt_of(as_messages(body["messages"]))
            # SGLang: max_new_tokens = max_completion_tokens or max_tokens
            requested = body.get("max_completion_tokens") or body.get("max_tokens")
            if requested is not None and requested < 0:
                raise bad("max_new_tokens must be at least 0, got %d." % requested)
        else:
            if "prompt" not in body:
                raise bad("prompt: Field required")
            check_fields(body, COMPLETION_FIELDS)
            prompt = as_prompt(body["prompt"])
            seed, prompt_tokens = prompt_of(prompt[0] if isinstance(prompt, list) and isinstance(prompt[0], (str, list)) else prompt)
            requested = body.get("max_tokens", DEFAULT_MAX_TOKENS)
            if requested <= 0:
                raise bad("max_tokens must be positive")
        n = body.get("n", 1)
        if not 1 <= n <= MAX_CHOICES:
            raise bad("n must be between 1 and %d, got %d" % (MAX_CHOICES, n))
        if n > 1 and engine.mode != "null":
            raise bad("n > 1 is not supported with PD disaggregation by the engine simulator")
        check_batch_fields(body, 1)
        max_tokens = token_budget(prompt_tokens, requested, engine.context_length)
        # choice 0 continues the prompt as a single completion does; the others differ
        seeds = [seed] + ["%s\0choice %d" % (seed, choice) for choice in range(1, n)]
        pd = engine.pd_fields(body)
        rid = "%s-%s" % ("chatcmpl" if kind == "chat" else "cmpl", uuid.uuid4().hex)
        obj = "chat.completion" if kind == "chat" else "text_completion"
        created = int(time.time())
        model = body.get("model") or engine.model_name

        def usage(count):
            return {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}

        def envelope(choices, chunk=False):
            return {"id": rid, "object": obj + (".chunk" if chunk and kind == "chat" else ""), "created": created, "model": model, "choices": choices}

        def last(choice):
            if kind == "chat":
                return {"index": choice, "delta": {}, "finish_reason": "length"}
            return {"index": choice, "text": "", "finish_reason": "length"}

        if body.get("stream"):
            state, counts = {"started": False}, [0] * n
            for choice in range(n):

                def chunk(index, token, choice=choice):
                    counts[choice] = index + 1
                    text = VOCAB[token] if index == 0 else " " + VOCAB[token]
                    if kind == "chat":
                        delta = {"role": "assistant", "content": text} if index == 0 else {"content": text}
                        return envelope([{"index": choice, "delta": delta, "finish_reason": None}], chunk=True)
                    return envelope([{"index": choice, "text": text, "logprobs": None, "finish_reason": None}], chunk=True)

                if self.run_stream(seeds[choice], prompt_tokens, max_tokens, pd, chunk, state) is None:
                    return None
            for choice in range(n):
                self.sse(envelope([last(choice)], chunk=True))
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = envelope([], chunk=True)
                tail["usage"] = usage(sum(counts))
                self.sse(tail)
            self.end_stream()
            return None
        choices, generated = [], 0
        for choice in range(n):
            ids = engine.run(seeds[choice], prompt_tokens, max_tokens, pd)
            generated += len(ids)
            text = " ".join(VOCAB[t] for t in ids)
            if kind == "chat":
                choices.append({"index": choice, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "length"})
            else:
                choices.append({"index": choice, "text": text, "logprobs": None, "finish_reason": "length"})
        response = envelope(choices)
        response["usage"] = usage(generated)
        return self.send_json(200, response)

    def chat(self, body):
        return self.openai(body, "chat")

    def completions(self, body):
        return self.openai(body, "completion")


# --- multi-node ranks ---------------------------------------------------------------------------
# Ranks 1..N-1 connect to rank 0 on the --dist-init-addr port and send one line of JSON, the hello:
# their node rank and the settings that make the instance (rank_hello). Rank 0 refuses, with one
# "ERR <reason>" line, a hello that is not a JSON object of at most MAX_HELLO_BYTES, one that does
# not arrive within HELLO_TIMEOUT_S, a rank outside 1..N-1 or already joined, and a rank of another
# instance: one whose dist-init-addr, model, nnodes, parallel sizes or disaggregation mode differ.

MAX_HELLO_BYTES = 16 * 1024
# (args attribute, name in messages): what every rank of one instance shares (the plan gives them the same)
INSTANCE_FIELDS = (
    ("nnodes", "nnodes"),
    ("dist_init_addr", "dist-init-addr"),
    ("model_path", "model"),
    ("disaggregation_mode", "disaggregation mode"),
    ("tp_size", "tp size"),
    ("pp_size", "pp size"),
    ("dp_size", "dp size"),
    ("ep_size", "ep size"),
    ("enable_dp_attention", "dp attention"),
)


def split_addr(addr):
    host, _sep, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def rank_hello(args):
    """The hello a rank > 0 sends rank 0: its node rank, and what identifies its instance."""
    hello = dict((name, getattr(args, name, None)) for name, _label in INSTANCE_FIELDS)
    hello["node_rank"] = args.node_rank
    return hello


def read_hello_line(conn, timeout, limit=MAX_HELLO_BYTES):
    """The first line CONN sends, within TIMEOUT seconds in all; (line, None) or (None, problem)."""
    deadline, data = time.time() + timeout, b""
    while b"\n" not in data:
        if len(data) > limit:
            return None, "hello larger than %d bytes" % limit
        left = deadline - time.time()
        if left <= 0:
            return None, "no hello within %gs" % timeout
        conn.settimeout(left)
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            return None, "no hello within %gs" % timeout
        if not chunk:
            return None, "connection closed before a hello"
        data += chunk
    line = data.split(b"\n", 1)[0]
    if len(line) > limit:
        return None, "hello larger than %d bytes" % limit
    return line, None


def close_after(conn, reply):
    """Send REPLY, stop sending, and discard what the peer still sends for a moment before closing,
    so that the close does not reset the connection before the peer has read REPLY."""
    try:
        conn.sendall(reply)
        conn.shutdown(socket.SHUT_WR)
        deadline = time.time() + DRAIN_SECONDS
        while time.time() < deadline:
            conn.settimeout(max(0.01, deadline - time.time()))
            if not conn.recv(65536):
                break
    except OSError:
        pass
    finally:
        conn.close()


class RankServer(object):
    """Rank 0 of a multi-node instance: waits for ranks 1..N-1 on the --dist-init-addr port."""

    def __init__(self, args, hello_timeout=10.0):
        self.args = args
        self.hello_timeout = hello_timeout
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
            # One thread per connection, each with its own hello deadline: a silent peer holds no one up.
            threading.Thread(target=self.member, args=(conn, peer), daemon=True).start()

    def check_hello(self, line):
        """(node rank, None) for a hello of a rank of this instance, else (None, the reason)."""
        try:
            hello = json.loads(line.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
        except UnicodeDecodeError:
            return None, "malformed hello: not UTF-8"
        except (ValueError, RecursionError) as exc:
            return None, "malformed hello: not JSON (%s)" % printable(str(exc), 80)
        if not isinstance(hello, dict):
            return None, "malformed hello: %s, not a JSON object" % describe(hello)
        for name, label in INSTANCE_FIELDS:
            ours = getattr(self.args, name, None)
            if name not in hello:
                return None, "the hello has no %s (a rank of another version?)" % label
            if hello[name] != ours or isinstance(hello[name], bool) != isinstance(ours, bool):
                return None, "%s %s differs from rank 0's %s" % (label, printable(hello[name], 80), printable(ours, 80))
        rank = hello.get("node_rank")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 < rank < self.args.nnodes:
            return None, "node rank %s is outside 1..%d" % (printable(json.dumps(rank), 40), self.args.nnodes - 1)
        return rank, None

    def member(self, conn, peer):
        try:
            line, problem = read_hello_line(conn, self.hello_timeout)
            rank = None
            if problem is None:
                rank, problem = self.check_hello(line)
            with self.lock:
                if problem is None and rank in self.members:
                    problem = "node rank %d already joined from %s" % (rank, self.members[rank])
                if problem is None:
                    self.members[rank] = peer[0]
        except OSError as exc:
            log("rank 0: connection from %s failed: %s" % (peer[0], exc))
            conn.close()
            return
        if problem:
            log("rank 0: refused %s: %s" % (peer[0], problem))
            close_after(conn, ("ERR %s\n" % printable(problem, 300)).encode("utf-8"))
            return
        try:
            conn.sendall(b"OK\n")
            log("rank 0: node rank %d joined from %s (%d/%d ranks)" % (rank, peer[0], len(self.joined()) + 1, self.args.nnodes))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            conn.settimeout(None)
            while conn.recv(64):
                pass
        except OSError:
            pass
        finally:
            conn.close()
        with self.lock:
            self.members.pop(rank, None)
        log("rank 0: node rank %d left" % rank)


def follow_rank0(args, stop, hello_timeout=10.0):
    """Ranks > 0: connect to rank 0 (retrying until it is up and answers), then stay until it goes away."""
    host, port = split_addr(args.dist_init_addr)
    hello = (json.dumps(rank_hello(args)) + "\n").encode("utf-8")
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
        try:
            conn.sendall(hello)
            reply, problem = read_hello_line(conn, hello_timeout, limit=4096)
        except OSError as exc:
            reply, problem = None, "connection failed (%s)" % exc
        if reply is None and problem != "connection closed before a hello":
            log("node rank %d: no answer from rank 0 at %s: %s; retrying" % (args.node_rank, args.dist_init_addr, problem))
            conn.close()
            stop.wait(0.5)
            continue
        reply = printable((reply or b"").decode("utf-8", "replace").strip(), 300)
        if reply != "OK":
            log("node rank %d: rank 0 refused the join: %s" % (args.node_rank, reply or "connection closed"))
            conn.close()
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
        conn.close()
        if stop.is_set():
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
    release = simulated_release(os.environ.get("GPUFLEET_SIMULATOR_ARGS_SPEC"), SPEC)
    args = parse_args(sys.argv[1:] if argv is None else argv, SPEC)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log(
        "sglang engine simulator of SGLang %s (parser of SGLang %s): model %s, tp %s, nnodes %s, node rank %s, disaggregation %s"
        % (release, SPEC.get("sglang"), args.model_path, args.tp_size, args.nnodes, args.node_rank, args.disaggregation_mode)
    )
    if args.context_length is not None and (human_readable_int(args.context_length) or 0) <= 0:
        sys.stderr.write("sglang simulator: argument --context-length: invalid human_readable_int value: %r\n" % args.context_length)
        return 2
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
    read_timeout = max(env_float("GPUFLEET_SIMULATOR_READ_TIMEOUT_S", 10), 0.1)
    hello_timeout = max(env_float("GPUFLEET_SIMULATOR_HELLO_TIMEOUT_S", 10), 0.1)
    if args.nnodes > 1 and args.node_rank > 0:
        # Like SGLang 0.5.23 (engine.py: launch_dummy_health_check_server): ranks > 0 answer health only.
        health = Server((args.host, args.port), RankHealthHandler, None, read_timeout)
        serve(health, "rank-health")
        try:
            return follow_rank0(args, stop, hello_timeout)
        finally:
            health.shutdown()
            health.server_close()
    engine = Engine(args, release)
    log("load endpoints of SGLang %s: %s" % (release, ", ".join(engine.endpoints) or "none"))
    if args.nnodes > 1:
        engine.ranks = RankServer(args, hello_timeout)
    servers = [Server((args.host, args.port), WorkerHandler, engine, read_timeout)]
    log("HTTP on %s:%d" % (args.host, args.port))
    if engine.mode == "prefill":
        servers.append(Server((args.host, args.disaggregation_bootstrap_port), BootstrapHandler, engine, read_timeout))
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
