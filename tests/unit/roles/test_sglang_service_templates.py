# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/sglang_service/templates: systemd quoting of the plan's argv and environment, hostile plans, hardening.

Each rendered unit is read back the way systemd reads it (lines end at a newline, a carriage return or a NUL;
a trailing backslash joins the next line; ExecStart= words are unquoted and C-unescaped, then %% and $$ undone;
EnvironmentFile values by systemd's environment-file grammar) and checked by the real ``systemd-analyze verify``;
``systemd-analyze security --offline`` scores the hardening.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import comment

from ansible_collections.gpufleet.sglang.plugins.filter.systemd_quote import FilterModule
from ansible_collections.gpufleet.sglang.plugins.filter.ucx_net_devices import FilterModule as UcxFilterModule
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import VENV_ENV_FILE

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "roles" / "sglang_service" / "templates"
GOLDEN_PLANS = sorted((ROOT / "tests" / "golden" / "plans").glob("*.json"))
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_systemd_analyze = pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK),
                                           reason="systemd-analyze is not installed")
# What `systemd-analyze security` must score each unit below (the bar; 9.2 before hardening).
MAX_EXPOSURE = 6.0


def environment(templates: Path) -> jinja2.Environment:
    # Ansible renders templates with trim_blocks and its own filters and tests; these are the ones used.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.tests["match"] = lambda value, pattern: re.match(pattern, value) is not None  # Ansible's `match` test
    env.filters["comment"] = comment
    for name, function in {**FilterModule().filters(), **UcxFilterModule().filters()}.items():
        env.filters["gpufleet.sglang." + name] = function
    return env


def render(name: str, templates: Path = TEMPLATES, **variables) -> str:
    # The lookup() of the env template is a plain dict here.
    secrets = variables.pop("secrets", {})
    return environment(templates).get_template(name).render(
        ansible_managed="managed", lookup=lambda _kind, name: secrets[name], **variables)


# The account and EnvironmentFile every service of the plan carries.
ACCOUNT = {"user": "sglang", "group": "sglang", "home": "/var/lib/sglang"}


def worker(argv: list, env: dict | None = None, secret_env: dict | None = None, engine: str = "sglang", **fields) -> dict:
    service = {"kind": "worker", "role": "regular", "instance": "regular-0", "node_rank": 0, "unit": "sglang-regular-0",
               "engine": engine, "argv": argv, "env": env or {}, "secret_env": secret_env or {},
               "env_file": "/etc/sglang/sglang-regular-0.env", "library_env_file": None, **ACCOUNT}
    service.update(fields)
    return service


def router(argv: list, **fields) -> dict:
    service = {"kind": "router", "role": "router", "instance": "router", "node_rank": None, "unit": "sglang-router",
               "engine": "smg", "argv": argv, "env": {}, "secret_env": {}, "env_file": "/etc/sglang/sglang-router.env",
               "library_env_file": None, **ACCOUNT}
    service.update(fields)
    return service


ROLE_VARS = {"sglang_service_restart_sec": 10,
             "sglang_service_timeout_start_sec": 300, "sglang_service_limit_nofile": 1048576,
             "sglang_service_read_write_paths": []}


# --- Reading units back as systemd does ---------------------------------------------------------------------------

def unit_sections(text: str) -> dict:
    """[Section] -> [(key, value)] as systemd's unit parser sees them (load-fragment's line rules)."""
    sections: dict = {}
    current = None
    pending = ""
    for raw in re.split(r"\r\n|\r|\n|\x00", text):
        line = pending + raw
        pending = ""
        if line.endswith("\\") and not line.lstrip().startswith(("#", ";")):
            pending = line[:-1] + " "
            continue
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            current = stripped[1:stripped.index("]")]
            sections.setdefault(current, [])
            continue
        key, _equals, value = stripped.partition("=")
        sections.setdefault(current, []).append((key.strip(), value.strip()))
    return sections


