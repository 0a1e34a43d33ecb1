# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the Hub fixture's tests: the server module, a generated model, a running server.

``huggingface_hub`` reads its settings from the environment when it is first imported, so they are set here,
before any test module imports it: no telemetry, no progress bars, short metadata and download timeouts. The
tests still pass everything that matters explicitly (``endpoint=``, ``cache_dir=``, ``token=``), so nothing
of the machine's own Hugging Face set-up (HF_TOKEN, a saved token, ~/.cache/huggingface) is used.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

for _name, _value in (("HF_HUB_DISABLE_TELEMETRY", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                      ("HF_HUB_ETAG_TIMEOUT", "5"), ("HF_HUB_DOWNLOAD_TIMEOUT", "10")):
    os.environ.setdefault(_name, _value)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_fixture_support import BIG, GATED, MOVING, PRIVATE, PUBLIC, SERVER, TAG, TOKEN, UNGRANTED  # noqa: E402


def _load():
    spec = importlib.util.spec_from_file_location("hub_server", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def hub_module():
    return _load()


@pytest.fixture(scope="session")
def model_dir(hub_module, tmp_path_factory):
    """The default generated model (about 8 MB in 3 shards), written once."""
    path = tmp_path_factory.mktemp("hub-model")
    hub_module.generate_model(path)
    return path


@pytest.fixture(scope="session")
def model_files(hub_module, model_dir):
    """{path: HubFile} of the model, hashed once and shared by the repositories of every server."""
    return hub_module.files_from_directory(model_dir)


@pytest.fixture(scope="session")
def big_model_files(hub_module, tmp_path_factory):
    """A model in one file of about 12.9 MB: longer than the client's 10 MiB download piece."""
    path = tmp_path_factory.mktemp("hub-big-model")
    hub_module.generate_model(path, num_hidden_layers=6, vocab_size=4096, shards=1)
    return hub_module.files_from_directory(path)


def start_hub(hub_module, model_files, big_model_files=None, **options):
    hub = hub_module.HubServer(tokens=[TOKEN], ungranted_tokens=[UNGRANTED], **options)
    hub.add_repo(PUBLIC, files=model_files, tags=[TAG])
    hub.add_repo(GATED, files=model_files, gated=True, tags=[TAG])
    hub.add_repo(PRIVATE, files=model_files, private=True)
    hub.add_repo(MOVING, files=model_files, tags=[TAG])
    if big_model_files is not None:
        hub.add_repo(BIG, files=big_model_files)
    return hub.start()


@pytest.fixture(scope="module")
def module_hub(hub_module, model_files, big_model_files):
    hub = start_hub(hub_module, model_files, big_model_files)
    yield hub
    hub.stop()


@pytest.fixture
def hub(module_hub):
    """The module's server, with no fault and zeroed counters."""
    module_hub.reset()
    page_size, lfs_mode = module_hub.page_size, module_hub.lfs_mode
    yield module_hub
    module_hub.reset()
    module_hub.page_size, module_hub.lfs_mode = page_size, lfs_mode
