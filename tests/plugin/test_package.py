"""RuleRunner tests of the wired rules: oci_image -> layers -> OCI layout digest."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from ocikit import media_types
from pants_oci.goals.package import OciImageFieldSet


def package(rule_runner: RuleRunner, spec_path: str, name: str) -> tuple[BuiltPackage, dict[str, bytes]]:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    built = rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])
    contents = rule_runner.request(DigestContents, [built.digest])
    return built, {fc.path: fc.content for fc in contents}


def blob(files: dict[str, bytes], prefix: str, digest: str) -> dict:
    return json.loads(files[f"{prefix}/blobs/sha256/{digest.split(':')[1]}"])


def test_layers_config_and_layout(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "img/a.txt": "a",
            "img/bin/tool": "#!/bin/sh\n",
            "img/BUILD": """
files(name="f", sources=["a.txt"])
files(name="tool", sources=["bin/tool"])
oci_layer(name="l1", dependencies=[":f"], destination="/srv")
oci_layer(name="l2", dependencies=[":tool"], owner="1000:1000")
oci_image(
    name="img",
    layers=[":l1", ":l2"],
    entrypoint=["/img/bin/tool"],
    env={"A": "1"},
    exposed_ports=["8080"],
    image_tags=["v1", "latest"],
)
""",
        }
    )
    built, files = package(rule_runner, "img", "img")
    artifact, sbom = built.artifacts  # the layout, and its SBOM beside it
    assert (artifact.relpath, sbom.relpath) == ("img/img", "img/img.spdx.json")
    assert json.loads(files["img/img/oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["img/img/index.json"])
    refs = [m["annotations"][media_types.REF_NAME] for m in index["manifests"]]
    assert refs == ["v1", "latest"]
    manifest_digest = index["manifests"][0]["digest"]
    assert artifact.digest == manifest_digest
    manifest = blob(files, "img/img", manifest_digest)
    assert len(manifest["layers"]) == 2
    config = blob(files, "img/img", manifest["config"]["digest"])
    assert config["config"]["Entrypoint"] == ["/img/bin/tool"]
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert [h["created_by"] for h in config["history"]] == [
        "pants: oci_layer img:l1",
        "pants: oci_layer img:l2",
    ]
    # Every blob the manifest names is in the layout.
    for layer in manifest["layers"]:
        assert f"img/img/blobs/sha256/{layer['digest'][7:]}" in files


def test_same_inputs_same_digest_and_edit_changes_only_its_layer(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "x/a.txt": "a",
            "x/b.txt": "b",
            "x/BUILD": """
files(name="a", sources=["a.txt"])
files(name="b", sources=["b.txt"])
oci_layer(name="la", dependencies=[":a"])
oci_layer(name="lb", dependencies=[":b"])
oci_image(name="img", layers=[":la", ":lb"])
""",
        }
    )
    first, files1 = package(rule_runner, "x", "img")
    again, _ = package(rule_runner, "x", "img")
    assert first.artifacts[0].digest == again.artifacts[0].digest
    layers1 = blob(files1, "x/img", first.artifacts[0].digest)["layers"]
    rule_runner.write_files({"x/b.txt": "B"})
    edited, files2 = package(rule_runner, "x", "img")
    layers2 = blob(files2, "x/img", edited.artifacts[0].digest)["layers"]
    assert layers1[0] == layers2[0]
    assert layers1[1] != layers2[1]


def test_base_image_and_multi_platform_index(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "m/a.txt": "a",
            "m/b.txt": "b",
            "m/BUILD": """
files(name="a", sources=["a.txt"])
files(name="b", sources=["b.txt"])
oci_image(name="base", dependencies=[":a"], env={"X": "base"}, cmd=["base"],
          platforms=["linux/amd64", "linux/arm64"])
oci_image(name="child", base=":base", dependencies=[":b"], env={"X": "child"},
          entrypoint=["/e"], platforms=["linux/arm64", "linux/amd64"])
""",
        }
    )
    built, files = package(rule_runner, "m", "child")
    index = blob(files, "m/child", built.artifacts[0].digest)
    assert index["mediaType"] == media_types.OCI_INDEX
    platforms = [m["platform"]["architecture"] for m in index["manifests"]]
    assert platforms == ["arm64", "amd64"]
    manifests = [blob(files, "m/child", m["digest"]) for m in index["manifests"]]
    assert manifests[0]["layers"] == manifests[1]["layers"]
    assert len(manifests[0]["layers"]) == 2
    config = blob(files, "m/child", manifests[0]["config"]["digest"])
    assert config["architecture"] == "arm64"
    assert config["config"]["Env"] == ["X=child"]
    assert "Cmd" not in config["config"], "a new entrypoint clears the inherited cmd"


def test_base_missing_platform_is_an_error(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "p/a.txt": "a",
            "p/BUILD": """
