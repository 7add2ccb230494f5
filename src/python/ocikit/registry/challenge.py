"""WWW-Authenticate challenges: `Bearer realm="…",service="…",scope="…"` and `Basic realm="…"`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from ocikit.registry.errors import RegistryError, scrub


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic", "bearer" or "" (no auth needed)
    params: Mapping[str, str] = field(default_factory=dict)


_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"`, `Basic realm="…"`."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if not match:
            break
        scheme, rest = match.group(1).lower(), rest[match.end() :]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM_RE.match(rest)
            if not pm or (not pm.group(2) and not rest[pm.end(1) :].lstrip().startswith("=")):
                break
            value = pm.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[pm.group(1).lower()] = value
            rest = rest[pm.end() :]
        challenges.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return challenges


def pick_challenge(header: str) -> Challenge:
    challenges = parse_challenges(header)
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    raise RegistryError(
        f"the registry asked for authentication with an unsupported scheme ({scrub(header)[:100]!r}); "
        "only Basic and Bearer are supported",
        code="UNAUTHORIZED",
        status=401,
    )
