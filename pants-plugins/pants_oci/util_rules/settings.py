"""What a build reads from `[oci]`, validated once: compression and the reproducible time that
every layer and config shares, the registries (where an image is pushed decides `auto`
compression), the shard size, and the variables the workers that pull bases get."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.option.errors import OptionsError

from ocikit.image import epoch_to_rfc3339
from ocikit.reference import is_loopback
from pants_oci.registries import OciRegistries
from pants_oci.subsystem import Compression, OciSubsystem


@dataclass(frozen=True)
class LayerCompression:
    """How one image's layers are compressed: never `auto`, which is decided per image."""

    compression: Compression
    level: int | None


@dataclass(frozen=True)
class OciBuildSettings:
    compression: Compression
    level: int | None
    epoch: int
    registries: OciRegistries = OciRegistries(())
    shard_size: int = 0  # bytes; 0 for `off`
    env_vars: tuple[str, ...] = ()  # `[oci].env_vars`, for the processes that talk to registries

    @property
    def created(self) -> str:
        return epoch_to_rfc3339(self.epoch)

    def layer_compression(self, destinations: Sequence[str] = ()) -> LayerCompression:
        """The compression of an image's layers given the registries it will be pushed to
        (what `auto` reads): none when every one is a loopback registry, else gzip."""
        if self.compression is not Compression.auto:
            return LayerCompression(self.compression, self.level)
        if destinations and all(is_loopback(address) for address in destinations):
            return LayerCompression(Compression.none, None)
        return LayerCompression(Compression.gzip, self.level)


@rule(desc="Read the [oci] build settings")
async def oci_build_settings(oci: OciSubsystem) -> OciBuildSettings:
    level = oci.level_for(oci.compression)
    levels = oci.compression.level_range
    if levels is not None and level is not None and not levels[0] <= level <= levels[1]:
        raise OptionsError(
            f"[oci].compression_level = {level} is out of range for {oci.compression.value}"
            f"{' (a gzip level)' if oci.compression is Compression.auto else ''}: "
            f"expected {levels[0]}-{levels[1]}."
        )
    epoch = oci.source_date_epoch
    source = "[oci].source_date_epoch = "
    if epoch is None:
        env = await Get(EnvironmentVars, EnvironmentVarsRequest(["SOURCE_DATE_EPOCH"]))
        raw = env.get("SOURCE_DATE_EPOCH")
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                raise OptionsError(
                    f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since the "
                    "Unix epoch (e.g. SOURCE_DATE_EPOCH=1700000000)."
                )
            epoch, source = int(raw), "SOURCE_DATE_EPOCH="
    epoch = epoch or 0
    if not 0 <= epoch < 8**11:
        raise OptionsError(f"{source}{epoch} is out of range: expected 0 to {8**11 - 1}.")
    return OciBuildSettings(oci.compression, level, epoch, oci.registries(), oci.shard_size(), oci.checked_env_vars())


def rules():
    return collect_rules()
