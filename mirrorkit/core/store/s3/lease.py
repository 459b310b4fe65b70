"""A lock object in a bucket, held under a lease: one holder at a time, and no stale locks.

A lock that is only created (``If-None-Match: *``) and deleted stays behind forever when
its holder is killed (OOM, a preempted node, SIGKILL), and every later writer is refused
until someone deletes it by hand. So the holder writes how long its claim lasts
(``lease_seconds``) and renews it while it works, at a third of the lease, with a PUT
conditional on the ETag of the object it wrote last (``If-Match``). Every body carries a
token of the holder and a sequence number, so every write has a new ETag.

A lock whose lease has run out is taken over by a PUT conditional on the ETag just read:
of two takers racing for one expired lock, S3 lets exactly one write, the other gets 412
and is refused as by a live lock. Whether a lease has run out is decided on the server's
clock, never the taker's: the object's ``Last-Modified`` plus its lease, against the
``Date`` of the answer that read it (plus one second, the resolution of both), so clocks
of the machines involved need not agree. The holder measures its own lease on its
monotonic clock from the moment it sent the write, which is never later than the server's
``Last-Modified``.

A holder learns that it lost the lock when a renewal is refused (someone took the lock
over after its lease ran out: a process paused for longer than its lease, or cut off from
S3) or the object is gone. It then writes nothing more: :meth:`Lease.check`, called before
each write, raises :class:`LeaseLost`, and so does leaving the ``with`` block. A renewal
that is merely late (S3 unreachable for a while) is safe to make up for: the conditional
write only succeeds if nobody wrote the object meanwhile. Release is a delete conditional
on our ETag, so it never removes a lock that someone else now holds.

The one thing S3 cannot give is a fence: a write already sent when the lease runs out
still lands. Checking before every object keeps that to the writes in flight, and a lease
far longer than one write (300 s by default) makes it a matter of a stalled process.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .client import S3Error, describe, is_not_found, is_precondition_failed

__all__ = ["DEFAULT_LEASE_S", "Lease", "LeaseHeld", "LeaseHolder", "LeaseLost"]

log = logging.getLogger("mirrorkit.store")

DEFAULT_LEASE_S = 300.0
CLOCK_SLACK_S = 1.0  # Last-Modified and Date have one-second resolution
ATTEMPTS = 3  # to take a lock that changes or vanishes between our requests


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lock object, as read from the bucket (on the server's clock)."""

    etag: str
    token: str | None
    pid: object
    host: object
    since: object
    command: object
    lease_seconds: float | None  # None: written without a lease (it never runs out)
    expires: dt.datetime | None
    expired: bool

    def describe(self, *, lease: bool = True) -> str:
        if self.pid is None and self.host is None:
            who = "holder unknown"
        else:
            who = f"pid {self.pid} on {self.host} since {self.since}: {self.command}"
        if lease and self.expires is not None:
            when = self.expires.isoformat(timespec="seconds")
            who += f"; its lease {'ran out at' if self.expired else 'runs until'} {when}"
        return who


class LeaseHeld(S3Error):
    """Someone else holds the lock, and its lease has not run out (or it has none)."""

    def __init__(self, where: str, holder: LeaseHolder) -> None:
        super().__init__(f"{where} is held ({holder.describe()})")
        self.holder = holder


class LeaseLost(S3Error):
    """The lock was taken over or removed while we held it: write nothing more."""


