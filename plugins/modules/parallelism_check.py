# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: parallelism_check
short_description: Check an SGLang instance's parallelism sizes against the model and SGLang's assertions
version_added: 0.1.0
description:
  - Reads the model's C(config.json) (including a nested C(text_config)) or takes O(model_config), then checks the
    parallelism sizes of one SGLang instance the way SGLang 0.5.23 asserts them at startup, so that a bad inventory
    fails on the controller instead of on the GPU nodes.
  - "Rules: attention heads divisible by the attention-TP size (O(tp_size), or O(tp_size) / O(dp_size) with
    O(enable_dp_attention)); KV heads divisible by that size or it by them (not for MLA models such as DeepSeek-V3);
    O(tp_size) divisible by O(dp_size) under DP attention; no data-parallel replicas across nodes;
    O(tp_size) x O(pp_size) divisible by O(nnodes) and equal to O(nnodes) x O(gpus_per_node)
    (times O(dp_size) replicas without DP attention); O(tp_size) divisible by O(ep_size); routed plus redundant
    experts divisible by O(ep_size); O(ep_size) greater than 1 only for a model with routed experts."
  - Reports every error at once, each with its fix, and fails when there is any.
  - Config lookup order is O(model_config), O(model) as a local directory holding C(config.json), the Hugging Face
    cache, then a built-in table of the models the collection documents (Qwen2.5 7B/72B, Llama 3/3.1 8B/70B/405B,
    DeepSeek-V3/V3-0324/R1), so it works offline for those.
  - Runs on the controller's data only and never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  model:
    description:
      - Hugging Face model id or local path of the model, as passed to C(--model-path).
      - Also matched against the built-in table by its last path component.
    type: str
  model_config:
    description:
      - Fields of the model's C(config.json), used instead of looking it up. May be partial; at least
        C(num_attention_heads), possibly inside C(text_config). C(num_key_value_heads) defaults to it.
      - Add C(n_routed_experts) (or C(num_experts), C(num_local_experts)) for a MoE model and C(kv_lora_rank) for MLA.
    type: dict
  hf_cache:
    description:
      - Hugging Face hub cache directory to look in.
      - Defaults to E(HF_HUB_CACHE), else E(HF_HOME)/hub, else C(~/.cache/huggingface/hub).
    type: path
  tp_size:
    description: Tensor-parallel size of the instance (C(--tp-size)).
    type: int
    required: true
  dp_size:
    description:
      - Data-parallel size (C(--dp-size)). With O(enable_dp_attention) the width of attention DP inside the TP group,
        otherwise the number of replicas of the whole model.
    type: int
    default: 1
  pp_size:
    description: Pipeline-parallel size (C(--pp-size)).
    type: int
    default: 1
  ep_size:
    description: Expert-parallel size (C(--ep-size)).
    type: int
    default: 1
  enable_dp_attention:
    description: Whether the instance runs with C(--enable-dp-attention).
    type: bool
    default: false
  ep_num_redundant_experts:
    description: Redundant experts for EPLB (C(--ep-num-redundant-experts)).
    type: int
    default: 0
  nnodes:
    description: Nodes the instance spans (C(--nnodes)).
    type: int
    default: 1
  gpus_per_node:
    description: GPUs the instance uses on each of its nodes.
    type: int
    default: 8
notes:
  - One of O(model) and O(model_config) is required.
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