def settings(text: str, section: str = "Service") -> dict:
    """key -> [values] of one section."""
    found: dict = {}
    for key, value in unit_sections(text).get(section, []):
        found.setdefault(key, []).append(value)
    return found


_C_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
             "'": "'", "s": " "}


def _cunescape(text: str, at: int) -> tuple:
    """One C escape of systemd's cunescape_one() at text[at] (just after the backslash): (character, next index)."""
    char = text[at]
    if char in _C_SIMPLE:
        return _C_SIMPLE[char], at + 1
    for letter, digits in (("x", 2), ("u", 4), ("U", 8)):
        if char == letter:
            code = int(text[at + 1:at + 1 + digits], 16)
            assert code != 0, "systemd refuses an escaped NUL"
            return chr(code), at + 1 + digits
    if char in "01234567":
        code = int(text[at:at + 3], 8)
        assert code != 0, "systemd refuses an escaped NUL"
        return chr(code), at + 3
    raise AssertionError("systemd rejects the escape \\%s" % char)


def systemd_words(line: str) -> list:
    """An ExecStart= value as the words systemd executes: specifiers (%%), then words (quotes, C escapes), then $$."""
    assert re.search(r"(?:^|\s);(?:\s|$)", line) is None, "an unquoted ; separates commands"
    unspecified = []
    at = 0
    while at < len(line):
        if line[at] == "%":
            assert line[at + 1:at + 2] == "%", "a lone %% is a systemd specifier: %r" % line
            at += 1
        unspecified.append(line[at])
        at += 1
    line = "".join(unspecified)
    words = []
    at = 0
    while True:
        while at < len(line) and line[at] in " \t\n\r":
            at += 1
        if at >= len(line):
            break
        word, quote = [], None
        while at < len(line) and (quote or line[at] not in " \t\n\r"):
            char = line[at]
            if char == "\\":
                char, at = _cunescape(line, at + 1)
                word.append(char)
                continue
            if quote is None and char in "\"'":
                quote = char
            elif char == quote:
                quote = None
            else:
                word.append(char)
            at += 1
        assert quote is None, "unbalanced quotes: %r" % line
        words.append("".join(word))
    return [_undollar(word) for word in words]


def _undollar(word: str) -> str:
    """systemd's variable expansion of an argument at exec time: $$ is a $, $NAME and ${NAME} are variables."""
    out = []
    at = 0
    while at < len(word):
        if word[at] == "$":
            if word[at + 1:at + 2] == "$":
                out.append("$")
                at += 2
                continue
            assert not re.match(r"[{A-Za-z_]", word[at + 1:at + 2]), "systemd would expand a variable in %r" % word
        out.append(word[at])
        at += 1
    return "".join(out)


def environment_file(text: str) -> list:
    """(name, value) pairs of an EnvironmentFile, by systemd's parse_env_file_internal() state machine."""
    pairs, key, value = [], [], None
    state = "PRE_KEY"
    for char in text.split("\x00")[0]:
        if state == "PRE_KEY":
            if char in "#;":
                state = "COMMENT"
            elif char not in " \t\n\r":
                state, key = "KEY", [char]
        elif state == "KEY":
            if char in "\n\r":
                state, key = "PRE_KEY", []
            elif char == "=":
                state, value = "PRE_VALUE", []
            else:
                key.append(char)
        elif state in ("PRE_VALUE", "VALUE"):
            if char in "\n\r":
                pairs.append(("".join(key).strip(), "".join(value).rstrip() if state == "VALUE" else "".join(value)))
                state, key, value = "PRE_KEY", [], None
            elif char == "'" and state == "PRE_VALUE":
                state = "SINGLE"
            elif char == '"' and state == "PRE_VALUE":
                state = "DOUBLE"
            elif char == "\\":
                state = "VALUE_ESCAPE"
            elif state == "VALUE" or char not in " \t":
                state = "VALUE"
                value.append(char)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if char not in "\n\r":
                value.append(char)
        elif state == "SINGLE":
            if char == "'":
                state = "PRE_VALUE"
            else:
                value.append(char)
        elif state == "DOUBLE":
            if char == '"':
                state = "PRE_VALUE"
            elif char == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value.append(char)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if char in '"\\`$':
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
        elif state == "COMMENT":
            if char == "\\":
                state = "COMMENT_ESCAPE"
            elif char in "\n\r":
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "PRE_KEY" if char in "\n\r" else "COMMENT"
    if state in ("PRE_VALUE", "VALUE"):
        pairs.append(("".join(key).strip(), "".join(value)))
    assert state in ("PRE_KEY", "PRE_VALUE", "VALUE", "COMMENT"), "the file ends inside a quoted value (%s)" % state
    return pairs


