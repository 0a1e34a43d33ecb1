# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The topology plan: the inventory turned into what runs where.

``build_plan`` is the only place that decides instances, ranks, GPU ranges,
ports and the full command line of every service. It is pure (no Ansible, no
I/O beyond reading a model's config.json) so it is unit tested directly and
the action plugin only feeds it ``groups`` and ``hostvars``.

Every problem is collected, never raised, so an operator sees all of them at
once; each names the instance or host, the variable, the rule and the fix.
"""
from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.gpufleet.sglang.plugins.module_utils import _input_rules as rules
from ansible_collections.gpufleet.sglang.plugins.module_utils._parallelism import (
    ModelConfigError,
    check_parallelism,
    load_model_config,
)
from ansible_collections.gpufleet.sglang.plugins.module_utils._plan_hosts import preflight_block, weights_dir
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import DEFAULT_PROFILE, PROFILES

# 2: every service carries its bind address, ports, virtualenv, user, unit and env-file names, weights
# directory and release profile; every host its preflight block (docs/plan-format.md).
SCHEMA_VERSION = 2

# Inventory groups of the contract (docs/variables.md) and the role each gives.
GPU_GROUPS = (("sglang_workers", "regular"), ("sglang_prefill", "prefill"), ("sglang_decode", "decode"))
ROUTER_GROUP = "sglang_router"

TRANSFER_BACKENDS = ("nixl", "mooncake")
ROUTER_IMPLEMENTATIONS = ("smg", "sglang-router")
SERVICE_ENGINES = ("sglang", "simulator")
# Where sglang_service installs the engine simulator (roles/sglang_service/files); stdlib only, so the
# system Python runs it.
# smg and sglang-router read the workers' API key only from --api-key; sglang_service installs this
# launcher (roles/sglang_service/files), which reads SGLANG_API_KEY and adds the flag in memory, not in argv.
ROUTER_KEY_LAUNCHER = "/opt/sglang-router/gpufleet_router_launch.py"
SIMULATOR_LAUNCHER = ("/usr/bin/python3", "/opt/sglang-simulator/sglang_engine_simulator.py")
# The systemd EnvironmentFile that the sglang role writes into the venv from what it installed (LD_LIBRARY_PATH
# of the venv's NVIDIA libraries, PATH, VIRTUAL_ENV; the same as bin/sglang-env.sh): an SGLang worker's unit
# loads it before its own env file. roles/sglang/vars/main.yml names the same file (a unit test ties them).
VENV_ENV_FILE = "sglang.env"

# SGLang's DP-attention handshake listens at dist_init_port + 13 and PortArgs
# reserves six ports above dist_init_port, plus one per DP rank with the Rust
# server (server_args.py: PortArgs.init_new, DP_ATTENTION_HANDSHAKE_PORT_DELTA).
DP_ATTENTION_HANDSHAKE_DELTA = 13
DP_ATTENTION_FIXED_PORTS = 6

# Variables that belong to the instance: every node of one instance must agree.
INSTANCE_VARIABLES = (
    "sglang_model_path",
    "sglang_model_config",
    "sglang_nnodes",
    "sglang_gpus_per_node",
    "sglang_tp_size",
    "sglang_dp_size",
    "sglang_pp_size",
    "sglang_ep_size",
    "sglang_enable_dp_attention",
    "sglang_ep_num_redundant_experts",
    "sglang_base_gpu_id",
    "sglang_port",
    "sglang_dist_init_port",
    "sglang_bootstrap_port",
    "sglang_transfer_backend",
    "sglang_server_args",
    "sglang_release_profile",
)

# Flags the plan writes itself; setting them through sglang_server_args would
# contradict the plan, so each maps to the variable to use instead.
MANAGED_FLAGS = {
    "model-path": "sglang_model_path",
    "host": "sglang_host",
    "port": "sglang_port",
    "tp-size": "sglang_tp_size",
    "tp": "sglang_tp_size",
    "dp-size": "sglang_dp_size",
    "dp": "sglang_dp_size",
    "pp-size": "sglang_pp_size",
    "ep-size": "sglang_ep_size",
    "ep": "sglang_ep_size",
    "enable-dp-attention": "sglang_enable_dp_attention",
    "attn-dp-size": "sglang_dp_size with sglang_enable_dp_attention",
    "ep-num-redundant-experts": "sglang_ep_num_redundant_experts",
    "nnodes": "sglang_nnodes",
    "node-rank": "the inventory order (node ranks follow it)",
    "dist-init-addr": "sglang_dist_init_port and sglang_advertise_address",
    "base-gpu-id": "sglang_base_gpu_id",
    "disaggregation-mode": "the inventory group (sglang_prefill / sglang_decode)",
    "disaggregation-transfer-backend": "sglang_transfer_backend",
    "disaggregation-bootstrap-port": "sglang_bootstrap_port",
    "disaggregation-ib-device": "sglang_ib_device",
    "api-key": "sglang_api_key",
    "admin-api-key": "sglang_admin_api_key",
    # The plan passes its secrets file as --config; a second one would replace it.
    "config": "sglang_server_args entries (one key per flag) and the secret variables",
}

# Secrets reach a service only through root-owned 0600 files: the HF token as an environment variable of
# the EnvironmentFile; the API key as SGLang's `--config` YAML (SGLang reads no environment variable for it,
# and an `--api-key` in argv would show in every `ps`) and, for the router, the environment its launcher
# reads. The plan names the variable, never its value.
# sglang_secret_env holds the other secrets a worker's environment needs (a tracker's key, say), by name.
# The secret variables themselves are the contract's of kind "secret" (SECRET_VARIABLES, below it).
WORKER_SECRET_ENV = {"sglang_hf_token": "HF_TOKEN"}
WORKER_SECRET_OPTIONS = {"sglang_api_key": "api-key", "sglang_admin_api_key": "admin-api-key"}
SECRET_ENV_NAMES = {"HF_TOKEN": "sglang_hf_token", "HUGGING_FACE_HUB_TOKEN": "sglang_hf_token",
                    "HUGGINGFACE_TOKEN": "sglang_hf_token", "SGLANG_API_KEY": "sglang_api_key",
                    "OPENAI_API_KEY": "sglang_api_key"}
# Secret flags with no variable: SGLang would print them in `ps` and in its start-up log.
SECRET_FLAGS = {"ssl-keyfile-password": "use a private key without a passphrase, readable only by the service user "
                                        "(--ssl-keyfile), or terminate TLS in front of the fleet"}

MAX_DEEPEP_DISPATCH_TOKENS = 1024
# The GPU driver's modules a worker of the real engine needs loaded before its (hardened) unit starts.
GPU_DRIVER_MODULES = ("nvidia", "nvidia_uvm")


@dataclass(frozen=True)
class Variable:
    """One inventory variable: its type, default, bounds and what a bad value means."""

    kind: str  # str, int, bool, dict, list_or_str, port, secret
    default: Any = None
    required: bool = False
    choices: Tuple[str, ...] = ()
    minimum: int = 1
    maximum: Optional[int] = None
    allow_empty: bool = False  # list_or_str: whether [] is a valid list
    # str and list_or_str: what the text may be (``_input_rules``), checked on the value and each item.
    rule: Optional[Callable[[str], Optional[str]]] = None
    fix: Optional[str] = None  # how to write a good value, when the kind's own words do not say it


def _matching(pattern, what: str) -> Callable[[str], Optional[str]]:
    return lambda value: rules.pattern_problem(value, pattern, what)


ADDRESS = dict(rule=rules.address_problem, fix="an IP address or a host name (letters, digits, - _ .)")
PATH = dict(rule=rules.path_problem, fix="a plain absolute path such as /opt/sglang/venv")
# Sizes a machine or a fleet can have; beyond these a value is a typo (and a plan nobody can read).
MAX_GPUS_PER_NODE = 64
MAX_NODES = 256
MAX_PARALLEL = MAX_GPUS_PER_NODE * MAX_NODES
MAX_BYTES = 2**60

# The inventory contract (docs/variables.md) plus the few variables the plan adds.
CONTRACT: Dict[str, Variable] = {
    "sglang_model_path": Variable("str", required=True, rule=rules.model_path_problem,
                                  fix="a Hugging Face repository id (org/name) or an absolute path"),
    "sglang_model_config": Variable("dict"),
    "sglang_nnodes": Variable("int", 1, maximum=MAX_NODES),
    "sglang_gpus_per_node": Variable("int", 8, maximum=MAX_GPUS_PER_NODE),
    "sglang_tp_size": Variable("int", required=True, maximum=MAX_PARALLEL),
    "sglang_dp_size": Variable("int", 1, maximum=MAX_PARALLEL),
    "sglang_pp_size": Variable("int", 1, maximum=MAX_PARALLEL),
    "sglang_ep_size": Variable("int", 1, maximum=MAX_PARALLEL),
    "sglang_enable_dp_attention": Variable("bool", False),
    "sglang_ep_num_redundant_experts": Variable("int", 0, minimum=0, maximum=MAX_PARALLEL),
    "sglang_base_gpu_id": Variable("int", 0, minimum=0, maximum=MAX_GPUS_PER_NODE - 1),
    "sglang_host": Variable("str", "0.0.0.0", **ADDRESS),
    "sglang_advertise_address": Variable("str", **ADDRESS),
    "sglang_port": Variable("port", 30000),
    "sglang_dist_init_port": Variable("port", 5000),
    "sglang_bootstrap_port": Variable("port", 8998),
    "sglang_transfer_backend": Variable("str", "nixl", choices=TRANSFER_BACKENDS),
    "sglang_ib_device": Variable("list_or_str", "auto", rule=_matching(rules.DEVICE_NAME, "an RDMA device name"),
                                 fix="a device name such as mlx5_0, a list of them, or auto"),
    "sglang_network_interface": Variable("str", rule=_matching(rules.INTERFACE_NAME, "a network interface name"),
                                         fix="an interface name such as eth0 or ens1f0 (at most 15 characters)"),
    "sglang_server_args": Variable("dict", {}),
    "sglang_env": Variable("dict", {}),
    "sglang_hf_token": Variable("secret"),
    "sglang_api_key": Variable("secret"),
    "sglang_admin_api_key": Variable("secret"),
    "sglang_secret_env": Variable("secret"),
    "sglang_router_port": Variable("port", 8000),
    "sglang_router_policy": Variable("str", rule=_matching(rules.WORD, "a policy name"),
                                     fix="a policy of the router, such as cache_aware or round_robin"),
    # Added by the plan: release, named instances, machine size, install locations.
    "sglang_release_profile": Variable("str", DEFAULT_PROFILE, choices=tuple(PROFILES)),
    "sglang_instance": Variable("str", rule=rules.instance_name_problem,
                                fix="a name of letters, digits, _ . - (at most 63, not router), such as prefill-a"),
    "sglang_node_gpu_count": Variable("int", 8, maximum=MAX_GPUS_PER_NODE),
    "sglang_venv_dir": Variable("str", "/opt/sglang/venv", **PATH),
    "sglang_router_implementation": Variable("str", "smg", choices=ROUTER_IMPLEMENTATIONS),
    "sglang_router_venv_dir": Variable("str", "/opt/sglang-router/venv", **PATH),
    "sglang_router_host": Variable("str", "0.0.0.0", **ADDRESS),
    "sglang_router_metrics_port": Variable("port", 29000),
    # Services (roles/sglang_service): what runs the argv, and where the unit's private files live.
    "sglang_service_engine": Variable("str", "sglang", choices=SERVICE_ENGINES),
    "sglang_service_config_dir": Variable("str", "/etc/sglang", **PATH),
    # The unprivileged account every unit runs as, and its home: the units' working directory, where the
    # Hugging Face cache (~/.cache/huggingface) holds the weights of a model named by its Hub id.
    "sglang_service_user": Variable("str", "sglang", rule=rules.account_problem,
                                    fix="an unprivileged account name such as sglang (not root)"),
    "sglang_service_group": Variable("str", "sglang", rule=rules.account_problem,
                                     fix="an unprivileged group name such as sglang (not root)"),
    "sglang_service_home": Variable("str", "/var/lib/sglang", **PATH),
    # Ports below 1024 need CAP_NET_BIND_SERVICE, which the units get only when this is true.
    "sglang_service_bind_privileged_ports": Variable("bool", False),
    # Host preflight (playbooks/preflight.yml); the plan only checks their types.
    "sglang_preflight_ib_sysfs_root": Variable("str", "/sys/class/infiniband", **PATH),
    "sglang_preflight_ib_link_layer": Variable("str", "any", choices=("any", "InfiniBand", "Ethernet")),
    "sglang_preflight_kernel_modules": Variable("list_or_str", "auto", allow_empty=True,
                                                rule=_matching(rules.WORD, "a kernel module name"),
                                                fix="auto, or a list of kernel module names such as [gdrdrv]"),
    "sglang_preflight_modules_file": Variable("str", "/proc/modules", **PATH),
    "sglang_preflight_shm_min_bytes": Variable("int", 16 * 2**30, minimum=0, maximum=MAX_BYTES),
    "sglang_preflight_venv_min_free_bytes": Variable("int", 20 * 2**30, minimum=0, maximum=MAX_BYTES),
    "sglang_preflight_model_min_free_bytes": Variable("int", 50 * 2**30, minimum=0, maximum=MAX_BYTES),
    "sglang_preflight_memlock_min": Variable("str", "unlimited", rule=_matching(rules.WORD, "a size"),
                                             fix="unlimited or a size in bytes"),
    "sglang_preflight_driver_floor": Variable("str", rule=_matching(rules.VERSION, "a driver version"),
                                              fix="a driver version such as 570.26"),
    "sglang_preflight_gpu_timeout": Variable("int", 60, maximum=3600),
}
# The variables whose values the plan never reads (the controller hands it a stand-in, see _input_rules.redact).
SECRET_VARIABLES = tuple(name for name, spec in CONTRACT.items() if spec.kind == "secret")


# Role variables (their roles' argument specs) whose values reach a unit, an environment file or a command line.
# Where the inventory sets them they are checked like the contract's; every other role variable it sets is
# checked for control characters and size.
ACCOUNT = dict(rule=rules.account_problem, fix="an unprivileged account name such as gpufleet-pypi-cache (not root)")
ROLE_VALUES: Dict[str, Variable] = {
    "sglang_service_read_write_paths": Variable("list_or_str", allow_empty=True, **PATH),
    "sglang_service_ca_bundle": Variable("str", allow_empty=True, **PATH),
    "sglang_service_limit_nofile": Variable("int", maximum=2**30),
    "sglang_service_restart_sec": Variable("int", minimum=0, maximum=3600),
    "sglang_service_timeout_start_sec": Variable("int", maximum=86400),
    "sglang_service_simulator_prefill_ms": Variable("int", minimum=0, maximum=600000),
    "sglang_service_simulator_token_ms": Variable("int", minimum=0, maximum=600000),
    "pypi_cache_user": Variable("str", **ACCOUNT),
    "pypi_cache_dir": Variable("str", **PATH),
    "pypi_cache_venv_dir": Variable("str", **PATH),
    "pypi_cache_ca_bundle": Variable("str", allow_empty=True, **PATH),
    "pypi_cache_listen": Variable("str", **ADDRESS),
    "pypi_cache_port": Variable("port"),
    "pypi_cache_index_expiry": Variable("int", minimum=0, maximum=10**7),
    "pypi_cache_request_timeout": Variable("int", maximum=3600),
}
# The group of the fleet's PyPI cache (roles/pypi_cache): its host's variables are checked too.
PYPI_CACHE_GROUP = "pypi_cache"


@dataclass
class Finding:
    """An error or warning about the inventory."""

    variable: str
    rule: str
    message: str
    fix: str
    instance: Optional[str] = None
    host: Optional[str] = None

    def where(self) -> str:
        parts = []
        if self.instance:
            parts.append("instance %s" % self.instance)
        if self.host:
            parts.append("%s %s" % ("hosts" if ", " in self.host else "host", self.host))
        return ", ".join(parts) or "inventory"

    def __str__(self) -> str:
        return "[%s] %s (%s): %s Fix: %s" % (self.where(), self.variable, self.rule, self.message, self.fix)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PlanResult:
    plan: Optional[dict]
    errors: List[Finding] = field(default_factory=list)
    warnings: List[Finding] = field(default_factory=list)


def _merge_hosts(findings: List[Finding]) -> List[Finding]:
    """One finding per problem: a group variable wrong on ten hosts is one error naming the ten."""
    merged: Dict[Tuple, Finding] = {}
    for finding in findings:
        key = (finding.variable, finding.rule, finding.message, finding.fix, finding.instance)
        if key in merged and finding.host:
            merged[key].host = "%s, %s" % (merged[key].host, finding.host)
        else:
            merged[key] = Finding(**finding.to_dict())
    return list(merged.values())


# Variables the playbooks read (extra vars of the operator), besides the contract and the roles' argument specs.
PLAYBOOK_VARIABLES = ("gpufleet_rolling_instances", "gpufleet_topology_expect")


def known_variable_names(extra: Iterable[str] = ()) -> frozenset:
    """The contract's variables, the playbooks' and those of the roles' argument specs."""
    return frozenset(CONTRACT) | frozenset(PLAYBOOK_VARIABLES) | frozenset(extra)


# ---------------------------------------------------------------- values


class _Reader:
    """Reads and type-checks one host's variables, recording every problem."""

    def __init__(self, host: str, hostvars: Mapping[str, Any], errors: List[Finding]):
        self.host = host
        self.hostvars = hostvars
        self.errors = errors

    def has(self, name: str) -> bool:
        return name in self.hostvars and self.hostvars[name] is not None

    def get(self, name: str, table: Optional[Mapping[str, Variable]] = None) -> Any:
        spec = (CONTRACT if table is None else table)[name]
        if not self.has(name):
            if spec.required:
                self.error(name, "required", "%s is not set." % name,
                           "set %s in the group or host variables." % name)
            return spec.default
        value = self.hostvars[name]
        unsafe = rules.value_problem(value)
        if unsafe:
            rule, problem = unsafe
            self.error(name, rule, "%s %s: a unit, an environment file or a command line would carry it."
                       % (name, problem), "remove the character (or shorten the value) in %s." % name)
            return spec.default
        converted, problem = _convert(value, spec)
        if problem:
            self.error(name, "type", "%s = %r %s." % (name, value, problem), _type_fix(name, spec))
            return spec.default
        return converted

    def error(self, variable: str, rule: str, message: str, fix: str) -> None:
        self.errors.append(Finding(variable, rule, message, fix, host=self.host))


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _convert(value: Any, spec: Variable) -> Tuple[Any, Optional[str]]:
    """Returns (converted value, problem). Strings from ``-e key=value`` are accepted."""
    kind = spec.kind
    if kind == "secret":
        return value, None
    if kind in ("int", "port"):
        if isinstance(value, bool):
            return None, "is a boolean, not an integer"
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,19}\s*", value):
            value = int(value)
        if not isinstance(value, int):
            return None, "is not an integer"
        if kind == "port" and not 1 <= value <= 65535:
            return None, "is not a TCP port (1-65535)"
        if kind == "int" and value < spec.minimum:
            return None, "is below the minimum %d" % spec.minimum
        if kind == "int" and spec.maximum is not None and value > spec.maximum:
            return None, "is above the maximum %d" % spec.maximum
        return value, None
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE, None
        return None, "is not a boolean"
    if kind == "dict":
        if not isinstance(value, Mapping):
            return None, "is not a mapping"
        return dict(value), None
    if kind == "list_or_str":
        if isinstance(value, str) and value.strip():
            items, converted = [value.strip()], value.strip()
        elif isinstance(value, (list, tuple)) and (value or spec.allow_empty) and all(isinstance(v, str) and v for v in value):
            items, converted = list(value), list(value)
        else:
            return None, "is neither a device name nor a list of them"
        problems = [problem for problem in map(_rule_of(spec), items) if problem]
        return (None, problems[0]) if problems else (converted, None)
    if isinstance(value, str) and value == "" and spec.allow_empty:
        return value, None
    if not isinstance(value, str) or not value.strip():
        return None, "is not a non-empty string"
    if spec.choices and value not in spec.choices:
        return None, "is not one of %s" % ", ".join(spec.choices)
    return (None, problem) if (problem := _rule_of(spec)(value)) else (value, None)


