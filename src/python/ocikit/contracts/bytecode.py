"""`python -m ocikit bytecode`: its command line. It runs on the image's Python, with only the
standard library and the core on its path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ocikit.command_line import CommandLine, option


@dataclass(frozen=True)
class BytecodeCommand(CommandLine):
    """Compile a tree's `.py` files to reproducible `.pyc` files (`ocikit.bytecode`)."""

    COMMAND = "bytecode"

    root: str = option("--root", "the tree of sources", metavar="DIR")
    out: str = option("--out", "where the __pycache__ tree goes", metavar="DIR")
    python: Optional[str] = option(
        "--python",
        "refuse to run on another Python than this one, e.g. cpython3.11 (the bytecode "
        "is for that version; the name is what the caller's cache key holds)",
        default=None,
    )
