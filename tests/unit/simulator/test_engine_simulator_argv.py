# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's argv: SGLang's parser rebuilt from server_args/*.json, and --config merging."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from simulator_harness import ROOT, SIMULATOR

PLANS = sorted((ROOT / "tests" / "golden" / "plans").glob("*.json"))
SPEC_DIR = SIMULATOR.parent / "server_args"


def worker_argvs():
    for path in PLANS:
        for service in json.loads(path.read_text(encoding="utf-8")).get("services") or []:
            if service["argv"][1:3] == ["-m", "sglang.launch_server"]:
                yield pytest.param(service["argv"][3:], id="%s:%s" % (path.stem, service["host"]))


@pytest.mark.parametrize("argv", list(worker_argvs()))
def test_every_golden_worker_argv_parses(simulator_module, argv):
    args = simulator_module.parse_args(argv)
    assert args.model_path == argv[argv.index("--model-path") + 1]
    assert args.port == int(argv[argv.index("--port") + 1])


def test_defaults_come_from_the_spec(simulator_module):
    args = simulator_module.parse_args(["--model-path", "m"])
    assert (args.host, args.port, args.tp_size, args.nnodes, args.node_rank) == ("127.0.0.1", 30000, 1, 1, 0)
    assert args.disaggregation_mode == "null" and args.disaggregation_bootstrap_port == 8998
    assert args.api_key is None


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--mem-fraction", "0.8"], "unrecognized arguments: --mem-fraction"),  # abbreviation of --mem-fraction-static
        (["--disaggregation-mode", "both"], "invalid choice: 'both'"),
        (["--tp-size", "eight"], "invalid int value: 'eight'"),
        (["--port"], "expected one argument"),
    ],
)
def test_refused_like_sglang(simulator_module, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        simulator_module.parse_args(["--model-path", "m"] + extra)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_model_path_is_required(simulator_module, capsys):
    with pytest.raises(SystemExit):
        simulator_module.parse_args(["--port", "1"])
    assert "--model-path" in capsys.readouterr().err


def test_aliases_booleans_and_deprecated_flags(simulator_module, capsys):
    args = simulator_module.parse_args(
        ["--model", "m", "--tensor-parallel-size", "4", "--enable-dp-attention", "--no-enable-tf32-matmul", "--trust-remote-code"]
    )
    assert (args.model_path, args.tp_size, args.enable_dp_attention, args.enable_tf32_matmul, args.trust_remote_code) == ("m", 4, True, False, True)
    assert "'--enable-dp-attention' is deprecated" in capsys.readouterr().err


def test_config_file_is_merged_and_the_command_line_wins(simulator_module, tmp_path):
    config = tmp_path / "sglang.yaml"
    config.write_text(
        "# secrets live here\napi-key: s3cret\ntp-size: 2\ntrust-remote-code: true\nenable-metrics: false\n"
        "port: '31000'\ncuda-graph-bs-decode: [1, 2, 4]\nwarmups:\n",
        encoding="utf-8",
    )
    args = simulator_module.parse_args(["--model-path", "m", "--config", str(config), "--tp-size", "8"])
    assert (args.api_key, args.tp_size, args.trust_remote_code, args.enable_metrics, args.port) == ("s3cret", 8, True, False, 31000)
    assert args.cuda_graph_bs_decode == [1, 2, 4]


def test_config_file_must_be_yaml(simulator_module, tmp_path, capsys):
    config = tmp_path / "sglang.conf"
    config.write_text("api-key: x\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        simulator_module.parse_args(["--model-path", "m", "--config", str(config)])
    assert "Config file must be YAML format" in capsys.readouterr().err


def test_config_unknown_key_is_refused(simulator_module, tmp_path, capsys):
    config = tmp_path / "sglang.yaml"
    config.write_text("no-such-option: 1\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        simulator_module.parse_args(["--model-path", "m", "--config", str(config)])
    assert "unrecognized arguments: --no-such-option 1" in capsys.readouterr().err


def test_newest_spec_is_the_default(simulator_module, tmp_path, monkeypatch):
    (tmp_path / "server_args").mkdir()
    for version in ("0.5.8", "0.5.23", "0.4.10"):
        shutil.copy(SPEC_DIR / "0.5.23.json", tmp_path / "server_args" / ("%s.json" % version))
    monkeypatch.setattr(simulator_module, "HERE", str(tmp_path))
    assert simulator_module.default_spec_path().endswith("0.5.23.json")


def test_spec_env_var_selects_the_release(simulator_module, tmp_path, monkeypatch):
    spec = json.loads((SPEC_DIR / "0.5.23.json").read_text(encoding="utf-8"))
    spec["options"] = [o for o in spec["options"] if o["dest"] != "mem_fraction_static"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("GPUFLEET_SIMULATOR_ARGS_SPEC", str(path))
    with pytest.raises(SystemExit):
        simulator_module.parse_args(["--model-path", "m", "--mem-fraction-static", "0.8"])


@pytest.mark.parametrize("release", ["0.5.6.post2", "0.5.8", "0.5.23"])
def test_each_release_profile_has_its_own_table(simulator_module, monkeypatch, release):
    """The role points GPUFLEET_SIMULATOR_ARGS_SPEC at server_args/<the instance's release profile>.json."""
    monkeypatch.setenv("GPUFLEET_SIMULATOR_ARGS_SPEC", str(SPEC_DIR / ("%s.json" % release)))
    assert simulator_module.load_spec()["sglang"] == release
    args = simulator_module.parse_args(["--model-path", "m", "--tp-size", "8", "--dp-size", "8", "--enable-dp-attention"])
    assert (args.tp_size, args.dp_size, args.enable_dp_attention) == (8, 8, True)


def test_a_flag_newer_than_the_simulated_release_exits_2(simulator_module, monkeypatch):
    argv = [sys.executable, str(SIMULATOR), "--model-path", "m", "--cuda-graph-max-bs-decode", "8"]
    env = {"GPUFLEET_SIMULATOR_ARGS_SPEC": str(SPEC_DIR / "0.5.6.post2.json"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=env)
    assert result.returncode == 2
    assert "unrecognized arguments: --cuda-graph-max-bs-decode 8" in result.stderr
    monkeypatch.setenv("GPUFLEET_SIMULATOR_ARGS_SPEC", str(SPEC_DIR / "0.5.23.json"))
    assert simulator_module.parse_args(argv[2:]).cuda_graph_max_bs_decode == 8


def test_process_exits_2_on_an_unknown_flag():
    result = subprocess.run([sys.executable, str(SIMULATOR), "--model-path", "m", "--bogus"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "sglang serve: error: unrecognized arguments: --bogus" in result.stderr


def test_spec_is_sorted_and_complete():
    for path in SPEC_DIR.glob("*.json"):
        spec = json.loads(path.read_text(encoding="utf-8"))
        names = [o["option_strings"][0] for o in spec["options"]]
        assert names == sorted(names), path
        assert spec["sglang"] == Path(path).stem
        assert {"--model-path", "--disaggregation-mode", "--api-key", "--config", "--dist-init-addr"} <= {
            s for o in spec["options"] for s in o["option_strings"]
        }


def test_a_retired_flag_stops_the_launch(simulator_module, capsys):
    spec = json.loads((SPEC_DIR / "0.5.23.json").read_text(encoding="utf-8"))
    spec["options"].append(
        {
            "action": "DeprecatedAction",
            "default": None,
            "deprecated": True,
            "dest": "old",
            "error_message": "--old-flag is gone: use --new-flag",
            "nargs": "0",
            "option_strings": ["--old-flag"],
            "type": None,
        }
    )
    with pytest.raises(SystemExit):
        simulator_module.parse_args(["--model-path", "m", "--old-flag"], spec)
    assert "--old-flag is gone: use --new-flag" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line, value",
    [
        ("api-key: plain # comment", "plain"),
        ("api-key: 'it''s # not a comment'", "it's # not a comment"),
        ('api-key: "q\\"uote # kept" # dropped', 'q"uote # kept'),
        ("api-key: a#b", "a#b"),
    ],
)
def test_config_values_and_comments(simulator_module, tmp_path, line, value):
    config = tmp_path / "secrets.yml"
    config.write_text("# header\n%s\n" % line, encoding="utf-8")
    assert simulator_module.parse_args(["--model-path", "m", "--config", str(config)]).api_key == value


def test_a_missing_release_spec_falls_back_to_the_newest(simulator_module, monkeypatch, capsys):
    monkeypatch.setenv("GPUFLEET_SIMULATOR_ARGS_SPEC", str(SPEC_DIR / "0.0.1.json"))
    assert simulator_module.load_spec()["sglang"] == "0.5.23"
    assert "no parser spec" in capsys.readouterr().err


@pytest.mark.parametrize("text, tokens", [
    ("4096", 4096), ("128k", 128000), ("25.6k", 25600), ("1M", 1000000), ("128Ki", 131072), (" 2Ki ", 2048),
    ("1.5Ki", None), ("abc", None), ("12kb", None), ("", None),
])  # fmt: skip
def test_context_length_reads_like_sglang(simulator_module, text, tokens):
    """SGLang 0.5.23 reads --context-length with human_readable_int (SI and IEC suffixes)."""
    assert simulator_module.human_readable_int(text) == tokens


def test_an_unreadable_context_length_exits_2():
    result = subprocess.run([sys.executable, str(SIMULATOR), "--model-path", "m", "--context-length", "lots"],
                            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert result.returncode == 2 and "--context-length: invalid human_readable_int value: 'lots'" in result.stderr
