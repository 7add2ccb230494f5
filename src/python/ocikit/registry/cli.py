"""`python -m ocikit push|pull|inspect|lock ...`: the registry commands Pants runs as processes.

  push LAYOUT --dest REF [--dest REF ...] [--insecure-registry HOST[:PORT] ...] [--jobs N]
       [--record FILE] [--mount-from REF ...]
  promote REF@DIGEST --dest REF [--dest REF ...] [--insecure-registry HOST[:PORT] ...] [--jobs N]
       [--record FILE] [--resume-dir DIR]
  pull REF@DIGEST --platform OS/ARCH[/VARIANT] [--platform ...] --out DIR [--record FILE]
  inspect REF [--raw] [--platform OS/ARCH[/VARIANT]]
  lock --tracked FILE --out FILE [--lockfile FILE] [--only REF ...] [--regenerate-command CMD]
  (what Pants passes to pull and lock, and lock's --tracked file: ocikit.contracts)
  published --plan FILE                     (many images in one run: ocikit.registry.run_cli)
  push-run --plan FILE --state DIR --image KEY [--layouts DIR]
  verify --plan FILE       what the registries hold, compared with packaged layouts (ocikit.registry.verify)

Results go to stdout (and `--record FILE` as JSON), progress to stderr. A failure prints one
line `ocikit COMMAND: error: ...` to stderr and exits 1 (2 for a bad command line).
Credentials never reach output, logs or errors: they come from docker/podman config files and
credential helpers only, never from the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import Any, NoReturn, Optional, Sequence

from ocikit.registry.errors import describe_error
from ocikit.registry.secrets import scrub
from ocikit.whole_files import write_file, write_record
from ocikit.worker_cache import damage_report

_RUN_COMMANDS = {
    "published": "Check which images of a publish plan the registries already serve.",
    "push-run": "Push the images of a publish plan (the first process of a run), then report one.",
}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True


def _common(parser: argparse.ArgumentParser, insecure: bool = True) -> None:
    """The options every registry command takes; `insecure` False where the command's contract
    (ocikit.contracts) declares --insecure-registry itself."""
    if insecure:
        parser.add_argument(
            "--insecure-registry",
            action="append",
            default=[],
            metavar="HOST[:PORT]",
            help="allow plain HTTP and unverified TLS for this registry (repeatable); "
            "loopback registries always allow plain HTTP",
        )
    parser.add_argument("--jobs", type=int, default=4, metavar="N", help="concurrent blob transfers (default 4)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _logging_arguments(parser)


def _logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=sorted(_LEVELS),
        default=os.environ.get("OCIKIT_LOG_LEVEL", "warning"),
        help="log level of the stderr (or --log-file) log (default warning, or $OCIKIT_LOG_LEVEL)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="write the log to FILE instead of stderr")


def _destination_arguments(parser: argparse.ArgumentParser, done: str) -> None:
    """What push and promote take alike: where to, the record, the upload journal."""
    from ocikit.registry.upload_journal import RESUME_DIR_HELP

    parser.add_argument(
        "--dest",
        action="append",
        required=True,
        metavar="REF",
        help="REGISTRY/REPOSITORY[:TAG] (repeatable; no tag = by digest only)",
    )
    parser.add_argument("--record", metavar="FILE", help=f"write what was {done} as JSON to FILE")
    parser.add_argument("--resume-dir", metavar="DIR", help=RESUME_DIR_HELP)


def _parser(command: str) -> argparse.ArgumentParser:
    prog = f"ocikit {command}"
    if command in _RUN_COMMANDS:
        return _run_parser(prog, command)
    return {
        "push": _push_parser,
        "promote": _promote_parser,
        "pull": _pull_parser,
        "verify": _verify_parser,
        "lock": _lock_parser,
    }.get(command, _inspect_parser)(prog)


def _push_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Push an OCI image layout to registries.")
    p.add_argument("layout", metavar="LAYOUT", help="OCI image layout directory")
    _destination_arguments(p, "pushed")
    p.add_argument(
        "--mount-from",
        action="append",
        default=[],
        metavar="REF",
        help="REGISTRY/REPOSITORY whose blobs may be mounted (repeatable)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="send large blobs in PATCHes of at most BYTES (default: each blob in one "
        "PATCH; for registries or proxies that cap request bodies)",
    )
    _common(p)
    return p


def _promote_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        description="Copy an image a registry holds to other repositories and registries, "
        "by digest, with its cosign attachments.",
    )
    p.add_argument("source", metavar="REF@DIGEST", help="REGISTRY/REPOSITORY[:TAG]@sha256:... to copy")
    _destination_arguments(p, "copied")
    _common(p)
    return p


def _run_parser(prog: str, command: str) -> argparse.ArgumentParser:
    from ocikit.registry import run_cli

    p = _Parser(prog=prog, description=_RUN_COMMANDS[command])
    run_cli.add_arguments(command, p)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _logging_arguments(p)
    return p


def _pull_parser(prog: str) -> argparse.ArgumentParser:
    from ocikit.contracts.pull import PullCommand

    p = _Parser(prog=prog, description="Fetch an image by digest into an OCI image layout.")
    PullCommand.add_arguments(p)
    p.add_argument("--record", metavar="FILE", help="write what was pulled as JSON to FILE")
    _common(p, insecure=False)
    return p


def _verify_parser(prog: str) -> argparse.ArgumentParser:
    from ocikit.contracts.verify import VerifyCommand

    p = _Parser(prog=prog, description="Compare what registry tags name with packaged layouts; print a VerifyResult.")
    VerifyCommand.add_arguments(p)
    _logging_arguments(p)
    return p


def _lock_parser(prog: str) -> argparse.ArgumentParser:
    from ocikit.contracts.lockfile import LockCommand

    p = _Parser(
        prog=prog,
        description="Refresh a base-image lockfile from the registries: "
        "print each entry's old -> new digest, warnings on stderr.",
    )
    LockCommand.add_arguments(p)
    _common(p, insecure=False)
    return p


def _inspect_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Print an image's manifest (and config) from a registry.")
    p.add_argument("reference", metavar="REF")
    p.add_argument("--raw", action="store_true", help="print the manifest bytes exactly as served")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="for an index, describe the image of this platform")
    _common(p)
    return p


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("push", "promote", "pull", "inspect", "lock", "verify", *_RUN_COMMANDS):
        sys.stderr.write("ocikit: expected push, promote, pull, inspect, lock, verify, published or push-run\n")
        return 2
    command = argv[0]
    args = _parser(command).parse_args(list(argv[1:]))
    handler = _setup_logging(args.log_level, args.log_file)
    try:
        if command == "push":
            return _push(args)
        if command == "promote":
            return _promote(args)
        if command == "pull":
            return _pull(args)
        if command == "lock":
            return _lock(args)
        if command == "verify":
            from ocikit.registry import verify

            return verify.main(args)
        if command in _RUN_COMMANDS:
            from ocikit.registry import run_cli

            return run_cli.main(command, args)
        return _inspect(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"ocikit {command}: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one line, never a traceback
        logging.getLogger("ocikit").debug("%s failed: %s", command, type(e).__name__)
        # An import failing inside the command (lockfile's yaml) may be the named cache's damage.
        line = damage_report(e) or f"ocikit {command}: error: {describe_error(e)}"
        sys.stderr.write(f"{line}\n")
        return 1
    finally:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _setup_logging(level: str, log_file: Optional[str]) -> Optional[logging.Handler]:
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ocikit %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    # urllib3 logs whole URLs (signed query strings included) at DEBUG: keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return handler


def _progress(args: argparse.Namespace) -> Any:
    from ocikit.registry.progress import Progress, StderrProgress

    return Progress() if args.quiet else StderrProgress()


def _push(args: argparse.Namespace) -> int:
    from ocikit.registry.push import push_layout
    from ocikit.registry.upload import DEFAULT_CHUNK_SIZE
    from ocikit.registry.upload_journal import UploadJournal

    summary = push_layout(
        args.layout,
        args.dest,
        insecure_registries=args.insecure_registry,
        jobs=max(1, args.jobs),
        progress=_progress(args),
        mounts_from=args.mount_from,
        chunk_size=args.chunk_size if args.chunk_size and args.chunk_size > 0 else DEFAULT_CHUNK_SIZE,
        journal=UploadJournal(args.resume_dir) if args.resume_dir else None,
    )
    write_record(args.record, summary.to_json())
    print(summary.format_text())
    return 0


def _promote(args: argparse.Namespace) -> int:
    from ocikit.registry.promote import promote_image
    from ocikit.registry.push import PushSession
    from ocikit.registry.upload_journal import UploadJournal

    with PushSession(
        insecure_registries=args.insecure_registry,
        jobs=max(1, args.jobs),
        progress=_progress(args),
        journal=UploadJournal(args.resume_dir) if args.resume_dir else None,
    ) as session:
        summary = promote_image(session, args.source, args.dest)
    write_record(args.record, summary.to_json())
    print(summary.format_text())
    return 0


def _pull(args: argparse.Namespace) -> int:
    from ocikit.contracts.pull import PullCommand
    from ocikit.registry.pull import pull_image

    pull = PullCommand.from_args(args)
    result = pull_image(
        pull.reference,
        list(pull.platforms),
        pull.out,
        insecure_registries=pull.insecure_registries,
        jobs=max(1, args.jobs),
        progress=_progress(args),
    )
    write_record(args.record, result.to_json())
    print(result.format_text())
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from ocikit.registry.inspect import inspect_image

    raw, description = inspect_image(args.reference, platform=args.platform, insecure_registries=args.insecure_registry)
    if args.raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
    else:
        print(json.dumps(description, indent=2, sort_keys=True))
    return 0


def _lock(args: argparse.Namespace) -> int:
    from ocikit.contracts.lockfile import LockCommand, TrackedImages
    from ocikit.lockfile import BaseImageLock, format_lockfile, lock_key, parse_lockfile
    from ocikit.reference import parse_reference
    from ocikit.registry.lockfile_refresh import RegistryImages, refresh_lock

    lock = LockCommand.from_args(args)
    hint = f"Fix it, or delete it and run `{lock.regenerate_command}`."
    old = BaseImageLock()
    if lock.lockfile and os.path.exists(lock.lockfile):
        with open(lock.lockfile, "rb") as f:
            old = parse_lockfile(f.read(), lock.lockfile, hint)
    tracked = [
        dataclasses.replace(t, reference=lock_key(parse_reference(t.reference)))
        for t in TrackedImages.read(lock.tracked).images
    ]
    images = RegistryImages(lock.insecure_registries)
    try:
        # No --only refreshes every entry (a command line cannot name an empty list).
        result = refresh_lock(old, tracked, images, list(lock.only) or None)
    finally:
        images.close()
    for warning in result.warnings:
        sys.stderr.write(f"ocikit lock: warning: {scrub(warning)}\n")
    write_file(lock.out, format_lockfile(result.lock, lock.regenerate_command))
    for change in result.changes:
        print(change.format_text())
    return 0
