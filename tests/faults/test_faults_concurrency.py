"""Simultaneous pushes into one repository: the same image twice, and two images sharing a layer."""

from __future__ import annotations

import threading

from faults_helpers import FAST, served_digest
from registry_images import write_image

from ocikit.registry import push_layout


def push_together(jobs):
    """Run push_layout(*args) for each entry of `jobs` at the same moment; (results, errors)."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(i, layout, destinations):
        barrier.wait(10)
        try:
            results[i] = push_layout(layout, destinations, retry=FAST, jobs=2)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_same_image_pushed_twice_at_once(plain_registry, repo, tmp_path):
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"), label="same twice")
    dest = f"{plain_registry.host}/{repo}"
    results, errors = push_together([(str(tmp_path / "layout"), [f"{dest}:a"]),
                                     (str(tmp_path / "layout"), [f"{dest}:b"])])
    assert errors == []
    assert [r.digest for r in results] == [image.digest, image.digest]
    for tag in ("a", "b"):
        assert served_digest(plain_registry, f"{repo}:{tag}") == image.digest


def test_two_images_sharing_a_layer_pushed_at_once(plain_registry, repo, tmp_path):
    one = write_image(tmp_path / "one", label="one", extra_layer_size=64 << 10, seed=1)
    two = write_image(tmp_path / "two", label="two", extra_layer_size=64 << 10, seed=2)
    shared = set(one.blobs) & set(two.blobs)
    assert len(shared) == 1  # the busybox layer
    dest = f"{plain_registry.host}/{repo}"
    results, errors = push_together([(str(tmp_path / "one"), [f"{dest}:one"]),
                                     (str(tmp_path / "two"), [f"{dest}:two"]),
                                     (str(tmp_path / "one"), [f"{dest}:one-again"])])
    assert errors == []
    assert [r.digest for r in results] == [one.digest, two.digest, one.digest]
    assert served_digest(plain_registry, f"{repo}:one") == one.digest
    assert served_digest(plain_registry, f"{repo}:one-again") == one.digest
    assert served_digest(plain_registry, f"{repo}:two") == two.digest
    assert served_digest(plain_registry, f"{repo}@{one.digest}") == one.digest
    assert served_digest(plain_registry, f"{repo}@{two.digest}") == two.digest
