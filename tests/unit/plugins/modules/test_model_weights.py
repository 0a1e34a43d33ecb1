# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The model_weights module in-process against the Hub fixture on loopback: what Ansible sees."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _weights as w
from ansible_collections.gpufleet.sglang.plugins.modules import model_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
from module_harness import argument_spec_of, run_module  # noqa: E402  pylint: disable=wrong-import-position
import weights_hub  # noqa: E402  pylint: disable=wrong-import-position

SHARD = "model-00002-of-00003.safetensors"


@pytest.fixture(scope="module")
def hub_module():
    return weights_hub.load_hub_module()


@pytest.fixture(scope="module")
def model(hub_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights-model")
    hub_module.generate_model(path)
    files = hub_module.files_from_directory(path)
    return path, weights_hub.manifest_of(files), files


@pytest.fixture(scope="module")
def module_hub(hub_module, model):
    hub = weights_hub.start(hub_module, model[2])
    yield hub
    hub.stop()


@pytest.fixture
def hub(module_hub):
    module_hub.reset()
    yield module_hub
    module_hub.reset()


def run(capsys, **args):
    return run_module(model_weights, capsys, **args)


def test_token_is_no_log(monkeypatch):
    spec = argument_spec_of(model_weights, monkeypatch)
    assert spec["source"]["options"]["token"]["no_log"] is True


def test_fetch_publish_then_no_change(hub, model, tmp_path, capsys):
    _source, manifest, _files = model
    dest = str(tmp_path / "snap")
    source = {"url_base": weights_hub.url_base(hub, weights_hub.GATED), "token": weights_hub.TOKEN}
    code, result = run(capsys, dest=dest, files=manifest, source=source)
    assert code == 0 and result["changed"] and result["published"]
    assert result["bytes_fetched"] == sum(e["size"] for e in manifest)
    assert weights_hub.TOKEN not in repr(result)
    code, result = run(capsys, dest=dest, files=manifest, source=source)
    assert code == 0 and not result["changed"] and result["bytes_verified"] == 0 and result["bytes_fetched"] == 0
    assert set(result["states"].values()) == {"ok"}


def test_full_verify_repairs_one_file_and_check_mode_only_reports(hub, model, tmp_path, capsys):
    _source, manifest, _files = model
    dest = tmp_path / "snap"
    source = {"url_base": weights_hub.url_base(hub)}
    assert run(capsys, dest=str(dest), files=manifest, source=source)[0] == 0
    target = dest / SHARD
    st = target.stat()
    with open(target, "r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 1]))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    code, result = run(capsys, dest=str(dest), files=manifest, source=source, verify="full", _ansible_check_mode=True)
    assert code == 0 and result["changed"] and result["states"][SHARD] == "hash" and result["found"][SHARD]
    assert result["bytes_fetched"] == 0 and not target.read_bytes() == (model[0] / SHARD).read_bytes()
    code, result = run(capsys, dest=str(dest), files=manifest, source=source, verify="full")
    assert code == 0 and result["changed"] and result["files_repaired"] == [SHARD]
    assert target.read_bytes() == (model[0] / SHARD).read_bytes()


def test_gated_without_token_fails_with_the_fix(hub, model, tmp_path, capsys):
    code, result = run(capsys, dest=str(tmp_path / "snap"), files=model[1],
                       source={"url_base": weights_hub.url_base(hub, weights_hub.GATED)})
    assert code == 1 and result["failed"] and "401" in result["msg"] and "source.token" in result["msg"]
    assert result["errors"][0]["file"] and not result["published"]
    assert not (tmp_path / "snap").exists()


def test_cut_then_resume(hub, model, tmp_path, capsys):
    _source, manifest, _files = model
    dest = str(tmp_path / "snap")
    hub.add_fault("cut", after=700_000, file=SHARD)
    source = {"url_base": weights_hub.url_base(hub)}
    code, result = run(capsys, dest=dest, files=manifest, source=source)
    assert code == 1 and "cut" in result["msg"] and not os.path.exists(dest)
    code, result = run(capsys, dest=dest, files=manifest, source=source)
    size = next(e["size"] for e in manifest if e["path"] == SHARD)
    assert code == 0 and result["published"] and result["bytes_fetched"] == size - 700_000


def test_no_space_fails_before_moving_a_byte(hub, model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(w, "free_bytes", lambda path: 10)
    code, result = run(capsys, dest=str(tmp_path / "snap"), files=model[1],
                       source={"url_base": weights_hub.url_base(hub)})
    assert code == 1 and "not enough free space" in result["msg"] and str(tmp_path / "snap") in result["msg"]
    assert not hub.stats()["requests"] and not list(tmp_path.iterdir())


def test_local_source_path_and_missing_source(model, tmp_path, capsys):
    source, manifest, _files = model
    code, result = run(capsys, dest=str(tmp_path / "snap"), files=manifest, source_path=str(source))
    assert code == 0 and result["published"] and result["changed"]
    code, result = run(capsys, dest=str(tmp_path / "other"), files=manifest)
    assert code == 1 and "neither source nor source_path" in result["msg"]


def test_bad_manifest_is_refused(tmp_path, capsys):
    code, result = run(capsys, dest=str(tmp_path / "snap"), files=[{"path": "../x", "size": 1, "blob_id": "0" * 40}])
    assert code == 1 and "'..'" in result["msg"]
