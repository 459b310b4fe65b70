"""The notifier plugin API: telling someone how a run ended (webhook, SNS, ...).

A notifier type is a class registered with ``notifiers.add(cls)`` from the
``mirrorkit_add_notifiers`` hook, exactly like registries and sinks. It receives the run
report already stripped of secrets (see :mod:`mirrorkit.core.redact`), so a third-party
notifier cannot leak a token by forwarding what it was given.

It sits in the core beside the sink API because the core's plugin host types its notifier
collection with it; the built-in notifiers (``mirrorkit.notify``) are plugins like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel

if TYPE_CHECKING:
    from ..transport.response import Response

__all__ = ["NotifierPlugin", "NotifyContext", "NotifyError", "NotifyWhen", "should_send"]

NotifyWhen = Literal["failure", "success", "always"]


class NotifyError(Exception):
    """Sending failed; the message is one clear line for the operator."""


@dataclass(slots=True)
class NotifyContext:
    """What a notifier gets: the mirror's name, the run's status and the redacted report.

    ``payload`` is the JSON-ready redacted report; ``summary`` is one human line
    (``"homebrew: failed: 3 failed of 8600 files ..."``) for subjects and chat messages.
    """

    mirror: str
    status: str
    summary: str
    payload: dict[str, Any]
    log: logging.Logger

    async def post(self, url: str, body: bytes, *, headers: Mapping[str, str] | None = None,
                   timeout: float = 10.0, retries: int = 3,
                   ca_bundle: Path | None = None) -> Response:
        """POST ``body`` to ``url`` through mirrorkit's transport; the response (status < 300).

        Connection errors, timeouts, 429 and 5xx are retried ``retries`` times with backoff
        (0.5 s doubling up to 10 s; a ``Retry-After`` of up to 60 s is honoured), because the
        alert lost to one hiccup of the receiving side is the one that mattered. ``timeout``
        is per attempt (connect, and each read). Proxies come from the environment, as for a
        run; ``ca_bundle`` replaces the default CA store. Redirects are not followed: a
        receiver's URL is configured, not discovered. Anything else raises
        :class:`NotifyError` in one line that names the URL's scheme and host only, never
        its path or query, which often hold the receiver's token.
        """
        from ..transport.client import Transport  # aiohttp: only when a notifier posts
        from ..transport.errors import Permanent, Retryable
        from ..transport.settings import TransportSettings

        where = _origin(url)
        settings = TransportSettings(
            retries=retries, backoff_initial=0.5, backoff_max=10.0, max_retry_after=60.0,
            connect_timeout=timeout, read_timeout=timeout, ca_bundle=ca_bundle, min_rate=0)
        async with Transport(settings, concurrency=1, per_host=1) as transport:
            try:
                return await transport.request(url, method="POST", body=body,
                                               headers=headers, redirects=False)
            except Retryable as exc:
                raise NotifyError(f"{where}: {exc.reason} after {retries + 1} attempts"
                                  ) from None
            except Permanent as exc:
                raise NotifyError(f"{where}: {exc.reason}") from None


@runtime_checkable
class NotifierPlugin(Protocol):
    """What ``notifiers.add(...)`` accepts (a class; instantiated per notification)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    async def notify(self, options: Any, ctx: NotifyContext) -> str:
        """Send one notification; return a one-line summary or raise NotifyError."""
        ...


def _origin(url: str) -> str:
    """``scheme://host`` of ``url``, as errors may show it (no port, path or query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"


def should_send(when: NotifyWhen, status: str) -> bool:
    """``failure`` covers every status but ``ok`` (a partial run is a failure to hear about)."""
    if when == "always":
        return True
    if when == "success":
        return status == "ok"
    return status != "ok"