EXAMPLES = r"""
- name: Check a Qwen2.5-7B instance on 4 GPUs (works offline)
  gpufleet.sglang.parallelism_check:
    model: Qwen/Qwen2.5-7B-Instruct
    tp_size: 4
    gpus_per_node: 4

- name: Check a DeepSeek-V3 decode instance, 4 nodes with DP attention and EP
  gpufleet.sglang.parallelism_check:
    model: deepseek-ai/DeepSeek-V3-0324
    tp_size: 32
    dp_size: 32
    enable_dp_attention: true
    ep_size: 32
    ep_num_redundant_experts: 32
    nnodes: 4
    gpus_per_node: 8

- name: Check a private model from its config fields
  gpufleet.sglang.parallelism_check:
    model: /models/acme-chat
    model_config:
      num_attention_heads: 40
      num_key_value_heads: 8
    tp_size: 8
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
num_attention_heads:
  description: Attention heads of the model.
  returned: when the model config was found
  type: int
  sample: 28
num_key_value_heads:
  description: KV heads of the model as config.json gives them; MLA models such as DeepSeek-V3 carry no KV rule.
  returned: when the model config was found
  type: int
  sample: 4
num_routed_experts:
  description: Routed experts of a MoE model, null for a dense model.
  returned: when the model config was found
  type: int
  sample: 256
attn_tp_size:
  description:
    - Attention-TP size, O(tp_size) or O(tp_size) / O(dp_size) under DP attention.
    - Null when the sizes are not positive or O(dp_size) does not divide O(tp_size).
  returned: when the model config was found
  type: int
  sample: 4
valid_tp_sizes:
  description: Every O(tp_size) that passes the head rules with the given O(dp_size) and O(enable_dp_attention).
  returned: when the model config was found
  type: list
  elements: int
  sample: [1, 2, 4, 28]
config_source:
  description: Where the model config came from, C(model_config), a config.json path or C(known_models:<id>).
  returned: when the model config was found
  type: str
  sample: known_models:Qwen/Qwen2.5-7B-Instruct
errors:
  description: Every broken rule; the module fails when this list is not empty.
  returned: when the model config was found
  type: list
  elements: dict
  sample:
    - variable: tp_size
      rule: kv_heads_divisible
      message: "4 KV heads and the attention-TP size 14 (tp_size 14) divide neither way: ..."
      fix: use tp_size in 1, 2, 4, 28
      suggested_values:
        tp_size: [1, 2, 4, 28]
  contains:
    variable:
      description: The option to change.
      returned: always
      type: str
      sample: tp_size
    rule:
      description:
        - Stable id of the rule, one of C(positive), C(non_negative), C(dp_divides_tp), C(attention_heads_divisible),
          C(kv_heads_divisible), C(dp_replicas_single_node), C(nnodes_divides_tp_pp), C(gpu_count), C(ep_needs_moe),
          C(ep_divides_tp), C(experts_divisible), C(quantization_config_stale) (C(config.json) declares FP8 block
          quantization but the checkpoint beside it holds no FP8 scales).
      returned: always
      type: str
      sample: kv_heads_divisible
    message:
      description: What is wrong, with the numbers, and why SGLang rejects it.
      returned: always
      type: str
      sample: "4 KV heads and the attention-TP size 14 (tp_size 14) divide neither way: ..."
    fix:
      description: The nearest values that satisfy the rule.
      returned: always
      type: str
      sample: use tp_size in 1, 2, 4, 28
    suggested_values:
      description: The values RV(errors[].fix) proposes, by option name; any one of them clears the rule.
      returned: always
      type: dict
      sample: {tp_size: [1, 2, 4, 28]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._parallelism import (
    ModelConfigError,
    check_parallelism,
    load_model_config,
)

_SIZE_OPTIONS = ("tp_size", "dp_size", "pp_size", "ep_size", "enable_dp_attention",
                 "ep_num_redundant_experts", "nnodes", "gpus_per_node")


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            model=dict(type="str"),
            model_config=dict(type="dict"),
            hf_cache=dict(type="path"),
            tp_size=dict(type="int", required=True),
            dp_size=dict(type="int", default=1),
            pp_size=dict(type="int", default=1),
            ep_size=dict(type="int", default=1),
            enable_dp_attention=dict(type="bool", default=False),
            ep_num_redundant_experts=dict(type="int", default=0),
            nnodes=dict(type="int", default=1),
            gpus_per_node=dict(type="int", default=8),
        ),
        required_one_of=[("model", "model_config")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        config, source = load_model_config(params["model"], params["model_config"], params["hf_cache"])
    except ModelConfigError as error:
        module.fail_json(msg=str(error), changed=False)

    report = check_parallelism(config, **{name: params[name] for name in _SIZE_OPTIONS})
    result = dict(report.to_dict(), config_source=source, changed=False)
    if report.errors:
        described = "; ".join(
            "(%d) %s [%s]: %s Fix: %s." % (number, error.variable, error.rule, error.message, error.fix)
            for number, error in enumerate(report.errors, start=1))
        module.fail_json(msg="%d parallelism error(s) for model %s: %s"
                         % (len(report.errors), params["model"] or "from model_config", described), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
