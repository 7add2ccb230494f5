"""The base-image lockfile: stable bytes written, read back exactly, hand edits refused with
the file, line and key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocikit import media_types
from ocikit.lockfile import (
    MAX_LOCKFILE_BYTES,
    BaseImageLock,
    LockEntry,
    LockfileError,
    check_platform_manifests,
    format_lockfile,
    lock_key,
    new_lock,
    parse_lockfile,
)
from ocikit.reference import InvalidReference, parse_reference

A, B, C = ("sha256:" + c * 64 for c in "abc")
COMMAND = "pants generate-lockfiles --resolve=oci-base-images"

INDEX_ENTRY = LockEntry(
    "registry.example.com/base/debian:12",
    A,
    media_types.OCI_INDEX,
    (("linux/arm64/v8", C), ("linux/amd64", B)),
)
MANIFEST_ENTRY = LockEntry("docker.io/library/busybox:1.36", C, media_types.DOCKER_MANIFEST, (("linux/amd64", C),))

GOLDEN = f"""\
# Base images of `oci_pull` targets that name a tag without a digest, each pinned to
# the digest the tag named when this file was generated. Builds read only this file
# (no registry is asked what a tag names). Generated: review it like code, do not edit.
# Regenerate: {COMMAND}
version: 1
images:
  "docker.io/library/busybox:1.36":
    digest: "{C}"
    mediaType: "application/vnd.docker.distribution.manifest.v2+json"
    platforms:
      "linux/amd64": "{C}"
  "registry.example.com/base/debian:12":
    digest: "{A}"
    mediaType: "application/vnd.oci.image.index.v1+json"
    platforms:
      "linux/amd64": "{B}"
      "linux/arm64/v8": "{C}"
