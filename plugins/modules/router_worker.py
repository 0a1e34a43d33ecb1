# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: router_worker
short_description: Add a worker to an SGLang router, or take it out, through the router's worker API
version_added: 0.2.0
description:
  - Makes the router at O(url) list the worker O(worker_url) as a healthy worker (O(state=present)) or not at
    all (O(state=absent)), through the worker API of the SGLang Model Gateway (smg) and of sglang-router.
  - Reads C(GET /workers); removes each entry of the worker with C(DELETE /workers/<id>), or adds it with
    C(POST /workers) (its URL, O(worker_type), a prefill's O(bootstrap_port) and O(worker_api_key)). The router
    answers 202 and acts in the background, so the module then polls C(GET /workers) until it shows the result
    (O(wait)), for at most O(timeout) seconds.
  - A worker the router already lists (healthy or not) is not added again; with O(state=present) the module waits
    until the router sees it healthy, and reports no change.
  - A router removes a worker from its pool at once and lets the requests the worker already has complete
    (see M(gpufleet.sglang.worker_load) to wait for them).
  - The API keys are never returned or shown; an answer of the router is quoted with every secret masked.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  url:
    description: The router's base URL, e.g. C(http://127.0.0.1:8000).
    type: str
    required: true
  worker_url:
    description: The worker's URL as the router names it (its rank 0), e.g. C(http://10.0.1.11:30000).
    type: str
    required: true
  state:
    description: V(present) to have the router list the worker as healthy, V(absent) to have it not list it at all.
    type: str
    choices: [present, absent]
    default: present
  worker_type:
    description: The kind of worker to add (the router's C(worker_type)); used with O(state=present).
    type: str
    choices: [regular, prefill, decode]
    default: regular
  bootstrap_port:
    description:
      - A prefill worker's bootstrap port, where decodes pull the KV cache from (SGLang's
        C(--disaggregation-bootstrap-port)). Only with O(worker_type=prefill).
    type: int
  api_key:
    description:
      - The router's API key, sent as a bearer token in the C(Authorization) header of every request (the worker
        API needs it when the router runs with one).
    type: str
  worker_api_key:
    description:
      - The key the router must use toward the worker it adds (C(api_key) of the C(POST /workers) body). A worker
        added through the API does not inherit the router's key, and smg registers a worker that needs a key only
        with it.
      - Defaults to O(api_key).
    type: str
  wait:
    description: Whether to poll C(GET /workers) until the router shows the change.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the router to show the change.
    type: int
    default: 300
  interval:
    description: Seconds between two readings of C(GET /workers).
    type: float
    default: 5
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 10
  validate_certs:
    description: Whether to verify the router's TLS certificate (for an C(https) O(url)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads the router's listing and reports whether a change is due; removes, adds and waits for nothing.
  diff_mode:
    support: none
    description: The router's listing is not diffed.
notes:
  - Checked against smg 1.13.0 and sglang-router 0.3.2, whose worker API takes worker ids only (their legacy
    C(/remove_worker?url=) and C(DELETE /workers/<url>) are gone).
  - On failure the result has RV(failure) set to C(list) (the router did not list its workers),
    C(refused) (it refused the removal or the addition) or C(timeout) (it did not show the change in time), and
    RV(answer) quotes what the router answered.
seealso:
  - module: gpufleet.sglang.worker_load
"""

EXAMPLES = r"""
- name: Take decode-0 out of the router
  gpufleet.sglang.router_worker:
    url: http://127.0.0.1:8000
    worker_url: http://10.0.1.13:30000
    state: absent
    api_key: "{{ sglang_api_key }}"

- name: Put prefill-0 back, with its bootstrap port
  gpufleet.sglang.router_worker:
    url: http://127.0.0.1:8000
    worker_url: http://10.0.1.11:30000
    worker_type: prefill
    bootstrap_port: 8998
    api_key: "{{ sglang_api_key }}"
    timeout: 300
"""

RETURN = r"""
worker:
  description:
    - The router's entry of the worker (its C(id), C(url), C(worker_type), C(is_healthy), ...) as last listed, with
      any secret-named field left out; null when the router does not list it.
  type: dict
  returned: always
  sample: {id: 2f6c5a54-7ad9-4bb5-9d7e-0c5a6f1f8a3b, url: "http://10.0.1.11:30000", worker_type: prefill,
           bootstrap_port: 8998, is_healthy: true}
worker_ids:
  description: The ids the router listed the worker under before the change (those removed with O(state=absent)).
  type: list
  elements: str
  returned: always
  sample: [2f6c5a54-7ad9-4bb5-9d7e-0c5a6f1f8a3b]
status:
  description: The HTTP status of the last request (null when it got no answer).
  type: int
  returned: always
  sample: 200
answer:
  description: The last answer of the router, C(HTTP <status> <body>) cut at 600 characters, secrets masked.
  type: str
  returned: always
  sample: 'HTTP 401 {"error": "Unauthorized"}'
elapsed:
  description: Seconds spent.
  type: float
  returned: always
  sample: 4.1
failure:
  description: Why it failed, C(list), C(refused) or C(timeout).
  type: str
  returned: failure
  sample: timeout
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._http import sender
from ansible_collections.gpufleet.sglang.plugins.module_utils._worker_api import WORKER_TYPES, set_router_worker


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            worker_url=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            worker_type=dict(type="str", choices=list(WORKER_TYPES), default="regular"),
            bootstrap_port=dict(type="int"),
            api_key=dict(type="str", no_log=True),
            worker_api_key=dict(type="str", no_log=True),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
            interval=dict(type="float", default=5),
            request_timeout=dict(type="float", default=10),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["bootstrap_port"] is not None and params["worker_type"] != "prefill":
        module.fail_json(msg="bootstrap_port is a prefill's: set worker_type=prefill, or leave bootstrap_port out.")
    result = set_router_worker(
        sender(params["request_timeout"], params["validate_certs"]),
        params["url"], params["worker_url"], state=params["state"], worker_type=params["worker_type"],
        bootstrap_port=params["bootstrap_port"], api_key=params["api_key"], worker_api_key=params["worker_api_key"],
        wait=params["wait"], timeout=params["timeout"], interval=params["interval"], check_mode=module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
