"""The real parts tests run (a registry, skopeo, umoci, runc, a static busybox, ...): the Debian
package each comes from, and a clean skip naming that package when one is missing.

    from real_parts import needs, require

    @needs("umoci", root=True)     # a mark: the test is skipped, with the reason, when missing
    def test_unpack(): ...

    require("skopeo")              # in a fixture or helper: pytest.skip(reason) when missing

The table is tests/debian-packages.txt, also read by ./run-tests and .ci/run. Runs are strict by
default, and such a skip is then a failure (`./run-tests --allow-skips` lets it skip): see
tests/conftest.py.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
from pathlib import Path
from typing import Dict, Optional

import pytest

PACKAGES_FILE = Path(__file__).with_name("debian-packages.txt")
_PT_INTERP = 3  # the ELF program header naming a dynamic loader


@functools.lru_cache(maxsize=None)
def packages() -> Dict[str, str]:
    """What the tests run (a command, or an absolute path) -> the Debian package giving it."""
    table = {}
    for line in PACKAGES_FILE.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            package, tool = fields
            table[tool] = package
    return table


def is_static_executable(path: str) -> bool:
    """An ELF executable with no dynamic loader: it runs alone in an empty (scratch) image."""
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF":
            return False
        order = "<" if header[5] == 1 else ">"
        if header[4] == 2:  # 64-bit
            (offset,) = struct.unpack_from(order + "Q", header, 0x20)
            size, count = struct.unpack_from(order + "HH", header, 0x36)
        else:
            (offset,) = struct.unpack_from(order + "I", header, 0x1C)
            size, count = struct.unpack_from(order + "HH", header, 0x2A)
        f.seek(offset)
        table = f.read(size * count)
    return all(struct.unpack_from(order + "I", table, i * size)[0] != _PT_INTERP for i in range(count))


def _present(tool: str) -> bool:
    if not tool.startswith("/"):
        return shutil.which(tool) is not None
    if tool == "/bin/busybox":  # copied into scratch images and run there: must be static
        return os.path.isfile(tool) and is_static_executable(tool)
    return os.path.exists(tool)


def missing_reason(*tools: str, root: bool = False) -> Optional[str]:
    """None when every tool is here (and we are root if `root`); else one line for a skip."""
    missing = [tool for tool in tools if not _present(tool)]
    reasons = []
    if missing:
        table = packages()
        known = list(dict.fromkeys(table[tool] for tool in missing if tool in table))
        hint = f" (apt-get install {' '.join(known)})" if known else ""
        reasons.append(f"needs {', '.join(missing)}{hint}")
    if root and os.geteuid() != 0:
        reasons.append("must run as root")
    return "; ".join(reasons) or None


def needs(*tools: str, root: bool = False) -> pytest.MarkDecorator:
    """A mark skipping the test, with a reason naming the package, when a tool is missing."""
    reason = missing_reason(*tools, root=root)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def require(*tools: str, root: bool = False) -> None:
    """Skip the running test (from a fixture or helper) when a tool is missing."""
    reason = missing_reason(*tools, root=root)
    if reason is not None:
        pytest.skip(reason)


SIGSTORE_SKOPEO = (
    Path(os.environ.get("PANTS_OCI_CACHE") or Path.home() / ".cache" / "pants-oci") / "skopeo-sigstore" / "skopeo"
)


def sigstore_skopeo() -> str:
    """A skopeo whose containers/image reads and writes sigstore signatures: Debian trixie's,
    which .ci/sigstore-skopeo.sh unpacks (bookworm's is built with sigstore disabled)."""
    if not os.access(SIGSTORE_SKOPEO, os.X_OK):
        pytest.skip(
            f"needs a skopeo with sigstore at {SIGSTORE_SKOPEO} (bookworm's has it disabled): "
            "run .ci/sigstore-skopeo.sh"
        )
    return str(SIGSTORE_SKOPEO)