# --- The real systemd ---------------------------------------------------------------------------------------------

def verify(directory: Path, unit: str, text: str) -> None:
    """`systemd-analyze verify` of the unit: no error and no complaint about any of its lines."""
    path = directory / ("%s.service" % unit)
    path.write_bytes(text.encode("utf-8"))
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", "--generators=no", str(path)],
                            capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_LOG_LEVEL="info"))
    complaints = [line for line in result.stderr.splitlines() if str(path) in line or path.name in line]
    assert result.returncode == 0 and not complaints, (result.returncode, result.stderr, text)


def exposure(directory: Path, unit: str, text: str) -> float:
    """The overall exposure `systemd-analyze security --offline` gives the unit file (0 safe .. 10 unsafe)."""
    path = directory / ("%s.service" % unit)
    path.write_bytes(text.encode("utf-8"))
    result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(path)],
                            capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_COLORS="0"))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, (result.returncode, result.stdout, result.stderr)
    return float(found.group(1))


# Where verify may find an executable: ExecStart's program must exist on this machine.
PROGRAM = "/bin/true"


# --- Hostile plans -----------------------------------------------------------------------------------------------

CONTROL_CHARACTERS = ["\x01", "\x02", "\x03", "\x04", "\x05", "\x06", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r",
                      "\x0e", "\x0f", "\x10", "\x11", "\x12", "\x13", "\x14", "\x15", "\x16", "\x17", "\x18", "\x19",
                      "\x1a", "\x1b", "\x1c", "\x1d", "\x1e", "\x1f", "\x7f"]
HOSTILE = [
    "line\nbreak", "carriage\rreturn", "tab\there", "crlf\r\nExecStartPre=+/bin/sh",
    "[Service]\nExecStartPre=+/bin/sh -c id", "[Service]\rExecStartPre=+/bin/sh -c id",
    "x\n[Install]\nAlias=evil.service", "".join(CONTROL_CHARACTERS), "c1\x85\x9b and \u2028\u2029 separators",
    "50%", "%n%i%%", "$HOME", "${HOME}", "$$", "a$", 'say "hi"', "it's", "back\\slash", "trailing\\", "\\", ";", "\\;",
    "", " ", "  two  spaces ", "-dash", "+plus", "@at", "!bang", ":colon", "#hash", "ünïcødé ✓", "a\\\nb",
    '{"rope_scaling": {"factor": 4}}',
] + ["ctl%s" % char for char in CONTROL_CHARACTERS]
EXPECTED_UNIT_SECTIONS = {"Unit", "Service", "Install"}
EXPECTED_UNIT_KEYS = {"Description", "Wants", "After"}
EXPECTED_INSTALL_KEYS = {"WantedBy"}
HARDENING_KEYS = {
    "UMask", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ReadWritePaths",
    "ProtectHome", "PrivateTmp", "PrivateMounts", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc", "RestrictNamespaces", "RestrictRealtime",
    "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
    "RestrictAddressFamilies", "KeyringMode",
}
BASE_SERVICE_KEYS = {"Type", "User", "Group", "WorkingDirectory", "EnvironmentFile", "ExecStart", "Restart", "RestartSec",
                     "TimeoutStartSec", "LimitMEMLOCK", "LimitNOFILE"}
