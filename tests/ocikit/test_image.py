"""Config composition, manifests and indexes (ocikit.image), and layout index.json."""

import json

import pytest

from ocikit import media_types
from ocikit.canonical_json import canonical_json
from ocikit.digest import sha256_digest
from ocikit.image import (
    ConfigMutations,
    Descriptor,
    ImageError,
    Layer,
    Platform,
    PlatformError,
    build_index,
    build_platform_image,
    compose_config,
    describe_platforms,
    index_platforms,
    normalize_port,
    pulled_platform_image,
    select_index_entry,
    select_platform,
)
from ocikit.layout import layout_index

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def layer(n: int) -> Layer:
    digest = sha256_digest(b"blob%d" % n)
    return Layer(Descriptor(media_types.OCI_LAYER_GZIP, digest, 10 + n), sha256_digest(b"tar%d" % n), f"layer {n}")


BASE_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Env": ["PATH=/usr/bin", "HOME=/root"],
        "Entrypoint": ["/bin/sh"],
        "Cmd": ["-c", "true"],
        "Labels": {"a": "1", "b": "2"},
        "ExposedPorts": {"80/tcp": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    "history": [{"created_by": "base"}],
}


def test_platform_parse_and_errors():
    assert Platform.parse("linux/arm64/v8") == ARM64
    assert str(ARM64) == "linux/arm64/v8"
    for bad in ["linux", "linux/", "Linux/amd64", "linux/amd64/v8/x", "", "linux//amd64"]:
        with pytest.raises(ImageError, match="expected 'os/arch'"):
            Platform.parse(bad)


@pytest.mark.parametrize(
    "wanted, offered, expected",
    [
        ("linux/arm64", ["linux/amd64", "linux/arm64/v8"], 1),  # no variant: the default one
        ("linux/arm64/v8", ["linux/arm64"], 0),  # arm64 means arm64/v8
        ("linux/amd64", ["linux/x86_64"], 0),  # architecture aliases
        ("linux/arm/v6", ["linux/arm", "linux/arm/v6"], 1),  # arm means arm/v7
        ("linux/arm64", ["linux/arm64/v8", "linux/arm64"], 1),  # an exact match wins
        ("linux/s390x", ["linux/amd64", "linux/arm64/v8"], None),
        ("windows/amd64", ["linux/amd64"], None),
    ],
)
def test_select_platform_picks_the_one_a_runtime_would(wanted, offered, expected):
    assert select_platform(Platform.parse(wanted), [Platform.parse(p) for p in offered]) == expected


def entry(n, platform=None):
    value = {"mediaType": media_types.OCI_MANIFEST, "digest": sha256_digest(bytes([n])), "size": n}
    return {**value, "platform": platform} if platform is not None else value


def test_platform_of_an_index_entry():
    assert Platform.of_index_entry(entry(1, {"os": "linux", "architecture": "arm64", "variant": "v8"})) == ARM64
    assert Platform.of_index_entry(entry(1, {"os": "linux", "architecture": "amd64"})) == AMD64
    for nameless in [
        entry(1),
        entry(1, {"os": "linux"}),
        entry(1, {"architecture": "amd64"}),
        entry(1, {"os": "unknown", "architecture": "unknown"}),
        entry(1, "linux/amd64"),
    ]:
        assert Platform.of_index_entry(nameless) is None


def test_select_index_entry_picks_through_select_platform_and_lists_what_there_is():
    index = {
        "manifests": [
            entry(1, {"os": "linux", "architecture": "amd64"}),
            entry(2, {"os": "unknown", "architecture": "unknown"}),  # an attestation manifest
            entry(3, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            entry(4, {"os": "linux", "architecture": "arm64"}),
            entry(5),
        ]
    }
    assert select_index_entry(index, Platform.parse("linux/arm64/v8"), "img") == (index["manifests"][2], ARM64)
    assert select_index_entry(index, Platform.parse("linux/arm64"), "img")[0] is index["manifests"][3]
    assert describe_platforms(index_platforms(index)) == "linux/amd64, linux/arm64, linux/arm64/v8"
    with pytest.raises(
        PlatformError, match="^img has no linux/s390x image; it has linux/amd64, linux/arm64, linux/arm64/v8$"
    ):
        select_index_entry(index, Platform.parse("linux/s390x"), "img")
    with pytest.raises(PlatformError, match="it has none$"):
        select_index_entry({"manifests": [entry(5)]}, AMD64, "img")
    assert issubclass(PlatformError, ImageError)


@pytest.mark.parametrize(
    "value,expected", [("8080", "8080/tcp"), ("53/udp", "53/udp"), ("1/SCTP", "1/sctp"), ("65535", "65535/tcp")]
)
def test_ports_normalise(value, expected):
    assert normalize_port(value) == expected


@pytest.mark.parametrize("bad", ["0", "65536", "80/icmp", "http", "80/", "-1", "8080/tcp/x"])
def test_bad_ports_rejected(bad):
    with pytest.raises(ImageError, match="PORT in 1-65535"):
        normalize_port(bad)


def test_entrypoint_clears_inherited_cmd_env_overrides_in_place_labels_merge():
    config = compose_config(
        BASE_CONFIG,
        AMD64,
        [layer(1)],
        ConfigMutations(
            entrypoint=("/app",),
            env=(("HOME", "/home/app"), ("MODE", "prod")),
            labels=(("b", "20"), ("c", "3")),
            exposed_ports=("8080",),
            volumes=("/data",),
        ),
        "1970-01-01T00:00:00Z",
    )
    c = config["config"]
    assert c["Entrypoint"] == ["/app"]
    assert "Cmd" not in c
    assert c["Env"] == ["PATH=/usr/bin", "HOME=/home/app", "MODE=prod"]
    assert c["Labels"] == {"a": "1", "b": "20", "c": "3"}
    assert c["ExposedPorts"] == {"80/tcp": {}, "8080/tcp": {}}
    assert c["Volumes"] == {"/data": {}}
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, layer(1).diff_id]
    assert [h["created_by"] for h in config["history"]] == ["base", "layer 1"]


