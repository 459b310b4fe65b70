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
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

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


@runtime_checkable
class NotifierPlugin(Protocol):
    """What ``notifiers.add(...)`` accepts (a class; instantiated per notification)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    async def notify(self, options: Any, ctx: NotifyContext) -> str:
        """Send one notification; return a one-line summary or raise NotifyError."""
        ...


def should_send(when: NotifyWhen, status: str) -> bool:
    """``failure`` covers every status but ``ok`` (a partial run is a failure to hear about)."""
    if when == "always":
        return True
    if when == "success":
        return status == "ok"
    return status != "ok"