WORKER_SERVICE_KEYS = BASE_SERVICE_KEYS | HARDENING_KEYS | {"DevicePolicy", "DeviceAllow"}
ROUTER_SERVICE_KEYS = BASE_SERVICE_KEYS | HARDENING_KEYS | {"PrivateDevices", "MemoryDenyWriteExecute"}


def assert_only_expected_settings(text: str, kind: str) -> None:
    expected = {"Unit": EXPECTED_UNIT_KEYS, "Service": WORKER_SERVICE_KEYS if kind == "worker" else ROUTER_SERVICE_KEYS,
                "Install": EXPECTED_INSTALL_KEYS}
    sections = unit_sections(text)
    # First what a hostile value could add (a section, a setting), then that every expected setting is there.
    assert set(sections) <= set(expected), "sections added: %s\n%s" % (set(sections) - set(expected), text)
    for section, keys in expected.items():
        added = set(settings(text, section)) - keys
        assert not added, "settings added to [%s]: %s\n%s" % (section, sorted(added), text)
    for section, keys in expected.items():
        assert set(settings(text, section)) == keys, (section, text)
    assert len(settings(text)["ExecStart"]) == 1, text
    assert not any(value.startswith(("+", "-", "@", "!", ":")) for value in settings(text)["ExecStart"]), text


def exec_start(text: str) -> list:
    return systemd_words(settings(text)["ExecStart"][0])


@pytest.mark.parametrize("arg, written", [
    ("/opt/sglang/venv/bin/python", "/opt/sglang/venv/bin/python"),
    ("--json-model-override-args", "--json-model-override-args"),
    ('{"rope_scaling": {"factor": 4}}', '"{\\"rope_scaling\\": {\\"factor\\": 4}}"'),
    ("two words", '"two words"'),
    ("50%", '"50%%"'),
    ("$HOME", '"$$HOME"'),
    ("", '""'),
    ("a\nb", '"a\\nb"'),
    ("a\rb", '"a\\rb"'),
    ("a\tb", '"a\\tb"'),
    ("\x01\x1f\x7f", '"\\x01\\x1f\\x7f"'),
    ("\x85", '"\\u0085"'),
    ("back\\slash", '"back\\\\slash"'),
    (";", '";"'),
])
def test_exec_start_words(arg: str, written: str) -> None:
    text = render("service.unit.j2", service=worker(["/bin/true", arg]), **ROLE_VARS)
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert line == "ExecStart=/bin/true " + written
    assert systemd_words(line[len("ExecStart="):]) == ["/bin/true", arg]


@needs_systemd_analyze
@pytest.mark.parametrize("kind", ["worker", "router"])
@pytest.mark.parametrize("arg", HOSTILE, ids=[repr(arg)[:40] for arg in HOSTILE])
def test_hostile_argv_stays_one_word(tmp_path: Path, kind: str, arg: str) -> None:
    """Whatever an argv word holds, systemd reads back exactly the plan's argv and no other setting."""
    argv = [PROGRAM, "--model-path", arg, arg + arg, "--port", "30000"]
    service = worker(argv) if kind == "worker" else router(argv)
    text = render("service.unit.j2", service=service, **ROLE_VARS)
    assert_only_expected_settings(text, kind)
    assert exec_start(text) == argv
    verify(tmp_path, service["unit"], text)


@pytest.mark.parametrize("program", ["+/bin/sh", "-/bin/true", "@/bin/true", "!/bin/true", "!!/bin/true", ":/bin/true",
                                     "bin/true", "true", "", "/bin/$SHELL", "/bin/tr\nue", "/bin/tr\rue", "/bin/true\x00"])
def test_program_cannot_carry_a_prefix(program: str) -> None:
    """systemd reads privilege prefixes (+ ! @ - :) from the unquoted first word: it must be a plain absolute path."""
    with pytest.raises(AnsibleFilterError, match="systemd_exec"):
        render("service.unit.j2", service=worker([program, "--port", "30000"]), **ROLE_VARS)


