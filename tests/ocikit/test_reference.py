"""Image references and registry addresses, parsed as docker / go-containerregistry do."""

from __future__ import annotations

import pytest

from ocikit.reference import (
    InvalidReference,
    Reference,
    is_loopback,
    parse_reference,
    parse_registry,
    split_host_port,
)

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("ubuntu", "docker.io", "library/ubuntu", None, None),
        ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
        ("docker.io/ubuntu", "docker.io", "library/ubuntu", None, None),
        ("index.docker.io/library/ubuntu:x", "docker.io", "library/ubuntu", "x", None),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", None),
        ("127.0.0.1:5000/app@" + D, "127.0.0.1:5000", "app", None, D),
        ("ghcr.io/o/r:t@" + D, "ghcr.io", "o/r", "t", D),
        ("[::1]:5000/app:v1", "[::1]:5000", "app", "v1", None),
        ("Registry/app", "Registry", "app", None, None),  # uppercase first component = a host
        ("a.b/c__d/e-f/g.h_i---j", "a.b", "c__d/e-f/g.h_i---j", None, None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # docker agrees
    ],
)
def test_parses_like_docker(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_docker_hub_api_host_and_formatting():
    ref = parse_reference("alpine")
    assert ref.api_host == "index.docker.io"
    assert str(ref) == "docker.io/library/alpine"
    assert str(parse_reference("alpine", default_tag="latest")) == "docker.io/library/alpine:latest"
    assert parse_reference("r.io/a@" + D, default_tag="latest").tag is None
    assert str(parse_reference("r.io:5000/a/b:t@" + D)) == "r.io:5000/a/b:t@" + D
    assert parse_reference("r.io/a:t").with_digest(D).identifier == D
    assert Reference("r.io", "a", "t").identifier == "t"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("r.io/App", "must be lowercase"),
        ("r.io/a//b", "component ''"),
        ("r.io/-a", "lowercase components"),
        ("r.io/a:-bad", "invalid tag '-bad'"),
        ("r.io/a:" + "t" * 129, "invalid tag"),
        ("r.io/a@sha256:abc", "invalid digest 'sha256:abc'"),
        ("r.io/a@md5:" + "0" * 32, "invalid digest"),
        ("https://r.io/a", "drop the scheme"),
        ("r.io/a b", "whitespace"),
        ("", "expected [REGISTRY"),
        ("r.io:99999/a", "port '99999'"),
        ("bad_host.io:5000/a", "invalid registry host 'bad_host.io'"),
        ("r.io/" + "a" * 300, "longer than 255"),
    ],
)
def test_bad_references_name_the_value_and_the_rule(text, fragment):
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("localhost:5000", "localhost:5000"),
        ("r.io", "r.io"),
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("[::1]:5000", "[::1]:5000"),
        ("10.0.0.1:443", "10.0.0.1:443"),
        ("r.io/", "r.io"),
    ],
)
def test_registry_addresses(text, expected):
    assert parse_registry(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("https://r.io", "without a scheme such as 'https://' (e.g. 'r.io')"),
        ("r.io/v2/x", "without a path (e.g. 'r.io')"),
        ("r.io:port", "port 'port'"),
        ("::1", "brackets"),
        ("", "expected HOST[:PORT]"),
    ],
)
def test_bad_registry_addresses(text, fragment):
    with pytest.raises(InvalidReference) as info:
        parse_registry(text)
    assert fragment in str(info.value)


def test_loopback_detection():
    assert is_loopback("localhost:5000") and is_loopback("127.0.0.1") and is_loopback("127.3.2.1:80")
    assert is_loopback("[::1]:5000") and is_loopback("::1")
    assert not is_loopback("10.0.0.1:5000") and not is_loopback("r.io") and not is_loopback("localhost.r.io")
    assert split_host_port("[::1]:5000") == ("::1", 5000)
    assert split_host_port("r.io") == ("r.io", None)
