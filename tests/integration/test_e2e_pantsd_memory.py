"""`[oci].trim_pantsd_memory` in a real Pants run: Pants calls the plugin's workunit callback,
which hands freed memory back with glibc's `malloc_trim` (the effect at scale is measured by
bench/scale.py; tests/plugin/test_pantsd_memory.py checks the trim itself)."""

from __future__ import annotations

import re

import pytest
from e2e_support import BuildRoot

pytestmark = pytest.mark.integration

TRIMMED = re.compile(r"malloc_trim: resident anonymous memory (\d+) -> (\d+) MiB in \d+ ms")


def test_a_run_trims_its_freed_memory_unless_told_not_to(build_root: BuildRoot) -> None:
    # Without pantsd, so the run is a process of its own: the callback's first call trims.
    run = build_root.run("--no-pantsd", "-ldebug", "list", "examples::")
    assert run.returncode == 0, run.describe()
    assert TRIMMED.search(run.stderr), run.describe()

    off = build_root.run("--no-pantsd", "-ldebug", "--no-oci-trim-pantsd-memory", "list", "examples::")
    assert off.returncode == 0, off.describe()
    assert not TRIMMED.search(off.stderr), off.describe()