def test_nul_in_an_argument_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="NUL"):
        render("service.unit.j2", service=worker([PROGRAM, "a\x00b"]), **ROLE_VARS)


@needs_systemd_analyze
@pytest.mark.parametrize("value", HOSTILE, ids=[repr(value)[:40] for value in HOSTILE])
def test_hostile_plan_fields_never_add_a_setting(tmp_path: Path, value: str) -> None:
    """The plan's instance name is not written; the other fields are refused unless they are plain words."""
    service = worker([PROGRAM], instance=value)
    text = render("service.unit.j2", service=service, **ROLE_VARS)
    assert_only_expected_settings(text, "worker")
    verify(tmp_path, service["unit"], text)
    for field in ("unit", "role", "engine", "node_rank"):
        if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.@:+-]*", value):
            continue
        with pytest.raises(AnsibleFilterError):
            render("service.unit.j2", service=worker([PROGRAM], **{field: value}), **ROLE_VARS)


@pytest.mark.parametrize("variable, value", [
    ("sglang_service_read_write_paths", ["/data\nUser=root"]), ("sglang_service_read_write_paths", ["relative"]),
])
def test_hostile_role_variables_are_refused(variable: str, value) -> None:
    with pytest.raises((AnsibleFilterError, ValueError)):
        render("service.unit.j2", service=worker([PROGRAM]), **{**ROLE_VARS, variable: value})


@pytest.mark.parametrize("field, value", [
    ("user", "sglang\nExecStartPre=+/bin/sh"), ("user", "sg lang"), ("group", "sglang\rExecStartPre=+/bin/sh"),
    ("home", "/var/lib/sglang\nUser=root"), ("home", "var/lib/sglang"), ("home", "/var/lib/sg lang"),
    ("env_file", "/etc/sglang\\x.env"), ("env_file", "/etc/\"sglang.env"),
])
def test_hostile_account_fields_of_the_plan_are_refused(field: str, value) -> None:
    with pytest.raises((AnsibleFilterError, ValueError)):
        render("service.unit.j2", service=worker([PROGRAM], **{field: value}), **ROLE_VARS)


def test_the_plans_account_and_environment_file() -> None:
    """The unit runs as the plan's account (service.user, ...) with the plan's EnvironmentFile."""
    account = {"user": "sg", "group": "gpu", "home": "/srv/sg", "env_file": "/etc/sg/sglang-regular-0.env"}
    found = settings(render("service.unit.j2", service=worker([PROGRAM], **account), **ROLE_VARS))
    assert (found["User"], found["Group"], found["WorkingDirectory"], found["EnvironmentFile"], found["ReadWritePaths"]) == (
        ["sg"], ["gpu"], ["/srv/sg"], ["/etc/sg/sglang-regular-0.env"], ["/srv/sg"])
    for field, value in (("user", "sg\nUser=root"), ("group", "g p"), ("home", "/srv\rUser=root"),
                         ("env_file", "relative.env")):
        with pytest.raises(AnsibleFilterError):
            render("service.unit.j2", service=worker([PROGRAM], **{**account, field: value}), **ROLE_VARS)


def test_the_venvs_library_environment_comes_first() -> None:
    """An SGLang worker loads what the sglang role installed (sglang.env) before its own EnvironmentFile, which wins."""
    service = worker([PROGRAM], library_env_file="/opt/sglang/venv/sglang.env")
    found = settings(render("service.unit.j2", service=service, **ROLE_VARS))
    assert found["EnvironmentFile"] == ["/opt/sglang/venv/sglang.env", "/etc/sglang/sglang-regular-0.env"]
    assert settings(render("service.unit.j2", service=worker([PROGRAM]), **ROLE_VARS))["EnvironmentFile"] == [
        "/etc/sglang/sglang-regular-0.env"]


