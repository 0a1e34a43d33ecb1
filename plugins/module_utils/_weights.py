# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A model's weights on one host: verified against the Hub's own metadata, fetched resumably, published atomically.

Host code, standard library only (Python 3.8+), used by the ``model_weights`` module. The controller decides
who fetches which file from where (``_weights_schedule.py``); this module does one host's part of it.

**Manifest.** A list of ``{path, size, sha256}`` (an LFS file: the Hub's ``lfs.sha256``) or ``{path, size,
blob_id}`` (any other file: its git blob id, ``sha1(b"blob <size>\\0" + content)``), as the Hub's
``model_info(files_metadata=True)`` or its tree listing give them. ``manifest_digest`` names a manifest.

**Verification** (``verify_directory``) gives each file one state: ``ok``, ``missing``, ``size`` (wrong size,
never hashed) or ``hash`` (right size, wrong content). Hashes are streamed in 1 MiB reads. In ``quick`` mode a
file is trusted without reading it when the stamp (``STAMP_NAME``, written when the directory was published or
repaired) records the same expected size and hash for it and the file's size, ``mtime_ns`` and inode are those
the stamp recorded: an unchanged snapshot is verified in the time of a ``stat`` per file, whatever the model's
size. Any other file is hashed. ``full`` mode hashes every file.

**Fetching** (``http_fetcher``, ``local_fetcher``) appends to a ``.part`` file from its current length (HTTP
``Range: bytes=N-``), hashing the bytes already there once (locally) and the new ones as they arrive, and
checks size and hash at the end: a file that does not match is removed and never published. A transfer cut
mid-file leaves its ``.part``, and the next run asks only for the rest. The token goes only to the origin of
the URL it was given for (not to the CDN an LFS file redirects to), and never into a message or exception.

**Publication** (``converge``). A missing snapshot is assembled in ``<dest>.partial/`` (kept across runs for
resume; its stamp records the files already verified) and appears by one ``rename`` when every file verifies:
``dest`` is absent or complete and verified. A published snapshot with a bad or missing file is repaired in
place, file by file (``<file>.tmp``, then ``os.replace``), so only that file changes; the stamp is rewritten.

**Disk space** is checked before any byte moves: the free bytes of the destination's filesystem must be at
least the bytes still to fetch plus the largest file (``InsufficientSpace`` names the path, the need and the
free bytes). A full disk during a transfer (``ENOSPC``) is reported naming the path; the ``.partial`` stays.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

CHUNK = 1024 * 1024
STAMP_NAME = ".gpufleet-weights.json"
STAMP_VERSION = 1
PARTIAL_SUFFIX = ".partial"
PART_SUFFIX = ".part"
TMP_SUFFIX = ".tmp"
MAX_REDIRECTS = 5
BAD_STATES = ("missing", "size", "hash")


