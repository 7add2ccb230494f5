"""What a Python build root needs on machines that cannot reach GitHub, made once per machine
and cached in ~/.cache/pants-oci/ (outside any repo): the pex CLI Pants 2.17 would download,
built from PyPI, and a Python base image built from Debian packages.

    python tests/python_tools.py pex-cli-config      # prints a pants.toml file to add with
                                                     # PANTS_CONFIG_FILES=+['<that path>']:
                                                     # the pex CLI, pip settings for this machine
    python tests/python_tools.py push-base HOST:PORT # prints the pinned reference of the base
                                                     # image it pushed (HOST:PORT/debian-python)

Importable by tests: `pex_cli_config()`, `pex_cli_toml()`, `python_base_layout()`,
`push_python_base(registry)`. A missing tool is an error naming the Debian package to install.
A real user's repo needs none of this: Pants downloads pex itself, and any image with python3
will do as a base.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("PANTS_OCI_CACHE") or Path.home() / ".cache" / "pants-oci")
PEX_VERSION = "v2.1.137"  # what Pants 2.17.1 runs (also to resolve `[GLOBAL].plugins`)
DEBIAN_SUITE = "bookworm"  # python3 3.11
BASE_TAG = "3.11"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class MissingTool(RuntimeError):
    """Something a test needs could not be found or made; the message names it."""


def require(tool: str, package: str) -> str:
    path = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        raise MissingTool(f"`{tool}` is not installed: apt-get install {package}")
    return path


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder at a time per machine (test sessions and benchmarks run in parallel)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise MissingTool(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


# -- the pex CLI ----------------------------------------------------------------------------


def pants_venv() -> Path:
    return Path(_run(str(REPO / "pants"), "--print-venv").stdout.strip())


@dataclass(frozen=True)
class PexCli:
    path: Path
    sha256: str
    size: int

    def toml(self) -> str:
        """The `[pex-cli]` section that makes Pants use this file instead of downloading."""
        known = ", ".join(
            f'"{PEX_VERSION}|{platform}|{self.sha256}|{self.size}"'
            for platform in ("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64")
        )
        return (
            f'[pex-cli]\nversion = "{PEX_VERSION}"\n'
            f'url_template = "file://{self.path.parent}/pex-{{version}}.pex"\n'
            f"known_versions = [{known}]\n"
        )


def pex_cli() -> PexCli:
    """The pex CLI Pants 2.17.1 runs (it downloads it from the code host, unreachable here),
    built from PyPI with the pex library of the Pants venv."""
    target = CACHE / f"pex-cli-{PEX_VERSION}" / f"pex-{PEX_VERSION}.pex"
    with _locked("pex-cli"):
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.partial")
            _run(
                str(pants_venv() / "bin" / "pex"),
                f"pex=={PEX_VERSION[1:]}",
                "-c",
                "pex",
                "-o",
                str(partial),
                # The machine-wide pip constraints are for other tools, not for this build.
                env={**_without_python_paths(), "PIP_CONFIG_FILE": os.devnull},
            )
            partial.rename(target)
    data = target.read_bytes()
    return PexCli(target, hashlib.sha256(data).hexdigest(), len(data))


def _without_python_paths() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def pex_cli_toml() -> str:
    """The config that makes Pants' Python backend work here: the local pex CLI, and pip kept
    from the machine-wide pip config (its find-links and extra indexes serve wheels from other
    URLs than a lockfile names, which pex refuses), with the CA bundle that config named."""
    text = pex_cli().toml() + '\n[subprocess-environment]\nenv_vars.add = ["PIP_CONFIG_FILE=/dev/null"]\n'
    if Path(SYSTEM_CA_BUNDLE).is_file():
        text += f'\n[GLOBAL]\nca_certs_path = "{SYSTEM_CA_BUNDLE}"\n'
    return text


def pex_cli_config() -> Path:
    """A config file holding `pex_cli_toml()`, for `PANTS_CONFIG_FILES=+['PATH']`."""
    text = pex_cli_toml()
    path = CACHE / "pex-cli.toml"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


# -- the Python base image ------------------------------------------------------------------


def _debian_mirror() -> str:
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", sources.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def _package_version(rootfs: Path, package: str) -> str:
    status = (rootfs / "var/lib/dpkg/status").read_text()
    match = re.search(rf"^Package: {re.escape(package)}\n(?:.+\n)*?Version: (\S+)", status, re.MULTILINE)
    if not match:
        raise RuntimeError(f"{package} is not installed in {rootfs}")
    return re.split(r"[-+~]", match.group(1))[0]  # 3.11.2-6+deb12u6 -> 3.11.2


def _debootstrap(rootfs: Path) -> None:
    if os.geteuid() != 0:
        raise MissingTool("building the Python base image runs debootstrap, which needs root")
    debootstrap = require("debootstrap", "debootstrap")
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run(debootstrap, "--variant=minbase", "--include=python3", DEBIAN_SUITE, str(partial), _debian_mirror())
    # What apt downloaded: not needed to run python3, and most of the size.
    for junk in ("var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(partial / junk, ignore_errors=True)
    partial.rename(rootfs)


def python_base_layout() -> tuple[Path, str]:
    """An OCI layout (and its tag) of Debian bookworm with python3, built once per machine
    (debootstrap ~2 min, umoci ~10 s). Its config declares PYTHON_VERSION, as the official
    Python images do."""
    root = CACHE / f"debian-python-{DEBIAN_SUITE}"
    layout = root / "layout"
    with _locked("python-base"):
        if not (layout / "index.json").is_file():
            umoci = require("umoci", "umoci")
            rootfs = root / "rootfs"
            if not (rootfs / "usr/bin/python3").exists():
                root.mkdir(parents=True, exist_ok=True)
                _debootstrap(rootfs)
            partial = root / "layout.partial"
            shutil.rmtree(partial, ignore_errors=True)
            image = f"{partial}:{BASE_TAG}"
            _run(umoci, "init", "--layout", str(partial))
            _run(umoci, "new", "--image", image)
            _run(umoci, "insert", "--image", image, str(rootfs), "/")
            _run(
                umoci,
                "config",
                "--image",
                image,
                "--config.env",
                f"PYTHON_VERSION={_package_version(rootfs, 'python3.11-minimal')}",
                "--config.env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--config.cmd",
                "python3",
            )
            partial.rename(layout)
    return layout, BASE_TAG


def push_python_base(registry: str, repository: str = "debian-python") -> str:
    """Push the base image to a registry (`HOST:PORT`, plain HTTP); its pinned reference."""
    skopeo = require("skopeo", "skopeo")
    layout, tag = python_base_layout()
    destination = f"{registry}/{repository}:{tag}"
    _run(skopeo, "copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{destination}")
    digest = _run(skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{destination}")
    return f"{destination}@{digest.stdout.strip()}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["pex-cli-config"] and len(argv) == 1:
        print(pex_cli_config())
    elif argv[:1] == ["push-base"] and len(argv) == 2:
        print(push_python_base(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except MissingTool as e:
        print(f"python_tools: {e}", file=sys.stderr)
        sys.exit(1)
