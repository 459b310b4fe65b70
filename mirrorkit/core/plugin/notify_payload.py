"""The notification body: the run report, redacted, bounded in size, plus one summary line.

Size is bounded because transports are: SNS refuses messages over 256 KiB and chat webhooks
truncate far earlier. A run that failed 80,000 downloads is reported with its first errors
and a count of the rest, which is what a person reading an alert can use anyway.
"""

from __future__ import annotations

import json
from typing import Any

from ..redact import Redactor
from ..run.report import RunReport

__all__ = ["MAX_ERRORS", "MAX_PAYLOAD_BYTES", "build_payload", "summary_line"]

MAX_ERRORS = 50
MAX_PAYLOAD_BYTES = 200_000


def summary_line(report: RunReport) -> str:
    """One human line: what an alert subject or a chat message shows."""
    line = (f"{report.mirror}: {report.status}: {report.files} files, "
            f"{report.downloaded} downloaded ({report.bytes_downloaded / 1e6:.1f} MB), "
            f"{report.failed} failed, {report.removed} removed in {report.duration_s:.0f}s")
    if report.errors:
        first = report.errors[0]
        line += f"; first error: {first.path}: {first.error}"
    return line


def build_payload(report: RunReport, redactor: Redactor) -> tuple[str, dict[str, Any]]:
    """The redacted ``(summary, payload)`` every notifier sends."""
    data: dict[str, Any] = report.model_dump(mode="json", exclude={"changes"})
    errors = data.get("errors") or []
    keep = min(len(errors), MAX_ERRORS)
    while True:
        body = {**data, "errors": errors[:keep]}
        if len(errors) > keep:
            body["errors_omitted"] = len(errors) - keep
        payload = {"event": "mirrorkit.run_finished", "mirror": report.mirror,
                   "status": report.status, "report": body}
        summary = redactor.text(summary_line(report))
        payload = {"summary": summary, **redactor.data(payload)}
        if keep == 0 or len(json.dumps(payload)) <= MAX_PAYLOAD_BYTES:
            return summary[:1000], payload
        keep //= 2
