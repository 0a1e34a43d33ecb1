# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""redact_secrets: no secret survives in a quoted journal."""
from __future__ import annotations

import pytest

from ansible_collections.gpufleet.sglang.plugins.filter.redact_secrets import redact_secrets

# The line SGLang 0.5.23 logs at start (entrypoints/engine.py: server_args=resolved_dict()), shortened.
SGLANG_START = ("[2026-12-06 04:00:00] server_args={'model_path': 'Qwen/Qwen2.5-7B-Instruct', 'api_key': 'sk-live-1', "
                "'admin_api_key': 'adm-2', 'ssl_keyfile_password': None, 'port': 30000}")


def test_sglang_start_line_keeps_everything_but_the_keys():
    text = redact_secrets(SGLANG_START)
    assert "sk-live-1" not in text and "adm-2" not in text
    assert "'api_key': '********'" in text and "'ssl_keyfile_password': None" in text
    assert "'model_path': 'Qwen/Qwen2.5-7B-Instruct'" in text and "'port': 30000" in text


@pytest.mark.parametrize("line, secret", [
    ("HF_TOKEN=hf_abc123 python -m sglang", "hf_abc123"),
    ("curl -H 'Authorization: Bearer sk-777'", "sk-777"),
    ("launch --api-key sk-888 --port 1", "sk-888"),
    ('{"hf_token": "hf_x9"}', "hf_x9"),
    ("WANDB_API_KEY='w-1'", "w-1"),
    ("db password=pa55", "pa55"),
])
def test_secret_named_fields_are_masked_without_knowing_the_value(line, secret):
    assert secret not in redact_secrets(line)


def test_known_values_are_masked_anywhere():
    text = redact_secrets("the worker said: unauthorized key plainly-k3y seen", ["plainly-k3y", "", None])
    assert text == "the worker said: unauthorized key ******** seen"


def test_counts_of_tokens_are_kept():
    line = "max_total_tokens=4096 tokenizer_mode='auto' num_tokens: 17"
    assert redact_secrets(line) == line
