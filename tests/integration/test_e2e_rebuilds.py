"""Rebuilds: no-op and one-file edits with a warm pantsd, and a cold rebuild elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import (
    EXAMPLE_LAYER_PROCESSES,
    EXAMPLE_SBOM_PROCESSES,
    EXAMPLES,
    BuildRoot,
    ExamplesBuild,
    sbom_process_kinds,
)
from image_checks import Layout, tree_bytes

pytestmark = pytest.mark.integration

APP_FILE = "examples/layered/app/version.py"
APP_LAYER_PROCESS = "Build layer of oci_layer examples/layered:app"


def _digests(run) -> dict:
    return {layout: digest for layout, (_, digest) in run.packaged.items()}


def test_noop_edit_and_restore_rebuild_only_what_changed(examples_build: ExamplesBuild, build_root: BuildRoot) -> None:
    first = _digests(examples_build.run)
    pantsd = build_root.pantsd_pid()
    assert pantsd is not None

    # 1. No-op: nothing runs; pantsd's memoized graph does not even ask the cache. The first
    # package warms the graph whatever ran in this root before (another test's bootstrap
    # option, such as -ldebug, gives pantsd a new scheduler and an empty graph).
    build_root.package("examples::")
    noop = build_root.package("examples::")
    assert noop.layer_processes_run == [], noop.describe()
    assert noop.counters["local_execution_requests"] == 0, noop.describe()
    assert noop.counters["local_cache_requests"] == 0, noop.describe()
    assert _digests(noop) == first

    # 2. Edit one file of the app layer: exactly that layer's process runs again, and for the
    #    SBOMs the read of the new layer by derived (built on it) and the documents of the two
    #    images that changed.
    path = build_root.path / APP_FILE
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"# an edit from the integration tests\n")
        edited = build_root.package("examples::")
        assert edited.layer_processes_run == [APP_LAYER_PROCESS], edited.describe()
        assert sbom_process_kinds(edited) == [
            "Read the Debian packages of layer",
            "Write the SBOM of oci_image examples/derived:derived",
            "Write the SBOM of oci_image examples/layered:layered",
        ], edited.describe()
        assert edited.counters["local_execution_requests"] == 4, edited.describe()
        after = _digests(edited)
        layered_dir, derived_dir = EXAMPLES["layered"][0], EXAMPLES["derived"][0]
        changed = {layout for layout in first if after[layout] != first[layout]}
        assert changed == {layered_dir, derived_dir}  # derived is built on layered

        old_layered = examples_build.layout("layered").layer_digests()
        new_layered = Layout(build_root.dist(layered_dir)).layer_digests()
        assert new_layered[:2] == old_layered[:2]  # deps, assets: same blobs
        assert new_layered[2] != old_layered[2]  # app: rebuilt
        old_derived = examples_build.layout("derived").layer_digests()
        new_derived = Layout(build_root.dist(derived_dir)).layer_digests()
        assert new_derived == [*new_layered, old_derived[3]]  # its own layer unchanged
    finally:
        path.write_bytes(original)

    # 3. Restore: the original app layer is not built again (pantsd still holds the node for
    #    the original inputs in its graph, else the local cache has it); the images are back.
    restored = build_root.package("examples::")
    assert restored.layer_processes_run == [], restored.describe()
    assert restored.counters["local_execution_requests"] == 0, restored.describe()
    assert restored.layer_process_sources().get(APP_LAYER_PROCESS) in (None, "HitLocally")
    assert _digests(restored) == first
    assert build_root.pantsd_pid() == pantsd, "pantsd restarted during the rebuilds"
    for name in EXAMPLES:
        layout_dir = EXAMPLES[name][0]
        assert tree_bytes(build_root.dist(layout_dir)) == tree_bytes(examples_build.layout_dir(name))


def test_cold_rebuild_in_another_checkout_is_byte_identical(examples_build: ExamplesBuild, e2e_base: Path) -> None:
    """A second checkout (another path), a fresh local store, no pantsd: every layer is built
    again from scratch and every byte of every layout is the same."""
    other = BuildRoot.create(e2e_base / "pristine", e2e_base / "root-fresh", e2e_base / "state-fresh", pantsd=False)
    try:
        run = other.package("examples::")
    finally:
        other.stop()
    assert run.layer_processes_run == EXAMPLE_LAYER_PROCESSES, run.describe()
    assert sbom_process_kinds(run) == EXAMPLE_SBOM_PROCESSES, run.describe()
    assert run.local_processes_besides_setup == len(EXAMPLE_LAYER_PROCESSES) + len(EXAMPLE_SBOM_PROCESSES)
    assert run.counters["local_cache_requests_cached"] == 0
    assert _digests(run) == _digests(examples_build.run)
    for name in EXAMPLES:
        layout_dir = EXAMPLES[name][0]
        fresh, first = tree_bytes(other.dist(layout_dir)), tree_bytes(examples_build.layout_dir(name))
        assert sorted(fresh) == sorted(first), name
        different = [path for path in first if fresh[path] != first[path]]
        assert not different, f"{name}: these files differ: {different}"
        # The SBOM beside the layout too: no path, time or order of this checkout in it.
        sbom = f"{layout_dir}.spdx.json"
        assert other.dist(sbom).read_bytes() == examples_build.dist.joinpath(sbom).read_bytes(), name
