# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging a model's weights on a fleet: which machine gets which bytes from where, round by round.

A fleet of N machines needs the same model, often hundreds of gigabytes. Letting every machine download
it from the Hub reads the model N times from upstream (slow, rate-limited, billed) and makes the link to
the Hub the bottleneck. ``schedule`` instead reads each byte from upstream once for the whole fleet and
fans it out inside the fleet, in rounds: in round 1 one machine reads a piece from upstream; in every later
round each machine that holds the piece sends it to one that lacks it, so the holders double each round
(a binomial broadcast tree per piece). All pieces travel at once, each on its own tree, so the whole
model takes as many rounds as one piece: ``ceil(log2(N)) + 1``.

**The unit is a piece**, ``(file, offset, length)``: a whole file, or a byte range of a file larger than
the chunk size (the Hub serves files with HTTP Range requests, so the machine that reads a piece from
upstream asks only for its range). Files are split only when they must be for the load bound below;
a sharded model (DeepSeek-V3: 163 shards of about 4.3 GB) moves as whole files.

**Load.** Within one tree the root sends ``ceil(log2 N)`` times and half of the machines, the leaves, never
send. Each piece's tree puts the machines in order of the bytes they have been given to send so far, least
first, so a machine that carried a heavy role for one piece is a leaf for the next ones (ties rotate with the
piece). Proof of the bound, for a run where no machine holds anything yet: a tree's positions send a
non-increasing number of copies and are given to machines in non-decreasing order of bytes sent, so after
each piece the gap between the busiest and the least busy machine is at most the larger of the gap before
and ``ceil(log2 N) x`` the piece (take the two machines: if the one that had sent less is placed earlier,
the gap grows by at most its own share of this piece; if later, the gap does not grow, since it gets no
fewer copies). The least busy machine has sent at most the average, ``(N - 1) / N`` of the model, hence
every machine sends at most::

    (N - 1) / N x model bytes + ceil(log2 N) x largest piece      (``served_bound``)

which is below twice the model's bytes whenever the largest piece is at most ``model / ceil(log2 N)``.
The automatic chunk size (``auto_chunk_bytes``) keeps to that: it splits nothing when every file fits,
else it cuts the large files into pieces of half that size (rounded down to MiB), for at most 1.5 x.

**A model that is one giant file** (say 700 GB on 512 machines) shows why pieces exist: as one piece, its
tree's root would send it ``ceil(log2 512) = 9`` times, 6.3 TB from one machine, and no tree shape can
help, since whoever holds the first copy must send it on in every round for the copies to double. Cut
into 18 pieces of about 39 GB, each piece has its own root: the bound gives 1.5 x 700 GB per machine at
most, and the schedule makes it 1.33 x. A smaller ``chunk_bytes`` spreads the load more evenly still,
for more transfers.

**Verification.** A machine serves a whole-file piece only from a round after the one it received it in,
which leaves the time to check the file against the Hub's sha256 before serving it. A piece of a split file
is served before its file is whole, hence before the file can be checked; every receiver still checks the
whole file before it is used (a bad range makes the file fail on every machine below it, and the repair
schedule fetches that file again). ``summarize`` lists the split files. ``chunk_bytes=NO_SPLIT`` never
splits a file, and then the bound above holds with the largest file as the largest piece.

**Resume and repair.** ``held`` names the files each machine already holds, verified. A file held by any
machine is never read from upstream: up to as many holders as there are machines lacking it each send one
copy in round 1 (one corrupted file on one node: one transfer from a peer, zero upstream bytes), then those
machines fan it out among the rest as above. A holder sends each piece at most once, so a machine that
holds the whole model serves at most the model once. The proof above covers the fresh run; the unit tests
check the 2 x bound on interrupted runs, pre-seeded machines and repairs too.

