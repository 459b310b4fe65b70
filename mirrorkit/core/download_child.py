"""The download process's side (:mod:`.download_process`): the run's transport and downloads.

Every request from the parent becomes a task on this process's event loop, running the same
:class:`~.downloader.Downloader` an in-process run uses; its verdict (a
:class:`~.fetch_result.FetchResult`, a :class:`~.transport.response.Response` or the error)
goes back as one message. Bytes received are reported a few times a second for progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from multidict import CIMultiDict

from .artifact import Artifact
from .digest import is_registered
from .download_process import FrameWriter, error_message, raise_error, read_message
from .downloader import Downloader
from .logs import setup_logging
from .transport import Ask, Response, TransportSettings

__all__ = ["run_child", "serve"]

# how often received bytes are reported to the parent (its progress bar)
BYTES_EVERY = 0.2


class _ParentAuth:
    """The parent's :class:`~.transport.auth.Auth` for one request, asked over the socket.

    The parent prepared the request's own URL and sent its headers; another URL of the
    same host (a redirect there) is prepared by the parent on demand, and a ``401`` is
    answered by the parent's object, which keeps the state (tokens) of the whole run.
    """

    def __init__(self, server: _Server, job: int, url: str, headers: dict[str, str]) -> None:
        self._server = server
        self._job = job
        self._by_url = {url: headers}
        #: the parent prepared the request's first try: its headers are used once as sent
        self._fresh = {url}

    def headers(self, url: str) -> Mapping[str, str]:
        return self._by_url.get(url, {})

    async def prepare(self, url: str, ask: Ask) -> None:
        """Another hop or another try: prepared again by the parent, as in-process (an Auth
        may sign each request, or refresh what it holds)."""
        if url in self._fresh:
            self._fresh.discard(url)
            return
        _, self._by_url[url] = await self._server.ask_parent(self._job, "prepare", url, ())

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        again, headers = await self._server.ask_parent(
            self._job, "answer", url, (dict(sent), challenge.status_code,
                                       CIMultiDict(challenge.headers), challenge.url,
                                       challenge.reason))
        if again:
            self._by_url[url] = headers
        return bool(again)


class _Server:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = FrameWriter(writer)
        self._sessions: dict[int, Downloader] = {}
        self._received: dict[int, int] = {}
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._by_session: dict[int, set[int]] = {}
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._next_call = 0

    def send(self, message: object) -> None:
        self._writer.write(message)

    async def ask_parent(self, job: int, op: str, url: str, args: tuple[Any, ...]) -> Any:
        self._next_call += 1
        call = self._next_call
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call] = future
        try:
            self.send(("auth", call, job, op, url, args))
            status, *rest = await future
        finally:
            self._calls.pop(call, None)
        if status == "error":
            raise_error(rest[0])
        return tuple(rest)

    def handle(self, message: tuple[Any, ...]) -> None:
        kind, ident = message[0], message[1]
        if kind == "cancel":
            task = self._jobs.get(ident)
            if task is not None:
                task.cancel()
        elif kind == "logs":
            setup_logging(*message[2:])
        elif kind == "auth-reply":
            future = self._calls.get(ident)
            if future is not None and not future.done():
                future.set_result(message[2])
        else:
            self._start(ident, kind, message[2:])

    def _start(self, ident: int, kind: str, args: tuple[Any, ...]) -> None:
        job: Coroutine[Any, Any, Any]
        if kind == "download":
            job = self._download(ident, *args)
        elif kind == "get":
            job = self._get(ident, *args)
        elif kind == "ask":
            job = self._ask(ident, *args)
        elif kind == "open":
            job = self._open(ident, *args)
        else:
            job = self._close(ident, *args)
        task = asyncio.get_running_loop().create_task(self._run(ident, job))
        self._jobs[ident] = task
        if kind in ("get", "ask", "download"):
            self._by_session.setdefault(args[0], set()).add(ident)
        # forgotten when done, even when cancelled before it started (its coroutine never
        # ran, so nothing inside it could)
        task.add_done_callback(lambda _: self._forget(ident))

    def _forget(self, ident: int) -> None:
        self._jobs.pop(ident, None)
        for jobs in self._by_session.values():
            jobs.discard(ident)

    async def _run(self, ident: int, job: Coroutine[Any, Any, Any]) -> None:
        try:
            result = await job
        except asyncio.CancelledError:
            return  # the parent gave up on it: nobody waits for an answer
        except BaseException as exc:
            self.send(("fail", ident, error_message(exc)))
        else:
            self.send(("done", ident, result))

    # ------------------------------------------------------------------ jobs
    async def _open(self, ident: int, settings: TransportSettings, concurrency: int | None,
                    per_host: int | None) -> int:
        self._received[ident] = 0

        def on_bytes(n: int) -> None:
            self._received[ident] += n

        downloader = Downloader(settings, on_bytes=on_bytes, concurrency=concurrency,
                                per_host=per_host)
        await downloader.__aenter__()
        self._sessions[ident] = downloader
        return ident

    async def _close(self, ident: int, session: int) -> Any:
        jobs = [self._jobs[j] for j in self._by_session.pop(session, ()) if j in self._jobs]
        for task in jobs:
            task.cancel()
        if jobs:
            await asyncio.wait(jobs)
        self._report_bytes()
        downloader = self._sessions.pop(session)
        await downloader.__aexit__(None, None, None)
        self._received.pop(session, None)
        return downloader.host_stats()

    async def _get(self, ident: int, session: int, url: str, headers: dict[str, str],
                   auth_headers: dict[str, str] | None, max_bytes: int, method: str,
                   content: bytes | None, max_retry_after: float | None) -> Response:
        auth = None if auth_headers is None else _ParentAuth(self, ident, url, auth_headers)
        response = await self._sessions[session].get(
            url, headers=headers, auth=auth, max_bytes=max_bytes, method=method,
            content=content, max_retry_after=max_retry_after)
        return _portable(response)

    async def _ask(self, ident: int, session: int, url: str) -> Response:
        return _portable(await self._sessions[session].transport._ask(url))

    async def _download(self, ident: int, session: int, fields: tuple[Any, ...],
                        auth_headers: dict[str, str] | None, target: str, etag: str | None,
                        last_modified: str | None, hold_up_to: int) -> Any:
        (path, url, digest, size, kind, headers, immutable, digest_header, max_bytes) = fields
        if digest is not None and not is_registered(digest.algorithm):
            _load_plugins()
        auth = None if auth_headers is None else _ParentAuth(self, ident, url, auth_headers)
        artifact = Artifact(path, url=url, digest=digest, size=size, kind=kind,
                            headers=headers, auth=auth, immutable=immutable,
                            response_digest_header=digest_header, max_bytes=max_bytes)
        return await self._sessions[session].download(
            artifact, Path(target), etag=etag, last_modified=last_modified,
            hold_up_to=hold_up_to)

    # ------------------------------------------------------------------ progress
    def _report_bytes(self) -> None:
        for session, count in self._received.items():
            if count:
                self.send(("bytes", session, count))
                self._received[session] = 0

    async def report_bytes(self) -> None:
        while True:
            await asyncio.sleep(BYTES_EVERY)
            self._report_bytes()


@functools.cache
def _load_plugins() -> None:
    """What plugins do when imported, such as registering a digest algorithm
    (``register_algorithm``), is done here too, once a download needs it: the child was
    forked before the plugins were loaded (loading them first thing would delay its first
    request). A plugin that fails to load is reported by the run, in the parent."""
    from .plugins import PluginError, load_plugins

    with contextlib.suppress(PluginError):
        load_plugins()


def _portable(response: Response) -> Response:
    """The response with headers that cross to the parent (aiohttp's proxy type does not)."""
    return Response(response.status_code, CIMultiDict(response.headers), response.content,
                    response.url, response.reason)


def run_child(sock: socket.socket) -> None:
    """The download process's life: serve the parent until it closes its end."""
    from .collector import collect_young_less_often

    collect_young_less_often()
    asyncio.run(serve(sock))


async def serve(sock: socket.socket) -> None:
    """Answer the parent until it closes its end of ``sock``."""
    reader, writer = await asyncio.open_connection(sock=sock)
    server = _Server(writer)
    progress = asyncio.get_running_loop().create_task(server.report_bytes())
    try:
        while True:
            try:
                message = await read_message(reader)
            except EOFError:
                break
            server.handle(message)
    finally:
        progress.cancel()
        for task in list(server._jobs.values()):
            task.cancel()
        for downloader in server._sessions.values():
            await downloader.__aexit__(None, None, None)