def test_the_sglang_roles_environment_file_reads_back() -> None:
    """roles/sglang writes the file the plan names (VENV_ENV_FILE), with what sglang-env.sh exports, expanded."""
    vars_main = (ROOT / "roles" / "sglang" / "vars" / "main.yml").read_text()
    assert '_sglang_env_file: "{{ sglang_venv_dir }}/%s"' % VENV_ENV_FILE in vars_main
    lib_dirs = ["/opt/v env/lib/python3.12/site-packages/nvidia/nccl/lib", "/opt/v env/lib/python3.12/site-packages/nvidia/cu13/lib"]
    text = render("sglang.env.j2", ROOT / "roles" / "sglang" / "templates", _sglang_profile={"sglang": "0.5.23"},
                  sglang_venv_dir="/opt/v env", _sglang_env_lib_dirs=lib_dirs)
    assert environment_file(text) == [("LD_LIBRARY_PATH", ":".join(lib_dirs)), ("VIRTUAL_ENV", "/opt/v env"),
                                      ("PATH", "/opt/v env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")]
    bare = render("sglang.env.j2", ROOT / "roles" / "sglang" / "templates", _sglang_profile={"sglang": "0.5.23"},
                  sglang_venv_dir="/opt/v", _sglang_env_lib_dirs=[])
    assert [name for name, _value in environment_file(bare)] == ["VIRTUAL_ENV", "PATH"]


def test_percent_in_a_path_is_doubled() -> None:
    text = render("service.unit.j2", service=worker([PROGRAM], home="/srv/100%"), **ROLE_VARS)
    assert "WorkingDirectory=/srv/100%%" in text.splitlines()


# --- Environment files -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", HOSTILE, ids=[repr(value)[:40] for value in HOSTILE])
def test_hostile_environment_values_read_back_exactly(value: str) -> None:
    env = {"PLAIN": value, "SGLANG_X": value + "'" + value, "AFTER": "after"}
    service = worker([PROGRAM], env=env, secret_env={"HF_TOKEN": "sglang_hf_token"})
    text = render("service.env.j2", service=service, secrets={"sglang_hf_token": value}, **ROLE_VARS)
    assert environment_file(text) == list(env.items()) + [("HF_TOKEN", value)]


@pytest.mark.parametrize("name", ["A\nB", "A=B", "1A", "A B", "", "A'", "NCCL_DEBUG\rX"])
def test_hostile_environment_names_are_refused(name: str) -> None:
    with pytest.raises(AnsibleFilterError, match="environment variable name"):
        render("service.env.j2", service=worker([PROGRAM], env={name: "x"}), **ROLE_VARS)


def test_nul_in_an_environment_value_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="NUL"):
        render("service.env.j2", service=worker([PROGRAM], env={"A": "a\x00b"}), **ROLE_VARS)


def test_environment_file_quoting_and_secrets() -> None:
    service = worker(["/bin/true"], env={"PLAIN": "a b", "QUOTE": "it's $HOME"}, secret_env={"HF_TOKEN": "sglang_hf_token"})
    text = render("service.env.j2", service=service, secrets={"sglang_hf_token": "hf_x"}, **ROLE_VARS)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["PLAIN='a b'", 'QUOTE="it\'s \\$HOME"', "HF_TOKEN='hf_x'"]


def test_secret_env_entries_take_their_own_value() -> None:
    # The plan maps each name of sglang_secret_env to that variable; the value is the mapping's entry of the name.
    service = worker(["/bin/true"], secret_env={"HF_TOKEN": "sglang_hf_token", "WANDB_API_KEY": "sglang_secret_env",
                                                "DB_PASSWORD": "sglang_secret_env"})
    secrets = {"sglang_hf_token": "hf_x", "sglang_secret_env": {"WANDB_API_KEY": "w-1", "DB_PASSWORD": "p 2"}}
    text = render("service.env.j2", service=service, secrets=secrets, **ROLE_VARS)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["HF_TOKEN='hf_x'", "WANDB_API_KEY='w-1'", "DB_PASSWORD='p 2'"]


