"""Base images pinned by the lockfile: which `oci_pull` tags it tracks, with the platforms built
on them, and the digest a build uses for one. Pure functions, tested directly; the rules that
read and regenerate the lockfile are in `util_rules/base_lockfile.py` and `goals/lockfile.py`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional, Sequence

from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException
from pants.util.docutil import bin_name

from ocikit.contracts.lockfile import TrackedImage
from ocikit.lockfile import BaseImageLock, lock_key
from ocikit.reference import Reference

BASE_IMAGE_RESOLVE = "oci-base-images"


def regenerate_command(custom_command: Optional[str] = None) -> str:
    """What the lockfile's header and errors tell users to run (`[generate-lockfiles].custom_command`
    when set, as for Python lockfiles)."""
    return custom_command or f"{bin_name()} generate-lockfiles --resolve={BASE_IMAGE_RESOLVE}"


def pin_pull_reference(field: Any, reference: Reference, lock: BaseImageLock, command: str) -> Reference:
    """The reference a build pulls: a digest in the field wins; a tag alone takes the lockfile's
    digest, or fails naming `field` (a FieldName) and `command`."""
    if reference.digest:
        return reference
    entry = lock.get(reference)
    if entry is None:
        where = (
            f"the base-image lockfile {lock.path}"
            if lock.path
            else "the base-image lockfile (`[oci].base_image_lockfile`)"
        )
        raise InvalidFieldException(
            f"The `{field.alias}` field in target {field.address} has the value {str(reference)!r}, a "
            f"tag without a digest, and {where} has no entry for {lock_key(reference)}. Run "
            f"`{command}` to add it, or pin a digest in the field ('{reference}@sha256:<64 hex>')."
        )
    return entry.pinned()


def tracked_images(
    pulls: Sequence[tuple[Address, Reference]], bases: Sequence[tuple[Address, Sequence[str]]]
) -> tuple[TrackedImage, ...]:
    """What the lockfile tracks: each tag-only `oci_pull` reference (`pulls`: target, reference),
    with the platforms of the images built directly on it (`bases`: the base an image names,
    its platforms). An image built on one of those asks only for platforms its base has, so
    direct users give every platform a build needs."""
    platforms_of: dict[Address, set[str]] = defaultdict(set)
    for base, built_on in bases:
        platforms_of[base].update(built_on)
    platforms: dict[str, set[str]] = defaultdict(set)
    users: dict[str, list[str]] = defaultdict(list)
    for address, reference in pulls:
        if reference.digest:
            continue
        key = lock_key(reference)
        platforms[key].update(platforms_of.get(address, ()))
        users[key].append(str(address))
    return tuple(TrackedImage(key, tuple(sorted(platforms[key])), tuple(sorted(users[key]))) for key in sorted(users))
