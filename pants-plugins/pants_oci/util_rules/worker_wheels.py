"""Fetches the wheels of ocikit's worker packages for another interpreter, and unpacks them.

For workers that run where Pants' named cache and interpreter are not (a docker or remote
environment): run on this machine by the Python Pants runs on, which has pip, as
`python worker_wheels.py SPEC.json` (standard library and pip only). SPEC.json:

  {"wheelhouse": ".ocikit-wheels",          a named cache: wheels fetched before, kept
   "requirements": ["name==version", ...],  exactly the distributions the local workers use
   "target": [pip's --python-version, --implementation, --abi and --platform arguments],
   "output": "deps"}                        where the unpacked packages go

The wheelhouse is tried first with no index, so a machine that fetched them once needs no
network. The unpacked tree holds importable files only (no metadata, no bytecode), each 0644,
so the same wheels give the same digest on every machine.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PIP = (sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check")
PIP_FLAGS = ("--only-binary=:all:", "--no-deps")


class WheelsError(Exception):
    pass


def _pip_download(spec, dest, use_index):
    argv = [*PIP, *PIP_FLAGS, *spec["target"], "--find-links", spec["wheelhouse"], "--dest", dest]
    if not use_index:
        argv.append("--no-index")
    proc = subprocess.run(
        [*argv, *spec["requirements"]], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")] or proc.stderr.splitlines()
    return " ".join(" ".join(lines[-2:]).split()) or f"pip exited with {proc.returncode}"


def fetch(spec, dest):
    """The wheels for `spec` into `dest`: from the wheelhouse alone if it has them all, else
    from the package index too; new ones are kept in the wheelhouse."""
    if _pip_download(spec, dest, use_index=False) is not None:
        for name in os.listdir(dest):
            os.unlink(os.path.join(dest, name))
        problem = _pip_download(spec, dest, use_index=True)
        if problem is not None:
            raise WheelsError(
                f"pip could not fetch wheels of {', '.join(spec['requirements'])} for "
                f"{' '.join(spec['target'])}: {problem}"
            )
    for name in sorted(os.listdir(dest)):
        kept = os.path.join(spec["wheelhouse"], name)
        if not os.path.exists(kept):
            temp = f"{kept}.{os.getpid()}.tmp"
            shutil.copyfile(os.path.join(dest, name), temp)
            os.replace(temp, kept)  # atomic: another run may fetch the same wheel
    return sorted(os.path.join(dest, n) for n in os.listdir(dest) if n.endswith(".whl"))


def importable_path(member):
    """Where a wheel's member goes below the import root, or None when it is not imported:
    metadata, bytecode, and `.data` files other than purelib and platlib (scripts, headers)."""
    parts = member.split("/")
    if member.endswith("/") or ".." in parts or member.startswith("/"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        parts = parts[2:]
    if parts[0].endswith(".dist-info") or "__pycache__" in parts or member.endswith(".pyc"):
        return None
    return "/".join(parts)


def unpack(wheels, output):
    """Every importable file of `wheels` below `output`; two wheels writing one path is an error."""
    owner = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                path = importable_path(member)
                if path is None:
                    continue
                if path in owner:
                    raise WheelsError(f"{os.path.basename(wheel)} and {owner[path]} both hold {path}")
                owner[path] = os.path.basename(wheel)
                target = os.path.join(output, path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(target, 0o644)


def main(argv):
    with open(argv[1]) as f:
        spec = json.load(f)
    os.makedirs(spec["wheelhouse"], exist_ok=True)
    dest = tempfile.mkdtemp(prefix="wheels-", dir=".")
    wheels = fetch(spec, dest)
    if len(wheels) != len(spec["requirements"]):
        raise WheelsError(f"pip fetched {len(wheels)} wheels for {len(spec['requirements'])} requirements")
    unpack(wheels, spec["output"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (WheelsError, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as e:
        sys.stderr.write(f"pants-oci: preparing the packages of shipped ocikit processes failed: {e}\n")
        sys.exit(1)
