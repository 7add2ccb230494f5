"""Registry credentials, looked up the way docker, crane and skopeo do.

Files, in order (the first one that knows the registry wins):
  1. `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json` without DOCKER_CONFIG
  2. `$REGISTRY_AUTH_FILE` (podman, skopeo)
  3. `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo), or `/run/containers/UID/auth.json`
     without XDG_RUNTIME_DIR, as containers/image does
Without HOME (Pants passes none to cached processes) the home directory comes from the password
database; without PATH, credential helpers are looked up on DEFAULT_PATH.
In one file: `credHelpers[registry]`, then `credsStore`, then the inline `auths[registry]` entry
(`auth` = base64 "user:password", or `identitytoken`, or `username`/`password`). Keys match with
or without a scheme or path (`https://index.docker.io/v1/`, `host:port`, `http://host:port`).
Helpers speak the docker-credential-helpers protocol: `docker-credential-NAME get`, the server
URL on stdin, `{"Username": ..., "Secret": ...}` on stdout; the username `<token>` means the
secret is an identity (refresh) token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ocikit.errors import OcikitError
from ocikit.reference import DOCKER_HUB, DOCKER_HUB_API_HOST
from ocikit.registry.errors import register_secret

DEFAULT_HELPER_TIMEOUT = 30.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HUB_KEYS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HUB_SERVER_URL = "https://index.docker.io/v1/"
_NOT_FOUND_MARKER = "credentials not found"


class CredentialError(OcikitError):
    """Credentials could not be read: a malformed file, a missing or failing helper."""


@dataclass(frozen=True)
class Credential:
    """What to authenticate with. Secrets never show in repr()."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)
    source: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __post_init__(self) -> None:
        for secret in (self.password, self.identity_token, self.registry_token):
            register_secret(secret)
        if self.username and self.password:
            register_secret(_basic_value(self.username, self.password))


ANONYMOUS = Credential(source="no credentials")


