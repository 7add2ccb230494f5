"""TLS against a real registry serving HTTPS with a self-signed certificate."""

from __future__ import annotations

import pytest

from ocikit.registry.errors import RegistryConnectionError
from ocikit.registry.transport import RetryPolicy, Transport

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02)


def test_tls_is_verified_by_default_even_on_loopback(new_registry, tmp_path, monkeypatch):
    registry = new_registry("none", tls=True)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(RegistryConnectionError) as info:
        Transport(registry.host, retry=FAST).request("GET", "/v2/_catalog")
    assert f"TLS with {registry.host} failed on GET https://{registry.host}/v2/" in str(info.value)
    assert "REQUESTS_CA_BUNDLE" in str(info.value) and "insecure" in str(info.value)
    assert Transport(registry.host, insecure=True, retry=FAST).base_url == f"https://{registry.host}"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(registry.tls_cert))
    trusted = Transport(registry.host, retry=FAST)
    assert trusted.request("GET", "/v2/_catalog").json() == {"repositories": []}
    assert trusted.base_url == f"https://{registry.host}"
