"""The ``s3`` sink: publish the committed snapshot after a successful run."""

from __future__ import annotations

from typing import ClassVar

import anyio.to_thread
from pydantic import BaseModel

from mirrorkit.api import S3PublishOptions, SinkContext, SinkError

__all__ = ["S3Sink"]


class S3Sink:
    """Publish the mirror to s3://bucket/prefix: changed files only, blobs before indexes."""

    name: ClassVar[str] = "s3"
    summary: ClassVar[str] = "Publish the mirror tree to S3 or S3-compatible storage"
    Options: ClassVar[type[BaseModel]] = S3PublishOptions

    async def publish(self, options: S3PublishOptions, ctx: SinkContext) -> str:
        # imported here: boto3 costs every other command ~80 ms of start-up
        from mirrorkit.api import PublishError, publish_mirror

        try:
            result = await anyio.to_thread.run_sync(publish_mirror, ctx.dest, options, ctx.log)
        except PublishError as exc:
            raise SinkError(str(exc)) from None
        return result.summary()
