"""The ``bundle`` sink: export a bundle after every successful mirror run.

```toml
[[mirrors.sinks]]
type = "bundle"
to = "/srv/outgoing"        # or "s3://bucket/prefix"
part_size = "3.5GiB"
```
"""

from __future__ import annotations

from typing import ClassVar

import anyio
from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator

from mirrorkit.api import SinkContext, SinkError

__all__ = ["BundleSink", "BundleSinkOptions"]

#: fits a DVD (4.7 GB) or a FAT32 stick (4 GiB per file) with room to spare, as the
#: default of ``mirrorkit export --part-size`` does
DEFAULT_PART_SIZE = int(3.5 * 1024**3)


class BundleSinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="Directory or s3://bucket/prefix the bundles go to.")
    part_size: ByteSize = Field(ByteSize(DEFAULT_PART_SIZE),
                                description="Largest part, e.g. 4.7GB or 3.5GiB.")
    full: bool = Field(False, description="Always export everything, not only the changes.")
    zstd: bool = Field(False, description="Compress the tar stream with zstd.")

    @field_validator("part_size")
    @classmethod
    def _at_least_1k(cls, value: ByteSize) -> ByteSize:
        if value < 1024:
            raise ValueError("part size must be at least 1024 bytes")
        return value


class BundleSink:
    """Pack what changed since the last export into split-part bundles (directory or S3)."""

    name: ClassVar[str] = "bundle"
    summary: ClassVar[str] = (
        "Split-part bundles (full or delta) to a directory or S3, for the air gap")
    Options: ClassVar[type[BaseModel]] = BundleSinkOptions

    async def publish(self, options: BundleSinkOptions, ctx: SinkContext) -> str:
        # imported here: every mirrorkit command loads the plugins, few of them export
        from mirrorkit.api import BundleError, export_bundle

        try:
            result = await anyio.to_thread.run_sync(
                lambda: export_bundle(ctx.dest, options.to, part_size=int(options.part_size),
                                      full=options.full, zstd=options.zstd,
                                      mirror_name=ctx.mirror))
        except BundleError as exc:
            raise SinkError(str(exc)) from None
        return result.summary()
