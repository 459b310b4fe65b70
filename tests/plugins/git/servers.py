"""Loopback servers for git tests: a smart-HTTP upstream (``git http-backend`` as CGI) that
counts the bytes it sends, with a Git LFS batch API beside it (git-lfs ships no server), and
a plain static file server standing in for nginx/S3.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _GitHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _GitServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/lfs-objects/"):
            self._lfs_object()
            return
        self._cgi()

    def do_POST(self) -> None:
        if self.path.endswith("/info/lfs/objects/batch"):
            self._lfs_batch()
            return
        self._cgi()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _lfs_batch(self) -> None:
        """git-lfs's batch API: hrefs to /lfs-objects/<oid>, which need the header given."""
        store = self.server.lfs
        request = json.loads(self._body())
        assert request["operation"] == "download" and "basic" in request["transfers"]
        oids = [o["oid"] for o in request["objects"]]
        with self.server.lock:
            store.batches.append(oids)
        objects = []
        for obj in request["objects"]:
            if obj["oid"] in store.objects and obj["oid"] not in store.missing:
                href = f"http://127.0.0.1:{self.server.server_address[1]}/lfs-objects/{obj['oid']}"
                objects.append({**obj, "actions": {"download": {
                    "href": href, "header": {"X-Lfs-Ticket": store.ticket}}}})
            else:
                objects.append({**obj, "error": {"code": 404, "message": "Object not found"}})
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_object(self) -> None:
        store = self.server.lfs
        oid = self.path.rsplit("/", 1)[-1]
        if self.headers.get("X-Lfs-Ticket") != store.ticket or oid not in store.objects:
            self._send(401 if oid in store.objects else 404, b"no\n", {})
            return
        body = store.objects[oid]
        if oid in store.corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        with self.server.lock:
            store.downloads.append(oid)
        self._send(200, body, {"Content-Type": "application/octet-stream"})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.server.root),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run(["git", "http-backend"], input=body, capture_output=True,
                              env=env, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.lock:
            self.server.bytes_sent += len(payload)
            self.server.requests.append(f"{self.command} {self.path}")


class LfsStore:
    """The LFS objects an upstream serves, and what clients asked of it."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.corrupt: set[str] = set()  # served with a flipped first byte
        self.missing: set[str] = set()  # answered with a 404 error object
        self.batches: list[list[str]] = []  # oids of each batch request
        self.downloads: list[str] = []
        self.ticket = "ticket-" + os.urandom(4).hex()

    def add(self, content: bytes) -> str:
        """Store ``content``; returns the pointer file that names it."""
        oid = hashlib.sha256(content).hexdigest()
        self.objects[oid] = content
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
                f"size {len(content)}\n")

    def clear_log(self) -> None:
        self.batches.clear()
        self.downloads.clear()


class _GitServer(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    lfs: LfsStore
    bytes_sent: int
    requests: list[str]
    lock: threading.Lock


class GitHttpServer:
    """Serves every repository under ``root`` at ``http://127.0.0.1:port/<name>``, and
    ``lfs`` through the LFS batch API at ``<name>/info/lfs``."""

    def __init__(self, root: Path) -> None:
        self._server = _GitServer(("127.0.0.1", 0), _GitHandler)
        self._server.root = root
        self._server.lfs = self.lfs = LfsStore()
        self._server.bytes_sent = 0
        self._server.requests = []
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def bytes_sent(self) -> int:
        return self._server.bytes_sent

    def reset_count(self) -> None:
        with self._server.lock:
            self._server.bytes_sent = 0
            self._server.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietStatic(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """Python's http.server over a directory: what an operator's nginx or S3 bucket would do."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietStatic, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
