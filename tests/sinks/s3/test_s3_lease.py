"""The lease on a bucket lock object, against moto over HTTP: renewal, takeover, races.

A holder that "was killed" or "is paused" is a :class:`Lease` that took the lock and then
neither renews nor releases it: exactly what a SIGKILLed or stopped process leaves behind
(the command-line tests kill and stop real runs).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from s3log import LoggedS3

from mirrorkit.core.store.s3.lease import Lease, LeaseHeld, LeaseHolder, LeaseLost

KEY = "p/.mirrorkit/lock"


def run_out(lease: Lease, timeout: float = 15.0) -> None:
    """Wait until ``lease``'s lock object reads as expired (on the server's clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lease.read()
        assert holder is not None and holder.token == lease.token
        if holder.expired:
            return
        time.sleep(0.2)
    raise AssertionError(f"{lease.where}: the lease did not run out in {timeout}s")


def current(s3: LoggedS3, bucket: str, key: str = KEY) -> LeaseHolder | None:
    return Lease(s3.client(), bucket, key, command="reader").read()


def race(takers: list[Lease]) -> tuple[list[int], dict[int, LeaseHolder]]:
    """Every taker tries to acquire at once: who won, and whom each loser was refused by."""
    start = threading.Barrier(len(takers))
    refused: dict[int, LeaseHolder] = {}
    won: list[int] = []

    def take(i: int) -> None:
        start.wait()
        try:
            takers[i].acquire()
        except LeaseHeld as exc:
            refused[i] = exc.holder
        else:
            won.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(takers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won, refused


def test_renewals_keep_a_working_holder_from_being_taken_over(
    s3_logged: LoggedS3, bucket: str
) -> None:
    with Lease(s3_logged.client(), bucket, KEY, command="mirrorkit run x", seconds=1.5) as lease:
        written = current(s3_logged, bucket)
        assert written is not None and written.lease_seconds == 1.5
        time.sleep(4)  # more than twice the lease, plus the one second of clock slack
        taker = Lease(s3_logged.client(), bucket, KEY, command="taker", seconds=30)
        with pytest.raises(LeaseHeld) as refused:
            taker.acquire()
        holder = refused.value.holder
        assert holder.token == lease.token and not holder.expired
        assert holder.etag != written.etag  # renewed meanwhile
        assert "mirrorkit run x" in str(refused.value) and "its lease runs until" in str(
            refused.value)
        lease.check()  # still ours
    assert current(s3_logged, bucket) is None  # released on exit


def test_a_holder_whose_lease_ran_out_is_taken_over_and_stops_writing(
    s3_logged: LoggedS3, bucket: str
) -> None:
    paused = Lease(s3_logged.client(), bucket, KEY, command="paused run", seconds=1)
    paused.acquire()  # and never renews: a process stopped for longer than its lease
    run_out(paused)
    with Lease(s3_logged.client(), bucket, KEY, command="new run", seconds=30) as taker:
        assert taker.took_over is not None and taker.took_over.token == paused.token
        with pytest.raises(LeaseLost, match=r"taken over by pid \d+ on .*: new run"):
            paused.check()
        paused.release()  # must not remove the new holder's lock
        now = current(s3_logged, bucket)
        assert now is not None and now.token == taker.token
        taker.check()
    assert current(s3_logged, bucket) is None


def test_the_holder_learns_of_a_takeover_from_its_renewals_and_its_exit_raises(
    s3_logged: LoggedS3, bucket: str
) -> None:
    holder = Lease(s3_logged.client(), bucket, KEY, command="holder", seconds=1)
    with pytest.raises(LeaseLost, match=r"taken over by pid 1 on elsewhere .*: intruder"), \
            holder:
        # someone overwrites the lock (by hand, or a store that ignores conditions)
        s3_logged.client().put_object(Bucket=bucket, Key=KEY, Body=(
            b'{"pid": 1, "host": "elsewhere", "since": "2026-01-01T00:00:00+00:00", '
            b'"command": "intruder", "lease_seconds": 60}'))
        deadline = time.monotonic() + 5
        while holder.held and time.monotonic() < deadline:
            time.sleep(0.05)  # the background renewal finds out
        assert not holder.held
    now = current(s3_logged, bucket)
    assert now is not None and now.command == "intruder"  # left alone on exit


def test_a_late_renewal_is_made_up_for_when_nobody_took_the_lock(
    s3_logged: LoggedS3, bucket: str
) -> None:
    slow = Lease(s3_logged.client(), bucket, KEY, command="slow", seconds=1)
    slow.acquire()
    run_out(slow)  # anyone could take it now; nobody does
    before = current(s3_logged, bucket)
    slow.check()  # renews at once: the object is still the one it wrote
    after = current(s3_logged, bucket)
    assert before is not None and after is not None
    assert after.token == slow.token and not after.expired and after.etag != before.etag
    slow.release()
    assert current(s3_logged, bucket) is None


def test_a_lock_without_a_lease_is_never_taken_over(s3_logged: LoggedS3, bucket: str) -> None:
    client = s3_logged.client()
    client.put_object(Bucket=bucket, Key=KEY, Body=(
        b'{"pid": 4242, "host": "old", "since": "2020-01-01T00:00:00+00:00", '
        b'"command": "mirrorkit run"}'))  # written by a mirrorkit without leases
    with pytest.raises(LeaseHeld) as refused:
        Lease(client, bucket, KEY, command="new", seconds=30).acquire()
    assert refused.value.holder.lease_seconds is None and not refused.value.holder.expired
    assert "pid 4242 on old" in str(refused.value)


def test_racing_takers_of_an_expired_lock_leave_exactly_one_holder(
    s3_atomic: LoggedS3
) -> None:
    bucket = f"race-{uuid.uuid4().hex[:12]}"
    s3_atomic.client().create_bucket(Bucket=bucket)
    keys = [f"race{i}/.mirrorkit/lock" for i in range(2)]
    dead = [Lease(s3_atomic.client(), bucket, key, command="killed run", seconds=1)
            for key in keys]
    for lease in dead:
        lease.acquire()  # then "killed": never renewed, never released
    for lease in dead:
        run_out(lease)
    for key, killed in zip(keys, dead, strict=True):
        takers = [Lease(s3_atomic.client(), bucket, key, command=f"taker {i}", seconds=60)
                  for i in range(5)]
        won, refused = race(takers)
        assert len(won) == 1 and len(refused) == len(takers) - 1, (won, refused)
        winner = takers[won[0]]
        assert winner.took_over is not None and winner.took_over.token == killed.token
        # every loser was refused naming the winner, as by any live lock
        assert {h.token for h in refused.values()} == {winner.token}
        holder = current(s3_atomic, bucket, key)
        assert holder is not None and holder.token == winner.token
        assert holder.command == f"taker {won[0]}"
        winner.release()
        assert current(s3_atomic, bucket, key) is None
