"""A hostile upstream index: endless, a compression bomb, or a drip. Each run ends soon,
with one clear line, the previous snapshot untouched and the lock released."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import socket
import time
from pathlib import Path

from tests.hostile.harness import snapshot
from tests.support.cli import Result, run_cli
from tests.support.static_list import INDEX, publish, run_args
from tests.support.upstream import Handler, Upstream
from tests.support.writecount import bytes_written, run_counting_writes

GOOD = {"pool/a.bin": b"a" * 1000}


def _mirrored(upstream: Upstream, tmp_path: Path) -> Path:
    """A mirror of GOOD, made by a first run that went through."""
    publish(upstream, GOOD)
    dest = tmp_path / "mirror"
    first = run_cli(*run_args(upstream, dest))
    assert first.code == 0, first.stderr
    return dest


def _mirror_then_serve(upstream: Upstream, tmp_path: Path, route: object) -> tuple[Path, dict]:
    dest = _mirrored(upstream, tmp_path)
    upstream.route(INDEX, route)  # type: ignore[arg-type]
    return dest, snapshot(dest)


def _run_files_on(upstream: Upstream, dest: Path, port: int,
                  *flags: str) -> tuple[Result, float]:
    """Publish an index of 40 files on ``port`` of loopback and run against it, timed."""
    entries = [{"path": f"pool/f{i}.bin", "url": f"http://127.0.0.1:{port}/f{i}.bin",
                "sha256": "0" * 64, "size": 10} for i in range(40)]
    upstream.add(INDEX, json.dumps(entries).encode(), last_modified=1.8e9)
    started = time.monotonic()
    res = run_cli("run", "static-list", "--index-url", upstream.url + INDEX,
                  "--dest", str(dest), "--concurrency", "4", *flags)
    return res, time.monotonic() - started


def _assert_refused_and_unchanged(res: object, dest: Path, before: dict, *words: str,
                                  upstream: Upstream) -> None:
    assert res.code == 1, res.stderr  # type: ignore[attr-defined]
    stderr: str = res.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    for word in words:
        assert word in stderr, stderr
    assert snapshot(dest) == before
    # the lock was released: the next run (upstream good again) goes through
    upstream.routes.clear()
    again = run_cli(*run_args(upstream, dest, "--json"))
    assert again.code == 0, again.stderr


def endless(req: Handler) -> bool:
    """No Content-Length: the body ends when the client hangs up (6.5 GB if it never does)."""
    req.send_response(200)
    req.send_header("Connection", "close")
    req.end_headers()
    req.close_connection = True
    chunk = b"[" + b" " * 65535
    try:
        for _ in range(100_000):
            req.wfile.write(chunk)
    except OSError:
        pass
    return True


def test_an_endless_index_stops_at_the_cap_and_writes_it_once(upstream: Upstream,
                                                              tmp_path: Path) -> None:
    dest, before = _mirror_then_serve(upstream, tmp_path, endless)
    started = time.monotonic()
    log = tmp_path / "writes.log"
    res = run_counting_writes(dest, log, *run_args(upstream, dest, "--max-index-bytes",
                                                   "5000000", "--retries", "3"))
    assert time.monotonic() - started < 30
    assert len(upstream.requests(INDEX)) == 2  # the first run's, and this one's: no retry
    assert bytes_written(log) <= 5_000_000 + 1000  # the cap, and the lock's few bytes
    _assert_refused_and_unchanged(res, dest, before, "index.json",
                                  "larger than the 5000000 bytes allowed", upstream=upstream)


def test_a_body_longer_than_its_known_size_is_refused_and_written_once(
        upstream: Upstream, tmp_path: Path) -> None:
    """The index says 100,000 bytes; the server sends no length and never ends. Another
    try would write the 100,000 bytes again (each of the retries did)."""
    publish(upstream, {"pool/big.bin": b"b" * 100_000})
    upstream.route("/repo/files/pool/big.bin", endless)
    dest, log = tmp_path / "mirror", tmp_path / "writes.log"
    res = run_counting_writes(dest, log, *run_args(upstream, dest, "--retries", "3"))
    assert res.code == 1
    assert "pool/big.bin: body is larger than the expected 100000 bytes" in res.stderr
    assert len(upstream.requests("/repo/files/pool/big.bin")) == 1
    assert bytes_written(log) <= 100_000 + 5000  # the body's size, the index, the lock


def test_a_conda_repodata_that_decompresses_past_its_cap_is_refused_unwritten(
        tmp_path: Path) -> None:
    """A selective conda mirror keeps upstream's repodata decompressed in its work
    directory: a ``.zst`` whose frame announces more than the cap (1 GiB) is refused before
    a byte of it is written (it was decompressed to disk whatever its size)."""
    import zstandard

    from mirrorkit.plugins.conda.upstream import MAX_BODY
    from tests.plugins.conda.channel import Pkg, make_channel

    with Upstream() as up:
        channel = make_channel(tmp_path, up)
        channel.add(Pkg("libfoo", "1.0", "linux-64"))
        channel.publish()
        bomb = io.BytesIO()
        size = MAX_BODY + (1 << 20)
        with zstandard.ZstdCompressor(level=1).stream_writer(bomb, size=size,
                                                             closefd=False) as writer:
            zeros = bytes(1 << 20)
            for _ in range(size >> 20):
                writer.write(zeros)
        assert len(bomb.getvalue()) < 100_000  # 32 kB that inflate to 1 GiB and more
        up.add("/chan/linux-64/repodata.json.zst", bomb.getvalue())
        dest, log = tmp_path / "mirror", tmp_path / "writes.log"
        res = run_counting_writes(dest, log, "run", "conda", "--channel-url", channel.url,
                                  "--subdir", "linux-64", "--package", "libfoo",
                                  "--dest", dest, "--retries", "0")
    assert bytes_written(log) < 100_000  # not the gigabyte
    assert res.code == 1
    assert (f"linux-64/repodata.json.zst: decompresses to more than the {MAX_BODY} bytes "
            "allowed for it") in res.stderr
    assert "Traceback" not in res.stderr


def test_a_compression_bomb_stops_at_the_cap(upstream: Upstream, tmp_path: Path) -> None:
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024), compresslevel=9)  # 50 kB -> 50 MB
    assert len(bomb) < 100_000

    def serve(req: Handler) -> bool:
        req.send_body(200, bomb, {"Content-Encoding": "gzip"})
        return True

    dest, before = _mirror_then_serve(upstream, tmp_path, serve)
    res = run_cli(*run_args(upstream, dest, "--max-index-bytes", "1000000", "--retries", "0"))
    assert "larger than the 1000000 bytes allowed" in res.stderr
    # under the default cap (2 GiB) the ratio gives it away
    res = run_cli(*run_args(upstream, dest, "--retries", "0"))
    _assert_refused_and_unchanged(res, dest, before, "index.json",
                                  "refused a compression bomb", upstream=upstream)


def test_a_drip_ends_within_the_rate_window(upstream: Upstream, tmp_path: Path) -> None:
    def drip(req: Handler) -> bool:
        req.send_response(200)
        req.send_header("Content-Length", "100000")
        req.end_headers()
        try:
            for _ in range(120):  # a byte a second: never idle long enough for --timeout
                req.wfile.write(b" ")
                req.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        return True

    dest, before = _mirror_then_serve(upstream, tmp_path, drip)
    started = time.monotonic()
    res = run_cli(*run_args(upstream, dest, "--timeout", "2", "--retries", "1",
                            "--min-rate", "1024", "--min-rate-window", "3"))
    took = time.monotonic() - started
    assert took < 20, took  # two tries of about 3 s each, not a minute of dripping
    _assert_refused_and_unchanged(res, dest, before, "index.json", "too slow",
                                  upstream=upstream)


def test_a_mute_upstream_is_reported_on_stderr_while_waiting(upstream: Upstream,
                                                             tmp_path: Path) -> None:
    """Accepts connections, never answers: the wait is said at the default log level."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    try:
        url = f"http://127.0.0.1:{mute.getsockname()[1]}/index.json"
        started = time.monotonic()
        res = run_cli("run", "static-list", "--index-url", url, "--dest", str(tmp_path / "m"),
                      "--timeout", "1", "--retries", "2", "--backoff-initial", "0.1",
                      "--backoff-max", "0.2")
        assert time.monotonic() - started < 20
        assert res.code == 1
        assert "retrying after timed out" in res.stderr and url in res.stderr
        assert "attempt 1, next try in" in res.stderr
    finally:
        mute.close()


