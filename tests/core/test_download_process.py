"""The command line's runs make their requests in a second process (core/download_process.py).

What a user would notice: the same mirror either way, no process left behind after a run or
an interrupt, and a download process that dies fails the run in one clear line with the
mirror as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import anyio

from mirrorkit.api import Artifact, Response
from mirrorkit.core.download_child import serve
from mirrorkit.core.download_process import DownloadProcess, RemoteDownloader
from mirrorkit.core.registry import FetchError
from mirrorkit.core.report import HostReport
from mirrorkit.core.transport import Ask, TransportSettings
from mirrorkit.core.transport.errors import Permanent, Retryable
from tests.support.cli import run_cli, start_cli
from tests.support.static_list import assert_index_consistent, index_url, publish, run_args
from tests.support.trees import mirror_tree
from tests.support.upstream import Handler, Upstream

T = TypeVar("T")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0): it has exited and waits to be collected
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _stalled_run(upstream: Upstream, dest: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """A run whose one file never arrives, and its download process once it asks for it."""
    proc = start_cli(*run_args(upstream, dest, *extra))
    _wait_for(lambda: upstream.requests("/repo/files/stall.bin"))
    [child] = _children(proc.pid)
    return proc, child


def test_with_or_without_the_download_process_the_mirror_is_the_same(
        upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/p{i}.bin": os.urandom(5000 + i) for i in range(30)}
    publish(upstream, files)
    trees = []
    for setting in ("auto", "off"):
        dest = tmp_path / setting
        res = run_cli(*run_args(upstream, dest, "--download-process", setting, "--json"))
        assert res.code == 0, res.stderr
        assert res.json["downloaded"] == len(files) + 1
        hosts = res.json["hosts"]
        assert [h["requests"] for h in hosts] == [len(files) + 1]
        trees.append(mirror_tree(dest))
    assert trees[0] == trees[1]


def test_the_download_process_ends_with_an_interrupted_run(
        upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc, child = _stalled_run(upstream, tmp_path / "mirror")
    assert Path(f"/proc/{child}/cmdline").read_bytes() == Path(
        f"/proc/{proc.pid}/cmdline").read_bytes()  # a fork of the command, not a new program
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert _gone(child)


def test_off_makes_the_requests_in_the_run_itself(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc = start_cli(*run_args(upstream, tmp_path / "mirror", "--download-process", "off"))
    try:
        _wait_for(lambda: upstream.requests("/repo/files/stall.bin"))
        assert _children(proc.pid) == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_a_lost_download_process_fails_the_run_and_leaves_the_mirror_as_it_was(
        upstream: Upstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    first = {"a.bin": os.urandom(3000), "b.bin": os.urandom(3000)}
    publish(upstream, first)
    assert run_cli(*run_args(upstream, dest)).code == 0
    before = mirror_tree(dest)

    publish(upstream, {**first, "stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc, child = _stalled_run(upstream, dest)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "the download process ended unexpectedly" in err
    assert mirror_tree(dest) == before
    assert assert_index_consistent(dest) == sorted(first)


# ---------------------------------------------------------------------------- the protocol
# The two ends without a fork: the child's loop on a thread of the test process, the run's
# on the test's own loop, over a real socket pair.
FAST = TransportSettings(retries=1, backoff_initial=0.01, backoff_max=0.02, read_timeout=5)


class RecordingAuth:
    """An Auth whose calls are recorded where they happen: in the run's process."""

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.answered: list[tuple[str, int]] = []

    def headers(self, url: str) -> dict[str, str]:
        return {"Authorization": "Token fresh" if self.answered else "Token stale"}

    async def prepare(self, url: str, ask: Ask) -> None:
        self.prepared.append(url)

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        self.answered.append((url, challenge.status_code))
        return challenge.headers.get("www-authenticate") == 'Token realm="x"'


def _in_child(job: Callable[[RemoteDownloader], Awaitable[T]]) -> tuple[T, list[HostReport]]:
    parent, child = socket.socketpair()
    thread = threading.Thread(target=lambda: asyncio.run(serve(child)), daemon=True)
    thread.start()

    async def main() -> tuple[T, list[HostReport]]:
        async with DownloadProcess(parent, 0).session(FAST) as downloader:
            result = await job(downloader)
        return result, downloader.host_stats()

    try:
        return anyio.run(main)
    finally:
        parent.close()
        thread.join(10)
        assert not thread.is_alive()  # the child's side ends when the run's end closes


def test_a_request_in_the_download_process_asks_the_runs_auth(
        upstream: Upstream, tmp_path: Path) -> None:
    """prepare for a same-host redirect and answer to its 401 are called back in the run's
    process, on the run's own Auth object; the body lands where the run said."""
    def hop(req: Handler) -> bool:
        req.send_body(307, b"", {"Location": "/b"})
        return True

    def guard(req: Handler) -> bool:
        if req.headers.get("Authorization") == "Token fresh":
            return False
        req.send_body(401, b"", {"WWW-Authenticate": 'Token realm="x"'})
        return True

    upstream.route("/a", hop)
    sha = upstream.add("/b", b"the body")
    upstream.route("/b", guard)
    auth = RecordingAuth()
    target = tmp_path / "t.part"
    art = Artifact.blob("pool/b.bin", f"{upstream.url}/a", sha256=sha, auth=auth)
    result, hosts = _in_child(lambda dl: dl.download(art, target))
    assert target.read_bytes() == b"the body" and result.sha256 == sha and result.size == 8
    # as in the run's own process: before every hop and every try (the first by the run,
    # before it sent the request; the others called back from the download process)
    assert auth.prepared == [f"{upstream.url}/a", f"{upstream.url}/b", f"{upstream.url}/b"]
    assert auth.answered == [(f"{upstream.url}/b", 401)]
    assert [h.requests for h in hosts] == [3]  # /a (307), /b (401), /b again