def _rule_of(spec: Variable) -> Callable[[str], Optional[str]]:
    # "auto" is every list_or_str's keyword; the rules are about the names beside it.
    return lambda text: None if spec.rule is None or text == "auto" else spec.rule(text)


def _type_fix(name: str, spec: Variable) -> str:
    if spec.choices:
        return "set %s to one of: %s." % (name, ", ".join(spec.choices))
    if spec.fix:
        return "set %s to %s." % (name, spec.fix)
    if spec.kind == "int" and spec.maximum is not None:
        return "set %s to an integer from %d to %d." % (name, spec.minimum, spec.maximum)
    expected = {
        "int": "an integer >= %d" % spec.minimum,
        "port": "a TCP port number (1-65535)",
        "bool": "true or false (unquoted YAML booleans)",
        "dict": "a mapping ({key: value})",
        "str": "a non-empty string",
    }[spec.kind]
    return "set %s to %s." % (name, expected)


# ---------------------------------------------------------------- instances


@dataclass
class _Node:
    host: str
    group: str
    role: str
    machine: str
    address: str
    settings: Dict[str, Any]
    ssh_port: int = 22


@dataclass
class _Instance:
    name: str
    role: str
    group: str
    nodes: List[_Node]
    settings: Dict[str, Any] = field(default_factory=dict)


