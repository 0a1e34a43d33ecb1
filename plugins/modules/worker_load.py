# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: worker_load
short_description: Read how many requests an SGLang worker has in flight, and wait until it has none
version_added: 0.2.0
description:
  - Finds where the SGLang worker at O(url) reports its load, trying O(sources) in order, and reads its
    requests in flight there, summed over its data-parallel ranks. V(v1/loads) is SGLang's C(/v1/loads)
    (0.5.8 and newer), counting running plus waiting requests (the waiting queue and the PD bootstrap, prealloc,
    transfer and retracted queues) plus a prefill's KV transfers under way. V(get_load) is C(/get_load) (up to
    0.5.20), counting its C(num_reqs). V(metrics) is the Prometheus C(/metrics) (only with C(--enable-metrics)),
    counting the gauges C(sglang:num_running_reqs), C(sglang:num_queue_reqs) and those of the PD queues.
  - Then polls that source until the count is zero, for at most O(timeout) seconds (V(0) reads it once).
  - Read-only. It does not fail when the worker still has requests at the end, stops answering, or reports no
    load; RV(idle) and RV(outcome) say how it ended, and the caller decides (a rolling restart restarts anyway,
    with a warning).
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  url:
    description: The worker's base URL (its rank 0), e.g. C(http://127.0.0.1:30000).
    type: str
    required: true
  api_key:
    description: The worker's API key, sent as a bearer token in the C(Authorization) header (C(/v1/loads) and C(/get_load) need it).
    type: str
  sources:
    description: Where to look for the load, in this order; the first that answers a load is polled.
    type: list
    elements: str
    choices: [v1/loads, get_load, metrics]
    default: [v1/loads, get_load, metrics]
  timeout:
    description: Seconds to wait until no request is in flight; V(0) reads the load once.
    type: int
    default: 600
  interval:
    description: Seconds between two readings.
    type: float
    default: 5
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 10
  validate_certs:
    description: Whether to verify the worker's TLS certificate (for an C(https) O(url)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads and waits the same way in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
notes:
  - Endpoints per SGLang release, from its C(sglang/srt/entrypoints/http_server.py) and C(v1_loads.py) -
    C(/v1/loads) from 0.5.8, C(/get_load) up to 0.5.20 (deprecated from 0.5.8, gone in 0.5.21), C(/metrics)
    with C(--enable-metrics). C(/metrics) needs no API key.
seealso:
  - module: gpufleet.sglang.router_worker
"""

EXAMPLES = r"""
- name: Wait until decode-0, out of the router, finished its requests
  gpufleet.sglang.worker_load:
    url: http://127.0.0.1:30000
    api_key: "{{ sglang_api_key }}"
    timeout: 600
  register: decode_load

- name: Say so when it did not
  ansible.builtin.debug:
    msg: "{{ decode_load.msg }}"
  when: not decode_load.idle
"""

RETURN = r"""
idle:
  description: Whether the last reading counted no request in flight.
  type: bool
  returned: always
  sample: true
outcome:
  description:
    - V(idle) (no request in flight), V(busy) (still some after O(timeout)), V(lost) (the source stopped answering a
      load) or V(no_source) (no source answered one; RV(probes) says what each answered).
  type: str
  returned: always
  sample: idle
msg:
  description: The outcome in words.
  type: str
  returned: always
  sample: "http://127.0.0.1:30000/v1/loads: no request in flight"
source:
  description: The source polled, C(/v1/loads), C(/get_load) or C(/metrics); null when none answered a load.
  type: str
  returned: always
  sample: /v1/loads
url:
  description: The URL polled; null when no source answered a load.
  type: str
  returned: always
  sample: http://127.0.0.1:30000/v1/loads
probes:
  description: What each source tried answered, by path.
  type: dict
  returned: always
  sample: {/v1/loads: 'HTTP 404 {"detail": "Not Found"}', /get_load: HTTP 200 (a load)}
in_flight:
  description: Requests in flight at the last reading (running, waiting and transferring); null before any.
  type: int
  returned: always
  sample: 0
running:
  description: Running requests at the last reading.
  type: int
  returned: always
  sample: 0
waiting:
  description: Requests waiting in a queue (PD queues included) at the last reading.
  type: int
  returned: always
  sample: 0
transferring:
  description: A prefill's KV transfers under way at the last reading (C(/v1/loads), C(/metrics)).
  type: int
  returned: always
  sample: 0
ranks:
  description: Data-parallel ranks reported (0 for C(/metrics), which does not say).
  type: int
  returned: always
  sample: 1
status:
  description: The HTTP status of the last request (null when it got no answer).
  type: int
  returned: always
  sample: 200
answer:
  description: The last answer, C(HTTP <status> <body>) cut at 600 characters, secrets masked.
  type: str
  returned: always
  sample: 'HTTP 200 {"loads": [{"dp_rank": 0, "num_running_reqs": 0, "num_waiting_reqs": 0}]}'
elapsed:
  description: Seconds spent.
  type: float
  returned: always
  sample: 12.3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._http import sender
from ansible_collections.gpufleet.sglang.plugins.module_utils._worker_api import LOAD_SOURCES, wait_idle


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            api_key=dict(type="str", no_log=True),
            sources=dict(type="list", elements="str", choices=list(LOAD_SOURCES), default=list(LOAD_SOURCES)),
            timeout=dict(type="int", default=600),
            interval=dict(type="float", default=5),
            request_timeout=dict(type="float", default=10),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["sources"]:
        module.fail_json(msg="sources is empty: name at least one of %s." % ", ".join(LOAD_SOURCES))
    result = wait_idle(sender(params["request_timeout"], params["validate_certs"]), params["url"],
                       api_key=params["api_key"], sources=params["sources"], timeout=params["timeout"],
                       interval=params["interval"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