def test_ucx_is_pinned_to_the_workers_active_ports() -> None:
    """A worker whose NIXL ignores --disaggregation-ib-device gets UCX_NET_DEVICES: its devices' ACTIVE ports."""
    facts = {"nic_affinity": {"mapping": {"0": "mlx5_0", "1": "mlx5_1"},
                              "nics": [{"device": "mlx5_0", "port": 1}, {"device": "mlx5_1", "port": 2}]}}
    pinned = worker([PROGRAM], gpu_ids=[0, 1], ib_devices=[], pin_ucx_devices=True)
    text = render("service.env.j2", service=pinned, _sglang_service_gpu_facts=facts, **ROLE_VARS)
    assert environment_file(text) == [("UCX_NET_DEVICES", "mlx5_0:1,mlx5_1:2")]
    assert environment_file(render("service.env.j2", service=worker([PROGRAM]), **ROLE_VARS)) == []


def test_simulator_environment() -> None:
    plan = {"instances": [{"name": "regular-0", "release_profile": "0.5.23"}]}
    text = render("service.env.j2", service=worker(["/usr/bin/python3"], engine="simulator"), sglang_service_plan=plan,
                  _sglang_service_simulator_dir="/opt/sglang-simulator", sglang_service_simulator_prefill_ms=20,
                  sglang_service_simulator_token_ms=2, **ROLE_VARS)
    assert "GPUFLEET_SIMULATOR_ARGS_SPEC='/opt/sglang-simulator/server_args/0.5.23.json'" in text.splitlines()
    assert "GPUFLEET_SIMULATOR_TOKEN_MS='2'" in text.splitlines()


def test_ca_bundle_environment() -> None:
    lines = render("service.env.j2", service=worker(["/bin/true"]), sglang_service_ca_bundle="/etc/ssl/certs/ca-certificates.crt",
                   **ROLE_VARS).splitlines()
    assert "SSL_CERT_FILE='/etc/ssl/certs/ca-certificates.crt'" in lines
    assert "REQUESTS_CA_BUNDLE='/etc/ssl/certs/ca-certificates.crt'" in lines
    without = render("service.env.j2", service=worker(["/bin/true"]), sglang_service_ca_bundle="", **ROLE_VARS)
    assert "SSL_CERT_FILE" not in without


# --- Settings and hardening --------------------------------------------------------------------------------------

def test_unit_settings() -> None:
    lines = render("service.unit.j2", service=worker(["/bin/true"]), **ROLE_VARS).splitlines()
    for expected in ("User=sglang", "Group=sglang", "LimitMEMLOCK=infinity", "LimitNOFILE=1048576",
                     "Restart=on-failure", "RestartSec=10", "TimeoutStartSec=300", "WorkingDirectory=/var/lib/sglang",
                     "EnvironmentFile=/etc/sglang/sglang-regular-0.env", "After=network-online.target"):
        assert expected in lines
    assert lines[lines.index("ExecStart=/bin/true") + 1] == "Restart=on-failure"


def test_worker_hardening_keeps_what_a_gpu_needs() -> None:
    found = settings(render("service.unit.j2", service=worker([PROGRAM]), **ROLE_VARS))
    assert found["DevicePolicy"] == ["closed"]
    allowed = {value.split()[0] for value in found["DeviceAllow"]}
    # Device groups as /proc/devices names them: the GPU (nvidia-frontend with older drivers, nvidia and
    # nvidiactl with newer ones), UVM, MIG capabilities, IMEX channels, gdrcopy, the RDMA verbs devices.
    assert allowed == {"char-nvidia-frontend", "char-nvidia", "char-nvidiactl", "char-nvidia-uvm", "char-nvidia-caps",
                       "char-nvidia-caps-imex-channels", "char-gdrdrv", "char-infiniband_verbs"}
    assert all(value.split()[1] == "rw" for value in found["DeviceAllow"])
    assert "PrivateDevices" not in found and "MemoryDenyWriteExecute" not in found  # JIT, devices
    assert "PrivateIPC" not in found and "RemoveIPC" not in found  # NCCL/CUDA IPC between units of one user
    assert found["LimitMEMLOCK"] == ["infinity"]  # pinned memory for RDMA
    assert found["ReadWritePaths"] == ["/var/lib/sglang"]
    assert found["ProtectSystem"] == ["strict"] and found["ProtectHome"] == ["yes"]
    assert found["CapabilityBoundingSet"] == [""] and found["AmbientCapabilities"] == [""]


