"""`python -m ocikit published|push-run ...`: many images in one `pants publish`.

  published --plan FILE
      HEAD every destination of every image of the plan (a CheckPlan) at once; print a
      CheckResult: the batch's id and the images whose every destination already serves their
      digest. Reads only: the run's records are written by the plugin (ocikit.registry.run_record).
  push-run --plan FILE --state DIR --image KEY [--layouts DIR] [--quiet]
      The first push-run of a batch (the plan's batch_id) pushes the plan's images that are
      registered in the run (its run_dir), several at once, and records each outcome; every
      push-run then answers for its own image KEY: exit 0 pushed, 1 failed, 130 interrupted.

Pants runs one process per image, one after another: the first does the work of all, the
others only read their outcome, so N images cost one push process, not N. The first also
writes, per image, STATE/BATCH_ID.INDEX.exit (the exit status) and .err (the error line), from
which a `sh` wrapper answers for the others without starting Python (see `answer_paths`).
The plans are the contracts of ocikit.contracts.publish.
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

from ocikit.contracts.publish import (
    FAILED,
    INTERRUPTED,
    PUSHED,
    CheckPlan,
    CheckResult,
    PublishImage,
    PushPlan,
)
from ocikit.errors import OcikitError
from ocikit.registry.errors import describe_error
from ocikit.registry.run_record import RunRecord, prune
from ocikit.whole_files import write_record


def published_main(args: argparse.Namespace) -> int:
    from ocikit.registry.published import SignatureCheck, check_destinations, published_keys, published_summary
    from ocikit.signing.key_memo import remembered_public_key

    plan = CheckPlan.read(args.plan)
    signature = (
        None
        if plan.signing is None
        else SignatureCheck(remembered_public_key(plan.signing.key), plan.signing.platform_manifests)
    )
    states = check_destinations(
        [(d, image.digest) for image in plan.images for d in image.destinations],
        insecure_registries=plan.insecure_registries,
        jobs=max(8, plan.jobs),
        signature=signature,
        predicates={d: _predicates(image) for image in plan.images for d in image.destinations},
    )
    found = published_keys([(i.key, i.digest, list(i.destinations)) for i in plan.images], states)
    result = CheckResult(
        batch_id=uuid.uuid4().hex,
        published=tuple(sorted(found)),
        checked={d: s.detail for d, s in sorted(states.items())},
        records={i.key: published_summary(i.digest, i.destinations) for i in plan.images if i.key in found},
    )
    sys.stdout.write(result.dumps().decode() + "\n")
    return 0


def push_run_main(args: argparse.Namespace) -> int:
    plan = PushPlan.read(args.plan)
    keys = [image.key for image in plan.images]
    if args.image not in keys:
        sys.stderr.write(f"ocikit push-run: error: {args.image} is not one of the plan's images ({', '.join(keys)})\n")
        return 2
    os.makedirs(args.state, exist_ok=True)
    state_path = os.path.join(args.state, f"{plan.batch_id}.json")
    try:
        with open(os.path.join(args.state, f"{plan.batch_id}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(state_path):
                _lead(plan, args, state_path)
    except KeyboardInterrupt:
        if not os.path.exists(state_path):  # interrupted before the lead could record anything
            _finish(RunRecord(plan.run_dir, plan.run_record), plan.images, {}, True, 0.0, state_path)
        raise
    with open(state_path, encoding="utf-8") as f:
        outcomes = json.load(f)["outcomes"]
    outcome = outcomes.get(args.image) or {"status": FAILED, "error": "not registered in this publish run"}
    if outcome["status"] != PUSHED:
        sys.stderr.write(f"ocikit push-run: error: {args.image}: {outcome.get('error') or outcome['status']}\n")
    return EXIT_CODES[outcome["status"]]


def _lead(plan: PushPlan, args: argparse.Namespace, state_path: str) -> None:
    """Push the plan's images that the run registered; record every outcome, then the state.
    Ctrl-C at any moment, even before the pushes start, still records the run as interrupted."""
    record = RunRecord(plan.run_dir, plan.run_record)
    started = time.monotonic()
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        prune(args.state, keep=plan.run_dir)
        registered = record.entries()
        images = [i for i in plan.images if i.key in registered]
        for image in plan.images:
            if image.key not in registered:  # planned with the batch, not asked for by this run
                outcomes[image.key] = {"status": FAILED, "error": "not registered in this publish run"}
        try:
            signer = _signer(plan)
        except OcikitError as e:  # every image fails alike, before anything is sent
            error = describe_error(e)
            outcomes.update((i.key, {"status": FAILED, "error": error}) for i in images)
            _finish(record, images, outcomes, False, time.monotonic() - started, state_path)
            return

        by_key = {i.key: i for i in images}

        def finished(outcome: Any) -> None:  # each image in the record as soon as it is done
            outcomes[outcome.key] = outcome.to_json()
            _record_outcomes(record, [by_key[outcome.key]], outcomes, False, None)

        def interrupted_now() -> None:  # the record says so before Pants' grace period ends
            so_far = _interrupted_where_missing(images, dict(outcomes))
            _record_outcomes(record, images, so_far, True, time.monotonic() - started)

        result = _push(images, plan, args, signer, finished, interrupted_now)
        outcomes.update((o.key, o.to_json()) for o in result.outcomes)
        interrupted = result.interrupted
        rows = [row for o in result.outcomes for row in _rows(o, plan)]
        _finish(record, images, outcomes, interrupted, time.monotonic() - started, state_path)
    except KeyboardInterrupt:
        _finish(record, plan.images, outcomes, True, time.monotonic() - started, state_path)
        raise
    from ocikit.registry.push_many import format_table

    print(format_table(rows))
    pushed = sum(o["status"] == PUSHED for o in outcomes.values())
    print(
        f"{pushed} of {len(images)} images pushed in {time.monotonic() - started:.1f} s"
        + (" (interrupted)" if interrupted else "")
    )
    sys.stdout.flush()


def _signer(plan: PushPlan):
    if plan.signing is None:
        return None
    from ocikit.registry.sign import load_signer
    from ocikit.signing.key_memo import remember_public_key

    signer = load_signer(plan.signing)
    remember_public_key(plan.signing.key, signer.key.public_key())  # for the next run's check
    return signer


def _push(images: Sequence[PublishImage], plan: PushPlan, args: argparse.Namespace, signer, on_outcome, on_interrupt):
    from ocikit.registry.progress import Progress, StderrProgress
    from ocikit.registry.push import PushSession
    from ocikit.registry.push_many import ImagePush, push_images
    from ocikit.registry.upload_journal import UploadJournal

    pushes = [
        ImagePush(i.key, os.path.join(args.layouts, i.layout), i.destinations, i.mounts_from, _predicates(i), i.source)
        for i in images
    ]
    with PushSession(
        insecure_registries=plan.insecure_registries,
        jobs=plan.jobs,
        signer=signer,
        progress=Progress() if args.quiet else StderrProgress(),
        journal=UploadJournal(args.resume_dir) if args.resume_dir else None,
    ) as session:
        return push_images(pushes, session, on_outcome, on_interrupt)


def _predicates(image: PublishImage) -> tuple:
    from ocikit.registry.attest import Predicate

    return tuple(Predicate(a.predicate_type, a.predicate) for a in image.attestations)


def _rows(outcome: Any, plan: PushPlan) -> list:
    from ocikit.registry.push_many import outcome_rows

    digest = next(i.digest for i in plan.images if i.key == outcome.key)
    return outcome_rows(outcome, digest)


def _finish(
    record: RunRecord,
    images: Sequence[PublishImage],
    outcomes: dict[str, dict[str, Any]],
    interrupted: bool,
    seconds: float,
    state_path: str,
) -> None:
    """Record the outcome of every image of the push (an image with none was interrupted before
    it started), then the answers the run's later processes read."""
    _interrupted_where_missing(images, outcomes)
    _record_outcomes(record, images, outcomes, interrupted, seconds)
    write_record(state_path, {"interrupted": interrupted, "outcomes": outcomes})
    prefix = state_path[: -len(".json")]
    for index, image in enumerate(images):
        outcome = outcomes[image.key]
        _write_answer(prefix, index, image.key, outcome["status"], outcome.get("error"))


