"""The scale run: one repository of N files (two images sharing their three layers) at several
sizes, side by side with the floors on the same tree, and pantsd's memory through many edits.

    "$(./pants --print-venv)/bin/python" bench/scale.py                      # 5k, 20k, 50k files
    "$(./pants --print-venv)/bin/python" bench/scale.py --small              # CI's preset

Per size, in one fresh build root with a fresh store and an empty loopback registry:
  - pantsd's start (`--version`), then `package work::` cold with pantsd warm; their sum is the
    cold build a new clone pays;
  - the same cold build with `--oci-compression=zstd` (its own fresh store);
  - no-op `package`; `publish` cold; one-file edits (`package`, then `publish`: bytes sent);
  - cold and one-file edits again with Pants' sandboxes on a tmpfs (/dev/shm, when there is
    one): Pants 2.17 fsyncs every file it writes into a sandbox;
  - `tar | pigz -1`, `tar | zstd -1 -T0` and `umoci insert` of the same tree;
  - pantsd's resident memory after every command (VmRSS) and its peak (VmHWM), and whether it
    restarted (its pid changed).
At the largest size, `--cycles` more edit-and-publish cycles follow, with the memory after each.
Wall-clock seconds; one run per size (medians of the repeated no-ops and edits).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from _registry import Registry  # bench/ is sys.path[0]
from _shell import counter, sh, timed
from run import APP_EDIT_FILE, COPY, LAYERS_BUILD, REPO, generate_workload, kill_pantsd

SCALE_BUILD = (
    LAYERS_BUILD
    + """
oci_image(name="api", layers=[":deps", ":assets", ":app"], repository="scale/api")
oci_image(name="worker", layers=[":deps", ":assets", ":app"], repository="scale/worker",
          entrypoint=["/app/run"])
"""
)
TARGETS = "work::"
EDITS = 3
TMPFS = Path("/dev/shm")
SETTLE = 1.5  # seconds


class Root:
    """One build root: its generated tree, a store, and the commands run in it."""

    def __init__(self, path: Path, files: int, mb: float, registry: Registry) -> None:
        self.path, self.registry = path, registry
        path.mkdir(parents=True)
        for name in COPY:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, path / name)
        generate_workload(path / "work", files, mb)
        (path / "work" / "BUILD").write_text(SCALE_BUILD)
        self.edit_file = path / "work" / APP_EDIT_FILE
        self.edits = 0

    def flags(self, store: str, *extra: str) -> List[str]:
        return [
            "./pants",
            f"--local-store-dir={self.path / store}",
            f"--named-caches-dir={self.path / (store + '-named')}",
            "--stats-log",
            f"--oci-registries={{'local': {{'address': '{self.registry.host}', 'default': True}}}}",
            *extra,
        ]

    def pantsd(self) -> Tuple[int, int, int, int]:
        """(pid, VmRSS, VmHWM, RssAnon) of the running pantsd, in bytes; zeros if none. RssAnon
        leaves out the store's memory-mapped LMDB pages, which VmRSS (and Pants' own
        `pantsd_max_memory_usage` check) counts although the kernel can drop them. Read after
        SETTLE: pantsd's last memory trim of a run (`[oci].trim_pantsd_memory`) finishes after
        the client has its answer."""
        time.sleep(SETTLE)
        for pidfile in glob.glob(str(self.path / ".pids" / "**" / "pantsd" / "pid"), recursive=True):
            try:
                pid = int(Path(pidfile).read_text().strip())
                status = Path(f"/proc/{pid}/status").read_text()
            except (OSError, ValueError):
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            kib = {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon")}
            return pid, kib["VmRSS"], kib["VmHWM"], kib["RssAnon"]
        return 0, 0, 0, 0

    def edit(self) -> None:
        self.edits += 1
        with open(self.edit_file, "ab") as f:
            f.write(f"edit {self.edits}\n".encode())

    def sent(self) -> float:
        """Bytes the last publish uploaded, summed over the images' records."""
        records = glob.glob(str(self.path / "dist" / "work" / "*.publish.json"))
        return sum(json.loads(Path(r).read_text())["stats"]["bytes_uploaded"] for r in records)


def _cold(root: Root, store: str, *extra: str) -> Tuple[float, float, int]:
    """(pantsd start, cold package, processes) with a fresh store and a new pantsd."""
    kill_pantsd(root.path)
    time.sleep(1)
    flags = root.flags(store, *extra)
    os.sync()
    start, _ = timed(flags + ["--version"], root.path)
    cold, proc = timed(flags + ["package", TARGETS], root.path)
    return start, cold, counter(proc.stderr, "local_execution_requests") or 0