files(name="a", sources=["a.txt"])
oci_image(name="base", dependencies=[":a"])
oci_image(name="child", base=":base", platforms=["linux/arm64"])
""",
        }
    )
    with pytest.raises(
        ExecutionError, match=r"asks for linux/arm64, but its base p:base is built for linux/amd64 only"
    ):
        package(rule_runner, "p", "child")


def test_a_base_built_for_arm64_v8_serves_an_image_asking_for_arm64(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "v/a.txt": "a",
            "v/BUILD": """
files(name="a", sources=["a.txt"])
oci_image(name="base", dependencies=[":a"], platforms=["linux/amd64", "linux/arm64/v8"])
oci_image(name="child", base=":base", platforms=["linux/amd64", "linux/arm64"])
""",
        }
    )
    built, files = package(rule_runner, "v", "child")
    index = blob(files, "v/child", built.artifacts[0].digest)
    assert [m["platform"] for m in index["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64"},
    ]
    base_built, base_files = package(rule_runner, "v", "base")
    base_index = blob(base_files, "v/base", base_built.artifacts[0].digest)
    arm_base = blob(base_files, "v/base", base_index["manifests"][1]["digest"])
    arm_child = blob(files, "v/child", index["manifests"][1]["digest"])
    assert arm_child["layers"] == arm_base["layers"]


def test_a_tag_only_oci_pull_the_lockfile_lacks_is_reported_as_its_own_field_error(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "u/BUILD": """
oci_pull(name="p", image="registry.example.com/base/debian:12")
oci_image(name="img", base=":p")
""",
        }
    )
    with pytest.raises(ExecutionError) as raised:
        package(rule_runner, "u", "img")
    message = str(raised.value)
    assert "The `image` field in target u:p has the value 'registry.example.com/base/debian:12', a tag" in message
    assert "Run `pants generate-lockfiles --resolve=oci-base-images` to add it" in message
    assert "expected 'scratch'" not in message


@pytest.mark.parametrize(
    "build,message",
    [
        (
            'oci_image(name="img", workdir="app")',
            r"The `workdir` field in target bad:img has an invalid value 'app': expected an absolute",
        ),
        (
            'oci_layer(name="l", dependencies=[":f"], destination="/a/../b")\noci_image(name="img", layers=[":l"])',
            r"The `destination` field in target bad:l has an invalid value '/a/../b'",
        ),
        (
            'oci_image(name="img", exposed_ports=["80/icmp"])',
            r"`exposed_ports` field in target bad:img has an invalid value '80/icmp'",
        ),
        (
            'oci_image(name="img", platforms=["linux"])',
            r"`platforms` field in target bad:img has an invalid value 'linux'",
        ),
        ('oci_image(name="img", env={"A=B": "x"})', r"`env` field in target bad:img has an invalid value 'A=B'"),
        (
            'oci_image(name="img", base="registry.example.com/repo:tag")',
            r"`base` field in target bad:img has an invalid value 'registry.example.com/repo:tag': a base "
            r"image must be pinned by digest",
        ),
        (
            'oci_image(name="img", base="registry/repo:tag")',
            r"`base` field in target bad:img has an invalid value 'registry/repo:tag': it names no target "
            r"\(.*\); a base must be 'scratch', an `oci_image` or `oci_pull` target, or an image "
            r"reference pinned by digest",
        ),
        (
            'oci_image(name="img", registries=["@nope"])',
            r"the `registries` field of bad:img: unknown registry alias '@nope'",
        ),
        (
            'oci_image(name="img", base=":f")',
            r"bad:f is a `files` target, but a base must be 'scratch', an `oci_image` or `oci_pull` target",
        ),
        (
            'oci_image(name="img", base=":other")\noci_image(name="other", base=":img")',
            r"makes a cycle of images: bad:img -> bad:other -> bad:img",
        ),
        ('oci_layer(name="l")\noci_image(name="img", layers=[":l"])', r"oci_layer bad:l has no inputs"),
        (
            'oci_image(name="img", layers=[":f"])',
            r"names bad/a.txt:f, a `file` target: only `oci_layer` and `oci_debian_packages` targets can be layers",
        ),
        (
            'oci_layer(name="l", dependencies=[":f"], owner="root")\noci_image(name="img", layers=[":l"])',
            r"`owner` field in target bad:l has an invalid value 'root': expected numeric 'uid:gid'",
        ),
        ('oci_image(name="img", volumes=["data"])', r"`volumes` field in target bad:img has an invalid value 'data'"),
        (
            'oci_image(name="img", platforms=["linux/amd64", "linux/amd64"])',
            r"`platforms` field in target bad:img has an invalid value 'linux/amd64': "
            r"each platform may appear only once",
        ),
        (
            'oci_image(name="img", image_tags=["bad tag"])',
            r"`image_tags` field in target bad:img has an invalid value 'bad tag'",
        ),
        (
            'oci_image(name="img", repository="Team/App")',
            r"`repository` field in target bad:img has an invalid value 'Team/App'",
        ),
        (
            'relocated_files(name="r1", files_targets=[":f"], src="bad", dest="x")\n'
            'relocated_files(name="r2", files_targets=[":g"], src="bad/sub", dest="x")\n'
            'files(name="g", sources=["sub/a.txt"])\n'
            'oci_image(name="img", dependencies=[":r1", ":r2"])',
            r"Two inputs of oci_image bad:img \(its `dependencies`\) land on the same path /x/a.txt: bad:r1 and bad:r2",
        ),
    ],
)
def test_bad_input_errors_name_target_field_and_value(rule_runner: RuleRunner, build: str, message: str) -> None:
    rule_runner.write_files(
        {"bad/a.txt": "a", "bad/sub/a.txt": "other", "bad/BUILD": 'files(name="f", sources=["a.txt"])\n' + build}
    )
    with pytest.raises(ExecutionError, match=message):
        package(rule_runner, "bad", "img")


def layer_members(files: dict[str, bytes], prefix: str, descriptor: dict) -> dict[str, tarfile.TarInfo]:
    data = files[f"{prefix}/blobs/sha256/{descriptor['digest'][7:]}"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_declared_symlinks_go_into_their_layer(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "s/tool": "#!/bin/sh\n",
            "s/BUILD": """
