"""Concurrent, verified uploads of mirror files through one s3transfer manager.

Every file is re-hashed before it is handed to the uploader and must match the manifest:
the promise is that nothing unverified is ever published, and a mirror disk can rot between
the run and the publish. Hashing runs on a thread pool (hashlib releases the GIL) while the
transfer manager uploads what already checked out; files above the part size go up as
multipart uploads, in parts uploaded concurrently.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager

from ...core.artifact import Kind
from ...core.fileops import hash_file
from ...core.manifest import FileEntry
from .client import S3Error, describe
from .content_type import content_type
from .options import S3Options
from .target import S3Target

__all__ = ["Uploader"]


class Uploader:
    def __init__(self, client: Any, target: S3Target, dest: Path, options: S3Options,
                 log: logging.Logger) -> None:
        self.client = client
        self.target = target
        self.root = str(dest)
        self.options = options
        self.log = log
        self.config = TransferConfig(
            multipart_threshold=options.part_size,
            multipart_chunksize=options.part_size,
            max_concurrency=options.concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        self.uploaded = 0
        self.bytes = 0

    def upload(self, paths: list[str], files: dict[str, FileEntry]) -> None:
        """Upload ``paths`` and return once every one is stored; S3Error if any failed."""
        if not paths:
            return
        failures: list[str] = []
        pending: dict[Any, str] = {}
        manager = create_transfer_manager(self.client, self.config)
        try:
            with ThreadPoolExecutor(max_workers=self.options.concurrency) as hashers:
                checks: dict[Future[str | None], str] = {
                    hashers.submit(self._check_local, p, files[p]): p for p in paths
                }
                for done in as_completed(checks):
                    path = checks[done]
                    problem = done.result()
                    if problem is not None:
                        failures.append(f"{path}: {problem}")
                        continue
                    future = manager.upload(os.path.join(self.root, path), self.target.bucket,
                                            self.target.key(path),
                                            extra_args=self._extra_args(path, files[path]))
                    pending[future] = path
            for future, path in pending.items():
                try:
                    future.result()
                except Exception as exc:
                    failures.append(f"{path}: upload failed: {describe(exc)}")
                else:
                    self.uploaded += 1
                    self.bytes += files[path].size
        finally:
            manager.shutdown()
        if failures:
            failures.sort()
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise S3Error(f"{self.target}: {len(failures)} of {len(paths)} uploads failed, "
                          f"nothing after them was published: {failures[0]}{more}")

    def _check_local(self, path: str, entry: FileEntry) -> str | None:
        full = os.path.join(self.root, path)
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
