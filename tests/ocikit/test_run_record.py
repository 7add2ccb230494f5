"""The record of a publish run (ocikit.registry.run_record): exactly the registered images,
rewritten whole after every change, safe from several threads and processes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from ocikit.contracts.publish import ALREADY_PUBLISHED, INTERRUPTED, PUSHED, TO_PUSH, RunEntry
from ocikit.registry.run_record import RunRecord, prune


def entry(tmp_path: Path, name: str, status: str = TO_PUSH) -> RunEntry:
    return RunEntry(
        f"apps:{name}",
        "sha256:" + "a" * 64,
        (f"r/{name}:1",),
        status,
        record=str(tmp_path / "dist" / f"{name}.publish.json"),
    )


def record(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "dist" / "oci-publish.json").read_text())


def run(tmp_path: Path, name: str = "run-x") -> RunRecord:
    return RunRecord(str(tmp_path / "dist" / ".oci-publish" / name), str(tmp_path / "dist" / "oci-publish.json"))


def test_the_record_lists_exactly_the_registered_images_sorted(tmp_path: Path) -> None:
    current = run(tmp_path)
    current.register(entry(tmp_path, "web"))
    current.register(entry(tmp_path, "api", ALREADY_PUBLISHED), {"digest": "sha256:" + "a" * 64})
    assert record(tmp_path) == {
        "run_id": "run-x",
        "interrupted": False,
        "images": [
            {
                "key": "apps:api",
                "digest": "sha256:" + "a" * 64,
                "destinations": ["r/api:1"],
                "status": ALREADY_PUBLISHED,
            },
            {"key": "apps:web", "digest": "sha256:" + "a" * 64, "destinations": ["r/web:1"], "status": TO_PUSH},
        ],
    }
    assert json.loads((tmp_path / "dist" / "api.publish.json").read_text()) == {"digest": "sha256:" + "a" * 64}
    assert sorted(current.entries()) == ["apps:api", "apps:web"]


def test_an_image_to_push_loses_its_earlier_record_and_gets_one_only_when_pushed(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "web.publish.json").write_text('{"digest": "an earlier run"}')
    current = run(tmp_path)
    web = entry(tmp_path, "web")
    current.register(web)
    assert not (tmp_path / "dist" / "web.publish.json").exists()
    current.update([(web.with_outcome(INTERRUPTED, "interrupted before it was tagged"), None)], interrupted=True)
    assert not (tmp_path / "dist" / "web.publish.json").exists()
    assert record(tmp_path)["interrupted"] is True
    current.update([(web.with_outcome(PUSHED, seconds=1.5, push={"digest": "d"}), {"digest": "d"})], seconds=2.0)
    shown = record(tmp_path)
    assert shown["images"] == [
        {
            "key": "apps:web",
            "digest": "sha256:" + "a" * 64,
            "destinations": ["r/web:1"],
            "status": PUSHED,
            "seconds": 1.5,
            "push": {"digest": "d"},
        }
    ]
    assert shown["seconds"] == 2.0
    assert json.loads((tmp_path / "dist" / "web.publish.json").read_text()) == {"digest": "d"}


def test_a_new_run_replaces_the_record_of_the_last(tmp_path: Path) -> None:
    run(tmp_path, "run-1").register(entry(tmp_path, "old"))
    run(tmp_path, "run-2").register(entry(tmp_path, "new"))
    assert [e["key"] for e in record(tmp_path)["images"]] == ["apps:new"]
    assert record(tmp_path)["run_id"] == "run-2"


def test_registrations_from_many_threads_all_reach_the_record(tmp_path: Path) -> None:
    current = run(tmp_path)
    threads = [threading.Thread(target=current.register, args=(entry(tmp_path, f"i{n:02d}"),)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e["key"] for e in record(tmp_path)["images"]] == [f"apps:i{n:02d}" for n in range(40)]
    assert not [p for p in (tmp_path / "dist").iterdir() if p.name.endswith(".tmp")]


def test_prune_removes_old_runs_only(tmp_path: Path) -> None:
    state = tmp_path / "dist" / ".oci-publish"
    run(tmp_path, "run-old").register(entry(tmp_path, "a"))
    (state / "batch.0.exit").write_text("0\n")
    old = time.time() - 2 * 24 * 3600
    for path in (state / "run-old", state / "batch.0.exit"):
        os.utime(path, (old, old))
    run(tmp_path, "run-new").register(entry(tmp_path, "b"))  # a new run prunes what is a day old
    assert sorted(p.name for p in state.iterdir()) == ["run-new"]
    prune(str(state), keep=str(state / "run-new"), max_age=-1)
    assert sorted(p.name for p in state.iterdir()) == ["run-new"]
