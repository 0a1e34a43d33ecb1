# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/pypi_cache/templates: the cache's unit quotes its ExecStart like the services' units, and is hardened."""
from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from test_sglang_service_templates import (HARDENING_KEYS, MAX_EXPOSURE, PROGRAM, ROOT, exposure, needs_systemd_analyze,
                                           render, settings, systemd_words, unit_sections, verify)

TEMPLATES = ROOT / "roles" / "pypi_cache" / "templates"
UNIT = "gpufleet-pypi-cache"
DEFAULTS = {"pypi_cache_user": "gpufleet-pypi-cache", "pypi_cache_ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
            "pypi_cache_venv_dir": "/opt/gpufleet-pypi-cache/venv", "pypi_cache_dir": "/var/lib/gpufleet-pypi-cache",
            "pypi_cache_listen": "0.0.0.0", "pypi_cache_port": 3141, "pypi_cache_index_expiry": 1800,
            "pypi_cache_request_timeout": 60}
SERVICE_KEYS = {"User", "Group", "Environment", "ExecStart", "Restart", "RestartSec", "PrivateDevices",
                "MemoryDenyWriteExecute", "RemoveIPC"} | HARDENING_KEYS


def unit(**variables) -> str:
    return render(UNIT + ".service.j2", templates=TEMPLATES, **{**DEFAULTS, **variables})


def on_this_machine(text: str) -> str:
    """The unit with a program that exists here, which verify checks."""
    return text.replace(DEFAULTS["pypi_cache_venv_dir"] + "/bin/devpi-server", PROGRAM, 1)


def test_exec_start_and_settings() -> None:
    found = settings(unit())
    assert set(unit_sections(unit())) == {"Unit", "Service", "Install"}
    assert set(found) == SERVICE_KEYS
    assert systemd_words(found["ExecStart"][0]) == [
        "/opt/gpufleet-pypi-cache/venv/bin/devpi-server", "--serverdir", "/var/lib/gpufleet-pypi-cache", "--host",
        "0.0.0.0", "--port", "3141", "--mirror-cache-expiry", "1800", "--request-timeout", "60"]
    assert found["ReadWritePaths"] == ["/var/lib/gpufleet-pypi-cache"]
    assert found["Environment"] == ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                                    "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"]
    assert found["CapabilityBoundingSet"] == [""] and found["AmbientCapabilities"] == [""]


def test_a_port_below_1024_gets_its_capability() -> None:
    found = settings(unit(pypi_cache_port=80))
    assert found["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"] == found["AmbientCapabilities"]


@pytest.mark.parametrize("variable, value", [
    ("pypi_cache_listen", "0.0.0.0\nExecStartPre=+/bin/sh"), ("pypi_cache_listen", "0.0.0.0\rExecStartPre=+/bin/sh"),
    ("pypi_cache_listen", "a b %n $HOME \"q\" \\ \t \x01"),
])
def test_hostile_arguments_stay_one_word(tmp_path: Path, variable: str, value: str) -> None:
    text = unit(**{variable: value})
    found = settings(text)
    assert set(found) == SERVICE_KEYS, text
    assert systemd_words(found["ExecStart"][0])[4] == value
    verify(tmp_path, UNIT, on_this_machine(text))


@pytest.mark.parametrize("variable, value", [
    ("pypi_cache_venv_dir", "+/opt/venv"), ("pypi_cache_venv_dir", "opt/venv"), ("pypi_cache_venv_dir", "/opt/$V"),
    ("pypi_cache_dir", "/var/lib/x\nUser=root"), ("pypi_cache_dir", "/var/lib/a b"),
    ("pypi_cache_user", "root\nExecStartPre=/bin/sh"), ("pypi_cache_ca_bundle", "/etc/ssl/a b.crt"),
    ("pypi_cache_ca_bundle", "/etc/ssl/x.crt\nExecStartPre=/bin/sh"),
])
def test_hostile_settings_are_refused(variable: str, value: str) -> None:
    with pytest.raises(AnsibleFilterError):
        unit(**{variable: value})


@needs_systemd_analyze
def test_unit_verifies_and_scores_under_the_bar(tmp_path: Path) -> None:
    text = on_this_machine(unit())
    verify(tmp_path, UNIT, text)
    assert exposure(tmp_path, UNIT, text) < MAX_EXPOSURE
