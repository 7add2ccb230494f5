"""`python -m ocikit image-test --plan PLAN.json`: run the checks of an `oci_image_test`.

File checks read the layout's layers in order (whiteouts remove what lower layers hold), config
checks read the platform's config: neither needs a container runtime. Command checks load the
image into podman or docker as `pants run` does (ocikit.run) and run it once per check. Every
check runs; each line says PASS or FAIL with what was expected and what was found; the exit
status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import pwd
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ocikit.contracts.image_test import CommandCheck, ConfigCheck, FileCheck, ImageTestCommand, ImageTestPlan
from ocikit.errors import OcikitError
from ocikit.layout import read_layout_image
from ocikit.run import RunError, load, run_argv
from ocikit.tar_listing import TarEntry, list_layer, normalize_path, uncompressed
from ocikit.verify import LayoutSource, PlatformManifest, platform_manifests

PROG = "ocikit image-test"
_OPAQUE = ".wh..wh..opq"
_WHITEOUT = ".wh."
_MAX_CONTENT = 16 << 20  # a content regex reads at most this much of a file
_SHOWN = 300  # characters of an output shown in a failure
_TIMEOUT = 600  # seconds a command check may run


class ImageTestError(OcikitError):
    pass


@dataclass(frozen=True)
class Outcome:
    check: str  # "file /bin/sh", "config user", "command `sh -c ...`"
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.check}: {self.detail}"


# -- the image's filesystem -----------------------------------------------------------------


def apply_layer(tree: Dict[str, Tuple[TarEntry, str]], entries: Mapping[str, TarEntry], layer: str) -> None:
    """Apply one layer's entries to `tree` (path -> (entry, the layer blob holding it))."""
    for path in sorted(entries):
        parent, name = posixpath.split(path)
        if name == _OPAQUE:
            for known in [p for p in tree if p.startswith(parent.rstrip("/") + "/")]:
                del tree[known]
        elif name.startswith(_WHITEOUT):
            gone = posixpath.join(parent, name[len(_WHITEOUT) :])
            for known in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                del tree[known]
    for path, entry in entries.items():
        if not posixpath.basename(path).startswith(_WHITEOUT):
            tree[path] = (entry, layer)


def filesystem(source: LayoutSource, manifest: PlatformManifest) -> Dict[str, Tuple[TarEntry, str]]:
    tree: Dict[str, Tuple[TarEntry, str]] = {}
    for layer in manifest.layers:
        with source.layer_file(layer) as path:
            apply_layer(tree, list_layer(path), path)
    return tree


def read_content(layer_path: str, path: str) -> bytes:
    """The content of `path` in a layer blob (its last entry, as extraction keeps)."""
    data = b""
    with open(layer_path, "rb") as raw, tarfile.open(fileobj=uncompressed(raw), mode="r|") as tar:
        for member in tar:
            if normalize_path(member.name) == path:
                content = tar.extractfile(member)
                data = content.read(_MAX_CONTENT) if content else b""
    return data


# -- checks ----------------------------------------------------------------------------------


def check_file(check: FileCheck, tree: Mapping[str, Tuple[TarEntry, str]]) -> Outcome:
    name = f"file {check.path}"
    found = tree.get(normalize_path(check.path))
    if not check.exists:
        return Outcome(
            name,
            found is None,
            "absent, as expected" if found is None else f"expected to be absent, found a {found[0].kind}",
        )
    if found is None:
        return Outcome(name, False, "expected to exist, absent")
    entry, layer = found
    wrong = []
    octal: Callable[[object], str] = lambda m: f"{m:04o}"  # noqa: E731
    checked: Tuple[Tuple[str, object, object, Callable[[object], str]], ...] = (
        ("type", check.type, entry.kind, str),
        ("mode", check.mode, entry.mode, octal),
        ("uid", check.uid, entry.uid, str),
        ("gid", check.gid, entry.gid, str),
    )
    for what, expected, actual, shown in checked:
        if expected is not None and expected != actual:
            wrong.append(f"{what}: expected {shown(expected)}, got {shown(actual)}")
    if check.content is not None:
        wrong.extend(_content_mismatch(check.content, entry, layer))
    described = f"{entry.kind}, mode {entry.mode:04o}, owner {entry.uid}:{entry.gid}"
    return Outcome(name, not wrong, "; ".join(wrong) if wrong else described)


def _content_mismatch(pattern: str, entry: TarEntry, layer: str) -> List[str]:
    if entry.kind != "file":
        return [f"content: expected a file to match {pattern!r}, got a {entry.kind}"]
    text = read_content(layer, entry.path).decode("utf-8", "replace")
    if re.search(pattern, text, re.MULTILINE):
        return []
    return [f"content: expected to match {pattern!r}, got {_shorten(text)!r}"]


def check_config(check: ConfigCheck, config: Mapping) -> List[Outcome]:
    inner = config.get("config") or {}
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in inner.get("Env") or [])
    labels = inner.get("Labels") or {}
    outcomes: List[Outcome] = []
    for name, expected, actual in (
        ("entrypoint", check.entrypoint, tuple(inner.get("Entrypoint") or ())),
        ("cmd", check.cmd, tuple(inner.get("Cmd") or ())),
        ("user", check.user, inner.get("User") or ""),
        ("workdir", check.workdir, inner.get("WorkingDir") or ""),
    ):
        if expected is not None:
            want, got = (list(v) if isinstance(v, tuple) else v for v in (expected, actual))
            outcomes.append(Outcome(f"config {name}", want == got, f"expected {want!r}, got {got!r}"))
    for kind, expected_pairs, actual_pairs in (("env", check.env, env), ("labels", check.labels, labels)):
        for key, value in sorted(expected_pairs.items()):
            got = actual_pairs.get(key)
            outcomes.append(
                Outcome(
                    f"config {kind} {key}",
                    got == value,
                    f"expected {value!r}, got {got!r}" if got is not None else f"expected {value!r}, not set",
                )
            )
    return outcomes


