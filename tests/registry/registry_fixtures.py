"""Real registries for tests: the Distribution registry on loopback, in three auth modes.

    with start_registry(tmp_dir, "token") as registry:
        registry.host              # "127.0.0.1:PORT"
        registry.requests()        # [RegistryRequest(method, uri, status), ...] from its log
        registry.token_server.count

Modes: "none"; "basic" (htpasswd, bcrypt); "token" (Distribution's bearer-token auth, with
tokens from `TokenServer`, in token_server.py: a small http.server on loopback issuing RS256
JWTs signed by a key and self-signed certificate made there with `cryptography`). Reusable by any test: import from
`tests.registry.registry_fixtures` (or `registry_fixtures` with tests/registry on sys.path).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional

from real_parts import require
from token_server import (  # noqa: F401  (re-exported: tests import them from here)
    DEFAULT_TOKEN_LIFETIME,
    DISTRIBUTION_LEEWAY,
    ISSUER,
    PASSWORD,
    SERVICE,
    USERNAME,
    TokenRequest,
    TokenServer,
)

MODES = ("none", "basic", "token")


def have_registry() -> bool:
    return shutil.which("docker-registry") is not None


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens, reserved while the block runs: a socket is bound
    to it but never listens, so a connection is refused and no other process can take the port
    meanwhile (a port merely found free could be taken by anyone before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# -- registry process -----------------------------------------------------------------------

# The access log's combined format: 127.0.0.1 - - [date] "HEAD /v2/... HTTP/1.1" 404 157 "" "ua"
_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ', re.M)


# The path of the test's own "settle" requests (see Registry.requests); a 404 for the registry.
_SETTLE_PATH = "/v2/_ocikit_test_settle/"
_settle_counter = itertools.count()


@dataclass(frozen=True)
class RegistryRequest:
    method: str
    uri: str
    status: int

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]


@dataclass
class Registry:
    """A running Distribution registry."""

    host: str
    mode: str
    root: Path
    log_path: Path
    process: subprocess.Popen
    token_server: Optional[TokenServer] = None
    tls_cert: Optional[Path] = None
    username: str = USERNAME
    password: str = PASSWORD
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_cert else 'http'}://{self.host}"

    @property
    def creds(self) -> Optional[str]:
        """`user:pass` for skopeo --creds, None without auth."""
        return None if self.mode == "none" else f"{self.username}:{self.password}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def requests(self) -> List[RegistryRequest]:
        """Every request the registry answered, in order, from its access log (401s included).

        The registry writes a request's log line after its handler returns, so a client can
        hold the answer before the line is written. To read a settled log, this sends a request
        of its own (a "settle" request, left out of the result) and waits, bounded, until its
        line is in the log: the registry answers a small response only after logging it (Go
        flushes the buffered answer when the logging handler returns), so every answer a client
        received before this call is logged by then."""
        marker = f"{_SETTLE_PATH}{next(_settle_counter)}"
        context = ssl._create_unverified_context() if self.tls_cert else None
        try:
            urllib.request.urlopen(f"{self.url}{marker}", timeout=10, context=context).close()
        except urllib.error.HTTPError:
            pass  # 404 (or 401 with auth): answered, and logged
        deadline = time.monotonic() + 10
        text = self.log_text()
        while f" {marker} " not in text:
            if time.monotonic() > deadline:
                raise AssertionError(f"the registry's log {self.log_path} never showed the request {marker}")
            time.sleep(0.01)
            text = self.log_text()
        return [
            RegistryRequest(match.group(1), match.group(2), int(match.group(3)))
            for match in _ACCESS_LINE.finditer(text)
            if not match.group(2).startswith(_SETTLE_PATH)
        ]

    def mark(self) -> int:
        """A position in the request log; `requests_since(mark)` gives what came after."""
        return len(self.requests())

    def requests_since(self, mark: int) -> List[RegistryRequest]:
        return self.requests()[mark:]

    def docker_config(self, directory: Path, *, secret: Optional[str] = None) -> Path:
        """Write a docker config.json with an `auths` entry for this registry; returns the dir."""
        directory.mkdir(parents=True, exist_ok=True)
        auths = {}
        if self.mode != "none":
            auth = base64.b64encode(f"{self.username}:{secret or self.password}".encode()).decode()
            auths[self.host] = {"auth": auth}
        (directory / "config.json").write_text(json.dumps({"auths": auths}))
        return directory

    def kill(self) -> None:
        """SIGKILL the registry, as a crash would: no shutdown, no flushing of its own."""
        self.process.kill()
        self.process.wait(5)

    def restart(self) -> None:
        """Start the registry again (after `kill`) on the same port, storage and HTTP secret: the
        upload sessions it was given before stay valid if their bytes are on disk. (The first
        start bound port 0; this one binds the port it got, which nothing else took meanwhile
        unless the test let go of it for long.)"""
        if self.process.poll() is None:
            self.kill()
        config = json.loads((self.root / "config.yml").read_text())
        config["http"]["addr"] = self.host
        config_path = self.root / "config-restart.yml"
        config_path.write_text(json.dumps(config, indent=2))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if not _answers(self.url, self.tls_cert is not None, time.monotonic() + 15):
            raise RuntimeError(f"the registry did not start again on {self.host}:\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.token_server is not None:
            self.token_server.stop()


def write_tls_certificate(directory: Path) -> tuple:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocikit test registry")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _config(mode: str, root: Path, port: int, token_server: Optional[TokenServer], tls: bool = False) -> dict:
    config: dict = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "ocikit-test-http-secret"},
    }
    if tls:
        cert_path, key_path = write_tls_certificate(root)
        config["http"]["tls"] = {"certificate": str(cert_path), "key": str(key_path)}
    if mode == "basic":
        require("htpasswd")
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", USERNAME, PASSWORD], check=True, capture_output=True, text=True
        ).stdout
        (root / "htpasswd").write_text(htpasswd)
        config["auth"] = {"htpasswd": {"realm": "ocikit-test", "path": str(root / "htpasswd")}}
    elif mode == "token":
        assert token_server is not None
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(token_server.cert_path),
            }
        }
    elif mode != "none":
        raise ValueError(f"unknown registry mode {mode!r}; expected one of {MODES}")
    return config


# The registry's own line naming the address it bound ("listening on 127.0.0.1:PORT", plus
# ", tls" with TLS): it is given port 0 and reports the port the kernel chose.
_LISTENING = re.compile(r'"msg":"listening on (127\.0\.0\.1:\d+)')


def _bound_address(process: subprocess.Popen, log_path: Path, deadline: float) -> Optional[str]:
    while time.monotonic() < deadline and process.poll() is None:
        found = _LISTENING.search(log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.02)
    return None


def _answers(url: str, tls: bool, deadline: float) -> bool:
    context = ssl._create_unverified_context() if tls else None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/v2/", timeout=1, context=context).close()
            return True
        except urllib.error.HTTPError as e:
            return e.code == 401
        except OSError:
            time.sleep(0.05)
    return False


def launch_registry(root: Path, mode: str = "none", *, tls: bool = False) -> Registry:
    """Start a registry in `root` (created); the caller must call .stop(). With `tls`, it
    serves HTTPS with a self-signed certificate (`registry.tls_cert`). Skips the test, naming
    the package, when docker-registry is missing. The registry binds port 0 itself and its log
    names the port it got, so no other process can take the port between choice and bind."""
    require("docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    token_server = TokenServer(root) if mode == "token" else None
    config_path = root / "config.yml"
    config_path.write_text(json.dumps(_config(mode, root, 0, token_server, tls), indent=2))
    log_path = root / f"registry-{next(_registry_counter)}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 30
    host = _bound_address(process, log_path, deadline)
    registry = Registry(
        host or "127.0.0.1:0",
        mode,
        root,
        log_path,
        process,
        token_server,
        tls_cert=root / "tls-cert.pem" if tls else None,
    )
    if host is not None and _answers(registry.url, tls, deadline):
        return registry
    registry.stop()
    raise RuntimeError(f"the registry did not start in {root}:\n{log_path.read_text(errors='replace')[-2000:]}")


_registry_counter = itertools.count()


@contextlib.contextmanager
def start_registry(root: Path, mode: str = "none") -> Iterator[Registry]:
    registry = launch_registry(root, mode)
    try:
        yield registry
    finally:
        registry.stop()


def write_credential_helper(bin_dir: Path, name: str, answers: dict, *, sleep: float = 0, fail: str = "") -> Path:
    """A real `docker-credential-NAME` executable speaking the helper protocol. It logs each
    call (argv and stdin) to NAME.calls next to it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        f"answers = {json.dumps(answers)!r}\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(bin_dir / (name + '.calls'))!r}, 'a').write(json.dumps([sys.argv[1:], server]) + '\\n')\n"
        f"time.sleep({sleep})\n"
        f"if {fail!r}:\n    print({fail!r}); sys.exit(1)\n"
        "answers = json.loads(answers)\n"
        "if sys.argv[1:] != ['get'] or server not in answers:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(dict(answers[server], ServerURL=server)))\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def helper_calls(bin_dir: Path, name: str) -> list:
    calls = bin_dir / f"{name}.calls"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def skopeo(
    *args: str, check: bool = True, env: Optional[dict] = None, text: bool = True
) -> subprocess.CompletedProcess:
    """Run skopeo with an isolated config (no user auth files, no policy surprises).
    `text=False` keeps its output as bytes."""
    require("skopeo")
    policy = Path(os.environ.get("TMPDIR", "/tmp")) / "ocikit-skopeo-policy.json"
    if not policy.exists():
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        ["skopeo", "--policy", str(policy), *args], capture_output=True, text=text, env=full_env, timeout=120
    )
    if check and result.returncode != 0:
        stderr = result.stderr if text else result.stderr.decode(errors="replace")
        raise AssertionError(f"skopeo {' '.join(args)} failed ({result.returncode}):\n{stderr}")
    return result


def served_manifest(registry: "Registry", reference: str) -> bytes:
    """The exact bytes of the manifest (or index) the registry serves for `repo:tag` or
    `repo@digest`, unparsed, as skopeo reads them (`inspect --raw`)."""
    creds = ["--creds", registry.creds] if registry.creds else []
    return skopeo(
        "inspect", "--tls-verify=false", *creds, "--raw", f"docker://{registry.host}/{reference}", text=False
    ).stdout


_repository_counter = itertools.count()


def unique_repository(test_name: str, prefix: str, max_name: int = 60) -> str:
    """A repository name of one test's own: `prefix/<test name>-<n>`, valid for the registry."""
    name = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:max_name].strip("-")
    return f"{prefix}/{name}-{next(_repository_counter)}"