def _record_outcomes(
    record: RunRecord,
    images: Sequence[PublishImage],
    outcomes: dict[str, dict[str, Any]],
    interrupted: bool,
    seconds: Optional[float],
) -> None:
    """Write `images`' outcomes into the run's record; an image without one is left as it is."""
    registered = record.entries()
    updates = []
    for image in images:
        entry = registered.get(image.key)
        if entry is None or image.key not in outcomes:
            continue
        outcome = outcomes[image.key]
        updates.append(
            (
                entry.with_outcome(
                    outcome["status"], outcome.get("error"), outcome.get("seconds"), outcome.get("push")
                ),
                outcome.get("push") if outcome["status"] == PUSHED else None,
            )
        )
    record.update(updates, interrupted=interrupted, seconds=seconds)


def _interrupted_where_missing(
    images: Sequence[PublishImage], outcomes: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """`outcomes` with every image that has none `interrupted` (it had not been pushed)."""
    for image in images:
        outcomes.setdefault(image.key, {"status": INTERRUPTED, "error": "interrupted before it was pushed"})
    return outcomes


EXIT_CODES = {PUSHED: 0, FAILED: 1, INTERRUPTED: 130}


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


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, metavar="FILE", help="the publish plan (JSON)")
    if command == "push-run":
        parser.add_argument("--state", required=True, metavar="DIR", help="where the run's outcomes are kept")
        parser.add_argument("--image", required=True, metavar="KEY", help="the image this process answers for")
        parser.add_argument(
            "--layouts",
            default=".",
            metavar="DIR",
            help="the directory the plan's layout paths are relative to (default: .)",
        )
        from ocikit.registry.upload_journal import RESUME_DIR_HELP

        parser.add_argument("--resume-dir", metavar="DIR", help=RESUME_DIR_HELP)


def main(command: str, args: argparse.Namespace) -> int:
    return published_main(args) if command == "published" else push_run_main(args)


__all__: Sequence[str] = ("EXIT_CODES", "add_arguments", "answer_paths", "main")
