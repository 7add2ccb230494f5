"""Validation shared by the target fields: each error names the target, field, value and what is accepted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException

from ocikit.reference import InvalidReference, Reference, is_valid_repository, is_valid_tag, parse_reference
from pants_oci.stamping import StampError, check_template, has_placeholders

TAG_ACCEPTED = "tags match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REPOSITORY_ACCEPTED = (
    "expected lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', "
    "joined by '/', e.g. 'team/web-server'"
)
PINNED_ACCEPTED = (
    "a base image must be pinned by digest, e.g. 'registry/repo:tag@sha256:<64 hex>'; "
    "`python -m ocikit inspect REF` (or `skopeo inspect`) prints the digest to pin. To track "
    "a tag instead, name an `oci_pull` target: the base-image lockfile pins its tag"
)

PULL_ACCEPTED = (
    "expected a tag, which the base-image lockfile pins ('registry/repo:tag'), or a digest "
    "('registry/repo:tag@sha256:<64 hex>'); write ':latest' to track the latest tag"
)


@dataclass(frozen=True)
class FieldName:
    """A field's alias and target: lets validators name a field before its instance exists
    (inside `compute_value`) as well as after."""

    alias: str
    address: Address


def invalid_value(field: Any, value: Any, accepted: str) -> InvalidFieldException:
    """The error for a bad field value; `field` is a Field or a FieldName."""
    return InvalidFieldException(
        f"The `{field.alias}` field in target {field.address} has an invalid value {value!r}: {accepted}"
    )


def validate_image_path(field: Any, value: str) -> str:
    """An absolute, normalised POSIX path inside the image (no `..`, no `.`, no `//`)."""
    parts = value.split("/")[1:] if value.startswith("/") else None
    if parts is None or any(p in ("..", ".") for p in parts) or (value != "/" and "" in parts) or "\x00" in value:
        raise invalid_value(
            field,
            value,
            "expected an absolute, normalised path inside the image such as "
            "'/app' or '/usr/local/bin' (no '..', '.', '//' or trailing '/')",
        )
    return value


def parse_owner(field: Any, value: str) -> tuple[int, int]:
    match = re.match(r"^([0-9]{1,10}):([0-9]{1,10})$", value)
    if not match or max(int(match.group(1)), int(match.group(2))) > 0x7FFFFFFF:
        raise invalid_value(field, value, "expected numeric 'uid:gid' such as '0:0' or '1000:1000'")
    return int(match.group(1)), int(match.group(2))


def validate_tag(field: Any, value: str) -> str:
    if not is_valid_tag(value):
        raise invalid_value(field, value, TAG_ACCEPTED)
    return value


def validate_repository(field: Any, value: str) -> str:
    if not is_valid_repository(value):
        raise invalid_value(field, value, REPOSITORY_ACCEPTED)
    return value


def validate_stamped(
    field: Any, value: str, validate: Callable[[Any, str], str], valid: Callable[[str], bool], accepted: str
) -> str:
    """A value that may hold stamp placeholders (pants_oci.stamping): their names and the text
    around them are checked now, the stamped value when the image is published."""
    if not has_placeholders(value):
        return validate(field, value)
    try:
        check_template(value, valid, accepted)
    except StampError as e:
        raise invalid_value(field, value, str(e)) from e
    return value


def parse_pull_reference(field: Any, value: str) -> Reference:
    """`registry/repository:tag`, `...[:tag]@sha256:...`: a tag alone is pinned by the base-image
    lockfile when the image is built; a reference with neither tag nor digest is refused."""
    try:
        ref = parse_reference(value)
    except InvalidReference as e:
        raise invalid_value(field, value, str(e)) from None
    if not ref.digest and not ref.tag:
        raise invalid_value(field, value, PULL_ACCEPTED)
    return ref


def parse_pinned_reference(field: Any, value: str) -> Reference:
    """`registry/repository[:tag]@sha256:...`; a reference without a digest is refused."""
    try:
        ref = parse_reference(value)
    except InvalidReference as e:
        raise invalid_value(field, value, str(e)) from None
    if not ref.digest:
        raise invalid_value(field, value, PINNED_ACCEPTED)
    return ref
