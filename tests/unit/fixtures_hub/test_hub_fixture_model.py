# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Hub fixture's generated model (tests/fixtures/hub/hub_server.py, generate_model) and its git metadata.

The shards are written by hand (struct and json); the real ``safetensors`` library must read them, the
index must name every tensor in the shard that holds it, and the ids the fixture gives files and commits
must be the ones git itself computes.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import safetensors
from safetensors import safe_open

SHARD = re.compile(r"model-(\d{5})-of-(\d{5})\.safetensors")


def shards_of(directory):
    return sorted(p for p in directory.iterdir() if p.name.endswith(".safetensors"))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_repository_holds_what_a_hub_model_repository_holds(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == [
        ".gitattributes", "README.md", "config.json", "generation_config.json",
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
        "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
    ]
    total = sum(p.stat().st_size for p in model_dir.iterdir())
    assert 6 * 2**20 < total < 10 * 2**20, total


def test_config_is_a_llama_config(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["model_type"] == "llama"
    assert config["torch_dtype"] == "bfloat16"
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["num_hidden_layers"]) == (8, 4, 4)
    assert config["hidden_size"] == 256 and config["head_dim"] == 32
    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == config["eos_token_id"]


def test_tokenizer_files_are_consistent(model_dir):
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    assert tokenizer["model"]["type"] == "BPE"
    assert len(vocab) == 3 + 256 and sorted(vocab.values()) == list(range(len(vocab)))
    assert [t["content"] for t in tokenizer["added_tokens"]] == ["<unk>", "<s>", "</s>"]
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert vocab[config["bos_token"]] == 1 and vocab[config["eos_token"]] == 2
    assert len(vocab) <= json.loads((model_dir / "config.json").read_text())["vocab_size"]


def test_every_shard_opens_with_safetensors_and_the_index_names_every_tensor(hub_module, model_dir):
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    config = json.loads((model_dir / "config.json").read_text())
    expected = {name: shape for name, _dtype, shape in hub_module.model_tensors(
        dict(hub_module.MODEL_DEFAULTS, **{k: config[k] for k in ("hidden_size", "num_hidden_layers")}))}
    seen = {}
    data_bytes = 0
    for shard in shards_of(model_dir):
        assert SHARD.fullmatch(shard.name)
        with safe_open(str(shard), framework="numpy") as f:
            assert f.metadata() == {"format": "pt"}
            for name in f.keys():  # a safe_open handle is not a mapping
                tensor = f.get_slice(name)
                assert name not in seen, "%s in two shards" % name
                seen[name] = shard.name
                assert tensor.get_dtype() == "BF16"
                assert tensor.get_shape() == expected[name], name
                data_bytes += 2 * int(np.prod(tensor.get_shape()))
    assert index["weight_map"] == seen
    assert set(seen) == set(expected)
    assert index["metadata"]["total_size"] == data_bytes
    assert "model.layers.0.self_attn.q_proj.weight" in seen and "lm_head.weight" in seen
    # the shards are of about the same size
    sizes = [p.stat().st_size for p in shards_of(model_dir)]
    assert max(sizes) < 1.5 * min(sizes), sizes


def test_weights_are_finite_small_values_and_norms_are_ones(model_dir):
    shard = shards_of(model_dir)[0]
    tensors = dict(safetensors.deserialize(shard.read_bytes()))
    for name, tensor in tensors.items():
        assert tensor["dtype"] == "BF16"
        values = (np.frombuffer(bytes(tensor["data"]), "<u2").astype(np.uint32) << 16).view(np.float32)
        assert np.isfinite(values).all(), name
        if name.endswith("norm.weight"):
            assert (values == 1.0).all(), name
        else:
            magnitude = np.abs(values)
            assert magnitude.min() >= 2.0 ** -7 and magnitude.max() < 2.0 ** -5, name
            assert 0.4 < (values > 0).mean() < 0.6, name


def test_float16_model_loads_into_numpy(hub_module, tmp_path):
    hub_module.generate_model(tmp_path, torch_dtype="float16", hidden_size=64, intermediate_size=128,
                              num_hidden_layers=1, vocab_size=512, shards=1)
    assert not (tmp_path / "model.safetensors.index.json").exists()  # one file, no index, as the Hub's small models
    with safe_open(str(tmp_path / "model.safetensors"), framework="numpy") as f:
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight")
        norm = f.get_tensor("model.norm.weight")
    assert q.dtype == np.float16 and q.shape == (64, 64)
    assert np.isfinite(q).all() and (np.abs(q) >= 2.0 ** -7).all() and (np.abs(q) < 2.0 ** -5).all()
    assert (norm == 1.0).all()
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "float16"


def test_generation_is_deterministic(hub_module, model_dir, tmp_path):
    hub_module.generate_model(tmp_path / "again")
    for path in model_dir.iterdir():
        assert sha256(tmp_path / "again" / path.name) == sha256(path), path.name
    hub_module.generate_model(tmp_path / "other", seed=1)
    assert (tmp_path / "other" / "config.json").read_bytes() == (model_dir / "config.json").read_bytes()
    for shard in shards_of(model_dir):
        assert sha256(tmp_path / "other" / shard.name) != sha256(shard)


def test_bad_options_are_refused(hub_module, tmp_path):
    with pytest.raises(TypeError):
        hub_module.generate_model(tmp_path, hidden=1)
    with pytest.raises(ValueError):
        hub_module.generate_model(tmp_path, torch_dtype="float32")
    with pytest.raises(ValueError):
        hub_module.generate_model(tmp_path, num_attention_heads=7)
    with pytest.raises(ValueError):
        hub_module.generate_model(tmp_path, shards=1000)


def test_lfs_files_are_the_weights(model_files):
    lfs = sorted(path for path, f in model_files.items() if f.lfs)
    assert lfs == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                   "model-00003-of-00003.safetensors"]
    for path in lfs:
        f = model_files[path]
        pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (f.sha256, f.size)
        assert f.pointer_size == len(pointer)
        assert f.etag == f.sha256


