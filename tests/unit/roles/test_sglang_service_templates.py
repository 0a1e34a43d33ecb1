# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/sglang_service/templates: systemd quoting of the plan's argv and of the environment values."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import jinja2
import pytest

TEMPLATES = Path(__file__).resolve().parents[3] / "roles" / "sglang_service" / "templates"


def render(name: str, **variables) -> str:
    # Ansible renders templates with trim_blocks; the lookup() of the env template is a plain dict here.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
                             keep_trailing_newline=True)
    env.tests["match"] = lambda value, pattern: re.match(pattern, value) is not None  # Ansible's `match` test
    secrets = variables.pop("secrets", {})
    return env.get_template(name).render(ansible_managed="managed", lookup=lambda _kind, name: secrets[name],
                                         **variables)


def worker(argv: list, env: dict | None = None, secret_env: dict | None = None, engine: str = "sglang") -> dict:
    return {"kind": "worker", "role": "regular", "instance": "regular-0", "node_rank": 0, "unit": "sglang-regular-0",
            "engine": engine, "argv": argv, "env": env or {}, "secret_env": secret_env or {}}


ROLE_VARS = {"sglang_service_user": "sglang", "sglang_service_group": "sglang", "sglang_service_home": "/var/lib/sglang",
             "sglang_service_config_dir": "/etc/sglang", "sglang_service_restart_sec": 10,
             "sglang_service_timeout_start_sec": 300, "sglang_service_limit_nofile": 1048576}


def systemd_words(line: str) -> list:
    """Undo the template's systemd quoting (double quotes with C escapes, %% and $$) for these cases."""
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line)]


@pytest.mark.parametrize("arg, written", [
    ("/opt/sglang/venv/bin/python", "/opt/sglang/venv/bin/python"),
    ("--json-model-override-args", "--json-model-override-args"),
    ('{"rope_scaling": {"factor": 4}}', '"{\\"rope_scaling\\": {\\"factor\\": 4}}"'),
    ("two words", '"two words"'),
    ("50%", '"50%%"'),
    ("$HOME", '"$$HOME"'),
    ("", '""'),
])
def test_exec_start_words(arg: str, written: str) -> None:
    text = render("service.unit.j2", service=worker(["/bin/true", arg]), **ROLE_VARS)
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert line == "ExecStart=/bin/true " + written
    assert systemd_words(line[len("ExecStart="):]) == ["/bin/true", arg]


def test_unit_settings() -> None:
    lines = render("service.unit.j2", service=worker(["/bin/true"]), **ROLE_VARS).splitlines()
    for expected in ("User=sglang", "Group=sglang", "LimitMEMLOCK=infinity", "LimitNOFILE=1048576",
                     "Restart=on-failure", "RestartSec=10", "TimeoutStartSec=300", "WorkingDirectory=/var/lib/sglang",
                     "EnvironmentFile=/etc/sglang/sglang-regular-0.env", "After=network-online.target"):
        assert expected in lines
    assert lines[lines.index("ExecStart=/bin/true") + 1] == "Restart=on-failure"


def test_environment_file_quoting_and_secrets() -> None:
    service = worker(["/bin/true"], env={"PLAIN": "a b", "QUOTE": "it's $HOME"}, secret_env={"HF_TOKEN": "sglang_hf_token"})
    text = render("service.env.j2", service=service, secrets={"sglang_hf_token": "hf_x"}, **ROLE_VARS)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["PLAIN='a b'", 'QUOTE="it\'s \\$HOME"', "HF_TOKEN='hf_x'"]


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
