"""The `file` and `resource` targets of a layer: what each target is, and their files read from
the workspace.

A layer of many files is nearly always a `files`/`resources` generator's thousands of generated
targets. They are read through their generator's own globs (one snapshot per generator, which
Pants already computes to generate them), never as one literal glob per file: Pants expands a
PathGlobs of 20,000 literal paths one pattern at a time, and at that size it held ~800 MB of
pantsd's memory and re-expanded every pattern on each edit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from pants.backend.python.target_types import PythonRequirementsField
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestSubset, GlobExpansionConjunction, GlobMatchErrorBehavior, PathGlobs, Snapshot
from pants.engine.rules import Get, MultiGet
from pants.engine.target import (
    Dependencies,
    HydratedSources,
    HydrateSourcesRequest,
    SourcesField,
    Target,
    WrappedTarget,
    WrappedTargetRequest,
)


@dataclass(frozen=True)
class TargetKind:
    """What the layer rules ask of a target, answered once per target type: a layer of 50,000
    files asks it of 50,000 targets on every edit, and `Target.has_field` searches the fields."""

    plain: type[SourcesField] | None  # the `file`/`resource` source field, if it has one
    dependencies: type[Dependencies] | None
    sources: bool
    requirements: bool

    @property
    def rooted(self) -> bool:
        return self.plain is not None and issubclass(self.plain, ResourceSourceField)


_KINDS: dict[type[Target], TargetKind] = {}


def kind_of(tgt: Target) -> TargetKind:
    kind = _KINDS.get(type(tgt))
    if kind is None:

        def field(of: type | tuple[type, ...]) -> type | None:
            return next((f for f in tgt.field_values if issubclass(f, of)), None)

        kind = _KINDS[type(tgt)] = TargetKind(
            plain=field((FileSourceField, ResourceSourceField)),
            dependencies=field(Dependencies),
            sources=field(SourcesField) is not None,
            requirements=field(PythonRequirementsField) is not None,
        )
    return kind


def is_plain_file(tgt: Target) -> bool:
    """A `file` or `resource` target (one source file, read from the workspace as is)."""
    return kind_of(tgt).plain is not None


def is_leaf(tgt: Target) -> bool:
    """A plain file with no dependencies of its own: nothing to walk, never a package."""
    kind = kind_of(tgt)
    return kind.plain is not None and not (kind.dependencies and tgt.field_values[kind.dependencies].value)


def plain_file_path(tgt: Target) -> str:
    plain = kind_of(tgt).plain
    assert plain is not None
    field = tgt.field_values[plain]
    assert isinstance(field, (FileSourceField, ResourceSourceField))
    return field.file_path


@dataclass(frozen=True)
class Sources:
    """The files one target puts in the layer, at their build-root paths."""

    owner: Address
    files: tuple[str, ...]
    digest: Digest
    rooted: bool  # stripped of its source root (resources, python sources) or not (files)


async def _by_generator(generated: dict[Address, list[str]], what: str) -> dict[Address, Digest]:
    """Each generator's files, as its own globs find them (the whole snapshot when the layer
    takes all of them, the usual case; else the subset it takes)."""
    generators = await MultiGet(
        Get(WrappedTarget, WrappedTargetRequest(a, description_of_origin=f"the inputs of {what}")) for a in generated
    )
    hydrated = await MultiGet(Get(HydratedSources, HydrateSourcesRequest(g.target[SourcesField])) for g in generators)
    found = {a: h.snapshot for a, h in zip(generated, hydrated)}
    partial = [a for a, paths in generated.items() if set(paths) != set(found[a].files)]
    subsets = await MultiGet(Get(Digest, DigestSubset(found[a].digest, _literal(generated[a], what))) for a in partial)
    digests = {a: snapshot.digest for a, snapshot in found.items()}
    digests.update(zip(partial, subsets))
    return digests


def _literal(paths: Sequence[str], what: str) -> PathGlobs:
    return PathGlobs(
        sorted(set(paths)),
        glob_match_error_behavior=GlobMatchErrorBehavior.error,
        conjunction=GlobExpansionConjunction.all_match,
        description_of_origin=f"the `file`/`resource` inputs of {what}",
    )


async def plain_sources(plain: Sequence[Target], what: str) -> list[Sources]:
    """The files of `file` and `resource` targets: a generated target's through its generator,
    any other's by its path (one PathGlobs per kind)."""
    paths = {t.address: plain_file_path(t) for t in plain}
    generator_of: dict[Address, Address] = {}
    generated: dict[Address, list[str]] = defaultdict(list)
    for address, path in paths.items():
        if address.is_generated_target:
            generator = generator_of[address] = address.maybe_convert_to_target_generator()
            generated[generator].append(path)
    by_generator = await _by_generator(generated, what)
    single = [[t for t in plain if t.address not in generator_of and kind_of(t).rooted is r] for r in (False, True)]
    snapshots = await MultiGet(
        Get(Snapshot, _literal([paths[t.address] for t in group], what)) for group in single if group
    )
    digests = {t.address: s.digest for group, s in zip([g for g in single if g], snapshots) for t in group}
    digests.update((address, by_generator[generator]) for address, generator in generator_of.items())
    return [Sources(t.address, (paths[t.address],), digests[t.address], kind_of(t).rooted) for t in plain]
