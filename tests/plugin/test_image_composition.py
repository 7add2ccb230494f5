"""The pure decisions of an image build, tested without a rule graph: what `base` means, which
base image each platform gets, cycles, annotations from extensions, config defaults from layer
sets, and a layer's path conflicts and source-root stripping."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException

from ocikit import media_types
from ocikit.digest import sha256_digest
from ocikit.image import ConfigMutations, Descriptor, Layer, Platform, build_platform_image
from pants_oci.bases import (
    BaseKind,
    BasePlatformError,
    base_address,
    base_image_per_platform,
    describe_cycle,
    parse_base,
)
from pants_oci.composition import (
    AnnotationConflict,
    EntrypointConflict,
    compose_images,
    merge_annotations,
    with_layer_defaults,
)
from pants_oci.field_validation import FieldName
from pants_oci.layer_paths import LayerInputError, check_layer_paths, strip_source_root

FIELD = FieldName("base", Address("app", target_name="img"))
PINNED = "registry.example.com/base/debian:12@sha256:" + "a" * 64


@pytest.mark.parametrize(
    "value, kind",
    [
        (None, BaseKind.scratch),
        ("scratch", BaseKind.scratch),
        (":runtime", BaseKind.address),
        ("//images/base:debian", BaseKind.address),
        ("images/base", BaseKind.address),
        ("team/app:1", BaseKind.address),  # no registry host: a target address in a BUILD file
        (PINNED, BaseKind.reference),
        ("127.0.0.1:5000/busybox@sha256:" + "b" * 64, BaseKind.reference),
    ],
)
def test_parse_base_tells_scratch_addresses_and_references_apart(value, kind) -> None:
    spec = parse_base(FIELD, value)
    assert spec.kind is kind
    assert (spec.reference is not None) == (kind is BaseKind.reference)
    assert base_address(value) == (spec.value if kind is BaseKind.address else None)


@pytest.mark.parametrize("value", ["registry.example.com/repo:tag", "localhost/app", "127.0.0.1:5000/busybox:1.36"])
def test_a_registry_reference_without_digest_says_pin_it(value) -> None:
    with pytest.raises(InvalidFieldException) as raised:
        parse_base(FIELD, value)
    message = str(raised.value)
    assert f"The `base` field in target app:img has an invalid value {value!r}" in message
    assert "must be pinned by digest" in message and "ocikit inspect" in message
    assert base_address(value) is None  # dependency inference leaves it to the image rule


def image(platform: str) -> object:
    return build_platform_image(Platform.parse(platform), None, None, [], ConfigMutations(), "t")


def test_each_platform_gets_the_base_a_runtime_would_pick() -> None:
    bases = [image("linux/amd64"), image("linux/arm64/v8")]
    chosen = base_image_per_platform([Platform.parse("linux/arm64"), Platform.parse("linux/amd64")], bases)
    assert [str(b.platform) for b in chosen] == ["linux/arm64/v8", "linux/amd64"]


def test_a_missing_base_platform_names_what_the_base_has() -> None:
    with pytest.raises(BasePlatformError) as raised:
        base_image_per_platform([Platform.parse("linux/s390x")], [image("linux/amd64")])
    assert str(raised.value.platform) == "linux/s390x"
    assert [str(p) for p in raised.value.available] == ["linux/amd64"]


def test_describe_cycle() -> None:
    assert describe_cycle(["a", "b"], "c") is None
    assert describe_cycle(["a", "b", "c"], "b") == "b -> c -> b"


def test_merge_annotations_refuses_a_key_set_twice() -> None:
    merged = merge_annotations({"a": "1"}, [("ext One", {"b": "2"}), ("ext Two", {"c": "3"})])
    assert merged == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(AnnotationConflict, match="'a' is set by the `annotations` field and by ext One"):
        merge_annotations({"a": "1"}, [("ext One", {"a": "2"})])
    with pytest.raises(AnnotationConflict, match="'b' is set by ext One and by ext Two"):
        merge_annotations({}, [("ext One", {"b": "2"}), ("ext Two", {"b": "3"})])


def layer(n: int) -> Layer:
    return Layer(Descriptor(media_types.OCI_LAYER_GZIP, sha256_digest(b"%d" % n), n), sha256_digest(b"t%d" % n))


def test_compose_images_one_manifest_or_an_index() -> None:
    amd64, arm64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64/v8")
    images, index = compose_images([amd64], [], [layer(1)], ConfigMutations(), "t", {})
    assert index is None and len(images) == 1
    images, index = compose_images([amd64, arm64], [], [layer(1)], ConfigMutations(), "t", {"k": "v"})
    assert index is not None and [i.platform for i in images] == [amd64, arm64]
    base_images = [image("linux/amd64")]
    with pytest.raises(BasePlatformError):
        compose_images([arm64], base_images, [layer(1)], ConfigMutations(), "t", {})


def test_compose_images_with_layers_per_platform() -> None:
    amd64, arm64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64/v8")
    images, index = compose_images(
        [amd64, arm64], [], {amd64: [layer(1), layer(3)], arm64: [layer(2), layer(3)]}, ConfigMutations(), "t", {}
    )
    assert index is not None
    assert [[layer.descriptor.size for layer in i.layers] for i in images] == [[1, 3], [2, 3]]


A, B = Address("x", target_name="a"), Address("x", target_name="b")


def test_layer_paths_two_owners_of_a_path() -> None:
    assert check_layer_paths([("f", A), ("d/g", B), ("f", A)], "oci_layer x:l", "/app") == {"f": A, "d/g": B}
    with pytest.raises(LayerInputError, match="land on the same path /app/f: x:a and x:b"):
        check_layer_paths([("f", A), ("f", B)], "oci_layer x:l", "/app")


def test_layer_paths_a_file_where_a_directory_is_needed() -> None:
    with pytest.raises(LayerInputError, match="/d: x:a puts a file there and x:b a directory"):
        check_layer_paths([("d", A), ("d/g", B)], "oci_layer x:l", "/")


def test_layer_paths_no_inputs() -> None:
    with pytest.raises(LayerInputError, match="oci_layer x:l has no inputs"):
        check_layer_paths([], "oci_layer x:l", "/")


def test_layer_defaults_fill_what_the_image_leaves_unset() -> None:
    app = ("app:py", ("python3", "-S", "/app/__main__.py"), {"MODE": "app", "TZ": "UTC"})
    files = ("app:files", None, {})
    own = ConfigMutations(env=(("MODE", "image"),))
    merged = with_layer_defaults(own, [app, files])
    assert merged.entrypoint == ("python3", "-S", "/app/__main__.py")
    # Proposed first, so the image's own value overrides it in place.
    assert merged.env == (("MODE", "app"), ("TZ", "UTC"), ("MODE", "image"))
    mine = ConfigMutations(entrypoint=("/bin/sh",))
    assert with_layer_defaults(mine, [app]).entrypoint == ("/bin/sh",)
    assert with_layer_defaults(ConfigMutations(), [app, app]).entrypoint == app[1]


def test_two_layer_sets_proposing_entrypoints_need_the_image_to_choose() -> None:
    one = ("a:py", ("python3", "/a"), {})
    two = ("b:py", ("python3", "/b"), {})
    with pytest.raises(EntrypointConflict, match=r"a:py: \['python3', '/a'\]; b:py: \['python3', '/b'\]"):
        with_layer_defaults(ConfigMutations(), [one, two])
    assert with_layer_defaults(ConfigMutations(entrypoint=("/x",)), [one, two]).entrypoint == ("/x",)


def test_strip_source_root() -> None:
    assert strip_source_root("src/python/app/x.py", "src/python") == "app/x.py"
    assert strip_source_root("app/x.py", ".") == "app/x.py"
    with pytest.raises(ValueError):
        strip_source_root("lib/x.py", "src")
