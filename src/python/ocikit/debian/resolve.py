"""The closure of Debian packages an image needs: what was asked for and everything its
Pre-Depends and Depends pull in, resolved against one architecture's Packages index.

Rules (rules_distroless resolves the same way; apt itself would add more):
- A relation `name (op version)` is met by the highest version of the real package `name`
  that satisfies it, else by a package whose Provides names `name` (with a version meeting
  the constraint when one is given). Several providers: one already chosen or asked for
  wins, else the one with `Priority: required`, else it is ambiguous and the error names
  them (ask for one of them by name).
- `a | b`: an alternative already chosen wins; else the first satisfiable one, left to right.
- Essential and `Priority: required` packages are NOT added implicitly: an image holds what
  was asked for and its dependencies, as distroless images do (no shell, no dpkg unless
  asked). Packages assume essential ones exist without declaring them; list any a program
  needs at runtime (e.g. `bash`) explicitly.
- Recommends, Suggests, Conflicts and Breaks are ignored; maintainer scripts are not run.
The result is sorted by name, one version per package.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ocikit.debian.index import Alternatives, PackageRecord, Relation
from ocikit.debian.version import compare_versions, satisfies
from ocikit.errors import OcikitError


class ResolveError(OcikitError, ValueError):
    """A package that is unknown, or a dependency no package satisfies."""


def _newest_first(a: PackageRecord, b: PackageRecord) -> int:
    return compare_versions(b.version, a.version)


class PackageUniverse:
    """The records of one architecture's index, looked up by name and by what they provide."""

    def __init__(self, records: Iterable[PackageRecord]) -> None:
        self.by_name: Dict[str, List[PackageRecord]] = defaultdict(list)
        self.providers: Dict[str, List[Tuple[PackageRecord, Relation]]] = defaultdict(list)
        for record in records:
            self.by_name[record.name].append(record)
            for provided in record.provides:
                self.providers[provided.name].append((record, provided))
        for versions in self.by_name.values():
            versions.sort(key=functools.cmp_to_key(_newest_first))

    def real(self, relation: Relation) -> Optional[PackageRecord]:
        """The highest version of the package named by `relation` that satisfies it."""
        for record in self.by_name.get(relation.name, ()):
            if not relation.relation or satisfies(record.version, relation.relation, relation.version):
                return record
        return None

    def providing(self, relation: Relation) -> List[PackageRecord]:
        """The packages whose Provides meet `relation`, newest version of each name first."""
        found: Dict[str, PackageRecord] = {}
        for record, provided in self.providers.get(relation.name, ()):
            if relation.relation and not (
                provided.relation == "=" and satisfies(provided.version, relation.relation, relation.version)
            ):
                continue
            best = found.get(record.name)
            if best is None or compare_versions(record.version, best.version) > 0:
                found[record.name] = record
        return [found[name] for name in sorted(found)]


def _choose(
    universe: PackageUniverse, relation: Relation, chosen: Dict[str, PackageRecord], asked: Sequence[str]
) -> Optional[PackageRecord]:
    if relation.name in chosen and (
        not relation.relation or satisfies(chosen[relation.name].version, relation.relation, relation.version)
    ):
        return chosen[relation.name]
    real = universe.real(relation)
    if real is not None:
        return real
    providers = universe.providing(relation)
    if len(providers) <= 1:
        return providers[0] if providers else None
    preferred = [p for p in providers if p.name in chosen or p.name in asked] or [
        p for p in providers if p.priority == "required"
    ]
    if preferred:
        return preferred[0]
    raise ResolveError(
        f"{relation} is a virtual package provided by {', '.join(p.name for p in providers)}: "
        "ask for one of them by name"
    )


def _satisfied_by_chosen(group: Alternatives, chosen: Dict[str, PackageRecord]) -> bool:
    for relation in group:
        record = chosen.get(relation.name)
        if record is not None and (
            not relation.relation or satisfies(record.version, relation.relation, relation.version)
        ):
            return True
        for other in chosen.values():
            if any(
                p.name == relation.name
                and (
                    not relation.relation
                    or (p.relation == "=" and satisfies(p.version, relation.relation, relation.version))
                )
                for p in other.provides
            ):
                return True
    return False


def resolve(universe: PackageUniverse, asked: Sequence[str], architecture: str) -> List[PackageRecord]:
    """The closure of the packages named in `asked`, sorted by name. ResolveError names an
    unknown package, or the dependency chain to a relation nothing satisfies."""
    chosen: Dict[str, PackageRecord] = {}
    queue: List[Tuple[PackageRecord, Tuple[str, ...]]] = []
    for name in sorted(set(asked)):
        record = _choose(universe, Relation(name), chosen, asked)
        if record is None:
            raise ResolveError(f"unknown package {name!r}: the {architecture} index has no package of that name")
        if record.name not in chosen:
            chosen[record.name] = record
            queue.append((record, (record.name,)))
    while queue:
        record, chain = queue.pop(0)
        for group in record.depends:
            if _satisfied_by_chosen(group, chosen):
                continue
            picked = next(filter(None, (_choose(universe, r, chosen, asked) for r in group)), None)
            if picked is None:
                raise ResolveError(
                    f"unsatisfiable dependency {' | '.join(map(str, group))} of {' -> '.join(chain)} "
                    f"({record.name} {record.version}): no {architecture} package in the index satisfies it"
                )
            if picked.name in chosen:
                raise ResolveError(
                    f"{' -> '.join(chain)} needs {' | '.join(map(str, group))}, but {picked.name} "
                    f"{chosen[picked.name].version} is already chosen"
                )
            chosen[picked.name] = picked
            queue.append((picked, chain + (picked.name,)))
    return [chosen[name] for name in sorted(chosen)]
