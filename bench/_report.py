"""The Markdown report of bench/run.py: the medians table, ratios, and the issue's targets
marked met / not met, followed by every run's raw numbers."""

from __future__ import annotations

import json
import os
import statistics
from typing import Dict, List

import worker_start
from _single_layer import report_lines as single_layer_lines


def fmt_s(v: float) -> str:
    return f"{v:.2f} s"


def fmt_mb(v: float) -> str:
    return "n/a" if v != v else f"{v / 1e6:.1f} MB"


NAN = float("nan")


def remote_floor(med: Dict[str, float]) -> float:
    """What a cold package from a remote cache cannot beat: Pants' no-op plus fetching the
    image's bytes from the server."""
    return med.get("package_noop", NAN) + med.get("remote_fetch", NAN)


def targets(med: Dict[str, float], rss: Dict[str, float]):
    ratio = med["package_cold"] / med["tar_gzip1"]
    zstd = med["package_cold_zstd"] / med["tar_sha256"]
    edit = med["package_edit"] / med["package_cold"]
    out = [
        ("cold package <= 1.0x `tar | gzip -1`", ratio <= 1.0, f"{ratio:.2f}x"),
        (
            "cold package <= 1.0x `tar | gzip -1`, sandboxes on tmpfs",
            med.get("package_cold_tmpfs", float("inf")) <= med["tar_gzip1"],
            f"{med.get('package_cold_tmpfs', float('nan')) / med['tar_gzip1']:.2f}x",
        ),
        ("cold package with zstd <= 1.5x `tar | sha256sum`", zstd <= 1.5, f"{zstd:.2f}x"),
        (
            # The image's SBOM lists the edited file: its document is written again too.
            "one-file edit re-runs only its layer and the image's SBOM document",
            med["package_edit_procs"] == 2,
            f"{med['package_edit_procs']:.0f} processes",
        ),
        ("one-file edit <= 10% of cold", edit <= 0.10, f"{edit:.0%}"),
        ("one-file edit < 2.5 s", med["package_edit"] < 2.5, fmt_s(med["package_edit"])),
        ("no-op package < 1.5 s", med["package_noop"] < 1.5, fmt_s(med["package_noop"])),
        ("unchanged publish sends 0 blob bytes", med["publish_noop_bytes"] == 0, fmt_mb(med["publish_noop_bytes"])),
        (
            "cold publish <= skopeo cold copy",
            med["publish_cold"] <= med["skopeo_cold"],
            f"{med['publish_cold']:.2f} s vs {med['skopeo_cold']:.2f} s",
        ),
        (
            "cold push, our client alone <= skopeo cold copy",
            med["client_cold"] <= med["skopeo_cold"],
            f"{med['client_cold']:.2f} s vs {med['skopeo_cold']:.2f} s",
        ),
    ]
    if "package_cold_remote" in med:
        floor = remote_floor(med)
        before = med.get("remote_before_lookups", NAN)
        out.append(
            (
                "remote-cache cold package <= 2x (no-op + fetching the image's bytes)",
                med["package_cold_remote"] <= 2 * floor,
                f"{med['package_cold_remote']:.2f} s vs 2 x {floor:.2f} s; Pants' part before any "
                f"cache lookup alone: {before:.2f} s ({before / floor:.1f}x)",
            )
        )
    if "plugin_package_noop" in med:
        out.append(
            (
                "installed-plugin no-op within noise (1.3x) of the ./pants no-op",
                med["plugin_package_noop"] <= 1.3 * med["package_noop"],
                f"{med['plugin_package_noop']:.2f} s vs {med['package_noop']:.2f} s",
            )
        )
    if rss:
        worst = max(rss.values())
        out.append(("layer process peak RSS < 200 MB", worst < 200, f"{worst:.0f} MiB"))
    return out


