"""`python -m ocikit layer`: its command line, the spec it reads and the descriptor it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ocikit.command_line import CommandLine, option
from ocikit.contract import Contract


@dataclass(frozen=True)
class LayerCommand(CommandLine):
    COMMAND = "layer"

    spec: str = option("--spec", "the layer spec: a LayerSpec as JSON", metavar="SPEC.json")
    out: str = option("--out", "where to write the layer blob", metavar="BLOB")
    descriptor: str = option("--descriptor", "where to write the LayerDescriptor JSON", metavar="DESC.json")


@dataclass(frozen=True)
class LayerSpec(Contract):
    """What decides a layer's bytes: the tree at `root` (relative to the working directory)
    placed at `destination`, owned by `uid`:`gid`, with `symlinks` added.

    `mode_policy` is "normalize" or "preserve" (`ocikit.layer.plan_layer`); `level` None is the
    compression's default; `threads` None uses every core (the bytes never depend on it).
    `symlinks` maps a link's path relative to `destination` (normalised: no leading or
    trailing '/', no '.', '..' or '//') to its target, stored verbatim: links the tree cannot
    hold, as Pants dereferences symlinks in sources (`ocikit.layer.add_symlinks`). An empty
    mapping gives the bytes of a layer without links.

    `executables` (paths relative to `root`), when given, decides which files "normalize"
    makes 0755 instead of the bits on disk: Pants knows each input's executable bit, but
    hardlinks files of 512 KiB or more from its store into sandboxes with the store's mode
    (0555), so on disk a large data file looks executable wherever hardlinking was possible."""

    KIND = "layer-spec"

    root: str
    destination: str
    uid: int = 0
    gid: int = 0
    mode_policy: str = "normalize"
    compression: str = "gzip"
    level: Optional[int] = None
    mtime: int = 0
    threads: Optional[int] = None
    symlinks: Dict[str, str] = field(default_factory=dict)
    executables: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class LayerDescriptor(Contract):
    """The layer blob a layer process wrote: its descriptor's fields, the digest and size of
    its uncompressed tar (the image config's diff ID), and how many entries the tar holds.

    `file_sha1s` maps the SHA-256 of each regular file's content to its SHA1 (hex): SPDX 2.3
    wants a SHA1 of every file, Pants knows only the SHA-256, and the layer reads every byte
    anyway. Keyed by content, so it says nothing a path could get wrong."""

    KIND = "layer-descriptor"

    media_type: str
    digest: str
    size: int
    diff_id: str
    uncompressed_size: int
    entries: int
    file_sha1s: Dict[str, str] = field(default_factory=dict)
