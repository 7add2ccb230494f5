"""The table `pants oci-verify` prints (ocikit.verify_report) and what passes."""

from __future__ import annotations

from ocikit.contracts.verify import (
    DIFFERS,
    MATCHES_NO_KEYS,
    MATCHES_SIGNED,
    MATCHES_UNSIGNED,
    MISSING,
    SKIPPED,
    LayerDifference,
    PathDifference,
    TagVerdict,
    VerifyResult,
)
from ocikit.verify_report import format_report, short

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def test_a_table_row_per_tag_with_what_differs_below_it():
    differs = TagVerdict(
        "app:web",
        "r.example.com/web:1.0",
        DIFFERS,
        A,
        "the tag names another image (1 layer differs)",
        B,
        notes=("linux/amd64: config differs: config.Env",),
        layers=(
            LayerDifference(
                1,
                "linux/amd64",
                "3 paths differ",
                A,
                B,
                C,
                C,
                (
                    PathDifference("/app/a", "changed", "content (1 -> 2 bytes)"),
                    PathDifference("/app/b", "added", "file, 1 bytes, mode 0644, owner 0:0"),
                ),
                1,
            ),
        ),
    )
    signed = TagVerdict("app:web", "r.example.com/web:latest", MATCHES_SIGNED, A, "signed with keys/cosign.pub", A)
    assert format_report([signed, differs]).splitlines() == [
        "target   reference                 result           detail",
        "app:web  r.example.com/web:latest  matches, signed  signed with keys/cosign.pub",
        "app:web  r.example.com/web:1.0     differs          the tag names another image (1 layer differs)",
        "    registry sha256:bbbbbbbbbbbb, here sha256:aaaaaaaaaaaa",
        "    note: linux/amd64: config differs: config.Env",
        "    linux/amd64 layer 1: 3 paths differ",
        "      registry sha256:cccccccccccc (diff_id sha256:cccccccccccc)",
        "      here     sha256:aaaaaaaaaaaa (diff_id sha256:bbbbbbbbbbbb)",
        "      changed  /app/a: content (1 -> 2 bytes)",
        "      added    /app/b: file, 1 bytes, mode 0644, owner 0:0",
        "      and 1 more path",
        "2 destinations: 1 differs; 1 matches, signed (1 not verified)",
    ]


def test_what_passes():
    def verdict(status):
        return TagVerdict("a:b", "r/x:1", status, A)

    assert VerifyResult.of([verdict(MATCHES_SIGNED), verdict(MATCHES_NO_KEYS), verdict(SKIPPED)]).ok
    for failing in (MATCHES_UNSIGNED, DIFFERS, MISSING, "error"):
        assert not VerifyResult.of([verdict(MATCHES_SIGNED), verdict(failing)]).ok
    assert VerifyResult.of([]).ok


def test_short_digests_and_an_empty_report():
    assert short(A) == "sha256:aaaaaaaaaaaa"
    assert short(None) == "-"
    assert format_report([]).splitlines()[-1] == "no destinations to verify"
