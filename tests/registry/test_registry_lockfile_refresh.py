"""Refreshing the base-image lockfile against a real registry: tags resolved to digests (and
the manifests each platform uses), moved tags reported old -> new, partial refreshes, and
tags or digests the registry no longer has."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from registry_images import write_image

from ocikit import media_types
from ocikit.contracts.lockfile import LockCommand, TrackedImage, TrackedImages
from ocikit.lockfile import BaseImageLock, format_lockfile, parse_lockfile
from ocikit.registry import push_layout
from ocikit.registry.lockfile_refresh import RefreshError, RegistryImages, refresh_lock

PLATFORMS = ("linux/amd64", "linux/arm64/v8")
SRC = Path(__file__).resolve().parents[2] / "src" / "python"


def push(registry, repo: str, tag: str, tmp_path: Path, label: str, platforms=PLATFORMS):
    image = write_image(tmp_path / f"src-{label}", platforms=platforms, tags=(tag,), label=label)
    push_layout(str(image.layout), [f"{registry.host}/{repo}:{tag}"])
    return image


def refresh(old: BaseImageLock, tracked, only=None):
    images = RegistryImages()
    try:
        return refresh_lock(old, tracked, images, only)
    finally:
        images.close()


def lines(result) -> list[str]:
    return [change.format_text() for change in result.changes]


def test_a_tag_is_added_then_unchanged_then_moved(registry, docker_config, repo, tmp_path) -> None:
    first = push(registry, repo, "1", tmp_path, f"first {registry.mode}")
    ref = f"{registry.host}/{repo}:1"
    tracked = [TrackedImage(ref, ("linux/arm64", "linux/amd64"), ("//base:img",))]

    added = refresh(BaseImageLock(), tracked)
    [entry] = added.lock.entries
    assert (entry.reference, entry.digest, entry.media_type) == (ref, first.digest, media_types.OCI_INDEX)
    assert entry.platforms == (
        ("linux/amd64", first.manifests["linux/amd64"]),
        ("linux/arm64/v8", first.manifests["linux/arm64/v8"]),
    )
    assert lines(added) == [f"added     {ref}  (none) -> {first.digest}"]
    text = format_lockfile(added.lock, "CMD")

    again = refresh(parse_lockfile(text, "x"), tracked)
    assert lines(again) == [f"unchanged {ref}  {first.digest}"]
    assert format_lockfile(again.lock, "CMD") == text, "a tag that did not move changes no byte"

    second = push(registry, repo, "1", tmp_path, f"second {registry.mode}")
    moved = refresh(again.lock, tracked)
    assert lines(moved) == [f"updated   {ref}  {first.digest} -> {second.digest}"]
    assert moved.lock.entries[0].platforms[0] == ("linux/amd64", second.manifests["linux/amd64"])
    assert moved.warnings == ()


def test_only_the_named_entries_are_refreshed(plain_registry, repo, tmp_path, auth_env) -> None:
    a, b, new, gone = (f"{plain_registry.host}/{repo}/{name}:v" for name in ("a", "b", "new", "unused"))
    old_a = push(plain_registry, f"{repo}/a", "v", tmp_path, "a1")
    old_b = push(plain_registry, f"{repo}/b", "v", tmp_path, "b1")
    unused = push(plain_registry, f"{repo}/unused", "v", tmp_path, "u1")
    lock = refresh(BaseImageLock(), [TrackedImage(r, ("linux/amd64",)) for r in (a, b, gone)]).lock
    new_a = push(plain_registry, f"{repo}/a", "v", tmp_path, "a2")
    push(plain_registry, f"{repo}/b", "v", tmp_path, "b2")
    fresh = push(plain_registry, f"{repo}/new", "v", tmp_path, "n1")

    result = refresh(
        lock,
        [TrackedImage(a, ("linux/amd64",)), TrackedImage(b, ("linux/amd64",)), TrackedImage(new, ("linux/amd64",))],
        only=[a],
    )
    assert lines(result) == [
        f"updated   {a}  {old_a.digest} -> {new_a.digest}",
        f"unchanged {b}  {old_b.digest} (not refreshed)",
        f"added     {new}  (none) -> {fresh.digest}",
        f"removed   {gone}  {unused.digest} -> (removed) (no oci_pull tracks it)",
    ]
    assert [e.digest for e in result.lock.entries] == [new_a.digest, old_b.digest, fresh.digest]

    with pytest.raises(
        RefreshError, match=rf"asked to refresh {plain_registry.host}/{repo}/c:v, which no oci_pull tracks"
    ):
        refresh(lock, [TrackedImage(a)], only=[f"{plain_registry.host}/{repo}/c:v"])


def test_a_kept_entry_reads_new_platforms_from_its_digest_never_from_the_moved_tag(
    plain_registry, repo, tmp_path, auth_env
) -> None:
    ref = f"{plain_registry.host}/{repo}:v"
    old = push(plain_registry, repo, "v", tmp_path, "old")
    lock = refresh(BaseImageLock(), [TrackedImage(ref, ("linux/amd64",))]).lock
    push(plain_registry, repo, "v", tmp_path, "new")
    result = refresh(lock, [TrackedImage(ref, PLATFORMS)], only=[])
    [entry] = result.lock.entries
    assert entry.digest == old.digest
    assert dict(entry.platforms) == old.manifests


def test_a_single_manifest_records_its_own_platform_and_warns_for_missing_ones(
    plain_registry, repo, tmp_path, auth_env
) -> None:
    image = push(plain_registry, repo, "s", tmp_path, "single", platforms=("linux/amd64",))
    ref = f"{plain_registry.host}/{repo}:s"
    result = refresh(BaseImageLock(), [TrackedImage(ref, ("linux/amd64", "linux/arm64"))])
    [entry] = result.lock.entries
    assert (entry.media_type, entry.platforms) == (media_types.OCI_MANIFEST, (("linux/amd64", image.digest),))
    assert result.warnings == (
        f"{ref}: {plain_registry.host}/{repo}@{image.digest} is a single linux/amd64 image, not linux/arm64",
    )


def _delete_manifest(registry, repo: str, digest: str) -> None:
    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{digest}", method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()


def test_a_tag_the_registry_lost_keeps_its_entry_and_says_whether_the_digest_is_still_there(
    new_registry, repo, tmp_path, auth_env
) -> None:
    registry = new_registry("none")
    kept_ref, lost_ref = f"{registry.host}/{repo}/kept:v", f"{registry.host}/{repo}/lost:v"
    kept = push(registry, f"{repo}/kept", "v", tmp_path, "kept")
    lost = push(registry, f"{repo}/lost", "v", tmp_path, "lost")
    tracked = [
        TrackedImage(kept_ref, ("linux/amd64",), ("//k:k",)),
        TrackedImage(lost_ref, ("linux/amd64",), ("//l:l",)),
    ]
    lock = refresh(BaseImageLock(), tracked).lock
    # Distribution's API deletes a tag only with its manifest; some registries delete tags
    # alone. Remove the tag from the registry's storage to get there.
    shutil.rmtree(registry.root / "data/docker/registry/v2/repositories" / repo / "kept/_manifests/tags/v")
    _delete_manifest(registry, f"{repo}/lost", lost.digest)

    result = refresh(lock, tracked)
    assert result.lock == lock
    assert lines(result) == [
        f"kept      {kept_ref}  {kept.digest} (the registry no longer has the tag; it still has {kept.digest})",
        f"kept      {lost_ref}  {lost.digest} (the registry has neither the tag nor {lost.digest}: builds "
        "that are not cached will fail to pull it; point the oci_pull at a tag that exists)",
    ]
    assert len(result.warnings) == 2
    assert result.warnings[1].startswith(f"{lost_ref} (used by //l:l): the registry has neither")
    assert result.warnings[1].endswith("; keeping the old entry")

    with pytest.raises(
        RefreshError, match=rf"{registry.host}/{repo}/lost:v \(used by //l:l\): the registry has no such tag"
    ):
        refresh(BaseImageLock(), tracked[1:])


def _ocikit_lock(tmp_path: Path, command: LockCommand) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "ocikit", *command.to_argv()],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_the_lock_command_writes_the_lockfile_or_nothing(plain_registry, repo, tmp_path, auth_env) -> None:
    image = push(plain_registry, repo, "c", tmp_path, "cli")
    ref = f"{plain_registry.host}/{repo}:c"
    tracked = tmp_path / "tracked.json"
    tracked.write_bytes(TrackedImages((TrackedImage(ref, ("linux/amd64",), ("//a:b",)),)).dumps())
    lockfile = tmp_path / "base.lock.yaml"
    command = LockCommand(str(tracked), out=str(lockfile), lockfile=str(lockfile))
    run = _ocikit_lock(
        tmp_path, replace(command, regenerate_command="pants generate-lockfiles --resolve=oci-base-images")
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"added     {ref}  (none) -> {image.digest}\n"
    text = lockfile.read_bytes()
    assert b"# Regenerate: pants generate-lockfiles --resolve=oci-base-images\n" in text
    assert parse_lockfile(text, "x").entries[0].digest == image.digest

    tracked.write_bytes(TrackedImages((TrackedImage(f"{ref}x", (), ("//a:b",)),)).dumps())
    failed = _ocikit_lock(tmp_path, command)
    assert failed.returncode == 1
    assert failed.stderr == (
        f"ocikit lock: error: {ref}x (used by //a:b): the registry has no such tag; check the reference\n"
    )
    assert lockfile.read_bytes() == text, "a failed refresh leaves the lockfile as it was"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("base.lock")) == ["base.lock.yaml"]

    lockfile.write_text(text.decode().replace("version: 1", "version: 7"))
    broken = _ocikit_lock(tmp_path, command)
    assert broken.returncode == 1
    assert f"{lockfile}:5: version: expected 1, got '7'. Fix it, or delete it and run" in broken.stderr
