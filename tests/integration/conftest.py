"""Fixtures of the end-to-end tests: one copied build root for the whole session.

The session root (`build_root`) is a copy of the repo's build inputs in a temp dir, with its
own local store and named caches (so the first build is cold and its counters mean something)
and its own pantsd, as users run Pants. It is shared by every test (pantsd's first start is
the expensive part); tests that add BUILD files put them in their own top-level directory and
remove them afterwards. The pantsd is stopped, by pid, when the session ends.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from e2e_support import REPO, BuildRoot, ExamplesBuild, copy_sources


@pytest.fixture(scope="session")
def e2e_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp dir holding a pristine snapshot of the repo's build inputs, taken once: build
    roots are copied from it, so every root of the session sees the same sources even while
    the repo is being edited."""
    base = tmp_path_factory.mktemp("oci-e2e")
    copy_sources(REPO, base / "pristine")
    return base


@pytest.fixture(scope="session")
def _session_root(e2e_base: Path):
    root = BuildRoot.create(e2e_base / "pristine", e2e_base / "root-main", e2e_base / "state-main")
    try:
        # `package examples::` first, whichever test asks for the root first: its counters (one
        # process per layer, nothing from the cache) mean something only in a cold store, and a
        # test that packaged an example before it would make them depend on the test order.
        run = root.package("examples::")
        snapshot = e2e_base / "dist-first"
        shutil.copytree(root.dist(), snapshot)
        yield root, ExamplesBuild(run, snapshot)
    finally:
        root.stop()
        left = root._stray_pids()
        assert not left, f"processes of {root.path} still running after stop(): {left}"


@pytest.fixture(scope="session")
def build_root(_session_root) -> BuildRoot:
    return _session_root[0]


@pytest.fixture(scope="session")
def examples_build(_session_root) -> ExamplesBuild:
    """`./pants package examples::`, the session root's first command, cold (fresh local store,
    pantsd starting)."""
    return _session_root[1]