class WeightsError(Exception):
    """A failure that names the file (or path), what was expected, what was found and a fix."""

    def __init__(self, message: str, *, file: Optional[str] = None, expected: Any = None, found: Any = None,
                 fix: Optional[str] = None, fatal: bool = False, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.expected = expected
        self.found = found
        self.fix = fix
        self.fatal = fatal  # the same failure would hit every other file: stop the run
        self.status = status

    def as_dict(self) -> Dict[str, Any]:
        return {"file": self.file, "message": self.message, "expected": self.expected, "found": self.found,
                "fix": self.fix, "status": self.status}


class InsufficientSpace(WeightsError):
    pass


# -- manifest ------------------------------------------------------------------------------------------------------

def _safe_path(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise WeightsError("manifest entry path %r is not a relative POSIX path" % (path,), file=str(path),
                           fix="give each file's path as the Hub lists it (e.g. model-00001-of-00003.safetensors)")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or path == STAMP_NAME:
        raise WeightsError("manifest entry path %r may not contain empty, '.' or '..' parts, nor be the stamp"
                           % (path,), file=path, fix="give each file's path as the Hub lists it")
    return path


def normalize_manifest(files: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Check and normalise the manifest: [{path, size, sha256 | blob_id}], sorted by path, paths unique."""
    out: Dict[str, Dict[str, Any]] = {}
    for entry in files:
        if not isinstance(entry, Mapping):
            raise WeightsError("manifest entry %r is not a mapping" % (entry,),
                               fix="each file is {path, size, sha256} or {path, size, blob_id}")
        path = _safe_path(entry.get("path"))
        size = entry.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise WeightsError("manifest entry %s: size %r is not a non-negative integer" % (path, size), file=path,
                               fix="give the size in bytes the Hub lists")
        sha256 = entry.get("sha256")
        blob_id = entry.get("blob_id")
        norm: Dict[str, Any] = {"path": path, "size": size}
        if sha256:
            if not (isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
                raise WeightsError("manifest entry %s: sha256 %r is not 64 lowercase hex digits" % (path, sha256),
                                   file=path, fix="give the LFS file's lfs.sha256 from the Hub's metadata")
            norm["sha256"] = sha256
        elif blob_id:
            if not (isinstance(blob_id, str) and len(blob_id) == 40 and all(c in "0123456789abcdef" for c in blob_id)):
                raise WeightsError("manifest entry %s: blob_id %r is not 40 lowercase hex digits" % (path, blob_id),
                                   file=path, fix="give the file's git blob id (the Hub's blobId / oid)")
            norm["blob_id"] = blob_id
        else:
            raise WeightsError("manifest entry %s has neither sha256 nor blob_id" % path, file=path,
                               fix="every file must be checked: sha256 for LFS files, blob_id for the others")
        if path in out:
            raise WeightsError("manifest lists %s twice" % path, file=path, fix="list each file once")
        out[path] = norm
    return [out[p] for p in sorted(out)]


def expected_digest(entry: Mapping[str, Any]) -> str:
    return ("sha256:" + entry["sha256"]) if entry.get("sha256") else ("blob:" + entry["blob_id"])


def manifest_digest(manifest: Iterable[Mapping[str, Any]]) -> str:
    text = json.dumps([[e["path"], e["size"], expected_digest(e)] for e in normalize_manifest(manifest)],
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # nosec: git's id, not a security hash


class Hasher:
    """The expected kind of digest of one manifest entry, fed in pieces."""

    def __init__(self, entry: Mapping[str, Any]) -> None:
        if entry.get("sha256"):
            self.kind = "sha256"
            self._h = hashlib.sha256()
        else:
            self.kind = "blob"
            self._h = hashlib.sha1()  # nosec: git's blob id
            self._h.update(b"blob %d\0" % entry["size"])

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> str:
        return "%s:%s" % (self.kind, self._h.hexdigest())


def hash_file(path: str, entry: Mapping[str, Any], limit: Optional[int] = None) -> Tuple[Hasher, int]:
    """A Hasher fed the first LIMIT bytes (all by default) of PATH, in 1 MiB reads; and the bytes read."""
    hasher = Hasher(entry)
    done = 0
    with open(path, "rb") as handle:
        while limit is None or done < limit:
            block = handle.read(CHUNK if limit is None else min(CHUNK, limit - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
    return hasher, done


# -- stamp and verification ---------------------------------------------------------------------------------------

def _stat_key(st: os.stat_result) -> Dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def read_stamp(directory: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(directory, STAMP_NAME), "r", encoding="utf-8") as handle:
            stamp = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(stamp, dict) or stamp.get("version") != STAMP_VERSION or not isinstance(stamp.get("files"), dict):
        return {}
    return stamp


def write_stamp(directory: str, manifest: List[Dict[str, Any]], paths: Optional[Iterable[str]] = None,
                base: Optional[Mapping[str, Any]] = None) -> None:
    """Record the verified files' stat keys (PATHS, default every manifest file; plus BASE's still-valid ones)."""
    by_path = {e["path"]: e for e in manifest}
    files: Dict[str, Any] = {}
    if base:
        for path, rec in (base.get("files") or {}).items():
            if path in by_path and isinstance(rec, dict) and rec.get("digest") == expected_digest(by_path[path]):
                files[path] = rec
    for path in (by_path if paths is None else paths):
        st = os.stat(os.path.join(directory, path))
        files[path] = dict(_stat_key(st), digest=expected_digest(by_path[path]))
    stamp = {"version": STAMP_VERSION, "manifest_digest": manifest_digest(manifest), "files": files}
    target = os.path.join(directory, STAMP_NAME)
    tmp = target + TMP_SUFFIX
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(stamp, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _trusted(stamp: Mapping[str, Any], entry: Mapping[str, Any], st: os.stat_result) -> bool:
    rec = (stamp.get("files") or {}).get(entry["path"])
    if not isinstance(rec, dict) or rec.get("digest") != expected_digest(entry):
        return False
    return all(rec.get(k) == v for k, v in _stat_key(st).items())


def verify_file(directory: str, entry: Mapping[str, Any], mode: str = "full",
                stamp: Optional[Mapping[str, Any]] = None) -> Tuple[str, int, Optional[str]]:
    """(state, bytes hashed, digest found or None) of one manifest file in DIRECTORY."""
    path = os.path.join(directory, entry["path"])
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing", 0, None
    if not os.path.isfile(path):
        return "missing", 0, None
    if st.st_size != entry["size"]:
        return "size", 0, None
    if mode == "quick" and stamp and _trusted(stamp, entry, st):
        return "ok", 0, expected_digest(entry)
    hasher, done = hash_file(path, entry)
    found = hasher.digest()
    return ("ok" if found == expected_digest(entry) else "hash"), done, found


def verify_directory(directory: str, manifest: Iterable[Mapping[str, Any]], mode: str = "quick") -> Dict[str, Any]:
    """{states: {path: ok|missing|size|hash}, bytes_verified, found: {path: digest or size found}}."""
    if mode not in ("quick", "full"):
        raise ValueError("mode must be quick or full")
    manifest = normalize_manifest(manifest)
    stamp = read_stamp(directory) if mode == "quick" else {}
    states: Dict[str, str] = {}
    found: Dict[str, Any] = {}
    hashed = 0
    for entry in manifest:
        state, done, digest = verify_file(directory, entry, mode, stamp)
        states[entry["path"]] = state
        hashed += done
        if state == "size":
            found[entry["path"]] = "%d bytes" % os.stat(os.path.join(directory, entry["path"])).st_size
        elif state == "hash":
            found[entry["path"]] = digest
    return {"states": states, "bytes_verified": hashed, "found": found}


# -- disk space -----------------------------------------------------------------------------------------------------

def free_bytes(path: str) -> int:
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def check_space(path: str, still_needed: int, largest: int, free: Optional[int] = None) -> None:
    if still_needed <= 0:
        return
    free = free_bytes(path) if free is None else free
    need = still_needed + largest
    if free < need:
        raise InsufficientSpace(
            "not enough free space at %s: need %d bytes (%d still to fetch + %d headroom for the largest file), "
            "%d free" % (path, need, still_needed, largest, free), file=path, expected="%d bytes free" % need,
            found="%d bytes free" % free, fatal=True,
            fix="free space on that filesystem or point dest at a larger one; nothing was moved")


def _enospc(exc: OSError, path: str, file: str) -> WeightsError:
    return WeightsError("disk full (ENOSPC) while writing %s: %s" % (path, exc.strerror), file=file,
                        expected="room to write the file", found="no space left on device", fatal=True,
                        fix="free space on the filesystem of %s and run again; the partial data is kept for "
                            "resume and nothing half-done was published" % path)


# -- fetching -------------------------------------------------------------------------------------------------------

Fetcher = Callable[[Mapping[str, Any], int], Iterable[bytes]]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # pylint: disable=too-many-arguments
        return None


def _public_url(url: str) -> str:
    """URL without its query and credentials (a CDN URL's signature, user:password@)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def http_status_error(status: int, url: str, file: str, headers: Mapping[str, str], has_token: bool) -> WeightsError:
    code = headers.get("X-Error-Code") or ""
    where = _public_url(url)
    if status == 401:
        if has_token:
            return WeightsError(
                "HTTP 401 for %s from %s: the token was refused (unknown, revoked or expired)" % (file, where),
                file=file, expected="a valid token", found="HTTP 401 %s" % code, status=status, fatal=True,
                fix="replace source.token with a valid read token of the account that was granted the model")
        return WeightsError(
            "HTTP 401 for %s from %s: the repository is gated or private and no token was given" % (file, where),
            file=file, expected="anonymous access", found="HTTP 401 %s" % code, status=status, fatal=True,
            fix="set source.token (from Ansible Vault) to a read token of an account that was granted the model")
    if status == 403:
        return WeightsError(
            "HTTP 403 for %s from %s: the token is valid but its account was not granted this gated model"
            % (file, where), file=file, expected="access granted to the token's account",
            found="HTTP 403 %s" % code, status=status, fatal=True,
            fix="request access on the model's page with that account (and wait for approval), or use the token "
                "of an account that has it")
    if status == 404:
        if code == "RevisionNotFound":
            what, fix = "the revision was not found", "check the revision (commit, branch or tag) in the URL"
        elif code == "EntryNotFound":
            what, fix = "the file is not in that revision", "take the manifest from the same revision as the URL"
        else:
            what, fix = ("the repository or revision was not found (or is private and the token cannot see it)",
                         "check the repository id and revision, and that the token may read a private repository")
        return WeightsError("HTTP 404 for %s from %s: %s" % (file, where, what), file=file,
                            expected="the file at that URL", found="HTTP 404 %s" % code, status=status,
                            fatal=code != "EntryNotFound", fix=fix)
    if status == 429:
        retry = headers.get("Retry-After")
        return WeightsError(
            "HTTP 429 for %s from %s: rate limited%s" % (file, where, " (Retry-After: %s s)" % retry if retry else ""),
            file=file, expected="a download", found="HTTP 429", status=status, fatal=True,
            fix="back off and run again later; the fleet must read each file from upstream once (the staging "
                "schedule) and fan it out between peers, not download it on every node")
    if status == 416:
        return WeightsError("HTTP 416 for %s from %s: the source has fewer bytes than the resume offset"
                            % (file, where), file=file, expected="the rest of the file", found="HTTP 416",
                            status=status, fix="the partial file is discarded; run again to fetch it whole")
    return WeightsError("HTTP %d for %s from %s" % (status, file, where), file=file, expected="HTTP 200 or 206",
                        found="HTTP %d %s" % (status, code), status=status,
                        fix="check that the source serves this file; run again")


def http_fetcher(url_base: str, token: Optional[str] = None, ca_bundle: Optional[str] = None,
                 timeout: float = 60.0, headers: Optional[Mapping[str, str]] = None) -> Fetcher:
    """``fetch(entry, offset)``: the bytes of URL_BASE + quoted path from OFFSET on, as an iterable of chunks.

    The token is sent only to URL_BASE's origin: a redirect to another origin (an LFS file's CDN) goes without
    it. A first answer of 200 to a Range request is raised as a restart (``RestartFromZero``)."""
    base = url_base if url_base.endswith("/") else url_base + "/"
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context)
                                         if context else urllib.request.HTTPSHandler())
    origin = urllib.parse.urlsplit(base)[:2]

    def fetch(entry: Mapping[str, Any], offset: int) -> Iterable[bytes]:
        file = entry["path"]
        url = base + urllib.parse.quote(file)
        for _hop in range(MAX_REDIRECTS + 1):
            request_headers = dict(headers or {})
            request_headers["Accept-Encoding"] = "identity"
            if offset:
                request_headers["Range"] = "bytes=%d-" % offset
            if token and urllib.parse.urlsplit(url)[:2] == origin:
                request_headers["Authorization"] = "Bearer " + token
            request = urllib.request.Request(url, headers=request_headers)
            try:
                response = opener.open(request, timeout=timeout)
            except urllib.error.HTTPError as exc:
                if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                    url = urllib.parse.urljoin(url, exc.headers["Location"])
                    exc.close()
                    continue
                error = http_status_error(exc.code, url, file, exc.headers, bool(token))
                exc.close()
                raise error from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                raise WeightsError("cannot reach %s for %s: %s" % (_public_url(url), file, reason), file=file,
                                   expected="an answer", found=str(reason), fatal=True,
                                   fix="check the source address, the network path and (HTTPS) source.ca_bundle"
                                   ) from None
            return _body(response, offset, file, url)
        raise WeightsError("more than %d redirects for %s" % (MAX_REDIRECTS, file), file=file, fatal=True,
                           fix="point source.url_base at the server itself")

    return fetch


class RestartFromZero(Exception):
    """The source ignored the Range request: the chunks that follow start at byte 0."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__("restart")
        self.chunks = chunks


def _body(response: Any, offset: int, file: str, url: str) -> Iterable[bytes]:
    status = response.status
    if offset and status == 200:
        raise RestartFromZero(_chunks(response, file, url))
    if offset and status == 206:
        content_range = response.headers.get("Content-Range") or ""
        if not content_range.startswith("bytes %d-" % offset):
            response.close()
            raise WeightsError("%s: asked for bytes from %d, got Content-Range %r" % (file, offset, content_range),
                               file=file, expected="bytes %d-" % offset, found=content_range,
                               fix="the source answers ranges wrongly; run again (the file is fetched whole)")
    return _chunks(response, file, url)


def _chunks(response: Any, file: str, url: str) -> Iterable[bytes]:
    try:
        while True:
            try:
                block = response.read(CHUNK)
            except (http.client.IncompleteRead, OSError, socket.timeout, http.client.HTTPException) as exc:
                raise TransferCut(file, url, exc) from None
            if not block:
                return
            yield block
    finally:
        response.close()


class TransferCut(WeightsError):
    def __init__(self, file: str, url: str, exc: BaseException) -> None:
        super().__init__("transfer of %s from %s was cut: %s" % (file, _public_url(url), type(exc).__name__),
                         file=file, expected="the whole body", found="connection closed early",
                         fix="run again: the transfer resumes from the bytes already received")


def local_fetcher(source_path: str) -> Fetcher:
    """``fetch(entry, offset)`` reading SOURCE_PATH/<path> (a local or shared-filesystem snapshot)."""

    def fetch(entry: Mapping[str, Any], offset: int) -> Iterable[bytes]:
        path = os.path.join(source_path, entry["path"])
        try:
            handle = open(path, "rb")  # pylint: disable=consider-using-with
        except OSError as exc:
            raise WeightsError("cannot read %s from source_path %s: %s" % (entry["path"], source_path, exc.strerror),
                               file=entry["path"], expected="a readable file at %s" % path, found=exc.strerror,
                               fix="check source_path and that it holds the same revision") from None

        def chunks() -> Iterable[bytes]:
            with handle:
                handle.seek(offset)
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        return
                    yield block
        return chunks()

    return fetch


def download(fetch: Fetcher, entry: Mapping[str, Any], part: str) -> Dict[str, int]:
    """Complete PART (resuming from its length) with FETCH and check it against ENTRY; PART is left verified.

    Returns {fetched, hashed}: bytes received now, bytes read back from disk (the part's earlier bytes, once).
    A size or hash mismatch removes PART and raises: a bad file is never published nor resumed."""
    file = entry["path"]
    size = entry["size"]
    os.makedirs(os.path.dirname(part) or ".", exist_ok=True)
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if have > size:
        os.remove(part)
        have = 0
    hasher, hashed = hash_file(part, entry, have) if have else (Hasher(entry), 0)
    fetched = 0
    if have < size or not os.path.isfile(part):
        try:
            chunks = fetch(entry, have) if have < size else iter(())
        except RestartFromZero as restart:
            chunks, have, hasher = restart.chunks, 0, Hasher(entry)
            with open(part, "wb"):
                pass
        try:
            with open(part, "ab") as handle:
                for block in chunks:
                    if have + len(block) > size:
                        raise WeightsError("source sent more than the %d bytes of %s" % (size, file), file=file,
                                           expected="%d bytes" % size, found="more than %d bytes" % size,
                                           fix="the source holds another version of the file; check the revision")
                    handle.write(block)
                    hasher.update(block)
                    have += len(block)
                    fetched += len(block)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise _enospc(exc, part, file) from None
            raise
        except WeightsError as exc:
            if not isinstance(exc, TransferCut):
                _remove(part)
            exc.fetched = fetched  # type: ignore[attr-defined]
            raise
    if have != size:
        error = TransferCut(file, "source", EOFError("short body"))
        error.message = "transfer of %s was cut: the source ended after %d of %d bytes" % (file, have, size)
        error.args = (error.message,)
        error.fetched = fetched  # type: ignore[attr-defined]
        raise error
    found = hasher.digest()
    if found != expected_digest(entry):
        _remove(part)
        error = WeightsError("%s: content does not match the Hub's metadata (expected %s, found %s); discarded, "
                             "never published" % (file, expected_digest(entry), found), file=file,
                             expected=expected_digest(entry), found=found,
                             fix="the source served other bytes: run again to fetch it again; if a peer keeps "
                                 "serving it, verify that peer with verify: full")
        error.fetched = fetched  # type: ignore[attr-defined]
        raise error
    return {"fetched": fetched, "hashed": hashed}


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- converge -------------------------------------------------------------------------------------------------------

def _part_length(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def plan(dest: str, manifest: Iterable[Mapping[str, Any]], mode: str = "quick") -> Dict[str, Any]:
    """What converge would do, reading only: {published, states, todo: [paths], bytes_to_fetch, bytes_verified}."""
    manifest = normalize_manifest(manifest)
    dest = os.path.abspath(dest)
    staging = dest + PARTIAL_SUFFIX
    published = os.path.isdir(dest)
    directory = dest if published else staging
    if os.path.isdir(directory):
        result = verify_directory(directory, manifest, mode)
    else:
        result = {"states": {e["path"]: "missing" for e in manifest}, "bytes_verified": 0, "found": {}}
    todo = [e["path"] for e in manifest if result["states"][e["path"]] != "ok"]
    suffix = TMP_SUFFIX if published else PART_SUFFIX
    by_path = {e["path"]: e for e in manifest}
    to_fetch = sum(by_path[p]["size"] - min(_part_length(os.path.join(directory, p) + suffix), by_path[p]["size"])
                   for p in todo)
    return {"published": published, "directory": directory, "states": result["states"], "found": result["found"],
            "todo": todo, "bytes_to_fetch": to_fetch, "bytes_verified": result["bytes_verified"],
            "manifest": manifest}


def converge(dest: str, manifest: Iterable[Mapping[str, Any]], fetch: Fetcher, mode: str = "quick",
             check_mode: bool = False, free: Optional[int] = None) -> Dict[str, Any]:
    """Make DEST a complete, verified snapshot of MANIFEST; see the module docstring.

    Returns {changed, published, states: {path: ok|fetched|repaired|missing|size|hash|error}, found,
    bytes_fetched, bytes_verified, files_repaired, files_fetched, errors: [WeightsError.as_dict()]}."""
    dest = os.path.abspath(dest.rstrip("/") or "/")
    p = plan(dest, manifest, mode)
    manifest = p["manifest"]
    by_path = {e["path"]: e for e in manifest}
    result: Dict[str, Any] = {
        "changed": bool(p["todo"]) or not p["published"], "published": p["published"] and not p["todo"],
        "states": dict(p["states"]), "found": p["found"], "bytes_fetched": 0, "bytes_verified": p["bytes_verified"],
        "bytes_to_fetch": p["bytes_to_fetch"], "files_repaired": [], "files_fetched": [], "errors": []}
    if check_mode or (p["published"] and not p["todo"]):
        if p["published"] and not p["todo"] and not check_mode:
            _refresh_stamp(dest, manifest)
        return result
    largest = max([by_path[path]["size"] for path in p["todo"]] or [0])
    check_space(dest, p["bytes_to_fetch"], largest, free)
    directory = p["directory"]
    if not p["published"]:
        os.makedirs(directory, exist_ok=True)
    stamp = read_stamp(directory)
    done: List[str] = []
    for path in p["todo"]:
        entry = by_path[path]
        target = os.path.join(directory, path)
        part = target + (TMP_SUFFIX if p["published"] else PART_SUFFIX)
        try:
            counts = download(fetch, entry, part)
        except WeightsError as exc:
            result["bytes_fetched"] += getattr(exc, "fetched", 0)
            result["states"][path] = "error"
            result["errors"].append(exc.as_dict())
            if exc.fatal:
                break
            continue
        result["bytes_fetched"] += counts["fetched"]
        result["bytes_verified"] += entry["size"]  # every byte went through the hash once
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        os.replace(part, target)
        _fsync_dir(os.path.dirname(target))
        done.append(path)
        if p["published"]:
            result["states"][path] = "repaired"
            result["files_repaired"].append(path)
        else:
            result["states"][path] = "fetched"
            result["files_fetched"].append(path)
        if not p["published"]:
            write_stamp(directory, manifest, [path], base=stamp)  # resume: verified files are not hashed again
            stamp = read_stamp(directory)
    if p["published"]:
        if done:
            write_stamp(dest, manifest, _ok_paths(result))
        result["published"] = not result["errors"]
        return result
    if result["errors"]:
        return result
    write_stamp(directory, manifest)
    os.rename(directory, dest)
    _fsync_dir(os.path.dirname(dest))
    result["published"] = True
    return result


def _ok_paths(result: Mapping[str, Any]) -> List[str]:
    return [path for path, state in result["states"].items() if state in ("ok", "repaired", "fetched")]


def _refresh_stamp(dest: str, manifest: List[Dict[str, Any]]) -> None:
    """After a run that found every file ok: record files hashed this run so the next quick run trusts them."""
    stamp = read_stamp(dest)
    if stamp.get("manifest_digest") != manifest_digest(manifest) or not all(
            _trusted(stamp, e, os.stat(os.path.join(dest, e["path"]))) for e in manifest):
        write_stamp(dest, manifest)