def test_router_hardening() -> None:
    found = settings(render("service.unit.j2", service=router([PROGRAM]), **ROLE_VARS))
    assert found["PrivateDevices"] == ["yes"] and found["MemoryDenyWriteExecute"] == ["yes"]
    assert "DeviceAllow" not in found


def test_capabilities_of_the_plan() -> None:
    found = settings(render("service.unit.j2", service=router([PROGRAM], capabilities=["CAP_NET_BIND_SERVICE"]),
                            **ROLE_VARS))
    assert found["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert found["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    with pytest.raises(AnsibleFilterError):
        render("service.unit.j2", service=router([PROGRAM], capabilities=["CAP_X\nExecStartPre=+/bin/sh"]), **ROLE_VARS)


def test_extra_read_write_paths() -> None:
    found = settings(render("service.unit.j2", service=worker([PROGRAM]),
                            **{**ROLE_VARS, "sglang_service_read_write_paths": ["/data/hf", "/srv/models"]}))
    assert found["ReadWritePaths"] == ["/var/lib/sglang /data/hf /srv/models"]


@needs_systemd_analyze
@pytest.mark.parametrize("service", [worker([PROGRAM]), router([PROGRAM]), worker([PROGRAM], engine="simulator"),
                                     router([PROGRAM], capabilities=["CAP_NET_BIND_SERVICE"])],
                         ids=["worker", "router", "simulator", "router-port-80"])
def test_exposure_under_the_bar(tmp_path: Path, service: dict) -> None:
    text = render("service.unit.j2", service=service, **ROLE_VARS)
    assert exposure(tmp_path, service["unit"], text) < MAX_EXPOSURE


# --- Every example plan ------------------------------------------------------------------------------------------

def golden_services() -> list:
    return [pytest.param(plan, service, id="%s-%s-%s" % (plan.stem, service["host"], service["unit"]))
            for plan in GOLDEN_PLANS for service in json.loads(plan.read_text(encoding="utf-8"))["services"]]


@needs_systemd_analyze
@pytest.mark.parametrize("plan, service", golden_services())
def test_every_example_unit_verifies(tmp_path: Path, plan: Path, service: dict) -> None:
    """Each unit of each example plan passes `systemd-analyze verify`, scores under the bar, and reads back."""
    text = render("service.unit.j2", service=service, **ROLE_VARS)
    assert_only_expected_settings(text, service["kind"])
    assert exec_start(text) == service["argv"]
    # verify checks that the program exists: the same unit with this machine's /bin/true as the program.
    local = render("service.unit.j2", service=dict(service, argv=[PROGRAM] + service["argv"][1:]), **ROLE_VARS)
    verify(tmp_path, service["unit"], local)
    assert exposure(tmp_path, service["unit"], local) < MAX_EXPOSURE
    secrets = {variable: "secret-" + variable for variable in service["secret_env"].values()}
    env = render("service.env.j2", service=service, secrets=secrets, sglang_service_plan=json.loads(plan.read_text()),
                 _sglang_service_simulator_dir="/opt/sglang-simulator", sglang_service_simulator_prefill_ms=20,
                 sglang_service_simulator_token_ms=2, **ROLE_VARS)
    expected = list(service["env"].items()) + [(name, secrets[variable]) for name, variable in service["secret_env"].items()]
    assert environment_file(env)[:len(expected)] == expected
