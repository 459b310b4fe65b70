"""The ``webhook`` notifier: POST the redacted run report as JSON to a URL.

The body is ``{"text": <summary>, "summary": ..., "event": ..., "mirror": ..., "status": ...,
"report": {...}}``; the ``text`` key makes it readable as-is by Slack- and Mattermost-style
incoming webhooks, the rest is for programs. It is sent with ``ctx.post``, which retries
transient failures (connection errors, 429, 5xx) a few times with backoff, because an alert
lost to one hiccup of the receiving side is the alert that mattered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from mirrorkit.api import NotifyContext, NotifyError

__all__ = ["WebhookNotifier", "WebhookOptions"]


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Where to POST the JSON report.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='Extra request headers, e.g. {Authorization = "Bearer ${HOOK_TOKEN}"}.',
    )
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds per attempt.")
    retries: int = Field(3, ge=0, le=20, description="Retries after the first attempt.")
    ca_bundle: Path | None = Field(None, description="PEM file of CA certificates to trust.")


class WebhookNotifier:
    """POST the run report as JSON to a URL (chat webhooks, alert gateways, your own)."""

    name: ClassVar[str] = "webhook"
    summary: ClassVar[str] = "POST the run report as JSON to a URL"
    Options: ClassVar[type[BaseModel]] = WebhookOptions

    async def notify(self, options: WebhookOptions, ctx: NotifyContext) -> str:
        where = f"{options.url.scheme}://{options.url.host}"  # never echo paths: they hold tokens
        body = json.dumps({"text": ctx.summary, **ctx.payload}).encode()
        headers = {"Content-Type": "application/json", **options.headers}
        try:
            resp = await ctx.post(str(options.url), body, headers=headers,
                                  timeout=options.timeout, retries=options.retries,
                                  ca_bundle=options.ca_bundle)
        except NotifyError as exc:  # it names the scheme and host only
            raise NotifyError(f"webhook {exc}") from None
        return f"posted to {where} (HTTP {resp.status_code})"
