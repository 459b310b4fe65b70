"""The run's HTTP work on a second core: a forked process that runs the one transport.

A run is CPU-bound on one core when its requests are small and many (a Homebrew tag's
bottles: four requests and two files each, 64 in flight). The process that plans and
commits then also parses every response. With a download process, the ``mirrorkit``
process forks once, before it imports the HTTP stack, and the child runs the same
:class:`~.downloader.Downloader` and :class:`~.transport.client.Transport` (limits, retries,
redirects, hashing while streaming, files written into staging) for every request of the
run; the parent plans, verifies plans, commits and keeps the manifest. Measured in
docs/benchmarks.md.

What stays in the parent: every :class:`~.transport.auth.Auth` object (a plugin's, with its
state). Before a request the parent runs ``prepare`` and sends ``headers(url)`` along; a
``401`` in the child is answered by the parent's ``answer`` (a call back over the socket),
whose token requests (``ask``) go through the child again. Plugins see no difference.

The child is forked by :mod:`.download_fork`, as early as the command can. The two
processes talk over a socket pair with length-prefixed pickles (both ends are this
module's own code; nothing else can reach the socket). The child ignores Ctrl-C (the parent
ends it) and exits when the parent's end closes, so it never outlives a killed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from .artifact import Artifact
from .fetch_result import FetchResult
from .registry import FetchError
from .report import HostReport
from .transport import Auth, Response, TransportSettings
from .transport.errors import Permanent, Retryable
from .transport.retries import describe, with_retries

__all__ = ["DownloadProcess", "RemoteDownloader"]

log = logging.getLogger("mirrorkit.engine")

_HEADER = struct.Struct("!Q")
# A run's files stream to disk in the child; a message is a request, a verdict, or the body
# of a ctx.get, which a plugin may allow up to a few GiB (a whole conda repodata.json or
# wheel): a length past this is a broken stream, not a message.
MAX_MESSAGE = 64 * 1024**3
# how long the parent waits at the end of a session for the child to stop its downloads
CLOSE_TIMEOUT = 30.0


def frame(message: object) -> list[bytes]:
    """A message as its length and its pickle (not joined: a large body is not copied)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return [_HEADER.pack(len(data)), data]


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message; raises ``EOFError`` when the other end has closed."""
    try:
        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        if size > MAX_MESSAGE:
            raise EOFError(f"message of {size} bytes")
        return pickle.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError as exc:
        raise EOFError("" if not exc.partial else "in the middle of a message") from None
    except ConnectionError as exc:
        raise EOFError(str(exc)) from None


class FrameWriter:
    """Messages written once per loop iteration: the frames one iteration produces go out in
    one system call instead of one each (a run sends two messages per request, each way)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []

    def write(self, message: object) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending += frame(message)

    def flush(self) -> None:
        if self._pending:
            parts, self._pending = self._pending, []
            if not self._writer.is_closing():
                self._writer.writelines(parts)

    async def aclose(self) -> None:
        self.flush()
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


def error_message(exc: BaseException) -> tuple[Any, ...]:
    """An exception as plain values, to be raised again on the other side."""
    if isinstance(exc, FetchError):
        return ("fetch", exc.path, exc.url, exc.reason)
    if isinstance(exc, OSError):
        return ("os", exc.errno, exc.strerror, exc.filename)
    if isinstance(exc, Retryable):
        return ("retryable", exc.reason, exc.retry_after, exc.refused, exc.silent,
                exc.unreachable)
    if isinstance(exc, Permanent):
        return ("permanent", exc.reason)
    return ("error", f"{type(exc).__name__}: {exc}")


def raise_error(payload: tuple[Any, ...]) -> None:
    kind = payload[0]
    if kind == "fetch":
        raise FetchError(payload[1], payload[2], payload[3])
    if kind == "os":
        raise OSError(payload[1], payload[2], payload[3])
    if kind == "retryable":
        reason, retry_after, refused, silent, unreachable = payload[1:]
        raise Retryable(reason, retry_after, refused=refused, silent=silent,
                        unreachable=unreachable)
    if kind == "permanent":
        raise Permanent(payload[1])
    raise RuntimeError(f"download process: {payload[1]}")