def report(
    runs: List[Dict[str, float]],
    args,
    command: str,
    started: str,
    rss: Dict[str, float],
    seed: int,
    starts: Dict[str, Dict[str, float]] = None,
) -> str:
    med = {k: statistics.median(r.get(k, float("nan")) for r in runs) for k in runs[0]}
    n = len(runs)
    rows = [
        ("ours: `package`, cold (empty store, pantsd warm)", fmt_s(med["package_cold"]), ""),
        (
            "ours: `package`, no-op",
            fmt_s(med["package_noop"]),
            "Pants' native client, as `./pants` and scie-pants run it",
        ),
        (
            "ours: `package`, no-op, Python client (`PANTS_NO_NATIVE_CLIENT=1`)",
            fmt_s(med.get("package_noop_python_client", float("nan"))),
            "what every command costs more through a launcher that execs the venv's `pants`",
        ),
        (
            "ours: `package` after editing one app file",
            fmt_s(med["package_edit"]),
            f"`local_execution_requests` = {med['package_edit_procs']:.0f}",
        ),
        ("ours: `package`, cold, `--oci-compression=zstd`", fmt_s(med["package_cold_zstd"]), "level 3"),
        (
            "ours: `package`, cold, sandboxes on tmpfs (`--local-execution-root-dir=/dev/shm/...`)",
            fmt_s(med.get("package_cold_tmpfs", float("nan"))),
            "gzip; see the note below the tables",
        ),
        (
            "ours: `package`, cold, `--oci-compression=auto` (registry is loopback: no compression)",
            fmt_s(med["package_cold_auto"]),
            "",
        ),
        (
            "ours: `package`, cold, `--oci-shard-size=off` (every layer one process, as before shards)",
            fmt_s(med.get("package_cold_unsharded", float("nan"))),
            "",
        ),
        (
            "ours: `publish`, cold (empty registry)",
            fmt_s(med["publish_cold"]),
            f"{fmt_mb(med['publish_cold_bytes'])} sent",
        ),
        (
            "ours: `publish`, cold, `auto` image (uncompressed layers)",
            fmt_s(med["publish_cold_auto"]),
            f"{fmt_mb(med['publish_cold_auto_bytes'])} sent",
        ),
        (
            "ours: `publish`, cold, unsharded image",
            fmt_s(med.get("publish_cold_unsharded", float("nan"))),
            f"{fmt_mb(med.get('publish_cold_unsharded_bytes', float('nan')))} sent",
        ),
        (
            "ours: `publish`, unchanged (second publish)",
            fmt_s(med["publish_noop"]),
            f"{fmt_mb(med['publish_noop_bytes'])} sent",
        ),
        (
            "ours: `publish` after editing one app file",
            fmt_s(med["publish_edit"]),
            f"{fmt_mb(med['publish_edit_bytes'])} sent (includes the rebuild)",
        ),
        ("`tar -cf - work \\| sha256sum`", fmt_s(med["tar_sha256"]), f"tar stream {fmt_mb(med['tar_bytes'])}"),
        (
            '`tar \\| gzip -1 \\| sha256sum` (also the "seed approach": whole tree re-tarred+gzipped as one layer)',
            fmt_s(med["tar_gzip1"]),
            f"{fmt_mb(med['tar_gzip1_bytes'])} gzipped",
        ),
        ("`tar \\| pigz -1 \\| sha256sum`", fmt_s(med["tar_pigz1"]), ""),
        ("`tar \\| zstd -1 -T2 \\| sha256sum`", fmt_s(med["tar_zstd1"]), ""),
        ("umoci 0.4: `umoci insert` of the tree into a fresh layout, cold", fmt_s(med["umoci_cold"]), ""),
        (
            "umoci: `umoci insert` again after a one-file edit",
            fmt_s(med["umoci_edit"]),
            "adds the whole tree as a new layer",
        ),
        ("skopeo: `copy oci:<our layout> docker://127.0.0.1` cold", fmt_s(med["skopeo_cold"]), "same image as ours"),
        ("skopeo: same copy, unchanged", fmt_s(med["skopeo_noop"]), ""),
        (
            "our client alone: `python -m ocikit push` of the same layout, cold",
            fmt_s(med["client_cold"]),
            "what `pants publish` runs, without Pants",
        ),
        ("our client alone, unchanged", fmt_s(med["client_noop"]), ""),
        (
            "create 3,000 empty files in /tmp (where Pants puts sandboxes)",
            fmt_s(med["create_3000_tmp"]),
            "a cold build creates one file per input in its layer's sandbox",
        ),
        ("create 3,000 empty files in /var/tmp", fmt_s(med.get("create_3000_var_tmp", float("nan"))), ""),
        ("create 3,000 empty files in /dev/shm (tmpfs)", fmt_s(med.get("create_3000_shm", float("nan"))), ""),
        *[
            (
                f"layer process peak RSS, one {args.rss_mb} MB file, {c}",
                f"{mib:.0f} MiB",
                "`python -m ocikit layer`, threads = CPUs",
            )
            for c, mib in rss.items()
        ],
        (
            "ours: `package`, cold, from a remote cache into an empty local store",
            fmt_s(med.get("package_cold_remote", NAN)),
            f"BuildGrid on loopback, filled by another store; `remote_cache_requests_cached` = "
            f"{med.get('package_cold_remote_cached', NAN):.0f}; what a fresh CI runner pays",
        ),
        (
            "the same: goal start -> first cache lookup",
            fmt_s(med.get("remote_before_lookups", NAN)),
            "target graph, and every input snapshotted into the empty store: each cache key is "
            "computed from a process's input digest",
        ),
        (
            "the same: first cache lookup -> last answered",
            fmt_s(med.get("remote_lookups", NAN)),
            "the layers', then the SBOM document's (its file lists are made between); Pants "
            "fetches a hit's outputs before it answers",
        ),
        (
            "the same: last answer -> goal end",
            fmt_s(med.get("remote_after_lookups", NAN)),
            "config, manifest, dist/",
        ),
        (
            "Pants' own `archive` (tar.gz) of the same files, from the same cache, empty store",
            fmt_s(med.get("package_cold_remote_archive", NAN)),
            f"goal start -> first lookup {fmt_s(med.get('remote_archive_before_lookups', NAN))}; "
            "it snapshots one file target at a time",
        ),
        (
            "fetch the image's layer blobs from the cache server alone",
            fmt_s(med.get("remote_fetch", NAN)),
            "ByteStream reads one after another, sha256 checked; with the no-op, the floor of the row above",
        ),
        (
            "installed plugin (`[GLOBAL].plugins`, stock venv): `package`, cold",
            fmt_s(med.get("plugin_package_cold", NAN)),
            "its own empty store",
        ),
        (
            "installed plugin: `package`, no-op",
            fmt_s(med.get("plugin_package_noop", NAN)),
            "native client in front, as scie-pants; compare the ./pants no-op above",
        ),
        (
            "installed plugin: `package`, no-op, Python client",
            fmt_s(med.get("plugin_package_noop_python_client", NAN)),
            "the stock venv's `pants` script",
        ),
        (
            "installed plugin: `package` after editing one app file",
            fmt_s(med.get("plugin_package_edit", NAN)),
            f"`local_execution_requests` = {med.get('plugin_package_edit_procs', NAN):.0f}",
        ),
    ]
    ratios = [
        ("ours cold package / `tar \\| gzip -1`", med["package_cold"] / med["tar_gzip1"]),
        ("ours cold package / `tar \\| sha256sum`", med["package_cold"] / med["tar_sha256"]),
        (
            "ours cold package, sandboxes on tmpfs / `tar \\| gzip -1`",
            med.get("package_cold_tmpfs", float("nan")) / med["tar_gzip1"],
        ),
        ("ours cold package, zstd / `tar \\| sha256sum`", med["package_cold_zstd"] / med["tar_sha256"]),
        ("ours cold package, zstd / `tar \\| zstd -1 -T2`", med["package_cold_zstd"] / med["tar_zstd1"]),
        (
            "ours cold package + publish, auto / gzip",
            (med["package_cold_auto"] + med["publish_cold_auto"]) / (med["package_cold"] + med["publish_cold"]),
        ),
        ("ours edit package / ours cold package", med["package_edit"] / med["package_cold"]),
        ("ours edit publish / ours cold publish", med["publish_edit"] / med["publish_cold"]),
        ("ours cold publish / skopeo cold copy", med["publish_cold"] / med["skopeo_cold"]),
        ("our client alone, cold / skopeo cold copy", med["client_cold"] / med["skopeo_cold"]),
        ("remote-cache cold package / (no-op + fetch)", med.get("package_cold_remote", NAN) / remote_floor(med)),
        ("remote-cache cold package / cold package", med.get("package_cold_remote", NAN) / med["package_cold"]),
        (
            "Pants' `archive` from the remote cache / ours",
            med.get("package_cold_remote_archive", NAN) / med.get("package_cold_remote", NAN),
        ),
        ("installed-plugin no-op / ./pants no-op", med.get("plugin_package_noop", NAN) / med["package_noop"]),
        ("installed-plugin edit / ./pants edit", med.get("plugin_package_edit", NAN) / med["package_edit"]),
    ]
    nan = float("nan")
    loads = [r[k] for r in runs for k in ("loadavg_start", "loadavg_end") if k in r]
    breakdown = [
        (
            "goal start -> first layer process starts (target graph; inputs snapshotted into the store)",
            med.get("cold_before_layers", nan),
        ),
        ("goal start -> the first `deps` layer process starts", med.get("cold_deps_start", nan)),
        (
            f"`deps` layer, its {med.get('cold_deps_processes', nan):.0f} processes (shards): sandbox setup "
            "(a copy of each input file), summed",
            med.get("cold_deps_sandbox", nan),
        ),
        ("`deps` layer, its processes: run + output capture into the store, summed", med.get("cold_deps_run", nan)),
        ("`deps` layer, first process start -> last process end", med.get("cold_deps_wall", nan)),
        ("the same layer command alone, outside Pants (no sandbox, no capture)", med.get("deps_layer_alone", nan)),
        ("every layer's sandbox setup, summed (they overlap)", med.get("cold_sandboxes_total", nan)),
        ("last layer done -> goal end (image config, manifest, dist/ write)", med.get("cold_after_layers", nan)),
    ]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `bench/run.py` on {started} UTC; machine: {os.cpu_count()} CPUs (`nproc` {os.cpu_count()}), "
        f"{os.uname().sysname} {os.uname().release}. Workload: {args.files} files / {args.mb} MB "
        f"(seed {seed}; deps ~80% of bytes, assets ~18%, app ~2%; ~60% of bytes incompressible), "
        f"image size {fmt_mb(med['image_bytes'])} of blobs. Medians of {n} run(s); each run uses a fresh "
        "build root, a fresh local store and a fresh loopback registry. Wall-clock seconds, "
        "including the Pants client (pantsd already running with identical global flags). "
        "These machines are noisy (±30%); the 1-minute load average at the runs' starts and ends "
        f"was {min(loads, default=nan):.1f} to {max(loads, default=nan):.1f} (other sessions' builds and tests).",
        "",
        "Regenerate:",
        "",
        "```sh",
        command,
        "```",
        "",
        "| measurement | median | notes |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| ratio | value |",
        "| --- | --- |",
        *[f"| {a} | {b:.2f} |" for a, b in ratios],
        "",
        "Note on cold builds: Pants runs each layer `Process` in a sandbox (under the system "
        "temp dir) holding a copy of every input file. Here creating a file in /tmp costs "
        f"{med['create_3000_tmp'] / 3:.2f} ms (the rows above: 3,000 empty files; compare "
        "/var/tmp), so the "
        f"{args.files:,} inputs cost about {med['create_3000_tmp'] / 3000 * args.files:.1f} s "
        "of the cold build before any byte is read, which `tar | gzip` never pays. A tmpfs "
        "sandbox root (`[GLOBAL].local_execution_root_dir` in pants.toml, or the flag) removes "
        "it. The no-op row is Pants' own floor (native client, options, graph) under every other row. "
        "Per-run numbers below show how much these costs move between runs on this machine.",
        "",
        "Where the cold `package` (gzip) spends its time, from Pants' workunit log of that run "
        "(`pants.backend.experimental.tools.workunit_logger`; medians):",
        "",
        "| part | median |",
        "| --- | --- |",
        *[f"| {a} | {fmt_s(b)} |" for a, b in breakdown],
        "",
        *(
            [
                "Worker process start-up (bench/worker_start.py; the runner before and after issue 11, "
                "and the alternative of passing the packages as process inputs):",
                "",
                *worker_start.table(starts, args.start_runs),
                "",
            ]
            if starts
            else []
        ),
        "Targets (issues 4 and 11), checked on these medians:",
        "",
        "| target | result |",
        "| --- | --- |",
        *[f"| {a} | {'met' if ok else '**not met**'} ({b}) |" for a, ok, b in targets(med, rss)],
        "",
        *(single_layer_lines(med, fmt_s, fmt_mb) if "single_sharded_cold" in med else []),
        "Per-run raw numbers:",
        "",
        "```json",
        json.dumps(runs, indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(out)
