"""`python -m ocikit run`: load an OCI image layout into podman's or docker's image store under
its repository:tag, then run it there, streaming its output and ending with its exit status.

    python -m ocikit run --runtime /usr/bin/podman --layout DIR --name team/web:latest \\
        --what //app:web [--run-arg=--ulimit --run-arg=nofile=1024:1024 ...] [--load-only] \\
        [--] [ARGS...]

(What Pants passes: ocikit.contracts.run.RunCommand.) ARGS go to the container (after its
entrypoint, replacing its cmd). The layout goes to
`RUNTIME load` as a tar stream (an oci-archive: podman, and docker 25+, read it and pick this
machine's platform from an index), then is tagged `--name` (`podman pull oci:DIR`, or `podman
load` of the directory, would name it after the directory). The container runs with `--rm`,
`-i` and, when this terminal is one, `-t`. A runtime that cannot load the image
or start the container (status 125, 126 or 127) gets a line naming the target and the
`[oci].run_args` option after its own message.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
from typing import List, Optional, Sequence

from ocikit.contracts.run import RunCommand
from ocikit.errors import OcikitError
from ocikit.media_types import REF_NAME

PROG = "ocikit run"

# What podman and docker exit with when the container did not start (docker-run(1)).
START_FAILURES = {
    125: "the runtime itself failed",
    126: "the container's command could not be started",
    127: "the container's command was not found",
}


class RunError(OcikitError):
    pass


def runtime_kind(runtime: str) -> str:
    name = os.path.basename(runtime)
    for kind in ("podman", "docker"):
        if name.startswith(kind):
            return kind
    raise RunError(f"unknown container runtime {runtime!r}: expected podman or docker")


def _capture(argv: Sequence[str], what: str) -> str:
    result = subprocess.run(list(argv), capture_output=True)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() or f"exit status {result.returncode}"
        raise RunError(f"`{' '.join(argv[:2])}` failed while loading the image of {what}: {detail}")
    return result.stdout.decode(errors="replace").strip()


def one_image_index(index: dict, tag: Optional[str]) -> dict:
    """The layout's index.json with only the entry `tag` names (its first entry without a tag):
    podman refuses an archive whose index names several images, even one image under two tags."""
    entries = index.get("manifests", [])
    chosen = [e for e in entries if e.get("annotations", {}).get(REF_NAME) == tag] or entries[:1]
    return {**index, "manifests": chosen[:1]}


def write_layout_tar(layout: str, out, tag: Optional[str]) -> None:
    """Stream the layout as a tar (an oci-archive) of the image `tag` names, sorted so it is
    the same every time."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for directory, dirs, files in os.walk(layout):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(directory, name)
                arcname = os.path.relpath(path, layout)
                if arcname != "index.json":
                    tar.add(path, arcname=arcname, recursive=False)
                    continue
                with open(path, "rb") as f:
                    data = json.dumps(one_image_index(json.load(f), tag)).encode()
                info = tarfile.TarInfo(arcname)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))


def _load(runtime: str, layout: str, tag: Optional[str], what: str) -> str:
    # Its output goes to files, so it never waits on a full pipe while the tar is written.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        loader = subprocess.Popen([runtime, "load"], stdin=subprocess.PIPE, stdout=out, stderr=err)
        assert loader.stdin is not None
        try:
            with loader.stdin:
                write_layout_tar(layout, loader.stdin, tag)
        except BrokenPipeError:
            pass  # it stopped reading: its status and message say why
        status = loader.wait()
        out.seek(0)
        err.seek(0)
        if status != 0:
            detail = err.read().decode(errors="replace").strip() or f"exit status {status}"
            raise RunError(f"`{runtime} load` failed while loading the image of {what}: {detail}")
        return out.read().decode(errors="replace")


def load(runtime: str, layout: str, name: str, what: str) -> str:
    """Load the layout's image tagged like `name` into the runtime's store (both read it as a
    tar on stdin and name the image from its `io.containerd.image.name` annotation) and name it
    `name`; the image ID."""
    loaded = _load(runtime, layout, name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else None, what)
    match = re.search(r"Loaded image(?:\(s\))?(?: ID)?: ([^\s,]+)", loaded)
    if not match:
        raise RunError(f"`{runtime} load` did not say which image it loaded for {what}: {loaded.strip()!r}")
    _capture([runtime, "tag", match.group(1), name], what)
    return _capture([runtime, "image", "inspect", "--format", "{{.Id}}", name], what).splitlines()[0]


def run_argv(runtime: str, image: str, run_args: Sequence[str], args: Sequence[str], tty: bool) -> List[str]:
    return [runtime, "run", "--rm", "-i", *(["-t"] if tty else []), *run_args, image, *args]


def run_container(argv: Sequence[str]) -> int:
    """Run in the foreground with this process's stdio; signals reach the runtime, which stops
    the container. A status from a signal is 128 + its number, as shells report it."""
    child = subprocess.Popen(list(argv))

    def forward(signum, _frame):
        child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    status = child.wait()
    return 128 - status if status < 0 else status


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Load an OCI layout into podman or docker and run it.")
    RunCommand.add_arguments(p)
    return p


def main(argv: List[str]) -> int:
    options = RunCommand.from_args(_parser().parse_args(argv))
    try:
        image = load(options.runtime, options.layout, options.name, options.what)
    except (RunError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    kind = runtime_kind(options.runtime)
    if options.load_only:
        print(f"{PROG}: loaded {options.what} into {kind} as {options.name}", file=sys.stderr)
        return 0
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    status = run_container(run_argv(options.runtime, image, options.run_args, options.args, tty))
    if status in START_FAILURES:
        print(
            f"{PROG}: {kind} exited with status {status} running {options.what} ({options.name}), which "
            f"it uses when {START_FAILURES[status]}: see its message above. Arguments for "
            f"`{kind} run` go in [oci].run_args (now: {list(options.run_args) or 'none'}); where {kind}'s "
            'defaults are refused, e.g. ["--runtime", "runc", "--ulimit", "nofile=1024:1024"].',
            file=sys.stderr,
        )
    return status