def _step(root: Root, flags: List[str], goal: str, memory: List[Dict[str, float]], label: str) -> float:
    seconds, proc = timed(flags + [goal, TARGETS], root.path)
    pid, rss, hwm, anon = root.pantsd()
    memory.append({"step": label, "seconds": seconds, "pid": pid, "rss": rss, "hwm": hwm, "anon": anon})
    return seconds


def _on_tmpfs(root: Root) -> Dict[str, float]:
    """Cold and edit with Pants' sandboxes on a tmpfs (`[GLOBAL].local_execution_root_dir`):
    Pants 2.17 fsyncs every file it writes into a sandbox, which on a disk costs more than the
    layer process itself reading the file. Its own pantsd and store; then the first pantsd is
    back for the cycles."""
    exec_root = Path(tempfile.mkdtemp(dir=TMPFS, prefix="pants-oci-scale-"))
    try:
        start, cold, _ = _cold(root, ".store-tmpfs", f"--local-execution-root-dir={exec_root}")
        flags = root.flags(".store-tmpfs", f"--local-execution-root-dir={exec_root}")
        edits = []
        for _ in range(EDITS):
            root.edit()
            edits.append(timed(flags + ["package", TARGETS], root.path)[0])
        kill_pantsd(root.path)
        return {"tmpfs_start": start, "tmpfs_cold": cold, "tmpfs_edit": statistics.median(edits)}
    finally:
        kill_pantsd(root.path)
        shutil.rmtree(exec_root, ignore_errors=True)


def floors(root: Root, umoci: bool) -> Dict[str, float]:
    res: Dict[str, float] = {}
    os.sync()
    res["tar_pigz"], _ = timed("tar -cf - work | pigz -1 | sha256sum", root.path)
    res["tar_zstd"], _ = timed("tar -cf - work | zstd -1 -T0 -q | sha256sum", root.path)
    if umoci:
        layout = root.path / "umoci-layout"
        sh(["umoci", "init", "--layout", str(layout)], root.path)
        sh(["umoci", "new", "--image", f"{layout}:t"], root.path)
        res["umoci_cold"], _ = timed(["umoci", "insert", "--image", f"{layout}:t", "work", "/work"], root.path)
        shutil.rmtree(layout, ignore_errors=True)
    return res