# A router host that runs no worker reads only these (it needs no model).
ROUTER_VARIABLES = tuple(name for name in CONTRACT if name.startswith(("sglang_router_", "sglang_service_", "sglang_preflight_"))
                         and name != "sglang_service_engine") + ("sglang_advertise_address",)


def _read_host(host: str, group: str, role: str, hostvars: Mapping[str, Any], errors: List[Finding],
               names: Iterable[str] = tuple(CONTRACT)) -> _Node:
    reader = _Reader(host, hostvars, errors)
    settings = {name: reader.get(name) for name in names if CONTRACT[name].kind != "secret"}
    settings["secrets"] = sorted(name for name in SECRET_VARIABLES if reader.has(name))
    settings["secret_env_names"] = _check_secrets(reader)
    machine = str(hostvars.get("ansible_host") or host)
    named = rules.value_problem(host)
    if named:
        reader.error("inventory_hostname", named[0], "the inventory host name %r %s." % (host, named[1]),
                     "rename the host in the inventory (letters, digits, - _ .).")
    problem = rules.value_problem(machine) or ("address", rules.address_problem(machine))
    if problem[1]:
        reader.error("ansible_host", problem[0], "ansible_host = %r %s: the plan writes it into URLs and command lines."
                     % (machine, problem[1]), "set ansible_host to the machine's IP address or host name.")
    _check_privileged_ports(reader, settings)
    address = settings["sglang_advertise_address"] or machine
    ssh_port = reader.get("ansible_port", {"ansible_port": Variable("port", 22)})
    # One machine under two spellings (GPU1, gpu1) is still one machine: its ports, GPUs and units are shared.
    return _Node(host, group, role, machine.lower(), address, settings, ssh_port)


def _check_secrets(reader: _Reader) -> List[str]:
    """Every secret set must be usable: an empty API key would leave the fleet open while looking closed.

    Returns the names of sglang_secret_env (the plan carries names, never values).
    """
    for name in SECRET_VARIABLES:
        if name == "sglang_secret_env" or not reader.has(name):
            continue
        problem = rules.secret_problem(reader.hostvars[name])
        if problem:
            reader.error(name, "secret_usable", "%s is set but %s, so it cannot protect or authenticate anything."
                         % (name, problem), "give %s a non-empty value without control characters (Ansible Vault), "
                         "or remove it." % name)
    if not reader.has("sglang_secret_env"):
        return []
    secret_env = reader.hostvars["sglang_secret_env"]
    if not isinstance(secret_env, Mapping):
        reader.error("sglang_secret_env", "type", "sglang_secret_env is not a mapping.",
                     "set sglang_secret_env to {NAME: value} (values from Ansible Vault).")
        return []
    names = []
    for name, value in secret_env.items():
        problem = _env_name_problem(name) or rules.secret_problem(value)
        if name in SECRET_ENV_NAMES:
            problem = "has its own variable, %s" % SECRET_ENV_NAMES[name]
        if problem:
            reader.error("sglang_secret_env", "secret_env_entry", "sglang_secret_env.%s %s." % (name, problem),
                         "name each entry as an environment variable (letters, digits, _) with a non-empty value; "
                         "HF and API keys go in sglang_hf_token and sglang_api_key.")
        else:
            names.append(name)
    return sorted(names)


def _env_name_problem(name: Any) -> Optional[str]:
    if not isinstance(name, str) or not rules.ENV_NAME.fullmatch(name):
        return "is not an environment variable name (a letter or _, then letters, digits or _)"
    return None


def _check_privileged_ports(reader: _Reader, settings: Mapping[str, Any]) -> None:
    if settings.get("sglang_service_bind_privileged_ports"):
        return
    for name, value in settings.items():
        if CONTRACT.get(name, Variable("str")).kind == "port" and value < rules.PRIVILEGED_PORTS:
            reader.error(name, "privileged_port",
                         "%s = %d is below 1024: only a process with CAP_NET_BIND_SERVICE may bind it, and the "
                         "units run unprivileged." % (name, value),
                         "use a port from 1024 up, or set sglang_service_bind_privileged_ports: true to give "
                         "the units that bind it that one capability.")


def _form_instances(nodes: List[_Node], role: str, group: str, errors: List[Finding]) -> List[_Instance]:
    """Named instances (sglang_instance) first-seen order, then the rest cut by sglang_nnodes."""
    named: Dict[str, List[_Node]] = {}
    unnamed: List[_Node] = []
    for node in nodes:
        name = node.settings["sglang_instance"]
        if name:
            named.setdefault(name, []).append(node)
        else:
            unnamed.append(node)

    instances = [_Instance(name, role, group, members) for name, members in named.items()]
    index = 0
    position = 0
    while position < len(unnamed):
        size = unnamed[position].settings["sglang_nnodes"] or 1
        members = unnamed[position:position + size]
        name = "%s-%d" % (role, index)
        while name in named:
            index += 1
            name = "%s-%d" % (role, index)
        instances.append(_Instance(name, role, group, members))
        index += 1
        position += size

    for instance in instances:
        wanted = instance.nodes[0].settings["sglang_nnodes"] or 1
        if len(instance.nodes) != wanted:
            hosts = ", ".join(n.host for n in instance.nodes)
            if len(instance.nodes) < wanted:
                fix = ("add %d more host(s) to %s for this instance, or set sglang_nnodes to %d."
                       % (wanted - len(instance.nodes), group, len(instance.nodes)))
            else:
                fix = "set sglang_nnodes to %d or split the hosts into instances with sglang_instance." % len(instance.nodes)
            errors.append(Finding(
                "sglang_nnodes", "instance_complete",
                "the instance has %d host(s) (%s) but sglang_nnodes is %d." % (len(instance.nodes), hosts, wanted),
                fix, instance=instance.name))
    return instances


def _agree(instance: _Instance, errors: List[Finding]) -> None:
    """Instance-level settings must be the same on every node; keep rank 0's."""
    first = instance.nodes[0].settings
    for name in INSTANCE_VARIABLES:
        values = [(node.host, node.settings[name]) for node in instance.nodes]
        if any(value != first[name] for _host, value in values):
            seen = ", ".join("%s: %r" % pair for pair in values)
            errors.append(Finding(
                name, "instance_consistent",
                "%s differs across the nodes of one instance (%s)." % (name, seen),
                "set %s once for all hosts of %s (group_vars), or give the hosts different sglang_instance names."
                % (name, instance.name), instance=instance.name))
    instance.settings = {name: first[name] for name in INSTANCE_VARIABLES}


# ---------------------------------------------------------------- checks


def _model_key(settings: Mapping[str, Any]) -> tuple:
    """What the model config cache of one plan is keyed by: the model and the inventory's sglang_model_config."""
    model_config = settings["sglang_model_config"]
    return settings["sglang_model_path"], repr(sorted(model_config.items())) if model_config else None


# Bytes per KV cache element of SGLang's --kv-cache-dtype, against the model's own dtype ("auto"); the scales of
# the block formats are left out, so that the figure stays a lower bound of what moves.
KV_CACHE_DTYPE_BYTES = {"bf16": 2, "bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1, "mxfp8": 1,
                        "fp4_mx_block16": 0.5, "nvfp4": 0.5}


def _kv_bytes_per_token(instance: _Instance, cache: Dict) -> Optional[int]:
    """Bytes of KV cache a prompt token of this instance holds (what a prefill hands its decode), or None."""
    config = _cached_model_config(instance.settings, cache)
    if not config or not config.get("kv_bytes_per_token"):
        return None
    dtype = _server_arg(instance.settings["sglang_server_args"], "kv-cache-dtype")
    if dtype in KV_CACHE_DTYPE_BYTES:
        return int(config["kv_bytes_per_token"] * KV_CACHE_DTYPE_BYTES[dtype] / config["kv_element_bytes"])
    return config["kv_bytes_per_token"]


def _check_parallelism(instance: _Instance, errors: List[Finding], loader: Callable, cache: Dict) -> Optional[int]:
    settings = instance.settings
    model = settings["sglang_model_path"]
    if model is None or settings["sglang_tp_size"] is None:
        return None  # already reported as missing
    model_config = settings["sglang_model_config"]
    key = _model_key(settings)
    if key not in cache:
        try:
            cache[key] = loader(model, model_config)[0]
        except ModelConfigError as error:
            cache[key] = error
    config = cache[key]
    if isinstance(config, ModelConfigError):
        errors.append(Finding(
            "sglang_model_config", "model_config_known", str(config),
            "set sglang_model_config: {num_attention_heads: N, num_key_value_heads: M} for %s, "
            "or use a model the controller knows." % model, instance=instance.name))
        return None
    report = check_parallelism(
        config,
        tp_size=settings["sglang_tp_size"],
        dp_size=settings["sglang_dp_size"],
        pp_size=settings["sglang_pp_size"],
        ep_size=settings["sglang_ep_size"],
        enable_dp_attention=settings["sglang_enable_dp_attention"],
        ep_num_redundant_experts=settings["sglang_ep_num_redundant_experts"],
        nnodes=settings["sglang_nnodes"],
        gpus_per_node=settings["sglang_gpus_per_node"],
    )
    for problem in report.errors:
        errors.append(Finding("sglang_" + problem.variable, problem.rule, problem.message, problem.fix,
                              instance=instance.name))
    return report.attn_tp_size


def _check_unknown_variables(host: str, hostvars: Mapping[str, Any], known: frozenset, prefixes: Tuple[str, ...],
                             errors: List[Finding]) -> None:
    for name in sorted(hostvars):
        if not name.startswith(prefixes) or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        fix = ("did you mean %s? Rename it." % close[0]) if close else (
            "remove it, or see the variable list in README.md (known: the inventory contract "
            "and every role's meta/argument_specs.yml).")
        errors.append(Finding(name, "unknown_variable",
                              "%s is not a variable of gpufleet.sglang (its prefix is one of the collection's), so it "
                              "would be silently ignored." % name, fix, host=host))


