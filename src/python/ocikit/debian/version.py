"""Debian version numbers compared as dpkg compares them (`dpkg --compare-versions`).

A version is `[epoch:]upstream[-revision]`. Epochs compare as integers; upstream and revision
each compare by dpkg's `verrevcmp`: alternately a run of non-digits, compared character by
character where `~` sorts before everything (even the end of the string), letters before
non-letters, then a run of digits compared as a number. A missing revision is "" (dpkg's "0"
compares equal to it). Relations are those of Debian's Depends fields: <<, <=, =, >=, >>
(and the obsolete < and >, which mean <= and >=, as dpkg still reads them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ocikit.errors import OcikitError

RELATIONS = ("<<", "<=", "=", ">=", ">>")
_OBSOLETE = {"<": "<=", ">": ">="}


class DebianVersionError(OcikitError, ValueError):
    """A string that is not a Debian version number, or an unknown relation."""


@dataclass(frozen=True)
class DebianVersion:
    epoch: int
    upstream: str
    revision: str

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.upstream}-{self.revision}" if self.revision else f"{epoch}{self.upstream}"


@functools.lru_cache(maxsize=65536)
def parse_version(text: str) -> DebianVersion:
    """The parts of `text`, or DebianVersionError saying what is wrong (as dpkg refuses it)."""
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise DebianVersionError(f"invalid Debian version {text!r}: empty or has spaces")
    epoch = 0
    if ":" in value:
        head, value = value.split(":", 1)
        if not head.isdigit():
            raise DebianVersionError(f"invalid Debian version {text!r}: the epoch must be a number")
        epoch = int(head)
    upstream, _, revision = value.rpartition("-") if "-" in value else (value, "", "")
    if not upstream or not upstream[0].isdigit():
        raise DebianVersionError(f"invalid Debian version {text!r}: it must start with a digit")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~-:")
    if not set(upstream) <= allowed or not set(revision) <= allowed - {"-", ":"}:
        raise DebianVersionError(f"invalid Debian version {text!r}: invalid character")
    return DebianVersion(epoch, upstream, revision)


def _order(c: str) -> int:
    """dpkg's `order()`: `~` first, then the end of a part, then letters, then the rest."""
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """Negative, zero or positive as `a` is lower than, equal to or higher than `b`."""
    va, vb = parse_version(a), parse_version(b)
    if va.epoch != vb.epoch:
        return va.epoch - vb.epoch
    return _verrevcmp(va.upstream, vb.upstream) or _verrevcmp(va.revision, vb.revision)


def normalise_relation(relation: str) -> str:
    relation = _OBSOLETE.get(relation, relation)
    if relation not in RELATIONS:
        raise DebianVersionError(f"invalid version relation {relation!r}: expected one of {', '.join(RELATIONS)}")
    return relation


def satisfies(version: str, relation: str, wanted: str) -> bool:
    """Whether `version` satisfies `(relation wanted)`, as in `Depends: foo (>= 1.2)`."""
    c = compare_versions(version, wanted)
    checks = {"<<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">>": c > 0}
    return checks[normalise_relation(relation)]
