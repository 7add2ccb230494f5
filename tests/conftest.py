"""Setup shared by every tier.

Support modules: tests/ and tests/registry are on sys.path, so any tier imports `real_parts`
(skips that name the Debian package of a missing tool), `registry_images` (small hand-written
OCI layouts) and `registry_fixtures` (real registries, credential helpers, skopeo).
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
for _support in (TESTS / "registry", TESTS):
    if str(_support) not in sys.path:
        sys.path.insert(0, str(_support))
