# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an inventory value may hold before it reaches a unit, an environment file or a command line.

The plan (``_topology``) applies these rules to every value it reads. A systemd unit is a line-based
file: a newline in a value is a new directive, a leading ``+`` on a command runs it as root, ``%`` and
``$`` are expanded. The templates escape all of that as a second line of defence, but a value that
needs escaping is refused here first, with the rule that names what is allowed. Each check returns
the problem as text (to follow "name = value ...") or None.

Pure Python, no Ansible: controller code (the plan) uses it, and its unit tests call it directly.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

# Unicode categories no inventory value needs: control characters (C0, DEL, C1: newline, carriage
# return, tab, NUL...), format characters (bidirectional overrides that make a log lie), surrogates
# (not encodable in a UTF-8 file) and the line and paragraph separators.
FORBIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))

# Bounds that keep a careless value from producing a plan nobody can read (or a controller busy for
# minutes): 200000 GPUs per node is a typo, not a machine.
MAX_STRING = 4096
MAX_ITEMS = 1024

# An instance name becomes part of its unit name (sglang-<name>.service) and of its files' names.
INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Names the plan gives its own services.
RESERVED_INSTANCE_NAMES = frozenset(("router",))
# What a POSIX shell and systemd's Environment= both accept as a variable name.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A directory or file the collection writes or runs from: absolute, no `.`/`..` component, no character a
# unit, a shell or a person reading a log would have to think about.
_PATH_COMPONENT = r"[A-Za-z0-9_@+][A-Za-z0-9_.@+-]*|\.[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*"
PLAIN_PATH = re.compile(r"(/(?:%s))+/?" % _PATH_COMPONENT)
# A Hugging Face repository id (the Hub's own rule: letters, digits, `-`, `_`, `.`; at most 96 each).
HF_REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# A host name as DNS (and Docker, which allows `_`) gives them; an IP address is checked by ipaddress.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(r"%s(?:\.%s)*\.?" % (_LABEL, _LABEL))
# A network interface (IFNAMSIZ is 16 with the NUL) and an RDMA device name (mlx5_0, mlx5_bond_0).
INTERFACE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}")
DEVICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
# A plain word (a router policy, a memlock size, a module name) and a version (570.26).
WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")
VERSION = re.compile(r"\d+(?:\.\d+){0,3}")

# A flag name of sglang_server_args, with or without its leading dashes.
FLAG_NAME = re.compile(r"-{0,2}[A-Za-z0-9][A-Za-z0-9_-]*")
# What argparse takes for a negative number rather than an option (argparse._negative_number_matcher).
NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")

# Ports only CAP_NET_BIND_SERVICE may bind.
PRIVILEGED_PORTS = 1024

LOOPBACK_NAMES = frozenset(("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"))


_CONTROL_NAMES = {"\n": "line feed", "\r": "carriage return", "\t": "tab", "\x00": "NUL", "\x1b": "escape",
                  "\x7f": "delete"}


