# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Continuous chat completions through the router until SIGTERM: the traffic of the rolling restart side effect.

    python3 chat_load.py --url http://127.0.0.1:8000 --model MODEL --key-file FILE --out counts.json

Each of --concurrency threads sends one chat completion after the other (0.2 s apart after a failure).
A request is ok when it answers 200 with generated text, failed otherwise (its status, or the
connection error). The counts, with the first failures, are written to --out every second and once
more after SIGTERM, when the requests under way have finished. The API key comes from a file, never from argv (``ps`` shows argv).
Standard library only: it runs on the router's host with the system python3.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

FAILURES_KEPT = 10
FAILURE_BACKOFF_S = 0.2


class Load:
    def __init__(self, args: argparse.Namespace, key: str):
        self.args = args
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = "Bearer " + key
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "failed": 0, "failures": [], "started": time.time(), "stopped": None}

    def one(self, index: int) -> bool:
        body = {"model": self.args.model, "max_tokens": self.args.max_tokens, "stream": False,
                "messages": [{"role": "user", "content": "rolling restart load %d" % index}]}
        request = urllib.request.Request(self.args.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                         headers=self.headers, method="POST")
        failure = None
        try:
            with urllib.request.urlopen(request, timeout=self.args.timeout) as response:
                answer = json.loads(response.read().decode())
            if not answer["choices"][0]["message"]["content"].strip():
                failure = "200 without generated text"
        except urllib.error.HTTPError as error:
            failure = "HTTP %d: %s" % (error.code, error.read().decode(errors="replace")[:300])
        except (OSError, ValueError, KeyError, IndexError) as error:
            failure = "%s: %s" % (type(error).__name__, error)
        with self.lock:
            if failure is None:
                self.counts["ok"] += 1
            else:
                self.counts["failed"] += 1
                if len(self.counts["failures"]) < FAILURES_KEPT:
                    self.counts["failures"].append("%.1f s: %s" % (time.time() - self.counts["started"], failure))
        return failure is None

    def sender(self, offset: int) -> None:
        index = offset
        while not self.stop.is_set():
            if not self.one(index):
                # A router with no worker to send to answers 503 at once: back off as a client would.
                self.stop.wait(FAILURE_BACKOFF_S)
            index += self.args.concurrency

    def write(self) -> None:
        with self.lock:
            text = json.dumps(self.counts)
        partial = self.args.out + ".part"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, self.args.out)

    def run(self) -> None:
        threads = [threading.Thread(target=self.sender, args=(i,)) for i in range(self.args.concurrency)]
        for thread in threads:
            thread.start()
        while not self.stop.wait(1):
            self.write()
        for thread in threads:
            thread.join()
        self.counts["stopped"] = time.time()
        self.write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True, help="the router, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", required=True)
    parser.add_argument("--key-file", help="file holding the router's API key")
    parser.add_argument("--out", required=True, help="JSON file of the counts")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    key = ""
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as handle:
            key = handle.read().strip()
    load = Load(args, key)
    signal.signal(signal.SIGTERM, lambda *_: load.stop.set())
    load.run()


if __name__ == "__main__":
    main()
