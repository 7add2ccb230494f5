"""The single-layer workload of bench/run.py: the whole generated tree in one `oci_layer`, built
sharded (the default `[oci].shard_size`) and whole (`shard_size="off"`, as every layer was built
before shards), each from its own empty store, next to umoci (insert, then unpack, edit, repack)
and skopeo on the same steps: cold package, no-op, one-file edit, publish cold and after the edit.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, List

from _registry import Registry
from _shell import counter, sh, timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pants-plugins"))
from pants_oci.shards import DEFAULT_SHARD_SIZE, parse_shard_size  # noqa: E402

SINGLE_BUILD = """
files(name="all_files", sources=["deps/**/*", "assets/**/*", "app/**/*"])
oci_layer(name="all", dependencies=[":all_files"], destination="/work")
oci_layer(name="all_off", dependencies=[":all_files"], destination="/work", shard_size="off")
oci_image(name="single", layers=[":all"], repository="bench/single")
oci_image(name="single_off", layers=[":all_off"], repository="bench/single-off")
"""
VARIANTS = {"sharded": "work:single", "off": "work:single_off"}


def _manifest(layout: Path, tag: str) -> dict:
    index = json.loads((layout / "index.json").read_text())
    (entry,) = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag]
    return json.loads((layout / "blobs" / "sha256" / entry["digest"][7:]).read_bytes())


def _ours(root: Path, edit: Path, flags: List[str], target: str) -> Dict[str, float]:
    dist = root / "dist" / target.replace(":", "/")
    record = Path(f"{dist}.publish.json")

    def sent() -> float:
        return json.loads(record.read_text())["stats"]["bytes_uploaded"]

    package, publish = flags + ["package", target], flags + ["publish", target]
    sh(flags + ["--version"], root)  # a new store: pantsd restarts, warmed here
    os.sync()
    res: Dict[str, float] = {}
    res["cold"], _ = timed(package, root)
    res["noop"], _ = timed(package, root)
    res["publish_cold"], _ = timed(publish, root)
    res["publish_cold_bytes"] = sent()
    res["layers"] = len(_manifest(dist, "latest")["layers"])
    original = edit.read_bytes()
    try:
        edit.write_bytes(original + b"edit single\n")
        res["edit"], p = timed(package, root)
        res["edit_procs"] = counter(p.stderr, "local_execution_requests") or 0
        res["publish_edit"], _ = timed(publish, root)
        res["publish_edit_bytes"] = sent()
    finally:
        edit.write_bytes(original)
    return res


def _umoci_skopeo(root: Path, work: Path, edit_relpath: str, registry: Registry, policy: Path) -> Dict[str, float]:
    layout, bundle = root / "umoci-single", root / "umoci-single-bundle"
    sh(["umoci", "init", "--layout", str(layout)], root)
    sh(["umoci", "new", "--image", f"{layout}:t"], root)
    skopeo = ["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false"]
    res: Dict[str, float] = {}
    res["cold"], _ = timed(["umoci", "insert", "--image", f"{layout}:t", str(work), "/work"], root)
    res["publish_cold"], _ = timed(skopeo + [f"oci:{layout}:t", f"docker://{registry.host}/umoci/single:t"], root)
    sh(["umoci", "unpack", "--image", f"{layout}:t", str(bundle)], root)
    edited = bundle / "rootfs" / "work" / edit_relpath
    edited.write_bytes(edited.read_bytes() + b"edit single\n")
    res["edit"], _ = timed(["umoci", "repack", "--image", f"{layout}:t2", str(bundle)], root)
    res["publish_edit"], _ = timed(skopeo + [f"oci:{layout}:t2", f"docker://{registry.host}/umoci/single:t2"], root)
    # skopeo uploads the blobs the registry lacks: those of t2 that t does not have.
    before, after = _manifest(layout, "t"), _manifest(layout, "t2")
    have = {d["digest"] for d in [before["config"], *before["layers"]]}
    res["publish_edit_bytes"] = sum(d["size"] for d in [after["config"], *after["layers"]] if d["digest"] not in have)
    res["layers_after_edit"] = len(after["layers"])
    shutil.rmtree(bundle, ignore_errors=True)
    return res


def single_layer_steps(
    root: Path, edit_relpath: str, pants_flags: Callable[..., List[str]], registry: Registry, policy: Path
) -> Dict[str, float]:
    """`single_<variant>_<step>` for our two variants, `single_umoci_<step>` for umoci + skopeo."""
    work = root / "work"
    res: Dict[str, float] = {}
    for variant, target in VARIANTS.items():
        registry.reset()
        steps = _ours(root, work / edit_relpath, pants_flags(f".bench-store-single-{variant}"), target)
        res.update({f"single_{variant}_{k}": v for k, v in steps.items()})
    registry.reset()
    steps = _umoci_skopeo(root, work, edit_relpath, registry, policy)
    res.update({f"single_umoci_{k}": v for k, v in steps.items()})
    return res


def report_lines(med: Dict[str, float], fmt_s: Callable[[float], str], fmt_mb: Callable[[float], str]) -> List[str]:
    """The single-layer table, its ratios and the issue's targets, on the medians."""
    shard_size = parse_shard_size(DEFAULT_SHARD_SIZE)

    def ours(variant: str, step: str) -> str:
        return fmt_s(med[f"single_{variant}_{step}"])

    def sent(prefix: str, step: str) -> str:
        return f"{med[f'{prefix}_{step}']:.2f} s, {fmt_bytes(med[f'{prefix}_{step}_bytes'])} sent"

    def fmt_bytes(n: float) -> str:
        return f"{n / 1e3:.1f} KB" if n < 1e6 else fmt_mb(n)

    umoci = "single_umoci"
    rows = [
        (
            "cold package (empty store, pantsd warm)",
            ours("sharded", "cold"),
            ours("off", "cold"),
            f"{fmt_s(med[f'{umoci}_cold'])} (`umoci insert` of the tree)",
        ),
        ("no-op package", ours("sharded", "noop"), ours("off", "noop"), "–"),
        (
            "one-file edit, package",
            f"{ours('sharded', 'edit')} ({med['single_sharded_edit_procs']:.0f} process)",
            f"{ours('off', 'edit')} ({med['single_off_edit_procs']:.0f} process)",
            f"{fmt_s(med[f'{umoci}_edit'])} (`umoci repack` of the unpacked, edited tree)",
        ),
        (
            "publish, cold (empty registry)",
            sent("single_sharded", "publish_cold"),
            sent("single_off", "publish_cold"),
            f"{fmt_s(med[f'{umoci}_publish_cold'])} (`skopeo copy`)",
        ),
        (
            "publish after the edit",
            sent("single_sharded", "publish_edit"),
            sent("single_off", "publish_edit"),
            f"{fmt_s(med[f'{umoci}_publish_edit'])}, "
            f"{fmt_bytes(med[f'{umoci}_publish_edit_bytes'])} sent (`skopeo copy`)",
        ),
        (
            "layers in the image",
            f"{med['single_sharded_layers']:.0f}",
            f"{med['single_off_layers']:.0f}",
            f"1, then {med[f'{umoci}_layers_after_edit']:.0f} after the edit (a delta layer per edit)",
        ),
    ]
    ratio = {
        step: med[f"single_sharded_{step}"] / med[f"single_off_{step}"]
        for step in ("cold", "noop", "edit", "publish_edit")
    }
    limit = shard_size + 10_000
    targets = [
        ("one-file edit, package <= 2.0 s", med["single_sharded_edit"] <= 2.0, fmt_s(med["single_sharded_edit"])),
        (
            f"publish after it sends <= the shard size + 10 KB ({fmt_mb(limit)})",
            med["single_sharded_publish_edit_bytes"] <= limit,
            fmt_mb(med["single_sharded_publish_edit_bytes"]),
        ),
        ("cold package <= unsharded cold package", ratio["cold"] <= 1.0, f"{ratio['cold']:.2f}x"),
        ("no-op package unchanged (<= 1.1x unsharded)", ratio["noop"] <= 1.1, f"{ratio['noop']:.2f}x"),
        (
            "three-layer workload: cold package <= unsharded (`--oci-shard-size=off`)",
            med["package_cold"] <= med["package_cold_unsharded"],
            f"{med['package_cold'] / med['package_cold_unsharded']:.2f}x",
        ),
        (
            "three-layer workload: cold publish <= unsharded",
            med["publish_cold"] <= med["publish_cold_unsharded"],
            f"{med['publish_cold']:.2f} s vs {med['publish_cold_unsharded']:.2f} s",
        ),
    ]
    return [
        "## Single-layer workload: the whole tree in one `oci_layer`",
        "",
        "The same tree in one `oci_layer` (`work:single`), built with the default "
        f'`[oci].shard_size` ({shard_size >> 20} MiB) and with `shard_size="off"` (one layer, as before '
        "shards), each from its own empty store; umoci and skopeo on the same steps. The edit appends a "
        "line to one app file. Medians.",
        "",
        '| step | ours, sharded | ours, `shard_size="off"` | umoci 0.4 + skopeo |',
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "| ratio, sharded / unsharded | value |",
        "| --- | --- |",
        *[f"| {step} | {value:.2f} |" for step, value in ratio.items()],
        "",
        "Targets (issue 13), checked on these medians:",
        "",
        "| target | result |",
        "| --- | --- |",
        *[f"| {a} | {'met' if ok else '**not met**'} ({b}) |" for a, ok, b in targets],
        "",
    ]
