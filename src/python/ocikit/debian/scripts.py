"""What a package's maintainer scripts would have done, which a layer does not do.

Layers are unpacked .debs: preinst and postinst are never run (there is no container to run
them in, and their effects would not be reproducible). Most of what they do does not matter
in an image (service restarts, byte-compilation Python redoes on import, ldconfig's cache
for libraries in the default paths); some does, and a build warns naming the package and the
effect, so nothing is skipped silently:

- `update-alternatives`: the /etc/alternatives links (e.g. `awk`, `pager`) are not created;
- `update-ca-certificates` is reproduced for the `ca-certificates` package itself, as its
  postinst runs it with debconf's default answer (every certificate enabled): the bundle
  /etc/ssl/certs/ca-certificates.crt is every `/usr/share/ca-certificates/**.crt` the
  package ships, in path order, each ending with a newline (`reproduced_entries`). What is
  not: /etc/ca-certificates.conf, the `<hash>.0` links in /etc/ssl/certs (OpenSSL's `capath`
  lookup; the bundle serves `cafile`, which Python, curl and OpenSSL's default paths use),
  and certificates other packages add. Another package's call is warned about;
- users and groups (`adduser`, `useradd`, `groupadd`, `addgroup`) are not created;
- debconf questions (`db_get`, `db_input`) are not asked (tzdata: /etc/localtime and
  /etc/timezone are not written, so the zone is UTC);
- scripts where none of the above nor a known harmless command is recognised: "effects not
  reproduced", naming the scripts.

The /usr/bin/python3 -> python3.11 links are shipped in python3-minimal's data, not made by
a script: a layer has them.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Sequence

from ocikit.layer import LayerEntry

SCRIPTS = ("preinst", "postinst")
_EFFECTS = (
    (r"\bupdate-alternatives\b", "update-alternatives links are not created"),
    (r"\bupdate-ca-certificates\b", "the CA bundle /etc/ssl/certs/ca-certificates.crt is not generated"),
    (r"\b(adduser|useradd|groupadd|addgroup)\b", "system users or groups are not created"),
    (r"\b(db_get|db_input)\b", "debconf configuration is not applied"),
)
CA_PACKAGE = "ca-certificates"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
_CA_SOURCES = "usr/share/ca-certificates/"
# What `reproduced_entries` does in place of a package's scripts: not warned about.
_REPRODUCED = {CA_PACKAGE: ("the CA bundle", "debconf configuration")}
# Commands whose effects an image does without (see the module's docstring).
_HARMLESS = (
    r"\b(py3compile|pycompile|py_compile|confmodule|ldconfig|systemctl|deb-systemd-helper|deb-systemd-invoke|update-rc\.d|"
    r"dpkg-maintscript-helper|dpkg-trigger|mkdir|chmod|chown)\b"
)


def _code(script: str) -> str:
    return "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))


def skipped_effects(package: str, scripts: Dict[str, str]) -> List[str]:
    """Warnings for what `scripts` ({"postinst": text, ...}) do that the layer does not."""
    effects: List[str] = []
    recognised = False
    for name in SCRIPTS:
        code = _code(scripts.get(name, ""))
        for pattern, effect in _EFFECTS:
            if re.search(pattern, code) and effect not in effects:
                effects.append(effect)
        recognised = recognised or bool(re.search(_HARMLESS, code))
    present = [name for name in SCRIPTS if _code(scripts.get(name, "")).strip()]
    if not effects and present and not recognised:
        effects.append(f"effects of its {' and '.join(present)} are not reproduced")
    effects = [e for e in effects if not e.startswith(_REPRODUCED.get(package, ()))]
    return [f"{package}: maintainer scripts are not run: {effect}" for effect in effects]


def reproduced_entries(package: str, entries: Sequence[LayerEntry], workdir: str) -> List[LayerEntry]:
    """The files a package's scripts would make that a layer makes instead (the CA bundle of
    `ca-certificates`), written under `workdir`."""
    if package != CA_PACKAGE:
        return []
    certificates = sorted(
        (e for e in entries if e.kind == "file" and e.path.startswith(_CA_SOURCES) and e.path.endswith(".crt")),
        key=lambda e: e.path.encode("utf-8", "surrogateescape"),
    )
    source = os.path.join(workdir, "ca-bundle")
    with open(source, "wb") as out:
        for certificate in certificates:
            assert certificate.source is not None
            with open(certificate.source, "rb") as f:
                data = f.read()
            out.write(data if data.endswith(b"\n") else data + b"\n")
    return [LayerEntry(CA_BUNDLE, "file", 0o644, 0, 0, os.path.getsize(source), source)]
