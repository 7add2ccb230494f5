"""Deterministic, streaming layer compression: the same bytes whatever the thread count.

gzip -- parallel like pigz. The uncompressed stream is cut into fixed GZIP_CHUNK-byte chunks
(1 MiB; part of the format: changing it changes every gzip digest). Each chunk is compressed
independently with zlib raw deflate at `level`, primed with the previous chunk's last 32 KiB as
preset dictionary, and ended with Z_SYNC_FLUSH (the last one with Z_FINISH), so the chunks
concatenate into one deflate stream in one gzip member. The member header has no file name, a
zero mtime, XFL 0 and OS 255 ("unknown"): nothing about the machine or time reaches the digest.
CRC32 and ISIZE are computed over the uncompressed stream.
A chunk that looks incompressible is written as stored deflate blocks (zlib level 0) instead:
SAMPLE_COUNT samples of SAMPLE_SIZE bytes at evenly spaced offsets are deflated at the chunk's
level, and if every one of them shrinks by less than 1/32 the chunk is stored (a chunk that is
part text, part random -- the tar stream of a small file next to a big binary -- is deflated).
Deflating random or already compressed data (jars, wheels, images, .gz) costs an order of
magnitude more than storing it, for a slightly *larger* output; the samples cost a small
fraction of either. The decision is a function of the chunk's bytes and the level only, so it
is as deterministic as the rest (and part of the format: changing it changes gzip digests).
Chunks are compressed in a thread
pool (zlib releases the GIL) with at most 2 * threads chunks in flight, so memory stays flat.
Each chunk's output depends only on its bytes, its dictionary and the level, never on which
thread ran it: 1, 2 or 64 threads give the same bytes. The bytes do depend on the zlib build
(Python's zlib links the system zlib; zlib.ZLIB_RUNTIME_VERSION, 1.2.13 where this was tested).

zstd -- the `zstandard` package (pinned in requirements-pants.txt: 0.25.0, libzstd 1.5.7),
always in multithreaded mode (threads >= 1). libzstd cuts a multithreaded frame into jobs by
size, not by worker count, so threads=1, 2, 4, 8 give identical bytes (tested); threads=0 (the
single-threaded mode) gives different bytes and is never used. The job size is pinned at
ZSTD_JOB_SIZE (1 MiB; libzstd raises it to the overlap size at high levels) instead of
libzstd's default of 4x the window (8 MiB at level 3): per-worker buffers shrink about
fourfold, so peak memory stays small with many workers, for a negligibly larger output
(bench/layer_speed.py measures both). It is part of the format: changing it changes every
zstd digest. The frame
carries a content checksum (like the zstd CLI) and no content size (the stream's length is
not known up front).

One timing trap: libzstd cuts jobs at fixed input offsets,
but when the input ends exactly on a job boundary, the last full job is created either by the
last compress() call (when a job slot is free: the frame then ends with an extra empty last
block, 3 bytes) or by the final flush (when all slots were busy: that job carries the
last-block flag) -- see ZSTDMT_compressStream_generic / ZSTDMT_createCompressionJob in
libzstd's zstdmt_compress.c. Same data, two outputs, depending on CPU load. So the input is
fed in ZSTD_JOB_SIZE pieces, the last one held back and preceded by a ZSTD_e_flush, which
returns only once every job is done: the last piece always finds a free slot, and there is one
outcome only (tests/ocikit/test_compress.py checks it under load). Where the job size stays
1 MiB (level 3 among them) that flush falls on a job boundary and changes no byte.

none -- the stream itself.

Worker threads are capped at MAX_THREADS: the output is the same, and more workers than that
only add memory (zstd allocates per worker) without speed (the single hashing thread is then
the bottleneck).
"""

from __future__ import annotations

import collections
import hashlib
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Optional

GZIP_CHUNK = 1 << 20
GZIP_WINDOW = 32 * 1024
SAMPLE_SIZE = 2048
SAMPLE_COUNT = 16
ZSTD_JOB_SIZE = 1 << 20
MAX_THREADS = 16

COMPRESSIONS = ("gzip", "zstd", "none")
# The one table of compression levels: the CLI, the layer spec and the plugin's
# `[oci].compression_level` all check against it. gzip 0 is `none` in disguise and zstd's 20-22
# need its --ultra window sizes, so neither is offered.
DEFAULT_LEVEL = {"gzip": 1, "zstd": 3, "none": None}
LEVEL_RANGE = {"gzip": (1, 9), "zstd": (1, 19)}

# ID1 ID2 CM=deflate FLG=0 (no name, no extra, no comment) MTIME=0 XFL=0 OS=255 (unknown).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True)
class CompressResult:
    digest: str  # sha256 of the compressed bytes written
    size: int  # their length
    diff_id: str  # sha256 of the uncompressed stream
    uncompressed_size: int


