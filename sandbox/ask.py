# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send one chat completion through the sandbox's router and say where it went.

Every HTTP call runs inside a container of the fleet (``docker exec ... python3``) against that
container's loopback: the router on 127.0.0.1:8000, each worker on 127.0.0.1:30000. The route
comes from the engine simulator's counters (``/get_server_info`` -> ``gpufleet_simulator``), read
before and after the request: the prefill that served it and published its KV, the decode that
pulled the KV (from which bootstrap address) and generated the answer.

    sandbox/ask.py --router gpufleet-sandbox-router-0 \\
        --worker prefill-0=gpufleet-sandbox-prefill-0 --worker decode-0=gpufleet-sandbox-decode-0
Exit status 1 when the answer is empty or no worker counted the request.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

# Runs in a container: one HTTP request to its loopback, the JSON answer on stdout.
FETCH = r"""
import json, sys, urllib.request
url, body = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, data=body.encode() if body else None,
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=float(sys.argv[3])) as response:
    sys.stdout.write(response.read().decode())
"""
COUNTERS = ("requests_served", "kv_transfers_sent", "kv_transfers_received", "tokens_generated")


def fetch(container: str, url: str, body: dict | None = None, timeout: float = 60) -> dict:
    command = ["docker", "exec", container, "python3", "-c", FETCH, url, json.dumps(body) if body else "",
               str(timeout)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode:
        raise SystemExit("ask: %s in %s failed: %s" % (url, container, run.stderr.strip().splitlines()[-1:]))
    return json.loads(run.stdout)


def simulator_state(container: str, port: int) -> dict:
    info = fetch(container, "http://127.0.0.1:%d/get_server_info" % port)
    if "gpufleet_simulator" not in info:
        raise SystemExit("ask: %s does not run the engine simulator: no route to report" % container)
    return info["gpufleet_simulator"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", required=True, help="container of the router")
    parser.add_argument("--router-port", type=int, default=8000)
    parser.add_argument("--worker", action="append", default=[], metavar="HOST=CONTAINER",
                        help="rank-0 worker to report on (repeat)")
    parser.add_argument("--worker-port", type=int, default=30000)
    parser.add_argument("--prompt", default="In one sentence: what does a disaggregated prefill/decode fleet do?")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    workers = dict(item.split("=", 1) for item in args.worker)

    before = {host: simulator_state(container, args.worker_port) for host, container in workers.items()}
    model = fetch(args.router, "http://127.0.0.1:%d/v1/models" % args.router_port)["data"][0]["id"]
    answer = fetch(args.router, "http://127.0.0.1:%d/v1/chat/completions" % args.router_port, {
        "model": model, "max_tokens": args.max_tokens,
        "messages": [{"role": "user", "content": args.prompt}]})
    after = {host: simulator_state(container, args.worker_port) for host, container in workers.items()}

    route = {}
    for host in workers:
        delta = {key: after[host][key] - before[host][key] for key in COUNTERS}
        pulled = {address: count - before[host]["kv_pulled_from"].get(address, 0)
                  for address, count in after[host]["kv_pulled_from"].items()}
        delta["kv_pulled_from"] = {address: count for address, count in pulled.items() if count}
        route[host] = {"mode": after[host]["disaggregation_mode"], **delta}
    text = answer["choices"][0]["message"]["content"] or ""
    report = {"model": model, "prompt": args.prompt, "answer": text, "usage": answer.get("usage"), "route": route}
    served = [host for host, delta in route.items() if delta["requests_served"]]

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("Request:  %s" % args.prompt)
        print("Answer:   %s" % text)
        print("Model:    %s (%s)" % (model, json.dumps(answer.get("usage"))))
        print("Route:    router %s:%d" % (args.router, args.router_port))
        for host, delta in route.items():
            if not delta["requests_served"]:
                print("          %-10s %-8s not used" % (host, delta["mode"]))
                continue
            detail = {"prefill": "prefilled the prompt, sent its KV cache (%d transfer)" % delta["kv_transfers_sent"],
                      "decode": "pulled the KV from %s, generated %d tokens"
                                % (", ".join(delta["kv_pulled_from"]) or "nowhere", delta["tokens_generated"])}
            print("          %-10s %-8s %s" % (host, delta["mode"], detail.get(delta["mode"], "served it")))
    if not text.strip() or not served:
        print("ask: the router answered %r and no worker counted the request" % text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
