"""Installed third-party requirements (one flat site-packages tree) split into layers: pure
functions, tested directly.

Which distribution owns a file comes from its `*.dist-info/RECORD`, as pip reads it. Each
distribution that installs at least a threshold of bytes gets a layer of its own, so bumping one
large requirement re-uploads that layer only; the rest share one layer. A layer is named by the
top-level entries (`numpy`, `numpy.libs`, `numpy-1.26.4.dist-info`) its distributions own alone;
an entry two distributions share (a namespace package such as `google`, or `bin`) and files no
RECORD lists stay in the shared layer.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

SHARED = "requirements"


@dataclass(frozen=True)
class Distribution:
    name: str  # the dist-info directory without its suffix, e.g. "numpy-1.26.4"
    top_level: tuple[str, ...]  # the first path components of the files it installs


@dataclass(frozen=True)
class RequirementLayer:
    name: str  # a distribution's name, or SHARED
    include: tuple[str, ...]  # globs relative to the site-packages root
    exclude: tuple[str, ...]
    size: int  # bytes of file content


def recorded_paths(record: str) -> list[str]:
    """The paths a RECORD lists (CSV rows of path, hash, size), relative to site-packages."""
    return [row[0] for row in csv.reader(io.StringIO(record)) if row and row[0]]


def distributions(records: Mapping[str, str]) -> list[Distribution]:
    """From `{"x-1.0.dist-info/RECORD": text}`, each distribution and its top-level entries.
    Paths leaving site-packages (`../../bin/x`, from other install schemes) are not its own."""
    found = []
    for record_path, text in sorted(records.items()):
        dist_info = record_path.split("/", 1)[0]
        tops = {p.split("/", 1)[0] for p in recorded_paths(text) if not p.startswith("..")}
        tops.add(dist_info)
        found.append(Distribution(dist_info[: -len(".dist-info")], tuple(sorted(tops))))
    return found


def _globs(entries: Iterable[str]) -> tuple[str, ...]:
    return tuple(glob for entry in sorted(entries) for glob in (entry, f"{entry}/**"))


def split_requirements(
    dists: Iterable[Distribution], sizes: Mapping[str, int], own_layer_bytes: int
) -> list[RequirementLayer]:
    """The layers for a site-packages tree whose files are the keys of `sizes`: one for each
    distribution of at least `own_layer_bytes` (sorted by name), then the shared one (omitted
    when empty). `own_layer_bytes` 0 gives every distribution a layer of its own."""
    dists = list(dists)
    claimed_by = defaultdict(set)
    for dist in dists:
        for top in dist.top_level:
            claimed_by[top].add(dist.name)
    size_of_top: dict[str, int] = defaultdict(int)
    for path, size in sizes.items():
        size_of_top[path.split("/", 1)[0]] += size
    layers = []
    own_tops: set[str] = set()
    for dist in sorted(dists, key=lambda d: d.name):
        alone = [t for t in dist.top_level if claimed_by[t] == {dist.name} and t in size_of_top]
        size = sum(size_of_top[t] for t in alone)
        if alone and size >= own_layer_bytes:
            layers.append(RequirementLayer(dist.name, _globs(alone), (), size))
            own_tops.update(alone)
    rest = {top: size for top, size in size_of_top.items() if top not in own_tops}
    if rest:
        layers.append(RequirementLayer(SHARED, ("**",), _globs(own_tops), sum(rest.values())))
    return layers


def layer_tops(layer: RequirementLayer, tops: Iterable[str]) -> list[str]:
    """Which of a tree's top-level entries `tops` a layer holds, as its globs select them."""
    named = {glob for glob in layer.include if "*" not in glob}
    excluded = {glob for glob in layer.exclude if "*" not in glob}
    if "**" in layer.include:
        return sorted(top for top in tops if top not in excluded)
    return sorted(top for top in tops if top in named)


def platform_specific(wheel_files: Mapping[str, str]) -> list[str]:
    """The distributions built for one platform, from `{"x-1.0.dist-info/WHEEL": text}`: a
    `Tag:` whose platform part is not `any` (`cp311-cp311-manylinux_2_17_x86_64`)."""
    found = []
    for path, text in sorted(wheel_files.items()):
        tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
        if any(tag.rsplit("-", 1)[-1] != "any" for tag in tags):
            found.append(path.split("/", 1)[0][: -len(".dist-info")])
    return found