**Rounds and concurrency.** A round is a step all machines take together: a transfer may only start from a
machine that held its piece at the end of an earlier round. Within a round a machine sends a given piece at
most once and receives it at most once (one transfer per piece, its slot), and by default it works on all
its pieces' slots at once: at most ``ceil(log2 N) + 1`` rounds, the one extra being the upstream read (none
when every file is held somewhere). The trees balance what each machine sends over the whole schedule, not
within each round, so a round's busiest machine may move several pieces' worth more than the average one;
the rounds are an order of dependencies, and an executor may start each transfer as soon as its source
holds (and has checked) its piece rather than wait for the whole round. ``summarize`` gives each round's
busiest machine's bytes: for DeepSeek-V3 on 512 machines they add up to 1.91 x the model over the 10
rounds (1.23 x over the 200 rounds with k = 1 below), where each machine must receive 1 x.

With ``max_transfers_per_round=k`` each machine sends at most k transfers and receives at most k (reads
from upstream included) per round. The same trees are kept, so the bytes each machine sends do not change;
each transfer moves to the first round after its source got the piece in which both ends have room. The
rounds then grow to about the most transfers a machine must receive, divided by k, plus the trees' depth:
for DeepSeek-V3's 163 shards on 512 machines, 200 rounds with k = 1 and 53 with k = 4 (each machine
receives 163 pieces, so no schedule does it in fewer than 163 and 41). That bound is measured by the
tests, not proven.

Pure Python without Ansible imports, run on the controller: nothing here touches a host.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

UPSTREAM = "upstream"
NO_SPLIT = 0
CHUNK_ALIGN = 1 << 20  # automatic pieces start on MiB boundaries

Piece = Tuple[str, int, int]  # (file, offset, length)
Transfer = Dict[str, Any]  # {"file", "offset", "length", "source", "destination"}

_UP = -1  # the upstream source, inside the schedule (machines are indices 0..N-1)


def tree_depth(machines: int) -> int:
    """``ceil(log2(machines))``: the rounds a doubling broadcast needs once one machine holds a piece."""
    return max(machines - 1, 0).bit_length()


def hub_files(siblings: Iterable[Mapping[str, Any]]) -> List[Tuple[str, int]]:
    """``(path, size)`` of each file the Hub lists for a model revision.

    ``siblings`` is the list the Hub's API returns for ``GET /api/models/<repo>/revision/<revision>?blobs=true``
    (what huggingface_hub's ``model_info(..., files_metadata=True)`` asks for): ``rfilename`` and, with
    ``blobs=true``, ``size``. Raises ValueError when a size is missing, which means the request lacked
    ``blobs=true``: without sizes neither the schedule nor the disk check can be computed.
    """
    files = []
    for sibling in siblings:
        name, size = sibling.get("rfilename"), sibling.get("size")
        if not isinstance(name, str) or not name:
            raise ValueError("a sibling of the Hub's answer has no rfilename: %r" % (sibling,))
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("the Hub's answer gives no size for %s: ask for the revision with blobs=true" % name)
        files.append((name, size))
    return files


def _checked(
    machines: Sequence[str], files: Iterable[Tuple[str, int]], held: Optional[Mapping[str, Iterable[str]]]
) -> Tuple[List[str], List[Tuple[str, int]], Dict[str, Set[str]]]:
    names = list(machines)
    if any(not isinstance(name, str) or not name for name in names):
        raise ValueError("machines must be non-empty names: %r" % (names,))
    if len(set(names)) != len(names):
        raise ValueError("a machine is listed twice (aliases on one machine share one copy: pass machines once): %r"
                         % sorted({n for n in names if names.count(n) > 1}))
    if UPSTREAM in names:
        raise ValueError("%r names the upstream source, not a machine" % UPSTREAM)
    listed = []
    for entry in files:
        path, size = entry
        if not isinstance(path, str) or not path:
            raise ValueError("a file needs a path: %r" % (entry,))
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("the size of %s must be a whole number of bytes: %r" % (path, size))
        listed.append((path, size))
    paths = [path for path, size in listed]
    if len(set(paths)) != len(paths):
        raise ValueError("a file is listed twice: %r" % sorted({p for p in paths if paths.count(p) > 1}))
    holdings = {name: set() for name in names}  # type: Dict[str, Set[str]]
    known = set(paths)
    for name, held_paths in (held or {}).items():
        if name not in holdings:
            raise ValueError("%s holds files but is not one of the machines" % name)
        held_paths = set(held_paths)
        if held_paths - known:
            raise ValueError("%s holds files the model does not have: %s" % (name, sorted(held_paths - known)))
        holdings[name] = held_paths
    return names, listed, holdings


