"""`[oci].registries` as the pull and lock commands receive it."""

from __future__ import annotations

from pants_oci.registries import OciRegistries


def test_the_insecure_registries_in_the_order_configured() -> None:
    registries = OciRegistries.from_dict(
        {
            "a": {"address": "a.example.com", "insecure": True},
            "b": {"address": "b.example.com"},
            "c": {"address": "127.0.0.1:5000", "insecure": True},
        }
    )
    assert registries.insecure_addresses == ("a.example.com", "127.0.0.1:5000")
    assert OciRegistries.from_dict({"b": {"address": "b.example.com"}}).insecure_addresses == ()