def _check_role_values(host: str, hostvars: Mapping[str, Any], known: frozenset, errors: List[Finding]) -> None:
    """The role variables the inventory sets: no control character anywhere, and the rules of ROLE_VALUES."""
    reader = _Reader(host, hostvars, errors)
    for name in sorted(hostvars):
        if name in CONTRACT or name not in known or hostvars[name] is None:
            continue
        if name in ROLE_VALUES:
            reader.get(name, ROLE_VALUES)
            continue
        unsafe = rules.value_problem(hostvars[name])
        if unsafe:
            reader.error(name, unsafe[0], "%s %s." % (name, unsafe[1]), "remove the character (or shorten the value) in %s." % name)


def _check_env(node: _Node, errors: List[Finding]) -> None:
    for name, value in node.settings["sglang_env"].items():
        def error(rule: str, message: str, fix: str, variable: str = "sglang_env") -> None:
            errors.append(Finding(variable, rule, message, fix, host=node.host))

        if isinstance(name, str) and rules.looks_secret(name):
            variable = SECRET_ENV_NAMES.get(name.strip().upper(), "sglang_secret_env")
            error("secret_in_env", "sglang_env.%s looks like a secret (its name holds TOKEN, KEY, SECRET or PASSWORD), "
                  "and sglang_env is plain configuration: it is shown in the plan and in logs." % name.strip(),
                  "move it to %s (from Ansible Vault); it is written only to the unit's 0600 EnvironmentFile."
                  % (variable if variable != "sglang_secret_env" else "sglang_secret_env: {%s: ...}" % name.strip()))
        elif _env_name_problem(name):
            error("env_name", "sglang_env key %r %s, which a shell and systemd's EnvironmentFile accept."
                  % (name, _env_name_problem(name)),
                  "rename it, e.g. %s." % (re.sub(r"[^A-Za-z0-9_]", "_", str(name).strip()).lstrip("0123456789") or "MY_VARIABLE"))
        elif not isinstance(value, (str, int, float, bool)):
            error("env_scalar", "sglang_env.%s = %r is not a string or number." % (name, value),
                  "give environment variables scalar values.")
        elif name.startswith("SGL_"):
            error("env_deprecated", "sglang_env.%s uses the deprecated SGL_ prefix (SGLang 0.5.23 still maps it with a warning; "
                  "the mapping goes away, and SGL_ and SGLANG_ with different values conflict)."
                  % name, "rename it to SGLANG_%s." % name[len("SGL_"):])
        elif name == "SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK":
            try:
                tokens = int(value)
            except (TypeError, ValueError):
                tokens = None
            if tokens is None or not 0 < tokens <= MAX_DEEPEP_DISPATCH_TOKENS:
                error("deepep_dispatch_tokens",
                      "sglang_env.%s = %r: DeepEP's low-latency kernels support at most %d tokens per rank."
                      % (name, value, MAX_DEEPEP_DISPATCH_TOKENS),
                      "set it to %d or less (lower --cuda-graph-max-bs accordingly)." % MAX_DEEPEP_DISPATCH_TOKENS)


def _flag_name(name: Any) -> str:
    """A sglang_server_args key as SGLang's flag name without dashes: `--moe_a2a_backend` -> `moe-a2a-backend`."""
    return str(name).lstrip("-").replace("_", "-")


def _server_arg(server_args: Mapping[str, Any], flag: str) -> Any:
    """The value sglang_server_args gives `--flag`, whichever spelling its key uses; None when absent."""
    return next((value for name, value in server_args.items() if _flag_name(name) == flag), None)


def _check_server_args(instance: _Instance, errors: List[Finding],
                       parser_options: Mapping[str, Sequence[Sequence[str]]]) -> None:
    """Each flag as SGLang's parser would read it: no managed flag or secret under any spelling.

    ``parser_options`` holds the option strings of each release's parser (by SGLang version); a flag is
    resolved as argparse does, abbreviations included. For a release without a table, a flag that
    abbreviates a managed or secret flag is refused, since the parser might expand it.
    """
    options = parser_options.get(PROFILES[instance.settings["sglang_release_profile"]]["sglang"])

    hosts = ", ".join(node.host for node in instance.nodes)

    def error(rule: str, message: str, fix: str) -> None:
        errors.append(Finding("sglang_server_args", rule, message, fix, instance=instance.name, host=hosts))

    for name, value in instance.settings["sglang_server_args"].items():
        if not isinstance(name, str) or not rules.FLAG_NAME.fullmatch(name):
            error("server_arg_name", "sglang_server_args key %r is not a flag name (letters, digits, - and _; "
                  "a value after = or a space would be read as part of the command line)." % (name,),
                  "write each flag as a key and its value as the key's value: {chunked-prefill-size: 4096}.")
            continue
        flag = _flag_name(name)
        release = PROFILES[instance.settings["sglang_release_profile"]]["sglang"]
        if options is not None:
            resolved, matches = rules.resolve_flag(flag, options)
            meant = [string[2:] for string in resolved or ()]
        else:
            meant = [flag] + rules.prefix_of_any(flag, list(MANAGED_FLAGS) + list(SECRET_FLAGS))
        managed = next((m for m in meant if m in MANAGED_FLAGS), None)
        secret = next((m for m in meant if m in SECRET_FLAGS), None)
        hit = managed or secret
        spelled = "" if flag == hit or flag in meant and options is not None else \
            " (SGLang's parser %s it to --%s)" % ("expands" if options is not None else "may expand", hit)
        if managed:
            error("managed_flag", "sglang_server_args sets --%s%s, which the plan writes itself." % (flag, spelled),
                  "remove it from sglang_server_args and use %s." % MANAGED_FLAGS[managed])
        elif secret:
            error("secret_flag", "sglang_server_args sets --%s%s, a secret that every `ps` and SGLang's start-up log "
                  "would show." % (flag, spelled), "remove it; %s." % SECRET_FLAGS[secret])
        elif options is not None and flag not in meant:
            close = difflib.get_close_matches("--" + flag, [o for strings in options for o in strings], n=1)
            error("server_arg_known", "sglang_server_args sets --%s, which SGLang %s's parser %s." % (
                flag, release, "does not know" if not matches else
                "would expand to %s; the plan writes flags in full" % matches[0] if resolved else
                "reads as ambiguous (%s)" % ", ".join(matches)),
                "write %s." % (matches[0] if resolved else close[0]) if resolved or close else
                "remove it, or check the flag in `python -m sglang.launch_server --help`.")
        elif isinstance(value, Mapping) or value is False:
            error("server_arg_value",
                  "sglang_server_args.%s = %r: values are scalars, true (bare flag) or lists (repeated)." % (name, value),
                  "give a scalar, true or a list; drop the key to leave the flag out.")
        else:
            flagged = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])
                       if v is not True and v is not None and rules.value_looks_like_flag(str(v))]
            if flagged:
                error("server_arg_value", "sglang_server_args.%s holds %s, which SGLang's parser would read as "
                      "another flag, not as this flag's value." % (name, ", ".join(map(repr, flagged))),
                      "give each flag its own key in sglang_server_args; a value may not start with - "
                      "(negative numbers aside).")
    if options is not None:
        # The secrets the plan puts in the worker's --config file are read by the same parser (0.5.6.post2 has no
        # --admin-api-key: its server would stop on an unrecognized argument).
        known = {string for strings in options for string in strings}
        release = PROFILES[instance.settings["sglang_release_profile"]]["sglang"]
        for variable, option in sorted(WORKER_SECRET_OPTIONS.items()):
            holders = [node.host for node in instance.nodes if variable in node.settings["secrets"]]
            if holders and "--" + option not in known:
                errors.append(Finding(
                    variable, "secret_option_known",
                    "%s goes to the worker's --config file as %s, which SGLang %s's parser does not know: the "
                    "server would stop on an unrecognized argument." % (variable, option, release),
                    "unset %s for %s, or use a release profile whose SGLang has --%s." % (variable, instance.name, option),
                    instance=instance.name, host=", ".join(holders)))


# ---------------------------------------------------------------- rendering


def _server_arg_tokens(server_args: Mapping[str, Any]) -> List[str]:
    tokens: List[str] = []
    for name, value in server_args.items():
        flag = "--" + _flag_name(name)
        if value is True:
            tokens.append(flag)
        elif isinstance(value, (list, tuple)):
            tokens.append(flag)
            tokens.extend(str(item) for item in value)
        elif value is not None:
            tokens.extend((flag, str(value)))
    return tokens


def _data_parallel_flags(settings: Mapping[str, Any]) -> List[str]:
    """DP attention is `--attn-dp-size N` from 0.5.23 on, `--dp-size N --enable-dp-attention` before."""
    dp_size = settings["sglang_dp_size"]
    if not settings["sglang_enable_dp_attention"]:
        return ["--dp-size", str(dp_size)] if dp_size != 1 else []
    if PROFILES[settings["sglang_release_profile"]]["attn_dp_size_flag"]:
        return ["--attn-dp-size", str(dp_size)]
    return ["--dp-size", str(dp_size), "--enable-dp-attention"]


def _uses_dist_init(settings: Mapping[str, Any]) -> bool:
    return settings["sglang_nnodes"] > 1 or bool(settings["sglang_enable_dp_attention"])


def _dist_init_ports(settings: Mapping[str, Any]) -> List[Tuple[int, str]]:
    if not _uses_dist_init(settings):
        return []
    base = settings["sglang_dist_init_port"]
    ports = [(base, "dist-init")]
    if settings["sglang_enable_dp_attention"]:
        top = max(DP_ATTENTION_HANDSHAKE_DELTA, DP_ATTENTION_FIXED_PORTS + settings["sglang_dp_size"])
        ports.extend((base + delta, "dist-init block (DP attention)") for delta in range(1, top + 1))
    return ports


def _rdma_and_kernel_modules(instance: _Instance, backend: Optional[str]) -> Tuple[bool, List[str]]:
    """Whether the instance's ranks move data over RDMA, and the kernel modules they need on each machine.

    Prefill and decode move the KV cache over RDMA, and DeepEP's NVSHMEM does between nodes. Mooncake registers
    GPU memory through nvidia_peermem; NIXL uses DMA-BUF and needs no module. DeepEP's NVSHMEM is built with
    gdrcopy (install order gdrcopy -> NVSHMEM -> DeepEP, as in SGLang's DeepEP build), whose library needs gdrdrv
    loaded. A worker of the real engine needs the GPU driver's nvidia and nvidia_uvm loaded before its unit starts:
    the hardened unit's device allow-list is resolved at start, and NoNewPrivileges keeps CUDA from loading
    nvidia_uvm on first use.
    """
    deepep = _server_arg(instance.settings["sglang_server_args"], "moe-a2a-backend") == "deepep"
    disaggregated = instance.role != "regular"
    modules = (["nvidia_peermem"] if disaggregated and backend == "mooncake" else []) + (["gdrdrv"] if deepep else [])
    return disaggregated or (deepep and instance.settings["sglang_nnodes"] > 1), modules


