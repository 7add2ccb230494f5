"""Fixtures for fault-injection tests: session-wide real registries (no auth, token auth),
a proxy factory, an empty credential world, per-test repository names."""

from __future__ import annotations

import pytest
from fault_proxy import FaultProxy
from real_parts import require
from registry_fixtures import launch_registry, unique_repository


@pytest.fixture(scope="session")
def _fault_registries(tmp_path_factory):
    require("docker-registry", "skopeo")
    pool: dict = {}

    def get(mode: str):
        if mode not in pool:
            pool[mode] = launch_registry(tmp_path_factory.mktemp(f"faults-registry-{mode}"), mode)
        return pool[mode]

    yield get
    for registry in pool.values():
        registry.stop()


@pytest.fixture
def plain_registry(_fault_registries):
    return _fault_registries("none")


@pytest.fixture
def token_registry(_fault_registries):
    return _fault_registries("token")


@pytest.fixture
def proxy_for():
    """`proxy_for(registry, decide)` starts a FaultProxy; all are stopped after the test."""
    started = []

    def start(registry, decide=None) -> FaultProxy:
        proxy = FaultProxy(registry.host, decide)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def repo(request) -> str:
    return unique_repository(request.node.name, "faults", 50)


@pytest.fixture(autouse=True)
def auth_env(tmp_path, monkeypatch):
    """An empty credential world: no user docker/podman config is read."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config-empty"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return monkeypatch