def auto_chunk_bytes(machines: int, files: Iterable[Tuple[str, int]]) -> int:
    """The chunk size that keeps ``served_bound`` under twice the model.

    NO_SPLIT when no file is larger than ``model / ceil(log2 machines)`` (a sharded model moves as whole,
    verifiable files); else half that size, rounded down to a MiB (at least one MiB), so that a model made
    of one giant file is bounded by 1.5 x its size rather than just under 2 x.
    """
    sizes = [size for path, size in files]
    depth = tree_depth(machines)
    total = sum(sizes)
    if depth == 0 or not sizes or max(sizes) * depth <= total:
        return NO_SPLIT
    return max(CHUNK_ALIGN, total // (2 * depth) // CHUNK_ALIGN * CHUNK_ALIGN)


def pieces(files: Iterable[Tuple[str, int]], chunk_bytes: int = NO_SPLIT) -> List[Piece]:
    """Each file as ``(path, offset, length)`` pieces of at most ``chunk_bytes`` (whole with NO_SPLIT)."""
    if not isinstance(chunk_bytes, int) or isinstance(chunk_bytes, bool) or chunk_bytes < 0:
        raise ValueError("chunk_bytes must be a whole number of bytes, or NO_SPLIT (0): %r" % (chunk_bytes,))
    cut = []
    for path, size in files:
        if chunk_bytes == NO_SPLIT or size <= chunk_bytes:
            cut.append((path, 0, size))
            continue
        cut.extend((path, offset, min(chunk_bytes, size - offset)) for offset in range(0, size, chunk_bytes))
    return cut


def served_bound(machines: int, model_bytes: int, largest_piece: int) -> int:
    """The most bytes ``schedule`` makes any machine send when none holds anything yet (see the module's proof)."""
    if machines <= 1:
        return 0
    return (machines - 1) * model_bytes // machines + tree_depth(machines) * largest_piece


def _trees(
    count: int, cut: Sequence[Piece], holders_of: Mapping[str, List[int]]
) -> List[Tuple[int, int, int, int]]:
    """Every transfer as ``(round, piece index, source, destination)``, sources and destinations as indices."""
    sent = [0] * count  # bytes each machine has been given to send so far
    everyone = list(range(count))
    missing_of = {}  # type: Dict[str, List[int]]
    edges = []
    # Larger pieces first: the balance is then settled by the small ones (the bound holds in any order).
    order = sorted(range(len(cut)), key=lambda index: -cut[index][2])
    for turn, index in enumerate(order):
        path, length = cut[index][0], cut[index][2]
        holders = holders_of.get(path, [])
        if path not in missing_of:
            held = set(holders)
            missing_of[path] = [m for m in everyone if m not in held] if held else everyone

        def least_sent_first(machine: int, turn: int = turn) -> Tuple[int, int]:
            return sent[machine], (machine - turn) % count

        lacking = sorted(missing_of[path], key=least_sent_first)
        if not lacking:
            continue
        sources = sorted(holders, key=least_sent_first) if holders else [_UP]
        seeds = min(len(sources), len(lacking))
        for position in range(seeds):
            edges.append((1, index, sources[position], lacking[position]))
            if sources[position] != _UP:
                sent[sources[position]] += length
        have, step = seeds, 2
        while have < len(lacking):
            senders = min(have, len(lacking) - have)
            for position in range(senders):
                edges.append((step, index, lacking[position], lacking[have + position]))
                sent[lacking[position]] += length
            have += senders
            step += 1
    return edges


def _capped(edges: List[Tuple[int, int, int, int]], limit: int) -> List[Tuple[int, int, int, int]]:
    """The same transfers, re-timed so no machine sends or receives more than ``limit`` in a round.

    Greedy earliest fit, in the uncapped schedule's order: each transfer takes the first round after its
    source got the piece (and after the source last sent that piece) in which both the source and the
    destination have room. The uncapped order puts every piece's transfer to a machine before the ones
    from it, so the source's round is known when its transfers are placed.
    """
    sends = {}  # type: Dict[int, List[int]]  # machine -> transfers it sends in each round (index 0 unused)
    receives = {}  # type: Dict[int, List[int]]
    open_send = {}  # type: Dict[int, int]  # machine -> no room in any round before this one
    open_receive = {}  # type: Dict[int, int]
    arrival = {}  # type: Dict[Tuple[int, int], int]  # (piece, machine) -> the round it got the piece
    last_sent = {}  # type: Dict[Tuple[int, int], int]
    timed = []
    for _planned, index, source, destination in sorted(edges):
        key = (index, source)
        step = max(arrival.get(key, 0), last_sent.get(key, 0)) + 1
        ins = receives.setdefault(destination, [0])
        step = max(step, open_receive.get(destination, 1))
        if source != _UP:
            outs = sends.setdefault(source, [0])
            step = max(step, open_send.get(source, 1))
        while True:
            if len(ins) <= step:
                ins.extend([0] * (step + 1 - len(ins)))
            if ins[step] < limit:
                if source == _UP:
                    break
                if len(outs) <= step:
                    outs.extend([0] * (step + 1 - len(outs)))
                if outs[step] < limit:
                    break
            step += 1
        ins[step] += 1
        first = open_receive.get(destination, 1)
        while first < len(ins) and ins[first] >= limit:
            first += 1
        open_receive[destination] = first
        if source != _UP:
            outs[step] += 1
            first = open_send.get(source, 1)
            while first < len(outs) and outs[first] >= limit:
                first += 1
            open_send[source] = first
            last_sent[key] = step
        arrival[(index, destination)] = step
        timed.append((step, index, source, destination))
    return timed


def schedule(
    machines: Sequence[str],
    files: Iterable[Tuple[str, int]],
    held: Optional[Mapping[str, Iterable[str]]] = None,
    chunk_bytes: Optional[int] = None,
    max_transfers_per_round: Optional[int] = None,
) -> List[List[Transfer]]:
    """The rounds that give every machine every file, each a list of transfers.

    ``machines``: the machines that need the model, each once (inventory aliases of one machine share its
    copy), in a stable order (ties between equally busy machines follow it). ``files``: ``(path, size)``
    from the Hub's metadata (``hub_files``). ``held``: machine -> paths it already holds, verified.
    ``chunk_bytes``: None for ``auto_chunk_bytes``, NO_SPLIT for whole files, or a size in bytes.
    ``max_transfers_per_round``: None (each piece's slot on its own) or the most transfers a machine sends,
    and the most it receives, in one round.

    A transfer is ``{"file": path, "offset": int, "length": int, "source": "upstream" | machine,
    "destination": machine}``: ``length`` bytes of ``file`` from ``offset`` (a whole file when offset is 0
    and length its size). Within a round, transfers follow the files' order, then offsets. Raises ValueError
    on a machine or file listed twice, a negative size, or ``held`` naming an unknown machine or file.
    """
    names, listed, holdings = _checked(machines, files, held)
    if max_transfers_per_round is not None and (
            not isinstance(max_transfers_per_round, int) or isinstance(max_transfers_per_round, bool)
            or max_transfers_per_round < 1):
        raise ValueError("max_transfers_per_round must be a positive number or None: %r" % (max_transfers_per_round,))
    cut = pieces(listed, auto_chunk_bytes(len(names), listed) if chunk_bytes is None else chunk_bytes)
    holders_of = {}  # type: Dict[str, List[int]]
    for number, name in enumerate(names):
        for path in holdings[name]:
            holders_of.setdefault(path, []).append(number)
    edges = _trees(len(names), cut, holders_of)
    if max_transfers_per_round is not None:
        edges = _capped(edges, max_transfers_per_round)
    rounds = [[] for step in range(max((edge[0] for edge in edges), default=0))]  # type: List[List[Tuple[int, int, int, int]]]
    for sequence, (step, index, source, destination) in enumerate(edges):
        rounds[step - 1].append((index, sequence, source, destination))
    return [
        [{"file": cut[index][0], "offset": cut[index][1], "length": cut[index][2],
          "source": UPSTREAM if source == _UP else names[source], "destination": names[destination]}
         for index, sequence, source, destination in sorted(transfers)]
        for transfers in rounds
    ]


def naive_schedule(
    machines: Sequence[str], files: Iterable[Tuple[str, int]], held: Optional[Mapping[str, Iterable[str]]] = None
) -> List[List[Transfer]]:
    """For comparison: every machine reads every file it lacks from upstream, all in one round."""
    names, listed, holdings = _checked(machines, files, held)
    transfers = [{"file": path, "offset": 0, "length": size, "source": UPSTREAM, "destination": name}
                 for name in names for path, size in listed if path not in holdings[name]]
    return [transfers] if transfers else []


def free_bytes_needed(
    machines: Sequence[str], files: Iterable[Tuple[str, int]], held: Optional[Mapping[str, Iterable[str]]] = None
) -> Dict[str, int]:
    """Bytes each machine needs free at its weights path: every file it lacks, plus the largest of them again.

    The sizes are the Hub's (``hub_files``). The margin is room for one more copy of the largest file: a
    file is published atomically (written under a temporary name, checked against the Hub's sha256, then
    moved over its final name), and until that move the old copy of a file being repaired, or a copy staged
    on its way into place, may stand beside the new one. A machine that holds every file needs nothing.
    """
    names, listed, holdings = _checked(machines, files, held)
    needed = {}
    for name in names:
        lacking = [size for path, size in listed if path not in holdings[name]]
        needed[name] = sum(lacking) + max(lacking, default=0)
    return needed


def summarize(
    rounds: Sequence[Sequence[Mapping[str, Any]]], machines: Sequence[str], files: Iterable[Tuple[str, int]]
) -> Dict[str, Any]:
    """What a schedule costs, for a benchmark or a report.

    ``{"machines", "model_bytes", "rounds", "transfers", "upstream_bytes", "upstream_ratio",
    "max_served_bytes", "max_served_ratio", "served_bytes": {machine: int}, "received_bytes": {machine: int},
    "round_max_bytes": [int per round], "split_files": [path, ...]}``. The ratios are to the model's bytes
    (0.0 for an empty model); ``round_max_bytes`` is, per round, the most bytes one machine sends or
    receives in it (reads from upstream count as received): a round with barriers lasts about that long
    over one machine's link.
    """
    names = list(machines)
    listed = list(files)
    model = sum(size for path, size in listed)
    sizes = dict(listed)
    served = dict.fromkeys(names, 0)
    received = dict.fromkeys(names, 0)
    round_max = []
    upstream = 0
    transfers = 0
    split = set()
    for transfers_of_round in rounds:
        moved = {}  # type: Dict[Tuple[str, str], int]
        for transfer in transfers_of_round:
            transfers += 1
            length = transfer["length"]
            if transfer["source"] == UPSTREAM:
                upstream += length
            else:
                served[transfer["source"]] += length
                moved[("out", transfer["source"])] = moved.get(("out", transfer["source"]), 0) + length
            received[transfer["destination"]] += length
            moved[("in", transfer["destination"])] = moved.get(("in", transfer["destination"]), 0) + length
            if length != sizes[transfer["file"]]:
                split.add(transfer["file"])
        round_max.append(max(moved.values(), default=0))
    most = max(served.values(), default=0)
    return {
        "machines": len(names),
        "model_bytes": model,
        "rounds": len(rounds),
        "transfers": transfers,
        "upstream_bytes": upstream,
        "upstream_ratio": upstream / model if model else 0.0,
        "max_served_bytes": most,
        "max_served_ratio": most / model if model else 0.0,
        "served_bytes": served,
        "received_bytes": received,
        "round_max_bytes": round_max,
        "split_files": [path for path, size in listed if path in split],
    }
