# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real ``huggingface_hub`` client (the version requirements-dev.txt pins) against the Hub fixture.

Only the Hub is replaced: the client's own model_info, list_repo_tree, list_repo_refs, resolve_revision,
hf_hub_download and snapshot_download run unchanged against tests/fixtures/hub/hub_server.py on loopback,
with the endpoint given as ``endpoint=`` or HF_ENDPOINT. What these tests establish about the client is
what a staging role can rely on:

* a branch or tag resolves to a commit once (model_info / resolve_revision); downloads pinned to that
  commit ignore later commits on the branch;
* model_info(files_metadata=True) gives the sha256 of each LFS file and the git blob id and size of the
  others; the client itself checks sizes only, never hashes: a corrupted byte reaches the cache unnoticed,
  so checking the files against the metadata is the caller's job;
* a transfer cut mid-file is resumed by the client within the same call, with a Range request from the
  last whole 10 MiB it received (a cut in the first 10 MiB starts over); a file that fails for good leaves
  no partial file behind, so the next call fetches it whole again;
* a gated repository without a token is GatedRepoError (401), with a token not granted GatedRepoError
  (403); an unknown repository RepositoryNotFoundError; an unknown revision RevisionNotFoundError; a 429
  HfHubHTTPError, which the download path retries after Retry-After;
* the token goes to the endpoint, never to the CDN an LFS file redirects to.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hub_fixture_support import BIG, GATED, MOVING, PRIVATE, PUBLIC, SERVER, TAG, TOKEN, UNGRANTED

SHARD_1 = "model-00001-of-00003.safetensors"
SHARD_2 = "model-00002-of-00003.safetensors"


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def api(hub, token=False):
    return HfApi(endpoint=hub.url, token=token)


def head_commit(hub, repo_id=PUBLIC, branch="main"):
    return hub.repos[repo_id].branches[branch]


def check_against_metadata(folder, siblings):
    """Every file of SIBLINGS is in FOLDER with the size and the hash the metadata gives."""
    for sibling in siblings:
        data = (Path(folder) / sibling.rfilename).read_bytes()
        assert len(data) == sibling.size, sibling.rfilename
        if sibling.lfs is not None:
            assert hashlib.sha256(data).hexdigest() == sibling.lfs.sha256, sibling.rfilename
        else:
            assert git_blob_id(data) == sibling.blob_id, sibling.rfilename


def requests_for(hub, file_name, method="GET"):
    return [e for e in hub.stats()["requests"] if e["method"] == method and e["file"]
            and e["file"].endswith("/" + file_name)]


# -- metadata --------------------------------------------------------------------------------------------------


def test_model_info_with_files_metadata_gives_every_files_hash(hub, model_dir):
    info = api(hub).model_info(PUBLIC, revision="main", files_metadata=True)
    assert info.id == PUBLIC and info.sha == head_commit(hub)
    assert info.gated is False and info.private is False
    assert info.config == {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    siblings = {s.rfilename: s for s in info.siblings}
    assert sorted(siblings) == sorted(p.name for p in model_dir.iterdir())
    for name, sibling in siblings.items():
        data = (model_dir / name).read_bytes()
        assert sibling.size == len(data)
        if name.endswith(".safetensors"):
            assert sibling.lfs.sha256 == hashlib.sha256(data).hexdigest()
            assert sibling.lfs.size == len(data) and sibling.lfs.pointer_size > 100
            pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
                sibling.lfs.sha256, len(data))
            assert sibling.blob_id == git_blob_id(pointer.encode())
        else:
            assert sibling.lfs is None and sibling.blob_id == git_blob_id(data)
    # without files_metadata, names only, as the Hub answers
    plain = api(hub).model_info(PUBLIC)
    assert {s.rfilename for s in plain.siblings} == set(siblings)
    assert all(s.size is None and s.lfs is None for s in plain.siblings)


def test_a_tag_and_a_branch_resolve_to_the_commit(hub, tmp_path):
    commit = head_commit(hub)
    client = api(hub)
    assert client.model_info(PUBLIC, revision=TAG).sha == commit
    assert client.model_info(PUBLIC, revision="refs/tags/" + TAG).sha == commit
    assert client.model_info(PUBLIC, revision=commit).sha == commit
    refs = client.list_repo_refs(PUBLIC)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [("main", "refs/heads/main", commit)]
    assert [(t.name, t.target_commit) for t in refs.tags] == [(TAG, commit)]
    resolved = client.resolve_revision(PUBLIC, revision=TAG, cache_dir=tmp_path)
    assert resolved.resolved == commit and resolved == TAG
    assert (tmp_path / "models--fixture-org--tiny-llama" / "refs" / TAG).read_text() == commit


