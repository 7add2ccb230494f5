"""The split's cold `package` step by step, and two commits' Python-app benchmarks side by side.

    "$(./pants --print-venv)/bin/python" bench/python_compare.py --baseline-label main@346fc3d \\
        --baseline BASE-1.md BASE-2.md --this THIS-1.md THIS-2.md --out docs/benchmarks-python.md

`bench/python_app.py` writes every run as a JSON line in its output; run it at each commit back
to back (alternating, `--runs 1` each, so both see the same machine load), then this appends a
table of both commits' medians to `--out` (re-rendered from the `--this` runs with
`bench/python_app.py --from-runs` first).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Dict, List

# The cold split package's steps, by the description of the processes that run them (this
# commit's and earlier ones', so one bench breaks down either).
COLD_STEPS = (
    ("find_interpreter", "Find interpreter for constraints"),
    ("find_python", "Find a "),
    ("resolve", "Resolve the requirements"),
    ("install", "Install the requirements"),
    ("bytecode", "Compile the bytecode"),
    ("requirement_layers", "Build the requirement layers"),
    ("layers", "Build layer of"),
)


def _seconds(w: dict) -> float:
    return w["duration_secs"] + w["duration_nanos"] / 1e9


def cold_steps(run) -> Dict[str, float]:
    """Where a cold split `package` spends its time, from Pants' workunits: per step, the time
    its processes ran (summed over the processes of a step; steps may overlap) and, of that,
    how long their sandboxes took to set up (inputs written out)."""
    sandbox = {w.get("parent_id"): _seconds(w) for w in run.workunits if w.get("name") == "setup_sandbox"}
    out: Dict[str, float] = {}
    for step, prefix in COLD_STEPS:
        ran = [
            w
            for w in run.workunits
            if w.get("name") == "run_local_process" and (w.get("description") or "").startswith(prefix)
        ]
        out[f"step_{step}"] = sum(_seconds(w) for w in ran)
        out[f"step_{step}_sandbox"] = sum(sandbox.get(w["span_id"], 0.0) for w in ran)
    return out


def pantsd_cpu_seconds(root: Path) -> float:
    """CPU seconds (user + system) pantsd and the processes it ran and reaped have used so far:
    a build's CPU time is the difference around it, which machine load barely changes (unlike
    its wall time on a shared machine)."""
    (pid_file,) = root.glob(".pids/*/pantsd/pid")
    fields = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis: state is field 3, utime..cstime are 14..17.
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def steps_table(med: Dict[str, float]) -> List[str]:
    """The lines of the cold steps' table, from the medians of a run's keys."""
    return [
        "Where the split's cold `package` spends its time (Pants' workunits; per step, the time its "
        "processes ran, summed over a step's processes, and of that their sandbox setup; steps "
        "can overlap, and the rest of the wall time is Pants' own rule work):",
        "",
        "| step | processes ran | of which sandbox setup |",
        "| --- | --- | --- |",
        *(
            f"| {step} | {med[f'step_{step}']:.2f} s | {med[f'step_{step}_sandbox']:.2f} s |"
            for step, _ in COLD_STEPS
            if med.get(f"step_{step}", 0) > 0
        ),
        "",
    ]


def read_runs(path: Path) -> List[dict]:
    """The runs a bench/python_app.py output lists (its JSON lines after "Every run:")."""
    text = path.read_text().split("Every run:", 1)[1]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


ROWS = [
    ("split_cold", "split: `package`, cold"),
    ("pex_cold", "pex: `package`, cold"),
    *((f"step_{step}", f"split cold, step `{step}`: processes ran") for step, _ in COLD_STEPS),
    ("split_cold_cpu", "split: `package`, cold, CPU seconds (pantsd and its processes)"),
    ("pex_cold_cpu", "pex: `package`, cold, CPU seconds"),
    ("split_edit", "split: `package` after a one-line edit"),
    ("start_split", "start-up, split (ms)"),
]


def _ratio(runs: List[dict], key: str) -> str:
    pairs = [r[f"split_{key}"] / r[f"pex_{key}"] for r in runs if f"split_{key}" in r and r.get(f"pex_{key}")]
    return f"{statistics.median(pairs):.2f}" if pairs else "not measured"


def comparison(baseline: List[dict], this: List[dict], label: str, what: str) -> str:
    def med(runs: List[dict], key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in runs)

    def cell(runs: List[dict], key: str) -> str:
        if not any(key in r for r in runs):
            return "not measured"
        value = med(runs, key)
        return f"{value:.0f}" if key.startswith("start_") else f"{value:.2f} s"

    def loads(runs: List[dict]) -> str:
        return ", ".join(f"{r['load_average_1m_at_start']:.1f}" for r in runs)

    lines = [
        "",
        f"## Before and after, {what}: {label} and this commit, back to back",
        "",
        f"The same bench, run alternately at {label} and at this commit ({len(baseline)} and "
        f"{len(this)} run(s); 1-minute load average at each start: {label} "
        f"{loads(baseline)}; this commit {loads(this)}). Medians; a step "
        "that a commit does not have shows 0.",
        "",
        f"| measurement | {label} | this commit |",
        "| --- | --- | --- |",
        *(f"| {name} | {cell(baseline, key)} | {cell(this, key)} |" for key, name in ROWS),
        f"| split / pex, cold package, wall time (median of each run's ratio) | "
        f"{_ratio(baseline, 'cold')} | {_ratio(this, 'cold')} |",
        f"| split / pex, cold package, CPU seconds (median of each run's ratio) | "
        f"{_ratio(baseline, 'cold_cpu')} | {_ratio(this, 'cold_cpu')} |",
        "",
        f"{label}, every run:",
        "",
        "```json",
        *(json.dumps(r, sort_keys=True) for r in baseline),
        "```",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--baseline", nargs="+", required=True, metavar="MD")
    parser.add_argument("--baseline-label", required=True)
    parser.add_argument("--what", default="the whole bench", help="what the runs measured, for the heading")
    parser.add_argument("--this", nargs="+", required=True, metavar="MD")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    baseline = [r for p in args.baseline for r in read_runs(Path(p))]
    this = [r for p in args.this for r in read_runs(Path(p))]
    out = Path(args.out)
    out.write_text(out.read_text() + comparison(baseline, this, args.baseline_label, args.what))


if __name__ == "__main__":
    main()
