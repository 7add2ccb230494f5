"""The base-image lockfile: each tracked tag pinned to a digest, in YAML reviewed like code.

    # ... a header saying how to regenerate it ...
    version: 1
    images:
      "registry.example.com/base/debian:12":
        digest: "sha256:..."                   # what the tag named: an index or a manifest
        mediaType: "application/vnd.oci.image.index.v1+json"
        platforms:                             # the manifest each platform built on it uses
          "linux/amd64": "sha256:..."

`format_lockfile` writes stable bytes (entries and platforms sorted, one layout, no
timestamps); `parse_lockfile` reads them back, and refuses anything else with the file, line
and key at fault, since a hand edit must never pass silently. Pure: the registry side is in
`ocikit.registry.lockfile_refresh`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from ocikit import media_types
from ocikit.digest import is_digest
from ocikit.errors import OcikitError
from ocikit.image import Platform, PlatformError
from ocikit.reference import InvalidReference, Reference, parse_reference

LOCKFILE_VERSION = 1
# A lockfile is a few lines per base image; anything near this is not one.
MAX_LOCKFILE_BYTES = 1 << 20

_ENTRY_KEYS = ("digest", "mediaType", "platforms")
_TOP_TYPES = media_types.MANIFEST_TYPES + media_types.INDEX_TYPES
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


class LockfileError(OcikitError, ValueError):
    """A lockfile that cannot be read: the message names the file, line and key."""


@dataclass(frozen=True)
class LockEntry:
    """One tracked tag: what it named when the lockfile was last refreshed."""

    reference: str  # registry/repository:tag, normalised (see `lock_key`)
    digest: str
    media_type: str
    platforms: tuple[tuple[str, str], ...] = ()  # (platform, manifest digest), sorted

    @property
    def is_index(self) -> bool:
        return self.media_type in media_types.INDEX_TYPES

    def pinned(self) -> Reference:
        """The reference with the locked digest: `registry/repository:tag@sha256:...`."""
        return parse_reference(self.reference).with_digest(self.digest)


@dataclass(frozen=True)
class BaseImageLock:
    entries: tuple[LockEntry, ...] = ()  # sorted by reference
    path: str = ""  # where it was read from, for messages

    def get(self, reference: Reference) -> Optional[LockEntry]:
        key = lock_key(reference)
        return next((e for e in self.entries if e.reference == key), None)

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(e.reference for e in self.entries)


def lock_key(reference: Reference) -> str:
    """How a reference is written in the lockfile: normalised as docker reads it
    (`busybox:1.36` -> `docker.io/library/busybox:1.36`), with its tag and no digest."""
    if not reference.tag:
        raise InvalidReference(f"{reference} has no tag: the lockfile tracks tags (add e.g. ':latest')")
    return str(Reference(reference.registry, reference.repository, reference.tag))


def new_lock(entries: Iterable[LockEntry]) -> BaseImageLock:
    """A lock of `entries` in the lockfile's order (by reference, platforms sorted)."""
    normalised = [LockEntry(e.reference, e.digest, e.media_type, tuple(sorted(e.platforms))) for e in entries]
    return BaseImageLock(tuple(sorted(normalised, key=lambda e: e.reference)))


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------


