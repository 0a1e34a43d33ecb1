# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start engine simulators (and other servers) as subprocesses on 127.0.0.1, and talk HTTP to them.

Shared by tests/unit/simulator and tests/upstream/test_simulator.py (which loads it by path).
Every process started through a ``Fleet`` is stopped by ``Fleet.close()``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[3]
SIMULATOR = ROOT / "roles" / "sglang_service" / "files" / "sglang_engine_simulator.py"
FAST_ENV = {
    "GPUFLEET_SIMULATOR_STARTUP_S": "0",
    "GPUFLEET_SIMULATOR_PREFILL_MS": "5",
    "GPUFLEET_SIMULATOR_TOKEN_MS": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body=None, headers: Optional[Dict[str, str]] = None, timeout: float = 30) -> Tuple[int, Dict[str, str], bytes]:
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, headers=None):
    status, _headers, raw = http("GET", url, headers=headers)
    assert status == 200, (url, status, raw)
    return json.loads(raw)


def post_json(url: str, body, headers=None, timeout: float = 30):
    status, _headers, raw = http("POST", url, body, headers, timeout)
    return status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> Tuple[Optional[int], Dict[str, str], bytes, bool]:
    """Send DATA as is on a fresh connection and read one response.

    (status, headers with lower-case names, body, closed): status None when nothing came back within
    TIMEOUT; closed is True when the server closed the connection after the response.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock, timeout)


def read_response(sock: socket.socket, timeout: float = 5.0) -> Tuple[Optional[int], Dict[str, str], bytes, bool]:
    """One HTTP/1.1 response from SOCK (see raw_exchange)."""
    deadline = time.time() + timeout
    buffer = b""

    def more() -> bool:
        nonlocal buffer
        left = deadline - time.time()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return False
        buffer += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in buffer:
        if not more():
            return None, {}, buffer, True
    head, _sep, buffer = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _colon, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length and more():
        pass
    body, rest = buffer[:length], buffer[length:]
    closed = headers.get("connection", "").lower() == "close"
    if not rest:
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b"" or closed
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    return status, headers, body, closed


def thread_count(proc: "Proc") -> int:
    """Threads of a running simulator (Linux /proc)."""
    return len(os.listdir("/proc/%d/task" % proc.popen.pid))


def sse_events(raw: bytes) -> List[str]:
    return [line[len("data: ") :] for line in raw.decode().splitlines() if line.startswith("data: ")]


class Proc:
    def __init__(self, argv: Sequence[str], env: Dict[str, str], name: str):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix="sim-%s-" % name, suffix=".log", delete=False)
        self.popen = subprocess.Popen(list(argv), stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if not self.log.closed:
            self.log.close()
            os.unlink(self.log.name)


class Fleet:
    """Processes of one test; ``close()`` stops them all."""

    def __init__(self, python: str = sys.executable):
        self.python = python
        self.procs: List[Proc] = []

    def start(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, name: str = "proc") -> Proc:
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = Proc(argv, full_env, name)
        self.procs.append(proc)
        return proc

    def simulator(self, *args: str, env: Optional[Dict[str, str]] = None, name: str = "sim") -> Proc:
        merged = dict(FAST_ENV)
        merged.update(env or {})
        return self.start([self.python, str(SIMULATOR)] + list(args), merged, name)

    def wait_http(self, url: str, proc: Proc, status: int = 200, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.popen.poll() is not None:
                raise AssertionError("%s exited with %s before %s answered:\n%s" % (proc.name, proc.popen.returncode, url, proc.output()))
            try:
                if http("GET", url, timeout=2)[0] == status:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("%s did not answer %s with %d within %ss:\n%s" % (proc.name, url, status, timeout, proc.output()))

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs = []
