"""ocikit.tarwriter writes exactly what Python's tarfile writes in PAX_FORMAT."""

from __future__ import annotations

import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocikit import tarwriter
from ocikit.layer import LayerEntry, plan_layer

KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}


def tarfile_header(name, kind, mode, uid, gid, size, mtime, linkname=""):
    """What tarfile.TarFile.addfile() writes as the header of such a member."""
    info = tarfile.TarInfo(name)
    info.type = KINDS[kind]
    info.mode, info.uid, info.gid, info.size, info.mtime = mode, uid, gid, size, mtime
    info.linkname = linkname
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tarfile_archive(entries, mtime):
    """The same members written by tarfile itself (addfile + close)."""
    bio = io.BytesIO()
    with tarfile.open(
        fileobj=bio, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.type = KINDS[e.kind]
            info.mode, info.uid, info.gid, info.size, info.mtime = (
                e.mode,
                e.uid,
                e.gid,
                e.size,
                mtime,
            )
            info.linkname = e.linkname
            info.uname = info.gname = ""
            if e.kind == "file":
                with open(e.source, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
    return bio.getvalue()


# Names as a layer produces them: decoded from bytes with surrogateescape, plus arbitrary text.
_name_bytes = st.binary(min_size=1, max_size=300).filter(lambda b: b"\0" not in b)
_names = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=120),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
        min_size=1,
        max_size=300,
    ),
    _name_bytes.map(lambda b: b.decode("utf-8", "surrogateescape")),
)
_ids = st.one_of(st.integers(0, 70000), st.integers(0, 2**32 - 1))
_sizes = st.one_of(st.integers(0, 10**6), st.integers(0, 2**40), st.just(8**11 - 1), st.just(8**11))
_mtimes = st.one_of(st.just(0), st.integers(0, 2**34), st.just(8**11 - 1), st.just(8**11))


@settings(max_examples=400, deadline=None)
@given(
    name=_names,
    kind=st.sampled_from(sorted(KINDS)),
    mode=st.integers(0, 0o7777),
    uid=_ids,
    gid=_ids,
    size=_sizes,
    mtime=_mtimes,
    linkname=st.one_of(st.just(""), _names),
)
def test_header_is_byte_identical_to_tarfile(name, kind, mode, uid, gid, size, mtime, linkname):
    name = name.rstrip("/") or "x"
    linkname = linkname if kind in ("symlink", "hardlink") else ""
    size = size if kind == "file" else 0
    full = name + "/" if kind == "dir" else name  # tarfile adds the slash to directories too
    expected = tarfile_header(full, kind, mode, uid, gid, size, mtime, linkname)
    assert tarwriter.header(name, kind, mode, uid, gid, size, mtime, linkname) == expected


_short_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=99)


@settings(max_examples=400, deadline=None)
@given(
    name=_short_ascii,
    kind=st.sampled_from(sorted(KINDS)),
    mode=st.integers(0, 0o7777),
    uid=st.integers(0, 8**7 - 1),
    gid=st.integers(0, 8**7 - 1),
    size=st.integers(0, 8**11 - 1),
    mtime=st.integers(0, 8**11 - 1),
    linkname=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=100),
)
def test_common_case_takes_the_fast_path_and_matches_tarfile(name, kind, mode, uid, gid, size, mtime, linkname):
    full = name + ("/" if kind == "dir" else "")
    fast = tarwriter.fast_header(full, KINDS[kind], mode, uid, gid, size, mtime, linkname)
    assert fast is not None
    assert len(fast) == 512
    assert fast == tarfile_header(full, kind, mode, uid, gid, size, mtime, linkname)


@pytest.mark.parametrize(
    "name, linkname, uid, size, mtime",
    [
        ("a" * 101, "", 0, 0, 0),  # long name
        ("é", "", 0, 0, 0),  # non-ASCII
        ("caf\udce9", "", 0, 0, 0),  # non-UTF-8 byte
        ("a", "b" * 101, 0, 0, 0),  # long link target
        ("a", "", 8**7, 0, 0),  # uid beyond 7 octal digits
        ("a", "", 0, 8**11, 0),  # 8 GiB
        ("a", "", 0, 0, 8**11),  # mtime beyond 11 octal digits
    ],
)
def test_fast_path_declines_whenever_tarfile_needs_a_pax_record(name, linkname, uid, size, mtime):
    assert tarwriter.fast_header(name, tarfile.REGTYPE, 0o644, uid, 0, size, mtime, linkname) is None
    hdr = tarwriter.header(name, "file", 0o644, uid, 0, size, mtime, linkname)
    assert hdr == tarfile_header(name, "file", 0o644, uid, 0, size, mtime, linkname)
    assert hdr[156:157] == tarfile.XHDTYPE  # a PAX extended header comes first


def test_exactly_100_byte_names_still_fit_the_ustar_field():
    name = "d/" + "n" * 98
    hdr = tarwriter.fast_header(name, tarfile.REGTYPE, 0o644, 0, 0, 5, 0, "")
    assert hdr is not None and hdr == tarfile_header(name, "file", 0o644, 0, 0, 5, 0)
    assert hdr[:100] == name.encode()  # no NUL terminator: the field is full


def _tree(root):
    os.makedirs(os.path.join(root, "d", "empty"))
    sizes = {"zero": 0, "one": 1, "b511": 511, "b512": 512, "b513": 513, "mib1": (1 << 20) + 1}
    for name, size in sizes.items():
        with open(os.path.join(root, "d", name), "wb") as f:
            f.write(os.urandom(size))
    long_dir = os.path.join(root, "x" * 120)
    os.makedirs(long_dir)
    with open(os.path.join(long_dir, "y" * 200), "wb") as f:
        f.write(b"long")
    with open(os.path.join(root, "naïve file\nname"), "wb") as f:
        f.write(b"text")
    with open(os.path.join(os.fsencode(root), b"bad-\xff-name"), "wb") as f:
        f.write(b"latin1")
    os.symlink("d/one", os.path.join(root, "link"))
    os.symlink("../" + "x" * 120 + "/" + "y" * 200, os.path.join(root, "d", "long-link"))


def test_archive_is_byte_identical_to_tarfile(tmp_path):
    _tree(str(tmp_path / "t"))
    entries = plan_layer(str(tmp_path / "t"), "/srv/app", 1000, 1001)
    ours = b"".join(tarwriter.iter_tar_chunks(entries, 1700000000))
    assert ours == tarfile_archive(entries, 1700000000)
    assert len(ours) % tarfile.RECORDSIZE == 0


@pytest.mark.parametrize("chunk_size", [97, 511, 512, 4096, 10240, 1 << 20, 1 << 24])
def test_chunking_cuts_the_same_bytes_into_exact_pieces(tmp_path, chunk_size):
    _tree(str(tmp_path / "t"))
    entries = plan_layer(str(tmp_path / "t"), "/")
    whole = b"".join(tarwriter.iter_tar_chunks(entries, 0, 1 << 25))  # one chunk: the archive is ~1 MiB
    pieces = list(tarwriter.iter_tar_chunks(entries, 0, chunk_size))
    assert b"".join(pieces) == whole
    assert all(len(p) == chunk_size for p in pieces[:-1])
    assert 0 < len(pieces[-1]) <= chunk_size


def test_empty_archive_is_what_tarfile_writes_for_no_members():
    assert b"".join(tarwriter.iter_tar_chunks([], 0)) == tarfile_archive([], 0)
    assert tarwriter.end_of_archive(0) == b"\0" * tarfile.RECORDSIZE
    # Two zero blocks always follow the last member, then zeros up to the next record.
    assert len(tarwriter.end_of_archive(9728)) == 10240 + 10240 - 9728


def _file_entry(path, size):
    return LayerEntry("f", "file", 0o644, 0, 0, size, str(path))


def test_a_file_that_shrank_since_planning_is_an_error(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"12345")
    with pytest.raises(tarwriter.TarWriteError, match="shrank"):
        b"".join(tarwriter.iter_tar_chunks([_file_entry(p, 9)], 0))


def test_a_file_that_grew_since_planning_is_an_error(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"12345")
    with pytest.raises(tarwriter.TarWriteError, match="grew"):
        b"".join(tarwriter.iter_tar_chunks([_file_entry(p, 3)], 0))


def test_a_file_that_vanished_is_an_error_naming_it(tmp_path):
    with pytest.raises(tarwriter.TarWriteError, match="gone"):
        b"".join(tarwriter.iter_tar_chunks([_file_entry(tmp_path / "gone", 3)], 0))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 3000), max_size=12))
def test_member_data_is_padded_to_blocks_like_tarfile(sizes):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        entries = []
        for i, size in enumerate(sizes):
            p = os.path.join(d, str(i))
            with open(p, "wb") as f:
                f.write(bytes([i % 251 + 1]) * size)
            entries.append(LayerEntry(f"f{i:02d}", "file", 0o600, i, i, size, p))
        assert b"".join(tarwriter.iter_tar_chunks(entries, 7, 1000)) == tarfile_archive(entries, 7)