def _worker_service(instance: _Instance, node: _Node, rank: int, backend: Optional[str]) -> dict:
    settings = instance.settings
    rdma, kernel_modules = _rdma_and_kernel_modules(instance, backend)
    if node.settings["sglang_service_engine"] == "sglang":
        kernel_modules = list(GPU_DRIVER_MODULES) + kernel_modules
    gpu_ids = list(range(settings["sglang_base_gpu_id"], settings["sglang_base_gpu_id"] + settings["sglang_gpus_per_node"]))
    unit = "sglang-%s" % instance.name  # sglang_instance allows only what a unit name can hold
    config_dir = node.settings["sglang_service_config_dir"].rstrip("/")
    if node.settings["sglang_service_engine"] == "simulator":
        venv = None  # the simulator runs on the system Python: nothing is installed for it
        launcher = list(SIMULATOR_LAUNCHER)
    else:
        venv = node.settings["sglang_venv_dir"].rstrip("/")
        launcher = [venv + "/bin/python", "-m", "sglang.launch_server"]
    library_env_file = None if venv is None else "%s/%s" % (venv, VENV_ENV_FILE)
    argv = launcher + [
        "--model-path", settings["sglang_model_path"],
        "--host", node.settings["sglang_host"],
        "--port", str(settings["sglang_port"]),
        "--tp-size", str(settings["sglang_tp_size"]),
    ]
    argv.extend(_data_parallel_flags(settings))
    for flag, name, default in (("--pp-size", "sglang_pp_size", 1), ("--ep-size", "sglang_ep_size", 1),
                                ("--ep-num-redundant-experts", "sglang_ep_num_redundant_experts", 0)):
        if settings[name] != default:
            argv.extend((flag, str(settings[name])))
    if _uses_dist_init(settings):
        argv.extend(("--nnodes", str(settings["sglang_nnodes"]), "--node-rank", str(rank),
                     "--dist-init-addr", "%s:%d" % (instance.nodes[0].address, settings["sglang_dist_init_port"])))
    argv.extend(("--base-gpu-id", str(settings["sglang_base_gpu_id"])))
    ports = [{"port": settings["sglang_port"], "purpose": "http"}]
    ib_devices_file = None
    ib_devices: List[str] = []
    if instance.role != "regular":
        argv.extend(("--disaggregation-mode", instance.role, "--disaggregation-transfer-backend", backend))
        if instance.role == "prefill":
            argv.extend(("--disaggregation-bootstrap-port", str(settings["sglang_bootstrap_port"])))
            if rank == 0:
                # Only node rank 0 runs the tokenizer manager, which starts the KV bootstrap server
                # (SGLang 0.5.23 entrypoints/engine.py); the other ranks answer health checks only.
                ports.append({"port": settings["sglang_bootstrap_port"], "purpose": "bootstrap"})
        # Both backends read the flag (Mooncake; NIXL through UCX from SGLang 0.5.23, earlier NIXL ignores it,
        # and then sglang_service pins UCX to the same devices with UCX_NET_DEVICES: pin_ucx_devices).
        ib_device = node.settings["sglang_ib_device"]
        if ib_device == "auto":
            # A per-GPU JSON file, keyed by GPU ID: sglang_service writes each GPU's nearest ACTIVE NICs
            # there, as gpu_facts pairs them on the host.
            ib_devices_file = "%s/%s.ib-devices.json" % (config_dir, unit)
            argv.extend(("--disaggregation-ib-device", ib_devices_file))
        else:
            ib_devices = [name.strip() for name in (ib_device if isinstance(ib_device, list) else ib_device.split(","))]
            argv.extend(("--disaggregation-ib-device", ",".join(ib_devices)))
    argv.extend(_server_arg_tokens(settings["sglang_server_args"]))
    secret_options = {WORKER_SECRET_OPTIONS[name]: name for name in node.settings["secrets"]
                      if name in WORKER_SECRET_OPTIONS}
    secret_config = None
    if secret_options:
        secret_config = {"path": "%s/%s.secrets.yaml" % (config_dir, unit),
                         "options": secret_options}
        argv.extend(("--config", secret_config["path"]))
    ports.extend({"port": port, "purpose": purpose} for port, purpose in _dist_init_ports(settings))

    env: Dict[str, str] = {}
    interface = node.settings["sglang_network_interface"]
    if interface:
        env.update(NCCL_SOCKET_IFNAME=interface, GLOO_SOCKET_IFNAME=interface, SGLANG_LOCAL_IP_NIC=interface)
    env.update({str(k): _env_value(v) for k, v in node.settings["sglang_env"].items()})
    service = {
        "host": node.host,
        "address": node.address,
        "machine": node.machine,
        "kind": "worker",
        "role": instance.role,
        "instance": instance.name,
        "node_rank": rank,
        "unit": unit,
        "engine": node.settings["sglang_service_engine"],
        "release_profile": settings["sglang_release_profile"],
        "bind": node.settings["sglang_host"],
        "http_port": settings["sglang_port"],
        # SGLang serves /metrics on its HTTP port once metrics are enabled; the plan does not enable them yet.
        "metrics_port": None,
        "venv": venv,
        "library_env_file": library_env_file,
        **_account(node.settings, unit, config_dir),
        "capabilities": _capabilities(ports),
        "gpu_ids": gpu_ids,
        "ports": ports,
        "argv": argv,
        "env": env,
        "secret_env": dict({WORKER_SECRET_ENV[name]: name for name in node.settings["secrets"] if name in WORKER_SECRET_ENV},
                           **{name: "sglang_secret_env" for name in node.settings["secret_env_names"]}),
        "secret_config": secret_config,
        "ib_devices_file": ib_devices_file,
        # The RDMA devices the KV cache goes through when the inventory names them (sglang_ib_device);
        # with auto, ib_devices_file maps each GPU to its own on the host.
        "ib_devices": ib_devices,
        # NIXL of this release does not read --disaggregation-ib-device: sglang_service sets UCX_NET_DEVICES to the
        # ACTIVE ports of these devices (or of the GPUs' mapped NICs), so UCX never tries another HCA.
        "pin_ucx_devices": (backend == "nixl" and instance.role != "regular"
                            and not PROFILES[settings["sglang_release_profile"]]["nixl_reads_ib_device"]),
        "rdma": rdma,
        "kernel_modules": kernel_modules,
    }
    service["weights_dir"] = weights_dir(settings["sglang_model_path"], service)
    return service


def _account(settings: Mapping[str, Any], unit: str, config_dir: str) -> dict:
    """Who a service runs as and where its unit's files are."""
    return {"user": settings["sglang_service_user"], "group": settings["sglang_service_group"],
            "home": settings["sglang_service_home"].rstrip("/"), "env_file": "%s/%s.env" % (config_dir, unit)}


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _capabilities(ports: Sequence[Mapping[str, Any]]) -> List[str]:
    """The one capability a unit may get: binding a port below 1024 (sglang_service_bind_privileged_ports)."""
    return ["CAP_NET_BIND_SERVICE"] if any(p["port"] < rules.PRIVILEGED_PORTS for p in ports) else []


def _router_service(node: _Node, instances: List[_Instance], mode: str) -> dict:
    settings = node.settings
    port = settings["sglang_router_port"]
    ports = [{"port": port, "purpose": "router http"},
             {"port": settings["sglang_router_metrics_port"], "purpose": "router metrics"}]
    venv = settings["sglang_router_venv_dir"].rstrip("/")
    keyed = "sglang_api_key" in settings["secrets"]
    if keyed:
        # The router takes the key only as --api-key: its launcher adds it in memory (see ROUTER_KEY_LAUNCHER).
        argv = [venv + "/bin/python", ROUTER_KEY_LAUNCHER, settings["sglang_router_implementation"]]
        if settings["sglang_router_implementation"] == "smg":
            argv.append("launch")
    elif settings["sglang_router_implementation"] == "smg":
        argv = [venv + "/bin/smg", "launch"]
    else:
        argv = [venv + "/bin/python", "-m", "sglang_router.launch_router"]
    if mode == "pd":
        argv.append("--pd-disaggregation")
        for instance in instances:
            if instance.role == "prefill":
                # Without the port, the router assumes the prefill has no bootstrap server.
                argv.extend(("--prefill", _instance_url(instance), str(instance.settings["sglang_bootstrap_port"])))
        for instance in instances:
            if instance.role == "decode":
                argv.extend(("--decode", _instance_url(instance)))
    else:
        argv.append("--worker-urls")
        argv.extend(_instance_url(instance) for instance in instances)
    argv.extend(("--host", settings["sglang_router_host"], "--port", str(port),
                 "--prometheus-port", str(settings["sglang_router_metrics_port"])))
    if settings["sglang_router_policy"]:
        argv.extend(("--policy", settings["sglang_router_policy"]))
    return {
        "host": node.host,
        "address": node.address,
        "machine": node.machine,
        "kind": "router",
        "role": "router",
        "instance": "router",
        "node_rank": None,
        "unit": "sglang-router",
        "engine": settings["sglang_router_implementation"],
        "release_profile": None,
        "bind": settings["sglang_router_host"],
        "http_port": port,
        "metrics_port": settings["sglang_router_metrics_port"],
        "venv": venv,
        "library_env_file": None,  # the router's venv holds no NVIDIA libraries
        **_account(settings, "sglang-router", settings["sglang_service_config_dir"].rstrip("/")),
        "capabilities": _capabilities(ports),
        "gpu_ids": [],
        "ports": ports,
        "argv": argv,
        "env": {},
        "secret_env": {"SGLANG_API_KEY": "sglang_api_key"} if keyed else {},
        "secret_config": None,
        "ib_devices_file": None,
        "ib_devices": [],
        "pin_ucx_devices": False,
        "rdma": False,
        "kernel_modules": [],
        "weights_dir": None,
    }


def _format_address(address: str) -> str:
    return "[%s]" % address if ":" in address and not address.startswith("[") else address


def _instance_url(instance: _Instance) -> str:
    return "http://%s:%d" % (_format_address(instance.nodes[0].address), instance.settings["sglang_port"])


