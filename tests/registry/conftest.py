"""Fixtures for registry tests: real Distribution registries (no auth, Basic, Bearer tokens).

`registry` runs a test once per auth mode against session-wide registries (tests use their own
repository names, from `repo`); `plain_registry` is the no-auth one; `new_registry(mode)` starts
a private one for tests that need a clean log or a special setup. `docker_config` points
DOCKER_CONFIG at a config.json holding the registry's credentials.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from real_parts import require
from registry_fixtures import MODES, Registry, launch_registry, unique_repository


@pytest.fixture(scope="session")
def registry_pool(tmp_path_factory):
    require("docker-registry")
    pool: dict = {}

    def get(mode: str) -> Registry:
        if mode not in pool:
            pool[mode] = launch_registry(tmp_path_factory.mktemp(f"registry-{mode}"), mode)
        return pool[mode]

    yield get
    for registry in pool.values():
        registry.stop()


@pytest.fixture(params=MODES)
def registry(request, registry_pool) -> Registry:
    return registry_pool(request.param)


@pytest.fixture
def plain_registry(registry_pool) -> Registry:
    return registry_pool("none")


@pytest.fixture
def token_registry(registry_pool) -> Registry:
    return registry_pool("token")


@pytest.fixture
def basic_registry(registry_pool) -> Registry:
    return registry_pool("basic")


@pytest.fixture
def new_registry(tmp_path_factory):
    require("docker-registry")
    started = []

    def start(mode: str = "none", *, tls: bool = False) -> Registry:
        registry = launch_registry(tmp_path_factory.mktemp(f"private-registry-{mode}"), mode, tls=tls)
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture
def repo(request) -> str:
    """A repository name of this test's own."""
    return unique_repository(request.node.name, "test", 60)


@pytest.fixture
def auth_env(tmp_path, monkeypatch):
    """An empty credential world: no user docker/podman config is read."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config-empty"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return monkeypatch


@pytest.fixture
def docker_config(registry, tmp_path, auth_env) -> Path:
    """DOCKER_CONFIG holding the `registry` fixture's credentials (none for no-auth)."""
    directory = registry.docker_config(tmp_path / "docker-config")
    auth_env.setenv("DOCKER_CONFIG", str(directory))
    return directory


@pytest.fixture(scope="session")
def need_skopeo():
    require("skopeo")
