"""Validation shared by the target fields: each error names the target, field, value and what is accepted."""

from __future__ import annotations

import re
from typing import Any

from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException

from ocikit.reference import parse_reference

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


def _invalid(field: Any, value: Any, accepted: str) -> InvalidFieldException:
    return InvalidFieldException(
        f"The `{field.alias}` field in target {field.address} has an invalid value {value!r}: "
        f"{accepted}"
    )


def validate_image_path(field: Any, value: str) -> str:
    """An absolute, normalised POSIX path inside the image (no `..`, no `.`, no `//`)."""
    parts = value.split("/")[1:] if value.startswith("/") else None
    if (
        parts is None
        or any(p in ("..", ".") for p in parts)
        or (value != "/" and "" in parts)
        or "\x00" in value
    ):
        raise _invalid(
            field, value, "expected an absolute, normalised path inside the image such as "
            "'/app' or '/usr/local/bin' (no '..', '.', '//' or trailing '/')"
        )
    return value


def parse_owner(field: Any, value: str) -> tuple[int, int]:
    match = re.match(r"^([0-9]{1,10}):([0-9]{1,10})$", value)
    if not match or max(int(match.group(1)), int(match.group(2))) > 0x7FFFFFFF:
        raise _invalid(field, value, "expected numeric 'uid:gid' such as '0:0' or '1000:1000'")
    return int(match.group(1)), int(match.group(2))


class _Named:
    """Lets the validators name a field before its instance exists (in compute_value)."""

    def __init__(self, alias: str, address: Address) -> None:
        self.alias = alias
        self.address = address


def validate_pinned_reference(field: Any, value: str) -> str:
    try:
        ref = parse_reference(value)
    except ValueError as e:
        raise _invalid(field, value, str(e))
    if not ref.digest:
        raise _invalid(
            field, value, "a base image must be pinned by digest, e.g. "
            "'registry/repo:tag@sha256:<64 hex>'; `python -m ocikit inspect REF` (or "
            "`skopeo inspect`) prints the digest to pin"
        )
    return value
