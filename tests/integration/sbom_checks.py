"""Readers of the SPDX documents `package` writes, for the end-to-end tests: validation with
spdx-tools' own command line (`pyspdxtools -i`, from the test venv) and lookups by relationship."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

PYSPDXTOOLS = Path(sys.executable).parent / "pyspdxtools"


def validate(path: Path) -> None:
    """`pyspdxtools -i FILE`: exit status 0 and no error, or the test fails with its output."""
    assert PYSPDXTOOLS.is_file(), f"{PYSPDXTOOLS} is missing: spdx-tools is pinned in requirements-pants.txt"
    run = subprocess.run([str(PYSPDXTOOLS), "-i", str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "ERROR" not in run.stderr, f"{path}:\n{run.stdout}\n{run.stderr}"


class Sbom:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.document = json.loads(path.read_bytes())
        self.elements: Dict[str, dict] = {
            e["SPDXID"]: e for e in self.document["packages"] + self.document.get("files", [])
        }

    def described(self) -> dict:
        (top,) = self.document["documentDescribes"]
        return self.elements[top]

    def related(self, element: dict, kind: str) -> List[dict]:
        return [
            self.elements[r["relatedSpdxElement"]]
            for r in self.document["relationships"]
            if r["spdxElementId"] == element["SPDXID"] and r["relationshipType"] == kind
        ]

    def purls(self, element: dict) -> List[str]:
        return [r["referenceLocator"] for r in element.get("externalRefs", []) if r["referenceType"] == "purl"]
