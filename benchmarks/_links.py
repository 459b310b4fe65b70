"""Separate machines' links to one upstream, emulated on loopback: one HTTP proxy per client.

A sharded run pays when each worker has its own link: N machines download N times what one
does. On one machine every worker shares loopback, so each gets a proxy of its own (its
``HTTP_PROXY``), and the proxy is its link: it serves the upstream's files itself, after a
fixed latency per request, at a fixed rate shared by every connection the worker opens,
however many it opens. Every worker runs the same command against the same upstream URL,
as on real machines.

Why not a limit per TCP connection (nginx's ``limit_rate``, one server for everyone): a
worker's throughput would then grow with the connections it opens, which is the adaptive
limiter's choice, not a link's. Why not one server telling workers apart by port or
address: the client picks neither, and all workers share 127.0.0.1.

The rate is paced with a virtual clock per link: each chunk of a body reserves its share of
the link's time, in the order the chunks are written, and is sent when its slot ends.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Link", "Links"]

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024


@dataclass
class Link:
    """One client's link: ``rate`` bytes per second, ``latency`` seconds before each answer."""

    rate: float
    latency: float
    port: int = 0
    sent: int = 0
    requests: int = 0
    first_request: float | None = None  # time.time() of the first since reset()
    _free_at: float = field(default=0.0, repr=False)

    async def transmit(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), CHUNK):
            chunk = data[start:start + CHUNK]
            now = loop.time()
            self._free_at = max(now, self._free_at) + len(chunk) / self.rate
            await asyncio.sleep(self._free_at - now)
            writer.write(chunk)
            await writer.drain()
            self.sent += len(chunk)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Links:
    """``count`` links serving ``files`` (URL path to body) in a background thread."""

    def __init__(self, files: Mapping[str, bytes], count: int, *, rate: float,
                 latency: float) -> None:
        self.files = files
        self.links = [Link(rate, latency) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="links")
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> Links:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> None:
        for link in self.links:
            link.sent = link.requests = 0
            link.first_request = None

    async def _start(self) -> None:
        for link in self.links:
            server = await asyncio.start_server(functools.partial(self._serve, link),
                                                "127.0.0.1", 0)
            link.port = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _serve(self, link: Link, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        """HTTP/1.1 with keep-alive; requests in proxy form (``GET http://host/path``)."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                if len(head) > HEAD_LIMIT:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                link.requests += 1
                if link.first_request is None:
                    link.first_request = time.time()
                await asyncio.sleep(link.latency)
                body = self.files.get(urlsplit(target).path)
                status = "200 OK" if body is not None else "404 Not Found"
                body = body if body is not None else b""
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                             "Content-Type: application/octet-stream\r\n\r\n".encode())
                if method != "HEAD":
                    await link.transmit(writer, body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()