def test_get_and_errors_cross_back_as_the_runs_own_types(upstream: Upstream) -> None:
    upstream.add("/page", b"{\"ok\": true}", headers={"Content-Type": "application/json"})

    async def job(dl: RemoteDownloader) -> tuple[Response, str]:
        page = await dl.get(f"{upstream.url}/page")
        try:
            await dl.get(f"{upstream.url}/missing")
        except FetchError as exc:
            return page, exc.reason
        raise AssertionError("a 404 raised nothing")

    (page, reason), _ = _in_child(job)
    assert page.json() == {"ok": True} and page.headers["content-type"] == "application/json"
    assert "404" in reason


def test_a_request_the_run_gives_up_on_stops_in_the_download_process(
        upstream: Upstream, tmp_path: Path) -> None:
    upstream.add("/slow", os.urandom(2000))
    upstream.fault("/slow", "stall", seconds=30)
    target = tmp_path / "slow.part"

    async def job(dl: RemoteDownloader) -> float:
        started = time.monotonic()
        with anyio.move_on_after(0.5):
            await dl.download(Artifact.blob("slow.bin", f"{upstream.url}/slow"), target)
        return time.monotonic() - started

    took, _ = _in_child(job)  # the session's close waits for the child to stop it
    assert took < 5
    assert not target.exists()


def test_after_a_lost_download_process_the_next_mirrors_run_in_their_own_process(
        upstream: Upstream, tmp_path: Path) -> None:
    files = {"pool/a.bin": os.urandom(3000), "pool/stall.bin": os.urandom(1000)}
    publish(upstream, files)
    upstream.fault("/repo/files/pool/stall.bin", "stall", seconds=60)
    config = tmp_path / "mirrors.toml"
    config.write_text(
        f'[settings]\nbackoff_initial = 0.05\nbackoff_max = 0.2\ntimeout = 5\n\n'
        f'[[mirrors]]\nname = "first"\nregistry = "static-list"\n'
        f'dest = "{tmp_path / "first"}"\nindex_url = "{index_url(upstream)}"\n\n'
        f'[[mirrors]]\nname = "second"\nregistry = "static-list"\n'
        f'dest = "{tmp_path / "second"}"\nindex_url = "{index_url(upstream)}"\n'
        f'include = ["pool/a"]\n')
    proc = start_cli("run", "--config", config, "--json")
    _wait_for(lambda: upstream.requests("/repo/files/pool/stall.bin"))
    [child] = _children(proc.pid)
    os.kill(child, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    reports = {m["mirror"]: m for m in json.loads(out)["mirrors"]}
    assert reports["first"]["status"] == "failed"
    assert "the download process ended unexpectedly" in reports["first"]["errors"][0]["error"]
    assert reports["second"]["status"] == "ok"
    assert "makes its requests in its own process" in err
    assert (tmp_path / "second/pool/a.bin").read_bytes() == files["pool/a.bin"]


class AskingAuth:
    """An Auth that asks a token endpoint in prepare, as a plugin's own may."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.token = ""

    def headers(self, url: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    async def prepare(self, url: str, ask: Ask) -> None:
        response = await ask(self.token_url)
        if response.status_code >= 500:
            raise Retryable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise Permanent(f"token refused: HTTP {response.status_code}")
        self.token = response.text

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        return False


def test_an_auths_prepare_is_retried_and_its_errors_are_fetch_errors(
        upstream: Upstream, tmp_path: Path) -> None:
    """As in the run's own process: a prepare that meets a 503 is tried again, and one that
    cannot succeed fails its file with a FetchError (the run reports it; it does not crash)."""
    upstream.add("/token", b"t1")
    upstream.fault("/token", "status", code=503, times=1)
    upstream.add("/denied", b"no")
    upstream.fault("/denied", "status", code=403, times=10)
    sha = upstream.add("/file", b"body")
    ok_auth, denied_auth = AskingAuth(f"{upstream.url}/token"), AskingAuth(
        f"{upstream.url}/denied")

    async def job(dl: RemoteDownloader) -> str:
        await dl.download(Artifact.blob("f", f"{upstream.url}/file", sha256=sha, auth=ok_auth),
                          tmp_path / "f.part")
        try:
            await dl.download(Artifact.blob("g", f"{upstream.url}/file", auth=denied_auth),
                              tmp_path / "g.part")
        except FetchError as exc:
            return exc.reason
        raise AssertionError("a refused token raised nothing")

    reason, _ = _in_child(job)
    assert (tmp_path / "f.part").read_bytes() == b"body"
    assert len(upstream.requests("/token")) == 2  # the 503, then the token
    assert "token refused: HTTP 403" in reason
