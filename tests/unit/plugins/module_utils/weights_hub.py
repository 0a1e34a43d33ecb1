# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Hub fixture (tests/fixtures/hub/hub_server.py) on loopback for the model_weights tests: a generated model
(about 8 MB in three shards), a public and a gated repository, and the manifest the Hub's metadata gives."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SERVER = Path(__file__).resolve().parents[3] / "fixtures" / "hub" / "hub_server.py"
PUBLIC = "fixture-org/tiny-llama"
GATED = "fixture-org/gated-llama"
TOKEN = "hf_weights_granted_token"
UNGRANTED = "hf_weights_ungranted_token"


def load_hub_module():
    spec = importlib.util.spec_from_file_location("hub_server_for_weights", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest_of(files):
    """The manifest model_weights takes, from the fixture's HubFile objects (as model_info gives it)."""
    out = []
    for path, f in sorted(files.items()):
        entry = {"path": path, "size": f.size}
        entry.update({"sha256": f.sha256} if f.lfs else {"blob_id": f.blob_id})
        out.append(entry)
    return out


def start(hub_module, files):
    hub = hub_module.HubServer(tokens=[TOKEN], ungranted_tokens=[UNGRANTED])
    hub.add_repo(PUBLIC, files=files)
    hub.add_repo(GATED, files=files, gated=True)
    return hub.start()


def url_base(hub, repo=PUBLIC, revision="main"):
    return "%s/%s/resolve/%s/" % (hub.url, repo, revision)