def resolve_level(compression: str, level: Optional[int]) -> Optional[int]:
    """The level to use: the default when None; ignored (None) for "none"; else range-checked."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    if compression == "none":
        return None
    if level is None:
        return DEFAULT_LEVEL[compression]
    low, high = LEVEL_RANGE[compression]
    if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
        raise ValueError(f"invalid {compression} level {level!r}: expected an integer from {low} to {high}")
    return level


def compress_to(
    chunks: Iterable[bytes],
    out: BinaryIO,
    compression: str,
    level: Optional[int],
    threads: int,
) -> CompressResult:
    """Compress the stream `chunks` into `out`, hashing both sides on the way (each byte is
    hashed once, before or as it is written; nothing is read back)."""
    level = resolve_level(compression, level)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"invalid threads {threads!r}: expected an integer >= 1")
    threads = min(threads, MAX_THREADS)

    raw = _Hashed(chunks)
    if compression == "none":
        size = 0
        for piece in raw:
            out.write(piece)
            size += len(piece)
        digest = "sha256:" + raw.sha256.hexdigest()
        return CompressResult(digest, size, digest, raw.size)

    assert level is not None  # resolve_level gives gzip and zstd a level
    if compression == "gzip":
        pieces = gzip_stream(raw, level, threads)
    else:
        pieces = zstd_stream(raw, level, threads)
    h = hashlib.sha256()
    size = 0
    for piece in pieces:
        out.write(piece)
        h.update(piece)
        size += len(piece)
    return CompressResult("sha256:" + h.hexdigest(), size, "sha256:" + raw.sha256.hexdigest(), raw.size)


class _Hashed:
    """Passes chunks through while hashing and counting them."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.sha256 = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.sha256.update(chunk)
            self.size += len(chunk)
            yield chunk


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes cut into pieces of exactly `size` (the last one 1..size bytes)."""
    buf = bytearray()
    for chunk in chunks:
        if not buf and len(chunk) == size:
            yield chunk
            continue
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def looks_incompressible(data: bytes, level: int) -> bool:
    """Whether every one of SAMPLE_COUNT fixed samples of `data` deflates by less than 1/32."""
    if level == 0 or len(data) < SAMPLE_COUNT * SAMPLE_SIZE * 4:
        return False
    step = len(data) // SAMPLE_COUNT
    for i in range(SAMPLE_COUNT):
        sample = data[i * step : i * step + SAMPLE_SIZE]
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
        if (len(c.compress(sample)) + len(c.flush())) * 32 <= len(sample) * 31:
            return False
    return True


def deflate_chunk(data: bytes, zdict: Optional[bytes], level: int, last: bool) -> bytes:
    """One chunk as raw deflate, primed with `zdict`, ended by a sync flush or the final block;
    stored (level 0) when it looks incompressible."""
    if looks_incompressible(data, level):
        level = 0
    if zdict:
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_stream(chunks: Iterable[bytes], level: int, threads: int, chunk_size: int = GZIP_CHUNK) -> Iterator[bytes]:
    """One gzip member of the stream `chunks`, compressed chunk-parallel (see module doc)."""
    yield GZIP_HEADER
    crc = 0
    isize = 0
    max_inflight = 2 * threads
    inflight: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ocikit-gzip") as pool:
        try:
            zdict: Optional[bytes] = None
            pending: Optional[bytes] = None  # held back until we know whether it is the last
            for chunk in rechunk(chunks, chunk_size):
                crc = zlib.crc32(chunk, crc)
                isize += len(chunk)
                if pending is not None:
                    inflight.append(pool.submit(deflate_chunk, pending, zdict, level, False))
                    zdict = pending[-GZIP_WINDOW:]
                    while len(inflight) >= max_inflight:
                        yield inflight.popleft().result()
                pending = chunk
            inflight.append(pool.submit(deflate_chunk, pending or b"", zdict, level, True))
            while inflight:
                yield inflight.popleft().result()
        finally:
            for future in inflight:
                future.cancel()
    yield struct.pack("<II", crc & 0xFFFFFFFF, isize & 0xFFFFFFFF)


def zstd_stream(chunks: Iterable[bytes], level: int, threads: int) -> Iterator[bytes]:
    """One zstd frame of the stream `chunks`, libzstd multithreaded with `threads` workers."""
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(
        level,
        threads=threads,
        job_size=ZSTD_JOB_SIZE,
        write_checksum=True,
        write_content_size=False,
    )
    cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()
    pending: Optional[bytes] = None  # held back until we know whether it is the last
    for chunk in rechunk(chunks, ZSTD_JOB_SIZE):
        if pending is not None:
            piece = cobj.compress(pending)
            if piece:
                yield piece
        pending = chunk
    # Wait for every job before the last piece (see the module doc): the frame's end is then
    # cut the same way whatever the workers' timing.
    piece = cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    if piece:
        yield piece
    if pending is not None:
        piece = cobj.compress(pending)
        if piece:
            yield piece
    yield cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
