#!/usr/bin/env python3
"""Layer build speed and memory, next to tar | gzip / pigz on the same tree.

    ./run-tests is not needed; run with the Pants venv's python and src/python on the path:
    PYTHONPATH=src/python "$(./pants --print-venv)/bin/python" bench/layer_speed.py

Generates (once, deterministic) a corpus of ~2,000 files / ~100 MB, half compressible text and
half random bytes, then reports medians of 3 runs for:
  build_layer gzip level 1 with threads=1 and threads=2, zstd level 3 (threads=2), none;
  tar -cf - DIR | gzip -1 | wc -c   and   tar -cf - DIR | pigz -1 | wc -c   (and zstd -3 -T2);
plus the per-header cost of the hand-built ustar header vs tarfile's, a gzip chunk-size sweep
(--chunk-sweep) and the peak RSS (/usr/bin/time -v) of `python -m ocikit layer` for a single
1 GB file (--rss-mb, 0 to skip).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src", "python"))

from ocikit import compress, tarwriter  # noqa: E402
from ocikit.contracts.layer import LayerSpec  # noqa: E402
from ocikit.layer import build_layer, plan_layer  # noqa: E402

MB = 1000 * 1000
WORDS = b"the layer digest manifest config tar gzip zstd pants sandbox file directory".split()


def make_corpus(root: str, files: int, total_mb: int, seed: int = 1) -> None:
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return
    rng = random.Random(seed)
    # Sizes: mostly small, a few large (log-uniform), scaled to the target total.
    raw = [rng.lognormvariate(9, 1.6) for _ in range(files)]
    scale = total_mb * MB / sum(raw)
    for i, r in enumerate(raw):
        size = max(0, int(r * scale))
        d = os.path.join(root, f"pkg{i % 40:02d}", f"mod{i % 7}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"file{i:05d}" + (".txt" if i % 2 else ".bin"))
        with open(path, "wb") as f:
            if i % 2:
                line = b" ".join(rng.choice(WORDS) for _ in range(12)) + b"\n"
                f.write((line * (size // len(line) + 1))[:size])
            else:
                f.write(rng.getrandbits(8 * size).to_bytes(size, "little") if size else b"")
    open(marker, "w").close()


def tree_bytes(root: str) -> int:
    total = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            total += os.path.getsize(os.path.join(dirpath, n))
    return total


def warm(root: str) -> None:
    subprocess.run(f"tar -cf - -C '{root}' . > /dev/null", shell=True, check=True)


def median_time(fn, runs: int = 3):
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def bench_build(root: str, out_dir: str, compression: str, threads: int, runs: int):
    def once():
        entries = plan_layer(root, "/app")
        path = os.path.join(out_dir, "blob")
        with open(path, "wb") as out:
            r = build_layer(entries, out, compression, None, 0, threads)
        os.unlink(path)
        return r

    return median_time(once, runs)


def bench_shell(root: str, pipeline: str, runs: int):
    cmd = f"tar -cf - -C '{root}' . | {pipeline} | wc -c"
    return (
        median_time(
            lambda: int(subprocess.run(cmd, shell=True, check=True, stdout=subprocess.PIPE).stdout),
            runs,
        ),
        cmd,
    )


def bench_headers(n: int = 20000):
    args = ("usr/lib/python3/site-packages/pkg/module.py", "file", 0o644, 0, 0, 12345, 0, "")
    t = time.perf_counter()
    for _ in range(n):
        tarwriter.header(*args)
    fast = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        tarwriter.tarfile_header(args[0], b"0", *args[2:])
    slow = (time.perf_counter() - t) / n
    return fast, slow


def chunk_sweep(root: str, runs: int):
    entries = plan_layer(root, "/app")
    tar = io.BytesIO()
    for c in tarwriter.iter_tar_chunks(entries, 0):
        tar.write(c)
    data = tar.getvalue()
    rows = []
    for chunk in (128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20):
        for threads in (1, 2):
            pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]

            def once(pieces=pieces, threads=threads, chunk=chunk):
                return sum(len(p) for p in compress.gzip_stream(pieces, 1, threads, chunk))

            secs, size = median_time(once, runs)
            rows.append((chunk, threads, secs, size, len(data)))
    return rows


def peak_rss(size_mb: int, work: str, compression: str) -> int:
    tree = os.path.join(work, f"rss-{size_mb}")
    big = os.path.join(tree, "big.bin")
    if not os.path.exists(big):
        os.makedirs(tree, exist_ok=True)
        rng = random.Random(2)
        block = rng.getrandbits(8 * (1 << 20)).to_bytes(1 << 20, "little")
        text = (b"some compressible text line\n" * 40000)[: 1 << 20]
        with open(big, "wb") as f:
            for i in range(size_mb * MB // (1 << 20)):
                f.write(block[i % 251 :] + block[: i % 251] if i % 2 else text)
    spec = os.path.join(work, "spec.json")
    with open(spec, "wb") as f:
        f.write(LayerSpec(tree, "/", compression=compression, threads=2).dumps())
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "src", "python"))
    out, desc = os.path.join(work, "rss.blob"), os.path.join(work, "rss.json")
    cmd = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "ocikit",
        "layer",
        "--spec",
        spec,
        "--out",
        out,
        "--descriptor",
        desc,
    ]
    p = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    os.unlink(out)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", p.stderr)
    print(f"    {compression:5s} peak RSS {int(m.group(1)) / 1024:6.1f} MiB, wall {wall.group(1)}")
    return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "ocikit-layer-bench"))
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rss-mb", type=int, default=1000, help="single-file size for the RSS check")
    ap.add_argument("--chunk-sweep", action="store_true")
    args = ap.parse_args()

    corpus = os.path.join(args.work, f"corpus-{args.files}-{args.mb}")
    os.makedirs(corpus, exist_ok=True)
    make_corpus(corpus, args.files, args.mb)
    warm(corpus)
    n_files = sum(len(f) for _, _, f in os.walk(corpus)) - 1
    print(
        f"corpus {corpus}: {n_files} files, {tree_bytes(corpus) / MB:.1f} MB; "
        f"{os.cpu_count()} cores; medians of {args.runs}"
    )
    fast, slow = bench_headers()
    print(f"header: hand-built ustar {fast * 1e6:.1f} us, tarfile {slow * 1e6:.1f} us ({slow / fast:.1f}x)")

    t = time.perf_counter()
    entries = plan_layer(corpus, "/app")
    print(f"plan_layer: {len(entries)} entries in {time.perf_counter() - t:.3f} s")
    print(f"{'what':48s} {'seconds':>8s} {'tar MB/s':>9s} {'out MB':>8s}")
    tar_mb = None
    for compression, threads in (("gzip", 1), ("gzip", 2), ("zstd", 2), ("none", 2)):
        secs, r = bench_build(corpus, args.work, compression, threads, args.runs)
        tar_mb = r.uncompressed_size / MB
        print(
            f"{f'build_layer {compression} threads={threads}':48s} {secs:8.2f} {tar_mb / secs:9.1f} {r.size / MB:8.1f}"
        )
    for pipeline in ("gzip -1", "pigz -1", "zstd -3 -T2"):
        (secs, size), cmd = bench_shell(corpus, pipeline, args.runs)
        print(f"{cmd.replace(corpus, 'DIR'):48s} {secs:8.2f} {tar_mb / secs:9.1f} {size / MB:8.1f}")

    if args.chunk_sweep:
        print("gzip chunk size sweep (tar in memory, level 1):")
        for chunk, threads, secs, size, n in chunk_sweep(corpus, args.runs):
            print(
                f"    chunk {chunk >> 10:5d} KiB threads={threads}: {secs:6.2f} s "
                f"{n / MB / secs:7.1f} MB/s  out {size / MB:7.2f} MB ({100 * size / n:.2f}%)"
            )
    if args.rss_mb:
        print(f"peak RSS of `python -m ocikit layer` for one {args.rss_mb} MB file (threads=2):")
        for compression in ("gzip", "zstd", "none"):
            peak_rss(args.rss_mb, args.work, compression)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