class DownloadProcess:
    """The parent's end: sessions (one per mirror run), requests, and the child's calls."""

    def __init__(self, sock: socket.socket, pid: int, *,
                 logging_setup: tuple[str, str] | None = None) -> None:
        """``sock``, ``pid``: from :func:`.download_fork.fork_child`; ``logging_setup``: the
        command's log format and level, for the child's own log lines."""
        self._sock = sock
        self.pid = pid
        self._logging_setup = logging_setup
        self._writer: FrameWriter | None = None
        self._opening: asyncio.Future[None] | None = None
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._sessions: dict[int, RemoteDownloader] = {}
        self._auths: dict[int, tuple[Auth, RemoteDownloader]] = {}  # job -> its Auth
        self._lost: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def session(self, settings: TransportSettings, *,
                on_bytes: Callable[[int], None] | None = None,
                concurrency: int | None = None, per_host: int | None = None
                ) -> RemoteDownloader:
        return RemoteDownloader(self, settings, on_bytes=on_bytes, concurrency=concurrency,
                                per_host=per_host)

    # ------------------------------------------------------------------ connection
    async def _connect(self) -> None:
        if self._writer is not None:
            return
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_future()
            try:
                reader, writer = await asyncio.open_connection(sock=self._sock)
            except BaseException as exc:
                self._opening.set_exception(exc)
                raise
            self._writer = FrameWriter(writer)
            if self._logging_setup is not None:
                self._writer.write(("logs", 0, *self._logging_setup))
            self._opening.set_result(None)
            self._spawn(self._pump(reader))
        else:
            await asyncio.shield(self._opening)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, message: object) -> None:
        if self._lost is not None:
            raise FetchError("(run)", None, self._lost)
        assert self._writer is not None
        self._writer.write(message)

    async def call(self, message: tuple[Any, ...], auth: tuple[Auth, RemoteDownloader] | None
                   = None) -> Any:
        """Send a request whose first field after its kind is its id; wait for the answer."""
        await self._connect()
        self._next += 1
        ident = self._next
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        if auth is not None:
            self._auths[ident] = auth
        try:
            self.send((message[0], ident, *message[1:]))
            return await future
        finally:
            self._auths.pop(ident, None)
            if self._waiting.pop(ident, None) is not None and self._lost is None:
                self.send(("cancel", ident))  # given up (cancelled): the child stops it

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await read_message(reader)
                kind = message[0]
                if kind == "done":
                    self._settle(message[1], message[2], None)
                elif kind == "fail":
                    self._settle(message[1], None, message[2])
                elif kind == "bytes":
                    session = self._sessions.get(message[1])
                    if session is not None:
                        session.on_bytes(message[2])
                elif kind == "auth":
                    self._spawn(self._answer_auth(*message[1:]))
        except EOFError as exc:
            self._lose("the download process ended unexpectedly" + (f" ({exc})" if str(exc)
                                                                    else ""))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # no request may wait forever for a lost answer
            self._lose(f"the download process's answers could not be read ({exc!r})")
            raise

    def _settle(self, ident: int, result: Any, error: tuple[Any, ...] | None) -> None:
        future = self._waiting.pop(ident, None)
        if future is None or future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            try:
                raise_error(error)
            except Exception as exc:
                future.set_exception(exc)

    def _lose(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
            log.error("%s", reason)
        for ident in list(self._waiting):
            future = self._waiting.pop(ident)
            if not future.done():
                future.set_exception(FetchError("(run)", None, reason))

    async def _answer_auth(self, call: int, job: int, op: str, url: str,
                           args: tuple[Any, ...]) -> None:
        """A call from the child: run the job's Auth here, where its state lives."""
        found = self._auths.get(job)
        try:
            if found is None:
                raise Permanent("the request that asked is gone")
            auth, session = found
            if op == "prepare":
                await auth.prepare(url, session.ask)
                reply: tuple[Any, ...] = ("ok", True, dict(auth.headers(url)))
            else:
                sent, status, headers, answered_url, reason = args
                challenge = Response(status, headers, b"", answered_url, reason)
                again = await auth.answer(url, sent, challenge, session.ask)
                reply = ("ok", again, dict(auth.headers(url)) if again else {})
        except Exception as exc:
            reply = ("error", error_message(exc))
        if self._lost is None:
            self.send(("auth-reply", call, reply))

    async def aclose(self) -> None:
        """Let the child finish and wait for it (at the end of the command)."""
        for task in list(self._tasks):
            task.cancel()
        if self._writer is not None:  # closed on the loop that owns it, then waited for
            with anyio.move_on_after(CLOSE_TIMEOUT):
                await self._writer.aclose()
        await anyio.to_thread.run_sync(self.reap)

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def reap(self) -> None:
        """Close the parent's end (the child then exits) and collect the child; one that
        has not exited after ``CLOSE_TIMEOUT`` seconds is killed."""
        if self._writer is None:  # never connected: the socket is still this object's
            with contextlib.suppress(OSError):
                self._sock.close()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    return
                time.sleep(0.01)


class RemoteDownloader:
    """:class:`~.downloader.Downloader`'s interface, carried out in the download process."""

    #: bodies are written where they arrive, by the download process (which has a core to
    #: itself), rather than sent over the socket to be written by the run: 4% less wall and
    #: CPU on the bottle benchmark (6 alternating rounds)
    holds_bodies = False

    def __init__(self, process: DownloadProcess, settings: TransportSettings, *,
                 on_bytes: Callable[[int], None] | None, concurrency: int | None,
                 per_host: int | None) -> None:
        self.settings = settings
        self._process = process
        self.on_bytes: Callable[[int], None] = on_bytes or (lambda n: None)
        self._config = (settings, concurrency, per_host)
        self._session = 0
        self._hosts: list[HostReport] = []

    async def __aenter__(self) -> RemoteDownloader:
        self._session = await self._process.call(("open", *self._config))
        self._process._sessions[self._session] = self
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        # the child stops this session's downloads before staging is cleaned up: shielded,
        # as the run may be ending because it was cancelled
        # (a FetchError: the process is gone, so nothing of the session runs on)
        with (anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT),
              contextlib.suppress(FetchError)):
            self._hosts = await self._process.call(("close", self._session))
        self._process._sessions.pop(self._session, None)

    def host_stats(self) -> list[HostReport]:
        return self._hosts

    async def _auth_headers(self, url: str, auth: Auth | None, path: str
                            ) -> dict[str, str] | None:
        """The request's first headers from its Auth, prepared here (where the Auth lives)
        with the retries an in-process request gives ``prepare``."""
        if auth is None:
            return None
        try:
            await with_retries(self.settings, url, lambda: auth.prepare(url, self.ask))
        except (Retryable, Permanent) as exc:
            raise FetchError(path, None if path == url else url, describe(exc)) from None
        return dict(auth.headers(url))

    async def ask(self, url: str) -> Response:
        """An :class:`Auth`'s token request, through the child's transport."""
        result: Response = await self._process.call(("ask", self._session, url))
        return result

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None,
                  auth: Auth | None = None, max_bytes: int = 64 * 1024 * 1024,
                  method: str = "GET", content: bytes | None = None,
                  max_retry_after: float | None = None) -> Response:
        sent = await self._auth_headers(url, auth, url)
        result: Response = await self._process.call(
            ("get", self._session, url, dict(headers or {}), sent, max_bytes, method, content,
             max_retry_after), None if auth is None else (auth, self))
        return result

    async def download(self, artifact: Artifact, target: Path, *, etag: str | None = None,
                       last_modified: str | None = None, hold_up_to: int = 0) -> FetchResult:
        assert artifact.url is not None
        sent = await self._auth_headers(artifact.url, artifact.auth, artifact.path)
        fields = (artifact.path, artifact.url, artifact.digest, artifact.size, artifact.kind,
                  dict(artifact.headers), artifact.immutable, artifact.response_digest_header,
                  artifact.max_bytes)
        result: FetchResult = await self._process.call(
            ("download", self._session, fields, sent, str(target), etag, last_modified,
             hold_up_to), None if artifact.auth is None else (artifact.auth, self))
        return result