def format_lockfile(lock: BaseImageLock, regenerate_command: str) -> bytes:
    """The lockfile's bytes: a header naming `regenerate_command`, then the entries sorted.

    Every string is a JSON string, which is also a YAML double-quoted scalar: no value can be
    read back as another type (a tag `1.10` as a float, `on` as a boolean)."""
    q = json.dumps
    lines = [
        "# Base images of `oci_pull` targets that name a tag without a digest, each pinned to",
        "# the digest the tag named when this file was generated. Builds read only this file",
        "# (no registry is asked what a tag names). Generated: review it like code, do not edit.",
        f"# Regenerate: {regenerate_command}",
        f"version: {LOCKFILE_VERSION}",
    ]
    entries = new_lock(lock.entries).entries
    if not entries:
        lines.append("images: {}")
    else:
        lines.append("images:")
    for entry in entries:
        lines += [
            f"  {q(entry.reference)}:",
            f"    digest: {q(entry.digest)}",
            f"    mediaType: {q(entry.media_type)}",
        ]
        if not entry.platforms:
            lines.append("    platforms: {}")
            continue
        lines.append("    platforms:")
        lines += [f"      {q(platform)}: {q(digest)}" for platform, digest in entry.platforms]
    return ("\n".join(lines) + "\n").encode("ascii")


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockReader:
    """Reads a lockfile's YAML nodes, failing with the file, line and key at fault (shared by
    every lockfile: base images here, Debian packages in `ocikit.debian.lockfile`)."""

    path: str
    hint: str  # what to do about a broken lockfile

    def fail(self, node: Optional[yaml.Node], where: str, problem: str) -> LockfileError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        place = f" {where}:" if where else ""
        return LockfileError(f"{self.path}{line}:{place} {problem}. {self.hint}")

    def mapping(self, node: yaml.Node, where: str, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) pairs of a mapping with string keys, no key twice."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, f"expected {what}")
        pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
        keys: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                raise self.fail(key_node, where, f"expected string keys in {what}")
            if key_node.value in keys:
                raise self.fail(
                    key_node, where, f"the key {key_node.value!r} is given twice (first on line {keys[key_node.value]})"
                )
            keys[key_node.value] = key_node.start_mark.line + 1
            pairs.append((key_node.value, key_node, value_node))
        return pairs

    def string(self, node: yaml.Node, where: str, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
            raise self.fail(node, where, f"expected {what}")
        return node.value

    def exact_keys(
        self, pairs: Sequence[tuple[str, Any, Any]], node: Optional[yaml.Node], where: str, expected: Sequence[str]
    ) -> dict:
        """The values of a mapping that has exactly the `expected` keys; a missing key is
        reported on `node`'s line (the mapping's own key, where it has one)."""
        found = {key: value for key, _, value in pairs}
        unknown = [key for key in found if key not in expected]
        if unknown:
            key_node = next(k for key, k, _ in pairs if key == unknown[0])
            raise self.fail(key_node, where, f"unknown key {unknown[0]!r}; expected exactly {', '.join(expected)}")
        missing = [key for key in expected if key not in found]
        if missing:
            raise self.fail(node, where, f"missing key {missing[0]!r}; expected exactly {', '.join(expected)}")
        return found


def load_document(text: str | bytes, path: str, hint: str, items: str) -> tuple[LockReader, dict]:
    """The top-level values of a lockfile holding exactly `version` (LOCKFILE_VERSION) and
    `items`, and the reader that reports its faults."""
    reader = LockReader(path, hint or "Regenerate the lockfile.")
    if len(text) > MAX_LOCKFILE_BYTES:
        raise reader.fail(None, "", f"{len(text)} bytes is larger than a lockfile can be ({MAX_LOCKFILE_BYTES})")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise reader.fail(None, "", f"not UTF-8 ({e})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise LockfileError(f"{path}{line}: not valid YAML ({problem}). {reader.hint}") from None
    if root is None:
        raise reader.fail(None, "", f"the file is empty; expected `version` and `{items}`")
    top = reader.exact_keys(reader.mapping(root, "", "a mapping"), root, "", ("version", items))
    version = top["version"]
    if not (
        isinstance(version, yaml.ScalarNode) and version.tag == _INT_TAG and version.value == str(LOCKFILE_VERSION)
    ):
        raise reader.fail(
            version, "version", f"expected {LOCKFILE_VERSION}, got {getattr(version, 'value', version)!r}"
        )
    return reader, top


def parse_lockfile(text: str | bytes, path: str, hint: str = "") -> BaseImageLock:
    """Read a lockfile `format_lockfile` wrote. A LockfileError names `path`, the line and the
    key at fault, then `hint` (how to regenerate it)."""
    reader, top = load_document(text, path, hint, "images")
    entries = []
    by_key: dict[str, int] = {}
    for key, key_node, value in reader.mapping(top["images"], "images", "a mapping of image references"):
        where = f"images[{key!r}]"
        try:
            reference = lock_key(parse_reference(key))
        except InvalidReference as e:
            raise reader.fail(key_node, where, f"not an image reference with a tag: {e}") from None
        if parse_reference(key).digest:
            raise reader.fail(key_node, where, "a tracked reference has a tag and no digest")
        if reference in by_key:
            raise reader.fail(key_node, where, f"names the same image as line {by_key[reference]} ({reference})")
        by_key[reference] = key_node.start_mark.line + 1
        entries.append(_entry(reader, reference, key_node, value, where))
    return BaseImageLock(tuple(sorted(entries, key=lambda e: e.reference)), path)


def _entry(reader: LockReader, reference: str, key_node: yaml.Node, node: yaml.Node, where: str) -> LockEntry:
    fields = reader.exact_keys(reader.mapping(node, where, "a mapping"), key_node, where, _ENTRY_KEYS)
    digest = reader.string(fields["digest"], f"{where}.digest", "a digest 'sha256:<64 hex>'")
    if not is_digest(digest):
        raise reader.fail(fields["digest"], f"{where}.digest", f"{digest!r} is not a digest 'sha256:<64 hex>'")
    media_type = reader.string(fields["mediaType"], f"{where}.mediaType", "a media type")
    if media_type not in _TOP_TYPES:
        raise reader.fail(
            fields["mediaType"], f"{where}.mediaType", f"{media_type!r} is not one of {', '.join(_TOP_TYPES)}"
        )
    platforms = []
    for platform, key_node, value in reader.mapping(
        fields["platforms"], f"{where}.platforms", "a mapping of platform to manifest digest"
    ):
        place = f"{where}.platforms[{platform!r}]"
        try:
            Platform.parse(platform)
        except PlatformError as e:
            raise reader.fail(key_node, place, str(e)) from None
        manifest = reader.string(value, place, "a digest 'sha256:<64 hex>'")
        if not is_digest(manifest):
            raise reader.fail(value, place, f"{manifest!r} is not a digest 'sha256:<64 hex>'")
        if media_type not in media_types.INDEX_TYPES and manifest != digest:
            raise reader.fail(value, place, f"a single manifest's platform must name the manifest itself ({digest})")
        platforms.append((platform, manifest))
    return LockEntry(reference, digest, media_type, tuple(sorted(platforms)))


def check_platform_manifests(entry: LockEntry, pulled: Mapping[str, str]) -> Optional[str]:
    """None when every pulled `{platform: manifest digest}` the entry records agrees with it,
    else what differs (the entry was edited by hand: the pull, keyed by the entry's digest, is
    the truth)."""
    recorded = dict(entry.platforms)
    wrong = [
        f"{platform}: the lockfile says {recorded[platform]}, {entry.digest} holds {digest}"
        for platform, digest in sorted(pulled.items())
        if platform in recorded and recorded[platform] != digest
    ]
    return "; ".join(wrong) or None