def _basic_value(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")


def basic_authorization(credential: Credential) -> str:
    """The `Authorization` header value for HTTP Basic with this credential."""
    if credential.identity_token and not credential.password:
        return "Basic " + _basic_value("<token>", credential.identity_token)
    return "Basic " + _basic_value(credential.username, credential.password)


class Keychain:
    """Resolves a registry (host[:port]) to a Credential."""

    def resolve(self, registry: str) -> Credential:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return "no credential sources"


class StaticKeychain(Keychain):
    """Fixed credentials by registry; anything else is anonymous (for callers and tests)."""

    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self._credentials = {_normalize_key(k): v for k, v in credentials.items()}

    def resolve(self, registry: str) -> Credential:
        return self._credentials.get(_normalize_key(registry), ANONYMOUS)

    def describe(self) -> str:
        return "credentials given by the caller"


class DefaultKeychain(Keychain):
    """docker / podman config files and credential helpers (see the module doc)."""

    def __init__(
        self, env: Optional[Mapping[str, str]] = None, *, helper_timeout: float = DEFAULT_HELPER_TIMEOUT
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._helper_timeout = helper_timeout
        self._cache: dict[str, Credential] = {}

    def _home(self) -> str:
        return self._env.get("HOME") or _passwd_home()

    def config_files(self) -> list[str]:
        """The files searched, in order, whether they exist or not."""
        env = self._env
        docker_dir = env.get("DOCKER_CONFIG") or os.path.join(self._home(), ".docker")
        files = [os.path.join(docker_dir, "config.json")]
        if env.get("REGISTRY_AUTH_FILE"):
            files.append(env["REGISTRY_AUTH_FILE"])
        if env.get("XDG_RUNTIME_DIR"):
            files.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
        else:
            files.append(f"/run/containers/{os.getuid()}/auth.json")
        return files

    def describe(self) -> str:
        return "searched " + ", ".join(self.config_files())

    def resolve(self, registry: str) -> Credential:
        key = _normalize_key(registry)
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        return self._cache[key]

    def _lookup(self, key: str) -> Credential:
        for path in self.config_files():
            if not os.path.isfile(path):
                continue
            found = self._lookup_in_file(path, _load_config(path), key)
            if found is not None:
                return found
        return ANONYMOUS

    def _lookup_in_file(self, path: str, config: dict[str, Any], key: str) -> Optional[Credential]:
        helpers = config.get("credHelpers") or {}
        if not isinstance(helpers, dict):
            raise CredentialError(f"{path}: 'credHelpers' must be an object mapping registries to helper names")
        helper = _match(helpers, key)
        if helper is not None:
            found = self._run_helper(str(helper), key, f"credHelpers in {path}")
            if found is not None:
                return found
        store = config.get("credsStore")
        if store and helper is None:
            found = self._run_helper(str(store), key, f"credsStore in {path}")
            if found is not None:
                return found
        auths = config.get("auths") or {}
        if not isinstance(auths, dict):
            raise CredentialError(f"{path}: 'auths' must be an object mapping registries to entries")
        entry = _match(auths, key)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise CredentialError(f"{path}: the 'auths' entry for {key} must be an object")
        return _entry_credential(path, key, entry)

    def _run_helper(self, name: str, key: str, origin: str) -> Optional[Credential]:
        program = f"docker-credential-{name}"
        path = self._env.get("PATH") or DEFAULT_PATH
        executable = shutil.which(program, path=path)
        if executable is None:
            raise CredentialError(
                f"credential helper {program} (from {origin}) was not found on PATH; install it "
                f"or remove it from the config"
            )
        server = _HUB_SERVER_URL if key == DOCKER_HUB_API_HOST else key
        try:
            proc = subprocess.run(
                [executable, "get"],
                input=server.encode("utf-8"),
                capture_output=True,
                timeout=self._helper_timeout,
                env={**self._env, "HOME": self._home(), "PATH": path},
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CredentialError(
                f"credential helper {program} (from {origin}) did not answer for {key} within "
                f"{self._helper_timeout:g} s"
            ) from None
        except OSError as e:
            raise CredentialError(f"credential helper {program} (from {origin}) could not run: {e.strerror}") from None
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            said = (out.strip() or proc.stderr.decode("utf-8", "replace").strip()).splitlines()
            first = said[0][:200] if said else f"exit status {proc.returncode}"
            if _NOT_FOUND_MARKER in first.lower():
                return None
            raise CredentialError(f"credential helper {program} (from {origin}) failed for {key}: {first}")
        try:
            answer = json.loads(out)
            username, secret = answer.get("Username", ""), answer["Secret"]
        except (ValueError, KeyError, AttributeError, TypeError):
            raise CredentialError(
                f"credential helper {program} (from {origin}) answered for {key} with something "
                'that is not the JSON object {"Username": ..., "Secret": ...}'
            ) from None
        source = f"credential helper {program}"
        if username == "<token>":
            return Credential(identity_token=str(secret), source=source)
        return Credential(username=str(username), password=str(secret), source=source)


def _load_config(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        # The decoder's message quotes no content, only a position.
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise CredentialError(f"{path} is not valid JSON{where}; fix or remove it") from None
    except OSError as e:
        raise CredentialError(f"{path} could not be read: {e.strerror}") from None
    if not isinstance(config, dict):
        raise CredentialError(f"{path} must hold a JSON object with 'auths', 'credHelpers' or 'credsStore'")
    return config


def _entry_credential(path: str, key: str, entry: dict[str, Any]) -> Optional[Credential]:
    source = f"auths in {path}"
    identity = entry.get("identitytoken") or entry.get("identityToken")
    registry_token = entry.get("registrytoken") or entry.get("registryToken")
    username, password = entry.get("username") or "", entry.get("password") or ""
    encoded = entry.get("auth")
    if encoded:
        register_secret(str(encoded))
        try:
            decoded = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise CredentialError(f"{path}: the 'auth' value for {key} is not base64 of 'username:password'") from None
        if ":" not in decoded:
            raise CredentialError(f"{path}: the 'auth' value for {key} decodes to no 'username:password' pair")
        username, password = decoded.split(":", 1)
    if identity:
        return Credential(username=username, identity_token=str(identity), source=source)
    if registry_token:
        return Credential(registry_token=str(registry_token), source=source)
    if username or password:
        return Credential(username=str(username), password=str(password), source=source)
    return None


def _match(entries: Mapping[str, Any], key: str) -> Any:
    if key in entries:
        return entries[key]
    for candidate, value in entries.items():
        if _normalize_key(candidate) == key:
            return value
    return None


def _normalize_key(value: str) -> str:
    """'https://index.docker.io/v1/' -> 'index.docker.io'; 'http://h:5000/v2' -> 'h:5000'."""
    text = str(value).strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].lower()
    if text in _HUB_KEYS or text == DOCKER_HUB:
        return DOCKER_HUB_API_HOST
    return text


def _passwd_home() -> str:
    """The home directory when HOME is unset: the password database's, as ssh and git do."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return os.path.expanduser("~")