def _instance_record(instance: _Instance, attn_tp_size: Optional[int], backend: Optional[str],
                     kv_bytes_per_token: Optional[int]) -> dict:
    settings = instance.settings
    base = settings["sglang_base_gpu_id"]
    master = instance.nodes[0]
    return {
        "name": instance.name,
        "role": instance.role,
        "group": instance.group,
        "release_profile": settings["sglang_release_profile"],
        "model_path": settings["sglang_model_path"],
        "nnodes": settings["sglang_nnodes"],
        "gpus_per_node": settings["sglang_gpus_per_node"],
        "base_gpu_id": base,
        "gpu_ids": list(range(base, base + settings["sglang_gpus_per_node"])),
        "tp_size": settings["sglang_tp_size"],
        "dp_size": settings["sglang_dp_size"],
        "pp_size": settings["sglang_pp_size"],
        "ep_size": settings["sglang_ep_size"],
        "enable_dp_attention": settings["sglang_enable_dp_attention"],
        "attn_tp_size": attn_tp_size,
        "port": settings["sglang_port"],
        "url": _instance_url(instance),
        "bootstrap_port": settings["sglang_bootstrap_port"] if instance.role == "prefill" else None,
        "dist_init_addr": ("%s:%d" % (master.address, settings["sglang_dist_init_port"])
                           if _uses_dist_init(settings) else None),
        "transfer_backend": backend,
        # KV cache bytes per prompt token at its --kv-cache-dtype (null: the model's config does not say); the
        # readiness phase expects at least this times the smoke request's prompt tokens on the RDMA ports.
        "kv_bytes_per_token": kv_bytes_per_token,
        "master": master.host,
        "master_address": master.address,
        "nodes": [{"host": n.host, "address": n.address, "machine": n.machine, "node_rank": rank}
                  for rank, n in enumerate(instance.nodes)],
    }


# ---------------------------------------------------------------- machine checks


def _check_gpu_ranges(services: List[dict], nodes: Mapping[str, _Node], errors: List[Finding]) -> None:
    by_machine: Dict[str, List[dict]] = {}
    for service in services:
        if service["kind"] == "worker":
            by_machine.setdefault(service["machine"], []).append(service)
    for machine, workers in by_machine.items():
        for service in workers:
            capacity = nodes[service["host"]].settings["sglang_node_gpu_count"]
            if service["gpu_ids"] and service["gpu_ids"][-1] >= capacity:
                errors.append(Finding(
                    "sglang_base_gpu_id", "gpu_range_fits",
                    "GPUs %s of %s do not exist on machine %s, which has %d GPUs (sglang_node_gpu_count)."
                    % (_gpu_range(service["gpu_ids"]), service["instance"], machine, capacity),
                    "lower sglang_base_gpu_id or sglang_gpus_per_node so that base + count <= %d." % capacity,
                    instance=service["instance"], host=service["host"]))
        for index, first in enumerate(workers):
            for second in workers[index + 1:]:
                shared = sorted(set(first["gpu_ids"]) & set(second["gpu_ids"]))
                if shared:
                    errors.append(Finding(
                        "sglang_base_gpu_id", "gpu_ranges_disjoint",
                        "%s (%s, GPUs %s) and %s (%s, GPUs %s) share GPUs %s on machine %s."
                        % (first["instance"], first["host"], _gpu_range(first["gpu_ids"]), second["instance"],
                           second["host"], _gpu_range(second["gpu_ids"]), _gpu_range(shared), machine),
                        "give %s sglang_base_gpu_id %d (after the other's range) or put it on another machine."
                        % (second["host"], first["gpu_ids"][-1] + 1),
                        instance=second["instance"], host=second["host"]))


def _gpu_range(gpu_ids: Sequence[int]) -> str:
    if not gpu_ids:
        return "none"
    return "%d-%d" % (gpu_ids[0], gpu_ids[-1]) if len(gpu_ids) > 1 else str(gpu_ids[0])


_PORT_VARIABLE = {
    "http": "sglang_port",
    "bootstrap": "sglang_bootstrap_port",
    "dist-init": "sglang_dist_init_port",
    "dist-init block (DP attention)": "sglang_dist_init_port",
    "router http": "sglang_router_port",
    "router metrics": "sglang_router_metrics_port",
}


def _check_ports(services: List[dict], errors: List[Finding]) -> None:
    """Two binds of one TCP port on one machine cannot both start: one error per pair of binders."""
    owner: Dict[Tuple[str, int], Tuple[int, str]] = {}
    clashes: Dict[Tuple[int, int], List[Tuple[int, str, str]]] = {}
    for index, service in enumerate(services):
        for entry in service["ports"]:
            if entry["port"] > 65535:
                variable = _PORT_VARIABLE[entry["purpose"]]
                errors.append(Finding(
                    variable, "derived_port_range",
                    "%s of %s derives port %d (%s), beyond 65535." % (variable, service["instance"], entry["port"],
                                                                      entry["purpose"]),
                    "lower %s by at least %d." % (variable, entry["port"] - 65535),
                    instance=service["instance"], host=service["host"]))
                break
            key = (service["machine"], entry["port"])
            if key in owner:
                first, first_purpose = owner[key]
                clashes.setdefault((first, index), []).append((entry["port"], first_purpose, entry["purpose"]))
            else:
                owner[key] = (index, entry["purpose"])
    for (first_index, index), clash in clashes.items():
        first, service = services[first_index], services[index]
        ports = [port for port, _first_purpose, _purpose in clash]
        variable = _PORT_VARIABLE[clash[0][2]]
        errors.append(Finding(
            variable, "ports_disjoint",
            "on machine %s, %s %s of %s (%s: %s) %s also bound by %s (%s: %s)." % (
                service["machine"], "ports" if len(ports) > 1 else "port", _port_list(ports), service["instance"],
                service["host"], _purposes(c[2] for c in clash), "are" if len(ports) > 1 else "is",
                first["instance"], first["host"], _purposes(c[1] for c in clash)),
            "give %s a different %s; DP attention reserves dist_init_port..dist_init_port+%d, so keep the "
            "dist-init ports of instances on one machine at least %d apart." % (
                service["host"], variable, DP_ATTENTION_HANDSHAKE_DELTA, DP_ATTENTION_HANDSHAKE_DELTA + 1),
            instance=service["instance"], host=service["host"]))


_ACCOUNT_VARIABLES = (("user", "sglang_service_user"), ("group", "sglang_service_group"),
                      ("home", "sglang_service_home"), ("config_dir", "sglang_service_config_dir"))


def _check_machine_accounts(services: List[dict], errors: List[Finding]) -> None:
    """The services of one machine share its account, home and configuration directory (sglang_service sets them up once)."""
    first: Dict[str, dict] = {}
    for service in services:
        mine = dict(service, config_dir=service["env_file"].rsplit("/", 1)[0])
        other = first.setdefault(service["machine"], mine)
        for field_name, variable in _ACCOUNT_VARIABLES:
            if mine[field_name] != other[field_name]:
                errors.append(Finding(
                    variable, "one_account_per_machine",
                    "on machine %s, %s has %s %s but %s has %s." % (
                        service["machine"], service["host"], variable, mine[field_name], other["host"], other[field_name]),
                    "set %s once for every host on that machine (its aliases share one account and directory)." % variable,
                    host=service["host"]))


def _check_units(services: List[dict], errors: List[Finding]) -> None:
    """Two services of one machine under one unit name would overwrite each other's unit and files."""
    owner: Dict[Tuple[str, str], dict] = {}
    for service in services:
        key = (service["machine"], service["unit"])
        if key in owner:
            first = owner[key]
            errors.append(Finding(
                "sglang_instance", "units_unique",
                "on machine %s, %s (%s) and %s (%s) would both be unit %s.service." % (
                    service["machine"], first["instance"], first["host"], service["instance"], service["host"],
                    service["unit"]),
                "give %s another sglang_instance name, or put it on another machine." % service["host"],
                instance=service["instance"], host=service["host"]))
        else:
            owner[key] = service


def _warn_open_services(services: List[dict], gpu_nodes: Mapping[str, _Node], routers: List[_Node],
                        warnings: List[Finding]) -> None:
    """A service that listens beyond loopback without an API key serves whoever reaches its port."""
    nodes = dict(gpu_nodes, **{node.host: node for node in routers})
    open_hosts = sorted({s["host"] for s in services
                         if "sglang_api_key" not in nodes[s["host"]].settings["secrets"] and not rules.is_loopback(s["bind"])})
    if open_hosts:
        warnings.append(Finding(
            "sglang_api_key", "open_without_api_key",
            "services listen beyond loopback (sglang_host, sglang_router_host) without an API key: anyone who "
            "reaches their ports can use them.",
            "set sglang_api_key (Ansible Vault) for every host of the fleet (group_vars/all), or bind them to "
            "127.0.0.1 behind your own authenticating proxy (README: Closing the fleet).",
            host=", ".join(open_hosts)))


def _purposes(purposes: Iterable[str]) -> str:
    return ", ".join(sorted(set(purposes)))


def _port_list(ports: Sequence[int]) -> str:
    return "%d-%d" % (ports[0], ports[-1]) if len(ports) > 2 else ", ".join(map(str, ports))


# ---------------------------------------------------------------- entry point


def _collect_hosts(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Mapping[str, Any]],
                   errors: List[Finding]) -> Tuple[Dict[str, List[_Node]], List[_Node]]:
    """GPU nodes by role, in inventory order, and the router hosts."""
    membership: Dict[str, str] = {}
    nodes_by_role: Dict[str, List[_Node]] = {}
    for group, role in GPU_GROUPS:
        for host in groups.get(group, ()):
            if host in membership:
                errors.append(Finding(
                    group, "one_gpu_group",
                    "host %s is in both %s and %s." % (host, membership[host], group),
                    "keep each GPU host in exactly one of sglang_workers, sglang_prefill, sglang_decode; "
                    "use an alias (another inventory name with the same ansible_host) for a second instance "
                    "on one machine.", host=host))
                continue
            membership[host] = group
            nodes_by_role.setdefault(role, []).append(_read_host(host, group, role, hostvars.get(host, {}), errors))
    gpu_nodes = {node.host: node for nodes in nodes_by_role.values() for node in nodes}
    routers = [gpu_nodes.get(host) or _read_host(host, ROUTER_GROUP, "router", hostvars.get(host, {}), errors,
                                                 ROUTER_VARIABLES)
               for host in groups.get(ROUTER_GROUP, ())]
    return nodes_by_role, routers


