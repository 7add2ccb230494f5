"""The Debian package lockfile: stable bytes, a round trip, and a hand edit refused with the
file, line and key at fault."""

from __future__ import annotations

import pytest

from ocikit.debian.lockfile import DebianLock, LockedDeb, format_lockfile, new_target_lock, parse_lockfile
from ocikit.lockfile import LockfileError

SHA = "ab" * 32
LIBC = LockedDeb("libc6", "2.36-9+deb12u4", "amd64", "pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb", 2759320, SHA)
TZ = LockedDeb("tzdata", "2024a-0+deb12u1", "all", "pool/main/t/tzdata/tzdata_2024a-0+deb12u1_all.deb", 307832, SHA)
LOCK = DebianLock(
    (
        new_target_lock("base:runtime", "bookworm", ["tzdata", "libc6"], [("arm64", [TZ]), ("amd64", [TZ, LIBC])]),
        new_target_lock("a:other", "bookworm", [], []),
    )
)
COMMAND = "pants generate-lockfiles --resolve=oci-debian-packages"


def test_format_is_sorted_and_round_trips():
    text = format_lockfile(LOCK, COMMAND)
    assert text == format_lockfile(DebianLock(tuple(reversed(LOCK.targets))), COMMAND)
    lines = text.decode().splitlines()
    assert lines[3] == f"# Regenerate: {COMMAND}"
    assert lines[5:] == [
        "targets:",
        '  "a:other":',
        '    suite: "bookworm"',
        "    requested: []",
        "    architectures: {}",
        '  "base:runtime":',
        '    suite: "bookworm"',
        '    requested: ["libc6", "tzdata"]',
        "    architectures:",
        '      "amd64":',
        f'        "libc6": {{version: "2.36-9+deb12u4", architecture: "amd64", path: "{LIBC.path}", size: 2759320, '
        f'sha256: "{SHA}"}}',
        f'        "tzdata": {{version: "2024a-0+deb12u1", architecture: "all", path: "{TZ.path}", size: 307832, '
        f'sha256: "{SHA}"}}',
        '      "arm64":',
        f'        "tzdata": {{version: "2024a-0+deb12u1", architecture: "all", path: "{TZ.path}", size: 307832, '
        f'sha256: "{SHA}"}}',
    ]
    parsed = parse_lockfile(text, "lock.yaml")
    assert parsed.targets == tuple(sorted(LOCK.targets, key=lambda t: t.target))
    assert parsed.get("base:runtime").packages("amd64") == (LIBC, TZ)


@pytest.mark.parametrize(
    "old,new,error",
    [
        (
            "size: 2759320",
            'size: "2759320"',
            r"^l.yaml:16: targets\['base:runtime'\].architectures\['amd64'\]"
            r"\['libc6'\].size: expected the size in bytes",
        ),
        (
            f'sha256: "{SHA}"}}\n        "tzdata"',
            'sha256: "xyz"}\n        "tzdata"',
            r"^l.yaml:16: .*\['libc6'\].sha256: 'xyz' is not a SHA-256",
        ),
        ('version: "2.36-9+deb12u4"', 'version: "x2.36"', r"^l.yaml:16: .*\['libc6'\].version: invalid Debian version"),
        ('architecture: "amd64", ', "", r"^l.yaml:16: .*\['libc6'\]: missing key 'architecture'"),
        (
            'suite: "bookworm"\n    requested: []',
            'suite: "bookworm"\n    requested: []\n    extra: 1',
            r"^l.yaml:10: targets\['a:other'\]: unknown key 'extra'",
        ),
        ('path: "pool/main/g', 'path: "/pool/main/g', r"^l.yaml:16: .*\.path: '/pool/main/g.* is not a relative path"),
        ("version: 1", "version: 2", r"^l.yaml:5: version: expected 1, got '2'"),
        ("\ntargets:", "\ntargets: [", r"^l.yaml:\d+: not valid YAML"),
    ],
)
def test_a_hand_edit_names_file_line_and_key(old, new, error):
    text = format_lockfile(LOCK, COMMAND).decode()
    assert old in text
    with pytest.raises(LockfileError, match=error) as raised:
        parse_lockfile(text.replace(old, new, 1), "l.yaml", f"Fix it, or delete it and run `{COMMAND}`.")
    assert str(raised.value).endswith(f"Fix it, or delete it and run `{COMMAND}`.")