"""


def test_written_bytes_are_sorted_and_stable_whatever_the_order_given() -> None:
    one = format_lockfile(BaseImageLock((INDEX_ENTRY, MANIFEST_ENTRY)), COMMAND)
    other = format_lockfile(new_lock([MANIFEST_ENTRY, INDEX_ENTRY]), COMMAND)
    assert one == other == GOLDEN.encode()


def test_read_back_gives_the_same_entries() -> None:
    lock = parse_lockfile(GOLDEN.encode(), "base.lock.yaml")
    assert lock.entries == new_lock([INDEX_ENTRY, MANIFEST_ENTRY]).entries
    assert lock.path == "base.lock.yaml"
    assert format_lockfile(lock, COMMAND).decode() == GOLDEN


def test_an_empty_lock_round_trips() -> None:
    text = format_lockfile(BaseImageLock(), COMMAND)
    assert text.endswith(b"version: 1\nimages: {}\n")
    assert parse_lockfile(text, "x").entries == ()


def test_lookup_normalises_references_as_docker_does() -> None:
    lock = parse_lockfile(GOLDEN, "x")
    assert lock.get(parse_reference("busybox:1.36")) == MANIFEST_ENTRY
    assert lock.get(parse_reference("docker.io/library/busybox:1.36@" + A)) == MANIFEST_ENTRY
    assert lock.get(parse_reference("busybox:1.37")) is None
    assert str(MANIFEST_ENTRY.pinned()) == f"docker.io/library/busybox:1.36@{C}"
    assert lock_key(parse_reference("localhost:5000/a/b:v1")) == "localhost:5000/a/b:v1"
    with pytest.raises(InvalidReference, match="has no tag"):
        lock_key(parse_reference("registry.example.com/a@" + A))


def test_platform_manifests_are_checked_against_what_was_pulled() -> None:
    assert check_platform_manifests(INDEX_ENTRY, {"linux/amd64": B, "linux/arm64/v8": C}) is None
    assert check_platform_manifests(INDEX_ENTRY, {"linux/s390x": A}) is None  # not recorded
    differs = check_platform_manifests(INDEX_ENTRY, {"linux/amd64": A})
    assert differs == f"linux/amd64: the lockfile says {B}, {A} holds {A}"


def _replace(old: str, new: str) -> str:
    assert old in GOLDEN
    return GOLDEN.replace(old, new, 1)


# (lockfile text, line, what the message must also say)
BAD = {
    "unknown key": (
        _replace('    mediaType: "application/vnd.docker', '    mediatype: "application/vnd.docker'),
        9,
        "images['docker.io/library/busybox:1.36']: unknown key 'mediatype'",
    ),
    "missing key": (
        _replace(f'    digest: "{A}"\n', ""),
        12,
        "images['registry.example.com/base/debian:12']: missing key 'digest'",
    ),
    "bad digest": (
        _replace(f'digest: "{A}"', 'digest: "sha256:1234"'),
        13,
        "images['registry.example.com/base/debian:12'].digest: 'sha256:1234' is not a digest",
    ),
    "digest of another type": (_replace(f'digest: "{A}"', "digest: 12"), 13, ".digest: expected a digest"),
    "media type": (
        _replace('"application/vnd.oci.image.index.v1+json"', '"text/plain"'),
        14,
        ".mediaType: 'text/plain' is not one of",
    ),
    "platform": (_replace('"linux/arm64/v8":', '"linux":'), 17, ".platforms['linux']: invalid platform 'linux'"),
    "platform digest": (
        _replace(f'"linux/arm64/v8": "{C}"', '"linux/arm64/v8": "sha256:zz"'),
        17,
        ".platforms['linux/arm64/v8']: 'sha256:zz' is not a digest",
    ),
    "single manifest platform": (
        _replace(f'"linux/amd64": "{C}"', f'"linux/amd64": "{A}"'),
        11,
        "a single manifest's platform must name the manifest itself",
    ),
    "same key twice": (
        GOLDEN + GOLDEN[GOLDEN.index('  "registry') :],
        18,
        "the key 'registry.example.com/base/debian:12' is given twice (first on line 12)",
    ),
    "two spellings of one image": (
        _replace('"docker.io/library/busybox:1.36":', '"busybox:1.36":')
        + GOLDEN[GOLDEN.index('  "docker') : GOLDEN.index('  "registry')],
        18,
        "names the same image as line 7 (docker.io/library/busybox:1.36)",
    ),
    "tag missing": (
        _replace('"docker.io/library/busybox:1.36":', '"docker.io/library/busybox":'),
        7,
        "not an image reference with a tag",
    ),
    "digest in key": (
        _replace('"docker.io/library/busybox:1.36":', f'"docker.io/library/busybox:1.36@{A}":'),
        7,
        "a tracked reference has a tag and no digest",
    ),
    "not a reference": (
        _replace('"docker.io/library/busybox:1.36":', '"Not A/Reference:1":'),
        7,
        "not an image reference with a tag",
    ),
    "version": (_replace("version: 1", "version: 2"), 5, "version: expected 1, got '2'"),
    "version as a string": (_replace("version: 1", 'version: "1"'), 5, "version: expected 1"),
    "unknown top-level key": (GOLDEN + "extra: true\n", 18, "unknown key 'extra'; expected exactly version, images"),
    "images as a list": ("version: 1\nimages: [1]\n", 2, "images: expected a mapping of image references"),
    "not YAML": (_replace("version: 1", "version: [1"), 6, "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_hand_edited_lockfile_names_the_file_line_and_key(case: str) -> None:
    text, line, message = BAD[case]
    with pytest.raises(LockfileError) as error:
        parse_lockfile(text.encode(), "3rdparty/oci/base.lock.yaml", "Regenerate it: CMD.")
    assert str(error.value).startswith(f"3rdparty/oci/base.lock.yaml:{line}:"), str(error.value)
    assert message in str(error.value)
    assert str(error.value).endswith("Regenerate it: CMD.")


def test_empty_oversized_and_undecodable_lockfiles_are_refused() -> None:
    with pytest.raises(LockfileError, match=r"^x: the file is empty"):
        parse_lockfile(b"# only a comment\n", "x")
    with pytest.raises(LockfileError, match=r"^x: \d+ bytes is larger than a lockfile can be"):
        parse_lockfile(b"#" * (MAX_LOCKFILE_BYTES + 1), "x")
    with pytest.raises(LockfileError, match=r"^x: not UTF-8"):
        parse_lockfile(b"version: 1\nimages: {}\n\xff", "x")


_digests = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
_platforms = st.sampled_from(["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64", "linux/s390x"])
_component = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_references = st.builds(
    lambda host, parts, tag: f"{host}/{'/'.join(parts)}:{tag}",
    st.sampled_from(["registry.example.com", "127.0.0.1:5000", "[::1]:5000", "docker.io"]),
    st.lists(_component, min_size=1, max_size=3),
    st.sampled_from(["1", "1.10", "on", "latest", "v2.0.0-rc_1", "null", "3.12-slim"]),
)


@st.composite
def _entries(draw):
    reference = lock_key(parse_reference(draw(_references)))
    digest = draw(_digests)
    if draw(st.booleans()):
        platforms = draw(st.dictionaries(_platforms, _digests, max_size=4))
        return LockEntry(reference, digest, media_types.OCI_INDEX, tuple(platforms.items()))
    return LockEntry(reference, digest, media_types.OCI_MANIFEST, ((draw(_platforms), digest),))


@settings(max_examples=200, deadline=None)
@given(st.lists(_entries(), max_size=6, unique_by=lambda e: e.reference))
def test_any_lock_round_trips_byte_for_byte(entries) -> None:
    text = format_lockfile(new_lock(entries), COMMAND)
    lock = parse_lockfile(text, "x")
    assert lock.entries == new_lock(entries).entries
    assert format_lockfile(lock, COMMAND) == text
