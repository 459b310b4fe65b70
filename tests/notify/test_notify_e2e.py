"""Run notifications end to end: a failed run reaches a webhook and an SNS topic's SQS queue."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import run_cli
from tests.support.s3 import MotoServer
from tests.support.static_list import publish
from tests.support.upstream import Handler, Upstream

QUERY_TOKEN = "qtok-7f3a9c1e55"  # only in the upstream URL's query string
PATH_TOKEN = "pathsecret-51d2e8aa"  # in the URL path, and in a *_TOKEN variable
HOOK_TOKEN = "hook-bearer-0a9b8c7d6e"  # sent as the webhook's Authorization header
SECRETS = (QUERY_TOKEN, PATH_TOKEN, HOOK_TOKEN, "testing-secret-key")


class Hook:
    """A webhook receiver on the upstream server: records each POST's headers and body."""

    def __init__(self, upstream: Upstream, path: str = "/hook", status: int = 200) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        self.url = upstream.url + path
        self._lock = threading.Lock()
        upstream.route(path, self._handle)

    def _handle(self, req: Handler) -> bool:
        if req.command != "POST":
            return False
        with self._lock:
            self.posts.append((dict(req.headers.items()), req.request_body))
        req.send_body(self.status, b"{}", {"Content-Type": "application/json"})
        return True

    def json(self, i: int = -1) -> Any:
        return json.loads(self.posts[i][1])


def failing_config(tmp_path: Path, upstream: Upstream, notify: str) -> Path:
    """A mirror whose index URL does not exist (so the run fails), plus ``notify`` entries."""
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "demo"
registry = "static-list"
dest = "mirror"
index_url = "${{MK_INDEX_URL}}"
settings = {{retries = 0}}
{notify}
""")
    return config


def secret_env(upstream: Upstream, **extra: str) -> dict[str, str]:
    return {
        "MK_INDEX_URL": f"{upstream.url}/{PATH_TOKEN}/index.json?access_token={QUERY_TOKEN}",
        "MIRROR_UPSTREAM_TOKEN": PATH_TOKEN,
        "HOOK_AUTHORIZATION": f"Bearer {HOOK_TOKEN}",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        **extra,
    }


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_webhook_receives_the_report_of_a_failed_run_without_secrets(
    upstream: Upstream, tmp_path: Path
) -> None:
    hook = Hook(upstream)
    config = failing_config(tmp_path, upstream, f"""
[[mirrors.notify]]
type = "webhook"
url = "{hook.url}"
headers = {{Authorization = "${{HOOK_AUTHORIZATION}}"}}
""")
    res = run_cli("run", "--config", config, env=secret_env(upstream))
    assert res.code == 1
    # the run itself failed on the upstream URL that carries both tokens...
    assert "index.json" in res.stderr
    assert "notify 0:webhook: ok: posted to http://127.0.0.1" in res.stderr
    assert len(hook.posts) == 1
    headers, raw = hook.posts[0]
    assert headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert headers["Content-Type"] == "application/json"
    body = hook.json()
    assert body["event"] == "mirrorkit.run_finished"
    assert (body["mirror"], body["status"]) == ("demo", "failed")
    assert body["text"].startswith("demo: failed: ")
    report = body["report"]
    assert report["status"] == "failed" and report["failed"] >= 1
    assert report["errors"] and "404" in json.dumps(report["errors"])
    # ...but the notification carries none of them
    assert_no_secrets(raw.decode())
    assert "access_token=***" in raw.decode()


def test_webhook_on_failure_stays_quiet_on_success_and_always_fires(
    upstream: Upstream, tmp_path: Path
) -> None:
    publish(upstream, {"a.bin": b"a" * 100})
    quiet, loud = Hook(upstream, "/quiet"), Hook(upstream, "/loud")
    config = failing_config(tmp_path, upstream, f"""
[[mirrors.notify]]
type = "webhook"
url = "{quiet.url}"

[[mirrors.notify]]
type = "webhook"
url = "{loud.url}"
on = "always"
""")
    res = run_cli("run", "--config", config,
                  env={"MK_INDEX_URL": upstream.url + "/repo/index.json"})
    assert res.code == 0, res.stderr
    assert quiet.posts == []
    assert len(loud.posts) == 1
    assert loud.json()["status"] == "ok"
    assert loud.json()["report"]["downloaded"] == 2


def test_a_failing_webhook_is_reported_and_does_not_change_the_exit_code(
    upstream: Upstream, tmp_path: Path
) -> None:
    publish(upstream, {"a.bin": b"a" * 100})
    broken = Hook(upstream, "/broken", status=503)
    config = failing_config(tmp_path, upstream, f"""
[[mirrors.notify]]
type = "webhook"
url = "{broken.url}"
on = "always"
retries = 1
""")
    res = run_cli("run", "--config", config,
                  env={"MK_INDEX_URL": upstream.url + "/repo/index.json"})
    assert res.code == 0, res.stderr
    assert len(broken.posts) == 2  # one retry
    assert re.search(r"notify 0:webhook: failed: webhook http://127\.0\.0\.1: HTTP 503 .*after 2 "
                     "attempts", res.stderr), res.stderr


def test_sns_notification_of_a_failed_run_reaches_a_subscribed_queue(
    upstream: Upstream, tmp_path: Path, s3_env: dict[str, str], s3_server: MotoServer
) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name=f"mirror-alerts-{os.getpid()}-{id(tmp_path)}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"alerts-{os.getpid()}-{id(tmp_path)}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    config = failing_config(tmp_path, upstream, f"""
[[mirrors.notify]]
type = "sns"
topic_arn = "{topic}"
""")
    res = run_cli("run", "--config", config, env={**s3_env, **secret_env(upstream)})
    assert res.code == 1
    assert f"notify 0:sns: ok: published to {topic}" in res.stderr

    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    messages = got.get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"].startswith("demo: failed: ")
    assert envelope["MessageAttributes"]["status"]["Value"] == "failed"
    payload = json.loads(envelope["Message"])
    assert payload["status"] == "failed"
    assert payload["report"]["mirror"] == "demo"
    assert payload["report"]["errors"]
    assert_no_secrets(messages[0]["Body"])


@pytest.mark.parametrize(("entry", "message"), [
    ('type = "pager"', "mirrors[0].notify[0].type: unknown notifier 'pager'"),
    ('type = "webhook"\nurl = "http://x.invalid/"\non = "sometimes"', "mirrors[0].notify[0].on"),
    ('type = "webhook"\nurl = "not a url"', "mirrors[0].notify[0].url"),
    ('type = "sns"\ntopic_arn = "my-topic"', "mirrors[0].notify[0].topic_arn"),
])
def test_bad_notify_entries_are_reported_before_anything_runs(
    upstream: Upstream, tmp_path: Path, entry: str, message: str
) -> None:
    config = failing_config(tmp_path, upstream, f"[[mirrors.notify]]\n{entry}\n")
    res = run_cli("run", "--config", config, env={"MK_INDEX_URL": upstream.url + "/i.json"})
    assert res.code == 2
    assert message in res.stderr
    assert upstream.requests() == []
    assert not (tmp_path / "mirror").exists()
