# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's weights (_weights.py) against the Hub fixture on loopback: verification, resumable fetch,
atomic publication, repair of one file, the stamp that spares re-hashing, errors that name the fix."""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils import _weights as w

sys.path.insert(0, str(Path(__file__).resolve().parent))
import weights_hub  # noqa: E402  pylint: disable=wrong-import-position

SHARD = "model-00001-of-00003.safetensors"


@pytest.fixture(scope="module")
def hub_module():
    return weights_hub.load_hub_module()


@pytest.fixture(scope="module")
def model(hub_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights-model")
    hub_module.generate_model(path)
    files = hub_module.files_from_directory(path)
    return path, files, weights_hub.manifest_of(files)


@pytest.fixture(scope="module")
def module_hub(hub_module, model):
    hub = weights_hub.start(hub_module, model[1])
    yield hub
    hub.stop()


@pytest.fixture
def hub(module_hub):
    module_hub.reset()
    yield module_hub
    module_hub.reset()


def total(manifest):
    return sum(e["size"] for e in manifest)


def size_of(manifest, path):
    return next(e["size"] for e in manifest if e["path"] == path)


def flip_byte(path, offset=100, keep_mtime=False):
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def snapshot_stats(directory):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in Path(directory).iterdir()
            if p.name != w.STAMP_NAME}


def published(hub, manifest, dest):
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))
    assert result["published"] and not result["errors"], result["errors"]
    return result


def test_manifest_rules():
    with pytest.raises(w.WeightsError, match="relative"):
        w.normalize_manifest([{"path": "/etc/passwd", "size": 1, "blob_id": "0" * 40}])
    with pytest.raises(w.WeightsError, match="'..'"):
        w.normalize_manifest([{"path": "a/../b", "size": 1, "blob_id": "0" * 40}])
    with pytest.raises(w.WeightsError, match="neither sha256 nor blob_id"):
        w.normalize_manifest([{"path": "a", "size": 1}])
    with pytest.raises(w.WeightsError, match="twice"):
        w.normalize_manifest([{"path": "a", "size": 0, "blob_id": "0" * 40}] * 2)
    assert w.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


def test_verify_states(model, tmp_path):
    source, _files, manifest = model
    directory = tmp_path / "snap"
    directory.mkdir()
    for entry in manifest:
        (directory / entry["path"]).write_bytes((source / entry["path"]).read_bytes())
    (directory / "config.json").unlink()
    (directory / "tokenizer.json").write_bytes(b"short")
    flip_byte(directory / SHARD)
    result = w.verify_directory(str(directory), manifest, "full")
    assert result["states"]["config.json"] == "missing"
    assert result["states"]["tokenizer.json"] == "size"
    assert result["states"][SHARD] == "hash"
    assert result["found"]["tokenizer.json"] == "5 bytes"
    assert sum(1 for s in result["states"].values() if s == "ok") == len(manifest) - 3


def test_fresh_download_publishes_then_quick_run_hashes_nothing(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "models" / "snap"
    result = published(hub, manifest, dest)
    assert result["changed"] and result["bytes_fetched"] == total(manifest) == result["bytes_verified"]
    assert sorted(result["files_fetched"]) == sorted(e["path"] for e in manifest)
    assert not Path(str(dest) + w.PARTIAL_SUFFIX).exists()
    assert w.verify_directory(str(dest), manifest, "full")["states"] == {e["path"]: "ok" for e in manifest}
    assert not [p for p in dest.iterdir() if p.name.endswith((w.PART_SUFFIX, w.TMP_SUFFIX))]
    # the token-less CDN got the LFS files, the API the rest: each byte once
    assert hub.stats()["file_bytes"] == total(manifest)

    hub.reset()
    again = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))
    assert not again["changed"] and again["published"]
    assert again["bytes_verified"] == 0 and again["bytes_fetched"] == 0
    assert set(again["states"].values()) == {"ok"}
    assert not hub.stats()["requests"]
    full = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)), mode="full")
    assert not full["changed"] and full["bytes_verified"] == total(manifest)


def test_silent_corruption_found_by_full_mode_and_repaired_alone(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "snap"
    published(hub, manifest, dest)
    before = snapshot_stats(dest)
    flip_byte(dest / SHARD, keep_mtime=True)  # same size, mtime, inode: quick mode trusts the stamp
    hub.reset()
    fetch = w.http_fetcher(weights_hub.url_base(hub))
    assert not w.converge(str(dest), manifest, fetch)["changed"]
    result = w.converge(str(dest), manifest, fetch, mode="full")
    assert result["changed"] and result["files_repaired"] == [SHARD] and result["states"][SHARD] == "repaired"
    assert result["bytes_fetched"] == size_of(manifest, SHARD)
    after = snapshot_stats(dest)
    assert {name for name in before if before[name] != after[name]} == {SHARD}
    assert w.verify_directory(str(dest), manifest, "full")["states"][SHARD] == "ok"
    assert w.converge(str(dest), manifest, fetch)["bytes_verified"] == 0  # stamp rewritten


def test_changed_file_found_by_quick_mode_and_missing_file_repaired(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "snap"
    published(hub, manifest, dest)
    flip_byte(dest / SHARD)  # mtime moves: quick mode hashes this one file only
    (dest / "config.json").unlink()
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))
    assert sorted(result["files_repaired"]) == sorted([SHARD, "config.json"])
    assert result["bytes_fetched"] == size_of(manifest, SHARD) + size_of(manifest, "config.json")


def test_cut_transfer_resumes_from_the_partial_file(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "snap"
    hub.add_fault("cut", after=1_000_000, file=SHARD)
    fetch = w.http_fetcher(weights_hub.url_base(hub))
    first = w.converge(str(dest), manifest, fetch)
    assert not first["published"] and not dest.exists()
    assert first["states"][SHARD] == "error" and "cut" in first["errors"][0]["message"]
    assert (Path(str(dest) + w.PARTIAL_SUFFIX) / (SHARD + w.PART_SUFFIX)).stat().st_size == 1_000_000
    second = w.converge(str(dest), manifest, fetch)
    assert second["published"] and second["files_fetched"] == [SHARD]
    assert second["bytes_fetched"] == size_of(manifest, SHARD) - 1_000_000
    assert second["bytes_verified"] == size_of(manifest, SHARD)  # the other files: trusted from the staging stamp
    ranges = [e["range"] for e in hub.stats()["requests"] if e.get("file", "") and e["file"].endswith(SHARD)]
    assert "bytes=1000000-" in ranges


def test_bad_bytes_from_the_source_are_never_published(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "snap"
    hub.add_fault("corrupt", file=SHARD, offset=12345)
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))
    assert not result["published"] and not dest.exists()
    error = result["errors"][0]
    assert error["file"] == SHARD and error["expected"].startswith("sha256:") and error["found"] != error["expected"]
    staging = Path(str(dest) + w.PARTIAL_SUFFIX)
    assert not (staging / SHARD).exists() and not (staging / (SHARD + w.PART_SUFFIX)).exists()
    hub.clear_faults()
    assert w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))["published"]


@pytest.mark.parametrize("repo, revision, token, status, words", [
    (weights_hub.GATED, "main", None, 401, "no token was given"),
    (weights_hub.GATED, "main", weights_hub.UNGRANTED, 403, "not granted"),
    (weights_hub.GATED, "main", "hf_unknown_token_x", 401, "token was refused"),
    (weights_hub.PUBLIC, "no-such-revision", None, 404, "revision was not found"),
    ("fixture-org/nothing-here", "main", weights_hub.TOKEN, 404, "repository or revision was not found"),
])
def test_http_errors_are_explained_without_the_token(hub, model, tmp_path, repo, revision, token, status, words):
    fetch = w.http_fetcher(weights_hub.url_base(hub, repo, revision), token=token)
    result = w.converge(str(tmp_path / "snap"), model[2], fetch)
    assert len(result["errors"]) == 1  # fatal: the run stops at the first file
    error = result["errors"][0]
    assert error["status"] == status and words in error["message"] and error["fix"]
    assert not token or token not in repr(result)
    assert not (tmp_path / "snap").exists()


def test_rate_limit_says_back_off(hub, model, tmp_path):
    hub.add_fault("status", status=429, retry_after=30)
    result = w.converge(str(tmp_path / "snap"), model[2], w.http_fetcher(weights_hub.url_base(hub)))
    error = result["errors"][0]
    assert error["status"] == 429 and "Retry-After: 30" in error["message"] and "once" in error["fix"]


def test_granted_token_goes_to_the_hub_not_to_the_cdn(hub, model, tmp_path):
    fetch = w.http_fetcher(weights_hub.url_base(hub, weights_hub.GATED), token=weights_hub.TOKEN)
    assert w.converge(str(tmp_path / "snap"), model[2], fetch)["published"]
    log = hub.stats()["requests"]
    assert {e["server"] for e in log} == {"hub", "cdn"}
    assert all(e["authorization"] == (e["server"] == "hub") for e in log)


def test_check_mode_writes_nothing(hub, model, tmp_path):
    _source, _files, manifest = model
    dest = tmp_path / "snap"
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)), check_mode=True)
    assert result["changed"] and result["bytes_to_fetch"] == total(manifest) and result["bytes_fetched"] == 0
    assert not list(tmp_path.iterdir()) and not hub.stats()["requests"]
    published(hub, manifest, dest)
    flip_byte(dest / SHARD)
    before = snapshot_stats(dest)
    stamp = (dest / w.STAMP_NAME).read_bytes()
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)), check_mode=True)
    assert result["changed"] and result["states"][SHARD] == "hash" and result["bytes_to_fetch"] == size_of(
        manifest, SHARD)
    assert snapshot_stats(dest) == before and (dest / w.STAMP_NAME).read_bytes() == stamp


def test_space_is_checked_before_any_byte_moves(hub, model, tmp_path):
    dest = tmp_path / "snap"
    with pytest.raises(w.InsufficientSpace) as info:
        w.converge(str(dest), model[2], w.http_fetcher(weights_hub.url_base(hub)), free=1000)
    assert str(dest) in info.value.message and "1000 free" in info.value.message
    assert not list(tmp_path.iterdir()) and not hub.stats()["requests"]


def test_disk_full_mid_transfer_publishes_nothing(hub, model, tmp_path, monkeypatch):
    _source, _files, manifest = model
    dest = tmp_path / "snap"

    class Full:
        def __init__(self, handle):
            self.handle = handle
            self.written = 0

        def write(self, data):
            if self.written + len(data) > 500_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return Full(handle) if str(path).endswith(SHARD + w.PART_SUFFIX) and "a" in mode else handle

    monkeypatch.setattr(w, "open", fake_open, raising=False)
    result = w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))
    error = result["errors"][0]
    assert "ENOSPC" in error["message"] and SHARD + w.PART_SUFFIX in error["message"] and error["fix"]
    assert not dest.exists() and Path(str(dest) + w.PARTIAL_SUFFIX).is_dir()
    monkeypatch.undo()
    assert w.converge(str(dest), manifest, w.http_fetcher(weights_hub.url_base(hub)))["published"]


def test_copy_from_a_local_snapshot(model, tmp_path):
    source, _files, manifest = model
    dest = tmp_path / "snap"
    result = w.converge(str(dest), manifest, w.local_fetcher(str(source)))
    assert result["published"] and result["bytes_fetched"] == total(manifest)
    assert (dest / SHARD).read_bytes() == (source / SHARD).read_bytes()
    missing = w.converge(str(tmp_path / "other"), manifest, w.local_fetcher(str(tmp_path / "nowhere")))
    assert not missing["published"] and "source_path" in missing["errors"][0]["message"]


def test_source_that_ignores_range_restarts_the_file(model, tmp_path):
    source, _files, manifest = model
    entry = next(e for e in manifest if e["path"] == SHARD)
    part = tmp_path / (SHARD + w.PART_SUFFIX)
    part.write_bytes(b"\0" * 1000)  # a partial whose bytes the source will not continue

    def fetch(wanted, offset):
        assert offset == 1000
        raise w.RestartFromZero(iter([(source / SHARD).read_bytes()]))

    counts = w.download(fetch, entry, str(part))
    assert counts["fetched"] == entry["size"] and part.read_bytes() == (source / SHARD).read_bytes()
