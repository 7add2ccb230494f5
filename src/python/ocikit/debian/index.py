"""A Debian `Packages` index: its paragraphs read into package records, and dependency fields
parsed into alternatives.

    records = read_packages(data, "Packages.xz", architecture="amd64")
    parse_relations("libc6 (>= 2.34), python3-minimal:any | python3 (<< 3.12)")

The index is deb822 (`Field: value` lines, continuation lines start with a space, a blank
line between paragraphs), compressed by the suffix of its name (.xz, .gz or none). Only the
fields the resolver and the lockfile need are kept in a record; the .deb itself carries the
full control paragraph that the image records.
"""

from __future__ import annotations

import gzip
import lzma
import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from ocikit.debian.version import DebianVersionError, normalise_relation, parse_version
from ocikit.errors import OcikitError

INDEX_NAMES = ("Packages.xz", "Packages.gz", "Packages")
_RELATION = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9+.-]*)(?::(?P<qualifier>[a-z0-9-]+))?"
    r"\s*(?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^\s)]+)\s*\))?"
    r"\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$"
)


class PackagesIndexError(OcikitError, ValueError):
    """A Packages index or a dependency field that cannot be read."""


@dataclass(frozen=True)
class Relation:
    """One `name[:qualifier] [(op version)]` of a Depends field."""

    name: str
    relation: str = ""  # "" for any version, else one of version.RELATIONS
    version: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.relation} {self.version})" if self.relation else self.name


Alternatives = Tuple[Relation, ...]  # `a | b`: the first satisfiable one is taken


@dataclass(frozen=True)
class PackageRecord:
    name: str
    version: str
    architecture: str  # the package's own: "amd64", "arm64" or "all"
    filename: str  # the path of the .deb below the archive's root
    size: int
    sha256: str  # hex
    depends: Tuple[Alternatives, ...] = ()  # Pre-Depends, then Depends
    provides: Tuple[Relation, ...] = ()
    priority: str = ""
    essential: bool = False


def decompress(data: bytes, name: str) -> bytes:
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def paragraphs(text: str) -> Iterator[Tuple[int, dict]]:
    """(first line number, {lower-cased field: value}) of each paragraph; continuation lines are
    joined with "\\n" and their leading space dropped."""
    fields: dict = {}
    start, last = 0, ""
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if last:
                fields[last] += "\n" + line[1:]
        elif ":" in line:
            name, value = line.split(":", 1)
            last = name.strip().lower()
            if not fields:
                start = number
            fields[last] = value.strip()
    if fields:
        yield start, fields


def parse_relations(text: str, where: str = "") -> Tuple[Alternatives, ...]:
    """A Depends-style field: comma-separated groups of `|`-separated relations. Architecture
    qualifiers (`:any`, `:native`, `:amd64`) are dropped: an image has one architecture, and
    a Multi-Arch package satisfies them there."""
    groups: List[Alternatives] = []
    for group in " ".join(text.split()).split(","):
        if not group.strip():
            continue
        alternatives = []
        for part in group.split("|"):
            match = _RELATION.match(part.strip())
            if not match:
                raise PackagesIndexError(f"{where}invalid relation {part.strip()!r} in {text!r}")
            op, version = match.group("op"), match.group("version")
            try:
                if op:
                    op = normalise_relation(op)
                    parse_version(version)
            except DebianVersionError as e:
                raise PackagesIndexError(f"{where}{e}") from None
            alternatives.append(Relation(match.group("name"), op or "", version or ""))
        groups.append(tuple(alternatives))
    return tuple(groups)


def _record(fields: dict, where: str) -> PackageRecord:
    missing = [key for key in ("package", "version", "architecture", "filename", "size", "sha256") if key not in fields]
    if missing:
        raise PackagesIndexError(f"{where}the paragraph has no {missing[0]!r} field")
    try:
        parse_version(fields["version"])
    except DebianVersionError as e:
        raise PackagesIndexError(f"{where}{e}") from None
    if not fields["size"].isdigit() or not re.fullmatch(r"[0-9a-f]{64}", fields["sha256"]):
        raise PackagesIndexError(f"{where}invalid Size {fields['size']!r} or SHA256 {fields['sha256']!r}")
    depends = parse_relations(fields.get("pre-depends", ""), where) + parse_relations(fields.get("depends", ""), where)
    provides = tuple(g[0] for g in parse_relations(fields.get("provides", ""), where))
    return PackageRecord(
        name=fields["package"],
        version=fields["version"],
        architecture=fields["architecture"],
        filename=fields["filename"],
        size=int(fields["size"]),
        sha256=fields["sha256"],
        depends=depends,
        provides=provides,
        priority=fields.get("priority", ""),
        essential=fields.get("essential", "").lower() == "yes",
    )


def read_packages(data: bytes, name: str, architecture: Optional[str] = None) -> List[PackageRecord]:
    """The records of an index file named `name` (its suffix says the compression). With
    `architecture`, records of another architecture (neither it nor "all") are dropped."""
    try:
        text = decompress(data, name).decode("utf-8")
    except (lzma.LZMAError, OSError, EOFError, UnicodeDecodeError) as e:
        raise PackagesIndexError(f"{name}: not a readable Packages index ({e})") from None
    records = []
    for line, fields in paragraphs(text):
        record = _record(fields, f"{name}:{line}: ")
        if architecture is None or record.architecture in (architecture, "all"):
            records.append(record)
    return records
