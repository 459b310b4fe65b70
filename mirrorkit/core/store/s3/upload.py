"""Concurrent, verified uploads of local files through one s3transfer manager.

When publishing a mirror tree, every file is re-hashed before it is handed to the uploader
and must match the manifest: the promise is that nothing unverified is ever published, and
a mirror disk can rot between the run and the publish (a run into ``s3://`` uploads from
its staging directory files it verified seconds before, and skips this). Hashing runs on
a thread pool (hashlib releases the GIL) while the transfer manager uploads what already
checked out; files above the part size go up as multipart uploads, in parts uploaded
concurrently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager

from ...fileops import hash_file
from ...plan.artifact import Kind
from ..changeset import Put
from ..manifest import FileEntry
from .client import S3Error, describe
from .content_type import content_type
from .target import S3Target

__all__ = ["UploadSettings", "Uploader"]


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """How files go up: the s3 sink's options, or a run's defaults for an ``s3://`` dest."""

    concurrency: int = 16
    part_size: int = 64 * 1024 * 1024
    content_types: dict[str, str] = field(default_factory=dict)
    index_cache_control: str | None = "no-cache"
    rehash: bool = True  # check each local file against its entry before uploading it


class Uploader:
    """``check`` is called before each upload is started (the writer's lease, say): when it
    raises, nothing more is started, the uploads in flight are cancelled, and it propagates."""

    def __init__(self, client: Any, target: S3Target, settings: UploadSettings,
                 log: logging.Logger, *, check: Callable[[], None] | None = None) -> None:
        self.client = client
        self.check = check
        self.target = target
        self.options = settings
        self.log = log
        self.config = TransferConfig(
            multipart_threshold=settings.part_size,
            multipart_chunksize=settings.part_size,
            max_concurrency=settings.concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        self.uploaded = 0
        self.bytes = 0

    def upload(self, puts: list[Put]) -> None:
        """Upload ``puts`` and return once every one is stored; S3Error if any failed."""
        if not puts:
            return
        failures: list[str] = []
        pending: dict[Any, Put] = {}
        manager = create_transfer_manager(self.client, self.config)
        stopped = False
        try:
            with ThreadPoolExecutor(max_workers=self.options.concurrency) as hashers:
                checks: dict[Future[str | None], Put] = {
                    hashers.submit(self._check_local, p): p for p in puts
                }
                for done in as_completed(checks):
                    put = checks[done]
                    problem = done.result()
                    if problem is not None:
                        failures.append(f"{put.path}: {problem}")
                        continue
                    if self.check is not None:
                        try:
                            self.check()
                        except BaseException:
                            stopped = True
                            hashers.shutdown(cancel_futures=True)
                            raise
                    future = manager.upload(str(put.source), self.target.bucket,
                                            self.target.key(put.path),
                                            extra_args=self._extra_args(put.path, put.entry))
                    pending[future] = put
            for future, put in pending.items():
                try:
                    future.result()
                except Exception as exc:
                    failures.append(f"{put.path}: upload failed: {describe(exc)}")
                else:
                    self.uploaded += 1
                    self.bytes += put.entry.size
        finally:
            manager.shutdown(cancel=stopped)
        if failures:
            failures.sort()
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise S3Error(f"{self.target}: {len(failures)} of {len(puts)} uploads failed, "
                          f"nothing after them was published: {failures[0]}{more}")

    def _check_local(self, put: Put) -> str | None:
        if not self.options.rehash:
            return None
        full, entry = put.source, put.entry
        try:
            size = os.stat(full).st_size
        except OSError as exc:
            return f"cannot read the mirror's copy ({exc.strerror or exc})"
        if size != entry.size:
            return f"the mirror's copy has {size} bytes, the manifest says {entry.size}"
        if hash_file(full) != entry.sha256:
            return "the mirror's copy does not match its sha256 (run mirrorkit verify)"
        return None

    def _extra_args(self, path: str, entry: FileEntry) -> dict[str, Any]:
        args: dict[str, Any] = {
            "ContentType": content_type(path, self.options.content_types),
            "Metadata": {"sha256": entry.sha256},
        }
        if entry.kind is Kind.INDEX and self.options.index_cache_control:
            args["CacheControl"] = self.options.index_cache_control
        return args
