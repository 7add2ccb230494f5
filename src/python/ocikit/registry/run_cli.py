"""`python -m ocikit published|push-run ...`: many images in one `pants publish`.

  published --plan FILE
      HEAD every destination of every image of the plan at once. Prints JSON
      {"run_id": ..., "published": [KEY, ...]} (the images whose every destination already
      serves their digest), writes those images' records and the run record.
  push-run --plan FILE --state DIR --image KEY [--layouts DIR] [--quiet]
      The first push-run of a run (the plan's run_id) pushes every image of the plan, several
      at once, and writes each pushed image's record, the run record and the run's state in
      DIR; every push-run then answers for its own image KEY: exit 0 pushed, 1 failed,
      130 interrupted.

Pants runs one process per image, one after another: the first does the work of all, the
others only read their outcome, so N images cost one push process, not N. The first also
writes, per image, STATE/RUN_ID.INDEX.exit (the exit status) and .err (the error line), from
which a `sh` wrapper answers for the others without starting Python (see `answer_paths`).

The plan (JSON): {"run_id", "jobs", "insecure_registries": [...], "run_record": PATH|null,
"images": [{"key", "layout", "digest", "destinations": [...], "mounts_from": [...],
"record": PATH|null}], "published": [{"key", "digest", "destinations"}]} ("run_id" and
"published", the images found published, for push-run only).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
import uuid
from typing import Any, Optional, Sequence

from ocikit.registry._common import write_record

ALREADY_PUBLISHED = "already published"
TO_PUSH = "to push"
_STALE_STATE_SECONDS = 24 * 3600


def published_main(args: argparse.Namespace) -> int:
    from ocikit.registry.published import check_destinations, published_keys

    plan = _read_plan(args.plan)
    images = plan["images"]
    states = check_destinations(
        [(d, image["digest"]) for image in images for d in image["destinations"]],
        insecure_registries=plan.get("insecure_registries", ()), jobs=max(8, int(plan.get("jobs", 4))),
    )
    found = set(published_keys([(i["key"], i["digest"], i["destinations"]) for i in images], states))
    run_id = uuid.uuid4().hex
    for image in images:
        if image["key"] in found:
            write_record(image.get("record"), _published_summary(image))
    write_record(plan.get("run_record"), {
        "run_id": run_id,
        "images": [_run_entry(i, ALREADY_PUBLISHED if i["key"] in found else TO_PUSH) for i in images],
    })
    json.dump({"run_id": run_id, "published": sorted(found),
               "checked": {d: s.detail for d, s in sorted(states.items())}}, sys.stdout)
    sys.stdout.write("\n")
    return 0


def push_run_main(args: argparse.Namespace) -> int:
    plan = _read_plan(args.plan)
    keys = [image["key"] for image in plan["images"]]
    if args.image not in keys:
        sys.stderr.write(f"ocikit push-run: error: {args.image} is not one of the plan's images ({', '.join(keys)})\n")
        return 2
    os.makedirs(args.state, exist_ok=True)
    state_path = os.path.join(args.state, f"{plan['run_id']}.json")
    with open(os.path.join(args.state, f"{plan['run_id']}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(state_path):
            _prune(args.state)
            _lead(plan, args, state_path)
    with open(state_path, encoding="utf-8") as f:
        state = json.load(f)
    outcome = state["outcomes"][args.image]
    if outcome["status"] != "pushed":
        sys.stderr.write(f"ocikit push-run: error: {args.image}: {outcome.get('error') or outcome['status']}\n")
    return EXIT_CODES[outcome["status"]]


def _lead(plan: dict, args: argparse.Namespace, state_path: str) -> None:
    """Push every image of the plan; write the records, the run record, then the state."""
    from ocikit.registry.progress import Progress, StderrProgress
    from ocikit.registry.push import PushSession
    from ocikit.registry.push_many import ImagePush, format_table, outcome_rows, push_images

    images = [
        ImagePush(i["key"], os.path.join(args.layouts, i["layout"]), tuple(i["destinations"]),
                  tuple(i.get("mounts_from", ())))
        for i in plan["images"]
    ]
    started = time.monotonic()
    with PushSession(insecure_registries=plan.get("insecure_registries", ()), jobs=int(plan.get("jobs", 4)),
                     progress=Progress() if args.quiet else StderrProgress()) as session:
        result = push_images(images, session)
    by_key = {i["key"]: i for i in plan["images"]}
    for outcome in result.outcomes:
        record = by_key[outcome.key].get("record")
        if outcome.ok and outcome.summary is not None:
            write_record(record, outcome.summary.to_json())
        elif record and os.path.exists(record):
            # An earlier run's record would claim a push this run did not make: the run record
            # holds this image's failure instead.
            os.unlink(record)
    entries = [_run_entry(by_key[o.key], o.status, o.to_json()) for o in result.outcomes]
    entries += [_run_entry(i, ALREADY_PUBLISHED) for i in plan.get("published", ())]
    write_record(plan.get("run_record"), {"run_id": plan["run_id"], "interrupted": result.interrupted,
                                          "seconds": round(time.monotonic() - started, 3), "images": entries})
    write_record(state_path, {"run_id": plan["run_id"], "interrupted": result.interrupted,
                              "outcomes": {o.key: o.to_json() for o in result.outcomes}})
    for index, outcome in enumerate(result.outcomes):
        _write_answer(state_path[: -len(".json")], index, outcome.key, outcome.status, outcome.error)
    rows = [row for o in result.outcomes for row in outcome_rows(o, by_key[o.key]["digest"])]
    print(format_table(rows))
    pushed = sum(o.ok for o in result.outcomes)
    print(f"{pushed} of {len(result.outcomes)} images pushed in {time.monotonic() - started:.1f} s"
          + (" (interrupted)" if result.interrupted else ""))
    sys.stdout.flush()


EXIT_CODES = {"pushed": 0, "failed": 1, "interrupted": 130}


def answer_paths(run_prefix: str, index: int) -> tuple[str, str]:
    """The files holding the exit status and the error line of the plan's image `index`: a
    later process of the run answers from them without starting Python (`sh` reads them)."""
    return f"{run_prefix}.{index}.exit", f"{run_prefix}.{index}.err"


def _write_answer(run_prefix: str, index: int, key: str, status: str, error: Optional[str]) -> None:
    exit_path, err_path = answer_paths(run_prefix, index)
    message = "" if status == "pushed" else f"ocikit push-run: error: {key}: {error or status}\n"
    with open(err_path, "w", encoding="utf-8") as f:
        f.write(message)
    tmp = exit_path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{EXIT_CODES[status]}\n")
    os.replace(tmp, exit_path)  # the exit file last, whole: its presence means both are there


def _published_summary(image: dict) -> dict[str, Any]:
    """The record of an image found published: what a push that found everything there
    writes (every repository's manifest present, nothing sent)."""
    from ocikit.reference import parse_reference
    from ocikit.registry.push import PushedImage, PushStats, PushSummary

    repositories: dict[str, list[str]] = {}
    for destination in image["destinations"]:
        ref = parse_reference(destination)
        tags = repositories.setdefault(f"{ref.registry}/{ref.repository}", [])
        if ref.tag:
            tags.append(ref.tag)
    pushed = tuple(PushedImage(f"{repo}@{image['digest']}", image["digest"], tuple(tags))
                   for repo, tags in repositories.items())
    return PushSummary(image["digest"], pushed, PushStats(manifests_present=len(pushed))).to_json()


def _run_entry(image: dict, status: str, outcome: Optional[dict] = None) -> dict[str, Any]:
    entry = {"key": image["key"], "digest": image["digest"], "destinations": list(image["destinations"]),
             "status": status}
    if outcome:
        entry.update({k: v for k, v in outcome.items() if k in ("error", "push", "seconds")})
    return entry


def _read_plan(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        plan = json.load(f)
    if not isinstance(plan, dict) or not isinstance(plan.get("images"), list):
        raise ValueError(f"{path} is not a publish plan: expected a JSON object with an 'images' list")
    return plan


def _prune(state_dir: str) -> None:
    """Remove what runs older than a day left (an interrupted run keeps its state)."""
    now = time.time()
    for name in os.listdir(state_dir):
        path = os.path.join(state_dir, name)
        try:
            if now - os.path.getmtime(path) > _STALE_STATE_SECONDS:
                os.unlink(path)
        except OSError:
            pass


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, metavar="FILE", help="the publish plan (JSON)")
    if command == "push-run":
        parser.add_argument("--state", required=True, metavar="DIR", help="where the run's outcomes are kept")
        parser.add_argument("--image", required=True, metavar="KEY", help="the image this process answers for")
        parser.add_argument("--layouts", default=".", metavar="DIR",
                            help="the directory the plan's layout paths are relative to (default: .)")


def main(command: str, args: argparse.Namespace) -> int:
    return published_main(args) if command == "published" else push_run_main(args)


__all__: Sequence[str] = ("ALREADY_PUBLISHED", "TO_PUSH", "add_arguments", "main")
