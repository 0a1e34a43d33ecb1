#!/usr/bin/python
# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: model_weights
short_description: Make a directory a complete, verified snapshot of a model's files, fetched resumably
version_added: 0.2.0
description:
  - Checks every file of O(files) in O(dest) against the Hub's own metadata (the sha256 of LFS files, the size and
    git blob id of the others) and fetches what is missing or wrong from O(source) (an HTTP(S) base URL, the Hub's
    or a peer's) or O(source_path) (a local or shared-filesystem snapshot), checking each file before it is used.
  - A missing snapshot is assembled in C(<dest>.partial) and appears by one rename once every file verifies, so
    O(dest) is either absent or complete and verified. C(<dest>.partial) is kept when a run fails, and the next run
    resumes from it (a file cut mid-transfer is continued with an HTTP Range request).
  - A published snapshot with a missing or corrupted file is repaired in place, that file only (written beside it,
    then renamed over it).
  - With O(verify=quick) an unchanged published snapshot is verified from the stamp written when it was published
    (each file's size, modification time and inode), without reading its bytes. O(verify=full) hashes every file.
  - Free space is checked before any byte moves (the bytes still to fetch plus the largest file).
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  dest:
    description: The snapshot directory (for example C(/srv/models/<repo>/<commit>)).
    type: path
    required: true
  files:
    description:
      - The manifest, from the Hub's metadata of one revision (C(model_info(files_metadata=True)) or its tree).
      - Each item is C({path, size, sha256}) for an LFS file or C({path, size, blob_id}) for any other file.
    type: list
    elements: dict
    required: true
  source:
    description:
      - Where to fetch files from over HTTP(S); each file is read from O(source.url_base) followed by its path.
      - Mutually exclusive with O(source_path); one of them is needed only when a file must be fetched.
    type: dict
    suboptions:
      url_base:
        description:
          - A peer's C(http://addr:port/<path>/) or the Hub's C(https://huggingface.co/<repo>/resolve/<commit>/).
          - Redirects are followed; the token is not sent to another origin (an LFS file's CDN).
        type: str
        required: true
      token:
        description: A bearer token for a gated or private repository (from Ansible Vault). Never logged.
        type: str
      ca_bundle:
        description: A CA bundle file for HTTPS behind a corporate TLS proxy or mirror.
        type: path
      timeout:
        description: Seconds a connection or a read may stall.
        type: float
        default: 60
  source_path:
    description: A local or shared-filesystem snapshot of the same revision to copy files from (each is verified).
    type: path
  verify:
    description:
      - C(quick) trusts the publication stamp for files unchanged since it was written; C(full) hashes every file
        (use it to force a re-verification).
    type: str
    choices: [quick, full]
    default: quick
attributes:
  check_mode:
    support: full
    description: Verifies and reports what would be fetched or repaired, writing nothing.
  diff_mode:
    support: none
    description: Files are binary; RV(states) lists what changes.
notes:
  - C(changed) is true when a model file is written or the snapshot is published; refreshing the stamp alone is
    not a change.
seealso:
  - name: Hugging Face Hub file metadata
    description: The sha256 of LFS files and the git blob id of the others that the manifest carries.
    link: https://huggingface.co/docs/huggingface_hub/guides/manage-cache
"""

EXAMPLES = r"""
- name: Fetch the model from the Hub (one node of the fleet; the others fetch from it)
  gpufleet.sglang.model_weights:
    dest: /srv/models/meta-llama/Llama-3.1-8B-Instruct/0e9e39f249a16976918f6564b8830bc894c89659
    files: "{{ weights_manifest }}"
    source:
      url_base: https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/0e9e39f249a16976918f6564b8830bc894c89659/
      token: "{{ vault_hf_token }}"

- name: Fetch from a peer that holds a verified copy
  gpufleet.sglang.model_weights:
    dest: /srv/models/llama/0e9e39f2
    files: "{{ weights_manifest }}"
    source:
      url_base: http://10.0.0.11:8090/llama/0e9e39f2/

- name: Re-verify every byte and repair from the shared filesystem
  gpufleet.sglang.model_weights:
    dest: /srv/models/llama/0e9e39f2
    files: "{{ weights_manifest }}"
    source_path: /mnt/shared/models/llama/0e9e39f2
    verify: full
"""

RETURN = r"""
states:
  description:
    - Each file's state at the end of the run. C(ok) verified and untouched; C(fetched) written into the staging
      directory; C(repaired) replaced in the published snapshot; C(missing), C(size), C(hash) what was found
      (check mode, or left as found); C(error) a fetch that failed (see RV(errors)).
  type: dict
  returned: always
  sample: {"config.json": ok, "model-00001-of-00002.safetensors": repaired}
bytes_fetched:
  description: Bytes received from the source in this run.
  type: int
  returned: always
  sample: 4976698672
bytes_to_fetch:
  description: Bytes still to fetch when the run started (what check mode would fetch).
  type: int
  returned: always
  sample: 4976698672
bytes_verified:
  description: Bytes hashed in this run (0 for an unchanged snapshot in quick mode).
  type: int
  returned: always
  sample: 0
files_fetched:
  description: Files fetched into the staging directory.
  type: list
  elements: str
  returned: always
files_repaired:
  description: Files replaced in the published snapshot.
  type: list
  elements: str
  returned: always
published:
  description: Whether O(dest) is a complete, verified snapshot at the end of the run.
  type: bool
  returned: always
  sample: true
found:
  description: For each file found bad (C(size) or C(hash)), what was found (its size, or its digest).
  type: dict
  returned: always
  sample: {"model-00001-of-00002.safetensors": "sha256:9f2c..."}
errors:
  description: Each failure, naming the file, what was expected, what was found and a fix.
  type: list
  elements: dict
  returned: always
  sample: [{file: model.safetensors, message: "HTTP 403 ...", expected: access granted, found: HTTP 403 GatedRepo,
            fix: request access on the model's page, status: 403}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._weights import (
    WeightsError,
    converge,
    http_fetcher,
    local_fetcher,
)


def _no_source(entry, offset):
    raise WeightsError("%s must be fetched but neither source nor source_path is given" % entry["path"],
                       file=entry["path"], expected="a source", found="none", fatal=True,
                       fix="give source.url_base (the Hub or a peer) or source_path")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            files=dict(type="list", elements="dict", required=True),
            source=dict(type="dict", options=dict(
                url_base=dict(type="str", required=True),
                token=dict(type="str", no_log=True),
                ca_bundle=dict(type="path"),
                timeout=dict(type="float", default=60),
            )),
            source_path=dict(type="path"),
            verify=dict(type="str", choices=["quick", "full"], default="quick"),
        ),
        mutually_exclusive=[("source", "source_path")],
        supports_check_mode=True,
    )
    params = module.params
    source = params["source"]
    if source:
        fetch = http_fetcher(source["url_base"], token=source["token"], ca_bundle=source["ca_bundle"],
                             timeout=source["timeout"])
    elif params["source_path"]:
        fetch = local_fetcher(params["source_path"])
    else:
        fetch = _no_source
    try:
        result = converge(params["dest"], params["files"], fetch, mode=params["verify"], check_mode=module.check_mode)
    except WeightsError as exc:
        module.fail_json(msg=exc.message, errors=[exc.as_dict()], published=False, changed=False)
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (exc.filename or params["dest"], exc.strerror or exc), changed=False)
    errors = result["errors"]
    if errors:
        first = errors[0]
        module.fail_json(msg="%d file(s) failed: %s; fix: %s" % (len(errors), first["message"], first["fix"]),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
