"""Run notifications: built-in webhook and SNS notifiers, and the notifier plugin API.

Kept import-light on purpose: the core's plugin host imports :mod:`mirrorkit.notify.base`,
so this package must not import the public ``mirrorkit`` API at import time. The built-in
notifiers register from :mod:`mirrorkit.notify.builtin` (entry point ``notify``).
"""

from __future__ import annotations

from .base import NotifierPlugin, NotifyContext, NotifyError, NotifyWhen, should_send

__all__ = ["NotifierPlugin", "NotifyContext", "NotifyError", "NotifyWhen", "should_send"]
