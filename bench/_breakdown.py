"""Where a `package` spends its time, from Pants' workunit log (the workunit_logger backend's
JSON: every workunit's name, description, start and duration)."""

from __future__ import annotations

from typing import Dict, List

GOAL = "pants.core.goals.package.package_asset"


def start(w: dict) -> float:
    return w["start_secs"] + w["start_nanos"] / 1e9


def length(w: dict) -> float:
    return w["duration_secs"] + w["duration_nanos"] / 1e9


def end(w: dict) -> float:
    return start(w) + length(w)


def cold_breakdown(workunits: List[dict]) -> Dict[str, float]:
    """A cold `package`: before the first layer process (target graph, snapshots of the inputs
    into the store), the big `deps` layer's processes (its shards, or the whole layer): sandbox
    setup and run (process + output capture), each summed, and first start to last end; and
    after the last layer."""
    goals = [w for w in workunits if w["name"] == GOAL]
    runs = [w for w in workunits if w["name"] == "run_local_process"]
    deps = [w for w in runs if "work:deps" in w.get("description", "")]
    if not (goals and deps):
        return {}
    goal = goals[0]
    sandbox = {w["parent_id"]: length(w) for w in workunits if w["name"] == "setup_sandbox"}
    deps_sandbox = sum(sandbox.get(w["span_id"], float("nan")) for w in deps)
    return {
        "cold_before_layers": min(start(w) for w in runs) - start(goal),
        "cold_deps_start": min(start(w) for w in deps) - start(goal),
        "cold_deps_sandbox": deps_sandbox,
        "cold_deps_run": sum(length(w) for w in deps) - deps_sandbox,
        "cold_deps_wall": max(end(w) for w in deps) - min(start(w) for w in deps),
        "cold_deps_processes": len(deps),
        "cold_sandboxes_total": sum(sandbox.values()),
        "cold_after_layers": end(goal) - max(end(w) for w in runs),
    }


def remote_breakdown(workunits: List[dict], prefix: str = "remote") -> Dict[str, float]:
    """A `package` served from a remote cache into an empty local store: before the first
    cache lookup (the target graph and the snapshot of every input into the store: Pants
    computes each process's cache key from its input digest, so no lookup can start earlier),
    from the first lookup to the last one answered (its outputs fetched: Pants fetches them
    eagerly; the SBOM document's lookup is the last), and the rest of the goal (config, manifest,
    dist/)."""
    goals = [w for w in workunits if w["name"] == GOAL]
    lookups = [w for w in workunits if w["name"] == "check_action_cache"]
    if not (goals and lookups):
        return {}
    goal = goals[0]
    first, last = min(start(w) for w in lookups), max(end(w) for w in lookups)
    return {
        f"{prefix}_before_lookups": first - start(goal),
        f"{prefix}_lookups": last - first,
        f"{prefix}_after_lookups": end(goal) - last,
    }
