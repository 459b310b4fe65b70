"""The boto3 S3 client, configured only from the standard AWS configuration.

No endpoint or credential options of our own: boto3 already reads ``AWS_ENDPOINT_URL_S3``
(and ``AWS_ENDPOINT_URL``), ``AWS_REGION``, profiles, SSO, instance and pod roles, and an
operator who knows the AWS CLI knows how to point us at MinIO or Ceph. Errors are turned
into one line that names the bucket and what failed, never a traceback.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["S3Error", "describe", "is_not_found", "make_client"]


class S3Error(Exception):
    """An S3 request failed; one line for the operator."""


def make_client(concurrency: int) -> Any:
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


def is_not_found(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def describe(exc: BaseException) -> str:
    """One line for an S3 failure (the service's code and message, without a traceback)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code}: {err.get('Message') or exc}"
    return f"{type(exc).__name__}: {exc}"
