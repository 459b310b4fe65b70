"""The ``webhook`` notifier: POST the redacted run report as JSON to a URL.

The body is ``{"text": <summary>, "summary": ..., "event": ..., "mirror": ..., "status": ...,
"report": {...}}``; the ``text`` key makes it readable as-is by Slack- and Mattermost-style
incoming webhooks, the rest is for programs. Transient failures (connection errors, 429,
5xx) are retried a few times with backoff, because an alert lost to one hiccup of the
receiving side is the alert that mattered.
"""

from __future__ import annotations

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


class _Retryable(Exception):
    pass


class WebhookNotifier:
    """POST the run report as JSON to a URL (chat webhooks, alert gateways, your own)."""

    name: ClassVar[str] = "webhook"
    summary: ClassVar[str] = "POST the run report as JSON to a URL"
    Options: ClassVar[type[BaseModel]] = WebhookOptions

    async def notify(self, options: WebhookOptions, ctx: NotifyContext) -> str:
        # imported here: every command loads this plugin, few runs send a notification
        import httpx
        import tenacity

        url = str(options.url)
        where = f"{options.url.scheme}://{options.url.host}"  # never echo paths: they hold tokens
        body = {"text": ctx.summary, **ctx.payload}
        verify: str | bool = str(options.ca_bundle) if options.ca_bundle else True
        async with httpx.AsyncClient(timeout=options.timeout, verify=verify,
                                     follow_redirects=False) as client:
            try:
                async for attempt in tenacity.AsyncRetrying(
                    stop=tenacity.stop_after_attempt(options.retries + 1),
                    wait=tenacity.wait_random_exponential(multiplier=0.5, max=10),
                    retry=tenacity.retry_if_exception_type((_Retryable, httpx.TransportError)),
                    reraise=True,
                ):
                    with attempt:
                        resp = await client.post(url, json=body, headers=options.headers)
                        if resp.status_code == 429 or resp.status_code >= 500:
                            raise _Retryable(f"HTTP {resp.status_code}")
            except _Retryable as exc:
                raise NotifyError(f"webhook {where}: {exc} after {options.retries + 1} "
                                  "attempts") from None
            except httpx.HTTPError as exc:
                raise NotifyError(f"webhook {where}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 300:
            raise NotifyError(f"webhook {where}: HTTP {resp.status_code}")
        return f"posted to {where} (HTTP {resp.status_code})"
