"""What a plan read, so that a re-run whose inputs did not change keeps the previous plan.

A plan is a function of what its plugin read (index files, API responses) and of the
mirror's options. The core sees every read that goes through it, so it records each one by
content up to the point where the plugin asks (``ctx.keep_previous_plan()``), and saves that
record with the snapshot the run commits. The next run compares its own reads up to the
same point: when every file and response is the same, the previous snapshot is the plan, and
the run keeps it without parsing, statting or yielding anything. This replaces the plan
caches plugins kept for themselves, one per plugin, each with its own key and format.

The record holds digests only: a URL is recorded by the sha256 of its redacted form, so
nothing it may carry (a token in a path) reaches the state. A conditional request answered
``304`` is recorded as the body the validators it sent came with (the record keeps, per
URL and validators, the digest of that body), so an unchanged input reads the same whether
upstream sent it again or said "not modified". Inputs are compared as a set: requests a
plugin makes side by side may finish in any order.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from ..redact import redact

if TYPE_CHECKING:
    from ..transport import Validators

__all__ = ["PlanRecord"]

#: the version of the record's format (a record of another version is never matched)
RECORD_VERSION = 2
#: the core's own state file holding the record
RECORD_NAME = "plan.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PlanRecord:
    """The inputs of this run's plan so far, and the record of the last committed run's."""

    def __init__(self, *, registry: str, distribution: str, options: Any,
                 saved: Any, previous_snapshot: str | None) -> None:
        fingerprint = json.dumps({"registry": registry, "plugin": distribution,
                                  "options": options}, sort_keys=True, default=str)
        self._fingerprint = _digest(redact(fingerprint))
        self._inputs: list[list[Any]] = []
        self._closed = False
        self._saved = saved
        # the body digest each (URL, validators) came with: this run's, and the saved one's
        self._bodies: dict[str, str] = {}
        saved_bodies = saved.get("bodies") if isinstance(saved, dict) else None
        self._saved_bodies: dict[str, str] = (
            saved_bodies if isinstance(saved_bodies, dict) else {})
        self._previous_snapshot = previous_snapshot
        #: the record to save with this run's snapshot (set at the checkpoint)
        self.taken: dict[str, Any] | None = None

    def file(self, path: str, sha256: str) -> None:
        """The plugin read the plan's file ``path``, whose content hashes to ``sha256``."""
        if not self._closed:
            self._inputs.append(["file", path, sha256])

    def response(self, method: str, url: str, status: int, content: bytes, *,
                 sent: Validators | None = None, got: Validators | None = None) -> None:
        """The plugin got a response through the run's transport (``sent``: the validators
        of a conditional request; ``got``: the response's own)."""
        if self._closed:
            return
        where = _digest(redact(url))
        if status == 304 and sent:
            key = _validators_key(where, sent)
            body = self._bodies.get(key) or self._saved_bodies.get(key)
            if body is not None:  # the body those validators came with: unchanged
                self._bodies[key] = body
                self._inputs.append(["get", method, where, 200, body])
                return
            self._inputs.append(["get", method, where, 304, key])
            return
        body = hashlib.sha256(content).hexdigest()
        if got:
            self._bodies[_validators_key(where, got)] = body
        self._inputs.append(["get", method, where, status, body])

    def failure(self, method: str, url: str, status: int | None) -> None:
        """A request of the plugin failed (a 404 decides a plan as much as a 200 does)."""
        if not self._closed:
            self._inputs.append(["failed", method, _digest(redact(url)), status])

    def checkpoint(self, stale_since_min: float | None, prune_grace: float) -> bool:
        """Take the record; True when it is the last committed run's for the snapshot this
        run starts from, and no file of that snapshot is due to be pruned."""
        if self.taken is not None:
            raise RuntimeError("keep_previous_plan() is asked once per run")
        self._closed = True
        inputs = sorted(self._inputs, key=lambda item: json.dumps(item))
        self.taken = {"version": RECORD_VERSION, "fingerprint": self._fingerprint,
                      "inputs": inputs}
        saved = self._saved
        if (self._previous_snapshot is None or not isinstance(saved, dict)
                or saved.get("snapshot") != self._previous_snapshot):
            return False
        if {k: saved.get(k) for k in self.taken} != self.taken:
            return False
        # a file whose prune grace ran out is to be removed: that needs a plan
        return stale_since_min is None or time.time() - stale_since_min < prune_grace

    def to_save(self, snapshot: str) -> dict[str, Any] | None:
        """The record to save with ``snapshot`` (None when the plugin never asked)."""
        if self.taken is None:
            return None
        return {**self.taken, "snapshot": snapshot, "bodies": dict(sorted(self._bodies.items()))}


def _validators_key(where: str, validators: Validators) -> str:
    return _digest(json.dumps([where, validators.etag, validators.last_modified]))
