"""`python -m ocikit layer`: the process Pants runs, with its files and its error contract."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

import ocikit
from ocikit import layer_cli
from ocikit.contracts.layer import LayerDescriptor, LayerSpec
from ocikit.errors import error_line
from ocikit.layer import LayerError

SRC = os.path.dirname(os.path.dirname(os.path.abspath(ocikit.__file__)))


def run_cli(cwd, *args):
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run(
        [sys.executable, "-m", "ocikit", "layer", *args],
        cwd=str(cwd),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )


def setup_sandbox(tmp_path, spec):
    files = tmp_path / "files"
    (files / "bin").mkdir(parents=True)
    (files / "bin" / "run").write_bytes(b"#!/bin/sh\nexit 0\n")
    os.chmod(str(files / "bin" / "run"), 0o755)
    (files / "README").write_text("hello\n" * 100)
    (tmp_path / "spec.json").write_bytes(spec.dumps())
    (tmp_path / "out").mkdir()


def test_success_writes_the_blob_and_a_canonical_descriptor(tmp_path):
    spec = LayerSpec(
        root="files",
        destination="/app",
        uid=1000,
        gid=1000,
        mode_policy="normalize",
        compression="gzip",
        level=1,
        mtime=0,
        threads=2,
    )
    setup_sandbox(tmp_path, spec)
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/layer", "--descriptor", "out/desc.json")
    assert (r.returncode, r.stderr) == (0, "")
    blob = (tmp_path / "out" / "layer").read_bytes()
    raw = (tmp_path / "out" / "desc.json").read_bytes()
    desc = LayerDescriptor.loads(raw)
    assert raw == desc.dumps()
    tar_bytes = gzip.decompress(blob)
    assert desc == LayerDescriptor(
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        size=len(blob),
        diff_id="sha256:" + hashlib.sha256(tar_bytes).hexdigest(),
        uncompressed_size=len(tar_bytes),
        entries=4,
        file_sha1s={
            hashlib.sha256(content).hexdigest(): hashlib.sha1(content).hexdigest()
            for content in (b"#!/bin/sh\nexit 0\n", b"hello\n" * 100)
        },
    )
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        assert [(m.name, m.uid) for m in tf] == [
            ("app", 1000),
            ("app/README", 1000),
            ("app/bin", 1000),
            ("app/bin/run", 1000),
        ]
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["desc.json", "layer"]  # no temp files


def test_minimal_spec_uses_defaults_and_all_cores(tmp_path):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/"))
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    assert r.returncode == 0, r.stderr
    desc = LayerDescriptor.read(str(tmp_path / "out" / "d.json"))
    assert desc.media_type.endswith("tar+gzip") and desc.entries == 3
    # Same bytes as an explicit gzip level 1 / one thread build, and as a spec that leaves out
    # every key that has a default.
    (tmp_path / "spec1.json").write_bytes(
        LayerSpec(root="files", destination="/", compression="gzip", level=1, threads=1).dumps()
    )
    (tmp_path / "spec2.json").write_text(
        json.dumps({"kind": "layer-spec", "version": 1, "root": "files", "destination": "/"})
    )
    for spec, out in (("spec1.json", "l1"), ("spec2.json", "l2")):
        r = run_cli(tmp_path, "--spec", spec, "--out", f"out/{out}", "--descriptor", f"out/{out}.json")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "out" / "l").read_bytes() == (tmp_path / "out" / out).read_bytes()


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_other_compressions(tmp_path, compression):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/x", compression=compression))
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    assert r.returncode == 0, r.stderr
    desc = LayerDescriptor.read(str(tmp_path / "out" / "d.json"))
    blob = (tmp_path / "out" / "l").read_bytes()
    assert desc.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert desc.media_type.endswith({"zstd": "tar+zstd", "none": "tar"}[compression])
    assert (desc.digest == desc.diff_id) == (compression == "none")


def test_declared_symlinks_go_into_the_layer(tmp_path):
    spec = LayerSpec(
        root="files",
        destination="/app",
        uid=1000,
        gid=1000,
        symlinks={"bin/python": "/usr/bin/python3", "lib/current": "../README"},
    )
    setup_sandbox(tmp_path, spec)
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    assert (r.returncode, r.stderr) == (0, "")
    assert LayerDescriptor.read(str(tmp_path / "out" / "d.json")).entries == 7
    tar_bytes = gzip.decompress((tmp_path / "out" / "l").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        assert [(m.name, m.type, m.linkname, m.mode, m.uid) for m in tf] == [
            ("app", tarfile.DIRTYPE, "", 0o755, 1000),
            ("app/README", tarfile.REGTYPE, "", 0o644, 1000),
            ("app/bin", tarfile.DIRTYPE, "", 0o755, 1000),
            ("app/bin/python", tarfile.SYMTYPE, "/usr/bin/python3", 0o777, 1000),
            ("app/bin/run", tarfile.REGTYPE, "", 0o755, 1000),
            ("app/lib", tarfile.DIRTYPE, "", 0o755, 1000),
            ("app/lib/current", tarfile.SYMTYPE, "../README", 0o777, 1000),
        ]


def test_no_symlinks_or_none_declared_give_the_same_bytes(tmp_path):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/app"))
    without_key = LayerSpec(root="files", destination="/app").to_json()
    del without_key["symlinks"]
    (tmp_path / "spec0.json").write_text(json.dumps(without_key))
    for spec, out in (("spec.json", "a"), ("spec0.json", "b")):
        r = run_cli(tmp_path, "--spec", spec, "--out", f"out/{out}", "--descriptor", f"out/{out}.json")
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "a").read_bytes() == (tmp_path / "out" / "b").read_bytes()


def _assert_failed_cleanly(tmp_path, r, *words):
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ocikit layer: error: ")
    assert "Traceback" not in r.stderr
    for word in words:
        assert word in lines[0]
    assert os.listdir(str(tmp_path / "out")) == []  # no blob, no descriptor, no temp file


def test_refused_symlink_fails_cleanly_and_removes_stale_outputs(tmp_path):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/app"))
    os.symlink("/etc/passwd", str(tmp_path / "files" / "pw"))
    (tmp_path / "out" / "l").write_bytes(b"stale blob from an earlier run")
    (tmp_path / "out" / "d.json").write_bytes(b"{}")
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    _assert_failed_cleanly(tmp_path, r, "pw", "/etc/passwd", "refused")


def test_failure_while_writing_the_blob_leaves_nothing(tmp_path):
    # The tree plans fine; the bad level is only seen by build_layer, after the temp blob exists.
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/", compression="zstd", level=99))
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    _assert_failed_cleanly(tmp_path, r, "level", "99")


def _spec_json(**changes):
    """A valid spec's JSON with `changes` (a value of None removes the key)."""
    spec = LayerSpec(root="files", destination="/").to_json()
    spec.update(changes)
    return json.dumps({k: v for k, v in spec.items() if v is not None})


