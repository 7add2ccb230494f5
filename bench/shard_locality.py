"""How many shards change when one file of the benchmark tree changes: the shard rule
(pants_oci.shards.split_layer) on the whole generated tree as one layer.

    "$(./pants --print-venv)/bin/python" bench/shard_locality.py            # 100 of each change
    "$(./pants --print-venv)/bin/python" bench/shard_locality.py --changes 1000 --sizes 16,32,64

For each shard size (and with --compare, for two simpler rules: filling shards up to the size in
path order, and a hash of the path picking one of total/size buckets): the shards of the tree
(count, smallest / median / largest tar bytes), then
for random one-file changes (an edit appending 1-100 bytes, as bench/run.py's edit does; an edit
resizing the file by up to 10%; a new file in an existing directory, its size drawn from the
tree's; a deleted file) how many shards of the new plan are not shards of the old one (what a
build re-tars and a publish uploads) and how many bytes of tar those hold. The plan depends on
paths and sizes only, so no file is read. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from run import REPO, SEED, generate_workload  # bench/ is sys.path[0]

sys.path.insert(0, str(REPO / "pants-plugins"))
from pants_oci.shards import ShardItem, split_layer  # noqa: E402

MiB = 1 << 20
Tree = List[Tuple[str, int]]


def tree_of(files: int, mb: float) -> Tree:
    with tempfile.TemporaryDirectory(prefix="oci-locality-") as tmp:
        work = Path(tmp)
        generate_workload(work, files, mb, SEED)
        return sorted(  # the paths the layer has in bench/run.py's build root
            ("work/" + p.relative_to(work).as_posix(), p.stat().st_size)
            for p in work.rglob("*")
            if p.is_file() and p.name != "BUILD"
        )


Change = Callable[[Tree, random.Random, int], Tuple[Tree, str]]  # -> the new tree, the file with new bytes


def changes(tree: Tree) -> Dict[str, Change]:
    directories = sorted({path.rsplit("/", 1)[0] for path, _ in tree})

    def resize(by: Callable[[random.Random, int], int]) -> Change:
        def change(t: Tree, rng: random.Random, n: int) -> Tuple[Tree, str]:
            i = rng.randrange(len(t))
            path, size = t[i]
            return [*t[:i], (path, by(rng, size)), *t[i + 1 :]], path

        return change

    def add(t: Tree, rng: random.Random, n: int) -> Tuple[Tree, str]:
        path = f"{rng.choice(directories)}/new{n:04d}.txt"
        return [*t, (path, rng.choice(tree)[1])], path

    def delete(t: Tree, rng: random.Random, n: int) -> Tuple[Tree, str]:
        i = rng.randrange(len(t))
        return [*t[:i], *t[i + 1 :]], ""

    return {
        "edit: append 1-100 bytes": resize(lambda rng, size: size + rng.randint(1, 100)),
        "edit: resize by up to 10%": resize(lambda rng, size: int(size * rng.uniform(0.9, 1.1))),
        "add a file": add,
        "delete a file": delete,
    }


Rule = Callable[[List[ShardItem], int], Sequence[Sequence[ShardItem]]]


def greedy(items: List[ShardItem], size: int) -> List[List[ShardItem]]:
    """For comparison: fill each shard up to `size` in path order."""
    shards: List[List[ShardItem]] = [[]]
    for item in sorted(items, key=lambda i: i.path):
        if shards[-1] and sum(i.weight for i in shards[-1]) + item.weight > size:
            shards.append([])
        shards[-1].append(item)
    return shards


def buckets(items: List[ShardItem], size: int) -> List[List[ShardItem]]:
    """For comparison: a hash of the path picks one of total/size buckets."""
    count = -(-sum(i.weight for i in items) // size)
    out: Dict[int, List[ShardItem]] = {}
    for item in sorted(items, key=lambda i: i.path):
        out.setdefault(int(hashlib.sha256(item.path.encode()).hexdigest(), 16) % count, []).append(item)
    return [out[k] for k in sorted(out)]


RULES: Dict[str, Rule] = {"ours (pants_oci.shards)": split_layer, "greedy fill": greedy, "path hash buckets": buckets}


def shards_of(rule: Rule, tree: Tree, edited: str, size: int) -> List[Tuple[Tuple[str, int, bool], ...]]:
    """The plan, each shard as its entries (path, weight, edited?): a shard with the edited
    file has new bytes even when its entries are the same."""
    plan = rule([ShardItem.of(path, s) for path, s in tree], size)
    return [tuple((i.path, i.weight, i.path == edited) for i in shard) for shard in plan]


def measure(rule_name: str, tree: Tree, size: int, count: int) -> List[str]:
    rule = RULES[rule_name]
    before = shards_of(rule, tree, "", size)
    old = set(before)
    weights = sorted(sum(w for _, w, _ in shard) for shard in before)
    rows = [
        f"| {rule_name}, {size // MiB} MiB | {len(before)} shards; tar bytes per shard: smallest "
        f"{weights[0] / MiB:.1f} MiB, median {statistics.median(weights) / MiB:.1f} MiB, largest "
        f"{weights[-1] / MiB:.1f} MiB | | |"
    ]
    for name, change in changes(tree).items():
        rng = random.Random(f"{SEED}:{name}")
        counts, retarred = [], []
        for n in range(count):
            after, edited = change(tree, rng, n)
            new = [shard for shard in shards_of(rule, after, edited, size) if shard not in old]
            counts.append(len(new))
            retarred.append(sum(w for shard in new for _, w, _ in shard))
        spread = ", ".join(f"{k}: {counts.count(k)}" for k in sorted(set(counts)))
        rows.append(f"| | {name} | {spread} | {statistics.mean(retarred) / MiB:.1f} MiB |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--changes", type=int, default=100, help="random changes of each kind")
    ap.add_argument("--sizes", default="16,32,64", help="shard sizes in MiB, comma-separated")
    ap.add_argument("--compare", action="store_true", help="also two simpler rules, at 64 MiB")
    args = ap.parse_args()
    tree = tree_of(args.files, args.mb)
    print(
        f"Tree: {len(tree)} files, {sum(s for _, s in tree) / MiB:.1f} MiB (bench/run.py's workload, "
        f"seed {SEED}); {args.changes} random changes of each kind.\n"
    )
    print("| rule, shard size | change | shards changed: how many times | tar re-built, mean |")
    print("| --- | --- | --- | --- |")
    for size in (int(s) * MiB for s in args.sizes.split(",")):
        print("\n".join(measure("ours (pants_oci.shards)", tree, size, args.changes)))
    for rule_name in list(RULES)[1:] if args.compare else ():
        print("\n".join(measure(rule_name, tree, 64 * MiB, args.changes)))


if __name__ == "__main__":
    main()
