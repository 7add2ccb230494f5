"""The image-test worker's pure parts (ocikit.image_test): layers applied in order with
whiteouts, file checks on real tar layers, config checks, the platform chosen, the report."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from ocikit.contracts.image_test import ConfigCheck, FileCheck
from ocikit.image_test import (
    ImageTestError,
    Outcome,
    apply_layer,
    check_config,
    check_file,
    choose_manifest,
    read_content,
    report,
    runtime_environment,
)
from ocikit.tar_listing import list_layer
from ocikit.verify import PlatformManifest


def write_layer(path: Path, entries: list) -> str:
    """A tar layer of (name, content or None for a directory, mode, uid)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode, uid in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid = mode, uid
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return str(path)


def tree_of(tmp_path: Path, *layers: list) -> dict:
    tree: dict = {}
    for n, entries in enumerate(layers):
        path = write_layer(tmp_path / f"layer{n}.tar", entries)
        apply_layer(tree, list_layer(path), path)
    return tree


def test_whiteouts_remove_what_lower_layers_hold(tmp_path: Path) -> None:
    tree = tree_of(
        tmp_path,
        [
            ("app", None, 0o755, 0),
            ("app/a", b"a", 0o644, 0),
            ("app/sub", None, 0o755, 0),
            ("app/sub/b", b"b", 0o644, 0),
            ("etc", None, 0o755, 0),
            ("etc/x", b"x", 0o600, 0),
            ("etc/y", b"y", 0o600, 0),
        ],
        [("app/.wh.sub", b"", 0o644, 0), ("etc/.wh..wh..opq", b"", 0o644, 0), ("etc/z", b"z", 0o640, 5)],
    )
    assert sorted(tree) == ["/app", "/app/a", "/etc", "/etc/z"]
    assert check_file(FileCheck("/app/sub/b", exists=False), tree).ok
    assert check_file(FileCheck("/etc/z", mode=0o640, uid=5, type="file"), tree) == Outcome(
        "file /etc/z", True, "file, mode 0640, owner 5:0"
    )


def test_file_checks_report_expected_and_actual(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [("bin", None, 0o755, 0), ("bin/tool", b"#!/bin/sh\necho v1.2\n", 0o755, 0)])
    outcome = check_file(FileCheck("/bin/tool", type="dir", mode=0o700, gid=3, content="v2"), tree)
    assert not outcome.ok
    assert outcome.detail == (
        "type: expected dir, got file; mode: expected 0700, got 0755; gid: expected 3, got 0; "
        "content: expected to match 'v2', got '#!/bin/sh\\necho v1.2\\n'"
    )
    assert check_file(FileCheck("/bin/tool", content=r"^echo v1\.2$"), tree).ok, "multiline search"
    assert check_file(FileCheck("/bin", content="x"), tree).detail == "content: expected a file to match 'x', got a dir"
    assert check_file(FileCheck("/bin", exists=False), tree).detail == "expected to be absent, found a dir"


def test_content_is_the_last_entry_of_a_path_written_twice(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "l.tar", [("f", b"first", 0o644, 0), ("f", b"second", 0o644, 0)])
    assert read_content(path, "/f") == b"second"


def test_config_checks() -> None:
    config = {"config": {"Entrypoint": ["/app"], "Env": ["PATH=/bin", "A=b"], "User": "1000", "Labels": {"t": "w"}}}
    outcomes = check_config(
        ConfigCheck(
            entrypoint=("/app",), cmd=("x",), env={"A": "b", "B": "c"}, labels={"t": "w"}, user="0", workdir=""
        ),
        config,
    )
    assert [(o.check, o.ok, o.detail) for o in outcomes] == [
        ("config entrypoint", True, "expected ['/app'], got ['/app']"),
        ("config cmd", False, "expected ['x'], got []"),
        ("config user", False, "expected '0', got '1000'"),
        ("config workdir", True, "expected '', got ''"),
        ("config env A", True, "expected 'b', got 'b'"),
        ("config env B", False, "expected 'c', not set"),
        ("config labels t", True, "expected 'w', got 'w'"),
    ]


def test_the_platform_of_this_machine_is_chosen_from_an_index() -> None:
    amd, arm = (
        PlatformManifest(p, "sha256:" + c * 64, (), {}) for p, c in (("linux/amd64", "a"), ("linux/arm64", "b"))
    )
    assert choose_manifest([arm], "linux/amd64", "img") is arm, "one platform: checked whatever it is"
    assert choose_manifest([amd, arm], "linux/arm64", "img") is arm
    with pytest.raises(ImageTestError, match=r"img has no image for linux/s390x .*built for linux/amd64, linux/arm64"):
        choose_manifest([amd, arm], "linux/s390x", "img")


def test_the_report_counts_failures() -> None:
    assert (
        report("h", [Outcome("a", True, "ok"), Outcome("b", False, "bad")])
        == "h\nPASS a: ok\nFAIL b: bad\n2 checks, 1 failed\n"
    )
    assert report("h", [Outcome("a", True, "ok")]).endswith("1 check passed\n")


def test_a_rootless_runtime_gets_home_and_its_runtime_directory() -> None:
    import os
    import pwd

    assert runtime_environment({}, 0) == {"HOME": pwd.getpwuid(0).pw_dir}
    assert runtime_environment({"HOME": "/h", "XDG_RUNTIME_DIR": "/x"}, os.getuid()) == {}