def _check_fleet_shape(nodes_by_role: Mapping[str, List[_Node]], routers: List[_Node], errors: List[Finding]) -> str:
    """Regular or PD, and what each needs; returns the mode."""
    regular = nodes_by_role.get("regular", [])
    disaggregated = nodes_by_role.get("prefill", []) or nodes_by_role.get("decode", [])
    if not regular and not disaggregated:
        errors.append(Finding("sglang_workers", "gpu_hosts_present",
                              "the inventory has no host in sglang_workers, sglang_prefill or sglang_decode.",
                              "add the GPU hosts to sglang_workers (regular) or to sglang_prefill and "
                              "sglang_decode (disaggregated)."))
    if regular and disaggregated:
        errors.append(Finding("sglang_workers", "one_mode",
                              "the inventory mixes regular workers (sglang_workers) with prefill/decode hosts.",
                              "deploy regular and disaggregated serving from separate inventories."))
    if not disaggregated:
        return "regular"
    for group, role in GPU_GROUPS[1:]:
        if not nodes_by_role.get(role):
            errors.append(Finding(group, "pd_roles_present",
                                  "disaggregated serving needs at least one %s instance; %s is empty." % (role, group),
                                  "add at least one GPU host to %s." % group))
    if not routers:
        errors.append(Finding(ROUTER_GROUP, "pd_router_present",
                              "disaggregated serving needs a router in front of prefill and decode; "
                              "sglang_router is empty.",
                              "add a host (a CPU machine is enough) to sglang_router."))
    return "pd"


def _all_instances(nodes_by_role: Mapping[str, List[_Node]], errors: List[Finding],
                   parser_options: Mapping[str, Sequence[Sequence[str]]]) -> List[_Instance]:
    instances: List[_Instance] = []
    for group, role in GPU_GROUPS:
        instances.extend(_form_instances(nodes_by_role.get(role, []), role, group, errors))
    seen: Dict[str, _Instance] = {}
    for instance in instances:
        if instance.name in seen:
            errors.append(Finding("sglang_instance", "instance_names_unique",
                                  "instance name %s is used in %s and %s."
                                  % (instance.name, seen[instance.name].group, instance.group),
                                  "give each instance its own sglang_instance name.", instance=instance.name))
        seen[instance.name] = instance
        _agree(instance, errors)
        _check_server_args(instance, errors, parser_options)
    return instances


def _check_pd_pairing(instances: List[_Instance], attn_tp: Mapping[str, Optional[int]], errors: List[Finding],
                      warnings: List[Finding], cache: Optional[Dict] = None) -> Tuple[Optional[str], Optional[str]]:
    """Prefill and decode must share model, backend and release; returns (backend, model)."""
    for name, rule, label in (("sglang_model_path", "pd_one_model", "model"),
                              ("sglang_transfer_backend", "pd_one_backend", "transfer backend"),
                              ("sglang_release_profile", "pd_one_release", "release profile")):
        values = sorted({str(i.settings[name]) for i in instances})
        if len(values) > 1:
            errors.append(Finding(name, rule,
                                  "prefill and decode instances use different %ss: %s." % (label, ", ".join(values)),
                                  "set one %s for sglang_prefill and sglang_decode (e.g. in group_vars/sglang_nodes)."
                                  % name))
    if not instances:
        return None, None
    _check_pd_attn_tp(instances, attn_tp, cache or {}, errors, warnings)
    _check_nixl_ib_devices(instances, errors)
    return instances[0].settings["sglang_transfer_backend"], instances[0].settings["sglang_model_path"]


def _check_nixl_ib_devices(instances: List[_Instance], errors: List[Finding]) -> None:
    """NIXL of a release that reads --disaggregation-ib-device takes HCA names only.

    SGLang 0.5.23 (nixl/conn.py _resolve_ucx_device_list) hands the GPU's devices to NIXL's UCX backend, which
    appends port 1 itself, and raises "requires HCA names without port suffixes" at start for mlx5_0:1.
    """
    for instance in instances:
        if instance.settings["sglang_transfer_backend"] != "nixl" or \
                not PROFILES[instance.settings["sglang_release_profile"]]["nixl_reads_ib_device"]:
            continue
        for node in instance.nodes:
            ib_device = node.settings["sglang_ib_device"]
            names = ib_device if isinstance(ib_device, list) else str(ib_device).split(",")
            with_port = [name.strip() for name in names if ":" in name]
            if with_port:
                errors.append(Finding(
                    "sglang_ib_device", "nixl_ib_device_port",
                    "NIXL of SGLang %s takes RDMA device names without a port (%s): it uses port 1 of each and "
                    "refuses to start with a port suffix." % (
                        PROFILES[instance.settings["sglang_release_profile"]]["sglang"], ", ".join(with_port)),
                    "name the HCAs only (%s), and make sure their port 1 is the ACTIVE one, or use "
                    "sglang_transfer_backend: mooncake." % ", ".join(name.split(":")[0] for name in with_port),
                    instance=instance.name, host=node.host))


def _cached_model_config(settings: Mapping[str, Any], cache: Mapping) -> Optional[dict]:
    """The model config _check_parallelism loaded for these settings, or None (unknown, or it failed)."""
    config = cache.get(_model_key(settings))
    return config if isinstance(config, dict) else None


def _attn_tp_layout(instance: _Instance, size: int) -> str:
    settings = instance.settings
    if settings["sglang_enable_dp_attention"] and settings["sglang_dp_size"] > 1:
        return "attention TP %d: tp_size %d / dp_size %d" % (size, settings["sglang_tp_size"], settings["sglang_dp_size"])
    return "attention TP %d" % size


