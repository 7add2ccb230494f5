"""Resolving a closure from a Packages index: versions, alternatives, virtual packages, and
the errors a user sees."""

from __future__ import annotations

import gzip
import lzma

import pytest

from ocikit.debian.index import PackagesIndexError, Relation, parse_relations, read_packages
from ocikit.debian.resolve import PackageUniverse, ResolveError, resolve


def _paragraph(name, version="1.0", arch="amd64", **fields):
    lines = [f"Package: {name}", f"Version: {version}", f"Architecture: {arch}"]
    lines += [f"{key.replace('_', '-').title()}: {value}" for key, value in fields.items()]
    lines += [f"Filename: pool/main/{name}_{version}_{arch}.deb", "Size: 10", "SHA256: " + "a" * 64]
    return "\n".join(lines) + "\n"


INDEX = "\n".join(
    [
        _paragraph(
            "app",
            depends="libfoo (>= 2.0), python3:any | python2, mail-transport-agent, awk",
            pre_depends="libc6 (>= 2.34)",
        ),
        _paragraph("libfoo", "1.5"),
        _paragraph("libfoo", "2.1", depends="libc6"),
        _paragraph("libfoo", "3.0~rc1"),
        _paragraph("libc6", "2.36-9+deb12u4"),
        _paragraph("python3", "3.11.2-1+b1", arch="amd64", depends="python3.11 (= 3.11.2-6)"),
        _paragraph("python3.11", "3.11.2-6", depends="libc6 (>= 2.36)"),
        _paragraph("postfix", "3.7", provides="mail-transport-agent"),
        _paragraph("exim4", "4.96", provides="mail-transport-agent"),
        _paragraph("mawk", "1.3.4", priority="required", provides="awk"),
        _paragraph("gawk", "5.2", priority="optional", provides="awk"),
        _paragraph("armonly", arch="arm64"),
        _paragraph("tzdata", "2024a", arch="all"),
        _paragraph("broken", depends="libfoo (>> 9)"),
        _paragraph("needs-new", depends="newlib (>= 2) | libfoo (<< 1)"),
    ]
)


def _universe(text=INDEX):
    return PackageUniverse(read_packages(lzma.compress(text.encode()), "Packages.xz", "amd64"))


def test_parse_relations():
    assert parse_relations("a (>= 1), b:any | c (<< 2~), d [amd64]") == (
        (Relation("a", ">=", "1"),),
        (Relation("b"), Relation("c", "<<", "2~")),
        (Relation("d"),),
    )
    with pytest.raises(PackagesIndexError, match=r"invalid relation 'a \(=>> 1\)'"):
        parse_relations("a (=>> 1)")


def test_index_compressions_and_architectures():
    records = read_packages(gzip.compress(INDEX.encode()), "Packages.gz", "amd64")
    assert "armonly" not in {r.name for r in records} and "tzdata" in {r.name for r in records}
    assert len(read_packages(INDEX.encode(), "Packages")) == len(records) + 1
    with pytest.raises(PackagesIndexError, match=r"^Packages.xz: not a readable Packages index"):
        read_packages(b"junk", "Packages.xz")
    with pytest.raises(PackagesIndexError, match=r"^Packages:1: the paragraph has no 'filename' field"):
        read_packages(b"Package: a\nVersion: 1\nArchitecture: all\n", "Packages")


def test_closure_takes_versions_alternatives_and_providers():
    chosen = {r.name: r.version for r in resolve(_universe(), ["app", "postfix"], "amd64")}
    assert chosen == {
        "app": "1.0",
        "libc6": "2.36-9+deb12u4",
        "libfoo": "3.0~rc1",  # the highest satisfying (>= 2.0): ~ sorts before the end
        "mawk": "1.3.4",  # awk: two providers, the required one
        "postfix": "3.7",  # mail-transport-agent: the provider asked for
        "python3": "3.11.2-1+b1",  # python3:any, the first alternative
        "python3.11": "3.11.2-6",
    }


def test_a_version_constraint_picks_an_older_version():
    text = INDEX + "\n" + _paragraph("old-user", depends="libfoo (<< 2)")
    assert {r.name: r.version for r in resolve(_universe(text), ["old-user"], "amd64")}["libfoo"] == "1.5"


def test_essential_packages_are_not_added():
    text = INDEX + "\n" + _paragraph("bash", essential="yes", priority="required")
    assert "bash" not in {r.name for r in resolve(_universe(text), ["tzdata"], "amd64")}


def test_unknown_package():
    with pytest.raises(ResolveError, match=r"^unknown package 'nosuch': the amd64 index has no package of that name$"):
        resolve(_universe(), ["nosuch"], "amd64")


def test_package_of_another_architecture_is_unknown():
    with pytest.raises(ResolveError, match=r"unknown package 'armonly'"):
        resolve(_universe(), ["armonly"], "amd64")


def test_unsatisfiable_dependency_names_the_chain():
    with pytest.raises(ResolveError, match=r"^unsatisfiable dependency libfoo \(>> 9\) of broken \(broken 1.0\)"):
        resolve(_universe(), ["broken"], "amd64")
    with pytest.raises(ResolveError, match=r"newlib \(>= 2\) \| libfoo \(<< 1\) of needs-new"):
        resolve(_universe(), ["needs-new"], "amd64")


def test_ambiguous_virtual_package():
    with pytest.raises(
        ResolveError,
        match=r"mail-transport-agent is a virtual package provided by exim4, postfix: "
        r"ask for one of them by name",
    ):
        resolve(_universe(), ["app"], "amd64")
