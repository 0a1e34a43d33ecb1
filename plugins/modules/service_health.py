# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_health
short_description: Wait until a systemd service answers its health URL, and stop at once when it crash-loops
version_added: 0.2.0
description:
  - Polls O(url) until it answers with O(status_code), for at most O(timeout) seconds.
  - Between polls, reads the state of the systemd O(unit) (C(systemctl show)). A unit that exited and waits to be
    restarted (C(SubState=auto-restart)), that restarted more than O(restarts_allowed) times since the module
    started, or that is C(failed) or stopped, will not get healthy by waiting. The module then fails at once,
    naming the state, instead of at the end of O(timeout) (a model load may take half an hour; a typo in an
    argument fails in a second).
  - Read-only; it never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  url:
    description: The URL to poll, e.g. C(http://127.0.0.1:30000/health).
    type: str
    required: true
  unit:
    description: The systemd unit that serves it, e.g. C(sglang-prefill-0) (C(.service) may be left out).
    type: str
    required: true
  headers:
    description: Request headers (an C(Authorization) header for a fleet with an API key).
    type: dict
    default: {}
  status_code:
    description: The HTTP status that means healthy.
    type: int
    default: 200
  timeout:
    description: Seconds to wait in all.
    type: int
    default: 1800
  interval:
    description: Seconds between polls.
    type: float
    default: 5
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
  restarts_allowed:
    description:
      - Restarts of the unit tolerated while waiting (a rank that started before its master may exit once).
      - A unit seen in C(auto-restart) more often than this fails the wait.
    type: int
    default: 1
attributes:
  check_mode:
    support: full
    description: Polls the same way in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
seealso:
  - name: systemd.service, Restart= and the unit's sub-states
    description: C(auto-restart) is the sub-state of a service that exited and waits for RestartSec.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html
"""

EXAMPLES = r"""
- name: Wait until the worker is healthy (fails within seconds on a crash loop)
  gpufleet.sglang.service_health:
    url: http://127.0.0.1:30000/health
    unit: sglang-prefill-0
    timeout: 1800
"""

RETURN = r"""
status:
  description: The last HTTP status (null when the URL never answered).
  type: int
  returned: always
  sample: 200
elapsed:
  description: Seconds waited.
  type: float
  returned: always
  sample: 42.5
restarts:
  description: Restarts of the unit seen while waiting.
  type: int
  returned: always
  sample: 0
state:
  description: The unit's last state (C(ActiveState), C(SubState), C(Result), C(ExecMainStatus), C(NRestarts)).
  type: dict
  returned: always
  sample: {ActiveState: active, SubState: running, Result: success, ExecMainStatus: "0", NRestarts: "0"}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

STATE_PROPERTIES = ("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")


def parse_show(text):
    """`systemctl show -p A -p B` output as a dict."""
    state = {}
    for line in text.splitlines():
        key, _sep, value = line.partition("=")
        if key:
            state[key] = value
    return state


def restarts_since(state, first):
    try:
        return max(0, int(state.get("NRestarts") or 0) - int(first.get("NRestarts") or 0))
    except ValueError:
        return 0


def hopeless(state, restarts, allowed):
    """Why waiting longer cannot make the unit healthy, or None."""
    active, sub = state.get("ActiveState"), state.get("SubState")
    exited = "exited with status %s (result %s)" % (state.get("ExecMainStatus") or "?", state.get("Result") or "?")
    if active == "failed":
        return "the unit failed: it %s" % exited
    if active in ("inactive", "deactivating") and sub in ("dead", "stop-sigterm", "stop-sigkill", "stop-post"):
        return "the unit is not running (%s/%s): it %s" % (active, sub, exited)
    if sub == "auto-restart" and restarts >= allowed:
        return "the unit crash-loops: it %s and systemd restarts it again (%d restart%s so far)" % (
            exited, restarts, "" if restarts == 1 else "s")
    if restarts > allowed:
        return "the unit restarted %d times while starting: it %s" % (restarts, exited)
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            unit=dict(type="str", required=True),
            headers=dict(type="dict", default={}, no_log=True),
            status_code=dict(type="int", default=200),
            timeout=dict(type="int", default=1800),
            interval=dict(type="float", default=5),
            request_timeout=dict(type="float", default=5),
            restarts_allowed=dict(type="int", default=1),
        ),
        supports_check_mode=True,
    )
    params = module.params
    systemctl = module.get_bin_path("systemctl", required=True)
    command = [systemctl, "show", params["unit"]] + ["--property=%s" % name for name in STATE_PROPERTIES]

    def unit_state():
        rc, out, err = module.run_command(command)
        if rc != 0:
            module.fail_json(msg="systemctl show %s failed: %s" % (params["unit"], err.strip()), rc=rc)
        return parse_show(out)

    start = time.monotonic()
    first = unit_state()
    state, status, restarts = first, None, 0
    while True:
        elapsed = time.monotonic() - start
        try:
            response = open_url(params["url"], headers=params["headers"], timeout=params["request_timeout"],
                                validate_certs=False, follow_redirects="none")
            status = response.getcode()
        except Exception as error:  # connection refused, timeout, HTTP error: not healthy yet
            status = getattr(error, "code", None)
        result = dict(changed=False, status=status, elapsed=round(elapsed, 1), restarts=restarts, state=state)
        if status == params["status_code"]:
            module.exit_json(**result)
        state = unit_state()
        restarts = restarts_since(state, first)
        result.update(state=state, restarts=restarts)
        reason = hopeless(state, restarts, params["restarts_allowed"])
        if reason:
            module.fail_json(msg="%s did not get healthy at %s: %s." % (params["unit"], params["url"], reason), **result)
        if elapsed >= params["timeout"]:
            module.fail_json(msg="%s did not answer %s with %d within %d s (last status %s; unit %s/%s)." % (
                params["unit"], params["url"], params["status_code"], params["timeout"], status,
                state.get("ActiveState"), state.get("SubState")), **result)
        time.sleep(params["interval"])


if __name__ == "__main__":
    main()
