# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""--disaggregation-ib-device as SGLang reads it: a comma list, inline JSON or a JSON file per GPU id."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from simulator_harness import SIMULATOR

PD = ["--model-path", "m", "--disaggregation-mode", "decode"]


def args_of(simulator_module, *extra):
    return simulator_module.parse_args(PD + [str(token) for token in extra])


def test_a_file_maps_each_gpu_of_the_node(simulator_module, tmp_path):
    path = tmp_path / "sglang-decode-0.ib-devices.json"
    path.write_text(json.dumps({"4": "mlx5_2", "5": "mlx5_2", "6": "mlx5_3, mlx5_4", "7": "mlx5_3"}), encoding="utf-8")
    args = args_of(simulator_module, "--tp-size", 4, "--base-gpu-id", 4, "--disaggregation-ib-device", path)
    assert simulator_module.ib_devices_per_gpu(args) == {4: "mlx5_2", 5: "mlx5_2", 6: "mlx5_3, mlx5_4", 7: "mlx5_3"}


def test_a_shared_list_and_inline_json(simulator_module):
    shared = args_of(simulator_module, "--tp-size", 2, "--disaggregation-ib-device", "mlx5_0,mlx5_1")
    assert simulator_module.ib_devices_per_gpu(shared) == {0: "mlx5_0,mlx5_1", 1: "mlx5_0,mlx5_1"}
    inline = args_of(simulator_module, "--tp-size", 2, "--disaggregation-ib-device", '{"0":"mlx5_0","1":"mlx5_1"}')
    assert simulator_module.ib_devices_per_gpu(inline) == {0: "mlx5_0", 1: "mlx5_1"}


def test_without_the_flag_or_outside_pd_nothing_is_read(simulator_module):
    assert simulator_module.ib_devices_per_gpu(args_of(simulator_module)) is None
    regular = simulator_module.parse_args(["--model-path", "m", "--disaggregation-ib-device", "/nonexistent.json"])
    assert simulator_module.ib_devices_per_gpu(regular) is None


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "Failed to parse JSON content from file"),
        ('["mlx5_0"]', "expected a mapping from GPU id to IB device string"),
        ('{"gpu0": "mlx5_0"}', "keys must be integers"),
        ('{"0": ["mlx5_0"]}', "values must be strings"),
        ("{}", "No valid GPU mappings found in JSON"),
        ('{"0": " , "}', "No valid IB devices specified for GPU 0"),
        # Keyed by local rank where SGLang wants the GPU id (--base-gpu-id 4).
        ('{"0": "mlx5_0", "1": "mlx5_0", "2": "mlx5_0", "3": "mlx5_0"}', "No IB devices configured for GPU 4. Available GPUs: [0, 1, 2, 3]"),
    ],
)
def test_a_bad_mapping_is_refused_with_sglangs_reason(simulator_module, tmp_path, content, message):
    path = tmp_path / "map.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    args = args_of(simulator_module, "--tp-size", 4, "--base-gpu-id", 4, "--disaggregation-ib-device", path)
    with pytest.raises(ValueError) as error:
        simulator_module.ib_devices_per_gpu(args)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "extra, gpus",
    [
        (["--tp-size", 4, "--base-gpu-id", 4], [4, 5, 6, 7]),
        (["--tp-size", 16, "--nnodes", 2, "--node-rank", 1, "--dist-init-addr", "10.0.0.1:5000"], list(range(8))),
        (["--tp-size", 4, "--pp-size", 2], list(range(8))),
        (["--tp-size", 2, "--dp-size", 2], [0, 1, 2, 3]),
        (["--tp-size", 4, "--attn-dp-size", 2], [0, 1, 2, 3]),
        (["--tp-size", 2, "--gpu-id-step", 2, "--base-gpu-id", 1], [1, 3]),
    ],
)
def test_local_gpu_ids_follow_sglang(simulator_module, extra, gpus):
    assert simulator_module.local_gpu_ids(args_of(simulator_module, *extra)) == gpus


def test_the_process_refuses_to_start_on_a_bad_mapping(tmp_path):
    path = tmp_path / "map.json"
    path.write_text('{"0": "mlx5_0"}', encoding="utf-8")
    result = subprocess.run([sys.executable, str(SIMULATOR)] + PD + ["--tp-size", "2", "--disaggregation-ib-device", str(path)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "--disaggregation-ib-device %s: No IB devices configured for GPU 1" % path in result.stderr
