# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The repository speaks for itself: nothing points at documents a user cannot see.

No code, message, comment, doc or test names the private notes the collection was first written from:
their paths or file names, their numbers ("seed 001", "seeds 000/002"), "the runbook(s)", an
"installer skill", a ``diagnose.py`` of theirs, or a design document and its section numbers. A fact
stays, said in the project's own words, with what it rests on that a user can check (the upstream
project's docs, release notes or source, PyPI metadata) or with no source at all.

Every file git tracks is scanned, except ``tests/golden`` (generated plans) and this file.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
EXCLUDED_DIRS = ("tests/golden/",)

# (what it catches, pattern). Names that merely contain "seed" (random_seed, --random-seed, uuid_seed,
# a simulator's seed text) do not match: the word must stand alone and be followed by a number, be
# possessive, or be "the seeds" or "seed order".
_ALONE = r"(?<![\w-])"
PATTERNS = [
    ("the notes' location", re.compile(r"shared/seeds|\.\./shared\b|/work/shared", re.I)),
    ("a seed number", re.compile(_ALONE + r"seeds?\s*#?\d", re.I)),
    ("the seeds", re.compile(_ALONE + r"(?:seeds'|seed's|the seeds\b|seeds? order\b)", re.I)),
    ("a runbook", re.compile(r"runbook", re.I)),
    ("an installer skill", re.compile(r"\bskills?\b", re.I)),
    ("the notes' diagnose.py", re.compile(r"\bdiagnose\.py\b", re.I)),
    ("a design document", re.compile(r"\bDESIGN\b(?:\.md|\s+section|\s*§)|(?i:\bdesign\.md\b)")),
    ("a section of a design or contract", re.compile(
        r"\b(?:design|contract)\s+(?:section|§)\s*\d|\bsection\s+\d+(?:\.\d+)*\s+of\s+the\s+(?:design|contract)", re.I)),
]


def tracked_files():
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout: nothing to list tracked files with")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    for name in listed.decode("utf-8").split("\0"):
        if not name or name == THIS or name.startswith(EXCLUDED_DIRS):
            continue
        path = ROOT / name
        if path.is_file():  # a tracked file deleted in the working tree is not shipped
            yield name, path


def outside_references(name: str, text: str):
    """``file:line: what: the line`` for every line of TEXT that points outside the repository."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS:
            if pattern.search(line):
                found.append("%s:%d: %s: %s" % (name, number, what, line.strip()[:160]))
                break
    return found


def test_no_tracked_file_points_at_documents_outside_the_repository():
    found = []
    scanned = 0
    for name, path in tracked_files():
        found.extend(outside_references(name, path.read_bytes().decode("utf-8", errors="replace")))
        scanned += 1
    assert scanned > 100, "too few tracked files: %d" % scanned
    assert not found, (
        "these lines point at documents outside the repository; say the fact in the project's own words, "
        "with a source a user can check (upstream docs, release notes, source, PyPI metadata) or none:\n"
        + "\n".join(found))


@pytest.mark.parametrize("line", [
    "# seed 001 (DEEPEP_COMMIT build arg)",
    "seeds 000/002: SGLang's own pin",
    "Seed 2 says so",
    "the order the seeds learned",
    "with the seed's fix",
    "the seeds' diagnose.py",
    "Seed order gdrcopy, NVSHMEM, DeepEP",
    "see /work/shared/seeds/001_16ef87f58bd2fe9d.txt",
    "kept in ../shared/seeds",
    "the runbook's 2P2D",
    "The install Runbooks",
    "an SGLang installer skill",
    "Inventory groups of the contract (DESIGN section 3)",
    "as DESIGN.md says",
    "(contract section 4)",
    "see section 3.2 of the design",
])
def test_a_reference_is_caught(line):
    assert outside_references("f", line), line


@pytest.mark.parametrize("line", [
    '"dest": "random_seed",',
    '"--remote-instance-weight-loader-seed-instance-ip"',
    "seed = str(config.get('uuid_seed') or socket.gethostname())",
    "UUIDs are derived from the seed and the index",
    '"""(seed text, prompt token count) of a prompt."""',
    "def run(self, seed, prompt_tokens, max_tokens, pd, emit=None):",
    "The licenses for most software are designed to take away your freedom",
    "the inventory contract's default backend (docs/variables.md)",
    "SGLang's DeepSeek usage guide, sgl-project/sglang#3491",
])
def test_ordinary_words_pass(line):
    assert not outside_references("f", line), line