@pytest.mark.parametrize(
    "spec_text, words",
    [
        ("{not json", ["spec 'spec.json'", "not JSON"]),
        ("[1, 2]", ["JSON object"]),
        (_spec_json(root=None), ["'root'", "missing"]),
        (_spec_json(colour="red"), ["unknown key", "colour"]),
        (_spec_json(kind=None), ["layer-spec", "kind None"]),
        (_spec_json(version=2), ["version 2", "reads version 1"]),
        (_spec_json(uid="0"), ["uid", "expected int", '"0"']),
        (_spec_json(level=True), ["level", "expected int", "true"]),
        (_spec_json(root="missing"), ["missing"]),
        (_spec_json(destination="app"), ["'app'", "destination"]),
        (_spec_json(threads=0), ["threads"]),
        (_spec_json(compression="xz"), ["'xz'"]),
        (_spec_json(mode_policy="keep"), ["'keep'"]),
        (_spec_json(symlinks={"README": "x"}), ["symlink /README -> 'x'", "the file /README"]),
        (_spec_json(symlinks={"/abs": "x"}), ["'/abs'"]),
        (_spec_json(symlinks=["a"]), ["symlinks", "expected an object"]),
        (_spec_json(symlinks={"a": 1}), ["symlinks.a", "expected str"]),
    ],
)
def test_bad_specs_fail_cleanly(tmp_path, spec_text, words):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/"))
    (tmp_path / "spec.json").write_text(spec_text)
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json")
    _assert_failed_cleanly(tmp_path, r, *words)


def test_missing_spec_file_fails_cleanly(tmp_path):
    (tmp_path / "out").mkdir()
    r = run_cli(tmp_path, "--spec", "nope.json", "--out", "out/l", "--descriptor", "out/d.json")
    _assert_failed_cleanly(tmp_path, r, "nope.json")


def test_unwritable_output_directory_fails_cleanly(tmp_path):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/"))
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "no/such/dir/l", "--descriptor", "out/d.json")
    _assert_failed_cleanly(tmp_path, r, "No such file or directory")


def test_in_process_main_returns_the_exit_status(tmp_path, capsys, monkeypatch):
    setup_sandbox(tmp_path, LayerSpec(root="files", destination="/"))
    monkeypatch.chdir(str(tmp_path))
    assert layer_cli.main(["--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json"]) == 0
    os.symlink("../../x", str(tmp_path / "files" / "bin" / "up"))
    assert layer_cli.main(["--spec", "spec.json", "--out", "out/l", "--descriptor", "out/d.json"]) == 1
    assert capsys.readouterr().err.startswith("ocikit layer: error: symlink ")
    assert os.listdir(str(tmp_path / "out")) == []


