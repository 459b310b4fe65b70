"""``NotifyContext.post``: a notifier written against ``mirrorkit.api`` alone sends HTTP.

The notifier here is what a third party would write: it imports only ``mirrorkit.api`` and
is tested with ``mirrorkit.testing``, so it runs the pipeline ``mirrorkit run`` runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from mirrorkit.api import NotifierCollection, NotifyContext, hookimpl
from mirrorkit.testing import Handler, Upstream, run_mirror_for_test

HOOK_TOKEN = "hooktoken-3c9e1f"  # in the receiver's URL path, as chat webhooks put it


class PagerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    retries: int = 0


class Pager:
    name: ClassVar[str] = "pager"
    summary: ClassVar[str] = "POST the status to a pager gateway"
    Options: ClassVar[type[BaseModel]] = PagerOptions

    async def notify(self, options: PagerOptions, ctx: NotifyContext) -> str:
        body = json.dumps({"mirror": ctx.mirror, "status": ctx.status}).encode()
        resp = await ctx.post(options.url, body, retries=options.retries, timeout=5,
                              headers={"Content-Type": "application/json", "X-Pager": "1"})
        return f"paged (HTTP {resp.status_code}, {resp.json()['id']})"


class PagerPlugin:
    @hookimpl
    def mirrorkit_add_notifiers(self, notifiers: NotifierCollection) -> None:
        notifiers.add(Pager)


class Gateway:
    """A receiver on the upstream: answers each POST with ``status``, records what came."""

    def __init__(self, upstream: Upstream, status: int) -> None:
        self.status = status
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.url = f"{upstream.url}/hooks/{HOOK_TOKEN}"
        self._lock = threading.Lock()
        upstream.route("/hooks/", self._handle)

    def _handle(self, req: Handler) -> bool:
        if req.command != "POST":
            return False
        with self._lock:
            self.posts.append((dict(req.headers.items()), req.request_body))
        req.send_body(self.status, json.dumps({"id": f"page-{len(self.posts)}"}).encode(),
                      {"Content-Type": "application/json"})
        return True


def _mirror(upstream: Upstream, tmp_path: Path, gateway: Gateway, retries: int = 0) -> list[str]:
    body = b"payload"
    upstream.add("/files/a.txt", body)
    upstream.add("/index.json", json.dumps([{"path": "a.txt", "url": "files/a.txt",
                                             "sha256": hashlib.sha256(body).hexdigest()}]
                                           ).encode())
    report = run_mirror_for_test(
        "static-list", tmp_path / "mirror", plugins=[PagerPlugin()],
        index_url=upstream.url + "/index.json",
        notify=[{"type": "pager", "on": "always", "url": gateway.url, "retries": retries}])
    assert report.status == "ok", report.errors
    return report.notices


def test_a_third_party_notifier_posts_through_the_context(tmp_path: Path) -> None:
    with Upstream() as upstream:
        gateway = Gateway(upstream, status=200)
        notices = _mirror(upstream, tmp_path, gateway)
    assert notices == ["notify 0:pager: ok: paged (HTTP 200, page-1)"]
    [(headers, body)] = gateway.posts
    assert json.loads(body) == {"mirror": "static-list", "status": "ok"}
    assert headers["X-Pager"] == "1" and headers["Content-Type"] == "application/json"


def test_a_failing_receiver_is_retried_and_named_without_its_path(tmp_path: Path) -> None:
    with Upstream() as upstream:
        gateway = Gateway(upstream, status=503)
        notices = _mirror(upstream, tmp_path, gateway, retries=2)
    assert len(gateway.posts) == 3  # the first attempt and two retries
    [line] = notices
    assert line.startswith("notify 0:pager: failed: http://127.0.0.1: HTTP 503"), line
    assert line.endswith("after 3 attempts"), line
    assert HOOK_TOKEN not in line and "/hooks" not in line


def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    with Upstream() as upstream:
        gateway = Gateway(upstream, status=404)
        notices = _mirror(upstream, tmp_path, gateway, retries=3)
    assert len(gateway.posts) == 1
    assert notices == ["notify 0:pager: failed: http://127.0.0.1: HTTP 404 Not Found"]
