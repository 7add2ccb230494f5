"""What the SBOM costs `pants package`: bench/run.py's generated tree (three layers, one image),
packaged with the SBOM (the default) and with `--oci-sbom-formats=[]`, each in its own build
root, store and pantsd, interleaved.

    "$(./pants --print-venv)/bin/python" bench/sbom_cost.py                 # 5000 files / 200 MB, 3 runs
    "$(./pants --print-venv)/bin/python" bench/sbom_cost.py --files 300 --mb 10 --runs 1

Times the cold package, a no-op, and a one-file edit of the app layer (bench/run.py's edit), and
counts the processes each ran (`local_execution_requests`). Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Dict, List

from _shell import counter, sh, timed
from run import APP_EDIT_FILE, COPY, REPO, TARGET, generate_workload, kill_pantsd  # bench/ is sys.path[0]

MODES = {"with SBOM": [], "without (`--oci-sbom-formats=[]`)": ["--oci-sbom-formats=[]"]}


def one_run(base: Path, name: str, extra: List[str], files: int, mb: float) -> Dict[str, float]:
    root = base / name.split()[0]
    root.mkdir()
    for item in COPY:
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / item)
    generate_workload(root / "work", files, mb)
    flags = [
        "./pants",
        f"--local-store-dir={root / '.store'}",
        f"--named-caches-dir={root / '.named'}",
        "--stats-log",
        *extra,
    ]
    edit = root / "work" / APP_EDIT_FILE
    out: Dict[str, float] = {}
    try:
        sh(flags + ["--version"], root)  # pantsd starts with these flags
        os.sync()
        for step in ("cold", "no-op", "edit"):
            if step == "edit":
                edit.write_bytes(edit.read_bytes() + b"# an edit\n")
            seconds, proc = timed(flags + ["package", TARGET], root)
            out[f"{step} s"] = seconds
            out[f"{step} processes"] = counter(proc.stderr, "local_execution_requests") or 0
    finally:
        kill_pantsd(root)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: Dict[str, List[Dict[str, float]]] = {name: [] for name in MODES}
    for r in range(args.runs):
        for name, extra in MODES.items():
            with tempfile.TemporaryDirectory(prefix=f"oci-sbom-cost-{r}-") as tmp:
                results[name].append(one_run(Path(tmp), name, extra, args.files, args.mb))
    columns = list(next(iter(results.values()))[0])
    print(
        f"{args.files} files / {args.mb:g} MB, {args.runs} run(s), medians; "
        f"load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    print("| mode | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name, runs in results.items():
        cells = [statistics.median(run[c] for run in runs) for c in columns]
        print(
            f"| {name} | "
            + " | ".join(f"{v:.2f}" if "s" == c.split()[-1] else f"{v:g}" for v, c in zip(cells, columns))
            + " |"
        )


if __name__ == "__main__":
    main()