def _peak_rss_mib(tmp_path, size_mib, compression):
    tree = tmp_path / f"tree-{size_mib}"
    if not tree.exists():
        tree.mkdir()
        block = os.urandom(1 << 20)
        text = (b"compressible text\n" * 60000)[: 1 << 20]
        with open(str(tree / "big"), "wb") as f:
            for i in range(size_mib):
                f.write(block if i % 2 else text)
    spec = tmp_path / f"spec-{size_mib}-{compression}.json"
    spec.write_bytes(LayerSpec(root=str(tree), destination="/", compression=compression, threads=4).dumps())
    env = dict(os.environ, PYTHONPATH=SRC)
    argv = [
        sys.executable,
        "-m",
        "ocikit",
        "layer",
        "--spec",
        str(spec),
        "--out",
        str(tmp_path / "out" / "l"),
        "--descriptor",
        str(tmp_path / "out" / "d"),
    ]
    p = subprocess.run(
        [sys.executable, "-c", _MEASURE_PEAK_RSS, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    assert p.returncode == 0, p.stderr
    return int(p.stdout) / 1024


# Runs argv and prints its peak resident set size in KiB, as GNU time does, from a small parent:
# Linux counts in a child's ru_maxrss the memory of the process it was forked from, so a child
# forked from pytest itself would report pytest's size.
_MEASURE_PEAK_RSS = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
print(usage.ru_maxrss)
sys.exit(child.returncode)
"""


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_peak_memory_is_small_and_flat_in_layer_size(tmp_path, compression):
    (tmp_path / "out").mkdir()
    small = _peak_rss_mib(tmp_path, 16, compression)
    big = _peak_rss_mib(tmp_path, 256, compression)
    assert big < 100, f"{compression}: peak RSS {big:.0f} MiB for a 256 MiB file"
    assert big - small < 20, f"{compression}: {small:.0f} MiB for 16 MiB, {big:.0f} MiB for 256 MiB"


def test_a_file_larger_than_the_memory_the_process_may_use_still_streams(tmp_path):
    """A 1 GiB file (sparse, so the test writes nothing) through a layer process that may map
    only 256 MiB: it streams through in chunks, as one file alone in its shard does."""
    import resource

    (tmp_path / "files").mkdir()
    with open(str(tmp_path / "files" / "huge.bin"), "wb") as f:
        f.truncate(1 << 30)
    (tmp_path / "spec.json").write_bytes(LayerSpec(root="files", destination="/", level=1).dumps())
    limit = 256 << 20
    p = subprocess.run(
        [sys.executable, "-m", "ocikit", "layer", "--spec", "spec.json", "--out", "l", "--descriptor", "d.json"],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=SRC),
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    assert p.returncode == 0, p.stderr
    desc = LayerDescriptor.read(str(tmp_path / "d.json"))
    assert (1 << 30) < desc.uncompressed_size < (1 << 30) + 16384
    assert desc.digest == "sha256:" + hashlib.sha256((tmp_path / "l").read_bytes()).hexdigest()


def test_the_descriptor_records_the_sha1_of_every_file_by_its_sha256(tmp_path):
    """What the SBOM takes instead of hashing the files again: empty and large files too,
    and a content two paths share once."""
    spec = LayerSpec(root="files", destination="/", threads=2)
    files = tmp_path / "files"
    files.mkdir()
    big = os.urandom(3 << 20)  # spans several read pieces and chunks
    contents = {"empty": b"", "big.bin": big, "a/one": b"same", "a/two": b"same"}
    for name, content in contents.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_bytes(content)
    (tmp_path / "spec.json").write_bytes(spec.dumps())
    r = run_cli(tmp_path, "--spec", "spec.json", "--out", "layer", "--descriptor", "desc.json")
    assert (r.returncode, r.stderr) == (0, "")
    desc = LayerDescriptor.loads((tmp_path / "desc.json").read_bytes())
    assert desc.file_sha1s == {hashlib.sha256(c).hexdigest(): hashlib.sha1(c).hexdigest() for c in contents.values()}


def test_a_workers_error_line_names_the_file_and_folds_newlines() -> None:
    assert error_line(FileNotFoundError(2, "No such file or directory", "a b.txt")) == (
        "No such file or directory: 'a b.txt'"
    )
    assert error_line(OSError(28, "No space left on device")) == "No space left on device"
    assert error_line(LayerError("first\nsecond")) == "first second"
