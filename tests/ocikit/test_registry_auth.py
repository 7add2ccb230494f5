"""Credential lookup: docker/podman config files, key matching, real credential helpers."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from registry_fixtures import helper_calls
from registry_fixtures import write_credential_helper as write_helper

from ocikit.registry.auth import ANONYMOUS, Credential, CredentialError, DefaultKeychain, basic_authorization


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def env(tmp_path):
    return {
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
    }


def write_config(env: dict, config: dict, name: str = "config.json") -> Path:
    path = Path(env["DOCKER_CONFIG"]) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("key", ["r.io:5000", "http://r.io:5000", "https://r.io:5000/v2/", "R.IO:5000"])
def test_auths_entry_matches_with_or_without_scheme_and_path(env, key):
    write_config(env, {"auths": {key: {"auth": b64("alice:pw1")}}})
    credential = DefaultKeychain(env).resolve("r.io:5000")
    assert (credential.username, credential.password) == ("alice", "pw1")
    assert DefaultKeychain(env).resolve("r.io:5001") is ANONYMOUS


def test_docker_hub_keys(env):
    write_config(env, {"auths": {"https://index.docker.io/v1/": {"auth": b64("bob:pw2")}}})
    for registry in ("index.docker.io", "docker.io"):
        assert DefaultKeychain(env).resolve(registry).username == "bob"


def test_identity_token_and_separate_fields(env):
    write_config(env, {"auths": {"a.io": {"identitytoken": "id-tok-1"}, "b.io": {"username": "u", "password": "p"}}})
    keychain = DefaultKeychain(env)
    assert keychain.resolve("a.io").identity_token == "id-tok-1"
    assert (keychain.resolve("b.io").username, keychain.resolve("b.io").password) == ("u", "p")


def test_credential_helper_per_registry(env, tmp_path):
    write_helper(tmp_path / "bin", "testhelper", {"r.io:5000": {"Username": "carol", "Secret": "pw3"}})
    write_config(env, {"credHelpers": {"r.io:5000": "testhelper"}, "auths": {"r.io:5000": {"auth": b64("x:y")}}})
    credential = DefaultKeychain(env).resolve("r.io:5000")
    assert (credential.username, credential.password) == ("carol", "pw3")
    assert "docker-credential-testhelper" in credential.source
    assert helper_calls(tmp_path / "bin", "testhelper") == [[["get"], "r.io:5000"]]


def test_creds_store_with_identity_token_and_hub_server_url(env, tmp_path):
    write_helper(
        tmp_path / "bin", "store", {"https://index.docker.io/v1/": {"Username": "<token>", "Secret": "refresh-1"}}
    )
    write_config(env, {"credsStore": "store"})
    credential = DefaultKeychain(env).resolve("index.docker.io")
    assert credential.identity_token == "refresh-1" and not credential.password
    # Not found in the store: anonymous, not an error.
    assert DefaultKeychain(env).resolve("other.io").anonymous


def test_missing_helper_is_a_clear_error(env):
    path = write_config(env, {"credHelpers": {"r.io": "nosuchhelper"}})
    with pytest.raises(CredentialError) as info:
        DefaultKeychain(env).resolve("r.io")
    assert "docker-credential-nosuchhelper" in str(info.value) and str(path) in str(info.value)
    assert "not found on PATH" in str(info.value)


def test_failing_and_hanging_helpers(env, tmp_path):
    write_helper(tmp_path / "bin", "broken", {}, fail="keychain is locked")
    write_helper(tmp_path / "bin", "slow", {}, sleep=5)
    write_config(env, {"credHelpers": {"a.io": "broken", "b.io": "slow"}})
    with pytest.raises(CredentialError) as info:
        DefaultKeychain(env).resolve("a.io")
    assert "docker-credential-broken" in str(info.value) and "keychain is locked" in str(info.value)
    with pytest.raises(CredentialError) as info:
        DefaultKeychain(env, helper_timeout=0.5).resolve("b.io")
    assert "did not answer for b.io within 0.5 s" in str(info.value)


def test_malformed_config_names_the_file_and_not_its_content(env):
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"auths": {"r.io": {"auth": "c2VjcmV0LXZhbHVl"}')
    with pytest.raises(CredentialError) as info:
        DefaultKeychain(env).resolve("r.io")
    assert str(path) in str(info.value) and "not valid JSON" in str(info.value)
    assert "c2VjcmV0LXZhbHVl" not in str(info.value)
    write_config(env, {"auths": {"r.io": {"auth": "!!notbase64"}}})
    with pytest.raises(CredentialError) as info:
        DefaultKeychain(env).resolve("r.io")
    assert "not base64" in str(info.value) and "!!notbase64" not in str(info.value)


def test_podman_auth_files(env, tmp_path):
    podman = tmp_path / "podman-auth.json"
    podman.write_text(json.dumps({"auths": {"p.io": {"auth": b64("dave:pw4")}}}))
    runtime = tmp_path / "run"
    (runtime / "containers").mkdir(parents=True)
    (runtime / "containers" / "auth.json").write_text(json.dumps({"auths": {"q.io": {"auth": b64("erin:pw5")}}}))
    write_config(env, {"auths": {"other.io": {"auth": b64("z:z")}}})
    keychain = DefaultKeychain({**env, "REGISTRY_AUTH_FILE": str(podman), "XDG_RUNTIME_DIR": str(runtime)})
    assert keychain.resolve("p.io").username == "dave"
    assert keychain.resolve("q.io").username == "erin"
    assert keychain.config_files()[1:] == [str(podman), str(runtime / "containers" / "auth.json")]


def test_default_docker_config_location(tmp_path):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"h.io": {"auth": b64("f:pw6")}}}))
    assert DefaultKeychain({"HOME": str(home)}).resolve("h.io").username == "f"


def test_secrets_stay_out_of_repr():
    credential = Credential(username="u", password="hidden-pw-77", identity_token="hidden-tok-77")
    assert "hidden" not in repr(credential)
    assert basic_authorization(credential) == "Basic " + b64("u:hidden-pw-77")
