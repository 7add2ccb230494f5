"""What one `pants publish` sends where: pure functions over the packaged images.

The publish rules gather, for every image of the run, its destinations and mount sources;
these functions refuse two images aimed at one `repository:tag`, and write the plan that
`python -m ocikit published` and `push-run` read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from pants_oci.registries import OciRegistry
from pants.engine.addresses import Address


class OciPublishConflictError(Exception):
    """Two images of one publish would write the same `registry/repository:tag`."""


@dataclass(frozen=True)
class ImagePlan:
    """One image of a publish run, as the core's plan lists it."""

    address: Address
    layout: str  # the layout's directory, relative to the packaged digest's root
    digest: str
    destinations: tuple[str, ...]
    mounts_from: tuple[str, ...]
    record: str  # where its publish record goes (an absolute path under dist/)

    @property
    def key(self) -> str:
        return self.address.spec

    def to_json(self) -> dict:
        return {"key": self.key, "layout": self.layout, "digest": self.digest,
                "destinations": list(self.destinations), "mounts_from": list(self.mounts_from),
                "record": self.record}


def push_destinations(address: str, repository: str, tags: tuple[str, ...]) -> tuple[str, ...]:
    if not tags:
        return (f"{address}/{repository}",)
    return tuple(f"{address}/{repository}:{tag}" for tag in tags)


def mount_sources(pulled_from: Sequence[str], base_repositories: Sequence[str],
                  registries: Sequence[OciRegistry]) -> tuple[str, ...]:
    """Where base layers may be mounted from instead of uploaded again: the repository a pulled
    base came from, and the repositories our own base images are published to on each registry."""
    sources = [*pulled_from, *(f"{r.address}/{repo}" for r in registries for repo in base_repositories)]
    return tuple(dict.fromkeys(sources))


def refuse_conflicts(images: Sequence[ImagePlan]) -> None:
    """Raise when two images would publish the same reference (tagless destinations push by
    digest and cannot collide), naming both targets, before anything is pushed."""
    owners: dict[str, Address] = {}
    for image in images:
        for destination in image.destinations:
            tagged = ":" in destination.rsplit("/", 1)[-1]
            other = owners.setdefault(destination, image.address)
            if tagged and other != image.address:
                raise OciPublishConflictError(
                    f"Two images of this publish would be pushed to {destination}: {other} and "
                    f"{image.address}. Each `repository:tag` can name one image only: give one of them "
                    "another `repository` or `image_tags`, or publish them in separate runs."
                )


def check_plan(images: Sequence[ImagePlan], insecure: Sequence[str], jobs: int, run_record: str) -> bytes:
    """The plan `ocikit published` reads: every image of the run."""
    return _dump({"jobs": jobs, "insecure_registries": sorted(set(insecure)), "run_record": run_record,
                  "images": [i.to_json() for i in images]})


def push_plan(to_push: Sequence[ImagePlan], published: Sequence[ImagePlan], run_id: str,
              insecure: Sequence[str], jobs: int, run_record: str) -> bytes:
    """The plan `ocikit push-run` reads: the images to push, and those found published (for
    the run record)."""
    return _dump({"run_id": run_id, "jobs": jobs, "insecure_registries": sorted(set(insecure)),
                  "run_record": run_record, "images": [i.to_json() for i in to_push],
                  "published": [{"key": i.key, "digest": i.digest, "destinations": list(i.destinations)}
                                for i in published]})


def read_check_result(stdout: bytes) -> tuple[str, frozenset[str]]:
    """`ocikit published`'s answer: the run id and the keys of the images found published."""
    answer: Mapping = json.loads(stdout)
    return str(answer["run_id"]), frozenset(answer["published"])


def _dump(value: dict) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()
