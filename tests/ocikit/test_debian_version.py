"""Debian version comparison: the same answers as `dpkg --compare-versions`."""

from __future__ import annotations

import random
import subprocess

import pytest
from real_parts import needs

from ocikit.debian.version import DebianVersionError, compare_versions, parse_version, satisfies

# Pairs that exercise each rule: epochs, `~`, letters before non-letters, leading zeros,
# missing revisions, digits against non-digits, real bookworm versions.
PAIRS = [
    ("1.0", "1.0"),
    ("1.0", "1.0-0"),
    ("1.0~rc1", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0~", "1.0"),
    ("1:1.0", "2.0"),
    ("0:1.0", "1.0"),
    ("1.0a", "1.0"),
    ("1.0a", "1.0+"),
    ("1.0.", "1.0+"),
    ("1.01", "1.1"),
    ("1.002", "1.10"),
    ("2.36-9+deb12u14", "2.36-9+deb12u4"),
    ("3.11.2-6+deb12u8", "3.11.2-6"),
    ("1:1.2.13.dfsg-1", "1:1.2.13-1"),
    ("1.0-1", "1.0-1+b1"),
    ("3.0.20-1~deb12u2", "3.0.20-1"),
    ("2026b-0+deb12u1", "2026f-0+deb12u1"),
    ("1.0-a", "1.0-1"),
    ("1.2.3", "1.2.3.0"),
    ("1.0-1-1", "1.0-1"),
    ("9", "10"),
    ("1.0+dfsg", "1.0"),
]


def _dpkg_says(a: str, relation: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, relation, b]).returncode == 0


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


@needs("dpkg")
@pytest.mark.parametrize("a,b", PAIRS)
def test_compare_matches_dpkg(a, b):
    expected = -1 if _dpkg_says(a, "lt", b) else (0 if _dpkg_says(a, "eq", b) else 1)
    assert _sign(compare_versions(a, b)) == expected
    assert _sign(compare_versions(b, a)) == -expected


@needs("dpkg")
def test_random_versions_match_dpkg():
    rng = random.Random(20)
    alphabet = "0123456789.+~ab"

    def version() -> str:
        epoch = rng.choice(["", "1:", "2:"])
        upstream = rng.choice("0123456789") + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        revision = rng.choice(["", "-1", "-0", "-1~b", "-2+deb12u1", "-a"])
        return epoch + upstream + revision

    pairs = [(version(), version()) for _ in range(150)]
    for a, b in pairs:
        expected = -1 if _dpkg_says(a, "lt", b) else (0 if _dpkg_says(a, "eq", b) else 1)
        assert _sign(compare_versions(a, b)) == expected, (a, b)


@pytest.mark.parametrize(
    "version,relation,wanted,ok",
    [
        ("2.36", ">=", "2.34", True),
        ("2.36", "<<", "2.36", False),
        ("2.36", "<=", "2.36", True),
        ("2.36", "=", "2.36-0", True),
        ("2.36", ">>", "2.35", True),
        ("2.36", ">", "2.36", True),
        ("2.36", "<", "2.37", True),
    ],
)
def test_satisfies(version, relation, wanted, ok):
    assert satisfies(version, relation, wanted) is ok


@pytest.mark.parametrize("bad", ["", "a1.0", "x:1.0", "1.0 1", "1.0-b_1"])
def test_invalid_versions_are_refused(bad):
    with pytest.raises(DebianVersionError, match="invalid Debian version"):
        parse_version(bad)


def test_unknown_relation_is_refused():
    with pytest.raises(DebianVersionError, match="expected one of <<, <=, =, >=, >>"):
        satisfies("1", "~=", "1")
