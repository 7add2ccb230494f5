"""Credentials end to end against real registries with Basic and Bearer-token auth."""

from __future__ import annotations

import json
import os

import pytest
from registry_fixtures import helper_calls, write_credential_helper
from registry_images import write_image

from ocikit.registry import AuthenticationError, pull_image, push_layout


def write_docker_config(directory, config) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return str(directory / "config.json")


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_credential_helper_on_path(registry_pool, mode, repo, tmp_path, auth_env):
    registry = registry_pool(mode)
    bin_dir = tmp_path / "bin"
    write_credential_helper(
        bin_dir, "testhelper", {registry.host: {"Username": registry.username, "Secret": registry.password}}
    )
    auth_env.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    write_docker_config(tmp_path / "cfg", {"credHelpers": {registry.host: "testhelper"}})
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    image = write_image(tmp_path / "layout", label="helper")
    assert push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:h"]).digest == image.digest
    assert helper_calls(bin_dir, "testhelper") == [[["get"], registry.host]]  # asked once per run


def test_identity_token_is_exchanged_at_the_token_server(token_registry, repo, tmp_path, auth_env):
    identity = token_registry.token_server.add_identity_token()
    write_docker_config(tmp_path / "cfg", {"auths": {f"http://{token_registry.host}": {"identitytoken": identity}}})
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    before = token_registry.token_server.count
    write_image(tmp_path / "layout", label="identity")
    push_layout(str(tmp_path / "layout"), [f"{token_registry.host}/{repo}:i"])
    grants = token_registry.token_server.requests[before:]
    assert [(g.method, g.grant, g.status) for g in grants] == [("POST", "refresh_token", 200)]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_wrong_password_is_one_clear_error_without_retries(registry_pool, mode, repo, tmp_path, auth_env):
    registry = registry_pool(mode)
    wrong = "definitely-wrong-pw-991"
    config = registry.docker_config(tmp_path / "cfg", secret=wrong) / "config.json"
    auth_env.setenv("DOCKER_CONFIG", str(config.parent))
    write_image(tmp_path / "layout", label="wrong")
    mark = registry.mark()
    tokens_before = registry.token_server.count if registry.token_server else 0
    with pytest.raises(AuthenticationError) as info:
        push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:w"])
    error = info.value
    assert error.code == "UNAUTHORIZED" and error.status == 401
    assert f"the credentials for {registry.host} from auths in {config} were rejected" in str(error)
    assert wrong not in str(error) and registry.password not in str(error)
    rejected = [r for r in registry.requests_since(mark) if r.status == 401 and r.path != "/v2/"]
    if mode == "basic":
        assert len(rejected) == 1
    else:
        assert not rejected
        grants = registry.token_server.requests[tokens_before:]
        assert [(g.grant, g.status) for g in grants] == [("basic", 401)]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_missing_credentials_say_where_they_were_looked_for(registry_pool, mode, repo, tmp_path, auth_env):
    registry = registry_pool(mode)
    write_image(tmp_path / "layout")
    with pytest.raises(AuthenticationError) as info:
        push_layout(str(tmp_path / "layout"), [f"{registry.host}/{repo}:x"])
    assert f"no credentials found for {registry.host} (searched " in str(info.value)
    assert os.environ["DOCKER_CONFIG"] in str(info.value)


def test_anonymous_pull_from_a_token_registry(token_registry, repo, tmp_path, auth_env):
    token_registry.docker_config(tmp_path / "cfg")
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    image = write_image(tmp_path / "layout", label="public")
    push_layout(str(tmp_path / "layout"), [f"{token_registry.host}/{repo}:p"])
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    before = token_registry.token_server.count
    pull_image(f"{token_registry.host}/{repo}@{image.digest}", ["linux/amd64"], str(tmp_path / "out"))
    grants = token_registry.token_server.requests[before:]
    assert [(g.grant, g.scopes) for g in grants] == [("anonymous", [f"repository:{repo}:pull"])]


def test_tokens_are_fetched_once_per_repository_with_exact_scopes(token_registry, repo, tmp_path, auth_env):
    token_registry.docker_config(tmp_path / "cfg")
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    image = write_image(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), label="tokens")
    server = token_registry.token_server
    before = server.count
    summary = push_layout(
        str(tmp_path / "layout"), [f"{token_registry.host}/{repo}/a:1", f"{token_registry.host}/{repo}/b:1"]
    )
    assert summary.stats.blobs_mounted == len(image.blobs)
    grants = server.requests[before:]
    assert [sorted(g.scopes) for g in grants] == [
        [f"repository:{repo}/a:pull,push"],
        [f"repository:{repo}/a:pull", f"repository:{repo}/b:pull,push"],
    ]


def test_a_token_without_push_is_refreshed_once_then_reported(token_registry, repo, tmp_path, auth_env):
    token_registry.docker_config(tmp_path / "cfg")
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    server = token_registry.token_server
    server.deny = lambda account, scope: scope == f"repository:{repo}:push"
    try:
        write_image(tmp_path / "layout", label="denied")
        before = server.count
        with pytest.raises(AuthenticationError) as info:
            push_layout(str(tmp_path / "layout"), [f"{token_registry.host}/{repo}:x"])
    finally:
        server.deny = lambda account, scope: False
    assert "the token does not grant the access needed" in str(info.value)
    assert server.count - before == 2  # the first token, and one refresh after the 401


def test_a_mount_source_we_may_not_read_falls_back_to_uploads(token_registry, repo, tmp_path, auth_env):
    token_registry.docker_config(tmp_path / "cfg")
    auth_env.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    host, server = token_registry.host, token_registry.token_server
    write_image(tmp_path / "base", label="base")
    push_layout(str(tmp_path / "base"), [f"{host}/{repo}/base:1"])
    app = write_image(tmp_path / "app", label="app")
    server.deny = lambda account, scope: scope == f"repository:{repo}/base:pull"
    try:
        summary = push_layout(str(tmp_path / "app"), [f"{host}/{repo}/app:1"], mounts_from=[f"{host}/{repo}/base"])
    finally:
        server.deny = lambda account, scope: False
    assert (summary.stats.blobs_mounted, summary.stats.blobs_uploaded) == (0, len(app.blobs))
