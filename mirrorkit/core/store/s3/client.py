"""The one S3 client of mirrorkit: boto3, configured only from the standard AWS configuration.

Every S3 user (the ``s3://`` dest of a run, ``mirrorkit publish`` and the s3 sink, bundles
on S3, ``verify s3://``) gets its client, its one-line errors and its multipart writing
from here. No endpoint or credential options of our own: boto3 already reads
``AWS_ENDPOINT_URL_S3`` (and ``AWS_ENDPOINT_URL``), ``AWS_REGION``, profiles, SSO, instance
and pod roles, and an operator who knows the AWS CLI knows how to point us at MinIO or Ceph.

Files already on disk go up through s3transfer (:mod:`.upload`), which splits and
parallelises them. :class:`StreamingUpload` is for bytes produced on the fly (a bundle
part cut from a tar stream, whose size is unknown until it ends): s3transfer wants a file
it can read, so this one buffers one chunk at a time and sends it as a multipart part with
its own SHA-256 checksum.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "MIN_CHUNK",
    "S3Error",
    "StreamingUpload",
    "b64_sha256",
    "chunk_size_for",
    "describe",
    "is_not_found",
    "is_precondition_failed",
    "make_client",
]

MIN_CHUNK = 8 * 1024 * 1024
MAX_S3_PARTS = 10_000


class S3Error(Exception):
    """An S3 request failed; one line for the operator."""


def make_client(concurrency: int = 10) -> Any:
    import boto3

    config = Config(
        max_pool_connections=max(10, concurrency * 2),
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=20,
        read_timeout=120,
    )
    try:
        return boto3.session.Session().client("s3", config=config)
    except BotoCoreError as exc:
        raise S3Error(f"cannot set up the S3 client: {exc}") from None


def _code(exc: BaseException) -> str:
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: BaseException) -> bool:
    return _code(exc) in ("404", "NoSuchKey", "NotFound")


def is_precondition_failed(exc: BaseException) -> bool:
    return _code(exc) in ("412", "PreconditionFailed", "ConditionalRequestConflict")


def describe(exc: BaseException) -> str:
    """One line for an S3 failure (the service's code and message, without a traceback)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code}: {err.get('Message') or exc}"
    return f"{type(exc).__name__}: {exc}"


def b64_sha256(data: bytes | memoryview) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def chunk_size_for(total_size: int) -> int:
    """A chunk size that keeps an object of ``total_size`` within S3's 10,000 parts."""
    per = math.ceil(total_size / MAX_S3_PARTS)
    mib = 1024 * 1024
    return max(MIN_CHUNK, math.ceil(per / mib) * mib)


class StreamingUpload:
    """One object written by ``write()`` calls: a single PUT if small, else multipart.

    Memory: one chunk is buffered at a time. ``complete`` stores the object (with
    ``metadata``); ``abort`` drops a started multipart upload. Errors are :class:`S3Error`
    lines naming the object.
    """

    def __init__(self, client: Any, bucket: str, key: str, chunk_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.chunk_size = chunk_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.done: list[dict[str, Any]] = []

    def _error(self, exc: Exception) -> S3Error:
        return S3Error(f"s3://{self.bucket}/{self.key}: upload failed ({describe(exc)})")

    def write(self, data: memoryview | bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.chunk_size:
            chunk = bytes(memoryview(self.buffer)[:self.chunk_size])
            del self.buffer[:self.chunk_size]
            self._upload(chunk)

    def _upload(self, chunk: bytes) -> None:
        try:
            if self.upload_id is None:
                self.upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256",
                )["UploadId"]
            number = len(self.done) + 1
            checksum = b64_sha256(chunk)
            resp = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                PartNumber=number, Body=chunk, ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from None
        self.done.append({"PartNumber": number, "ETag": resp["ETag"],
                          "ChecksumSHA256": resp.get("ChecksumSHA256", checksum)})

    def complete(self, metadata: dict[str, str]) -> None:
        try:
            if self.upload_id is None:  # small: one PUT
                body = bytes(self.buffer)
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body,
                                       ChecksumSHA256=b64_sha256(body), Metadata=metadata)
            else:
                if self.buffer:
                    chunk = bytes(self.buffer)
                    self.buffer.clear()
                    self._upload(chunk)
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.done},
                )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from None
        self.buffer = bytearray()

    def abort(self) -> bool:
        """Drop what was sent; False when a started multipart upload could not be aborted."""
        self.buffer = bytearray()
        if self.upload_id is None:
            return True
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                               UploadId=self.upload_id)
        except (ClientError, BotoCoreError):
            return False
        return True
