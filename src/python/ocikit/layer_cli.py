"""`python -m ocikit layer --spec SPEC.json --out BLOB --descriptor DESC.json`

SPEC (JSON object; only "root" and "destination" are required):
  {"root": "files", "destination": "/app", "uid": 0, "gid": 0, "mode_policy": "normalize",
   "compression": "gzip", "level": 1, "mtime": 0, "threads": 2,
   "symlinks": {"bin/python": "/usr/bin/python3", "current": "releases/v2"}}
"root" is relative to the working directory; "level" null or absent picks the compression's
default; "threads" absent or null uses every core (the bytes never depend on it).
"symlinks" declares links the tree cannot hold (Pants dereferences symlinks in sources): each
key is a link's path relative to "destination" (normalised: no leading or trailing '/', no '.',
'..' or '//'), each value its target, stored verbatim (absolute or relative; the container
resolves it). Links are owned by uid:gid; their missing parent directories are added as the
tree's are. A link on a path the tree has, or above another entry, is an error. Absent or {}
leaves the layer's bytes as without the key (ocikit.layer.add_symlinks).

Writes the layer blob to BLOB and, as canonical JSON, to DESC:
  {"mediaType", "digest", "size", "diffID", "uncompressedSize", "entries"}
On any error: one line `ocikit layer: error: ...` on stderr, exit status 1, and neither BLOB
nor DESC exists afterwards. BLOB and DESC are written under temporary names in their own
directories and renamed into place only once both are complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from ocikit.canonical_json import canonical_json
from ocikit.layer import LayerError, add_symlinks, build_layer, plan_layer

PROG = "ocikit layer"
_KEYS = {
    "root",
    "destination",
    "uid",
    "gid",
    "mode_policy",
    "compression",
    "level",
    "mtime",
    "threads",
    "symlinks",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Build one deterministic OCI layer blob from a directory tree."
    )
    p.add_argument("--spec", required=True, help="the layer spec (JSON file)")
    p.add_argument("--out", required=True, help="where to write the layer blob")
    p.add_argument("--descriptor", required=True, help="where to write the descriptor JSON")
    p.add_argument(
        "--threads", type=int, default=None,
        help="compression threads, overriding the spec's (the bytes never depend on it)",
    )
    return p


def load_spec(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise LayerError(f"cannot read spec {path!r}: {e.strerror or e}") from None
    except ValueError as e:
        raise LayerError(f"spec {path!r} is not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise LayerError(f"spec {path!r} must be a JSON object")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise LayerError(f"spec {path!r} has unknown keys: {', '.join(unknown)}")
    for key in ("root", "destination"):
        if key not in spec:
            raise LayerError(f"spec {path!r} lacks {key!r}")
    if not isinstance(spec["root"], str):
        raise LayerError(f"spec {path!r}: 'root' must be a string, got {spec['root']!r}")
    return spec


def _write_temp(final: str, write) -> str:
    directory = os.path.dirname(os.path.abspath(final))
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(final) + ".", suffix=".tmp"
    )
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


def run(spec_path: str, out: str, descriptor: str, threads: Optional[int] = None) -> Dict[str, Any]:
    spec = load_spec(spec_path)
    uid, gid = spec.get("uid", 0), spec.get("gid", 0)
    entries = plan_layer(
        spec["root"], spec["destination"], uid, gid, spec.get("mode_policy", "normalize")
    )
    entries = add_symlinks(entries, spec["destination"], spec.get("symlinks", {}), uid, gid)
    holder: List[Any] = []
    blob_tmp = desc_tmp = None
    try:
        blob_tmp = _write_temp(
            out,
            lambda f: holder.append(
                build_layer(
                    entries,
                    f,
                    spec.get("compression", "gzip"),
                    spec.get("level"),
                    spec.get("mtime", 0),
                    threads if threads is not None else spec.get("threads"),
                )
            ),
        )
        result = holder[0]
        desc = {
            "mediaType": result.media_type,
            "digest": result.digest,
            "size": result.size,
            "diffID": result.diff_id,
            "uncompressedSize": result.uncompressed_size,
            "entries": len(entries),
        }
        desc_tmp = _write_temp(descriptor, lambda f: f.write(canonical_json(desc)))
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
    try:
        run(args.spec, args.out, args.descriptor, args.threads)
    except (LayerError, OSError) as e:
        # Whatever a previous run left at these paths no longer matches this spec.
        for path in (args.out, args.descriptor):
            try:
                _remove(path)
            except OSError:
                pass
        if isinstance(e, OSError):
            where = f" {e.filename!r}" if e.filename else ""
            message = f"{e.strerror or e}{':' if where else ''}{where}"
        else:
            message = str(e)
        print(f"{PROG}: error: {' '.join(message.splitlines())}", file=sys.stderr)
        return 1
    return 0