def _sliced_kv_breaks(prefill_tp: int, decode_tp: int, kv_heads: int) -> Optional[str]:
    """How SGLang 0.5.6.post2/0.5.8's send_kvcache_slice fails between these sizes, or None if it does not."""
    if prefill_tp < decode_tp:
        if decode_tp <= kv_heads:
            return None
        return ("the decode's %d ranks outnumber the model's %d KV heads, so it computes 0 heads per decode rank "
                "(dst_heads_per_rank) and divides by it: every transfer raises ZeroDivisionError"
                % (decode_tp, kv_heads))
    if decode_tp == 1 and prefill_tp <= kv_heads:
        return None
    if prefill_tp > kv_heads:
        return ("the prefill's %d ranks replicate the model's %d KV heads, which it does not account for: it "
                "slices heads at the wrong size and writes them at the wrong offsets (corrupt KV cache or a "
                "failed transfer)" % (prefill_tp, kv_heads))
    return ("it writes each prefill rank's heads at the offset of its rank among all %d prefill ranks instead "
            "of among the %d that feed one decode rank, past that rank's slot for every decode rank but the "
            "first (corrupt KV cache or a failed transfer)" % (prefill_tp, prefill_tp // decode_tp))


def _check_pd_attn_tp(instances: List[_Instance], attn_tp: Mapping[str, Optional[int]], cache: Mapping,
                      errors: List[Finding], warnings: List[Finding]) -> None:
    """KV-cache transfers between prefill and decode instances of different attention-TP sizes.

    What SGLang does, read in each release's sglang/srt/disaggregation (common/conn.py and the backends'
    conn.py); nixl and mooncake behave alike, so the backend changes none of it:
    - CommonKVManager._resolve_rank_mapping (0.5.23; CommonKVReceiver.__init__ in 0.5.6.post2/0.5.8) pairs
      decode and prefill ranks by integer division of the two sizes: unless the larger is a multiple of the
      smaller, some ranks have no peer and their transfers fail (0.5.6.post2/0.5.8's
      ServerArgs.validate_disagg_tp_size asserts the same for --disaggregation-decode-tp). An error.
    - MLA models hold the whole latent cache on every attention-TP rank, and one rank sends whole pages:
      nothing to say.
    - Other models split their KV heads over the ranks: SGLang moves per-token head slices
      (NixlKVManager._init_hetero_tp_prep_handle and send_kvcache_slice, MooncakeKVManager.send_kvcache_slice;
      gathered in staging buffers with SGLANG_DISAGG_STAGING_BUFFER=1 in 0.5.23), and _resolve_rank_mapping
      logs "Performance is NOT guaranteed when using different TP sizes for non-MLA models". A warning.
    - 0.5.6.post2/0.5.8's send_kvcache_slice (nixl and mooncake alike) maps heads right only when prefill TP <
      decode TP <= KV heads, or decode TP 1 and prefill TP <= KV heads (_sliced_kv_breaks); 0.5.23's
      compute_head_slice_params handles replicated heads and any multiple (profile key pd_sliced_kv_any_tp).
      An error.
    - CommonKVManager.try_ensure_parallel_info (0.5.23) refuses different sizes for a non-MLA model whose KV
      cache is mxfp8 (its block scales are not sliced). An error.
    """
    groups: Dict[Tuple[int, int], Tuple[List[_Instance], List[_Instance]]] = {}
    for prefill in (i for i in instances if i.role == "prefill" and attn_tp[i.name]):
        for decode in (i for i in instances if i.role == "decode" and attn_tp[i.name]):
            sizes = (attn_tp[prefill.name], attn_tp[decode.name])
            if sizes[0] == sizes[1] or any(prefill.settings[name] != decode.settings[name] for name in (
                    "sglang_model_path", "sglang_model_config", "sglang_release_profile")):
                continue  # a different model or release is an error of its own
            sides = groups.setdefault(sizes, ([], []))
            for side, instance in zip(sides, (prefill, decode)):
                if instance not in side:
                    side.append(instance)
    for (prefill_tp, decode_tp), (prefills, decodes) in sorted(groups.items()):
        both = prefills + decodes
        where = {"instance": ", ".join(i.name for i in both),
                 "host": ", ".join(node.host for i in both for node in i.nodes)}
        pairing = ("prefill %s (%s) and decode %s (%s)"
                   % (", ".join(i.name for i in prefills), _attn_tp_layout(prefills[0], prefill_tp),
                      ", ".join(i.name for i in decodes), _attn_tp_layout(decodes[0], decode_tp)))
        same = ("give both sides the same attention-TP size (sglang_tp_size, or sglang_tp_size / sglang_dp_size "
                "with sglang_enable_dp_attention)")
        if max(prefill_tp, decode_tp) % min(prefill_tp, decode_tp):
            errors.append(Finding(
                "sglang_tp_size", "pd_attn_tp_multiple",
                "%s exchange their KV cache, and SGLang pairs their ranks by dividing the larger attention-TP size by "
                "the smaller: %d is not a multiple of %d, so some ranks get no peer and their transfers fail "
                "(with either transfer backend)." % (pairing, max(prefill_tp, decode_tp), min(prefill_tp, decode_tp)),
                "%s, or sizes of which one is a multiple of the other." % same, **where))
            continue
        config = _cached_model_config(prefills[0].settings, cache)
        if config is None or config.get("is_mla"):
            continue
        settings = prefills[0].settings
        release = PROFILES[settings["sglang_release_profile"]]
        kv_heads = config["num_key_value_heads"]
        broken = None if release["pd_sliced_kv_any_tp"] else _sliced_kv_breaks(prefill_tp, decode_tp, kv_heads)
        mxfp8 = [i.name for i in both if _server_arg(i.settings["sglang_server_args"], "kv-cache-dtype") == "mxfp8"]
        if broken:
            errors.append(Finding(
                "sglang_tp_size", "pd_attn_tp_slicing",
                "%s exchange the KV cache of %s (%d KV heads, not MLA) in head slices, and SGLang %s's "
                "send_kvcache_slice (nixl and mooncake alike) gets these sizes wrong: %s."
                % (pairing, settings["sglang_model_path"], kv_heads, release["sglang"], broken),
                "%s, or sglang_release_profile: %s (its compute_head_slice_params handles these sizes)."
                % (same, DEFAULT_PROFILE), **where))
        elif mxfp8:
            errors.append(Finding(
                "sglang_server_args", "pd_attn_tp_mxfp8",
                "%s differ in attention-TP size, and the sglang_server_args of %s set --kv-cache-dtype mxfp8: SGLang refuses every "
                "transfer (\"PD Disaggregation does NOT support different attention TP sizes with MXFP8 KV "
                "cache\"), since the block scales of a non-MLA model's KV cache cannot be cut by head."
                % (pairing, ", ".join(mxfp8)),
                "%s, or another kv-cache-dtype in sglang_server_args." % same, **where))
        else:
            warnings.append(Finding(
                "sglang_tp_size", "pd_attn_tp_mismatch",
                "%s differ in attention-TP size. SGLang supports it (with nixl and mooncake alike) but, as %s is "
                "not MLA, moves its KV cache in per-token head slices, many small RDMA writes instead of whole "
                "pages, and logs \"Performance is NOT guaranteed when using different TP sizes for non-MLA "
                "models\": expect a longer time to first token." % (pairing, settings["sglang_model_path"]),
                "%s for whole-page transfers%s." % (same, "; or set SGLANG_DISAGG_STAGING_BUFFER: 1 in sglang_env "
                                                    "(SGLang gathers the slices in GPU staging buffers, "
                                                    "SGLANG_DISAGG_STAGING_POOL_SIZE_MB each, 4096 by default)"
                                                    if release["pd_sliced_kv_any_tp"] else ""), **where))


def _services(instances: List[_Instance], routers: List[_Node], mode: str, backend: Optional[str],
              errors: List[Finding]) -> List[dict]:
    """Every service of the instances that are sound so far.

    Machine checks need the services, so they are built even when other errors
    exist: a port clash is then reported together with them, not on the next run.
    """
    tainted_hosts = {f.host for f in errors if f.host}
    tainted_instances = {f.instance for f in errors if f.instance}
    sound = [i for i in instances
             if i.name not in tainted_instances and not tainted_hosts & {n.host for n in i.nodes}]
    services = [_worker_service(instance, node, rank, backend)
                for instance in sound for rank, node in enumerate(instance.nodes)]
    services.extend(_router_service(node, sound, mode) for node in routers if node.host not in tainted_hosts)
    _check_api_key_reach(instances, routers, errors)
    _check_reachable(sound, routers, errors)
    return services


def _check_reachable(instances: List[_Instance], routers: List[_Node], errors: List[Finding]) -> None:
    """A worker must listen on, and advertise, an address its peers can reach from their machines.

    Its peers: the routers, the other ranks of its instance, and (prefill and decode) the other side. A
    loopback address reaches only its own machine; a specific bind address is the only one it answers on.
    """
    disaggregated = [i for i in instances if i.role != "regular"]
    for instance in instances:
        others = [i for i in disaggregated if i.role != instance.role] if instance.role != "regular" else []
        for node in instance.nodes:
            peers = {n.machine for n in instance.nodes + [m for i in others for m in i.nodes]} | {r.machine for r in routers}
            remote = sorted(peers - {node.machine})
            if not remote:
                continue
            bind, address = node.settings["sglang_host"], node.address
            if rules.is_loopback(bind):
                errors.append(Finding(
                    "sglang_host", "reachable_bind",
                    "%s listens on %s, a loopback address, but its router or peers run on %s." % (node.host, bind, ", ".join(remote)),
                    "set sglang_host to 0.0.0.0 (or this machine's address that they reach).",
                    instance=instance.name, host=node.host))
            elif rules.is_loopback(address):
                variable = "sglang_advertise_address" if node.settings["sglang_advertise_address"] else "ansible_host"
                errors.append(Finding(
                    variable, "reachable_address",
                    "%s advertises %s, a loopback address, to its router and peers on %s." % (node.host, address, ", ".join(remote)),
                    "set sglang_advertise_address to the address of this machine that %s reach." % ", ".join(remote),
                    instance=instance.name, host=node.host))
            elif rules.is_ip(bind) and rules.is_ip(address) and bind not in ("0.0.0.0", "::") and \
                    _ip(bind) != _ip(address):
                errors.append(Finding(
                    "sglang_host", "reachable_bind",
                    "%s listens on %s only, but its router and peers on %s connect to %s." % (
                        node.host, bind, ", ".join(remote), address),
                    "set sglang_host to 0.0.0.0 or to %s, or sglang_advertise_address to %s." % (address, bind),
                    instance=instance.name, host=node.host))


def _ip(text: str):
    return ipaddress.ip_address(text.strip("[]"))


def _check_api_key_reach(instances: List[_Instance], routers: List[_Node], errors: List[Finding]) -> None:
    """Workers with an API key answer a router without one with 401, and the reverse is an open door."""
    keyed = sorted({n.host for i in instances for n in i.nodes if "sglang_api_key" in n.settings["secrets"]})
    unkeyed = sorted({n.host for i in instances for n in i.nodes} - set(keyed))
    if not routers or not keyed:
        return
    for router in routers:
        if "sglang_api_key" not in router.settings["secrets"]:
            errors.append(Finding(
                "sglang_api_key", "api_key_everywhere",
                "workers %s require an API key but the router has none, so it cannot reach them." % ", ".join(keyed),
                "define sglang_api_key for the router hosts too (group_vars/all).", host=router.host))
    if unkeyed:
        errors.append(Finding(
            "sglang_api_key", "api_key_everywhere",
            "some workers have an API key and these have none, so they serve anyone.",
            "define sglang_api_key for every GPU host (group_vars/all).", host=", ".join(unkeyed)))


def _router_record(routers: List[_Node]) -> Optional[dict]:
    if not routers:
        return None
    first = routers[0]
    port = first.settings["sglang_router_port"]
    return {"host": first.host, "address": first.address, "port": port,
            "url": "http://%s:%d" % (_format_address(first.address), port), "hosts": [node.host for node in routers]}


def build_plan(
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    known_variables: Iterable[str] = (),
    model_config_loader: Callable = load_model_config,
    parser_options: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
    variable_prefixes: Sequence[str] = ("sglang_",),
) -> PlanResult:
    """Turn inventory ``groups`` and ``hostvars`` into the plan (docs/plan-format.md).

    ``parser_options``: the option strings of SGLang's parser by release (``_input_rules.option_strings_of``
    of roles/sglang_service/files/server_args/<release>.json), to read sglang_server_args as SGLang would.
    ``variable_prefixes``: a variable with one of these prefixes that ``known_variables`` does not hold is a
    misspelling (the roles' prefixes: ``cuda_toolkit_``, ``gdrcopy_``, ...).
    """
    errors: List[Finding] = []
    warnings: List[Finding] = []

    nodes_by_role, routers = _collect_hosts(groups, hostvars, errors)
    gpu_nodes = {node.host: node for nodes in nodes_by_role.values() for node in nodes}
    known = known_variable_names(known_variables)
    for host in sorted(set(gpu_nodes) | {node.host for node in routers}):
        _check_unknown_variables(host, hostvars.get(host, {}), known, tuple(variable_prefixes), errors)
    for host in sorted(set(gpu_nodes) | {node.host for node in routers} | set(groups.get(PYPI_CACHE_GROUP, ()))):
        _check_role_values(host, hostvars.get(host, {}), known, errors)
    for node in gpu_nodes.values():
        _check_env(node, errors)
    mode = _check_fleet_shape(nodes_by_role, routers, errors)

    instances = _all_instances(nodes_by_role, errors, parser_options or {})
    cache: Dict = {}
    attn_tp = {i.name: _check_parallelism(i, errors, model_config_loader, cache) for i in instances}
    if mode == "pd":
        backend, model_path = _check_pd_pairing(instances, attn_tp, errors, warnings, cache)
    else:
        backend, models = None, {i.settings["sglang_model_path"] for i in instances}
        model_path = models.pop() if len(models) == 1 else None

    services = _services(instances, routers, mode, backend, errors)
    _check_gpu_ranges(services, gpu_nodes, errors)
    _check_ports(services, errors)
    _check_units(services, errors)
    _check_machine_accounts(services, errors)
    _warn_open_services(services, gpu_nodes, routers, warnings)
    if errors:
        return PlanResult(None, _merge_hosts(errors), warnings)

    plan_instances = [_instance_record(i, attn_tp[i.name], backend, _kv_bytes_per_token(i, cache)) for i in instances]
    plan = {
        "schema_version": SCHEMA_VERSION,
        "mode": mode,
        "model_path": model_path,
        "transfer_backend": backend,
        "instances": plan_instances,
        "router": _router_record(routers),
        "links": [{"prefill": p.name, "decode": d.name, "backend": backend}
                  for p in instances if p.role == "prefill" for d in instances if d.role == "decode"],
        "services": services,
        "hosts": _host_records(services, plan_instances, dict(gpu_nodes, **{n.host: n for n in routers})),
        "warnings": [w.to_dict() for w in warnings],
    }
    return PlanResult(plan, errors, warnings)


def _host_records(services: List[dict], instances: List[dict], nodes: Mapping[str, _Node]) -> Dict[str, dict]:
    """Per inventory host: its machine and its preflight block (``_plan_hosts.preflight_block``)."""
    by_name = {i["name"]: i for i in instances}
    names = sorted({s["address"] for s in services} | {s["machine"] for s in services})
    ssh_ports = {host: node.ssh_port for host, node in nodes.items()}
    records = {}
    for host in dict.fromkeys(s["host"] for s in services):
        mine = [s for s in services if s["host"] == host]
        records[host] = {"machine": mine[0]["machine"],
                         "preflight": preflight_block(mine, by_name, nodes[host].settings, names, ssh_ports)}
    return records
