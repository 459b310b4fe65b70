"""The S3 sink: serve a mirror straight from S3 or S3-compatible storage (MinIO, Ceph).

Registered through the ``mirrorkit`` entry-point group like any third-party plugin:

- sink ``s3`` (``[[mirrors.sinks]] type = "s3", target = "s3://bucket/prefix"``),
- command ``mirrorkit publish DEST s3://bucket/prefix``,
- ``mirrorkit verify s3://bucket/prefix [--quick]``.

See docs/s3.md for what it guarantees and docs/operations.md for running it weekly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mirrorkit.api import hookimpl

from .sink import S3Sink

if TYPE_CHECKING:
    import click

    from mirrorkit.api import SinkCollection, VerifyResult

__all__ = ["S3Sink"]


@hookimpl
def mirrorkit_add_sinks(sinks: SinkCollection) -> None:
    sinks.add(S3Sink)


@hookimpl
def mirrorkit_add_commands(cli: click.Group) -> None:
    from .command import publish_command

    cli.add_command(publish_command())


@hookimpl
def mirrorkit_verify_target(target: str, rehash: bool) -> VerifyResult | None:
    if not target.startswith("s3://"):
        return None
    from mirrorkit.api import verify_published  # boto3: only when verifying a bucket

    return verify_published(target, rehash=rehash)
