"""Send a mirror's configured notifications when its run has ended.

Called by the run pipeline after the sinks and before ``mirrorkit_run_finished``. A
notifier that fails is reported on stderr and in the logs but never changes the run's status
or exit code: the run's outcome is what it is, and the metrics file still records it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
from pydantic import ValidationError

from ..redact import Redactor
from ..run.report import RunReport
from .notifier import NotifyContext, should_send
from .notify_payload import build_payload

if TYPE_CHECKING:
    from ..config.model import MirrorConfig
    from .host import PluginHost

__all__ = ["send_notifications"]

log = logging.getLogger("mirrorkit.notify")

DEADLINE_S = 120.0  # one notifier may not hold up the weekly job for longer than this


async def send_notifications(host: PluginHost, mirror: MirrorConfig,
                             report: RunReport) -> list[str]:
    """Send every notification whose ``on`` matches; returns one line per notifier used."""
    wanted = [(i, n) for i, n in enumerate(mirror.notify) if should_send(n.on, report.status)]
    if not wanted:
        return []
    redactor = Redactor()
    summary, payload = build_payload(report, redactor)
    lines: list[str] = []
    for i, note in wanted:
        key = f"{i}:{note.type}"
        try:
            reg = host.notifiers.get(note.type)
            opts = reg.cls.Options.model_validate(note.options())
            ctx = NotifyContext(mirror=report.mirror, status=report.status, summary=summary,
                                payload=payload,
                                log=logging.getLogger(f"mirrorkit.notify.{note.type}"))
            with anyio.fail_after(DEADLINE_S):
                result = await reg.cls().notify(opts, ctx)
            lines.append(f"notify {key}: ok: {result}")
        except TimeoutError:
            lines.append(f"notify {key}: failed: no answer within {DEADLINE_S:.0f}s")
        except ValidationError as exc:
            lines.append(f"notify {key}: failed: {str(exc).splitlines()[0]}")
        except Exception as exc:  # a broken notifier must not hide the run's own outcome
            lines.append(f"notify {key}: failed: {exc}")
    lines = [redactor.text(line) for line in lines]
    for line in lines:
        (log.warning if ": failed: " in line else log.info)("%s: %s", mirror.name, line)
    return lines