def test_a_file_above_the_threshold_is_lfs_whatever_its_name(hub_module):
    big = hub_module.HubFile("data/big.json", data=b"x" * 101, lfs_threshold=100)
    small = hub_module.HubFile("data/small.json", data=b"x" * 100, lfs_threshold=100)
    assert big.lfs and not small.lfs
    assert small.etag == small.blob_id == hashlib.sha1(b"blob 100\0" + b"x" * 100).hexdigest()


@pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")
def test_blob_tree_and_commit_ids_are_gits(hub_module, model_files, tmp_path):
    """A git repository holding the same files (LFS files as their pointers), committed with the fixture's
    author, date and message, has the fixture's commit id."""
    work = tmp_path / "git"
    (work / "sub").mkdir(parents=True)
    files = dict(model_files)
    files["sub/notes.txt"] = hub_module.HubFile("sub/notes.txt", data=b"a file in a directory\n")
    for path, f in files.items():
        data = b"".join(f.chunks(0, f.size))
        if f.lfs:
            data = hub_module.lfs_pointer(f.sha256, f.size)
        (work / path).write_bytes(data)
    env = {"GIT_AUTHOR_NAME": "Fixture", "GIT_AUTHOR_EMAIL": "fixture@localhost",
           "GIT_COMMITTER_NAME": "Fixture", "GIT_COMMITTER_EMAIL": "fixture@localhost",
           "GIT_AUTHOR_DATE": "1767225600 +0000", "GIT_COMMITTER_DATE": "1767225600 +0000",
           "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}

    def git(*argv):
        return subprocess.run(["git", "-C", str(work), *argv], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "--no-gpg-sign", "-m", "Upload model")
    commit = hub_module.Commit(files)
    assert git("rev-parse", "HEAD^{tree}") == commit.tree
    assert git("rev-parse", "HEAD:sub") == commit.trees["sub"]
    assert git("rev-parse", "HEAD") == commit.sha
    for path, f in files.items():
        assert git("rev-parse", "HEAD:" + path) == f.blob_id, path