def check_command(check: CommandCheck, plan: ImageTestPlan, image: Optional[str]) -> Outcome:
    name = f"command `{' '.join([*(check.entrypoint or ()), *check.args])}`"
    if plan.runtime is None or image is None:
        return Outcome(name, False, plan.runtime_missing or "no container runtime")
    entrypoint = ["--entrypoint", _json_list(check.entrypoint)] if check.entrypoint is not None else []
    argv = run_argv(plan.runtime, image, [*plan.run_args, *entrypoint], check.args, tty=False)
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Outcome(name, False, f"did not finish in {_TIMEOUT} s")
    stdout, stderr = (result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace"))
    wrong = []
    if result.returncode != check.exit_code:
        wrong.append(f"exit status: expected {check.exit_code}, got {result.returncode}")
    for stream, pattern, text in (("stdout", check.stdout, stdout), ("stderr", check.stderr, stderr)):
        if pattern is not None and not re.search(pattern, text, re.MULTILINE):
            wrong.append(f"{stream}: expected to match {pattern!r}, got {_shorten(text)!r}")
    if wrong and result.returncode != check.exit_code and check.stderr is None and stderr.strip():
        wrong.append(f"stderr: {_shorten(stderr)!r}")
    return Outcome(name, not wrong, "; ".join(wrong) if wrong else f"exit status {result.returncode}")


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(items))


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


# -- the run ---------------------------------------------------------------------------------


def choose_manifest(manifests: Sequence[PlatformManifest], platform: str, image: str) -> PlatformManifest:
    if len(manifests) == 1:
        return manifests[0]
    for manifest in manifests:
        if manifest.platform == platform:
            return manifest
    raise ImageTestError(
        f"{image} has no image for {platform} (this machine's containers): it is built for "
        f"{', '.join(m.platform for m in manifests)}"
    )


def loaded_name(plan: ImageTestPlan, digest: str) -> str:
    """The test's own name for the image in the runtime's store: removing it afterwards only
    untags it for a test running at the same time on the same image."""
    test = re.sub(r"[^a-z0-9]+", "-", plan.what.split(" ", 1)[-1].lower()).strip("-") or "test"
    return f"localhost/oci-image-test/{test}:{digest.split(':')[-1][:12]}"


def _loaded(plan: ImageTestPlan, name: str) -> Tuple[Optional[str], str]:
    """The image loaded into the runtime (its ID), or None with why not."""
    if plan.runtime is None or not plan.commands:
        return None, ""
    try:
        return load(plan.runtime, plan.layout, name, plan.image), ""
    except RunError as e:
        return None, str(e)


def run_checks(plan: ImageTestPlan) -> Tuple[str, List[Outcome]]:
    """The header line and every check's outcome."""
    source = LayoutSource(plan.layout)
    digest = read_layout_image(plan.layout).digest
    manifest = choose_manifest(platform_manifests(source, digest), plan.platform, plan.image)
    outcomes: List[Outcome] = []
    if plan.files:
        tree = filesystem(source, manifest)
        outcomes.extend(check_file(check, tree) for check in plan.files)
    if plan.config is not None:
        outcomes.extend(check_config(plan.config, manifest.config))
    name = loaded_name(plan, digest)
    image, load_error = _loaded(plan, name)
    if load_error:
        plan = ImageTestPlan.from_json({**plan.to_json(), "runtime": None, "runtime_missing": load_error})
    outcomes.extend(check_command(check, plan, image) for check in plan.commands)
    if image is not None and plan.runtime is not None:
        subprocess.run([plan.runtime, "rmi", name], capture_output=True)
    return f"{plan.what}: {plan.image} ({manifest.platform}, {digest})", outcomes


def report(header: str, outcomes: Sequence[Outcome]) -> str:
    failed = sum(not o.ok for o in outcomes)
    checks = f"{len(outcomes)} check{'' if len(outcomes) == 1 else 's'}"
    lines = [header, *(o.line() for o in outcomes), f"{checks}, {failed} failed" if failed else f"{checks} passed"]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Run the checks of an image test.")
    ImageTestCommand.add_arguments(p)
    return p


def runtime_environment(env: Mapping[str, str], uid: int) -> Dict[str, str]:
    """What a rootless runtime needs that the test's sandbox does not pass (it would enter the
    cache key): HOME from the password database, the user's runtime directory when it exists."""
    added = {}
    if "HOME" not in env:
        try:
            added["HOME"] = pwd.getpwuid(uid).pw_dir
        except KeyError:
            pass
    runtime_dir = f"/run/user/{uid}"
    if "XDG_RUNTIME_DIR" not in env and uid != 0 and os.path.isdir(runtime_dir):
        added["XDG_RUNTIME_DIR"] = runtime_dir
    return added


def main(argv: List[str]) -> int:
    command = ImageTestCommand.from_args(parser().parse_args(argv))
    os.environ.update(runtime_environment(os.environ, os.getuid()))
    try:
        plan = ImageTestPlan.read(command.plan)
        header, outcomes = run_checks(plan)
    except (OcikitError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(report(header, outcomes))
    return 0 if all(o.ok for o in outcomes) else 1