class Lease:
    """The lock object ``s3://bucket/key``, taken, renewed in the background, released.

    Use it as a context manager (or :meth:`acquire`, :meth:`start_renewing` and
    :meth:`release`); call :meth:`check` before each write made under it. ``seconds`` is
    the lease written into the object, honoured by whoever reads it.
    """

    def __init__(self, client: Any, bucket: str, key: str, *, command: str,
                 seconds: float = DEFAULT_LEASE_S, renew_every: float | None = None) -> None:
        if seconds <= 0:
            raise ValueError("a lease must last more than 0 seconds")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.command = command
        self.seconds = seconds
        self.renew_every = renew_every if renew_every is not None else seconds / 3
        self.token = uuid.uuid4().hex
        self.took_over: LeaseHolder | None = None  # the expired holder we replaced
        self._since = ""
        self._seq = 0
        self._etag: str | None = None
        self._deadline = 0.0  # monotonic time our lease runs out, by our own count
        self._lost: LeaseLost | None = None
        self._mutex = threading.Lock()  # one write of the lock object at a time
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def held(self) -> bool:
        return self._etag is not None and self._lost is None

    # ------------------------------------------------------------------ reading
    def read(self) -> LeaseHolder | None:
        """The current holder, or None when there is no lock object."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key)
            raw = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            if is_not_found(exc):
                return None
            raise S3Error(f"{self.where}: cannot read the lock: {describe(exc)}") from None
        try:
            info = json.loads(raw)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            info = {}
        lease = info.get("lease_seconds")
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease > 0:
            lease = None
        expires = None
        expired = False
        modified = resp.get("LastModified")
        if lease is not None and isinstance(modified, dt.datetime):
            expires = modified + dt.timedelta(seconds=float(lease))
            expired = _server_now(resp) >= expires + dt.timedelta(seconds=CLOCK_SLACK_S)
        token = info.get("token")
        return LeaseHolder(
            etag=str(resp.get("ETag", "")), token=token if isinstance(token, str) else None,
            pid=info.get("pid"), host=info.get("host"), since=info.get("since"),
            command=info.get("command"), lease_seconds=lease, expires=expires,
            expired=expired)

    # ------------------------------------------------------------------ taking
    def acquire(self) -> None:
        """Create the lock, or take over one whose lease ran out; LeaseHeld if it is live."""
        self._since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for _ in range(ATTEMPTS):
            try:
                self._write(IfNoneMatch="*")
                return
            except (ClientError, BotoCoreError) as exc:
                if not is_precondition_failed(exc):
                    raise self._cannot_take(exc) from None
            holder = self.read()
            if holder is None:
                continue  # released meanwhile: try to create it again
            ours = holder.token == self.token  # our create landed, its answer was lost
            if not (ours or holder.expired):
                raise LeaseHeld(self.where, holder)
            try:
                self._write(IfMatch=holder.etag)
            except (ClientError, BotoCoreError) as exc:
                if is_not_found(exc) or is_precondition_failed(exc):
                    continue  # someone else was quicker: the next read names them
                raise self._cannot_take(exc) from None
            if not ours:
                self.took_over = holder
                log.warning("%s: took over the lock of %s", self.where,
                            holder.describe())
            return
        raise S3Error(f"{self.where}: cannot take the lock: it changed under each of "
                      f"{ATTEMPTS} attempts")

    def _cannot_take(self, exc: BaseException) -> S3Error:
        return S3Error(f"{self.where}: cannot take the lock: {describe(exc)}")

    def _body(self) -> bytes:
        self._seq += 1
        now = dt.datetime.now(dt.UTC)
        return json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "since": self._since,
            "command": self.command, "lease_seconds": self.seconds,
            "expires": (now + dt.timedelta(seconds=self.seconds)).isoformat(
                timespec="seconds"),
            "token": self.token, "seq": self._seq,
        }).encode()

    def _write(self, **condition: str) -> None:
        """One conditional PUT of the lock object; our lease counts from before it is sent."""
        sent = time.monotonic()
        resp = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(),
                                      ContentType="application/json",
                                      CacheControl="no-cache", **condition)
        self._etag = str(resp["ETag"])
        self._deadline = sent + self.seconds

    # ---------------------------------------------------------------- renewing
    def start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                         name=f"lease {self.key}")
        self._renewer.start()

    def _renew_loop(self) -> None:
        wait = self.renew_every
        while not self._stop.wait(wait):
            with self._mutex:
                if self._stop.is_set() or not self.held:
                    return
                try:
                    self._renew()
                except S3Error as exc:
                    left = self._deadline - time.monotonic()
                    log.warning("%s: could not renew the lease (%s; %s); trying again",
                                self.where, exc, f"{left:.0f}s of it left" if left > 0
                                else "it has run out")
                    wait = min(self.renew_every, max(0.5, left / 4))
                    continue
            if self._lost is not None:
                log.info("%s", self._lost)  # the holder says so once, at its next check
                return
            wait = self.renew_every

    def _renew(self) -> None:
        """Extend our lease (the mutex held); a refusal tells whether we lost the lock."""
        assert self._etag is not None
        sent = time.monotonic()
        try:
            self._write(IfMatch=self._etag)
            return
        except (ClientError, BotoCoreError) as exc:
            if is_not_found(exc):
                self._lost = LeaseLost(f"{self.where}: the lock was removed while this "
                                       "process held it; nothing more is written")
                return
            if not is_precondition_failed(exc):
                raise S3Error(f"{self.where}: {describe(exc)}") from None
        holder = self.read()
        if holder is not None and holder.token == self.token:
            # our renewal landed and its answer was lost (the retry was refused), or a
            # conflicting request made S3 refuse it: the object is still ours
            if holder.etag != self._etag:
                self._etag = holder.etag
                self._deadline = sent + self.seconds
            return
        if holder is None:
            self._lost = LeaseLost(f"{self.where}: the lock was removed while this "
                                   "process held it; nothing more is written")
        else:
            self._lost = LeaseLost(
                f"{self.where}: the lock was taken over by {holder.describe(lease=False)} "
                "after this process's lease ran out; nothing more is written")

    def check(self) -> None:
        """Raise LeaseLost unless we still hold the lock; call it before each write.

        Cheap while the renewals keep up; when one is overdue (S3 was slow or unreachable),
        renews now, which succeeds only if nobody has written the lock since.
        """
        if self._lost is not None:
            raise self._lost
        if self._etag is None:
            raise LeaseLost(f"{self.where}: the lock is not held")
        if time.monotonic() < self._deadline - self.renew_every:
            return
        with self._mutex:
            if self._lost is None and time.monotonic() >= self._deadline - self.renew_every:
                try:
                    self._renew()
                except S3Error as exc:
                    if time.monotonic() >= self._deadline:
                        raise LeaseLost(f"{self.where}: the lease ran out and could not be "
                                        f"renewed ({exc}); nothing more is written") from None
        if self._lost is not None:
            raise self._lost

    # --------------------------------------------------------------- releasing
    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours (a conditional delete)."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        self._renewer = None
        with self._mutex:
            etag, self._etag = self._etag, None
            if etag is None or self._lost is not None:
                return
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
            except (ClientError, BotoCoreError) as exc:
                if is_precondition_failed(exc) or is_not_found(exc):
                    return  # no longer ours (or gone): not ours to remove
                log.warning("%s: could not remove the lock (%s); it is taken over once its "
                            "lease of %gs runs out", self.where, describe(exc), self.seconds)

    def __enter__(self) -> Lease:
        self.acquire()
        self.start_renewing()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
        if self._lost is not None and et is None:
            raise self._lost


def _server_now(resp: dict[str, Any]) -> dt.datetime:
    """The server's time when it answered (its Date header), else ours."""
    date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        try:
            now = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            pass
        else:
            return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)
