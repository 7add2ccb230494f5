"""A Python distribution's declared license, as an SPDX license expression or NOASSERTION.

Read from its METADATA in PEP 639's order: `License-Expression`, then the `License` field when
it is an expression or a well-known name, then the trove classifiers when they name exactly
one license unambiguously. Anything else is NOASSERTION with what was declared kept as a
comment: a document never carries an identifier a validator would refuse.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence, Tuple

from ocikit.sbom.model import NOASSERTION
from ocikit.sbom.spdx_ids import EXCEPTIONS, LICENSES

_BY_LOWER = {i.lower(): i for i in LICENSES}
_EXCEPTIONS_BY_LOWER = {i.lower(): i for i in EXCEPTIONS}

# Deprecated SPDX ids and common spellings in `License:` fields, to today's ids. Only names
# that mean one license: "BSD" or "Apache" without a version stay NOASSERTION.
_ALIASES = {
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit-license": "MIT",
    "isc license": "ISC",
    "bsd-3": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "2-clause bsd": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "mpl 2.0": "MPL-2.0",
    "mpl-2": "MPL-2.0",
    "psf": "PSF-2.0",
    "psf license": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gpl-3.0": "GPL-3.0-only",
    "gpl-3.0+": "GPL-3.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgplv2+": "LGPL-2.0-or-later",
    "lgpl-3.0": "LGPL-3.0-only",
    "lgpl-3.0+": "LGPL-3.0-or-later",
    "lgplv3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later",
    "agpl-3.0": "AGPL-3.0-only",
    "agplv3": "AGPL-3.0-only",
    "agplv3+": "AGPL-3.0-or-later",
    "unlicense": "Unlicense",
    "public domain": "",  # not a license: no SPDX id (NOASSERTION)
}

# Trove classifiers (after "License :: ") that name one license; those naming a family without
# a version ("OSI Approved :: BSD License", "OSI Approved :: Apache Software License") do not.
_CLASSIFIERS = {
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: zlib/libpng License": "Zlib",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
_PARENTHESIZED = re.compile(r"\(([^()]+)\)\s*$")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def normalize_expression(text: str) -> Optional[str]:
    """`text` as a valid SPDX license expression with canonical ids (ids are case-insensitive,
    operators AND/OR/WITH in either case), or None when it is not one."""
    tokens = _TOKEN.findall(text or "")
    if not tokens or len(text) > 2000:
        return None
    parser = _Parser(tokens)
    try:
        out = parser.expression()
    except ValueError:
        return None
    return out if parser.done() else None


class _Parser:
    """expression := and ("OR" and)*; and := with ("AND" with)*; with := atom ["WITH" exception];
    atom := "(" expression ")" | license-id."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.at = 0

    def done(self) -> bool:
        return self.at == len(self.tokens)

    def _peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def _take(self) -> str:
        if self.done():
            raise ValueError("unexpected end")
        self.at += 1
        return self.tokens[self.at - 1]

    def expression(self) -> str:
        parts = [self._and()]
        while self._peek() in ("OR", "or"):
            self._take()
            parts.append(self._and())
        return " OR ".join(parts)

    def _and(self) -> str:
        parts = [self._with()]
        while self._peek() in ("AND", "and"):
            self._take()
            parts.append(self._with())
        return " AND ".join(parts)

    def _with(self) -> str:
        atom = self._atom()
        if self._peek() in ("WITH", "with"):
            self._take()
            exception = _EXCEPTIONS_BY_LOWER.get(self._take().lower())
            if exception is None:
                raise ValueError("unknown exception")
            return f"{atom} WITH {exception}"
        return atom

    def _atom(self) -> str:
        token = self._take()
        if token == "(":
            inner = self.expression()
            if self._take() != ")":
                raise ValueError("unbalanced")
            return f"({inner})"
        license_id = _BY_LOWER.get(token.lower())
        if license_id is None:
            raise ValueError(f"unknown license {token}")
        return license_id


def _from_license_field(value: str) -> Optional[str]:
    """A `License:` field that is an expression or a well-known name; "" for one that is
    known to name no license (e.g. "Public Domain")."""
    text = " ".join(value.split())
    if not text or len(text) > 200:  # a whole license text, not a name
        return None
    expression = normalize_expression(text)
    if expression is not None:
        return expression
    return _ALIASES.get(text.lower())


def _from_classifiers(classifiers: Iterable[str]) -> Optional[str]:
    found = set()
    for classifier in classifiers:
        parts = [p.strip() for p in classifier.split("::", 1)]
        if parts[0] != "License" or len(parts) < 2:
            continue
        name = _CLASSIFIERS.get(parts[1])
        if name is None:
            match = _PARENTHESIZED.search(parts[1])  # "... (MIT-0)", "... (BSL-1.0)"
            name = _BY_LOWER.get(match.group(1).strip().lower()) if match else None
        if name is None:
            return None  # one license we cannot name: the set is unknown
        found.add(name)
    # Several classifiers say neither "and" nor "or" (PEP 639): only one is an answer.
    return found.pop() if len(found) == 1 else None


def declared_license(
    license_expression: str = "", license_field: str = "", classifiers: Sequence[str] = ()
) -> Tuple[str, str]:
    """(an SPDX expression or NOASSERTION, a comment saying what was declared when it could
    not be turned into an expression)."""
    if license_expression.strip():
        expression = normalize_expression(license_expression)
        if expression is not None:
            return expression, ""
    from_field = _from_license_field(license_field) if license_field.strip() else None
    if from_field:
        return from_field, ""
    from_classifiers = _from_classifiers(classifiers)
    if from_classifiers:
        return from_classifiers, ""
    return NOASSERTION, _declared_comment(license_expression, license_field, classifiers)


def _declared_comment(expression: str, field: str, classifiers: Sequence[str]) -> str:
    said = []
    if expression.strip():
        said.append(f"License-Expression: {' '.join(expression.split())[:200]}")
    if field.strip():
        first = " ".join(field.strip().splitlines()[0].split())
        said.append(f"License: {first[:200]}{' ...' if len(field.strip()) > len(first) else ''}")
    said.extend(f"Classifier: {c}" for c in classifiers if c.startswith("License"))
    if not said:
        return "The distribution declares no license."
    return "Declared, not an SPDX expression: " + "; ".join(said)
