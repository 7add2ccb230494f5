"""Progress lines for long transfers: bytes, percentage and rate per blob, on stderr."""

from __future__ import annotations

import io

from ocikit.registry.progress import Progress, StderrProgress, format_bytes

D = "sha256:" + "ab" * 32


def test_long_transfers_report_bytes_and_rate():
    out = io.StringIO()
    progress = StderrProgress(out, interval=0, after=0)
    progress.started(D, 4 << 20, "uploading")
    progress.advanced(D, 1 << 20)
    progress.advanced(D, 1 << 20)
    progress.finished(D, "uploaded")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("sha256:abababababab  uploading 1.0 MiB / 4.0 MiB 25%  ")
    assert lines[0].endswith("/s")
    assert lines[1].startswith("sha256:abababababab  uploading 2.0 MiB / 4.0 MiB 50%")
    assert lines[2].startswith("sha256:abababababab  uploaded  2.0 MiB in ")


def test_short_transfers_stay_quiet():
    out = io.StringIO()
    progress = StderrProgress(out)  # only blobs taking over 2 s are shown
    progress.started(D, 10, "uploading")
    progress.advanced(D, 10)
    progress.finished(D, "uploaded")
    Progress().advanced(D, 1)
    assert out.getvalue() == ""


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1024, 5 << 20, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]
