"""Setup shared by every tier.

Support modules: tests/ and tests/registry are on sys.path, so any tier imports `real_parts`
(skips that name the Debian package of a missing tool), `registry_images` (small hand-written
OCI layouts) and `registry_fixtures` (real registries, credential helpers, skopeo).

Strict mode, the default (OCIKIT_TESTS_STRICT unset or 1; `./run-tests --allow-skips` sets it
to 0): a skipped test is a failure. A skip here means a real part is missing (a tool,
root), and CI must run every real-part test, never pass without them. This covers skipif and
skip marks, pytest.skip() in a test or a fixture, importorskip, and skips while collecting a
module. A skip that is deliberate and not about a missing part stays allowed only when the
test is marked `@pytest.mark.skip_allowed("why")`; no test needs that today. xfail is
untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
for _support in (TESTS / "registry", TESTS):
    if str(_support) not in sys.path:
        sys.path.insert(0, str(_support))


def strict_mode() -> bool:
    """Strict unless OCIKIT_TESTS_STRICT says otherwise (0, false, no): a plain `pytest` run
    cannot pass quietly with whole modules skipped either."""
    value = os.environ.get("OCIKIT_TESTS_STRICT", "1")
    return value.strip().lower() not in ("0", "false", "no")


STRICT = strict_mode()


def pytest_report_header(config):
    if STRICT:
        return "strict mode (OCIKIT_TESTS_STRICT): a skipped test fails"
    return None


def _skip_to_failure(report) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: ") :]
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under OCIKIT_TESTS_STRICT: {reason}\n"
        "Install the missing part (tests/debian-packages.txt names the Debian packages) "
        "or run ./run-tests --allow-skips."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        STRICT
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("skip_allowed") is None
    ):
        _skip_to_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:
        _skip_to_failure(report)