def test_entrypoint_with_cmd_keeps_both_and_cmd_alone_keeps_entrypoint():
    both = compose_config(BASE_CONFIG, AMD64, [], ConfigMutations(entrypoint=("/a",), cmd=("x",)), "t")
    assert (both["config"]["Entrypoint"], both["config"]["Cmd"]) == (["/a"], ["x"])
    cmd_only = compose_config(BASE_CONFIG, AMD64, [], ConfigMutations(cmd=("y",)), "t")
    assert (cmd_only["config"]["Entrypoint"], cmd_only["config"]["Cmd"]) == (["/bin/sh"], ["y"])


def test_env_name_with_equals_is_rejected():
    with pytest.raises(ImageError, match="without '='"):
        compose_config(None, AMD64, [], ConfigMutations(env=(("A=B", "x"),)), "t")


def test_manifest_and_index_are_canonical_and_deterministic():
    def build():
        images = [
            build_platform_image(p, None, None, [layer(1), layer(2)], ConfigMutations(cmd=("x",)), "t", {"k": "v"})
            for p in (AMD64, ARM64)
        ]
        return images, build_index(images, {"k": "v"})

    (images_a, index_a), (images_b, index_b) = build(), build()
    assert images_a == images_b and index_a == index_b
    assert index_a.data == canonical_json(json.loads(index_a.data))
    assert index_a.descriptor.digest == sha256_digest(index_a.data)
    index = json.loads(index_a.data)
    assert [m["platform"] for m in index["manifests"]] == [AMD64.to_json(), ARM64.to_json()]
    layers = [json.loads(img.manifest.data)["layers"] for img in images_a]
    assert layers[0] == layers[1], "platforms share the same layer blobs"
    manifest = json.loads(images_a[0].manifest.data)
    assert manifest["mediaType"] == media_types.OCI_MANIFEST
    assert manifest["config"]["digest"] == images_a[0].config.descriptor.digest
    assert manifest["annotations"] == {"k": "v"}
    config = json.loads(images_a[1].config.data)
    assert (config["architecture"], config["variant"]) == ("arm64", "v8")


def test_base_layers_come_first():
    base = build_platform_image(AMD64, None, None, [layer(1)], ConfigMutations(), "t")
    child = build_platform_image(AMD64, base, json.loads(base.config.data), [layer(2)], ConfigMutations(), "t")
    digests = [layer["digest"] for layer in json.loads(child.manifest.data)["layers"]]
    assert digests == [layer(1).descriptor.digest, layer(2).descriptor.digest]
    diff_ids = json.loads(child.config.data)["rootfs"]["diff_ids"]
    assert diff_ids == [layer(1).diff_id, layer(2).diff_id]


def test_layout_index_names_each_tag():
    top = Descriptor(media_types.OCI_MANIFEST, sha256_digest(b"m"), 1)
    index = json.loads(layout_index(top, ["1.0", "latest"], "team/app"))
    names = [m["annotations"][media_types.REF_NAME] for m in index["manifests"]]
    assert names == ["1.0", "latest"]
    assert {m["digest"] for m in index["manifests"]} == {top.digest}
    assert index["manifests"][0]["annotations"][media_types.CONTAINERD_IMAGE_NAME] == "team/app:1.0"
    untagged = json.loads(layout_index(top, [], None))
    assert untagged["manifests"] == [top.to_json()]


def test_a_pulled_docker_image_becomes_an_oci_base_with_the_same_layer_bytes():
    config = canonical_json({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "2" * 64]}})
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": media_types.DOCKER_MANIFEST,
            "config": {"mediaType": media_types.DOCKER_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": [{"mediaType": media_types.DOCKER_LAYER_GZIP, "digest": "sha256:" + "3" * 64, "size": 7}],
        }
    )
    descriptor = Descriptor(media_types.DOCKER_MANIFEST, sha256_digest(manifest), len(manifest), platform=ARM64)
    image = pulled_platform_image(descriptor, manifest, config)
    assert image.platform == ARM64
    assert image.manifest.data == manifest and image.config.data == config
    assert image.config.descriptor.media_type == media_types.OCI_CONFIG
    (layer,) = image.layers
    assert (layer.descriptor.media_type, layer.descriptor.digest, layer.diff_id) == (
        media_types.OCI_LAYER_GZIP,
        "sha256:" + "3" * 64,
        "sha256:" + "2" * 64,
    )
    no_platform = Descriptor(media_types.DOCKER_MANIFEST, descriptor.digest, descriptor.size)
    assert pulled_platform_image(no_platform, manifest, config).platform == AMD64
