"""The order in which a push uploads a layout's blobs (no registry: the plan only)."""

from __future__ import annotations

from registry_images import write_image

from ocikit.layout import read_layout_image
from ocikit.registry.push import _upload_batches

MiB = 1 << 20


def test_upload_order_largest_first_configs_alongside_layers(tmp_path):
    """Several jobs: one batch, largest first, so the longest upload starts at once and the
    config does not wait for every layer; one job: layers, then configs. Each digest once."""
    image = write_image(
        tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), extra_layer_size=MiB, seed=7, runnable=False
    )
    layout = read_layout_image(str(tmp_path / "layout"))
    (batch,) = _upload_batches(layout, 4)
    assert [b.size for b in batch] == sorted((b.size for b in batch), reverse=True)
    assert sorted(b.digest for b in batch) == sorted(image.blobs)
    layers, configs = _upload_batches(layout, 1)
    assert [b.digest for b in layers] == [b.digest for b in layout.layers]
    assert [b.digest for b in configs] == [b.digest for b in layout.configs]
