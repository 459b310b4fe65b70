"""The ``sns`` notifier: publish the redacted run report to an Amazon SNS topic.

SNS fans out to e-mail, SMS, SQS and Lambda, which is how most AWS shops route alerts.
The message is the JSON report; ``Subject`` (used by e-mail subscriptions) is the summary
line; ``mirror`` and ``status`` go in message attributes so subscriptions can filter on them
(for example: only ``status`` = ``failed`` to the pager). Region, endpoint and credentials
come from the standard AWS configuration (``AWS_REGION``, ``AWS_ENDPOINT_URL_SNS``,
profiles, instance roles), or the region named in the topic ARN.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from mirrorkit.api import NotifyContext, NotifyError

__all__ = ["SnsNotifier", "SnsOptions"]

_ARN = r"^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"


class SnsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic_arn: str = Field(pattern=_ARN, description="The topic to publish to.")
    region: str | None = Field(
        None, description="AWS region of the topic. [default: the one in topic_arn]"
    )


def _subject(summary: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    text = re.sub(r"[^\x20-\x7e]", "?", summary)
    return text if len(text) <= 100 else text[:97] + "..."


class SnsNotifier:
    """Publish the run report to an SNS topic (e-mail, SMS, SQS, Lambda subscribers)."""

    name: ClassVar[str] = "sns"
    summary: ClassVar[str] = "Publish the run report to an Amazon SNS topic"
    Options: ClassVar[type[BaseModel]] = SnsOptions

    async def notify(self, options: SnsOptions, ctx: NotifyContext) -> str:
        return await anyio.to_thread.run_sync(self._publish, options, ctx)

    def _publish(self, options: SnsOptions, ctx: NotifyContext) -> str:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        region = options.region or options.topic_arn.split(":")[3]
        args = {"TopicArn": options.topic_arn, "Message": json.dumps(ctx.payload),
                "Subject": _subject(ctx.summary),
                "MessageAttributes": {
                    "mirror": {"DataType": "String", "StringValue": ctx.mirror},
                    "status": {"DataType": "String", "StringValue": ctx.status},
                }}
        if options.topic_arn.endswith(".fifo"):
            args["MessageGroupId"] = ctx.mirror
        try:
            client = boto3.session.Session().client("sns", region_name=region)
            resp = client.publish(**args)
        except (BotoCoreError, ClientError) as exc:
            raise NotifyError(f"sns {options.topic_arn}: {exc}") from None
        return f"published to {options.topic_arn} (message {resp.get('MessageId', '?')})"
