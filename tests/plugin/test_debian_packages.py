"""`oci_debian_packages`: the lockfile generated through `generate-lockfiles` against a local
archive (dpkg-scanpackages over real .debs, served on loopback), images built from it, and the
errors a user sees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from debian_archive import downloaded_debs, make_archive, rebuilt_deb, served
from pants.core.goals.generate_lockfiles import GenerateLockfileResult, UserGenerateLockfiles
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner
from real_parts import needs

from ocikit.debian.lockfile import DebianLock, LockedDeb, format_lockfile, new_target_lock, parse_lockfile
from pants_oci.debian.lockfile import GenerateDebianLockfile, RequestedDebianResolveNames
from pants_oci.debian.plan import group_layers, stale_reason
from pants_oci.goals.package import OciImageFieldSet

LOCKFILE = "3rdparty/oci/debian-packages.lock.yaml"
PACKAGES = ("bzip2", "libbz2-1.0", "libc6", "libgcc-s1", "gcc-12-base")
COMMAND = "pants generate-lockfiles --resolve=oci-debian-packages"
BUILD = """
oci_debian_packages(name="deps", packages=["bzip2"], own_layer_size="1MiB")
oci_image(name="img", layers=[":deps"], platforms=["linux/amd64"])
"""


def _deb(name: str, size: int) -> LockedDeb:
    return LockedDeb(name, "1.0", "amd64", f"pool/{name}.deb", size, "ab" * 32)


def test_grouping_gives_large_packages_their_own_layer():
    groups = group_layers([_deb("zz", 10), _deb("libc6", 3 << 20), _deb("aa", 5), _deb("big", 1 << 20)], 1 << 20)
    assert [(g.name, [d.name for d in g.debs]) for g in groups] == [
        ("big", ["big"]),
        ("libc6", ["libc6"]),
        ("small packages", ["aa", "zz"]),
    ]
    assert [g.name for g in group_layers([_deb("aa", 5)], 0)] == ["aa"]


def test_stale_reasons():
    entry = new_target_lock("a:b", "bookworm", ["bzip2"], [("amd64", [_deb("bzip2", 1)])])
    assert stale_reason(entry, "bookworm", ["bzip2"], ["amd64"]) is None
    assert stale_reason(None, "bookworm", ["bzip2"], ["amd64"]) == "has no entry for it"
    assert stale_reason(entry, "trixie", ["bzip2"], ["amd64"]) == "resolved it for suite 'bookworm', not 'trixie'"
    assert stale_reason(entry, "bookworm", ["bzip2", "tzdata"], ["amd64"]) == (
        "resolved it for the packages ['bzip2'], not ['bzip2', 'tzdata']"
    )
    assert stale_reason(entry, "bookworm", ["bzip2"], ["amd64", "arm64"]) == "has no arm64 packages for it"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = make_archive(tmp_path_factory.mktemp("archive"), downloaded_debs(PACKAGES))
    with served(root) as url:
        yield url


def _runner(rule_runner: RuleRunner, archive: str) -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *rule_runner.rules,
            QueryRule(UserGenerateLockfiles, [RequestedDebianResolveNames]),
            QueryRule(GenerateLockfileResult, [GenerateDebianLockfile]),
        ],
        target_types=rule_runner.target_types,
    )
    runner.set_options([f"--oci-debian-archive={archive}"], env_inherit={"PATH", "HOME"})
    return runner


def _generate(runner: RuleRunner) -> bytes:
    (request,) = runner.request(UserGenerateLockfiles, [RequestedDebianResolveNames([])])
    result = runner.request(GenerateLockfileResult, [request])
    (content,) = runner.request(DigestContents, [result.digest])
    assert content.path == LOCKFILE
    return content.content


def _package(runner: RuleRunner) -> BuiltPackage:
    target = runner.get_target(Address("app", target_name="img"))
    return runner.request(BuiltPackage, [OciImageFieldSet.create(target)])


def _layers(runner: RuleRunner, built: BuiltPackage) -> list:
    """(history, layer digest) of each layer of the built image."""
    files = {fc.path: fc.content for fc in runner.request(DigestContents, [built.digest])}
    prefix = built.artifacts[0].relpath

    def blob(digest: str) -> dict:
        return json.loads(files[f"{prefix}/blobs/sha256/{digest.split(':')[1]}"])

    index = json.loads(files[f"{prefix}/index.json"])
    manifest = blob(index["manifests"][0]["digest"])
    config = blob(manifest["config"]["digest"])
    history = [h["created_by"] for h in config["history"] if not h.get("empty_layer")]
    return list(zip(history, (layer["digest"] for layer in manifest["layers"])))


@needs("dpkg-scanpackages")
def test_generated_lockfile_builds_one_layer_per_large_package(rule_runner, archive):
    runner = _runner(rule_runner, archive)
    runner.write_files({"app/BUILD": BUILD})
    lockfile = _generate(runner)
    assert lockfile == _generate(runner)  # stable bytes
    lock = parse_lockfile(lockfile, LOCKFILE)
    assert {d.name for d in lock.get("app:deps").packages("amd64")} == set(PACKAGES)
    assert lockfile.decode().splitlines()[3] == "# Regenerate: pants generate-lockfiles --resolve=oci-debian-packages"
    runner.write_files({LOCKFILE: lockfile})
    layers = _layers(runner, _package(runner))
    assert [h for h, _ in layers] == [
        "pants: oci_debian_packages app:deps (libc6)",
        "pants: oci_debian_packages app:deps (small packages)",
    ]


@needs("dpkg-scanpackages")
def test_a_bumped_package_changes_exactly_its_layer(rule_runner, tmp_path):
    debs = downloaded_debs(PACKAGES)
    bumped = rebuilt_deb(debs["bzip2"], "1.0.8-5+b1+bump1", tmp_path)
    before_root = make_archive(tmp_path / "before", debs)
    after_root = make_archive(tmp_path / "after", [*debs.values(), bumped])
    digests = []
    for root in (before_root, after_root):
        with served(root) as url:
            runner = _runner(rule_runner, url)
            runner.write_files({"app/BUILD": BUILD.replace('own_layer_size="1MiB"', 'own_layer_size="0"')})
            lockfile = _generate(runner)
            runner.write_files({LOCKFILE: lockfile})
            digests.append(dict(_layers(runner, _package(runner))))
    before, after = digests
    assert set(before) == set(after) and len(before) == len(PACKAGES)
    changed = [h for h in before if before[h] != after[h]]
    assert changed == ["pants: oci_debian_packages app:deps (bzip2)"]


def _error(runner: RuleRunner, call) -> str:
    with pytest.raises(ExecutionError) as raised:
        call(runner)
    return str(raised.value)


@needs("dpkg-scanpackages")
def test_unknown_package_during_generate_names_the_target(rule_runner, archive):
    runner = _runner(rule_runner, archive)
    runner.write_files({"app/BUILD": BUILD.replace('["bzip2"]', '["bzip2", "nosuch"]')})
    assert (
        "ocikit deb-lock: error: app:deps (bookworm, amd64): unknown package 'nosuch': the amd64 index has "
        "no package of that name"
    ) in _error(runner, _generate)


@needs("dpkg-scanpackages")
def test_architecture_the_archive_lacks(rule_runner, archive):
    runner = _runner(rule_runner, archive)
    runner.write_files({"app/BUILD": BUILD.replace('own_layer_size="1MiB"', 'architectures=["amd64", "arm64"]')})
    assert "has no arm64 index for bookworm" in _error(runner, _generate)


def test_archive_down_during_generate_writes_nothing(rule_runner, tmp_path):
    with served(tmp_path) as url:
        pass
    runner = _runner(rule_runner, url)
    runner.write_files({"app/BUILD": BUILD})
    assert f"the Debian archive is unreachable: {url}/dists/bookworm/main/binary-amd64/Packages.xz" in _error(
        runner, _generate
    )


def test_the_archive_option_is_required(rule_runner):
    runner = _runner(rule_runner, "")
    runner.write_files({"app/BUILD": BUILD})
    assert "[oci].debian_archive is '': `oci_debian_packages` targets need the URL of a Debian archive" in _error(
        runner, _generate
    )


def test_an_archive_url_with_credentials_is_refused_without_showing_them(rule_runner):
    runner = _runner(rule_runner, "http://user:s3cret@127.0.0.1:9/debian")
    runner.write_files({"app/BUILD": BUILD})
    error = _error(runner, _generate)
    assert "[oci].debian_archive is 'http://127.0.0.1:9/debian' with a user and password" in error
    assert "s3cret" not in error


def _locked_build(runner: RuleRunner, deb: LockedDeb, build: str = BUILD) -> None:
    lock = DebianLock((new_target_lock("app:deps", "bookworm", ["bzip2"], [("amd64", [deb])]),))
    runner.write_files({"app/BUILD": build, LOCKFILE: format_lockfile(lock, COMMAND)})


@needs("dpkg-scanpackages")
def test_a_sha256_mismatch_from_the_archive_fails_the_fetch(rule_runner, archive):
    runner = _runner(rule_runner, archive)
    local = downloaded_debs(["bzip2"])["bzip2"]
    _locked_build(
        runner, LockedDeb("bzip2", "1.0.8-5+b1", "amd64", f"pool/main/{local.name}", local.stat().st_size, "0" * 64)
    )
    error = _error(runner, _package)
    assert f"ocikit deb-fetch: error: bzip2 1.0.8-5+b1 (amd64): SHA-256 mismatch for {archive}/pool/main/" in error
    assert "regenerate the lockfile" in error


def test_a_lockfile_without_the_target_names_the_command(rule_runner):
    runner = _runner(rule_runner, "http://127.0.0.1:9/debian")
    _locked_build(runner, _deb("bzip2", 10), BUILD.replace('["bzip2"]', '["bzip2", "tzdata"]'))
    assert (
        f"The Debian package lockfile {LOCKFILE} resolved it for the packages ['bzip2'], not ['bzip2', 'tzdata'] "
        f"(app:deps): run `{COMMAND}`"
    ) in _error(runner, _package)


def test_a_hand_edited_lockfile_names_file_line_and_key(rule_runner):
    runner = _runner(rule_runner, "http://127.0.0.1:9/debian")
    _locked_build(runner, _deb("bzip2", 10))
    text = Path(runner.build_root, LOCKFILE).read_text().replace("size: 10", "size: ten")
    runner.write_files({LOCKFILE: text})
    error = _error(runner, _package)
    assert f"{LOCKFILE}:12: targets['app:deps'].architectures['amd64']['bzip2'].size: expected the size" in error, error


def test_an_image_platform_outside_the_targets_architectures(rule_runner):
    runner = _runner(rule_runner, "http://127.0.0.1:9/debian")
    _locked_build(runner, _deb("bzip2", 10), BUILD.replace('"linux/amd64"', '"linux/arm64"'))
    expected = "The `architectures` field in target app:deps is ['amd64'], but an image built with it is for "
    assert f"{expected}linux/arm64 (arm64)" in _error(runner, _package)


@pytest.mark.parametrize(
    "field,accepted",
    [
        ('packages=["Bad_Name"]', "expected one or more Debian package names"),
        ('packages=["bzip2"], architectures=["x86_64"]', "expected one or more of amd64, arm64"),
        ('packages=["bzip2"], suite="Bookworm/"', "expected a suite name such as 'bookworm'"),
        ('packages=["bzip2"], own_layer_size="big"', "expected a size such as '1MiB'"),
    ],
)
def test_bad_fields_are_refused_naming_target_and_field(rule_runner, field, accepted):
    rule_runner.write_files({"bad/BUILD": f'oci_debian_packages(name="d", {field})\n'})
    with pytest.raises(ExecutionError) as raised:
        rule_runner.get_target(Address("bad", target_name="d"))
    assert "field in target bad:d has an invalid value" in str(raised.value) and accepted in str(raised.value)


@needs("dpkg-scanpackages")
def test_the_sbom_lists_the_locked_packages(rule_runner, archive):
    runner = _runner(rule_runner, archive)
    runner.write_files({"app/BUILD": BUILD})
    runner.write_files({LOCKFILE: _generate(runner)})
    built = _package(runner)
    files = {fc.path: fc.content for fc in runner.request(DigestContents, [built.digest])}
    (sbom_path,) = [p for p in files if p.endswith(".spdx.json")]
    packages = {p["name"]: p for p in json.loads(files[sbom_path])["packages"]}
    assert set(PACKAGES) <= set(packages)
    bzip2 = packages["bzip2"]
    local = downloaded_debs(["bzip2"])["bzip2"]
    assert {"algorithm": "SHA256", "checksumValue": hashlib.sha256(local.read_bytes()).hexdigest()} in bzip2[
        "checksums"
    ]
    assert bzip2["downloadLocation"] == f"{archive}/pool/main/{local.name}"
    purls = [r["referenceLocator"] for r in bzip2["externalRefs"] if r["referenceType"] == "purl"]
    version = bzip2["versionInfo"].replace("+", "%2B")  # percent-encoded, as purl says
    assert purls == [f"pkg:deb/debian/bzip2@{version}?arch=amd64"]


def test_the_target_depends_on_the_lockfile_so_changed_dependents_see_it(rule_runner):
    from pants.engine.addresses import Addresses
    from pants.engine.target import DependenciesRequest

    from pants_oci.debian.target_types import OciDebianDependenciesField

    runner = RuleRunner(
        rules=[*rule_runner.rules, QueryRule(Addresses, [DependenciesRequest])], target_types=rule_runner.target_types
    )
    runner.set_options([], env_inherit={"PATH", "HOME"})
    runner.write_files({"app/BUILD": BUILD})

    def dependencies() -> list:
        target = runner.get_target(Address("app", target_name="deps"))
        return list(runner.request(Addresses, [DependenciesRequest(target[OciDebianDependenciesField])]))

    assert dependencies() == [], "no lockfile yet: building says which goal writes it"
    _locked_build(runner, _deb("bzip2", 10))
    lockfile = Address(
        "3rdparty/oci", target_name="_oci-debian-packages_lockfile", relative_file_path="debian-packages.lock.yaml"
    )
    assert dependencies() == [lockfile]
    assert runner.get_target(lockfile).alias == "_lockfile"
