"""Registers the built-in notifiers (entry point ``notify`` of the ``mirrorkit`` group).

They go through the same hook as a third-party notifier would, so the core has no special
case for them.
"""

from __future__ import annotations

from mirrorkit.api import NotifierCollection, hookimpl

from .sns import SnsNotifier
from .webhook import WebhookNotifier


@hookimpl
def mirrorkit_add_notifiers(notifiers: NotifierCollection) -> None:
    notifiers.add(WebhookNotifier)
    notifiers.add(SnsNotifier)
