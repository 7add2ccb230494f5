"""The journal of unfinished blob uploads (ocikit.registry.upload_journal): a record is found
for its own registry, repository and blob only, is handed to one taker, never holds a header,
and survives concurrent writers whole."""

from __future__ import annotations

import json
import multiprocessing
import os

from ocikit.registry.upload_journal import UploadJournal, UploadRecord, same_host

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
LOCATION = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/6b1e?_state=abc"


def _record(**changes) -> UploadRecord:
    values = dict(
        registry="127.0.0.1:5000",
        repository="team/app",
        digest=DIGEST,
        size=100 << 20,
        location=LOCATION,
        confirmed=32 << 20,
    )
    values.update(changes)
    return UploadRecord(**values)


def test_a_record_is_taken_once_for_its_own_blob(tmp_path):
    journal = UploadJournal(str(tmp_path))
    journal.save(_record())
    assert journal.holds("127.0.0.1:5000", "team/app", DIGEST)
    taken = journal.take("127.0.0.1:5000", "team/app", DIGEST, 100 << 20)
    assert taken is not None and (taken.location, taken.confirmed) == (LOCATION, 32 << 20)
    assert journal.take("127.0.0.1:5000", "team/app", DIGEST, 100 << 20) is None  # handed out once
    assert os.listdir(tmp_path) == [".lock"]


def test_a_record_for_another_registry_repository_or_blob_is_not_found(tmp_path):
    journal = UploadJournal(str(tmp_path))
    journal.save(_record())
    assert journal.take("127.0.0.1:5001", "team/app", DIGEST, 100 << 20) is None
    assert journal.take("127.0.0.1:5000", "team/web", DIGEST, 100 << 20) is None
    assert journal.take("127.0.0.1:5000", "team/app", OTHER, 100 << 20) is None
    assert journal.holds("127.0.0.1:5000", "team/app", DIGEST)  # still there for its own blob


def test_a_record_of_another_blob_under_this_blobs_name_is_ignored_and_dropped(tmp_path):
    """A file that says it is another blob's (or another size's) is not resumed, whatever its name."""
    journal = UploadJournal(str(tmp_path))
    journal.save(_record(digest=OTHER))
    os.rename(journal.path("127.0.0.1:5000", "team/app", OTHER), journal.path("127.0.0.1:5000", "team/app", DIGEST))
    assert journal.take("127.0.0.1:5000", "team/app", DIGEST, 100 << 20) is None
    journal.save(_record())
    assert journal.take("127.0.0.1:5000", "team/app", DIGEST, 99 << 20) is None  # another size
    assert not journal.holds("127.0.0.1:5000", "team/app", DIGEST)


def test_a_damaged_or_foreign_file_is_ignored(tmp_path):
    journal = UploadJournal(str(tmp_path))
    path = journal.path("127.0.0.1:5000", "team/app", DIGEST)
    for content in (
        "{not json",
        json.dumps({"kind": "other", "version": 1}),
        json.dumps({**_record().to_json(), "confirmed": (100 << 20) + 1}),
    ):
        with open(path, "w") as f:
            f.write(content)
        assert journal.take("127.0.0.1:5000", "team/app", DIGEST, 100 << 20) is None


def test_the_record_holds_no_header_and_no_credential(tmp_path):
    journal = UploadJournal(str(tmp_path))
    journal.save(_record())
    [name] = [n for n in os.listdir(tmp_path) if n.endswith(".json")]
    saved = json.loads((tmp_path / name).read_text())
    assert set(saved) == {
        "kind",
        "version",
        "registry",
        "repository",
        "digest",
        "size",
        "location",
        "confirmed",
        "updated",
    }


def test_drop_forgets_only_its_own_session(tmp_path):
    journal = UploadJournal(str(tmp_path))
    journal.save(_record(location=LOCATION + "-other"))  # another process's session of the blob
    journal.drop("127.0.0.1:5000", "team/app", DIGEST, LOCATION)
    assert journal.holds("127.0.0.1:5000", "team/app", DIGEST)
    journal.drop("127.0.0.1:5000", "team/app", DIGEST, LOCATION + "-other")
    assert not journal.holds("127.0.0.1:5000", "team/app", DIGEST)


def test_a_location_on_another_host_or_with_user_info_is_not_the_registrys():
    assert same_host(LOCATION, "http://127.0.0.1:5000")
    assert not same_host("http://127.0.0.1:6000/v2/x", "http://127.0.0.1:5000")
    assert not same_host("https://127.0.0.1:5000/v2/x", "http://127.0.0.1:5000")
    assert not same_host("http://u:p@127.0.0.1:5000/v2/x", "http://127.0.0.1:5000")


def test_prune_removes_stale_records_and_what_killed_processes_left(tmp_path):
    journal = UploadJournal(str(tmp_path))
    journal.save(_record())
    journal.save(_record(digest=OTHER))
    (tmp_path / "x.json.123-abc.taken").write_text("{}")
    old = journal.path("127.0.0.1:5000", "team/app", OTHER)
    os.utime(old, (0, 0))
    os.utime(tmp_path / "x.json.123-abc.taken", (0, 0))
    assert journal.prune() == 2
    assert journal.holds("127.0.0.1:5000", "team/app", DIGEST)
    assert not journal.holds("127.0.0.1:5000", "team/app", OTHER)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [".lock", os.path.basename(journal.path("127.0.0.1:5000", "team/app", DIGEST))]
    )


def _writer(directory: str, n: int) -> None:
    journal = UploadJournal(directory)
    for i in range(200):
        journal.save(_record(confirmed=(i % 50) << 20, location=f"{LOCATION}-{n}-{i}"))


def _taker(directory: str, out) -> None:
    journal = UploadJournal(directory)
    got = 0
    for _ in range(400):
        record = journal.take("127.0.0.1:5000", "team/app", DIGEST, 100 << 20)
        if record is not None:
            got += 1
            assert record.location.startswith(LOCATION)  # whole, never a torn file
    out.put(got)


def test_concurrent_writers_and_takers_never_see_a_torn_record(tmp_path):
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    procs = [context.Process(target=_writer, args=(str(tmp_path), n)) for n in range(3)]
    procs += [context.Process(target=_taker, args=(str(tmp_path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 5
    assert out.get(timeout=5) + out.get(timeout=5) >= 1
    leftovers = [n for n in os.listdir(tmp_path) if n not in (".lock",) and not n.endswith(".json")]
    assert leftovers == []
