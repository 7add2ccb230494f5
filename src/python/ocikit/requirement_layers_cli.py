"""`python -m ocikit requirement-layers --spec SPEC.json --out DIR`: a Python app's resolved
requirements -> installed, their bytecode and their layers, in one process.

(What Pants passes: ocikit.contracts.requirement_layers.)

The tree (a flat site-packages) is installed in the process from the resolved requirements
(`ocikit.requirements_install`; a spec without `install` reads a tree already there), the
bytecode goes into a scratch directory beside it (`ocikit.bytecode`, run by the image's Python),
the split comes from the distributions' RECORDs (`ocikit.requirement_layers`), and each layer's
entries are the tree's and the bytecode's below the layer's top-level names, placed at
`destination/prefix`. Only the layers' blobs leave the process: the thousands of files of the
tree and its bytecode are never captured into Pants' store, nor written into another sandbox.

The bytes are those of `ocikit layer` over the same files (the same entries, modes and
compression): the blob of a part is the blob a layer process would build from its files.

`python -m ocikit requirements-metadata --repository PEX --out DIR` copies the distributions'
metadata out of the resolved requirements, for the SBOM.

On any error: one line `ocikit requirement-layers: error: ...` on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple, Type

import ocikit
from ocikit import bytecode, requirements_install
from ocikit.command_line import CommandLine
from ocikit.contract import ContractError
from ocikit.contracts.layer import LayerSpec
from ocikit.contracts.requirement_layers import (
    RESULT,
    RequirementLayer,
    RequirementLayersCommand,
    RequirementLayersResult,
    RequirementLayersSpec,
    RequirementsMetadataCommand,
)
from ocikit.errors import error_line
from ocikit.layer import LayerEntry, LayerError, plan_tree
from ocikit.layer_cli import build_and_write
from ocikit.requirement_layers import RequirementLayer as Part
from ocikit.requirement_layers import distributions, layer_tops, platform_specific, split_requirements

# Layers built at a time: each compresses on every core, but the tar stream and the hashing of
# one layer run on one thread, so a second layer keeps the other core busy.
PARALLEL_LAYERS = 2


def _interpreter(python: str) -> Tuple[str, str]:
    """(`cpython3.11`, `cpython-311`): what `python` is and its bytecode's cache tag, asked of it
    (the bytecode is for its version only)."""
    script = "import sys; i = sys.implementation; print('%s%d.%d' % (i.name, *sys.version_info[:2]), i.cache_tag)"
    proc = subprocess.run([python, "-S", "-c", script], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LayerError(f"cannot run the Python that compiles the bytecode, {python!r}: {proc.stderr.strip()}")
    name, cache_tag = proc.stdout.split()
    return name, cache_tag


def _worker_env() -> Dict[str, str]:
    """The bytecode workers' environment: only the core on their path, as when `ocikit
    bytecode` runs them (the workers' packages are built for another Python)."""
    core = os.path.relpath(os.path.dirname(os.path.dirname(os.path.abspath(ocikit.__file__))))
    return {**os.environ, "PYTHONPATH": core}


def compile_requirements(spec: RequirementLayersSpec, out: str) -> None:
    if spec.python is None:
        return
    running, cache_tag = _interpreter(spec.python)
    if spec.python_name and running != spec.python_name:
        raise LayerError(f"asked for bytecode of {spec.python_name}, but {spec.python} is {running}")
    bytecode.compile_tree(spec.root, out, bytecode.cores(), spec.python, _worker_env(), cache_tag)


def _by_top(entries: List[LayerEntry]) -> Dict[str, List[LayerEntry]]:
    grouped: Dict[str, List[LayerEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.path.split("/", 1)[0], []).append(entry)
    return grouped


def merge_trees(trees: List[List[LayerEntry]]) -> Dict[str, List[LayerEntry]]:
    """The entries of trees laid over each other (a directory in several is one entry), by
    top-level name; a file in two of them is a LayerError."""
    merged: Dict[str, LayerEntry] = {}
    for tree in trees:
        for entry in tree:
            seen = merged.get(entry.path)
            if seen is None:
                merged[entry.path] = entry
            elif not (seen.kind == entry.kind == "dir"):
                raise LayerError(f"{entry.path!r} is both in the installed tree and in its bytecode")
    return _by_top(list(merged.values()))


def part_entries(part: Part, tops: Dict[str, List[LayerEntry]], spec: RequirementLayersSpec) -> List[LayerEntry]:
    """The entries of one layer, placed at `destination/prefix`, with the directories leading
    there (the destination itself and the prefix; none above the destination), sorted as
    plan_layer sorts."""
    chosen = layer_tops(part, tops)
    base = "/".join(p for p in (spec.destination.strip("/"), spec.prefix.strip("/")) if p)
    leading = []
    parts = base.split("/") if base else []
    first = len(spec.destination.strip("/").split("/")) if spec.destination.strip("/") else 1
    for i in range(first, len(parts) + 1):
        leading.append(LayerEntry("/".join(parts[:i]), "dir", 0o755, spec.uid, spec.gid, 0, None))
    placed = [dataclasses.replace(e, path=f"{base}/{e.path}" if base else e.path) for t in chosen for e in tops[t]]
    return sorted(leading + placed, key=lambda e: e.path.encode("utf-8", "surrogateescape"))


def _texts(root: str, entries: List[LayerEntry], suffix: str) -> Dict[str, str]:
    found = {}
    for entry in entries:
        if entry.kind == "file" and entry.path.count("/") == 1 and entry.path.endswith(suffix):
            if entry.path.split("/", 1)[0].endswith(".dist-info"):
                with open(os.path.join(root, entry.path), "rb") as f:
                    found[entry.path] = f.read().decode("utf-8", "replace")
    return found


def plan_parts(spec: RequirementLayersSpec, pyc: str) -> Tuple[List[Part], Dict[str, List[LayerEntry]], List[str]]:
    """The layers (in image order), the merged entries by top-level name, and the distributions
    built for one platform."""
    tree = plan_tree(spec.root, spec.uid, spec.gid, spec.executables)
    compiled = plan_tree(pyc, spec.uid, spec.gid, ())
    tops = merge_trees([tree, compiled])
    sizes = {e.path: e.size for entries in tops.values() for e in entries if e.kind == "file"}
    dists = distributions(_texts(spec.root, tree, "/RECORD"))
    parts = split_requirements(dists, sizes, spec.own_layer_bytes)
    return parts, tops, platform_specific(_texts(spec.root, tree, "/WHEEL"))


def build_parts(spec: RequirementLayersSpec, out: str, pyc: str) -> RequirementLayersResult:
    parts, tops, platform = plan_parts(spec, pyc)
    layer_spec = LayerSpec(
        root=spec.root,
        destination=spec.destination,
        uid=spec.uid,
        gid=spec.gid,
        compression=spec.compression,
        level=spec.level,
        mtime=spec.mtime,
        threads=spec.threads,
    )
    written = [RequirementLayer(p.name, f"{i}.blob", f"{i}.json") for i, p in enumerate(parts)]

    def build(index: int) -> None:
        entries = part_entries(parts[index], tops, spec)
        layer = written[index]
        blob, descriptor = os.path.join(out, layer.blob), os.path.join(out, layer.descriptor)
        build_and_write(entries, layer_spec, blob, descriptor, file_sha1s=True)

    # Largest first, so the small ones fill in beside the last large one.
    order = sorted(range(len(parts)), key=lambda i: -parts[i].size)
    with ThreadPoolExecutor(PARALLEL_LAYERS) as pool:
        list(pool.map(build, order))
    return RequirementLayersResult(tuple(written), tuple(platform))


def run(command: RequirementLayersCommand) -> RequirementLayersResult:
    spec = RequirementLayersSpec.read(command.spec)
    os.makedirs(command.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".requirements-", dir=os.path.dirname(os.path.abspath(command.out)))
    try:
        if spec.install is not None:
            requirements_install.install_tree(spec.install, spec.root, scratch)
            os.makedirs(spec.root, exist_ok=True)  # pex writes nothing for no requirements
            spec = dataclasses.replace(spec, executables=requirements_install.executables(spec.root))
        if requirements_install.holds_files(spec.root):
            pyc = os.path.join(scratch, "bytecode")
            os.makedirs(pyc)
            compile_requirements(spec, pyc)
            result = build_parts(spec, command.out, pyc)
        else:  # an app without third-party requirements
            result = RequirementLayersResult(())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with open(os.path.join(command.out, RESULT), "wb") as f:
        f.write(result.dumps())
    return result


def _parser(kind: Type[CommandLine] = RequirementLayersCommand) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"ocikit {kind.COMMAND}", description=(kind.__doc__ or "").split("\n", 1)[0])
    kind.add_arguments(parser)
    return parser


def main(argv: Optional[List[str]] = None, name: str = RequirementLayersCommand.COMMAND) -> int:
    metadata = name == RequirementsMetadataCommand.COMMAND
    args = _parser(RequirementsMetadataCommand if metadata else RequirementLayersCommand).parse_args(argv)
    try:
        if metadata:
            command = RequirementsMetadataCommand.from_args(args)
            requirements_install.copy_metadata(command.repository, command.out)
        else:
            run(RequirementLayersCommand.from_args(args))
    except (LayerError, ContractError, OSError, RuntimeError, zipfile.BadZipFile) as e:
        print(f"ocikit {name}: error: {error_line(e)}", file=sys.stderr)
        return 1
    return 0
