"""How a mirror is published to S3: the ``s3`` sink's options, the same keys in
``[[mirrors.sinks]]`` and as ``mirrorkit publish`` flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...config.sizes import Size
from .target import S3Target

if TYPE_CHECKING:
    from .upload import UploadSettings

__all__ = ["MIB", "S3PublishOptions"]

MIB = 1024 * 1024


class S3PublishOptions(BaseModel):
    """Where and how to publish; endpoint, region and credentials come from AWS config."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="s3://bucket/prefix to publish to.",
                        json_schema_extra={"cli": False})
    concurrency: int = Field(16, ge=1, le=256, description="Uploads in flight at once.")
    part_size: Size = Field(
        64 * MIB, ge=5 * MIB, le=5 * 1024 * MIB,
        description="Files larger than this go up in multipart uploads of this size "
        "(e.g. 64MiB, 1GiB). [default: 64MiB]",
    )
    force: bool = Field(
        False, description="Upload every file again, ignoring what was published before."
    )
    lock_lease: float = Field(
        300.0, ge=1, le=86400, description="Seconds the target's lock is held without "
        "renewing it (renewed every third of that); a killed publish's lock is taken over "
        "once this has passed.")
    index_cache_control: str | None = Field(
        "no-cache", json_schema_extra={"cli": False},
        description="Cache-Control of index files, so caches revalidate them (None: unset).",
    )
    content_types: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"cli": False},
        description='Content-Type per file-name suffix, over the defaults ({".bottle" = "..."}).',
    )

    @field_validator("target")
    @classmethod
    def _valid_target(cls, value: str) -> str:
        S3Target.parse(value)
        return value

    @property
    def s3_target(self) -> S3Target:
        return S3Target.parse(self.target)

    def upload_settings(self) -> UploadSettings:
        from .upload import UploadSettings  # boto3: only when uploading

        return UploadSettings(concurrency=self.concurrency, part_size=self.part_size,
                              content_types=self.content_types,
                              index_cache_control=self.index_cache_control, rehash=True)
