"""`python -m ocikit layer --spec SPEC.json --out BLOB --descriptor DESC.json [--threads N]`

Builds the layer a `LayerSpec` (SPEC, as JSON) describes, writes its blob to BLOB and its
`LayerDescriptor` (as canonical JSON) to DESC: both in `ocikit.contracts.layer`, which the
Pants plugin imports too.

On any error (a spec that does not match the contract included): one line
`ocikit layer: error: ...` on stderr, exit status 1, and neither BLOB nor DESC exists
afterwards. BLOB and DESC are written under temporary names in their own directories and
renamed into place only once both are complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from ocikit.contract import ContractError
from ocikit.contracts.layer import LayerCommand, LayerDescriptor, LayerSpec
from ocikit.errors import error_line
from ocikit.layer import LayerEntry, LayerError, add_symlinks, build_layer, plan_layer

PROG = "ocikit layer"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Build one deterministic OCI layer blob from a directory tree.")
    LayerCommand.add_arguments(p)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="compression threads, overriding the spec's (the bytes never depend on it)",
    )
    return p


def load_spec(path: str) -> LayerSpec:
    """The spec at `path`; a ContractError names the key at fault."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise LayerError(f"cannot read spec {path!r}: {e.strerror or e}") from None
    return LayerSpec.loads(raw, f"spec {path!r}")


def _write_temp(final: str, write) -> str:
    directory = os.path.dirname(os.path.abspath(final))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(final) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            write(f)
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(path: Optional[str]) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def run(command: LayerCommand, threads: Optional[int] = None) -> LayerDescriptor:
    spec = load_spec(command.spec)
    entries = plan_layer(spec.root, spec.destination, spec.uid, spec.gid, spec.mode_policy, spec.executables)
    entries = add_symlinks(entries, spec.destination, spec.symlinks, spec.uid, spec.gid)
    return build_and_write(entries, spec, command.out, command.descriptor, threads, file_sha1s=True)


def build_and_write(
    entries: List[LayerEntry],
    spec: LayerSpec,
    out: str,
    descriptor: str,
    threads: Optional[int] = None,
    file_sha1s: bool = False,
) -> LayerDescriptor:
    """Write the blob of `entries` (compressed as `spec` says) to `out` and its descriptor to
    `descriptor`, both or neither (also for `ocikit deb-layer`); with `file_sha1s`, the
    descriptor records each file's SHA1 (`LayerDescriptor.file_sha1s`)."""
    holder: List[Any] = []
    sha1s: Optional[Dict[str, str]] = {} if file_sha1s else None
    blob_tmp = desc_tmp = None
    try:
        blob_tmp = _write_temp(
            out,
            lambda f: holder.append(
                build_layer(
                    entries,
                    f,
                    spec.compression,
                    spec.level,
                    spec.mtime,
                    threads if threads is not None else spec.threads,
                    sha1s,
                )
            ),
        )
        result = holder[0]
        desc = LayerDescriptor(
            media_type=result.media_type,
            digest=result.digest,
            size=result.size,
            diff_id=result.diff_id,
            uncompressed_size=result.uncompressed_size,
            entries=len(entries),
            file_sha1s=dict(sorted(sha1s.items())) if sha1s else {},
        )
        desc_tmp = _write_temp(descriptor, lambda f: f.write(desc.dumps()))
        os.replace(blob_tmp, out)
        blob_tmp = None
        os.replace(desc_tmp, descriptor)
        desc_tmp = None
    except BaseException:
        _remove(blob_tmp)
        _remove(desc_tmp)
        raise
    return desc


def main(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    command = LayerCommand.from_args(args)
    try:
        run(command, args.threads)
    except (LayerError, ContractError, OSError) as e:
        # Whatever a previous run left at these paths no longer matches this spec.
        for path in (command.out, command.descriptor):
            try:
                _remove(path)
            except OSError:
                pass
        print(f"{PROG}: error: {error_line(e)}", file=sys.stderr)
        return 1
    return 0
