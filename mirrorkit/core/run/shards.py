"""One run over N machines: which share of the downloads is this process's, and the records
the shards leave in the bucket.

Every shard plans in full (planning is cheap next to downloading a registry), then downloads,
verifies and stores only the files whose path hashes to its index: a stable hash, so a
retried index takes the same files, and every file is some shard's. A shard stores only
files at paths the previous snapshot does not have (nothing names them yet, so they are
invisible to clients); a file that replaces one at the same path is left to the commit,
which makes it in the commit order. When a shard is done it writes what it stored (path,
size, sha256) as its record; the process that finds every record present and takes the
bucket's lock commits: it adopts the stored files, downloads what no shard stored, writes
the index files last and prunes, as a normal run does. See docs/operations.md, "Scaling out".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..store.manifest import FileEntry

__all__ = ["INDEX_VARIABLES", "ShardError", "ShardRecord", "ShardSpec"]

#: where the job engines put a worker's index (Kubernetes Indexed Jobs, AWS Batch arrays)
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
RECORD_VERSION = 1


class ShardError(ValueError):
    """A shard setting that cannot be used (one line, a usage error)."""


@dataclass(frozen=True, slots=True)
class ShardSpec:
    index: int
    count: int

    @classmethod
    def parse(cls, shard: str, shards: int | None,
              environ: Mapping[str, str] | None = None) -> ShardSpec:
        """``I/N``, or ``auto`` with ``shards`` (N) and the job engine's index variable."""
        env = os.environ if environ is None else environ
        if shard == "auto":
            if shards is None:
                raise ShardError("--shard auto needs --shards N (how many workers the job has)")
            found = next(((name, env[name]) for name in INDEX_VARIABLES if env.get(name)),
                         None)
            if found is None:
                raise ShardError("--shard auto: none of " + ", ".join(INDEX_VARIABLES)
                                 + " is set (give --shard I/N outside a job engine)")
            name, value = found
            if not value.strip().isdigit():
                raise ShardError(f"--shard auto: {name}={value!r} is not an index")
            index, count = int(value), shards
        else:
            m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
            if m is None:
                raise ShardError(f"--shard {shard!r}: expected I/N (e.g. 0/4) or auto")
            index, count = int(m[1]), int(m[2])
            if shards is not None and shards != count:
                raise ShardError(f"--shard {shard} and --shards {shards} disagree")
        if count < 1 or not 0 <= index < count:
            raise ShardError(f"shard {index} of {count}: the index must be from 0 to "
                             f"{count - 1}")
        return cls(index, count)

    def owns(self, path: str) -> bool:
        """Whether this shard downloads ``path`` (the same answer on every machine)."""
        digest = hashlib.sha256(path.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(slots=True)
class ShardRecord:
    """What one shard stored for the run that starts from ``base`` (a snapshot id)."""

    index: int
    count: int
    base: str
    files: dict[str, FileEntry]

    def dumps(self) -> bytes:
        return json.dumps({"version": RECORD_VERSION, "index": self.index,
                           "count": self.count, "base": self.base,
                           "files": {p: e.to_json() for p, e in sorted(self.files.items())}},
                          separators=(",", ":")).encode()

    @classmethod
    def loads(cls, data: bytes, where: str) -> ShardRecord:
        try:
            doc: Any = json.loads(data)
            if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION:
                raise ValueError(f"not a shard record of version {RECORD_VERSION}")
            files = {str(p): FileEntry.from_json(e) for p, e in doc["files"].items()}
            return cls(int(doc["index"]), int(doc["count"]), str(doc["base"]), files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ShardError(f"{where}: unreadable shard record ({exc})") from None