def one_size(base: Path, files: int, mb: float, registry: Registry, cycles: int, umoci: bool) -> Dict:
    root = Root(base / f"size{files}", files, mb, registry)
    res: Dict = {"files": files, "mb": mb, "loadavg_start": os.getloadavg()[0]}
    memory: List[Dict[str, float]] = []
    try:
        registry.reset()
        res["zstd_start"], res["zstd_cold"], _ = _cold(root, ".store-zstd", "--oci-compression=zstd")
        res["start"], res["cold"], res["cold_processes"] = _cold(root, ".store")
        flags = root.flags(".store")
        pid, rss, hwm, anon = root.pantsd()
        memory.append({"step": "cold", "seconds": res["cold"], "pid": pid, "rss": rss, "hwm": hwm, "anon": anon})
        res["noop"] = statistics.median(_step(root, flags, "package", memory, "no-op") for _ in range(3))
        res["publish_cold"] = _step(root, flags, "publish", memory, "publish cold")
        res["publish_cold_bytes"] = root.sent()
        edits, publishes, sent = [], [], []
        for _ in range(EDITS):
            root.edit()
            edits.append(_step(root, flags, "package", memory, "edit"))
            root.edit()
            publishes.append(_step(root, flags, "publish", memory, "edit + publish"))
            sent.append(root.sent())
        res["edit"], res["publish_edit"] = statistics.median(edits), statistics.median(publishes)
        res["publish_edit_bytes"] = statistics.median(sent)
        if TMPFS.is_dir():
            res.update(_on_tmpfs(root))
            kept = len(memory)
        for _ in range(cycles):
            root.edit()
            _step(root, flags, "package", memory, "cycle: edit")
            root.edit()
            _step(root, flags, "publish", memory, "cycle: publish")
        if TMPFS.is_dir() and len(memory) > kept:
            memory[kept]["stopped_by_bench"] = True  # the tmpfs runs stopped pantsd before it
        res.update(floors(root, umoci))
    finally:
        kill_pantsd(root.path)
        shutil.rmtree(root.path, ignore_errors=True)
    res["memory"] = memory
    res["loadavg_end"] = os.getloadavg()[0]
    return res


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _bytes(n: float) -> str:
    return f"{n / 1e3:.1f} KB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def report(results: List[Dict], command: str, started: str) -> str:
    cols = [f"{r['files']:,} files / {r['mb']:g} MiB" for r in results]
    lines = [
        "# Scale benchmark",
        "",
        f"Generated by `bench/scale.py` on {started} UTC; {os.cpu_count()} CPUs. One repository per size "
        "(two images sharing three layers: `deps`, `assets`, `app`; the tree of bench/run.py), a fresh "
        "store, pantsd and loopback registry each; wall seconds; the no-op, edit and publish-after-edit "
        f"rows are medians of 3 (no-op) and {EDITS} (edits). Load average at each size's start and end: "
        + ", ".join(f"{r['loadavg_start']:.1f} → {r['loadavg_end']:.1f}" for r in results)
        + ".",
        "",
        "Regenerate:",
        "",
        "```sh",
        command,
        "```",
        "",
        "| step | " + " | ".join(cols) + " |",
        "| --- | " + " | ".join("---" for _ in cols) + " |",
    ]

    def row(name: str, cell) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(r) for r in results) + " |")

    row("pantsd start (`--version`, fresh store)", lambda r: f"{r['start']:.2f}")
    row("`package`, cold, pantsd warm", lambda r: f"{r['cold']:.2f} ({r['cold_processes']} processes)")
    row("`package`, cold, including pantsd's start", lambda r: f"{r['start'] + r['cold']:.2f}")
    row("`package`, cold, zstd, pantsd warm", lambda r: f"{r['zstd_cold']:.2f}")
    row("`package`, no-op", lambda r: f"{r['noop']:.2f}")
    row("`package` after a one-file edit", lambda r: f"{r['edit']:.2f}")
    row(
        "`package`, cold, pantsd warm, sandboxes on a tmpfs",
        lambda r: f"{r['tmpfs_cold']:.2f}" if "tmpfs_cold" in r else "–",
    )
    row(
        "`package` after a one-file edit, sandboxes on a tmpfs",
        lambda r: f"{r['tmpfs_edit']:.2f}" if "tmpfs_edit" in r else "–",
    )
    row("`publish`, cold", lambda r: f"{r['publish_cold']:.2f}, {_bytes(r['publish_cold_bytes'])}")
    row(
        "`publish` after a one-file edit (includes the rebuild)",
        lambda r: f"{r['publish_edit']:.2f}, {_bytes(r['publish_edit_bytes'])}",
    )
    row("`tar \\| pigz -1 \\| sha256sum`", lambda r: f"{r['tar_pigz']:.2f}")
    row("`tar \\| zstd -1 -T0 \\| sha256sum`", lambda r: f"{r['tar_zstd']:.2f}")
    row("`umoci insert` of the tree, cold", lambda r: f"{r['umoci_cold']:.2f}" if "umoci_cold" in r else "–")
    row("pantsd peak resident memory (VmHWM)", lambda r: _mib(max(m["hwm"] for m in r["memory"])))
    row(
        "pantsd's largest RssAnon after a command (VmRSS without mapped files)",
        lambda r: _mib(max(m["anon"] for m in r["memory"])),
    )
    row("pantsd's last RssAnon", lambda r: _mib(r["memory"][-1]["anon"]))
    row("pantsd restarts", lambda r: str(restarts(r["memory"])))
    lines += ["", "| ratio | " + " | ".join(cols) + " |", "| --- | " + " | ".join("---" for _ in cols) + " |"]
    row("cold package / `tar \\| pigz -1`", lambda r: f"{r['cold'] / r['tar_pigz']:.2f}")
    row("cold package, zstd / `tar \\| zstd -1 -T0`", lambda r: f"{r['zstd_cold'] / r['tar_zstd']:.2f}")
    row(
        "cold package, sandboxes on a tmpfs / `tar \\| pigz -1`",
        lambda r: f"{r['tmpfs_cold'] / r['tar_pigz']:.2f}" if "tmpfs_cold" in r else "–",
    )
    row(
        "cold package with pantsd's start / umoci insert",
        lambda r: f"{(r['start'] + r['cold']) / r['umoci_cold']:.2f}" if "umoci_cold" in r else "–",
    )
    first = results[0]
    for key, name in (("cold", "cold package"), ("edit", "edit"), ("noop", "no-op")):
        row(
            f"growth of {name} / growth of the file count (vs the first size; > 1: faster than linear)",
            lambda r, key=key: f"{(r[key] / first[key]) / (r['files'] / first['files']):.2f}",
        )
    largest = results[-1]
    lines += targets(results)
    lines += ["", f"pantsd's memory at {largest['files']:,} files, after each command:", ""]
    lines += [
        "| # | command | seconds | VmRSS | of which RssAnon | VmHWM | pid |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, m in enumerate(largest["memory"], start=1):
        lines.append(
            f"| {n} | {m['step']} | {m['seconds']:.2f} | {_mib(m['rss'])} | {_mib(m['anon'])} "
            f"| {_mib(m['hwm'])} | {m['pid']} |"
        )
    lines += ["", "Every run:", "", "```json", *(json.dumps(r, sort_keys=True) for r in results), "```", ""]
    return "\n".join(lines)


def restarts(memory: List[Dict]) -> int:
    """How often pantsd went away or changed between commands, less where the bench itself
    stopped it. pid 0: no pantsd when the memory was read (gone, or starting again)."""
    count, last = 0, -1  # -1: a pantsd we have not read yet (the bench started it)
    for m in memory:
        if m.get("stopped_by_bench"):
            last = -1
        pid = m["pid"]
        if (pid == 0 and last != 0) or (pid and last not in (-1, 0, pid)):
            count += 1
        last = pid
    return count


def targets(results: List[Dict]) -> List[str]:
    """Issue 23's targets that this run measures, each met or not on its numbers."""
    largest = results[-1]
    anon = max(m["anon"] for m in largest["memory"])
    restarted = restarts(largest["memory"])
    big = [r for r in results if r["files"] >= 20000]
    rows = [
        (
            f"pantsd under 2 GiB through the edit-and-publish cycles, {largest['files']:,} files "
            "(largest RssAnon after a command; no restart)",
            anon < 2 << 30 and restarted == 0,
            f"{_mib(anon)}, {restarted} restarts",
        ),
        (
            "no-op `package` < 0.5 s at every size",
            all(r["noop"] < 0.5 for r in results),
            ", ".join(f"{r['noop']:.2f} s" for r in results),
        ),
    ]
    if big:
        rows.append(
            (
                "one-file edit <= 2.0 s at 20,000 files and more",
                all(r["edit"] <= 2.0 for r in big),
                ", ".join(f"{r['edit']:.2f} s" for r in big),
            )
        )
    lines = ["", "| target (issue 23) | met | value |", "| --- | --- | --- |"]
    lines += [f"| {name} | {'yes' if met else 'no'} | {value} |" for name, met, value in rows]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000:200,20000:800,50000:2048", help="files:MiB, comma-separated")
    ap.add_argument("--cycles", type=int, default=20, help="edit-and-publish cycles at the largest size")
    ap.add_argument("--umoci-at", type=int, default=20000, help="also run umoci at this size (0: never)")
    ap.add_argument("--out", default="docs/benchmarks-scale.md")
    ap.add_argument("--small", action="store_true", help="300 and 600 files, 2 cycles (for CI)")
    args = ap.parse_args()
    if args.small:
        args.sizes, args.cycles, args.umoci_at = "300:10,600:20", 2, 600
    missing = [t for t in ("tar", "pigz", "zstd", "sha256sum", "umoci", "docker-registry") if not shutil.which(t)]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)}")
    sizes = [(int(f), float(m)) for f, m in (s.split(":") for s in args.sizes.split(","))]
    command = '"$(./pants --print-venv)/bin/python" bench/scale.py' + (
        " --small" if args.small else f" --sizes {args.sizes} --cycles {args.cycles}"
    )
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    base = Path(tempfile.mkdtemp(prefix="oci-scale-"))
    registry = Registry(base / "registry")
    results = []
    try:
        for n, (files, mb) in enumerate(sizes):
            t0 = time.monotonic()
            cycles = args.cycles if n == len(sizes) - 1 else 0
            results.append(one_size(base, files, mb, registry, cycles, umoci=files == args.umoci_at))
            print(f"{files} files done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    finally:
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)
    out = Path(args.out) if Path(args.out).is_absolute() else REPO / args.out
    out.write_text(report(results, command, started))
    print(out.read_text())


if __name__ == "__main__":
    main()