def forbidden_character(text: str) -> Optional[str]:
    """The first character no inventory value may hold, described, or None."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character").lower()
            return "U+%04X (%s) at position %d" % (ord(char), name, position)
    return None


def value_problem(value: Any, where: str = "") -> Optional[Tuple[str, str]]:
    """(rule, problem) for the first forbidden character or oversize anywhere in a value (keys, items,
    nested values), or None. The rule is no_control_characters or value_size."""
    at = " in %s" % where if where else ""
    if isinstance(value, str):
        found = forbidden_character(value)
        if found:
            return "no_control_characters", "holds %s%s" % (found, at)
        if len(value) > MAX_STRING:
            return "value_size", "is %d characters long%s (at most %d)" % (len(value), at, MAX_STRING)
        return None
    if isinstance(value, (Mapping, list, tuple)) and len(value) > MAX_ITEMS:
        return "value_size", "has %d entries%s (at most %d)" % (len(value), at, MAX_ITEMS)
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = "%s.%s" % (where, key) if where else str(key)
            problem = (value_problem(key, "the key of %s" % inner) if isinstance(key, str) else None) \
                or value_problem(item, inner)
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = value_problem(item, "%s[%d]" % (where, index) if where else "item %d" % index)
            if problem:
                return problem
    return None


def path_problem(value: str) -> Optional[str]:
    if not PLAIN_PATH.fullmatch(value):
        return "is not a plain absolute path (/ then letters, digits, _ . @ + -; no . or .. component)"
    if value.rstrip("/") == "":
        return "is the root directory"
    return None


def model_path_problem(value: str) -> Optional[str]:
    if value.startswith("/"):
        return path_problem(value)
    if not HF_REPO_ID.fullmatch(value) or "--" in value or ".." in value:
        return "is neither a Hugging Face repository id (org/name) nor an absolute path"
    return None


def address_problem(value: str) -> Optional[str]:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return None
    except ValueError:
        pass
    if len(value) > 253 or not HOST_NAME.fullmatch(value):
        return "is neither an IP address nor a host name"
    return None


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address.strip("[]"))
        return True
    except ValueError:
        return False


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address.lower().rstrip(".") in LOOPBACK_NAMES


def pattern_problem(value: str, pattern: "re.Pattern[str]", what: str) -> Optional[str]:
    return None if pattern.fullmatch(value) else "is not %s" % what


# A POSIX account name as useradd takes it.
ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def account_problem(value: str) -> Optional[str]:
    if value in ("root", "0"):
        return "is root: the services run unprivileged, and their units are hardened for that"
    return pattern_problem(value, ACCOUNT_NAME, "an account name (a-z, 0-9, _ -, at most 32)")


def instance_name_problem(value: str) -> Optional[str]:
    if value in RESERVED_INSTANCE_NAMES:
        return "is reserved (the plan's %s service)" % value
    return pattern_problem(value, INSTANCE_NAME, "a name of at most 63 letters, digits, _ . - (starting with a letter or digit)")


# ---------------------------------------------------------------- SGLang's command line


def value_looks_like_flag(token: str) -> bool:
    """argparse reads a word that starts with `-` as an option unless it looks like a negative number."""
    return token.startswith("-") and not NEGATIVE_NUMBER.fullmatch(token)


def resolve_flag(flag: str, options: Sequence[Sequence[str]]) -> Tuple[Optional[Sequence[str]], List[str]]:
    """The option strings of the action argparse picks for ``--flag``, and the candidates it considered.

    argparse (allow_abbrev: SGLang's parser keeps the default) takes an exact option string, else the
    option strings the flag is a prefix of: one is an abbreviation it expands, several are an
    "ambiguous option" error. Returns (option strings of that action, matches): (None, []) for an
    unknown flag, (None, several) for an ambiguous one. Aliases (--model for --model-path) resolve to
    their action, so a managed flag is found under any of its names.
    """
    wanted = "--" + flag
    by_string = {string: tuple(strings) for strings in options for string in strings}
    if wanted in by_string:
        return by_string[wanted], [wanted]
    matches = sorted(string for string in by_string if string.startswith(wanted))
    if len(matches) == 1:
        return by_string[matches[0]], matches
    return None, matches


def option_strings_of(spec: Mapping[str, Any]) -> List[List[str]]:
    """The option strings of each action of a parser table (server_args/<release>.json)."""
    return [list(option["option_strings"]) for option in spec.get("options", ()) if option.get("option_strings")]


def prefix_of_any(flag: str, names: Iterable[str]) -> List[str]:
    """The names ``flag`` abbreviates (for a release whose parser table is not shipped)."""
    return sorted(name for name in names if name != flag and name.startswith(flag))


# ---------------------------------------------------------------- secrets


class RedactedSecret:
    """What the plan may know of a secret: whether it is usable, never its value.

    The controller hands the plan this stand-in instead of the value (plugins/action/topology_plan.py),
    so that no plan, message or log can hold the secret.
    """

    __slots__ = ("problem",)

    def __init__(self, problem: Optional[str]):
        self.problem = problem

    def __repr__(self) -> str:
        return "(secret%s)" % (": " + self.problem if self.problem else "")


def secret_problem(value: Any) -> Optional[str]:
    """Why a secret's value cannot be used (empty, not text, a control character), or None."""
    if isinstance(value, RedactedSecret):
        return value.problem
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "not a string"
    text = str(value)
    if not text.strip():
        return "empty"
    if forbidden_character(text):
        return "holding a control character"
    if len(text) > MAX_STRING:
        return "longer than %d characters" % MAX_STRING
    return None


def redact(value: Any) -> Any:
    """The stand-in of a secret variable's value (a mapping of secrets keeps its names; unset stays unset)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {key: RedactedSecret(secret_problem(item)) for key, item in value.items()}
    return RedactedSecret(secret_problem(value))


# Words in an environment variable's name that say it holds a secret (the name trimmed and case-folded).
# TOKENS is a count (SGLANG_..._MAX_DISPATCH_TOKENS_PER_RANK) and TOKENIZER a component
# (TOKENIZERS_PARALLELISM), not a token.
SECRET_NAME = re.compile(r"token(?!s|iz)|key|secret|passw(?:or)?d")


def looks_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name.strip().casefold()))
