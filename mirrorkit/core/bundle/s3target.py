"""Bundles on S3: each part one object, uploaded as a multipart upload with SHA-256 checksums.

Resuming: after each part completes, ``<bundle>.partial.json`` records its size and sha256
(S3 cannot store a whole-object sha256 of a multipart upload, and the metadata of an upload
is fixed before its bytes are known). A re-run regenerates the same deterministic tar
stream; a part whose object is present with the recorded size is only hashed locally and,
if the hash matches, not uploaded again. The TOC is written last and the journal removed.

Memory: one upload chunk (8 MiB, or part_size/10000 for huge parts) is buffered at a time.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from ..store.s3.client import (
    MIN_CHUNK,
    S3Error,
    StreamingUpload,
    b64_sha256,
    chunk_size_for,
    describe,
    is_not_found,
    make_client,
)
from .errors import TargetError
from .parts import PartOutput
from .toc import TOC_SUFFIX, bundle_of

__all__ = ["PartDiverged", "S3Target"]

log = logging.getLogger("mirrorkit.bundle.s3")

MAX_PART_SIZE = 1024**4  # 1 TiB: keeps one upload chunk near 100 MiB
JOURNAL_SUFFIX = ".partial.json"


class PartDiverged(Exception):
    """A part already uploaded does not match the bytes this export produced."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: the uploaded part differs from this export's bytes")
        self.name = name


class S3Target:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        try:
            self.client: Any = make_client()
        except S3Error as exc:
            raise TargetError(str(exc)) from None
        self.part_size = 0
        self._journal: dict[str, dict[str, Any]] = {}
        self._journal_name = ""
        self._journal_lock = threading.Lock()  # parts are committed from several threads

    @classmethod
    def from_url(cls, url: str) -> S3Target:
        rest = url[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise TargetError(f"{url}: no bucket (use s3://bucket/prefix)")
        return cls(bucket, prefix)

    # ------------------------------------------------------------------ helpers
    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(name)}" if name else self.describe()

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _error(self, what: str, name: str, exc: Exception) -> TargetError:
        return TargetError(f"{self.url(name)}: {what} failed ({describe(exc)})")

    @staticmethod
    def _missing(exc: ClientError) -> bool:
        return is_not_found(exc)

    # ------------------------------------------------------------- Target API
    def names(self) -> list[str]:
        prefix = self.key("") if self.prefix else ""
        out: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            for page in pages:
                out.extend(obj["Key"][len(prefix):] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("listing", "", exc) from None
        return sorted(out)

    def size_of(self, name: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise self._error("HEAD", name, exc) from None
        except BotoCoreError as exc:
            raise self._error("HEAD", name, exc) from None
        return int(head["ContentLength"])

    def read_bytes(self, name: str) -> bytes | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
            return cast(bytes, body.read())
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise self._error("GET", name, exc) from None
        except BotoCoreError as exc:
            raise self._error("GET", name, exc) from None

    def write_bytes(self, name: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data,
                                   ChecksumSHA256=b64_sha256(data))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("PUT", name, exc) from None

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("DELETE", name, exc) from None

    def open_read(self, name: str) -> BinaryIO:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if self._missing(exc):
                raise TargetError(f"{self.url(name)}: missing") from None
            raise self._error("GET", name, exc) from None
        except BotoCoreError as exc:
            raise self._error("GET", name, exc) from None
        return cast(BinaryIO, obj["Body"])

    def begin_bundle(self, name: str, part_size: int) -> None:
        """Load the resume journal and drop multipart uploads a killed export left open."""
        if part_size > MAX_PART_SIZE:
            raise TargetError(f"{self.describe()}: part size above 1 TiB is not supported on S3")
        self.part_size = part_size
        self._drop_other_layout(name, part_size)
        self._journal_name = name + JOURNAL_SUFFIX
        raw = self.read_bytes(self._journal_name)
        self._journal = {}
        if raw:
            try:
                data = json.loads(raw)
                self._journal = {k: v for k, v in data["parts"].items()
                                 if isinstance(v, dict)}
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s: unreadable resume journal, starting over",
                            self.url(self._journal_name))
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.key(name + "."))
            for page in pages:
                for up in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
        except (ClientError, BotoCoreError) as exc:
            raise self._error("listing multipart uploads", name, exc) from None

    def _drop_other_layout(self, name: str, part_size: int) -> None:
        """An earlier TOC of this bundle cut with another part size names parts about to be
        overwritten: it goes first, so a killed export leaves no TOC beside parts it does
        not describe (S3 cannot rename, so the bundle is absent until the new TOC)."""
        raw = self.read_bytes(name + ".toc.json")
        if raw is None:
            return
        try:
            old_size = json.loads(raw).get("part_size")
        except (ValueError, AttributeError):
            old_size = None
        if old_size != part_size:
            self.delete(name + ".toc.json")

    def open_part(self, name: str) -> PartOutput:
        done = self._journal.get(name)
        if done is not None and self.size_of(name) == done.get("size"):
            return _AlreadyUploaded(self, name, done)
        return _MultipartPart(self, name, chunk_size_for(self.part_size or MIN_CHUNK))

    def record_part(self, name: str, size: int, sha256: str) -> None:
        with self._journal_lock:
            self._journal[name] = {"size": size, "sha256": sha256}
            self.write_bytes(self._journal_name,
                             json.dumps({"parts": self._journal}, indent=1).encode())

    def forget_journal(self) -> None:
        self._journal = {}
        if self._journal_name:
            self.delete(self._journal_name)

    def publish_bundle(self, name: str, parts: list[str], toc: bytes) -> None:
        """Each part became visible when its upload completed: parts an earlier export
        with another part size left go, then the TOC (S3 has no rename to swap them)."""
        listed = set(parts)
        for stale in self.names():
            if stale not in listed and bundle_of(stale) == name and not stale.endswith(
                    TOC_SUFFIX):
                self.delete(stale)
        self.write_bytes(name + TOC_SUFFIX, toc)

    def end_bundle(self, name: str) -> None:
        self.forget_journal()

    def abort_bundle(self, name: str) -> None:
        """The journal stays, so that the next export skips the parts already uploaded."""


class _AlreadyUploaded:
    """Hash this part's bytes locally and compare with what the interrupted export uploaded."""

    def __init__(self, target: S3Target, name: str, done: dict[str, Any]) -> None:
        self.target = target
        self.name = name
        self.done = done

    def write(self, data: memoryview) -> None:
        pass  # the PartWriter hashes; nothing to send

    def commit(self, size: int, sha256: str) -> None:
        if size != self.done.get("size") or sha256 != self.done.get("sha256"):
            raise PartDiverged(self.name)
        log.info("%s: already uploaded whole, skipped", self.target.url(self.name))

    def abort(self) -> None:
        pass


class _MultipartPart:
    """A part streamed into its object; recorded in the journal once stored."""

    def __init__(self, target: S3Target, name: str, chunk_size: int) -> None:
        self.target = target
        self.name = name
        self.upload = StreamingUpload(target.client, target.bucket, target.key(name),
                                      chunk_size)

    def write(self, data: memoryview) -> None:
        try:
            self.upload.write(data)
        except S3Error as exc:
            raise TargetError(str(exc)) from None

    def commit(self, size: int, sha256: str) -> None:
        try:
            self.upload.complete({"sha256": sha256})
        except S3Error as exc:
            raise TargetError(str(exc)) from None
        self.target.record_part(self.name, size, sha256)

    def abort(self) -> None:
        if not self.upload.abort():
            log.warning("%s: could not abort the multipart upload", self.upload.key)