def test_a_file_host_that_refuses_connections_is_given_up_on_soon(
        upstream: Upstream, tmp_path: Path) -> None:
    """A stopped server: once it has refused connections for the connect timeout, its
    remaining files fail at once instead of each spending its retries' backoff, and the
    identical failures are said in a line per reason."""
    dest = _mirrored(upstream, tmp_path)
    before = snapshot(dest)
    # bound but not listening: every connection is refused, and no other test's server
    # can take the port meanwhile (a closed socket's port was reused by one, once)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    try:
        res, took = _run_files_on(upstream, dest, port, "--backoff-initial", "0.5",
                                  "--backoff-max", "30", "--timeout", "2")
    finally:
        closed.close()
    assert took < 25, took  # every file's five retries and their backoff: over a minute
    assert res.code == 1
    failed = [ln for ln in res.stderr.splitlines() if ln.startswith("mirrorkit: failed:")]
    # a line per reason (refused; given up on, not tried), not one per file; up to three
    # files refused before the host was given up on are named one by one
    assert 1 <= len(failed) <= 5, res.stderr
    assert all(f"127.0.0.1:{port}" in ln and "connection error" in ln for ln in failed)
    assert sum(int(ln.split()[2]) if " files: " in ln else 1 for ln in failed) == 40
    assert any("not tried again" in ln and "opened no connection for 2s" in ln
               for ln in failed)
    assert snapshot(dest) == before


def test_a_file_host_that_never_accepts_a_connection_is_given_up_on_soon(
        upstream: Upstream, tmp_path: Path) -> None:
    """Connections that time out (the host's accept queue is full, as a firewall that drops
    them looks): after one connect timeout of that, the host's other files fail at once
    instead of each waiting out two timeouts."""
    dest = _mirrored(upstream, tmp_path)
    before = snapshot(dest)
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    queued = [socket.socket() for _ in range(4)]
    try:
        for sock in queued:  # fill the accept queue: later connections get no answer
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # it stays half open, as meant
                sock.connect(("127.0.0.1", port))
        res, took = _run_files_on(upstream, dest, port, "--timeout", "1",
                                  "--backoff-initial", "0.1", "--backoff-max", "0.2")
    finally:
        for sock in [*queued, full]:
            sock.close()
    assert took < 12, took  # two timeouts for each file, four at a time: over 20 s
    assert res.code == 1
    assert "opened no connection for 1s" in res.stderr, res.stderr
    assert snapshot(dest) == before
