# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the rig scenario proves about a node of the Docker test fleet (testinfra)."""
from __future__ import annotations

import json

import pytest

CA_DIR = "/usr/local/share/ca-certificates"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(scope="module")
def rig(host):
    """The scenario's inventory variables (rig_*)."""
    return host.ansible.get_variables()


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_running(host):
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert state in ("running", "degraded"), failed
    assert state == "running", "failed units: %s" % failed


def test_extra_ca_certificates_are_installed(host, rig):
    names = host.run("find %s -maxdepth 1 -name 'gpufleet-*.crt' -printf '%%f\\n'" % CA_DIR).stdout.split()
    assert names == ["gpufleet-00-ca-certificates.crt"]
    crt = host.file("%s/%s" % (CA_DIR, names[0]))
    assert (crt.user, crt.group, crt.mode) == ("root", "root", 0o644)
    assert crt.content_string.count("-----BEGIN CERTIFICATE-----") > 1


def test_the_system_bundle_holds_them(host):
    crt = host.file("%s/gpufleet-00-ca-certificates.crt" % CA_DIR).content_string
    bundle = host.file(BUNDLE).content_string
    last = "-----BEGIN CERTIFICATE-----" + crt.split("-----BEGIN CERTIFICATE-----")[-1]
    assert last.strip() in bundle


def test_pip_trusts_the_system_bundle(host):
    conf = host.file("/etc/pip.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "root", 0o644)
    assert conf.content_string.splitlines() == ["[global]", "cert = %s" % BUNDLE]


def test_the_venv_has_the_pinned_package(host, rig):
    python = "%s/bin/python" % rig["rig_venv"]
    version = host.check_output(
        "%s -c 'import importlib.metadata as m; print(m.version(\"%s\"))'" % (python, rig["rig_pip_package"]))
    assert version == rig["rig_pip_version"]


def test_https_to_pypi_verifies_against_the_system_bundle(host, rig):
    python = "%s/bin/python" % rig["rig_venv"]
    code = ("import ssl, urllib.request; "
            "ctx = ssl.create_default_context(cafile='%s'); "
            "print(urllib.request.urlopen('https://pypi.org/simple/%s/', context=ctx, timeout=30).status)"
            % (BUNDLE, rig["rig_pip_package"]))
    assert host.check_output("%s -c \"%s\"" % (python, code)) == "200"


def test_the_debian_package_is_installed(host, rig):
    assert host.package(rig["rig_apt_package"]).is_installed


def test_the_fake_nvidia_smi_answers(host, rig):
    gpus = rig["rig_fake_gpus"]
    assert host.file("/usr/local/bin/nvidia-smi").linked_to == "/opt/gpufleet-fixtures/bin/nvidia-smi"
    rows = host.check_output("nvidia-smi --query-gpu=index,name,compute_cap,driver_version --format=csv,noheader").splitlines()
    assert rows == ["%d, %s, %s, %s" % (i, gpus["model"], gpus["compute_cap"], gpus["driver_version"]) for i in range(gpus["count"])]
    banner = host.check_output("nvidia-smi")
    assert "Driver Version: %s" % gpus["driver_version"] in banner
    assert "CUDA Version: %s" % gpus["cuda_version"] in banner
    assert len(host.check_output("nvidia-smi -L").splitlines()) == gpus["count"]
    topo = host.check_output("nvidia-smi topo -m")
    assert "NIC0: %s" % gpus["nics"][0] in topo


def test_the_ib_sysfs_fixture_is_mounted(host, rig):
    result = host.ansible("gpufleet.sglang.ib_port_state", "sysfs_root=%s" % rig["rig_ib_sysfs_root"], check=False)
    assert not result.get("failed"), json.dumps(result)
    assert result["active_devices"][:2] == ["mlx5_0", "mlx5_1"]