def test_tree_listing_is_paginated_as_the_hub_does(hub):
    hub.page_size = 3
    files = [f.path for f in api(hub).list_repo_tree(PUBLIC, recursive=True, revision=head_commit(hub))]
    assert files == sorted(hub.repos[PUBLIC].commits[head_commit(hub)].files)
    assert len([e for e in hub.stats()["requests"] if "/tree/" in e["path"]]) == 4  # 10 entries, 3 a page


# -- downloads -------------------------------------------------------------------------------------------------


def test_snapshot_pinned_by_commit_downloads_every_file_matching_the_metadata(hub, model_dir, tmp_path):
    info = api(hub).model_info(PUBLIC, revision=TAG, files_metadata=True)
    folder = snapshot_download(PUBLIC, revision=info.sha, endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(folder).name == info.sha
    assert sorted(p.name for p in Path(folder).iterdir()) == sorted(s.rfilename for s in info.siblings)
    check_against_metadata(folder, info.siblings)
    stats = hub.stats()
    total = sum(s.size for s in info.siblings)
    assert stats["file_bytes"] == total  # each file once, whole
    assert stats["clients"]["127.0.0.1"]["file_bytes"] == total
    # LFS files came from the CDN listener after a 302; the others from the endpoint
    for sibling in info.siblings:
        (get,) = requests_for(hub, sibling.rfilename)
        assert get["server"] == ("cdn" if sibling.lfs else "hub") and get["status"] == 200
        (head,) = [e for e in stats["requests"]
                   if e["method"] == "HEAD" and e["path"].endswith("/" + sibling.rfilename)]
        assert head["status"] == (302 if sibling.lfs else 200)
    # a second call with the same commit is served from the cache: no request at all
    hub.reset()
    assert snapshot_download(PUBLIC, revision=info.sha, endpoint=hub.url, cache_dir=tmp_path, token=False) == folder
    assert hub.stats()["requests"] == []


def test_a_download_pinned_to_a_commit_ignores_later_commits_on_the_branch(hub, tmp_path):
    client = api(hub)
    pinned = client.model_info(MOVING, revision="main").sha
    new = hub.push(MOVING, {"config.json": '{"architectures": ["Changed"]}\n', "tokenizer.json": None})
    assert client.model_info(MOVING, revision="main").sha == new != pinned
    assert client.model_info(MOVING, revision=TAG).sha == pinned
    old_config = hf_hub_download(MOVING, "config.json", revision=pinned, endpoint=hub.url, cache_dir=tmp_path,
                                 token=False)
    new_config = hf_hub_download(MOVING, "config.json", revision="main", endpoint=hub.url, cache_dir=tmp_path,
                                 token=False)
    assert "LlamaForCausalLM" in Path(old_config).read_text()
    assert "Changed" in Path(new_config).read_text()
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(MOVING, "tokenizer.json", revision=new, endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(hf_hub_download(MOVING, "tokenizer.json", revision=pinned, endpoint=hub.url, cache_dir=tmp_path,
                                token=False)).is_file()
    hub.tag(MOVING, TAG, revision=pinned)


def test_direct_mode_serves_lfs_files_from_the_endpoint_as_a_mirror_may(hub, tmp_path):
    hub.lfs_mode = "direct"
    info = api(hub).model_info(PUBLIC, files_metadata=True)
    folder = snapshot_download(PUBLIC, revision=info.sha, endpoint=hub.url, local_dir=tmp_path / "local",
                               cache_dir=tmp_path / "cache", token=False)
    check_against_metadata(folder, info.siblings)
    assert {e["server"] for e in hub.stats()["requests"]} == {"hub"}
    reply = http("%s/%s/resolve/%s/%s" % (hub.url, PUBLIC, info.sha, SHARD_1), method="HEAD")
    status, headers = reply.status, reply.headers
    assert status == 200
    sha = hashlib.sha256((tmp_path / "local" / SHARD_1).read_bytes()).hexdigest()
    assert headers["ETag"] == '"%s"' % sha
    assert headers["X-Repo-Commit"] == info.sha
    assert headers["Accept-Ranges"] == "bytes"
    assert "X-Linked-Etag" not in headers


def test_the_token_reaches_the_endpoint_but_not_the_cdn(hub, tmp_path):
    folder = snapshot_download(GATED, revision=TAG, endpoint=hub.url, cache_dir=tmp_path, token=TOKEN)
    check_against_metadata(folder, api(hub, TOKEN).model_info(GATED, files_metadata=True).siblings)
    requests = hub.stats()["requests"]
    assert all(e["authorization"] for e in requests if e["server"] == "hub")
    assert [e for e in requests if e["server"] == "cdn"] and not any(
        e["authorization"] for e in requests if e["server"] == "cdn")


def test_hf_endpoint_and_hf_token_from_the_environment_with_the_hf_cli(hub, tmp_path):
    """How a role would run it: the `hf` command of the same venv, endpoint and token in the environment."""
    hf = Path(sys.executable).with_name("hf")
    if not hf.exists():
        pytest.skip("no hf command next to %s" % sys.executable)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    # HF_HUB_DISABLE_UPDATE_CHECK: else the command asks pypi.org for a newer huggingface_hub
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_UPDATE_CHECK="1")
    commit = head_commit(hub, GATED)
    done = subprocess.run([str(hf), "download", GATED, "--revision", commit, "--local-dir", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    check_against_metadata(tmp_path / "out", api(hub, TOKEN).model_info(GATED, files_metadata=True).siblings)
    repo_requests = [e for e in hub.stats()["requests"] if e["path"].startswith(("/api/models/", "/" + GATED))]
    assert repo_requests and all(e["authorization"] for e in repo_requests)


# -- errors ----------------------------------------------------------------------------------------------------


def test_gated_repository_without_a_token_is_gated_repo_error_401(hub, tmp_path):
    # its metadata is public, as on the Hub; its files are not
    assert api(hub).model_info(GATED).gated == "manual"
    with pytest.raises(GatedRepoError) as raised:
        hf_hub_download(GATED, "config.json", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert raised.value.response.status_code == 401
    with pytest.raises(GatedRepoError):
        snapshot_download(GATED, endpoint=hub.url, cache_dir=tmp_path, token=False)
    with pytest.raises(GatedRepoError):
        api(hub).auth_check(GATED)


def test_gated_repository_with_a_token_not_granted_is_gated_repo_error_403(hub, tmp_path):
    with pytest.raises(GatedRepoError) as raised:
        hf_hub_download(GATED, "config.json", endpoint=hub.url, cache_dir=tmp_path, token=UNGRANTED)
    assert raised.value.response.status_code == 403
    with pytest.raises(GatedRepoError):
        api(hub, UNGRANTED).auth_check(GATED)
    api(hub, TOKEN).auth_check(GATED)  # granted: no error


def test_unknown_or_private_repository_is_repository_not_found(hub, tmp_path):
    for token, status in ((False, 401), (TOKEN, 404)):
        with pytest.raises(RepositoryNotFoundError) as raised:
            api(hub, token).model_info("fixture-org/no-such-model")
        assert raised.value.response.status_code == status
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("fixture-org/no-such-model", "config.json", endpoint=hub.url, cache_dir=tmp_path,
                        token=False)
    for token in (False, UNGRANTED):
        with pytest.raises(RepositoryNotFoundError):
            api(hub, token).model_info(PRIVATE)
    assert api(hub, TOKEN).model_info(PRIVATE).private is True


def test_unknown_revision_is_revision_not_found(hub, tmp_path):
    with pytest.raises(RevisionNotFoundError):
        api(hub).model_info(PUBLIC, revision="v9.9")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(PUBLIC, "config.json", revision="0" * 40, endpoint=hub.url, cache_dir=tmp_path, token=False)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(PUBLIC, revision="no-such-branch", endpoint=hub.url, cache_dir=tmp_path, token=False)


def test_an_invalid_token_is_a_401_not_a_missing_repository(hub):
    with pytest.raises(HfHubHTTPError) as raised:
        api(hub, "hf_not_a_token").model_info(PUBLIC)
    assert not isinstance(raised.value, RepositoryNotFoundError)
    assert raised.value.response.status_code == 401
    assert api(hub, TOKEN).whoami()["name"] == "fixture-user"


def test_429_is_an_http_error_with_retry_after_and_the_download_path_retries_it(hub, tmp_path):
    hub.add_fault("status", status=429, retry_after=0, path="^/api/models/")
    with pytest.raises(HfHubHTTPError) as raised:
        api(hub).model_info(PUBLIC)
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"
    assert api(hub).model_info(PUBLIC).sha == head_commit(hub)  # the fault applied once
    # hf_hub_download: a 429 on its HEAD request is retried after Retry-After (plus one second)
    hub.add_fault("status", status=429, retry_after=0, path="/resolve/", method="HEAD")
    path = hf_hub_download(PUBLIC, "config.json", revision=head_commit(hub), endpoint=hub.url, cache_dir=tmp_path,
                           token=False)
    assert Path(path).is_file()
    heads = [e["status"] for e in hub.stats()["requests"] if e["method"] == "HEAD"]
    assert heads == [429, 200]


# -- faults in transfers ---------------------------------------------------------------------------------------


def test_a_cut_transfer_is_resumed_with_a_range_request(hub, tmp_path):
    """The client writes what it receives in 10 MiB pieces (huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE) and,
    on a cut, asks for the rest from the end of the last whole piece; a cut within the first piece starts over."""
    info = api(hub).model_info(BIG, files_metadata=True)
    (sibling,) = [s for s in info.siblings if s.rfilename == "model.safetensors"]
    assert sibling.size > 11_000_000
    hub.add_fault("cut", file="model.safetensors", after=11_000_000)
    path = hf_hub_download(BIG, "model.safetensors", revision=info.sha, endpoint=hub.url, cache_dir=tmp_path,
                           token=False)
    check_against_metadata(Path(path).parent, [sibling])
    first, second = requests_for(hub, "model.safetensors")
    assert first["cut"] and first["status"] == 200 and first["bytes"] == 11_000_000 and first["range"] is None
    assert second["status"] == 206 and second["range"] == "bytes=%d-" % (10 * 2**20)
    assert second["bytes"] == sibling.size - 10 * 2**20 < sibling.size
    # cut within the first 10 MiB: the retry asks for the whole file again
    hub.reset()
    hub.add_fault("cut", file=SHARD_1, after=1_000_000)
    hf_hub_download(PUBLIC, SHARD_1, revision=head_commit(hub), endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert [(e["range"], e["status"]) for e in requests_for(hub, SHARD_1)] == [(None, 200), (None, 200)]


def test_a_file_that_fails_for_good_is_fetched_whole_by_the_next_call(hub, tmp_path):
    """The client keeps no partial file across calls (each attempt downloads to a process-unique temporary
    file, removed on failure): after six cuts without progress the call fails, and the next starts at 0."""
    commit = head_commit(hub)
    hub.add_fault("cut", file=SHARD_2, after=0, count=6)
    started = time.monotonic()
    with pytest.raises(httpx2.RemoteProtocolError):
        hf_hub_download(PUBLIC, SHARD_2, revision=commit, endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert time.monotonic() - started < 30
    assert len(requests_for(hub, SHARD_2)) == 6
    assert not list(tmp_path.rglob("*.incomplete"))
    hub.reset()
    hf_hub_download(PUBLIC, SHARD_2, revision=commit, endpoint=hub.url, cache_dir=tmp_path, token=False)
    (get,) = requests_for(hub, SHARD_2)
    assert get["range"] is None and get["status"] == 200


def test_a_corrupted_byte_reaches_the_cache_unnoticed_by_the_client(hub, tmp_path):
    info = api(hub).model_info(PUBLIC, files_metadata=True)
    sibling = {s.rfilename: s for s in info.siblings}[SHARD_2]
    hub.add_fault("corrupt", file=SHARD_2, offset=12345)
    path = hf_hub_download(PUBLIC, SHARD_2, revision=info.sha, endpoint=hub.url, cache_dir=tmp_path, token=False)
    data = Path(path).read_bytes()
    assert len(data) == sibling.size  # what the client checks
    assert hashlib.sha256(data).hexdigest() != sibling.lfs.sha256  # what it does not
    # the cache names the blob by the sha256 the server announced, not by what arrived
    assert Path(path).resolve().name == sibling.lfs.sha256


def test_slow_fault_paces_the_transfer(hub, tmp_path):
    hub.add_fault("slow", file="config.json", rate=2000)
    started = time.monotonic()
    hf_hub_download(PUBLIC, "config.json", revision=head_commit(hub), endpoint=hub.url, cache_dir=tmp_path,
                    token=False)
    assert time.monotonic() - started >= 0.25  # 647 bytes at 2000 bytes/s


# -- HTTP details the client does not show ---------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


Reply = collections.namedtuple("Reply", "status headers body")


def http(url, method="GET", headers=None, data=None):
    """The Reply to one request, redirects not followed."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _OPENER.open(request) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def test_ranges(hub, model_dir):
    url = "%s/%s/resolve/main/config.json" % (hub.url, PUBLIC)
    data = (model_dir / "config.json").read_bytes()
    size = len(data)
    for wanted, body, content_range in (
            ("bytes=0-9", data[:10], "bytes 0-9/%d" % size),
            ("bytes=100-", data[100:], "bytes 100-%d/%d" % (size - 1, size)),
            ("bytes=-10", data[-10:], "bytes %d-%d/%d" % (size - 10, size - 1, size)),
            ("bytes=600-100000", data[600:], "bytes 600-%d/%d" % (size - 1, size))):
        status, headers, got = http(url, headers={"Range": wanted})
        assert (status, got, headers["Content-Range"]) == (206, body, content_range), wanted
        assert headers["Content-Length"] == str(len(body))
    reply = http(url, headers={"Range": "bytes=%d-" % size})
    assert reply.status == 416 and reply.headers["Content-Range"] == "bytes */%d" % size
    status, headers, got = http(url, headers={"Range": "bytes=0-1,5-6"})  # several ranges: the whole file
    assert status == 200 and got == data


def test_lfs_redirect_headers_are_the_hubs(hub, model_files):
    f = model_files[SHARD_1]
    reply = http("%s/%s/resolve/%s/%s" % (hub.url, PUBLIC, TAG, SHARD_1), method="HEAD")
    status, headers = reply.status, reply.headers
    assert status == 302
    assert headers["X-Linked-Etag"] == '"%s"' % f.sha256
    assert headers["X-Linked-Size"] == str(f.size)
    assert headers["X-Repo-Commit"] == head_commit(hub)
    assert headers["Location"].startswith(hub.cdn_url + "/lfs/" + f.sha256 + "?")
    assert headers["ETag"].startswith('W/"')
    assert http(headers["Location"].replace("signature=", "signature=0")).status == 403  # a URL not signed by the server


def test_the_control_api_sets_faults_and_reports_counters(hub):
    json_type = {"Content-Type": "application/json"}
    reply = http(hub.url + "/_fixture/faults", "POST", json_type,
                 json.dumps({"kind": "status", "status": 503, "path": "^/api/", "count": 2}).encode())
    assert reply.status == 200 and json.loads(reply.body)["id"] >= 1
    assert [http(hub.url + "/api/models/" + PUBLIC).status for attempt in range(3)] == [503, 503, 200]
    stats = json.loads(http(hub.url + "/_fixture/stats").body)
    assert [e["status"] for e in stats["requests"]] == [503, 503, 200]
    assert stats["clients"]["127.0.0.1"]["requests"] == 3
    reply = http(hub.url + "/_fixture/faults", "POST", json_type, json.dumps({"kind": "cut"}).encode())
    assert reply.status == 400 and b"after" in reply.body
    reply = http(hub.url + "/_fixture/push", "POST", json_type,
                 json.dumps({"repo": MOVING, "files": {"notes.txt": "hello\n"}}).encode())
    commit = json.loads(reply.body)["commit"]
    assert json.loads(http(hub.url + "/_fixture/repos").body)[MOVING]["branches"]["main"] == commit
    assert http(hub.url + "/_fixture/reset", "POST").status == 200
    assert json.loads(http(hub.url + "/_fixture/stats").body)["requests"] == []


def test_command_line_generates_serves_and_reports_ready(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", "--bind", "127.0.0.1", "--repo", "cli-org/cli-model",
         "--model-dir", str(tmp_path / "model"), "--generate", "--hidden-size", "64", "--intermediate-size", "128",
         "--num-hidden-layers", "1", "--vocab-size", "512", "--shards", "2", "--tag", "v2", "--gated",
         "cli-org/cli-model", "--token", TOKEN, "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = json.loads(process.stdout.readline())
        assert json.loads(ready.read_text()) == line
        commit = line["repos"]["cli-org/cli-model"]["tags"]["v2"]
        client = HfApi(endpoint=line["url"], token=TOKEN)
        info = client.model_info("cli-org/cli-model", revision="v2", files_metadata=True)
        assert info.sha == commit and info.gated == "manual"
        assert "model-00002-of-00002.safetensors" in {s.rfilename for s in info.siblings}
        folder = snapshot_download("cli-org/cli-model", revision=commit, endpoint=line["url"],
                                   cache_dir=tmp_path / "cache", token=TOKEN)
        check_against_metadata(folder, info.siblings)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