files(name="tool", sources=["tool"])
oci_layer(name="files_and_links", dependencies=[":tool"], destination="/opt/app", owner="7:8",
          symlinks={"bin/run": "../s/tool", "python": "/usr/bin/python3"})
oci_layer(name="links_only", destination="/usr/local", symlinks={"bin/app": "/opt/app/s/tool"})
oci_image(name="img", layers=[":files_and_links", ":links_only"])
""",
        }
    )
    built, files = package(rule_runner, "s", "img")
    manifest = blob(files, "s/img", built.artifacts[0].digest)
    first = layer_members(files, "s/img", manifest["layers"][0])
    assert first["opt/app/bin/run"].issym() and first["opt/app/bin/run"].linkname == "../s/tool"
    assert first["opt/app/python"].linkname == "/usr/bin/python3"
    assert (first["opt/app/bin"].isdir(), first["opt/app/bin"].uid, first["opt/app/bin"].gid) == (True, 7, 8)
    assert first["opt/app/s/tool"].isfile()
    second = layer_members(files, "s/img", manifest["layers"][1])
    assert sorted(second) == ["usr/local", "usr/local/bin", "usr/local/bin/app"]
    assert second["usr/local/bin/app"].linkname == "/opt/app/s/tool"


@pytest.mark.parametrize(
    "symlinks, message",
    [
        ('{"/abs": "x"}', r"`symlinks` field in target sb:l has an invalid value .*invalid symlink path '/abs'"),
        ('{"a/../b": "x"}', r"invalid symlink path 'a/../b'"),
        ('{"a": ""}', r"invalid target '' for symlink 'a'"),
        ('{"a": "x", "a/b": "y"}', r"symlink /a -> 'x' would be the parent of symlink /a/b"),
        (
            '{"sb/tool": "elsewhere"}',
            r"Two inputs of oci_layer sb:l land on the same path /sb/tool: sb/tool:f and the `symlinks` field of sb:l",
        ),
    ],
)
def test_bad_symlinks_name_the_field_or_the_conflict(rule_runner: RuleRunner, symlinks: str, message: str) -> None:
    rule_runner.write_files(
        {
            "sb/tool": "x",
            "sb/BUILD": f'files(name="f", sources=["tool"])\n'
            f'oci_layer(name="l", dependencies=[":f"], symlinks={symlinks})\n'
            'oci_image(name="img", layers=[":l"])',
        }
    )
    with pytest.raises(ExecutionError, match=message):
        package(rule_runner, "sb", "img")
